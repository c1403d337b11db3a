// `Config`: the JSON configuration a webhook attaches to a plugin, and
// `ConfigFields`, a reader that checks it field by field with errors that
// name the field.

import { PluginError } from './error.js';
import { type JsonObject, type JsonValue, isJsonObject, jsonTypeName, parseJson, stringifyJson } from './json.js';

/** The configuration text the host passed for this call, unparsed until
 *  the plugin asks. An absent configuration (empty text or `null`) reads
 *  as `{}`, so a plugin whose fields all have defaults works without one. */
export class Config {
  /** The text exactly as received. */
  readonly raw: string;

  constructor(raw: string) {
    this.raw = raw;
  }

  /** A configuration from a value (tests build these). */
  static of(value: JsonValue | undefined): Config {
    return new Config(value === undefined ? 'null' : stringifyJson(value));
  }

  /** Whether the webhook attached no configuration at all. */
  get isAbsent(): boolean {
    const text = this.raw.trim();
    return text === '' || text === 'null';
  }

  /** The configuration as a JSON value (`{}` when absent); text that is not
   *  JSON is an `invalid-config` error. */
  json(): JsonValue {
    if (this.isAbsent) {
      return {};
    }
    try {
      return parseJson(this.raw);
    } catch (e) {
      throw PluginError.invalidConfig(`not JSON: ${(e as Error).message}`);
    }
  }

  /** A reader over the configuration object's fields; a configuration that
   *  is not an object is an `invalid-config` error. */
  fields(): ConfigFields {
    const value = this.json();
    if (!isJsonObject(value)) {
      throw PluginError.invalidConfig(`must be an object, not ${jsonTypeName(value)}`);
    }
    return new ConfigFields(value);
  }
}

/** Reads the fields of a configuration object, one call per field. A
 *  field read with a fallback is optional; without one it is required.
 *  Every mistake is an `invalid-config` error naming the field. A field
 *  that is present must have the right type: `null` is not a way to leave
 *  it out. Call `end()` last to refuse fields nobody read (typos). */
export class ConfigFields {
  private readonly seen = new Set<string>();

  constructor(private readonly object: JsonObject) {}

  /** Whether the field is present (any value, `null` included). */
  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.object, name);
  }

  /** The field's raw JSON value, `undefined` when absent. */
  value(name: string): JsonValue | undefined {
    this.seen.add(name);
    return this.has(name) ? this.object[name] : undefined;
  }

  /** A string field. */
  string(name: string): string;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.read(name, fallback, arguments.length > 1, 'a string', (v) =>
      typeof v === 'string' ? v : undefined,
    );
  }

  /** An integer field (a JSON number without a fraction), within
   *  `min`..`max` when given. */
  integer(name: string, fallback?: number, range: { min?: number; max?: number } = {}): number {
    const n = this.read(name, fallback, fallback !== undefined, 'an integer', (v) =>
      typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined,
    ) as number;
    if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
      const bounds = [range.min !== undefined ? `at least ${range.min}` : '', range.max !== undefined ? `at most ${range.max}` : '']
        .filter(Boolean)
        .join(' and ');
      throw PluginError.invalidConfig(`\`${name}\` must be ${bounds}, not ${n}`);
    }
    return n;
  }

  /** A boolean field. */
  boolean(name: string, fallback?: boolean): boolean {
    return this.read(name, fallback, fallback !== undefined, 'a boolean', (v) =>
      typeof v === 'boolean' ? v : undefined,
    ) as boolean;
  }

  /** An array field of any JSON values. */
  array(name: string, fallback?: JsonValue[]): JsonValue[] {
    return this.read(name, fallback, fallback !== undefined, 'an array', (v) =>
      Array.isArray(v) ? v : undefined,
    ) as JsonValue[];
  }

  /** An array-of-strings field. */
  stringArray(name: string, fallback?: string[]): string[] {
    const items = this.read(name, fallback, fallback !== undefined, 'an array of strings', (v) =>
      Array.isArray(v) ? v : undefined,
    ) as JsonValue[];
    items.forEach((item, i) => {
      if (typeof item !== 'string') {
        throw PluginError.invalidConfig(`\`${name}[${i}]\` must be a string, not ${jsonTypeName(item)}`);
      }
    });
    return items as string[];
  }

  /** An object field whose values are all strings, as a plain record. */
  stringMap(name: string, fallback?: Record<string, string>): Record<string, string> {
    const map = this.read(name, fallback, fallback !== undefined, 'an object', (v) =>
      isJsonObject(v) ? v : undefined,
    ) as JsonObject;
    for (const [key, item] of Object.entries(map)) {
      if (typeof item !== 'string') {
        throw PluginError.invalidConfig(`\`${name}.${key}\` must be a string, not ${jsonTypeName(item)}`);
      }
    }
    return map as Record<string, string>;
  }

  /** A string field that must be one of `choices`. */
  oneOf<const T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const v = this.read(name, fallback, fallback !== undefined, 'a string', (v) =>
      typeof v === 'string' ? v : undefined,
    ) as string;
    if (!(choices as readonly string[]).includes(v)) {
      throw PluginError.invalidConfig(
        `\`${name}\` must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, not ${JSON.stringify(v)}`,
      );
    }
    return v as T;
  }

  /** Refuses any field that no call above read: `unknown field \`x\``. */
  end(): void {
    const unknown = Object.keys(this.object).filter((k) => !this.seen.has(k));
    if (unknown.length > 0) {
      const known = [...this.seen].map((k) => `\`${k}\``).join(', ');
      throw PluginError.invalidConfig(
        `unknown field ${unknown.map((k) => `\`${k}\``).join(', ')}${known ? `; expected ${known}` : ''}`,
      );
    }
  }

  private read<T>(
    name: string,
    fallback: T | undefined,
    optional: boolean,
    expected: string,
    accept: (v: JsonValue) => T | undefined,
  ): T | undefined {
    this.seen.add(name);
    if (!this.has(name)) {
      if (optional) {
        return fallback;
      }
      throw PluginError.invalidConfig(`missing field \`${name}\``);
    }
    const raw = this.object[name] as JsonValue;
    const v = accept(raw);
    if (v === undefined) {
      throw PluginError.invalidConfig(`\`${name}\` must be ${expected}, not ${jsonTypeName(raw)}`);
    }
    return v;
  }
}
