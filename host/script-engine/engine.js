// The script engine: one component that runs an admin's JavaScript source
// as a filter or a transform. The host passes the source with the plugin's
// configuration in the config string, `{"source": "...", "config": ...}`;
// the engine compiles the source with `new Function` (StarlingMonkey keeps
// SpiderMonkey's compiler, so eval works without a JIT) and calls the
// script's `filter(event, config)` or `transform(event, request, config)`
// with the same SDK objects an uploaded JavaScript plugin gets. Errors
// come back as `failed("SyntaxError: ... (line N, column C)")`, the line
// counted in the admin's source. Built by build.mjs; see ARCHITECTURE.md.

import { Config, defineFilter, defineTransform, deliverIf, PluginError, Request } from '@scaihub/plugin-sdk';

/** The names a script sees besides the language's own globals. */
const PARAMS = ['PluginError', 'Request', 'deliverIf'];
const ARGS = [PluginError, Request, deliverIf];

/** What the script's body ends with: its functions, handed back. */
const EPILOGUE =
  "\n;return { filter: typeof filter === 'function' ? filter : undefined, " +
  "transform: typeof transform === 'function' ? transform : undefined };";

/** Lines `new Function` puts before the body, measured once at snapshot
 *  time rather than assumed, since engines differ. */
const OFFSET = (() => {
  try {
    new Function(...PARAMS, '\n\n)');
  } catch (e) {
    if (typeof e.lineNumber === 'number') return e.lineNumber - 3;
  }
  return 0;
})();

/** `export function filter` is how an uploaded plugin reads; a function
 *  body cannot export, so the keyword goes (same line, same columns less
 *  nothing that matters for the line). */
function stripExports(source) {
  return source.replace(/^([ \t]*)export[ \t]+(?=(?:async[ \t]+)?function\b|const\b|let\b|var\b|class\b)/gm, '$1');
}

/** Where in the admin's source `e` happened: SpiderMonkey names a
 *  `new Function` frame `... > Function:LINE:COLUMN`. */
function position(e) {
  const stack = typeof e?.stack === 'string' ? e.stack : '';
  const m = /> Function:(\d+):(\d+)/.exec(stack);
  if (m) return { line: Number(m[1]) - OFFSET, column: Number(m[2]) };
  if (e instanceof SyntaxError && typeof e.lineNumber === 'number') {
    return { line: e.lineNumber - OFFSET, column: typeof e.columnNumber === 'number' ? e.columnNumber : 0 };
  }
  return undefined;
}

/** `Name: message (line N, column C)`, the form the host and the editor
 *  read the line back from. */
function describe(e, source) {
  const text = e instanceof Error ? `${e.name}: ${e.message}` : `uncaught ${String(e)}`;
  const at = position(e);
  if (!at) return text;
  // An error at the end of the input (an unclosed brace) is found on the
  // line the engine appends: it belongs to the source's last line.
  const lines = source.split('\n').length;
  return at.line > lines
    ? `${text} (line ${lines}, at the end)`
    : `${text} (line ${Math.max(at.line, 1)}, column ${at.column})`;
}

/** The host's wrapper: the source and the plugin's own configuration. */
function unwrap(raw) {
  let wrapped;
  try {
    wrapped = JSON.parse(raw);
  } catch {
    wrapped = undefined;
  }
  if (typeof wrapped !== 'object' || wrapped === null || typeof wrapped.source !== 'string') {
    throw PluginError.invalidConfig('the script engine needs {"source": ..., "config": ...} from the host');
  }
  return wrapped;
}

/** Compiles the source and answers its function `name`. */
function load(source, name) {
  let fns;
  try {
    fns = new Function(...PARAMS, stripExports(source) + EPILOGUE)(...ARGS);
  } catch (e) {
    throw PluginError.failed(describe(e, source));
  }
  const fn = fns[name];
  if (fn === undefined) {
    throw PluginError.failed(`the script defines no function ${name}(${name === 'filter' ? 'event, config' : 'event, request, config'})`);
  }
  return fn;
}

/** Calls the script, turning what it throws into a failure with its line;
 *  a PluginError it throws on purpose passes through as it is. */
function run(source, fn, args) {
  try {
    return fn(...args);
  } catch (e) {
    if (e instanceof PluginError) throw e;
    throw PluginError.failed(describe(e, source));
  }
}

export const filter = defineFilter((event, config) => {
  const wrapped = unwrap(config.raw);
  // `check`: compile only, and make sure the named function exists; the
  // host asks this before it saves a version.
  if (typeof wrapped.check === 'string') {
    load(wrapped.source, wrapped.check);
    return 'deliver';
  }
  const fn = load(wrapped.source, 'filter');
  return run(wrapped.source, fn, [event, new Config(JSON.stringify(wrapped.config ?? null))]);
});

export const transform = defineTransform((event, request, config) => {
  const wrapped = unwrap(config.raw);
  const fn = load(wrapped.source, 'transform');
  const answer = run(wrapped.source, fn, [event, request, new Config(JSON.stringify(wrapped.config ?? null))]);
  if (!(answer instanceof Request)) {
    throw PluginError.failed('the transform returned something other than the request; return the request (changed) or new Request(...)');
  }
  return answer;
});
