#!/usr/bin/env bash
# Builds every plugin in this workspace into a WebAssembly component
# (wasm32-wasip2, release) and prints the path of each .wasm, one a line.
# Extra arguments go to cargo, e.g. `./build.sh -j 1`. Cargo's progress and
# diagnostics go to stderr, so `./build.sh | xargs ls -l` works.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target=wasm32-wasip2

# The project installs what it needs: add the target when rustup is there.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >&2
fi

cd "$here"
# Cargo names each artifact it produced in its JSON messages, which follows
# CARGO_TARGET_DIR and never lists a stale .wasm left by a removed crate.
paths="$(cargo build --release --target "$target" --message-format=json-render-diagnostics "$@" \
    | grep -o '"[^"]*\.wasm"' | tr -d '"' | sort -u)"
if [ -z "$paths" ]; then
    echo "build.sh: cargo built no .wasm" >&2
    exit 1
fi
echo "$paths"
