/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
import type { OutgoingRequest as WitRequest } from 'scaidrive:hooks/types@0.1.0';
import { type JsonValue } from './json.js';
/** The content type of JSON bodies. */
export declare const APPLICATION_JSON = "application/json";
/** What `new Request(...)` takes; every field is optional. */
export interface RequestInit {
    body?: Uint8Array | string;
    headers?: [string, string][];
    contentType?: string;
}
/** The request the host is about to send for a delivery. The host adds its
 *  own `X-ScaiDrive-*` headers and signs the body after the transform. */
export declare class Request {
    /** The exact bytes of the body. */
    body: Uint8Array;
    /** Extra headers, name and value, in order. */
    headers: [string, string][];
    /** The `Content-Type` of the body. */
    contentType: string;
    constructor(init?: RequestInit);
    /** A request whose body is `value` as JSON, with no headers. */
    static json(value: JsonValue): Request;
    /** From the WIT record the component receives. */
    static fromWit(request: WitRequest): Request;
    /** As the WIT record the component returns. */
    toWit(): WitRequest;
    /** The body as UTF-8 text; a body that is not UTF-8 is an
     *  `invalid-event` error. */
    bodyText(): string;
    /** Replaces the body with `text` (UTF-8), and the content type when one
     *  is given. */
    setBodyText(text: string, contentType?: string): void;
    /** The body parsed as JSON; a body that is not JSON is an
     *  `invalid-event` error. */
    bodyJson(): JsonValue;
    /** Replaces the body with `value` as JSON and sets the content type to
     *  `application/json`. */
    setBodyJson(value: JsonValue): void;
    /** The value of the first header named `name` (case-insensitive). */
    header(name: string): string | undefined;
    /** Sets header `name` to `value`, replacing every header of that name
     *  (case-insensitive); the new one goes last. */
    setHeader(name: string, value: string): void;
    /** Removes every header named `name` (case-insensitive); says whether
     *  there was one. */
    removeHeader(name: string): boolean;
}
