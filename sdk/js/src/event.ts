/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
// `Event` and `Category`: the audit event a plugin is called about, with
// helpers to read its JSON payload.

import type { Category as WitCategory, Event as WitEvent } from 'scaidrive:hooks/types@0.1.0';
import { PluginError } from './error.js';
import { type JsonObject, type JsonValue, jsonPointer, parseJson, stringifyJson } from './json.js';

/** The kind of activity an event reports, as it appears in event JSON. */
export type Category =
  | 'AUTHENTICATION'
  | 'AUTHORIZATION'
  | 'FILE_ACCESS'
  | 'FILE_MODIFICATION'
  | 'SHARING'
  | 'ADMIN'
  | 'SECURITY'
  | 'COMPLIANCE';

/** Every category, in the order the WIT lists them. */
export const CATEGORIES: readonly Category[] = [
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
export function categoryFromWit(category: WitCategory): Category {
  return category.toUpperCase().replace('-', '_') as Category;
}

/** `FILE_ACCESS` → `file-access` (the WIT enum case). */
export function categoryToWit(category: Category): WitCategory {
  return category.toLowerCase().replace('_', '-') as WitCategory;
}

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
export class Event implements EventFields {
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

  constructor(fields: EventFields) {
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
  static fromWit(event: WitEvent): Event {
    return new Event({ ...event, category: categoryFromWit(event.category) });
  }

  /** As the WIT record (for calling an exported function in tests). */
  toWit(): WitEvent {
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
  payloadJson(): JsonValue {
    try {
      return parseJson(this.payload);
    } catch (e) {
      throw PluginError.invalidEvent(`payload is not JSON: ${(e as Error).message}`);
    }
  }

  /** The payload value at a JSON pointer (`/role`, `/items/0/name`);
   *  `undefined` when nothing is there or the payload is not JSON. */
  pointer(pointer: string): JsonValue | undefined {
    let payload: JsonValue;
    try {
      payload = parseJson(this.payload);
    } catch {
      return undefined;
    }
    return jsonPointer(payload, pointer);
  }

  /** The event as the JSON object a webhook receives without transforms:
   *  snake_case keys, the payload embedded as JSON (or as a string when it
   *  is not JSON), absent optional fields left out. */
  toJson(): JsonObject {
    let payload: JsonValue;
    try {
      payload = parseJson(this.payload);
    } catch {
      payload = this.payload;
    }
    const out: JsonObject = {
      event_id: this.eventId,
      timestamp: this.timestamp,
      category: this.category,
      action: this.action,
      payload,
    };
    const optional: [string, string | undefined][] = [
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
  static sample(payload: JsonValue = {}, overrides: Partial<EventFields> = {}): Event {
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
