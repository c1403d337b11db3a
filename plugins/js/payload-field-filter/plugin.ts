// `payload-field-filter`: delivers an event only when a field of its
// payload holds one of a list of allowed values. The TypeScript twin of
// plugins/payload-field-filter (same configuration, same outcomes: both are
// tested against plugins/cases/payload-field-filter.json).
//
// Config: `{"pointer": "/role", "allowed": ["contributor", "owner"]}`.
// `pointer` is a JSON pointer (RFC 6901) into the event's payload;
// `allowed` lists JSON values (strings, numbers, booleans, even objects).
// The event is delivered when the field exists and equals one of them as a
// JSON value: `"1"` and `1` differ, `1` and `1.0` are the same number. An
// event whose payload lacks the field, or is not JSON, is skipped.

import { type Config, defineFilter, isJsonObject, type JsonValue, jsonPointer, PluginError } from '@scaihub/plugin-sdk';

/** The webhook's configuration for this filter. */
export interface FieldRule {
  /** Where the field is in the payload, as a JSON pointer. */
  pointer: string;
  /** The values that let the event through. */
  allowed: JsonValue[];
}

/** Parses and checks the configuration. */
export function fieldRule(config: Config): FieldRule {
  const fields = config.fields();
  const rule = { pointer: fields.string('pointer'), allowed: fields.array('allowed') };
  fields.end();
  if (!rule.pointer.startsWith('/')) {
    throw PluginError.invalidConfig(`pointer ${JSON.stringify(rule.pointer)} must start with '/'`);
  }
  if (rule.allowed.length === 0) {
    throw PluginError.invalidConfig('allowed must list at least one value');
  }
  return rule;
}

/** Whether `payload` passes: the field exists and is an allowed value. */
export function admits(rule: FieldRule, payload: JsonValue): boolean {
  const field = jsonPointer(payload, rule.pointer);
  return field !== undefined && rule.allowed.some((a) => sameJsonValue(a, field));
}

/** JSON equality in which numbers compare by value (`1 == 1.0`), 64-bit
 *  integers (read as bigint) exactly, and everything else structurally. */
export function sameJsonValue(a: JsonValue, b: JsonValue): boolean {
  const aNumber = typeof a === 'number' || typeof a === 'bigint';
  const bNumber = typeof b === 'number' || typeof b === 'bigint';
  if (aNumber || bNumber) {
    if (!aNumber || !bNumber) return false;
    // Two integers compare exactly; a double against a 64-bit integer
    // compares as doubles (a safe integer never equals a bigint, which lies
    // beyond 2^53).
    return typeof a === typeof b ? a === b : Number(a) === Number(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJsonValue(x, b[i] as JsonValue));
  }
  if (isJsonObject(a) || isJsonObject(b)) {
    if (!isJsonObject(a) || !isJsonObject(b)) return false;
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJsonValue(a[k] as JsonValue, b[k] as JsonValue))
    );
  }
  return a === b;
}

export const filter = defineFilter((event, config) => {
  const rule = fieldRule(config);
  let payload: JsonValue;
  try {
    payload = event.payloadJson();
  } catch {
    // A payload that is not JSON has no fields, so it cannot match.
    return 'skip';
  }
  return admits(rule, payload);
});
