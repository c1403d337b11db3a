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
export declare function loadComponent(path: string): Promise<LoadedComponent>;
