#!/usr/bin/env bash
# Builds the Python plugins into WebAssembly components with the SDK's one
# build command, in the project's venv (made from the hash-locked
# requirements if missing), and prints the path of each .wasm, one a line:
#   dist/payload-field-filter.wasm   dist/pii-redact.wasm
#   dist/hostile-filter.wasm         dist/hostile-transform.wasm
# Names given as arguments build only those (`./build.sh pii-redact`).
# Progress and timings go to stderr, so `./build.sh | xargs ls -l` works.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$("$here/../../sdk/python/venv.sh")"
dist="$here/dist"
mkdir -p "$dist"

# name, kind, source file
plugins=(
    "payload-field-filter filter payload-field-filter/payload_field_filter.py"
    "pii-redact transform pii-redact/pii_redact.py"
    "hostile-filter filter hostile/hostile_filter.py"
    "hostile-transform transform hostile/hostile_transform.py"
)

built=()
for entry in "${plugins[@]}"; do
    read -r name kind source <<<"$entry"
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
        continue
    fi
    "$venv/bin/scaihub-plugin" build "$here/$source" \
        --kind "$kind" -o "$dist/$name.wasm" >&2
    built+=("$dist/$name.wasm")
done
if [ ${#built[@]} -eq 0 ]; then
    echo "build.sh: no plugin named $*" >&2
    exit 1
fi
printf '%s\n' "${built[@]}"
