/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
// `@scaihub/plugin-sdk/testing`: call a plugin's export the way the host
// calls the component, under Node, without WebAssembly, and get back what
// the host would record.

import type * as FilterWorld from 'scaidrive:hooks/filter@0.1.0';
import type * as TransformWorld from 'scaidrive:hooks/transform@0.1.0';
import { Config } from './config.js';
import type { ErrorKind } from './error.js';
import type { Event } from './event.js';
import type { Verdict } from './plugin.js';
import { Request } from './request.js';

/** A plugin error as the host records it. */
export interface OutcomeError {
  kind: ErrorKind;
  message: string;
}

/** What a filter call ended with. */
export type FilterOutcome = { verdict: Verdict } | { error: OutcomeError };

/** What a transform call ended with. */
export type TransformOutcome = { request: Request } | { error: OutcomeError };

/** Runs a `filter` export on `event` with `config` (a `Config`, or its raw
 *  JSON text). Throws only where the component would trap. */
export function runFilter(filter: typeof FilterWorld.filter, event: Event, config: Config | string): FilterOutcome {
  try {
    return { verdict: filter(event.toWit(), configText(config)) };
  } catch (e) {
    return { error: errorOf(e) };
  }
}

/** Runs a `transform` export on `event` and `request` with `config`.
 *  Throws only where the component would trap. */
export function runTransform(
  transform: typeof TransformWorld.transform,
  event: Event,
  request: Request,
  config: Config | string,
): TransformOutcome {
  try {
    return { request: Request.fromWit(transform(event.toWit(), request.toWit(), configText(config))) };
  } catch (e) {
    return { error: errorOf(e) };
  }
}

function configText(config: Config | string): string {
  return config instanceof Config ? config.raw : config;
}

/** The error value componentize-js would lower from a thrown value: its
 *  own `payload` (what `PluginError` carries). Anything else thrown is
 *  rethrown, as the component would trap on it. */
function errorOf(thrown: unknown): OutcomeError {
  if (typeof thrown === 'object' && thrown !== null && Object.prototype.hasOwnProperty.call(thrown, 'payload')) {
    const payload = (thrown as { payload: { tag: ErrorKind; val: string } }).payload;
    return { kind: payload.tag, message: payload.val };
  }
  throw thrown;
}
