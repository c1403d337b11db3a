// Generated from wit/ by `npm run generate` (jco guest-types); do not edit.
/// <reference path="./interfaces/scaidrive-hooks-types.d.ts" />
declare module 'scaidrive:hooks/transform@0.1.0' {
  export type Event = import('scaidrive:hooks/types@0.1.0').Event;
  export type OutgoingRequest = import('scaidrive:hooks/types@0.1.0').OutgoingRequest;
  export type PluginError = import('scaidrive:hooks/types@0.1.0').PluginError;
  export type * as ScaidriveHooksTypes010 from 'scaidrive:hooks/types@0.1.0'; // import scaidrive:hooks/types@0.1.0
  /**
  * Turns `request`, built from `event`, into the request to send.
  * `config` is the JSON text of the configuration the webhook attached
  * to this plugin (`null` when it attached none).
  */
  export function transform(event: Event, request: OutgoingRequest, config: string): OutgoingRequest;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
