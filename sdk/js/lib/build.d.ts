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
export declare const DISABLED_FEATURES: readonly ['http', 'fetch-event'];
/** Put at the top of every bundle. Without the `http` feature
 *  componentize-js still defines `fetch`, but its WASI HTTP imports are
 *  stubbed with traps, so a call would end the plugin with an anonymous
 *  `unreachable`; this makes it a TypeError that says why. */
export declare const PRELUDE = "globalThis.fetch = function fetch() {\n  throw new TypeError('fetch is not available in ScaiHub plugins: they have no network access');\n};";
/** Where the SDK's copy of the WIT lives (kept equal to the repository's
 *  `wit/` by `npm run check`). */
export declare const PACKAGED_WIT: string;
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
export declare class BuildError extends Error {
    name: string;
}
/** Builds one plugin. */
export declare function buildPlugin(options: BuildOptions): Promise<BuildResult>;
/** The packaged WIT's text (for `scaihub-plugin --version`). */
export declare function witPackage(): Promise<string>;
