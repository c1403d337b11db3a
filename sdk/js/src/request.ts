/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
// `Request`: the outgoing HTTP request a transform receives and returns.

import type { OutgoingRequest as WitRequest } from 'scaidrive:hooks/types@0.1.0';
import { PluginError } from './error.js';
import { type JsonValue, parseJson, stringifyJson } from './json.js';

/** The content type of JSON bodies. */
export const APPLICATION_JSON = 'application/json';

// `fatal`: a body that is not UTF-8 is an error, not replacement
// characters. `ignoreBOM`: a byte-order mark stays in the text (and so is
// not JSON), as serde_json sees it.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ENCODER = new TextEncoder();

/** ASCII-only lower case: header names compare like HTTP (and the Rust
 *  SDK) compare them, without Unicode case folding. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** What `new Request(...)` takes; every field is optional. */
export interface RequestInit {
  body?: Uint8Array | string;
  headers?: [string, string][];
  contentType?: string;
}

/** The request the host is about to send for a delivery. The host adds its
 *  own `X-ScaiDrive-*` headers and signs the body after the transform. */
export class Request {
  /** The exact bytes of the body. */
  body: Uint8Array;
  /** Extra headers, name and value, in order. */
  headers: [string, string][];
  /** The `Content-Type` of the body. */
  contentType: string;

  constructor(init: RequestInit = {}) {
    this.body = typeof init.body === 'string' ? ENCODER.encode(init.body) : (init.body ?? new Uint8Array());
    this.headers = (init.headers ?? []).map(([n, v]) => [n, v]);
    this.contentType = init.contentType ?? '';
  }

  /** A request whose body is `value` as JSON, with no headers. */
  static json(value: JsonValue): Request {
    const request = new Request();
    request.setBodyJson(value);
    return request;
  }

  /** From the WIT record the component receives. */
  static fromWit(request: WitRequest): Request {
    return new Request(request);
  }

  /** As the WIT record the component returns. */
  toWit(): WitRequest {
    return { body: this.body, headers: this.headers, contentType: this.contentType };
  }

  /** The body as UTF-8 text; a body that is not UTF-8 is an
   *  `invalid-event` error. */
  bodyText(): string {
    try {
      return UTF8.decode(this.body);
    } catch {
      throw PluginError.invalidEvent('body is not UTF-8 text');
    }
  }

  /** Replaces the body with `text` (UTF-8), and the content type when one
   *  is given. */
  setBodyText(text: string, contentType?: string): void {
    this.body = ENCODER.encode(text);
    if (contentType !== undefined) {
      this.contentType = contentType;
    }
  }

  /** The body parsed as JSON; a body that is not JSON is an
   *  `invalid-event` error. */
  bodyJson(): JsonValue {
    const text = this.bodyText();
    try {
      return parseJson(text);
    } catch (e) {
      throw PluginError.invalidEvent(`body is not JSON: ${(e as Error).message}`);
    }
  }

  /** Replaces the body with `value` as JSON and sets the content type to
   *  `application/json`. */
  setBodyJson(value: JsonValue): void {
    this.setBodyText(stringifyJson(value), APPLICATION_JSON);
  }

  /** The value of the first header named `name` (case-insensitive). */
  header(name: string): string | undefined {
    const lower = asciiLower(name);
    return this.headers.find(([n]) => asciiLower(n) === lower)?.[1];
  }

  /** Sets header `name` to `value`, replacing every header of that name
   *  (case-insensitive); the new one goes last. */
  setHeader(name: string, value: string): void {
    this.removeHeader(name);
    this.headers.push([name, value]);
  }

  /** Removes every header named `name` (case-insensitive); says whether
   *  there was one. */
  removeHeader(name: string): boolean {
    const lower = asciiLower(name);
    const before = this.headers.length;
    this.headers = this.headers.filter(([n]) => asciiLower(n) !== lower);
    return this.headers.length !== before;
  }
}
