import { type JsonObject, type JsonValue } from './json.js';
/** The configuration text the host passed for this call, unparsed until
 *  the plugin asks. An absent configuration (empty text or `null`) reads
 *  as `{}`, so a plugin whose fields all have defaults works without one. */
export declare class Config {
    /** The text exactly as received. */
    readonly raw: string;
    constructor(raw: string);
    /** A configuration from a value (tests build these). */
    static of(value: JsonValue | undefined): Config;
    /** Whether the webhook attached no configuration at all. */
    get isAbsent(): boolean;
    /** The configuration as a JSON value (`{}` when absent); text that is not
     *  JSON is an `invalid-config` error. */
    json(): JsonValue;
    /** A reader over the configuration object's fields; a configuration that
     *  is not an object is an `invalid-config` error. */
    fields(): ConfigFields;
}
/** Reads the fields of a configuration object, one call per field. A
 *  field read with a fallback is optional; without one it is required.
 *  Every mistake is an `invalid-config` error naming the field. A field
 *  that is present must have the right type: `null` is not a way to leave
 *  it out. Call `end()` last to refuse fields nobody read (typos). */
export declare class ConfigFields {
    private readonly object;
    private readonly seen;
    constructor(object: JsonObject);
    /** Whether the field is present (any value, `null` included). */
    has(name: string): boolean;
    /** The field's raw JSON value, `undefined` when absent. */
    value(name: string): JsonValue | undefined;
    /** A string field. */
    string(name: string): string;
    string(name: string, fallback: string): string;
    string(name: string, fallback?: string): string | undefined;
    /** An integer field (a JSON number without a fraction), within
     *  `min`..`max` when given. */
    integer(name: string, fallback?: number, range?: {
        min?: number;
        max?: number;
    }): number;
    /** A boolean field. */
    boolean(name: string, fallback?: boolean): boolean;
    /** An array field of any JSON values. */
    array(name: string, fallback?: JsonValue[]): JsonValue[];
    /** An array-of-strings field. */
    stringArray(name: string, fallback?: string[]): string[];
    /** An object field whose values are all strings, as a plain record. */
    stringMap(name: string, fallback?: Record<string, string>): Record<string, string>;
    /** A string field that must be one of `choices`. */
    oneOf<const T extends string>(name: string, choices: readonly T[], fallback?: T): T;
    /** Refuses any field that no call above read: `unknown field \`x\``. */
    end(): void;
    private read;
}
