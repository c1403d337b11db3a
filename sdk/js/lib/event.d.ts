/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
import type { Category as WitCategory, Event as WitEvent } from 'scaidrive:hooks/types@0.1.0';
import { type JsonObject, type JsonValue } from './json.js';
/** The kind of activity an event reports, as it appears in event JSON. */
export type Category = 'AUTHENTICATION' | 'AUTHORIZATION' | 'FILE_ACCESS' | 'FILE_MODIFICATION' | 'SHARING' | 'ADMIN' | 'SECURITY' | 'COMPLIANCE';
/** Every category, in the order the WIT lists them. */
export declare const CATEGORIES: readonly Category[];
/** `file-access` (the WIT enum case) → `FILE_ACCESS`. */
export declare function categoryFromWit(category: WitCategory): Category;
/** `FILE_ACCESS` → `file-access` (the WIT enum case). */
export declare function categoryToWit(category: Category): WitCategory;
/** The fields of an event, as `new Event(...)` takes them. */
export interface EventFields {
    eventId: string;
    timestamp: string;
    category: Category;
    action: string;
    userId?: string | undefined;
    resourceId?: string | undefined;
    /** JSON text. */
    payload: string;
    ipAddress?: string | undefined;
    shareId?: string | undefined;
    serviceAccount?: string | undefined;
}
/** One audit event, as the host passes it to a plugin. */
export declare class Event implements EventFields {
    /** Prefixed unique id, `evt_...`. */
    readonly eventId: string;
    /** When it happened, RFC 3339 in UTC. */
    readonly timestamp: string;
    /** What kind of activity it reports. */
    readonly category: Category;
    /** The action within the category, dotted (`share.member_added`). */
    readonly action: string;
    /** The acting user, `usr_...`. */
    readonly userId: string | undefined;
    /** The resource acted upon. */
    readonly resourceId: string | undefined;
    /** The event's own details as JSON text; see `payloadJson()`. */
    readonly payload: string;
    /** The client's IP address, when known. */
    readonly ipAddress: string | undefined;
    /** The share involved, when there is one. */
    readonly shareId: string | undefined;
    /** The service account acting for the user, when there is one. */
    readonly serviceAccount: string | undefined;
    constructor(fields: EventFields);
    /** From the WIT record the component receives. */
    static fromWit(event: WitEvent): Event;
    /** As the WIT record (for calling an exported function in tests). */
    toWit(): WitEvent;
    /** The payload parsed as JSON; text that is not JSON is an
     *  `invalid-event` error. */
    payloadJson(): JsonValue;
    /** The payload value at a JSON pointer (`/role`, `/items/0/name`);
     *  `undefined` when nothing is there or the payload is not JSON. */
    pointer(pointer: string): JsonValue | undefined;
    /** The event as the JSON object a webhook receives without transforms:
     *  snake_case keys, the payload embedded as JSON (or as a string when it
     *  is not JSON), absent optional fields left out. */
    toJson(): JsonObject;
    /** A plausible event for tests and examples: a `SHARING`
     *  `share.member_added` with the given payload (the same event as the
     *  Rust SDK's `Event::sample`). Fields in `overrides` replace the
     *  sample's. */
    static sample(payload?: JsonValue, overrides?: Partial<EventFields>): Event;
}
