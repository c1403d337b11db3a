// Config: absent means {}, and the field reader names the field it
// refuses.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config, PluginError } from '@scaihub/plugin-sdk';

function invalidConfig(pattern: RegExp) {
  return (e: unknown) => e instanceof PluginError && e.kind === 'invalid-config' && pattern.test(e.message);
}

describe('Config', () => {
  it('reads an absent configuration as an empty object', () => {
    for (const raw of ['', '  ', 'null', ' null\n']) {
      const config = new Config(raw);
      assert.equal(config.isAbsent, true, raw);
      assert.deepEqual(config.json(), {});
      assert.equal(config.fields().string('template', 'x'), 'x');
    }
    assert.equal(Config.of(undefined).isAbsent, true);
  });

  it('refuses malformed JSON and non-objects as invalid config', () => {
    assert.throws(() => new Config('{not json').json(), invalidConfig(/not JSON/));
    assert.throws(() => new Config('[1]').fields(), invalidConfig(/must be an object, not an array/));
    assert.throws(() => new Config('"x"').fields(), invalidConfig(/not a string/));
  });

  it('reads typed fields with defaults', () => {
    const f = Config.of({ s: 'a', n: 3, b: true, list: ['x', 'y'], any: [1, 'z'], map: { K: 'v' } }).fields();
    assert.equal(f.string('s'), 'a');
    assert.equal(f.integer('n', undefined, { min: 0 }), 3);
    assert.equal(f.boolean('b'), true);
    assert.deepEqual(f.stringArray('list'), ['x', 'y']);
    assert.deepEqual(f.array('any'), [1, 'z']);
    assert.deepEqual(f.stringMap('map'), { K: 'v' });
    assert.equal(f.integer('absent', 4), 4);
    assert.deepEqual(f.stringArray('absent2', []), []);
    f.end();
  });

  it('names the field that is missing, mistyped, null or out of range', () => {
    const f = () => Config.of({ s: 1, nul: null, list: ['a', 2], neg: -1, frac: 1.5, map: { a: 1 } }).fields();
    assert.throws(() => f().string('missing'), invalidConfig(/missing field `missing`/));
    assert.throws(() => f().string('s'), invalidConfig(/`s` must be a string, not a number/));
    assert.throws(() => f().string('nul', 'fallback'), invalidConfig(/`nul` must be a string, not null/));
    assert.throws(() => f().stringArray('list'), invalidConfig(/`list\[1\]` must be a string/));
    assert.throws(() => f().integer('neg', 0, { min: 0 }), invalidConfig(/`neg` must be at least 0, not -1/));
    assert.throws(() => f().integer('frac', 0), invalidConfig(/`frac` must be an integer, not a fractional number/));
    assert.throws(() => f().stringMap('map'), invalidConfig(/`map.a` must be a string/));
    assert.throws(() => f().oneOf('s', ['x'] as const), invalidConfig(/`s` must be a string/));
  });

  it('refuses fields nobody read when end() is called', () => {
    const f = Config.of({ template: 'x', tmpl: 'y' }).fields();
    f.string('template');
    assert.throws(() => f.end(), invalidConfig(/unknown field `tmpl`; expected `template`/));
  });

  it('checks one-of choices', () => {
    const f = Config.of({ mode: 'c' }).fields();
    assert.throws(() => f.oneOf('mode', ['a', 'b'] as const), invalidConfig(/`mode` must be one of "a", "b", not "c"/));
    assert.equal(Config.of({}).fields().oneOf('mode', ['a', 'b'] as const, 'b'), 'b');
  });
});
