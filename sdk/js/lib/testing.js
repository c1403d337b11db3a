/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
// `@scaihub/plugin-sdk/testing`: call a plugin's export the way the host
// calls the component, under Node, without WebAssembly, and get back what
// the host would record.
import { Config } from './config.js';
import { Request } from './request.js';
/** Runs a `filter` export on `event` with `config` (a `Config`, or its raw
 *  JSON text). Throws only where the component would trap. */
export function runFilter(filter, event, config) {
    try {
        return { verdict: filter(event.toWit(), configText(config)) };
    }
    catch (e) {
        return { error: errorOf(e) };
    }
}
/** Runs a `transform` export on `event` and `request` with `config`.
 *  Throws only where the component would trap. */
export function runTransform(transform, event, request, config) {
    try {
        return { request: Request.fromWit(transform(event.toWit(), request.toWit(), configText(config))) };
    }
    catch (e) {
        return { error: errorOf(e) };
    }
}
function configText(config) {
    return config instanceof Config ? config.raw : config;
}
/** The error value componentize-js would lower from a thrown value: its
 *  own `payload` (what `PluginError` carries). Anything else thrown is
 *  rethrown, as the component would trap on it. */
function errorOf(thrown) {
    if (typeof thrown === 'object' && thrown !== null && Object.prototype.hasOwnProperty.call(thrown, 'payload')) {
        const payload = thrown.payload;
        return { kind: payload.tag, message: payload.val };
    }
    throw thrown;
}
