// Generated from wit/ by `npm run generate` (jco guest-types); do not edit.
/// <reference path="./interfaces/scaidrive-hooks-types.d.ts" />
declare module 'scaidrive:hooks/filter@0.1.0' {
  export type Event = import('scaidrive:hooks/types@0.1.0').Event;
  export type Verdict = import('scaidrive:hooks/types@0.1.0').Verdict;
  export type PluginError = import('scaidrive:hooks/types@0.1.0').PluginError;
  export type * as ScaidriveHooksTypes010 from 'scaidrive:hooks/types@0.1.0'; // import scaidrive:hooks/types@0.1.0
  /**
  * Judges one event. `config` is the JSON text of the configuration the
  * webhook attached to this plugin (`null` when it attached none).
  */
  export function filter(event: Event, config: string): Verdict;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
