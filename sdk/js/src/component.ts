// `@scaihub/plugin-sdk/component`: load a built component into Node
// (transpiled by jco, run by V8 with WASI denied), so tests can call the
// real compiled plugin, engine and all, without a ScaiHub host.

import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The exports of a loaded plugin component: `filter` or `transform`, with
 *  the WIT signatures (as `runFilter` / `runTransform` take them). */
export interface LoadedComponent {
  filter?: (event: unknown, config: string) => unknown;
  transform?: (event: unknown, request: unknown, config: string) => unknown;
  /** Removes the transpiled files. */
  close(): Promise<void>;
}

/** Transpiles the component at `path` with jco and imports it. WASI comes
 *  from @bytecodealliance/preview2-shim, which opens no directory and,
 *  through jco's deny-by-default maps, grants no host capability. */
export async function loadComponent(path: string): Promise<LoadedComponent> {
  const jcoUrl = import.meta.resolve('@bytecodealliance/jco');
  const { transpile } = (await import(jcoUrl)) as {
    transpile(
      bytes: Uint8Array,
      opts: { name: string; noTypescript: boolean; quiet?: boolean },
    ): Promise<{ files: Record<string, Uint8Array> }>;
  };
  const { files } = await transpile(await readFile(path), { name: 'plugin', noTypescript: true });
  const dir = await mkdtemp(join(tmpdir(), 'scaihub-component-'));
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  // The transpiled module imports the shim by package name: let it find
  // the copy jco itself uses.
  const shimEntry = createRequire(jcoUrl).resolve('@bytecodealliance/preview2-shim');
  const marker = `${sep}node_modules${sep}`;
  const modules = shimEntry.slice(0, shimEntry.lastIndexOf(marker) + marker.length - 1);
  await symlink(modules, join(dir, 'node_modules'), 'dir');
  const loaded = (await import(pathToFileURL(join(dir, 'plugin.js')).href)) as Omit<LoadedComponent, 'close'>;
  return {
    filter: loaded.filter,
    transform: loaded.transform,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
