// Builds the script engine (engine.js) into one WebAssembly component that
// exports both `filter` and `transform`: `node build.mjs OUT.wasm`. Uses the
// JavaScript SDK's pinned esbuild and componentize-js (npm ci in sdk/js
// first). Run by host/build.rs when node is present; see ARCHITECTURE.md.

import { mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const sdk = join(repo, 'sdk/js');
const output = resolve(process.argv[2] ?? join(here, 'script-engine.wasm'));
const fromSdk = createRequire(join(sdk, 'package.json'));

// The world: the contract's two exports in one component, so one compile
// serves both kinds. It lives in the contract's own package (a second file
// beside a copy of wit/hooks.wit), so its types are the contract's types.
const WORLD = `package scaidrive:hooks@0.1.0;

world script {
    use types.{event, verdict, outgoing-request, plugin-error};

    export filter: func(event: event, config: string) -> result<verdict, plugin-error>;
    export transform: func(event: event, request: outgoing-request, config: string) -> result<outgoing-request, plugin-error>;
}
`;

const work = await mkdtemp(join(tmpdir(), 'scaihub-engine-'));
try {
  const wit = join(work, 'wit');
  await (await import('node:fs/promises')).mkdir(wit);
  await copyFile(join(repo, 'wit/hooks.wit'), join(wit, 'hooks.wit'));
  await writeFile(join(wit, 'script.wit'), WORLD);

  const esbuild = fromSdk('esbuild');
  const { PRELUDE, DISABLED_FEATURES } = await import(pathToFileURL(join(sdk, 'lib/build.js')).href);
  const bundle = join(work, 'engine.js');
  await esbuild.build({
    entryPoints: [join(here, 'engine.js')],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    alias: { '@scaihub/plugin-sdk': join(sdk, 'lib/index.js') },
    banner: { js: PRELUDE },
    target: 'es2022',
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'warning',
  });

  // componentize-js reads the WIT through preview2-shim's emulated
  // filesystem, which opens no folder unless told (as the SDK's build does).
  // (componentize-js is import-only, so it is found by its folder.)
  const componentizeDir = join(sdk, 'node_modules/@bytecodealliance/componentize-js');
  const entry = JSON.parse(await readFile(join(componentizeDir, 'package.json'), 'utf8')).exports.import;
  const componentizeUrl = pathToFileURL(join(componentizeDir, entry)).href;
  const shimFs = createRequire(join(componentizeDir, 'package.json')).resolve('@bytecodealliance/preview2-shim/filesystem');
  (await import(pathToFileURL(shimFs).href))._setPreopens({ [wit]: wit, [work]: work });
  const { componentize } = await import(componentizeUrl);
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: wit,
    worldName: 'script',
    disableFeatures: [...DISABLED_FEATURES],
  });
  await writeFile(output, component);
  console.error(`script engine: ${(component.length / 2 ** 20).toFixed(1)} MiB -> ${output}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
