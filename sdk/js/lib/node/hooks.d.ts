interface ResolveContext {
    conditions: string[];
    parentURL?: string | undefined;
}
interface ResolveResult {
    url: string;
    format?: string | null | undefined;
    shortCircuit?: boolean | undefined;
}
interface LoadContext {
    format?: string | null | undefined;
    conditions: string[];
}
interface LoadResult {
    format: string;
    source?: string | ArrayBuffer | Uint8Array | null | undefined;
    shortCircuit?: boolean | undefined;
}
export declare function resolve(specifier: string, context: ResolveContext, nextResolve: (specifier: string, context: ResolveContext) => Promise<ResolveResult>): Promise<ResolveResult>;
export declare function load(url: string, context: LoadContext, nextLoad: (url: string, context: LoadContext) => Promise<LoadResult>): Promise<LoadResult>;
export {};
