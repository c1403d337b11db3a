#!/usr/bin/env bash
# The JavaScript suites, from nothing: installs the pinned npm packages of
# sdk/js and plugins/js from their lockfiles (npm ci, when node_modules is
# missing or older than the lockfile), then
# - sdk/js: checks wit/, types/wit/ and lib/ against what wit/ and src/
#   generate (WIT drift), type-checks, and runs the SDK's unit tests;
# - plugins/js: type-checks, and runs the plugins' unit tests and the
#   shared cases of plugins/cases/*.json under Node (no WebAssembly);
# - then builds every component (./build.sh) and runs the shared cases
#   again through the built examples, transpiled by jco into Node: the
#   engine inside the component is held to the same outcomes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sdk="$(cd "$here/../../sdk/js" && pwd)"

node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 6)) {
    console.error(`plugins/js/test.sh: Node ${process.versions.node} is too old; the SDK needs 20.6 or newer`);
    process.exit(1);
  }'

for dir in "$sdk" "$here"; do
    if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "== npm ci in ${dir#"$(cd "$here/../.." && pwd)/"}"
        (cd "$dir" && npm ci --no-audit --no-fund)
    fi
done

echo "== sdk/js: generated files, types, unit tests"
(cd "$sdk" && npm test --silent)

echo "== plugins/js: types, unit tests, shared cases"
(cd "$here" && npm test --silent)

echo "== plugins/js: components built, shared cases through them"
(cd "$here" && ./build.sh > /dev/null && npx scaihub-plugin test component-test)
