// Node module hooks that let `node --test` load TypeScript: `.ts` files
// are stripped of their types by esbuild (no type check: `tsc --noEmit`
// does that), and `./x.js` imports find `./x.ts`, as TypeScript's ESM
// convention writes them. Installed by ./register.ts.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
const TYPESCRIPT = /\.m?ts$/;
export async function resolve(specifier, context, nextResolve) {
    try {
        return await nextResolve(specifier, context);
    }
    catch (e) {
        const relative = /^\.\.?\//.test(specifier);
        const fromTypeScript = context.parentURL !== undefined && TYPESCRIPT.test(context.parentURL);
        if (e.code !== 'ERR_MODULE_NOT_FOUND' || !relative || !fromTypeScript) {
            throw e;
        }
        const candidates = specifier.endsWith('.js') ? [specifier.slice(0, -3) + '.ts'] : [specifier + '.ts'];
        for (const candidate of candidates) {
            try {
                return await nextResolve(candidate, context);
            }
            catch {
                // try the next, then report the original error
            }
        }
        throw e;
    }
}
export async function load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !TYPESCRIPT.test(url)) {
        return nextLoad(url, context);
    }
    const path = fileURLToPath(url);
    const source = await readFile(path, 'utf8');
    const out = await transform(source, {
        loader: 'ts',
        format: 'esm',
        target: 'node20',
        sourcefile: path,
        sourcemap: 'inline',
    });
    return { format: 'module', source: out.code, shortCircuit: true };
}
