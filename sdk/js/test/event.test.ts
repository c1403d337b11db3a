// Event: WIT conversion, payload helpers, the delivered JSON shape.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATEGORIES, Event, PluginError } from '@scaihub/plugin-sdk';

describe('Event', () => {
  it('maps every WIT category to its JSON name and back', () => {
    for (const category of CATEGORIES) {
      const wit = Event.sample({}, { category }).toWit();
      assert.equal(Event.fromWit(wit).category, category);
    }
    assert.equal(Event.sample({}, { category: 'FILE_MODIFICATION' }).toWit().category, 'file-modification');
  });

  it('reads payload fields by pointer', () => {
    const event = Event.sample({ role: 'viewer', n: [1, 2] });
    assert.equal(event.pointer('/role'), 'viewer');
    assert.equal(event.pointer('/n/1'), 2);
    assert.equal(event.pointer('/missing'), undefined);
  });

  it('treats a payload that is not JSON as an invalid event with no fields', () => {
    const event = Event.sample({}, { payload: 'not json' });
    assert.throws(
      () => event.payloadJson(),
      (e: unknown) => e instanceof PluginError && e.kind === 'invalid-event' && /payload is not JSON/.test(e.message),
    );
    assert.equal(event.pointer(''), undefined);
    assert.equal(event.toJson()['payload'], 'not json');
  });

  it('gives the delivered JSON shape with absent fields left out', () => {
    const json = Event.sample({ role: 'viewer' }).toJson();
    assert.deepEqual(json, {
      event_id: 'evt_01SAMPLE',
      timestamp: '2025-01-31T12:00:00Z',
      category: 'SHARING',
      action: 'share.member_added',
      payload: { role: 'viewer' },
      user_id: 'usr_01SAMPLE',
      resource_id: 'shr_01SAMPLE',
      ip_address: '203.0.113.7',
      share_id: 'shr_01SAMPLE',
    });
  });
});
