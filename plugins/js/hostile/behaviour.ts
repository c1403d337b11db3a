// The misbehaviours of the hostile JavaScript test plugins, chosen by
// configuration, shared by hostile/filter.ts and hostile/transform.ts so
// the host's sandbox can be tested on both worlds with the same attacks.
// They mirror plugins/hostile/behaviour (the Rust guests), with the same
// names and options where the idea carries over, plus JavaScript's own ways
// to reach outside.
//
// Config: `{"behaviour": "<name>", ...}`, where name is one of:
// - `none`: behave (the filter delivers, the transform passes through);
// - `infinite-loop`: spin forever (fuel or the time cap must stop it);
// - `memory-bomb`: allocate and touch 1 MiB buffers without bound;
// - `deep-recursion`: recurse without bound;
// - `panic`: throw an Error out of the export (not a plugin error): the
//   engine cannot lower it and the component traps;
// - `unreachable`: return a value the component ABI cannot lower (an error
//   case the WIT does not have): a trap inside the bindings;
// - `huge-output`: produce `bytes` bytes (default 64 MiB): the transform's
//   body, or the filter's error message;
// - `sleep`: wait `ms` milliseconds (default an hour) on a timer, using no
//   CPU (the host's wall-clock limit must stop it), then behave;
// - `long-error`: a `failed` error of `chars` three-byte characters
//   (default 4,000: `€`);
// - `eval-large`: build a program of `bytes` bytes (default 10 MiB) and
//   `eval` it; if no limit stops it, a `failed` error says it finished;
// - escape attempts, each returning a `failed` error that starts
//   `sandbox held:` (with what the plugin met) when denied and
//   `sandbox breached:` when the attempt worked:
//   - `read-env` (`var`, default `PATH`): `process.env`;
//   - `read-file` (`path`, default `/etc/passwd`): `require('fs')`,
//     `process.binding('fs')`, `Deno.readTextFileSync`, `Bun.file`;
//   - `require-fs` (`path`): `require('fs').readFileSync` alone;
//   - `import-fs` (`path`): `import('node:fs')`, `import('fs')`, and
//     `import(path)` through the engine's own module loader. In a
//     component the loader traps on any import after the build, so this
//     ends as a trap before the plugin can report;
//   - `fetch` (`url`, default `http://127.0.0.1:9/`): `fetch`;
//   - `connect-tcp` (`addr`, default `127.0.0.1:9`): JavaScript has no
//     sockets, so `fetch('http://<addr>/')`.

import { type Config, PluginError } from '@scaihub/plugin-sdk';

const NAMES = [
  'none',
  'infinite-loop',
  'memory-bomb',
  'deep-recursion',
  'panic',
  'unreachable',
  'huge-output',
  'sleep',
  'long-error',
  'eval-large',
  'read-env',
  'read-file',
  'require-fs',
  'import-fs',
  'fetch',
  'connect-tcp',
] as const;

/** One way to misbehave, as configured, with its options. */
export type Behaviour =
  | { name: 'huge-output' | 'eval-large'; bytes: number }
  | { name: 'sleep'; ms: number }
  | { name: 'long-error'; chars: number }
  | { name: 'read-env'; var: string }
  | { name: 'read-file' | 'require-fs' | 'import-fs'; path: string }
  | { name: 'fetch'; url: string }
  | { name: 'connect-tcp'; addr: string }
  | { name: Exclude<(typeof NAMES)[number], 'huge-output' | 'eval-large' | 'sleep' | 'long-error' | 'read-env' | 'read-file' | 'require-fs' | 'import-fs' | 'fetch' | 'connect-tcp'> };

/** Reads the behaviour from the plugin's configuration; unknown options
 *  for it are refused, as the Rust guests refuse them. */
export function behaviour(config: Config): Behaviour {
  const f = config.fields();
  const name = f.oneOf('behaviour', NAMES);
  let b: Behaviour;
  switch (name) {
    case 'huge-output':
      b = { name, bytes: f.integer('bytes', 64 << 20, { min: 0 }) };
      break;
    case 'eval-large':
      b = { name, bytes: f.integer('bytes', 10 << 20, { min: 0 }) };
      break;
    case 'sleep':
      b = { name, ms: f.integer('ms', 60 * 60 * 1000, { min: 0 }) };
      break;
    case 'long-error':
      b = { name, chars: f.integer('chars', 4000, { min: 0 }) };
      break;
    case 'read-env':
      b = { name, var: f.string('var', 'PATH') };
      break;
    case 'read-file':
    case 'require-fs':
    case 'import-fs':
      b = { name, path: f.string('path', '/etc/passwd') };
      break;
    case 'fetch':
      b = { name, url: f.string('url', 'http://127.0.0.1:9/') };
      break;
    case 'connect-tcp':
      b = { name, addr: f.string('addr', '127.0.0.1:9') };
      break;
    default:
      b = { name };
  }
  f.end();
  return b;
}

/** Carries out every behaviour except `none`, `huge-output` and
 *  `unreachable`, which differ per world and are the caller's: resolves for
 *  those, and for `sleep` once it has slept. The others never settle,
 *  throw, or reject with a plugin error. */
export async function misbehave(b: Behaviour): Promise<void> {
  switch (b.name) {
    case 'none':
    case 'huge-output':
    case 'unreachable':
      return;
    case 'infinite-loop':
      return infiniteLoop();
    case 'memory-bomb':
      return memoryBomb();
    case 'deep-recursion':
      recurse(0);
      throw PluginError.failed('recursion returned, which it cannot');
    case 'panic':
      throw new Error('hostile plugin threw on purpose');
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, b.ms));
      return;
    case 'long-error':
      throw PluginError.failed('€'.repeat(b.chars));
    case 'eval-large':
      return evalLarge(b.bytes);
    case 'read-env':
      throw escapeReport(`reading environment variable ${b.var}`, await readEnv(b.var));
    case 'read-file':
      throw escapeReport(`reading file ${b.path}`, await firstSuccess([requireFs(b.path), runtimeFs(b.path)]));
    case 'require-fs':
      throw escapeReport(`reading file ${b.path} with require('fs')`, await requireFs(b.path));
    case 'import-fs':
      throw escapeReport(`reading file ${b.path} with import()`, await importFs(b.path));
    case 'fetch':
      throw escapeReport(`fetching ${b.url}`, await fetchUrl(b.url));
    case 'connect-tcp':
      throw escapeReport(`connecting to ${b.addr}`, await fetchUrl(`http://${b.addr}/`));
  }
}

/** `bytes` bytes of printable filler, for `huge-output`. */
export function hugeOutput(bytes: number): Uint8Array {
  return new Uint8Array(bytes).fill(0x78);
}

/** What an escape attempt met: how many bytes it got, or why not. */
type Attempt = { ok: number } | { denied: string };

/** The error an escape attempt returns, whether it worked or not. */
export function escapeReport(attempt: string, outcome: Attempt): PluginError {
  return 'ok' in outcome
    ? PluginError.failed(`sandbox breached: ${attempt} succeeded (${outcome.ok} bytes)`)
    : PluginError.failed(`sandbox held: ${attempt} failed: ${outcome.denied}`);
}

async function firstSuccess(attempts: Promise<Attempt>[]): Promise<Attempt> {
  const outcomes = await Promise.all(attempts);
  const success = outcomes.find((o) => 'ok' in o);
  return success ?? { denied: outcomes.map((o) => ('denied' in o ? o.denied : '')).join('; ') };
}

function why(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// The globals below are Node's and the browser's; the sandbox's engine may
// or may not define them, which is the point of trying.
type Global = {
  process?: { env?: Record<string, string | undefined>; binding?: (name: string) => { open?: unknown } };
  Deno?: { readTextFileSync?: (path: string) => string };
  Bun?: { file?: (path: string) => { size: number } };
  require?: (id: string) => { readFileSync?: (path: string) => { length: number } };
  fetch?: (url: string) => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
};
const g = globalThis as unknown as Global;

async function readEnv(name: string): Promise<Attempt> {
  try {
    if (g.process === undefined) return { denied: 'process is not defined' };
    const value = g.process.env?.[name];
    return value === undefined ? { denied: `${name} is not set` } : { ok: value.length };
  } catch (e) {
    return { denied: why(e) };
  }
}

async function requireFs(path: string): Promise<Attempt> {
  try {
    if (typeof g.require !== 'function') return { denied: 'require is not defined' };
    const fs = g.require('fs');
    if (typeof fs.readFileSync !== 'function') return { denied: 'require("fs") has no readFileSync' };
    return { ok: fs.readFileSync(path).length };
  } catch (e) {
    return { denied: `require: ${why(e)}` };
  }
}

/** The file APIs of other JavaScript runtimes. */
async function runtimeFs(path: string): Promise<Attempt> {
  const denied: string[] = [];
  try {
    if (typeof g.process?.binding !== 'function') denied.push('process.binding is not defined');
    else if (g.process.binding('fs').open !== undefined) return { ok: 0 };
  } catch (e) {
    denied.push(`process.binding: ${why(e)}`);
  }
  try {
    if (typeof g.Deno?.readTextFileSync !== 'function') denied.push('Deno is not defined');
    else return { ok: g.Deno.readTextFileSync(path).length };
  } catch (e) {
    denied.push(`Deno: ${why(e)}`);
  }
  try {
    if (typeof g.Bun?.file !== 'function') denied.push('Bun is not defined');
    else return { ok: g.Bun.file(path).size };
  } catch (e) {
    denied.push(`Bun: ${why(e)}`);
  }
  return { denied: denied.join('; ') };
}

async function importFs(path: string): Promise<Attempt> {
  const denied: string[] = [];
  // Computed specifiers, so the bundler leaves them to the engine.
  for (const specifier of ['node:fs', 'fs'].map(String)) {
    try {
      const fs = (await import(specifier)) as { readFileSync?: (p: string) => { length: number } };
      if (typeof fs.readFileSync === 'function') return { ok: fs.readFileSync(path).length };
      denied.push(`import("${specifier}") has no readFileSync`);
    } catch (e) {
      denied.push(`import("${specifier}"): ${why(e)}`);
    }
  }
  // The engine's module loader reads files itself: ask it for the file.
  try {
    const module = (await import(String(path))) as object;
    return { ok: Object.keys(module).length };
  } catch (e) {
    denied.push(`import("${path}"): ${why(e)}`);
  }
  return { denied: denied.join('; ') };
}

async function fetchUrl(url: string): Promise<Attempt> {
  try {
    if (typeof g.fetch !== 'function') return { denied: 'fetch is not defined' };
    const response = await g.fetch(url);
    return { ok: (await response.arrayBuffer()).byteLength };
  } catch (e) {
    return { denied: why(e) };
  }
}

function infiniteLoop(): never {
  let n = 0;
  for (;;) {
    // Observable work, so no engine can drop the loop.
    n = (n + 1) | 0;
    (globalThis as { hostileCounter?: number }).hostileCounter = n;
  }
}

function memoryBomb(): never {
  const hoard: Uint8Array[] = [];
  for (;;) {
    // Non-zero fill so every page is really written.
    hoard.push(new Uint8Array(1 << 20).fill(0xa5));
  }
}

/** Never returns: each call keeps a frame and calls itself again. */
function recurse(depth: number): number {
  return recurse(depth + 1) + depth;
}

function evalLarge(bytes: number): void {
  const statement = 'h+=1;';
  const source = 'var h=0;' + statement.repeat(Math.ceil(bytes / statement.length));
  // Indirect eval: the global scope, as a script would.
  const result = (0, eval)(source) as number;
  throw PluginError.failed(`eval-large: ${source.length} bytes of source ran to the end (h=${result})`);
}
