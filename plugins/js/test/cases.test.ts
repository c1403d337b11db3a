// The shared tables in plugins/cases/*.json, run against the TypeScript
// examples through their WIT exports (the Rust crates run the same tables
// natively): same inputs, same outcomes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Config, Event, type EventFields, isJsonObject, type JsonObject, type JsonValue, parseJson, Request, stringifyJson } from '@scaihub/plugin-sdk';
import { runFilter, runTransform } from '@scaihub/plugin-sdk/testing';
import { filter as payloadFieldFilter } from '../payload-field-filter/plugin.ts';
import { transform as piiRedact } from '../pii-redact/plugin.ts';
import { transform as chatMessage } from '../chat-message/plugin.ts';
import { transform as mspBranding } from '../msp-branding/plugin.ts';

interface Case extends JsonObject {
  name: string;
}

const PLUGINS = {
  'payload-field-filter': { kind: 'filter', run: (c: Case) => runFilter(payloadFieldFilter, event(c), config(c)) },
  'pii-redact': { kind: 'transform', run: (c: Case) => runTransform(piiRedact, event(c), request(c), config(c)) },
  'chat-message': { kind: 'transform', run: (c: Case) => runTransform(chatMessage, event(c), request(c), config(c)) },
  'msp-branding': { kind: 'transform', run: (c: Case) => runTransform(mspBranding, event(c), request(c), config(c)) },
} as const;

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

function event(c: Case): Event {
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

function config(c: Case): Config {
  if (typeof c['config_text'] === 'string') return new Config(c['config_text']);
  return Config.of(c['config']);
}

function request(c: Case): Request {
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

function check(outcome: ReturnType<(typeof PLUGINS)[keyof typeof PLUGINS]['run']>, expect: JsonObject): void {
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

for (const [plugin, { kind, run }] of Object.entries(PLUGINS)) {
  const table = parseJson(readFileSync(new URL(`../../cases/${plugin}.json`, import.meta.url), 'utf8')) as JsonObject;
  describe(`shared cases: ${plugin}`, () => {
    it('is a table for this plugin', () => {
      assert.equal(table['plugin'], plugin);
      assert.equal(table['kind'], kind);
      assert.ok(Array.isArray(table['cases']) && table['cases'].length > 0);
    });
    for (const c of table['cases'] as Case[]) {
      it(c.name, () => check(run(c), c['expect'] as JsonObject));
    }
  });
}
