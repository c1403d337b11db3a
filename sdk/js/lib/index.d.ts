/// <reference path="../types/wit/filter.d.ts" preserve="true" />
/// <reference path="../types/wit/transform.d.ts" preserve="true" />
export { Config, ConfigFields } from './config.js';
export { asPluginError, type ErrorKind, PluginError } from './error.js';
export { CATEGORIES, type Category, Event, type EventFields } from './event.js';
export { isJsonObject, type JsonObject, type JsonValue, jsonPointer, parseJson, stringifyJson } from './json.js';
export { defineFilter, defineTransform, deliverIf, type FilterExport, type FilterHandler, type TransformExport, type TransformHandler, type Verdict, } from './plugin.js';
export { APPLICATION_JSON, Request, type RequestInit } from './request.js';
/** The WIT types themselves, generated from `wit/hooks.wit` by jco. */
export type * as wit from 'scaidrive:hooks/types@0.1.0';
