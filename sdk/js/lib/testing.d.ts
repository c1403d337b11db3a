/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
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
export type FilterOutcome = {
    verdict: Verdict;
} | {
    error: OutcomeError;
};
/** What a transform call ended with. */
export type TransformOutcome = {
    request: Request;
} | {
    error: OutcomeError;
};
/** Runs a `filter` export on `event` with `config` (a `Config`, or its raw
 *  JSON text). Throws only where the component would trap. */
export declare function runFilter(filter: typeof FilterWorld.filter, event: Event, config: Config | string): FilterOutcome;
/** Runs a `transform` export on `event` and `request` with `config`.
 *  Throws only where the component would trap. */
export declare function runTransform(transform: typeof TransformWorld.transform, event: Event, request: Request, config: Config | string): TransformOutcome;
