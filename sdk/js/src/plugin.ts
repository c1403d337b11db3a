/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
// `defineFilter` and `defineTransform`: turn a plain function over the
// SDK's types into the export a component needs, with the exact shape of
// the WIT world (the types in ../types/wit are generated from the WIT by
// jco, so a change of contract fails this file's type check).

import type * as FilterWorld from 'scaidrive:hooks/filter@0.1.0';
import type * as TransformWorld from 'scaidrive:hooks/transform@0.1.0';
import { Config } from './config.js';
import { asPluginError, PluginError } from './error.js';
import { Event } from './event.js';
import { Request } from './request.js';

/** A filter's answer: send the event to the webhook, or not. */
export type Verdict = FilterWorld.Verdict;

/** `'deliver'` when `deliver` holds, else `'skip'`. */
export function deliverIf(deliver: boolean): Verdict {
  return deliver ? 'deliver' : 'skip';
}

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
export type FilterExport = typeof FilterWorld.filter & { readonly handler: FilterHandler };

/** The `transform` export of a component: the WIT function, plus the
 *  handler it wraps (for unit tests). */
export type TransformExport = typeof TransformWorld.transform & { readonly handler: TransformHandler };

/** Makes `handler` the component's filter:
 *  `export const filter = defineFilter((event, config) => ...)`.
 *
 *  The export converts the WIT arguments into an `Event` and a `Config`,
 *  and the answer back. A thrown `PluginError` becomes the WIT error; any
 *  other exception becomes a `failed` error naming it. */
export function defineFilter(handler: FilterHandler): FilterExport {
  const exported = (event: FilterWorld.Event, config: string): Verdict => {
    let answer: Verdict | boolean;
    try {
      answer = handler(Event.fromWit(event), new Config(config));
    } catch (e) {
      throw asPluginError(e);
    }
    if (answer === true || answer === false) {
      return deliverIf(answer);
    }
    if (answer !== 'deliver' && answer !== 'skip') {
      throw PluginError.failed(`the filter returned ${describe(answer)}; return 'deliver', 'skip' or a boolean`);
    }
    return answer;
  };
  return Object.assign(exported, { handler });
}

/** Makes `handler` the component's transform:
 *  `export const transform = defineTransform((event, request, config) => ...)`.
 *
 *  The export converts the WIT arguments into an `Event`, a `Request` and a
 *  `Config`, and the returned `Request` back. A thrown `PluginError` becomes
 *  the WIT error; any other exception becomes a `failed` error naming it. */
export function defineTransform(handler: TransformHandler): TransformExport {
  const exported = (
    event: TransformWorld.Event,
    request: TransformWorld.OutgoingRequest,
    config: string,
  ): TransformWorld.OutgoingRequest => {
    let answer: Request;
    try {
      answer = handler(Event.fromWit(event), Request.fromWit(request), new Config(config));
    } catch (e) {
      throw asPluginError(e);
    }
    // By shape rather than `instanceof`: a Request made by another copy of
    // this package is as good.
    if (!isRequestLike(answer)) {
      throw PluginError.failed(`the transform returned ${describe(answer)}; return a Request`);
    }
    return { body: answer.body, headers: answer.headers, contentType: answer.contentType };
  };
  return Object.assign(exported, { handler });
}

function isRequestLike(value: unknown): value is TransformWorld.OutgoingRequest {
  const r = value as Partial<TransformWorld.OutgoingRequest> | null | undefined;
  return (
    typeof r === 'object' &&
    r !== null &&
    r.body instanceof Uint8Array &&
    Array.isArray(r.headers) &&
    r.headers.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string') &&
    typeof r.contentType === 'string'
  );
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  return `a value of type ${typeof value}`;
}
