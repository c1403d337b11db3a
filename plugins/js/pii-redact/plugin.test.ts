// pii-redact under Node: masking rules and the transform through the WIT
// glue.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Event, Request } from '@scaihub/plugin-sdk';
import { runTransform } from '@scaihub/plugin-sdk/testing';
import { mask, transform } from './plugin.ts';

describe('pii-redact', () => {
  it('masks strings to their last characters, counting code points', () => {
    assert.equal(mask('+1 555 0100', 4), '***0100');
    assert.equal(mask('1234', 4), '***');
    assert.equal(mask('secret', 0), '***');
    assert.equal(mask('x😀😀😀😀', 4), '***😀😀😀😀');
    assert.equal(mask(42, 4), '***');
    assert.equal(mask(null, 4), '***');
  });

  it('redacts the body and keeps headers and content type', () => {
    const request = new Request({
      body: '{"user_id":"usr_01HXYZABCD","payload":{"email":"a@b.example","keep":1}}',
      headers: [['X-Tenant', 't']],
      contentType: 'application/json',
    });
    const outcome = runTransform(transform, Event.sample(), request, '{"remove": ["/payload/email"], "mask": ["/user_id"]}');
    assert.ok('request' in outcome);
    assert.deepEqual(outcome.request.bodyJson(), { user_id: '***ABCD', payload: { keep: 1 } });
    assert.deepEqual(outcome.request.headers, [['X-Tenant', 't']]);
  });

  it('refuses a body that is not JSON rather than sending it unredacted', () => {
    const outcome = runTransform(transform, Event.sample(), new Request({ body: 'email=a@b' }), '{"remove": ["/x"]}');
    assert.ok('error' in outcome);
    assert.equal(outcome.error.kind, 'invalid-event');
  });
});
