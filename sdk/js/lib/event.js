/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
// `Event` and `Category`: the audit event a plugin is called about, with
// helpers to read its JSON payload.
import { PluginError } from './error.js';
import { jsonPointer, parseJson, stringifyJson } from './json.js';
/** Every category, in the order the WIT lists them. */
export const CATEGORIES = [
    'AUTHENTICATION',
    'AUTHORIZATION',
    'FILE_ACCESS',
    'FILE_MODIFICATION',
    'SHARING',
    'ADMIN',
    'SECURITY',
    'COMPLIANCE',
];
/** `file-access` (the WIT enum case) → `FILE_ACCESS`. */
export function categoryFromWit(category) {
    return category.toUpperCase().replace('-', '_');
}
/** `FILE_ACCESS` → `file-access` (the WIT enum case). */
export function categoryToWit(category) {
    return category.toLowerCase().replace('_', '-');
}
/** One audit event, as the host passes it to a plugin. */
export class Event {
    /** Prefixed unique id, `evt_...`. */
    eventId;
    /** When it happened, RFC 3339 in UTC. */
    timestamp;
    /** What kind of activity it reports. */
    category;
    /** The action within the category, dotted (`share.member_added`). */
    action;
    /** The acting user, `usr_...`. */
    userId;
    /** The resource acted upon. */
    resourceId;
    /** The event's own details as JSON text; see `payloadJson()`. */
    payload;
    /** The client's IP address, when known. */
    ipAddress;
    /** The share involved, when there is one. */
    shareId;
    /** The service account acting for the user, when there is one. */
    serviceAccount;
    constructor(fields) {
        this.eventId = fields.eventId;
        this.timestamp = fields.timestamp;
        this.category = fields.category;
        this.action = fields.action;
        this.userId = fields.userId;
        this.resourceId = fields.resourceId;
        this.payload = fields.payload;
        this.ipAddress = fields.ipAddress;
        this.shareId = fields.shareId;
        this.serviceAccount = fields.serviceAccount;
    }
    /** From the WIT record the component receives. */
    static fromWit(event) {
        return new Event({ ...event, category: categoryFromWit(event.category) });
    }
    /** As the WIT record (for calling an exported function in tests). */
    toWit() {
        return {
            eventId: this.eventId,
            timestamp: this.timestamp,
            category: categoryToWit(this.category),
            action: this.action,
            userId: this.userId,
            resourceId: this.resourceId,
            payload: this.payload,
            ipAddress: this.ipAddress,
            shareId: this.shareId,
            serviceAccount: this.serviceAccount,
        };
    }
    /** The payload parsed as JSON; text that is not JSON is an
     *  `invalid-event` error. */
    payloadJson() {
        try {
            return parseJson(this.payload);
        }
        catch (e) {
            throw PluginError.invalidEvent(`payload is not JSON: ${e.message}`);
        }
    }
    /** The payload value at a JSON pointer (`/role`, `/items/0/name`);
     *  `undefined` when nothing is there or the payload is not JSON. */
    pointer(pointer) {
        let payload;
        try {
            payload = parseJson(this.payload);
        }
        catch {
            return undefined;
        }
        return jsonPointer(payload, pointer);
    }
    /** The event as the JSON object a webhook receives without transforms:
     *  snake_case keys, the payload embedded as JSON (or as a string when it
     *  is not JSON), absent optional fields left out. */
    toJson() {
        let payload;
        try {
            payload = parseJson(this.payload);
        }
        catch {
            payload = this.payload;
        }
        const out = {
            event_id: this.eventId,
            timestamp: this.timestamp,
            category: this.category,
            action: this.action,
            payload,
        };
        const optional = [
            ['user_id', this.userId],
            ['resource_id', this.resourceId],
            ['ip_address', this.ipAddress],
            ['share_id', this.shareId],
            ['service_account', this.serviceAccount],
        ];
        for (const [key, value] of optional) {
            if (value !== undefined) {
                out[key] = value;
            }
        }
        return out;
    }
    /** A plausible event for tests and examples: a `SHARING`
     *  `share.member_added` with the given payload (the same event as the
     *  Rust SDK's `Event::sample`). Fields in `overrides` replace the
     *  sample's. */
    static sample(payload = {}, overrides = {}) {
        return new Event({
            eventId: 'evt_01SAMPLE',
            timestamp: '2025-01-31T12:00:00Z',
            category: 'SHARING',
            action: 'share.member_added',
            userId: 'usr_01SAMPLE',
            resourceId: 'shr_01SAMPLE',
            payload: stringifyJson(payload),
            ipAddress: '203.0.113.7',
            shareId: 'shr_01SAMPLE',
            serviceAccount: undefined,
            ...overrides,
        });
    }
}
