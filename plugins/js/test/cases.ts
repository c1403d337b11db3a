// The shared tables of cases (plugins/cases/*.json) read for TypeScript:
// each case's event, configuration and request as SDK values, and the
// check of an outcome against the case's `expect`. The format is described
// in plugins/cases/src/lib.rs, which reads the same tables for Rust.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Config, Event, type EventFields, isJsonObject, type JsonObject, type JsonValue, parseJson, Request, stringifyJson } from '@scaihub/plugin-sdk';
import type { FilterOutcome, TransformOutcome } from '@scaihub/plugin-sdk/testing';

/** The example plugins that have a table, and their kinds. */
export const EXAMPLES = {
  'payload-field-filter': 'filter',
  'pii-redact': 'transform',
  'chat-message': 'transform',
  'msp-branding': 'transform',
} as const;

/** The table of `plugin`, checked to be one for it. */
export function table(plugin: keyof typeof EXAMPLES): Case[] {
  const t = parseJson(readFileSync(new URL(`../../cases/${plugin}.json`, import.meta.url), 'utf8')) as JsonObject;
  assert.equal(t['plugin'], plugin);
  assert.equal(t['kind'], EXAMPLES[plugin]);
  assert.ok(Array.isArray(t['cases']) && t['cases'].length > 0, `${plugin} has cases`);
  return t['cases'] as Case[];
}

export interface Case extends JsonObject {
  name: string;
}

// Table keys → Event fields (snake_case as in the delivered JSON).
const EVENT_FIELDS: Record<string, keyof EventFields> = {
  event_id: 'eventId',
  timestamp: 'timestamp',
  category: 'category',
  action: 'action',
  user_id: 'userId',
  resource_id: 'resourceId',
  ip_address: 'ipAddress',
  share_id: 'shareId',
  service_account: 'serviceAccount',
};

export function event(c: Case): Event {
  const spec = c['event'];
  if (spec === undefined) return Event.sample();
  assert.ok(isJsonObject(spec), 'event must be an object');
  const overrides: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec)) {
    if (key === 'payload') overrides['payload'] = stringifyJson(value);
    else if (key === 'payload_text') overrides['payload'] = value;
    else if (EVENT_FIELDS[key] !== undefined) overrides[EVENT_FIELDS[key]] = value === null ? undefined : value;
    else assert.fail(`unknown event field ${key}`);
  }
  return Event.sample({}, overrides as Partial<EventFields>);
}

export function config(c: Case): Config {
  if (typeof c['config_text'] === 'string') return new Config(c['config_text']);
  return Config.of(c['config']);
}

export function request(c: Case): Request {
  const spec = c['request'];
  const ev = event(c);
  if (spec === undefined) return Request.json(ev.toJson());
  assert.ok(isJsonObject(spec), 'request must be an object');
  const request = new Request({
    headers: (spec['headers'] ?? []) as [string, string][],
    contentType: (spec['content_type'] as string | undefined) ?? 'application/json',
  });
  if ('body_json' in spec) request.setBodyText(stringifyJson(spec['body_json'] as JsonValue));
  else if ('body_text' in spec) request.setBodyText(spec['body_text'] as string);
  else if ('body_bytes' in spec) request.body = Uint8Array.from(spec['body_bytes'] as number[]);
  else request.setBodyText(stringifyJson(ev.toJson()));
  return request;
}

export function check(outcome: FilterOutcome | TransformOutcome, expect: JsonObject): void {
  if ('error' in outcome) {
    assert.ok('error' in expect, `unexpected error ${outcome.error.kind}: ${outcome.error.message}`);
    assert.equal(outcome.error.kind, expect['error']);
    if (typeof expect['contains'] === 'string') {
      assert.ok(
        outcome.error.message.includes(expect['contains']),
        `error ${JSON.stringify(outcome.error.message)} does not contain ${JSON.stringify(expect['contains'])}`,
      );
    }
  } else if ('verdict' in outcome) {
    assert.deepEqual({ verdict: outcome.verdict }, expect);
  } else {
    const want = expect['request'];
    assert.ok(isJsonObject(want), `got a request, expected ${stringifyJson(expect)}`);
    if ('body_json' in want) assert.deepEqual(outcome.request.bodyJson(), want['body_json']);
    if ('body_text' in want) assert.equal(outcome.request.bodyText(), want['body_text']);
    if ('headers' in want) assert.deepEqual(outcome.request.headers, want['headers']);
    if ('content_type' in want) assert.equal(outcome.request.contentType, want['content_type']);
  }
}

