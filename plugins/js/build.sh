#!/usr/bin/env bash
# Builds every JavaScript plugin here (the four examples and the two
# hostile ones) into a WebAssembly component, dist/<name>.wasm, and prints
# the path of each, one a line. Names given as arguments build only those
# (`./build.sh pii-redact`). Installs the pinned npm packages first when
# they are missing. Progress goes to stderr, so `./build.sh | xargs ls -l`
# works.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sdk="$here/../../sdk/js"

# The SDK is a path dependency outside this folder, so npm does not
# install its packages for us: each folder installs its own lockfile.
for dir in "$sdk" "$here"; do
    if [ ! -d "$dir/node_modules" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund >&2)
    fi
done

cd "$here"
node build.mjs "$@"
