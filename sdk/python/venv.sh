#!/usr/bin/env bash
# Creates the project's Python environment from nothing and prints its path:
# a venv (default target/py-venv in the repository, gitignored; or
# $SCAIHUB_PY_VENV) holding exactly the hash-locked tools of
# requirements.lock (componentize-py, pytest, flit_core) and this SDK.
# The venv is rebuilt when the lock changes; the SDK is reinstalled every
# time (a second or two), so it is never stale.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SCAIHUB_PY_VENV:-$repo/target/py-venv}"
lock="$here/requirements.lock"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "venv.sh: $python is missing or older than 3.10" >&2
    exit 1
fi

want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.lock-sha256" 2>/dev/null)" != "$want" ]; then
    echo "venv.sh: creating $venv from requirements.lock" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # Every package with its exact version and hash, nothing resolved anew.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-hashes --only-binary :all: -r "$lock" >&2
    echo "$want" >"$venv/.lock-sha256"
fi
# The SDK itself, built with the locked flit_core (no download).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-deps --no-build-isolation --force-reinstall "$here" >&2
echo "$venv"
