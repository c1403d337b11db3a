// A Node module hook for builds: componentize-js 0.23.0 imports
// @bytecodealliance/preview2-shim without declaring it, so whether it finds
// one depends on how npm laid out the project. When its own lookup fails,
// the shim is looked up from this SDK, which declares (and so installs) it.
// Installed by build.ts before componentize-js is imported.

const SHIM = '@bytecodealliance/preview2-shim';

interface ResolveContext {
  conditions: string[];
  parentURL?: string | undefined;
}
interface ResolveResult {
  url: string;
  format?: string | null | undefined;
  shortCircuit?: boolean | undefined;
}

let sdkUrl = import.meta.url;

export function initialize(data: { sdkUrl: string } | undefined): void {
  if (data !== undefined) sdkUrl = data.sdkUrl;
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: (specifier: string, context: ResolveContext) => Promise<ResolveResult>,
): Promise<ResolveResult> {
  try {
    return await nextResolve(specifier, context);
  } catch (e) {
    const isShim = specifier === SHIM || specifier.startsWith(`${SHIM}/`);
    if (!isShim || (e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') {
      throw e;
    }
    return nextResolve(specifier, { ...context, parentURL: sdkUrl });
  }
}
