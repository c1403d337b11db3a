interface ResolveContext {
    conditions: string[];
    parentURL?: string | undefined;
}
interface ResolveResult {
    url: string;
    format?: string | null | undefined;
    shortCircuit?: boolean | undefined;
}
export declare function initialize(data: {
    sdkUrl: string;
} | undefined): void;
export declare function resolve(specifier: string, context: ResolveContext, nextResolve: (specifier: string, context: ResolveContext) => Promise<ResolveResult>): Promise<ResolveResult>;
export {};
