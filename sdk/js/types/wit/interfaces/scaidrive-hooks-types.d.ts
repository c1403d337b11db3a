// Generated from wit/ by `npm run generate` (jco guest-types); do not edit.
declare module 'scaidrive:hooks/types@0.1.0' {
  /**
   * The kind of activity an event reports; exactly the ScaiDrive
   * categories, which appear in JSON in upper case (`FILE_ACCESS`).
   * # Variants
   * 
   * ## `"authentication"`
   * 
   * Sign-in, sign-out, token issue and the like.
   * ## `"authorization"`
   * 
   * Permission checks and changes.
   * ## `"file-access"`
   * 
   * A file was read, listed or downloaded.
   * ## `"file-modification"`
   * 
   * A file was created, changed, moved or deleted.
   * ## `"sharing"`
   * 
   * A share was created, changed or used.
   * ## `"admin"`
   * 
   * An administrative action.
   * ## `"security"`
   * 
   * A security-relevant signal (failed logins, alerts).
   * ## `"compliance"`
   * 
   * Retention, legal hold and other compliance activity.
   */
  export type Category = 'authentication' | 'authorization' | 'file-access' | 'file-modification' | 'sharing' | 'admin' | 'security' | 'compliance';
  /**
   * One audit event, field for field as the host stores it.
   */
  export interface Event {
    /**
     * Prefixed unique id, `evt_...`.
     */
    eventId: string,
    /**
     * When it happened, RFC 3339 in UTC (`2025-01-31T12:00:00Z`).
     */
    timestamp: string,
    /**
     * What kind of activity it reports.
     */
    category: Category,
    /**
     * The action within the category, dotted (`share.member_added`).
     */
    action: string,
    /**
     * The acting user, `usr_...`; absent for events ScaiHub raises
     * itself without a user (a dropped delivery, say).
     */
    userId?: string,
    /**
     * The resource acted upon (file, share, user, webhook...), when
     * there is one.
     */
    resourceId?: string,
    /**
     * The event's own details as JSON text (an object, usually).
     */
    payload: string,
    /**
     * The client's IP address, v4 or v6, when known.
     */
    ipAddress?: string,
    /**
     * The share involved, when there is one.
     */
    shareId?: string,
    /**
     * The service account acting on the user's behalf, when the
     * actor's token carried one.
     */
    serviceAccount?: string,
  }
  /**
   * The HTTP request the host is about to send for a delivery. The host
   * adds its own `X-ScaiDrive-*` headers and the signature after the
   * transform, over the body the transform returned.
   */
  export interface OutgoingRequest {
    /**
     * The exact bytes of the body (the event JSON before any transform).
     */
    body: Uint8Array,
    /**
     * Extra headers as name and value; the host refuses names it
     * reserves (`X-ScaiDrive-*`, `Host`, `Content-Length`, hop-by-hop).
     */
    headers: Array<[string, string]>,
    /**
     * The `Content-Type` of the body (`application/json` at first).
     */
    contentType: string,
  }
  /**
   * Why a plugin could not do its work.
   */
  export type PluginError = PluginErrorInvalidConfig | PluginErrorInvalidEvent | PluginErrorFailed;
  /**
   * The configuration attached to the webhook is unusable; says why.
   */
  export interface PluginErrorInvalidConfig {
    tag: 'invalid-config',
    val: string,
  }
  /**
   * The event or request lacks something the plugin needs; says what.
   */
  export interface PluginErrorInvalidEvent {
    tag: 'invalid-event',
    val: string,
  }
  /**
   * Anything else that went wrong; says what.
   */
  export interface PluginErrorFailed {
    tag: 'failed',
    val: string,
  }
  /**
   * A filter's answer.
   * # Variants
   * 
   * ## `"deliver"`
   * 
   * Send the event to the webhook.
   * ## `"skip"`
   * 
   * Do not send it; the delivery is recorded as filtered.
   */
  export type Verdict = 'deliver' | 'skip';
}
