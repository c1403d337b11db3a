// chat-message under Node: the template renderer and the transform through
// the WIT glue.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Event, Request } from '@scaihub/plugin-sdk';
import { runTransform } from '@scaihub/plugin-sdk/testing';
import { render, transform } from './plugin.ts';

describe('chat-message', () => {
  it('renders placeholders once, left to right', () => {
    const event = Event.sample({}, { action: '{user_id}', serviceAccount: undefined });
    assert.equal(render('<{service_account}> {action}', event), '<> {user_id}');
    assert.equal(render('{{action}} {nope} {', Event.sample()), '{share.member_added} {nope} {');
  });

  it('replaces the body with a JSON chat message and keeps the headers', () => {
    const event = Event.sample({ role: 'viewer' });
    const request = Request.json(event.toJson());
    request.setHeader('X-Team', 'ops');
    const outcome = runTransform(transform, event, request, 'null');
    assert.ok('request' in outcome);
    assert.deepEqual(outcome.request.bodyJson(), { text: '[SHARING] share.member_added by usr_01SAMPLE on shr_01SAMPLE' });
    assert.equal(outcome.request.contentType, 'application/json');
    assert.equal(outcome.request.header('x-team'), 'ops');
  });

  it('refuses an unknown configuration key', () => {
    const outcome = runTransform(transform, Event.sample(), new Request(), '{"tmpl": "x"}');
    assert.deepEqual(outcome, { error: { kind: 'invalid-config', message: 'unknown field `tmpl`; expected `template`' } });
  });
});
