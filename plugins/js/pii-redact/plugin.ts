// `pii-redact`: removes or masks fields of the outgoing JSON body. The
// TypeScript twin of plugins/pii-redact (same configuration, same outcomes:
// both are tested against plugins/cases/pii-redact.json).
//
// Config: `{"remove": ["/payload/email"], "mask": ["/payload/phone",
// "/user_id"], "keep_last": 4}`. Each entry is a JSON pointer (RFC 6901)
// into the body, which before any other transform is the event JSON, so
// event fields are `/user_id`, payload fields `/payload/...`.
// - `remove`: the field is deleted (an array element is taken out).
// - `mask`: a string longer than `keep_last` characters becomes `***`
//   followed by its last `keep_last` characters (`+1 555 0100` →
//   `***0100`); any shorter string, and any number, boolean, object or
//   array, becomes `***`. `keep_last` defaults to 4; 0 masks everything.
//
// Pointers that lead nowhere are ignored: not every event has every field.
// A body that is not JSON is an error, never sent unredacted by this plugin.

import { type Config, defineTransform, isJsonObject, type JsonValue, jsonPointer, PluginError, stringifyJson } from '@scaihub/plugin-sdk';

/** What replaces masked content. */
const MASK = '***';

/** What to hide, as configured on the webhook. */
export interface Redaction {
  /** Pointers to fields to delete. */
  remove: string[];
  /** Pointers to fields to mask. */
  mask: string[];
  /** How many trailing characters a masked string keeps. */
  keepLast: number;
}

/** Parses and checks the configuration. */
export function redaction(config: Config): Redaction {
  const fields = config.fields();
  const out = {
    remove: fields.stringArray('remove', []),
    mask: fields.stringArray('mask', []),
    keepLast: fields.integer('keep_last', 4, { min: 0 }),
  };
  fields.end();
  for (const pointer of [...out.remove, ...out.mask]) {
    if (!pointer.startsWith('/')) {
      throw PluginError.invalidConfig(`pointer ${JSON.stringify(pointer)} must start with '/'`);
    }
  }
  return out;
}

/** Applies the redaction to `body` in place (masks first, then removals)
 *  and returns it (a new value only if the body itself was replaced). */
export function apply(r: Redaction, body: JsonValue): JsonValue {
  for (const pointer of r.mask) {
    const [parent, last] = parentAndKey(body, pointer);
    if (Array.isArray(parent)) {
      const index = pointerIndex(last);
      if (index !== undefined && index < parent.length) {
        parent[index] = mask(parent[index] as JsonValue, r.keepLast);
      }
    } else if (isJsonObject(parent) && Object.prototype.hasOwnProperty.call(parent, last)) {
      parent[last] = mask(parent[last] as JsonValue, r.keepLast);
    }
  }
  for (const pointer of r.remove) {
    remove(body, pointer);
  }
  return body;
}

/** The masked form of `value`; characters are Unicode code points. */
export function mask(value: JsonValue, keepLast: number): string {
  if (typeof value === 'string' && keepLast > 0) {
    const chars = Array.from(value);
    if (chars.length > keepLast) {
      return MASK + chars.slice(chars.length - keepLast).join('');
    }
  }
  return MASK;
}

/** Deletes the field at `pointer` (which starts with '/'), if there is one. */
function remove(body: JsonValue, pointer: string): void {
  const [parent, key] = parentAndKey(body, pointer);
  if (isJsonObject(parent)) {
    delete parent[key];
  } else if (Array.isArray(parent)) {
    // Read as Rust reads an unsigned integer (`+1` and `01` are 1), which
    // is what the Rust plugin does here.
    if (/^\+?[0-9]+$/.test(key)) {
      const index = Number(key);
      if (index < parent.length) {
        parent.splice(index, 1);
      }
    }
  }
}

/** An array index in a pointer: plain digits, no leading zero. */
function pointerIndex(token: string): number | undefined {
  return /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : undefined;
}

/** The value holding the field `pointer` names, and the field's key.
 *  An unescaped `/` never occurs inside a token, so the parent's pointer is
 *  everything before the last one. */
function parentAndKey(body: JsonValue, pointer: string): [JsonValue | undefined, string] {
  const cut = pointer.lastIndexOf('/');
  const key = pointer.slice(cut + 1).replaceAll('~1', '/').replaceAll('~0', '~');
  return [jsonPointer(body, pointer.slice(0, cut)), key];
}

export const transform = defineTransform((_event, request, config) => {
  const r = redaction(config);
  const body = apply(r, request.bodyJson());
  request.setBodyText(stringifyJson(body));
  return request;
});
