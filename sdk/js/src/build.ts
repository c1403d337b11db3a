// `scaihub-plugin build`: a plugin source (.ts or .js, importing this SDK
// and anything else bundleable) → one ES module (esbuild) → a WebAssembly
// component of the `filter` or `transform` world (componentize-js).

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

/** The two worlds of `scaidrive:hooks`. */
export type Kind = 'filter' | 'transform';

/** The engine features a plugin is built without. The sandbox refuses
 *  network access anyway, and the host links no `wasi:http`, so a
 *  component that imports it could not even be uploaded: `http` (the
 *  `fetch` global) and `fetch-event` (incoming-request handling) go.
 *  `stdio` (console, stderr reports), `random` (crypto and a seeded
 *  `Math.random`) and `clocks` (`Date.now`, timers) stay: the host provides
 *  them as empty or read-only WASI, and without `random` every call of a
 *  snapshot would draw the same "random" numbers. */
export const DISABLED_FEATURES = ['http', 'fetch-event'] as const;

/** Put at the top of every bundle. Without the `http` feature
 *  componentize-js still defines `fetch`, but its WASI HTTP imports are
 *  stubbed with traps, so a call would end the plugin with an anonymous
 *  `unreachable`; this makes it a TypeError that says why. */
export const PRELUDE = `globalThis.fetch = function fetch() {
  throw new TypeError('fetch is not available in ScaiHub plugins: they have no network access');
};`;

/** Where the SDK's copy of the WIT lives (kept equal to the repository's
 *  `wit/` by `npm run check`). */
export const PACKAGED_WIT = fileURLToPath(new URL('../wit', import.meta.url));

export interface BuildOptions {
  /** The plugin's entry module. */
  source: string;
  /** The world; found from the module's exports when not given. */
  kind?: Kind | undefined;
  /** Where to write the component; `<source name>.wasm` beside it if not given. */
  output?: string | undefined;
  /** A WIT folder to build against instead of the packaged one. */
  wit?: string | undefined;
}

export interface BuildResult {
  output: string;
  kind: Kind;
  bytes: number;
  bundleBytes: number;
  milliseconds: number;
}

/** A build that failed for a reason the author can fix; the message says
 *  what and where. */
export class BuildError extends Error {
  override name = 'BuildError';
}

/** Builds one plugin. */
export async function buildPlugin(options: BuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const source = resolve(options.source);
  await stat(source).catch(() => {
    throw new BuildError(`${options.source}: no such file`);
  });
  const wit = resolve(options.wit ?? PACKAGED_WIT);
  const output = resolve(options.output ?? source.replace(/\.[cm]?[jt]s$/, '') + '.wasm');
  const work = await mkdtemp(join(tmpdir(), 'scaihub-plugin-'));
  try {
    const bundle = join(work, 'plugin.js');
    const exports = await bundleModule(source, bundle);
    const kind = chooseKind(options.kind, exports, options.source);
    const component = await componentizeModule(bundle, wit, kind, work);
    await writeFile(output, component);
    return {
      output,
      kind,
      bytes: component.length,
      bundleBytes: (await stat(bundle)).size,
      milliseconds: Math.round(performance.now() - started),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Bundles `source` and everything it imports into one ES module at
 *  `bundle`; answers the module's export names. */
async function bundleModule(source: string, bundle: string): Promise<string[]> {
  let result: esbuild.BuildResult<{ metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [source],
      outfile: bundle,
      bundle: true,
      format: 'esm',
      // Not 'node': Node's modules do not exist in the sandbox, and saying
      // so at build time beats a failure at the first delivery.
      platform: 'neutral',
      mainFields: ['module', 'main'],
      // Libraries test this to pick a build; it is a constant here, not an
      // environment the plugin can read.
      define: { 'process.env.NODE_ENV': '"production"' },
      banner: { js: PRELUDE },
      target: 'es2022',
      charset: 'utf8',
      legalComments: 'none',
      // Kept readable: error messages and stack lines then point at code
      // the author recognises.
      minify: false,
      metafile: true,
      logLevel: 'silent',
    });
  } catch (e) {
    throw new BuildError(await esbuildMessages(e));
  }
  const out = Object.values(result.metafile.outputs)[0];
  return out?.exports ?? [];
}

async function esbuildMessages(e: unknown): Promise<string> {
  const failure = e as esbuild.BuildFailure;
  if (!Array.isArray(failure.errors)) {
    return String(e);
  }
  const lines = await esbuild.formatMessages(failure.errors, { kind: 'error', color: false });
  let text = lines.join('').trimEnd();
  if (failure.errors.some((m) => /built into node/.test(m.text + m.notes.map((n) => n.text).join(' ')))) {
    text +=
      '\n\nPlugins run in a sandbox without Node.js modules: no fs, net, child_process or process.' +
      '\nEverything a plugin needs arrives as the arguments of its function.';
  }
  return text;
}

function chooseKind(declared: Kind | undefined, exports: string[], source: string): Kind {
  const found = (['filter', 'transform'] as const).filter((k) => exports.includes(k));
  if (declared !== undefined) {
    if (!found.includes(declared)) {
      throw new BuildError(
        `${source} does not export \`${declared}\`; write \`export const ${declared} = ${
          declared === 'filter' ? 'defineFilter' : 'defineTransform'
        }(...)\``,
      );
    }
    return declared;
  }
  if (found.length !== 1) {
    throw new BuildError(
      found.length === 0
        ? `${source} exports neither \`filter\` nor \`transform\`; export one (made with defineFilter or defineTransform)`
        : `${source} exports both \`filter\` and \`transform\`; say which to build with --kind`,
    );
  }
  return found[0] as Kind;
}

/** Runs componentize-js on the bundle: splices bindings for `kind` into
 *  the StarlingMonkey engine, evaluates the module's top level and
 *  snapshots it with Wizer, and wraps the result as a component. */
async function componentizeModule(bundle: string, wit: string, kind: Kind, work: string): Promise<Uint8Array> {
  findShimForComponentize();
  await allowWitReads([wit, work]);
  const { componentize } = await import('@bytecodealliance/componentize-js');
  try {
    const { component } = await componentize({
      sourcePath: bundle,
      witPath: wit,
      worldName: kind,
      disableFeatures: [...DISABLED_FEATURES],
    });
    return component;
  } catch (e) {
    throw new BuildError(`componentize-js could not build the component:\n${(e as Error).message}`);
  }
}

let shimHooked = false;

/** componentize-js imports @bytecodealliance/preview2-shim without
 *  declaring it; where npm did not put a copy within its reach, let it find
 *  this SDK's (see node/shim-hooks.ts). Once per process, before
 *  componentize-js is first imported. */
function findShimForComponentize(): void {
  if (!shimHooked) {
    register('./node/shim-hooks.js', import.meta.url, { data: { sdkUrl: import.meta.url } });
    shimHooked = true;
  }
}

/** The file of preview2-shim's `subpath` that componentize-js imports: the
 *  copy it finds itself if there is one, else this SDK's (the hook above). */
function shimPath(subpath: string): string {
  const componentizeUrl = import.meta.resolve('@bytecodealliance/componentize-js');
  try {
    return createRequire(componentizeUrl).resolve(`@bytecodealliance/preview2-shim/${subpath}`);
  } catch {
    return createRequire(import.meta.url).resolve(`@bytecodealliance/preview2-shim/${subpath}`);
  }
}

/** componentize-js reads the WIT through a WASI filesystem emulated by
 *  @bytecodealliance/preview2-shim, which since 0.26 opens no directory by
 *  default. Open exactly the folders the build reads, in the shim instance
 *  componentize-js uses. */
async function allowWitReads(folders: string[]): Promise<void> {
  const shim = (await import(pathToFileURL(shimPath('filesystem')).href)) as {
    _setPreopens(preopens: Record<string, string>): void;
  };
  shim._setPreopens(Object.fromEntries(folders.map((f) => [f, f])));
}

/** The packaged WIT's text (for `scaihub-plugin --version`). */
export async function witPackage(): Promise<string> {
  const text = await readFile(join(PACKAGED_WIT, 'hooks.wit'), 'utf8');
  return /^package\s+([^;]+);/m.exec(text)?.[1] ?? 'unknown';
}
