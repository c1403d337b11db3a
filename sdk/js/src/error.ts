/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
// `PluginError`: the one error a plugin throws, mirroring the WIT
// `plugin-error` variant (invalid-config, invalid-event, failed).

import type { PluginError as WitPluginError } from 'scaidrive:hooks/types@0.1.0';

/** Which of the WIT `plugin-error` cases an error is. */
export type ErrorKind = WitPluginError['tag'];

/** Why a plugin could not do its work. Throw one from a filter or
 *  transform; the host records `kind` and `message` on the delivery and
 *  the webhook's policy decides what happens to the event. */
export class PluginError extends Error {
  /** The case of the WIT variant. */
  readonly kind: ErrorKind;
  /** The WIT value itself. componentize-js turns a thrown value with an
   *  own `payload` property into the `err` of the export's result. */
  readonly payload: WitPluginError;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = 'PluginError';
    this.kind = kind;
    this.payload = { tag: kind, val: message };
  }

  /** The configuration attached to the webhook is unusable. */
  static invalidConfig(message: string): PluginError {
    return new PluginError('invalid-config', message);
  }

  /** The event or request lacks something the plugin needs. */
  static invalidEvent(message: string): PluginError {
    return new PluginError('invalid-event', message);
  }

  /** Anything else that went wrong. */
  static failed(message: string): PluginError {
    return new PluginError('failed', message);
  }

  /** `invalid config: <message>`, as the host shows it. */
  override toString(): string {
    return `${this.kind.replace('-', ' ')}: ${this.message}`;
  }
}

/** Turns anything a plugin threw into a `PluginError`: a `PluginError`
 *  stays as it is (recognised by its WIT `payload`, so one from another copy
 *  of this package counts too); any other exception becomes `failed`,
 *  naming it, so an unexpected `TypeError` reads as such on the delivery
 *  instead of as an anonymous trap. */
export function asPluginError(thrown: unknown): PluginError {
  if (thrown instanceof PluginError) {
    return thrown;
  }
  const payload = witPayload(thrown);
  if (payload !== undefined) {
    return new PluginError(payload.tag, payload.val);
  }
  if (thrown instanceof Error) {
    return PluginError.failed(`uncaught ${thrown.name}: ${thrown.message}`);
  }
  return PluginError.failed(`uncaught exception: ${String(thrown)}`);
}

const KINDS: readonly string[] = ['invalid-config', 'invalid-event', 'failed'] satisfies ErrorKind[];

/** The WIT error a thrown value carries as its own `payload`, if any. */
function witPayload(thrown: unknown): WitPluginError | undefined {
  if (typeof thrown !== 'object' || thrown === null || !Object.prototype.hasOwnProperty.call(thrown, 'payload')) {
    return undefined;
  }
  const payload = (thrown as { payload: unknown }).payload as { tag?: unknown; val?: unknown } | null;
  return payload !== null && typeof payload === 'object' && KINDS.includes(payload.tag as string) && typeof payload.val === 'string'
    ? (payload as WitPluginError)
    : undefined;
}
