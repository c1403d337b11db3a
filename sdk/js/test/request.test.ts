// Request: body as bytes, text and JSON; headers by name, ASCII
// case-insensitively.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APPLICATION_JSON, PluginError, Request } from '@scaihub/plugin-sdk';

const invalidEvent = (pattern: RegExp) => (e: unknown) =>
  e instanceof PluginError && e.kind === 'invalid-event' && pattern.test(e.message);

describe('Request', () => {
  it('round-trips a JSON body and sets the content type', () => {
    const request = Request.json({ a: 1, big: 12345678901234567890n });
    assert.equal(request.contentType, APPLICATION_JSON);
    assert.equal(request.bodyText(), '{"a":1,"big":12345678901234567890}');
    assert.deepEqual(request.bodyJson(), { a: 1, big: 12345678901234567890n });
  });

  it('sets text bodies, keeping the content type unless given', () => {
    const request = new Request({ contentType: 'text/plain' });
    request.setBodyText('héllo');
    assert.deepEqual([...request.body], [...new TextEncoder().encode('héllo')]);
    assert.equal(request.contentType, 'text/plain');
    request.setBodyText('<a/>', 'application/xml');
    assert.equal(request.contentType, 'application/xml');
  });

  it('refuses bodies that are not JSON, not UTF-8, or start with a byte-order mark', () => {
    assert.throws(() => new Request({ body: 'plain' }).bodyJson(), invalidEvent(/body is not JSON/));
    assert.throws(() => new Request({ body: new Uint8Array([0xff, 0xfe]) }).bodyText(), invalidEvent(/not UTF-8/));
    assert.throws(() => new Request({ body: '\ufeff{}' }).bodyJson(), invalidEvent(/body is not JSON/));
  });

  it('replaces and removes headers case-insensitively, ASCII only', () => {
    const request = new Request({ headers: [['X-Tenant', 'a'], ['Other', 'o'], ['x-tenant', 'b']] });
    assert.equal(request.header('X-TENANT'), 'a');
    request.setHeader('x-Tenant', 'c');
    assert.deepEqual(request.headers, [['Other', 'o'], ['x-Tenant', 'c']]);
    assert.equal(request.removeHeader('OTHER'), true);
    assert.equal(request.removeHeader('other'), false);
    // The Kelvin sign lower-cases to "k" in Unicode, not in HTTP.
    request.setHeader('X-\u212A', '1');
    assert.equal(request.header('x-k'), undefined);
  });

  it('converts to and from the WIT record', () => {
    const request = new Request({ body: 'x', headers: [['A', '1']], contentType: 'text/plain' });
    const back = Request.fromWit(request.toWit());
    assert.deepEqual(back, request);
  });
});
