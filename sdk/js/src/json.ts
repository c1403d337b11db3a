// JSON as plugins meet it: parsing that keeps 64-bit integers exact,
// writing that puts them back, and JSON pointers (RFC 6901).
//
// Event payloads and request bodies often carry 64-bit ids. `JSON.parse`
// rounds any integer beyond 2^53 to the nearest double, so a transform that
// parses and re-serialises a body would silently change them. `parseJson`
// reads such integers as `bigint` instead, and `stringifyJson` writes them
// back digit for digit, so numbers survive a round trip as they do in the
// Rust SDK (serde_json). Documents without long digit runs or huge
// exponents take the engine's own `JSON.parse`, which is far faster inside
// the WebAssembly sandbox than any parser written in JavaScript.

/** A JSON value as this SDK reads it: integers outside ±(2^53 − 1) that
 *  fit in 64 bits are `bigint`, every other number is a `number`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

// A run of 16 digits may be an integer beyond 2^53; a three-digit exponent
// may overflow a double. Either sends the text to the careful parser; false
// alarms (digits inside strings) only cost speed.
const NEEDS_CARE = /\d{16}|[eE][+-]?\d{3}/;

/** Parses JSON text. Integers beyond 2^53 come back as exact `bigint`s,
 *  and a number too large for a double is an error (as in serde_json).
 *  Throws `SyntaxError` on text that is not JSON. */
export function parseJson(text: string): JsonValue {
  if (!NEEDS_CARE.test(text)) {
    return JSON.parse(text) as JsonValue;
  }
  return new CarefulParser(text).document();
}

/** Writes a value as compact JSON text: `bigint`s as their digits, and a
 *  double at or beyond 2^53 that has no fraction in exponent form
 *  (`1.152921504606847e+18`), so it is read back as the double it is and
 *  not as a different exact integer. Follows `JSON.stringify` otherwise
 *  (`toJSON`, skipped `undefined`). */
export function stringifyJson(value: JsonValue): string {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    // JSON.stringify refuses bigint; only then walk the value ourselves.
    if (e instanceof TypeError && containsBigint(value)) {
      return writeCarefully(value) as string;
    }
    throw e;
  }
  // A double of 16 or more integer digits is printed as digits; only then
  // (rare) write the value again with those doubles in exponent form.
  return text !== undefined && LONG_DIGITS.test(text) ? (writeCarefully(value) as string) : text;
}

const LONG_DIGITS = /\d{16}/;

/** The value at `pointer` (RFC 6901: `""` is the whole value, `/a/0/b`
 *  walks keys and array indices, `~1` is `/`, `~0` is `~`), or `undefined`
 *  when nothing is there. Array indices are plain decimal numbers without
 *  a sign or leading zeros, as in serde_json. */
export function jsonPointer(value: JsonValue, pointer: string): JsonValue | undefined {
  if (pointer === '') {
    return value;
  }
  if (!pointer.startsWith('/')) {
    return undefined;
  }
  let current: JsonValue | undefined = value;
  for (const token of pointerTokens(pointer)) {
    current = child(current, token);
    if (current === undefined) {
      return undefined;
    }
  }
  return current;
}

/** The unescaped reference tokens of a pointer that starts with `/`. */
export function pointerTokens(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The member `token` of an object or the element `token` of an array. */
function child(value: JsonValue | undefined, token: string): JsonValue | undefined {
  if (Array.isArray(value)) {
    const index = arrayIndex(token);
    return index !== undefined && index < value.length ? value[index] : undefined;
  }
  if (isJsonObject(value)) {
    return Object.prototype.hasOwnProperty.call(value, token) ? value[token] : undefined;
  }
  return undefined;
}

/** A pointer token as an array index: digits only, no leading zero. */
function arrayIndex(token: string): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    return undefined;
  }
  const n = Number(token);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Whether `value` is a JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A human name for a JSON value's type, for error messages. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'bigint') return 'an integer beyond 2^53';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a number' : 'a fractional number';
  return `a ${typeof value}`;
}

function containsBigint(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (Array.isArray(value)) return value.some(containsBigint);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(containsBigint);
  return false;
}

function writeCarefully(value: unknown): string | undefined {
  if (typeof value === 'bigint') {
    return value.toString();
  }
  if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
    return value.toExponential();
  }
  if (value !== null && typeof value === 'object') {
    const withToJson = value as { toJSON?: () => unknown };
    if (typeof withToJson.toJSON === 'function') {
      return writeCarefully(withToJson.toJSON());
    }
  }
  if (Array.isArray(value)) {
    const items = value.map((v) => {
      const text = writeCarefully(v);
      return text === undefined ? 'null' : text;
    });
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const members: string[] = [];
    for (const [key, v] of Object.entries(value)) {
      const text = writeCarefully(v);
      if (text !== undefined) {
        members.push(`${JSON.stringify(key)}:${text}`);
      }
    }
    return `{${members.join(',')}}`;
  }
  // Scalars, and undefined/functions (which JSON.stringify skips).
  return JSON.stringify(value);
}

const U64_MAX = 18446744073709551615n;
const I64_MIN = -9223372036854775808n;

/** A small recursive-descent JSON parser for the documents `JSON.parse`
 *  would get wrong. Validates exactly what `JSON.parse` validates. */
class CarefulParser {
  private at = 0;

  constructor(private readonly text: string) {}

  document(): JsonValue {
    const value = this.value();
    this.space();
    if (this.at !== this.text.length) {
      this.fail('unexpected text after the JSON value');
    }
    return value;
  }

  private value(): JsonValue {
    this.space();
    const c = this.text[this.at];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return v;
      }
    }
    return this.fail('expected a JSON value');
  }

  private object(): JsonObject {
    this.at++; // {
    const out: JsonObject = {};
    this.space();
    if (this.text[this.at] === '}') {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail('expected a string key');
      const key = this.string();
      this.space();
      if (this.text[this.at] !== ':') this.fail("expected ':'");
      this.at++;
      const v = this.value();
      // Like JSON.parse, `__proto__` is an ordinary own key here.
      Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
      this.space();
      const c = this.text[this.at++];
      if (c === '}') return out;
      if (c !== ',') this.fail("expected ',' or '}'");
    }
  }

  private array(): JsonValue[] {
    this.at++; // [
    const out: JsonValue[] = [];
    this.space();
    if (this.text[this.at] === ']') {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.space();
      const c = this.text[this.at++];
      if (c === ']') return out;
      if (c !== ',') this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    const start = this.at;
    this.at++; // opening quote
    for (;;) {
      const c = this.text[this.at];
      if (c === undefined) this.fail('unterminated string');
      if (c === '\\') {
        this.at += 2;
      } else {
        this.at++;
        if (c === '"') break;
      }
    }
    // The engine checks the escapes and control characters.
    return JSON.parse(this.text.slice(start, this.at)) as string;
  }

  private number(): number | bigint {
    const match = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    match.lastIndex = this.at;
    const m = match.exec(this.text);
    if (m === null) return this.fail('malformed number');
    this.at = match.lastIndex;
    const literal = m[0];
    const isInteger = m[1] === undefined && m[2] === undefined;
    if (isInteger) {
      const n = Number(literal);
      if (Number.isSafeInteger(n)) return n;
      const big = BigInt(literal);
      // serde_json keeps integers that fit in 64 bits and reads larger
      // ones as doubles; so do we.
      if (big <= U64_MAX && big >= I64_MIN) return big;
    }
    const n = Number(literal);
    if (!Number.isFinite(n)) this.fail('number out of range');
    return n;
  }

  private space(): void {
    while (this.at < this.text.length) {
      const c = this.text[this.at];
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') break;
      this.at++;
    }
  }

  private fail(why: string): never {
    throw new SyntaxError(`${why} at position ${this.at}`);
  }
}
