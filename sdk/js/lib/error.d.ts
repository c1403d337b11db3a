/// <reference path="../types/wit/interfaces/scaidrive-hooks-types.d.ts" preserve="true" />
import type { PluginError as WitPluginError } from 'scaidrive:hooks/types@0.1.0';
/** Which of the WIT `plugin-error` cases an error is. */
export type ErrorKind = WitPluginError['tag'];
/** Why a plugin could not do its work. Throw one from a filter or
 *  transform; the host records `kind` and `message` on the delivery and
 *  the webhook's policy decides what happens to the event. */
export declare class PluginError extends Error {
    /** The case of the WIT variant. */
    readonly kind: ErrorKind;
    /** The WIT value itself. componentize-js turns a thrown value with an
     *  own `payload` property into the `err` of the export's result. */
    readonly payload: WitPluginError;
    constructor(kind: ErrorKind, message: string);
    /** The configuration attached to the webhook is unusable. */
    static invalidConfig(message: string): PluginError;
    /** The event or request lacks something the plugin needs. */
    static invalidEvent(message: string): PluginError;
    /** Anything else that went wrong. */
    static failed(message: string): PluginError;
    /** `invalid config: <message>`, as the host shows it. */
    toString(): string;
}
/** Turns anything a plugin threw into a `PluginError`: a `PluginError`
 *  stays as it is (recognised by its WIT `payload`, so one from another copy
 *  of this package counts too); any other exception becomes `failed`,
 *  naming it, so an unexpected `TypeError` reads as such on the delivery
 *  instead of as an anonymous trap. */
export declare function asPluginError(thrown: unknown): PluginError;
