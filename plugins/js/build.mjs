// Builds every JavaScript plugin here into dist/<name>.wasm in one Node
// process (componentize-js pays a start-up cost once, not per plugin) and
// prints each path. Called by ./build.sh.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlugin } from '@scaihub/plugin-sdk/build';

const here = dirname(fileURLToPath(import.meta.url));
const PLUGINS = [
  ['payload-field-filter', 'payload-field-filter/plugin.ts', 'filter'],
  ['pii-redact', 'pii-redact/plugin.ts', 'transform'],
  ['chat-message', 'chat-message/plugin.ts', 'transform'],
  ['msp-branding', 'msp-branding/plugin.ts', 'transform'],
  ['hostile-filter', 'hostile/filter.ts', 'filter'],
  ['hostile-transform', 'hostile/transform.ts', 'transform'],
];

const only = process.argv.slice(2);
const dist = join(here, 'dist');
mkdirSync(dist, { recursive: true });
for (const [name, source, kind] of PLUGINS) {
  if (only.length > 0 && !only.includes(name)) continue;
  const result = await buildPlugin({ source: join(here, source), kind, output: join(dist, `${name}.wasm`) });
  console.error(
    `${name}: ${kind}, ${(result.bytes / 2 ** 20).toFixed(1)} MiB, bundle ${result.bundleBytes} bytes, ${(result.milliseconds / 1000).toFixed(1)} s`,
  );
  console.log(result.output);
}
