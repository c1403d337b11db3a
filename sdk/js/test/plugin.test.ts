// defineFilter / defineTransform: the exports have the WIT shape, and
// errors reach the host as the WIT variant (checked through runFilter and
// runTransform, which lower a thrown value as componentize-js does).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config, defineFilter, defineTransform, Event, PluginError, Request } from '@scaihub/plugin-sdk';
import { runFilter, runTransform } from '@scaihub/plugin-sdk/testing';

const event = Event.sample({ role: 'owner' });

describe('defineFilter', () => {
  it('turns booleans and verdicts into the WIT verdict', () => {
    assert.deepEqual(runFilter(defineFilter(() => true), event, 'null'), { verdict: 'deliver' });
    assert.deepEqual(runFilter(defineFilter(() => false), event, 'null'), { verdict: 'skip' });
    assert.deepEqual(runFilter(defineFilter(() => 'skip'), event, 'null'), { verdict: 'skip' });
  });

  it('passes the event and config through the WIT conversion', () => {
    const filter = defineFilter((e, c) => e.category === 'SHARING' && e.pointer('/role') === c.fields().string('want'));
    assert.deepEqual(runFilter(filter, event, '{"want": "owner"}'), { verdict: 'deliver' });
    assert.deepEqual(runFilter(filter, event, new Config('{"want": "viewer"}')), { verdict: 'skip' });
  });

  it('reports a PluginError as its kind and message', () => {
    const filter = defineFilter(() => {
      throw PluginError.invalidEvent('no role');
    });
    assert.deepEqual(runFilter(filter, event, 'null'), { error: { kind: 'invalid-event', message: 'no role' } });
  });

  it('reports any other exception as failed, naming it, instead of trapping', () => {
    const filter = defineFilter((e) => (e.pointer('/missing') as { x: number }).x > 1);
    const outcome = runFilter(filter, event, 'null');
    assert.ok('error' in outcome);
    assert.equal(outcome.error.kind, 'failed');
    assert.match(outcome.error.message, /^uncaught TypeError: /);
  });

  it('refuses an answer that is not a verdict', () => {
    const filter = defineFilter(() => 'maybe' as never);
    assert.deepEqual(runFilter(filter, event, 'null'), {
      error: { kind: 'failed', message: `the filter returned "maybe"; return 'deliver', 'skip' or a boolean` },
    });
  });

  it('keeps the handler for direct unit tests', () => {
    const handler = () => true;
    assert.equal(defineFilter(handler).handler, handler);
  });
});

describe('defineTransform', () => {
  it('returns the changed request as the WIT record', () => {
    const transform = defineTransform((e, request) => {
      request.setHeader('X-Action', e.action);
      request.setBodyJson({ wrapped: request.bodyJson() });
      return request;
    });
    const outcome = runTransform(transform, event, Request.json({ a: 1 }), 'null');
    assert.ok('request' in outcome);
    assert.deepEqual(outcome.request.headers, [['X-Action', 'share.member_added']]);
    assert.deepEqual(outcome.request.bodyJson(), { wrapped: { a: 1 } });
    assert.equal(outcome.request.contentType, 'application/json');
  });

  it('fails clearly when the handler forgets to return the request', () => {
    const transform = defineTransform((() => undefined) as never);
    assert.deepEqual(runTransform(transform, event, new Request(), 'null'), {
      error: { kind: 'failed', message: 'the transform returned nothing; return a Request' },
    });
  });

  it('reports an invalid body as invalid-event', () => {
    const transform = defineTransform((_, request) => {
      request.bodyJson();
      return request;
    });
    const outcome = runTransform(transform, event, new Request({ body: 'x' }), 'null');
    assert.ok('error' in outcome);
    assert.equal(outcome.error.kind, 'invalid-event');
  });
});

describe('runFilter', () => {
  it('rethrows what the component would trap on', () => {
    const raw = () => {
      throw new RangeError('not a plugin error');
    };
    assert.throws(() => runFilter(raw, event, 'null'), RangeError);
  });
});

describe('exports and other copies of the SDK', () => {
  it('keep a plugin error recognised by its payload, and accept a request-shaped answer', () => {
    const foreign = Object.assign(new Error('x'), { payload: { tag: 'invalid-event', val: 'from another copy' } });
    const filter = defineFilter(() => {
      throw foreign;
    });
    assert.deepEqual(runFilter(filter, event, 'null'), { error: { kind: 'invalid-event', message: 'from another copy' } });
    const transform = defineTransform(() => ({ body: new Uint8Array([120]), headers: [['A', 'b']], contentType: 'text/plain' }) as never);
    const outcome = runTransform(transform, event, new Request(), 'null');
    assert.ok('request' in outcome);
    assert.equal(outcome.request.bodyText(), 'x');
  });

  it('refuses a request-like answer with a malformed header', () => {
    const transform = defineTransform(() => ({ body: new Uint8Array(), headers: [['A']], contentType: '' }) as never);
    const outcome = runTransform(transform, event, new Request(), 'null');
    assert.ok('error' in outcome);
    assert.match(outcome.error.message, /return a Request/);
  });
});
