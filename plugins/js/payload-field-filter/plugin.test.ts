// payload-field-filter under Node: the handler, its helpers, and the
// export through the WIT glue.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config, Event, parseJson, PluginError } from '@scaihub/plugin-sdk';
import { runFilter } from '@scaihub/plugin-sdk/testing';
import { fieldRule, filter, sameJsonValue } from './plugin.ts';

const ROLES = '{"pointer": "/role", "allowed": ["contributor", "owner"]}';

describe('payload-field-filter', () => {
  it('delivers an allowed value and skips others', () => {
    assert.deepEqual(runFilter(filter, Event.sample({ role: 'owner' }), ROLES), { verdict: 'deliver' });
    assert.deepEqual(runFilter(filter, Event.sample({ role: 'viewer' }), ROLES), { verdict: 'skip' });
    assert.equal(filter.handler(Event.sample({ other: 'owner' }), new Config(ROLES)), false);
  });

  it('compares numbers by value but never with strings', () => {
    const same = (a: string, b: string) => sameJsonValue(parseJson(a), parseJson(b));
    assert.ok(same('10', '10.0'));
    assert.ok(same('{"a":[1,{"b":2}]}', '{"a":[1.0,{"b":2}]}'));
    assert.ok(same('12345678901234567890', '12345678901234567890'));
    assert.ok(!same('12345678901234567890', '12345678901234567891'));
    assert.ok(!same('"10"', '10'));
    assert.ok(!same('{"a":1}', '{"a":1,"b":2}'));
    assert.ok(!same('[1]', '{"0":1}'));
    assert.ok(same('null', 'null'));
  });

  it('names the problem in a bad configuration', () => {
    assert.throws(() => fieldRule(new Config('{"pointer": "role", "allowed": ["x"]}')), (e: unknown) =>
      e instanceof PluginError && e.message === `pointer "role" must start with '/'`,
    );
    assert.throws(() => fieldRule(new Config('null')), /missing field `pointer`/);
  });
});
