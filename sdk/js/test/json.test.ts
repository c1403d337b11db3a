// JSON parsing, writing and pointers: 64-bit integers survive, the rest
// behaves like JSON.parse / serde_json.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonPointer, parseJson, stringifyJson } from '@scaihub/plugin-sdk';

describe('parseJson', () => {
  it('keeps integers beyond 2^53 exact as bigint and writes them back digit for digit', () => {
    const text = '{"id":12345678901234567890,"neg":-9223372036854775808,"small":42,"f":1.5}';
    const value = parseJson(text);
    assert.deepEqual(value, { id: 12345678901234567890n, neg: -9223372036854775808n, small: 42, f: 1.5 });
    assert.equal(stringifyJson(value), text);
  });

  it('reads integers beyond 64 bits as doubles, as serde_json does', () => {
    assert.equal(parseJson('123456789012345678901234'), 1.2345678901234568e23);
  });

  it('refuses numbers too large for a double instead of reading Infinity', () => {
    assert.throws(() => parseJson('[1e400]'), SyntaxError);
    assert.throws(() => parseJson('1' + '0'.repeat(400)), SyntaxError);
  });

  it('parses the careful path exactly like JSON.parse otherwise', () => {
    const text =
      '{"a":[1,2.5e-3,true,false,null,"x\\u00e9\\n\\"q\\""],"b":{"c":{}},"__proto__":1,"d":"1234567890123456789"}';
    assert.deepEqual(parseJson(text), JSON.parse(text));
    assert.equal(Object.getPrototypeOf(parseJson(text)), Object.prototype);
  });

  it('rejects what JSON.parse rejects on both paths', () => {
    for (const bad of ['', '{', '[1,]', '{"a":1,}', '01', '1.', '"\\x"', 'nul', '[1] x', '\ufeff{}']) {
      assert.throws(() => parseJson(bad), SyntaxError, bad);
      assert.throws(() => parseJson(`[${bad}, 12345678901234567890]`), SyntaxError, `careful: ${bad}`);
    }
  });
});

describe('stringifyJson', () => {
  it('matches JSON.stringify without bigints and skips undefined members with them', () => {
    const value = { a: [1, 'é'], b: null };
    assert.equal(stringifyJson(value), JSON.stringify(value));
    const withBig = { a: 1n << 60n, skip: undefined, list: [undefined, 2n] } as never;
    assert.equal(stringifyJson(withBig), '{"a":1152921504606846976,"list":[null,2]}');
  });
});

describe('stringifyJson of large doubles', () => {
  it('writes a whole double beyond 2^53 in exponent form, so it is not read back as another integer', () => {
    const value = parseJson('{"f":1152921504606846976.0,"i":1152921504606846976,"s":"12345678901234567"}');
    assert.deepEqual(value, { f: 2 ** 60, i: 1152921504606846976n, s: '12345678901234567' });
    const text = stringifyJson(value);
    assert.equal(text, '{"f":1.152921504606847e+18,"i":1152921504606846976,"s":"12345678901234567"}');
    assert.deepEqual(parseJson(text), value);
    assert.equal(stringifyJson([-(2 ** 53), 2 ** 53 - 1]), '[-9.007199254740992e+15,9007199254740991]');
  });
});

describe('jsonPointer', () => {
  const doc = parseJson('{"a/b":1,"m~n":2,"list":[10,20],"":{"x":3},"deep":{"k":[{"v":true}]}}');

  it('walks keys and indices with ~0 and ~1 unescaped', () => {
    assert.equal(jsonPointer(doc, '/a~1b'), 1);
    assert.equal(jsonPointer(doc, '/m~0n'), 2);
    assert.equal(jsonPointer(doc, '/list/1'), 20);
    assert.equal(jsonPointer(doc, '//x'), 3);
    assert.equal(jsonPointer(doc, '/deep/k/0/v'), true);
    assert.deepEqual(jsonPointer(doc, ''), doc);
  });

  it('finds nothing for bad indices, relative pointers and missing keys', () => {
    for (const p of ['/list/01', '/list/+1', '/list/-1', '/list/2', '/list/x', 'list', '/nope', '/list/0/deeper']) {
      assert.equal(jsonPointer(doc, p), undefined, p);
    }
  });

  it('does not read inherited properties', () => {
    assert.equal(jsonPointer({}, '/constructor'), undefined);
    assert.equal(jsonPointer({}, '/__proto__'), undefined);
  });
});
