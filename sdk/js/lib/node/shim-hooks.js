// A Node module hook for builds: componentize-js 0.23.0 imports
// @bytecodealliance/preview2-shim without declaring it, so whether it finds
// one depends on how npm laid out the project. When its own lookup fails,
// the shim is looked up from this SDK, which declares (and so installs) it.
// Installed by build.ts before componentize-js is imported.
const SHIM = '@bytecodealliance/preview2-shim';
let sdkUrl = import.meta.url;
export function initialize(data) {
    if (data !== undefined)
        sdkUrl = data.sdkUrl;
}
export async function resolve(specifier, context, nextResolve) {
    try {
        return await nextResolve(specifier, context);
    }
    catch (e) {
        const isShim = specifier === SHIM || specifier.startsWith(`${SHIM}/`);
        if (!isShim || e.code !== 'ERR_MODULE_NOT_FOUND') {
            throw e;
        }
        return nextResolve(specifier, { ...context, parentURL: sdkUrl });
    }
}
