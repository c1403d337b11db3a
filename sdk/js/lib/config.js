// `Config`: the JSON configuration a webhook attaches to a plugin, and
// `ConfigFields`, a reader that checks it field by field with errors that
// name the field.
import { PluginError } from './error.js';
import { isJsonObject, jsonTypeName, parseJson, stringifyJson } from './json.js';
/** The configuration text the host passed for this call, unparsed until
 *  the plugin asks. An absent configuration (empty text or `null`) reads
 *  as `{}`, so a plugin whose fields all have defaults works without one. */
export class Config {
    /** The text exactly as received. */
    raw;
    constructor(raw) {
        this.raw = raw;
    }
    /** A configuration from a value (tests build these). */
    static of(value) {
        return new Config(value === undefined ? 'null' : stringifyJson(value));
    }
    /** Whether the webhook attached no configuration at all. */
    get isAbsent() {
        const text = this.raw.trim();
        return text === '' || text === 'null';
    }
    /** The configuration as a JSON value (`{}` when absent); text that is not
     *  JSON is an `invalid-config` error. */
    json() {
        if (this.isAbsent) {
            return {};
        }
        try {
            return parseJson(this.raw);
        }
        catch (e) {
            throw PluginError.invalidConfig(`not JSON: ${e.message}`);
        }
    }
    /** A reader over the configuration object's fields; a configuration that
     *  is not an object is an `invalid-config` error. */
    fields() {
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
    object;
    seen = new Set();
    constructor(object) {
        this.object = object;
    }
    /** Whether the field is present (any value, `null` included). */
    has(name) {
        return Object.prototype.hasOwnProperty.call(this.object, name);
    }
    /** The field's raw JSON value, `undefined` when absent. */
    value(name) {
        this.seen.add(name);
        return this.has(name) ? this.object[name] : undefined;
    }
    string(name, fallback) {
        return this.read(name, fallback, arguments.length > 1, 'a string', (v) => typeof v === 'string' ? v : undefined);
    }
    /** An integer field (a JSON number without a fraction), within
     *  `min`..`max` when given. */
    integer(name, fallback, range = {}) {
        const n = this.read(name, fallback, fallback !== undefined, 'an integer', (v) => typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);
        if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
            const bounds = [range.min !== undefined ? `at least ${range.min}` : '', range.max !== undefined ? `at most ${range.max}` : '']
                .filter(Boolean)
                .join(' and ');
            throw PluginError.invalidConfig(`\`${name}\` must be ${bounds}, not ${n}`);
        }
        return n;
    }
    /** A boolean field. */
    boolean(name, fallback) {
        return this.read(name, fallback, fallback !== undefined, 'a boolean', (v) => typeof v === 'boolean' ? v : undefined);
    }
    /** An array field of any JSON values. */
    array(name, fallback) {
        return this.read(name, fallback, fallback !== undefined, 'an array', (v) => Array.isArray(v) ? v : undefined);
    }
    /** An array-of-strings field. */
    stringArray(name, fallback) {
        const items = this.read(name, fallback, fallback !== undefined, 'an array of strings', (v) => Array.isArray(v) ? v : undefined);
        items.forEach((item, i) => {
            if (typeof item !== 'string') {
                throw PluginError.invalidConfig(`\`${name}[${i}]\` must be a string, not ${jsonTypeName(item)}`);
            }
        });
        return items;
    }
    /** An object field whose values are all strings, as a plain record. */
    stringMap(name, fallback) {
        const map = this.read(name, fallback, fallback !== undefined, 'an object', (v) => isJsonObject(v) ? v : undefined);
        for (const [key, item] of Object.entries(map)) {
            if (typeof item !== 'string') {
                throw PluginError.invalidConfig(`\`${name}.${key}\` must be a string, not ${jsonTypeName(item)}`);
            }
        }
        return map;
    }
    /** A string field that must be one of `choices`. */
    oneOf(name, choices, fallback) {
        const v = this.read(name, fallback, fallback !== undefined, 'a string', (v) => typeof v === 'string' ? v : undefined);
        if (!choices.includes(v)) {
            throw PluginError.invalidConfig(`\`${name}\` must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, not ${JSON.stringify(v)}`);
        }
        return v;
    }
    /** Refuses any field that no call above read: `unknown field \`x\``. */
    end() {
        const unknown = Object.keys(this.object).filter((k) => !this.seen.has(k));
        if (unknown.length > 0) {
            const known = [...this.seen].map((k) => `\`${k}\``).join(', ');
            throw PluginError.invalidConfig(`unknown field ${unknown.map((k) => `\`${k}\``).join(', ')}${known ? `; expected ${known}` : ''}`);
        }
    }
    read(name, fallback, optional, expected, accept) {
        this.seen.add(name);
        if (!this.has(name)) {
            if (optional) {
                return fallback;
            }
            throw PluginError.invalidConfig(`missing field \`${name}\``);
        }
        const raw = this.object[name];
        const v = accept(raw);
        if (v === undefined) {
            throw PluginError.invalidConfig(`\`${name}\` must be ${expected}, not ${jsonTypeName(raw)}`);
        }
        return v;
    }
}
