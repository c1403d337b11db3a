/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
// `Request`: the outgoing HTTP request a transform receives and returns.
import { PluginError } from './error.js';
import { parseJson, stringifyJson } from './json.js';
/** The content type of JSON bodies. */
export const APPLICATION_JSON = 'application/json';
// `fatal`: a body that is not UTF-8 is an error, not replacement
// characters. `ignoreBOM`: a byte-order mark stays in the text (and so is
// not JSON), as serde_json sees it.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ENCODER = new TextEncoder();
/** ASCII-only lower case: header names compare like HTTP (and the Rust
 *  SDK) compare them, without Unicode case folding. */
function asciiLower(text) {
    return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}
/** The request the host is about to send for a delivery. The host adds its
 *  own `X-ScaiDrive-*` headers and signs the body after the transform. */
export class Request {
    /** The exact bytes of the body. */
    body;
    /** Extra headers, name and value, in order. */
    headers;
    /** The `Content-Type` of the body. */
    contentType;
    constructor(init = {}) {
        this.body = typeof init.body === 'string' ? ENCODER.encode(init.body) : (init.body ?? new Uint8Array());
        this.headers = (init.headers ?? []).map(([n, v]) => [n, v]);
        this.contentType = init.contentType ?? '';
    }
    /** A request whose body is `value` as JSON, with no headers. */
    static json(value) {
        const request = new Request();
        request.setBodyJson(value);
        return request;
    }
    /** From the WIT record the component receives. */
    static fromWit(request) {
        return new Request(request);
    }
    /** As the WIT record the component returns. */
    toWit() {
        return { body: this.body, headers: this.headers, contentType: this.contentType };
    }
    /** The body as UTF-8 text; a body that is not UTF-8 is an
     *  `invalid-event` error. */
    bodyText() {
        try {
            return UTF8.decode(this.body);
        }
        catch {
            throw PluginError.invalidEvent('body is not UTF-8 text');
        }
    }
    /** Replaces the body with `text` (UTF-8), and the content type when one
     *  is given. */
    setBodyText(text, contentType) {
        this.body = ENCODER.encode(text);
        if (contentType !== undefined) {
            this.contentType = contentType;
        }
    }
    /** The body parsed as JSON; a body that is not JSON is an
     *  `invalid-event` error. */
    bodyJson() {
        const text = this.bodyText();
        try {
            return parseJson(text);
        }
        catch (e) {
            throw PluginError.invalidEvent(`body is not JSON: ${e.message}`);
        }
    }
    /** Replaces the body with `value` as JSON and sets the content type to
     *  `application/json`. */
    setBodyJson(value) {
        this.setBodyText(stringifyJson(value), APPLICATION_JSON);
    }
    /** The value of the first header named `name` (case-insensitive). */
    header(name) {
        const lower = asciiLower(name);
        return this.headers.find(([n]) => asciiLower(n) === lower)?.[1];
    }
    /** Sets header `name` to `value`, replacing every header of that name
     *  (case-insensitive); the new one goes last. */
    setHeader(name, value) {
        this.removeHeader(name);
        this.headers.push([name, value]);
    }
    /** Removes every header named `name` (case-insensitive); says whether
     *  there was one. */
    removeHeader(name) {
        const lower = asciiLower(name);
        const before = this.headers.length;
        this.headers = this.headers.filter(([n]) => asciiLower(n) !== lower);
        return this.headers.length !== before;
    }
}
