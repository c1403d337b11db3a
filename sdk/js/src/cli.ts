#!/usr/bin/env node
// `scaihub-plugin`: build a plugin into a component, or run its unit tests
// under Node.

import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BuildError, buildPlugin, DISABLED_FEATURES, type Kind, witPackage } from './build.js';

const USAGE = `usage:
  scaihub-plugin build <source.ts|.js> [--kind filter|transform] [-o out.wasm] [--wit dir]
      Bundles the module (esbuild) and builds a WebAssembly component of the
      scaidrive:hooks world it exports (componentize-js). --kind checks the
      export (found from the module when left out); -o defaults to
      <source>.wasm; --wit builds against another copy of the WIT.
  scaihub-plugin test [file|dir ...]
      Runs node --test on the *.test.ts / *.test.js files given or found
      (default: ./test), loading TypeScript without a compile step.
  scaihub-plugin --version`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'build':
      return build(rest);
    case 'test':
      return test(rest);
    case '--version':
    case '-V':
      console.log(`@scaihub/plugin-sdk ${await sdkVersion()} (WIT ${await witPackage()})`);
      return 0;
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE);
      return 0;
    default:
      console.error(command === undefined ? USAGE : `scaihub-plugin: unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}

async function build(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      kind: { type: 'string' },
      output: { type: 'string', short: 'o' },
      wit: { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    console.error(`scaihub-plugin build: give exactly one source file\n\n${USAGE}`);
    return 2;
  }
  if (values.kind !== undefined && values.kind !== 'filter' && values.kind !== 'transform') {
    console.error(`scaihub-plugin build: --kind must be filter or transform, not ${values.kind}`);
    return 2;
  }
  try {
    const result = await buildPlugin({
      source: positionals[0] as string,
      kind: values.kind as Kind | undefined,
      output: values.output,
      wit: values.wit,
    });
    const mib = (result.bytes / (1024 * 1024)).toFixed(1);
    console.error(
      `built ${result.kind} ${result.output}: ${mib} MiB (bundle ${result.bundleBytes} bytes) in ` +
        `${(result.milliseconds / 1000).toFixed(1)} s, without ${DISABLED_FEATURES.join(', ')}`,
    );
    console.log(result.output);
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      console.error(`scaihub-plugin build: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

function test(args: string[]): number {
  const roots = args.length > 0 ? args : ['test'];
  const files = roots.flatMap((root) => testFiles(root));
  if (files.length === 0) {
    console.error(`scaihub-plugin test: no *.test.ts or *.test.js files under ${roots.join(', ')}`);
    return 1;
  }
  const register = fileURLToPath(new URL('./node/register.js', import.meta.url));
  const run = spawnSync(process.execPath, ['--enable-source-maps', '--import', register, '--test', ...files], {
    stdio: 'inherit',
  });
  return run.status ?? 1;
}

function testFiles(root: string): string[] {
  let info;
  try {
    info = statSync(root);
  } catch {
    return [];
  }
  if (info.isFile()) {
    return [root];
  }
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.name !== 'node_modules' && !e.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const path = join(root, e.name);
      if (e.isDirectory()) return testFiles(path);
      return /\.test\.m?[jt]s$/.test(e.name) ? [path] : [];
    });
}

async function sdkVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

process.exitCode = await main(process.argv.slice(2));
