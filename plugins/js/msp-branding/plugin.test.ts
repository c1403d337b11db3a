// msp-branding under Node: configuration checks and the transform through
// the WIT glue.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config, Event, Request } from '@scaihub/plugin-sdk';
import { runTransform } from '@scaihub/plugin-sdk/testing';
import { branding, transform } from './plugin.ts';

describe('msp-branding', () => {
  it('wraps the body and sets headers in name order', () => {
    const request = Request.json({ event_id: 'evt_1' });
    request.setHeader('x-msp', 'old');
    const config = '{"msp_name": "Acme IT", "headers": {"X-Tier": "gold", "X-MSP": "acme"}}';
    const outcome = runTransform(transform, Event.sample(), request, config);
    assert.ok('request' in outcome);
    assert.deepEqual(outcome.request.bodyJson(), { msp: 'Acme IT', event: { event_id: 'evt_1' } });
    assert.deepEqual(outcome.request.headers, [['X-MSP', 'acme'], ['X-Tier', 'gold']]);
  });

  it('reads blank as Rust does: next-line is white space, a byte-order mark is not', () => {
    assert.throws(() => branding(new Config('{"msp_name": "\\u0085"}')), /msp_name must not be blank/);
    assert.equal(branding(new Config('{"msp_name": "\\ufeff"}')).mspName, '\ufeff');
  });

  it('refuses header injection', () => {
    assert.throws(
      () => branding(new Config('{"msp_name": "A", "headers": {"X-Ok": "a\\r\\nB: 1"}}')),
      /header X-Ok has a control character/,
    );
  });
});
