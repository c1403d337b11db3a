/** A JSON value as this SDK reads it: integers outside ±(2^53 − 1) that
 *  fit in 64 bits are `bigint`, every other number is a `number`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
    [key: string]: JsonValue;
}
/** Parses JSON text. Integers beyond 2^53 come back as exact `bigint`s,
 *  and a number too large for a double is an error (as in serde_json).
 *  Throws `SyntaxError` on text that is not JSON. */
export declare function parseJson(text: string): JsonValue;
/** Writes a value as compact JSON text: `bigint`s as their digits, and a
 *  double at or beyond 2^53 that has no fraction in exponent form
 *  (`1.152921504606847e+18`), so it is read back as the double it is and
 *  not as a different exact integer. Follows `JSON.stringify` otherwise
 *  (`toJSON`, skipped `undefined`). */
export declare function stringifyJson(value: JsonValue): string;
/** The value at `pointer` (RFC 6901: `""` is the whole value, `/a/0/b`
 *  walks keys and array indices, `~1` is `/`, `~0` is `~`), or `undefined`
 *  when nothing is there. Array indices are plain decimal numbers without
 *  a sign or leading zeros, as in serde_json. */
export declare function jsonPointer(value: JsonValue, pointer: string): JsonValue | undefined;
/** The unescaped reference tokens of a pointer that starts with `/`. */
export declare function pointerTokens(pointer: string): string[];
/** Whether `value` is a JSON object (not null, not an array). */
export declare function isJsonObject(value: unknown): value is JsonObject;
/** A human name for a JSON value's type, for error messages. */
export declare function jsonTypeName(value: unknown): string;
