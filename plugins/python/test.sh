#!/usr/bin/env bash
# The Python plugin suite, one entry: makes the project's venv from the
# hash-locked requirements if needed (sdk/python/venv.sh), then runs the
# SDK's unit tests and the example and hostile plugins' unit tests (plain
# Python, no WebAssembly). Extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$("$repo/sdk/python/venv.sh")"

cd "$repo"
# Each directory is its own rootdir, so plugin modules import by file name.
"$venv/bin/python" -m pytest -q -p no:cacheprovider sdk/python/tests "$@"
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
    plugins/python/payload-field-filter plugins/python/pii-redact plugins/python/hostile "$@"
