/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
// Write ScaiHub webhook plugins in TypeScript or JavaScript: filters that
// decide whether a webhook receives an event, and transforms that rewrite
// the request it receives. A plugin module exports `filter` or `transform`
// made with `defineFilter` / `defineTransform`; `scaihub-plugin build`
// turns it into a WebAssembly component for upload.
//
// Layout:
// - event.ts: `Event`, `Category` (the event, JSON helpers for its payload)
// - request.ts: `Request` (body as bytes/text/JSON, headers, content type)
// - config.ts: `Config`, `ConfigFields` (the webhook's JSON configuration)
// - error.ts: `PluginError` (the WIT `plugin-error`)
// - plugin.ts: `defineFilter`, `defineTransform`, `Verdict`
// - json.ts: lossless JSON parsing/writing and JSON pointers
// - testing.ts (`@scaihub/plugin-sdk/testing`): run an export as the host would
// - component.ts (`@scaihub/plugin-sdk/component`): load a built .wasm into Node
// - cli.ts, build.ts (`@scaihub/plugin-sdk/build`), node/: the
//   `scaihub-plugin` command (build, test) and the Node hooks it installs

export { Config, ConfigFields } from './config.js';
export { asPluginError, type ErrorKind, PluginError } from './error.js';
export { CATEGORIES, type Category, Event, type EventFields } from './event.js';
export { isJsonObject, type JsonObject, type JsonValue, jsonPointer, parseJson, stringifyJson } from './json.js';
export {
  defineFilter,
  defineTransform,
  deliverIf,
  type FilterExport,
  type FilterHandler,
  type TransformExport,
  type TransformHandler,
  type Verdict,
} from './plugin.js';
export { APPLICATION_JSON, Request, type RequestInit } from './request.js';

/** The WIT types themselves, generated from `wit/hooks.wit` by jco. */
export type * as wit from 'scaidrive:hooks/types@0.1.0';
