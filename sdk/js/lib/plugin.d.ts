/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
import type * as FilterWorld from 'scaidrive:hooks/filter@0.1.0';
import type * as TransformWorld from 'scaidrive:hooks/transform@0.1.0';
import { Config } from './config.js';
import { Event } from './event.js';
import { Request } from './request.js';
/** A filter's answer: send the event to the webhook, or not. */
export type Verdict = FilterWorld.Verdict;
/** `'deliver'` when `deliver` holds, else `'skip'`. */
export declare function deliverIf(deliver: boolean): Verdict;
/** A filter: judges `event` under the webhook's `config`. Returning
 *  `true`/`false` means `'deliver'`/`'skip'`. Throw a `PluginError` when it
 *  cannot decide. */
export type FilterHandler = (event: Event, config: Config) => Verdict | boolean;
/** A transform: turns `request`, built from `event`, into the request to
 *  send (the same object changed, or a new one). Throw a `PluginError` when
 *  it cannot. */
export type TransformHandler = (event: Event, request: Request, config: Config) => Request;
/** The `filter` export of a component: the WIT function, plus the handler
 *  it wraps (for unit tests). */
export type FilterExport = typeof FilterWorld.filter & {
    readonly handler: FilterHandler;
};
/** The `transform` export of a component: the WIT function, plus the
 *  handler it wraps (for unit tests). */
export type TransformExport = typeof TransformWorld.transform & {
    readonly handler: TransformHandler;
};
/** Makes `handler` the component's filter:
 *  `export const filter = defineFilter((event, config) => ...)`.
 *
 *  The export converts the WIT arguments into an `Event` and a `Config`,
 *  and the answer back. A thrown `PluginError` becomes the WIT error; any
 *  other exception becomes a `failed` error naming it. */
export declare function defineFilter(handler: FilterHandler): FilterExport;
/** Makes `handler` the component's transform:
 *  `export const transform = defineTransform((event, request, config) => ...)`.
 *
 *  The export converts the WIT arguments into an `Event`, a `Request` and a
 *  `Config`, and the returned `Request` back. A thrown `PluginError` becomes
 *  the WIT error; any other exception becomes a `failed` error naming it. */
export declare function defineTransform(handler: TransformHandler): TransformExport;
