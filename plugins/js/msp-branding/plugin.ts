// `msp-branding`: brands deliveries for a managed service provider (MSP)
// that runs ScaiDrive for its customers. The TypeScript twin of
// plugins/msp-branding (same configuration, same outcomes: both are tested
// against plugins/cases/msp-branding.json).
//
// Config: `{"msp_name": "Acme IT", "headers": {"X-MSP": "acme"}}`.
// The configured headers are set on the request (replacing any of the same
// name), in name order, and the JSON body is wrapped as
// `{"msp": "<msp_name>", "event": <original body>}` with content type
// `application/json`. `headers` is optional; `msp_name` is required and
// not blank. A body that is not JSON is an error.

import { type Config, defineTransform, PluginError } from '@scaihub/plugin-sdk';

/** The webhook's configuration for this transform. */
export interface Branding {
  /** The MSP's display name, put in the envelope. */
  mspName: string;
  /** Headers to add, as name and value, in name order. */
  headers: [string, string][];
}

// Unicode White_Space, as Rust's `str::trim` reads it (JavaScript's own
// `\s` differs: it counts U+FEFF and not U+0085).
const BLANK = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
// RFC 9110 `tchar`.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Unicode control characters (C0, DEL, C1) other than tab.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

/** Parses and checks the configuration: a name, and headers that are
 *  valid HTTP (token names, values without control characters). */
export function branding(config: Config): Branding {
  const fields = config.fields();
  const mspName = fields.string('msp_name');
  const headerMap = fields.stringMap('headers', {});
  fields.end();
  if (BLANK.test(mspName)) {
    throw PluginError.invalidConfig('msp_name must not be blank');
  }
  // Name order (by UTF-16 unit, the same as byte order for the ASCII names
  // that pass), as the Rust plugin's BTreeMap gives them.
  const headers = Object.keys(headerMap)
    .sort()
    .map((name): [string, string] => [name, headerMap[name] as string]);
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) {
      throw PluginError.invalidConfig(`header name ${JSON.stringify(name)} is not valid`);
    }
    if (CONTROL.test(value)) {
      throw PluginError.invalidConfig(`header ${name} has a control character`);
    }
  }
  return { mspName, headers };
}

export const transform = defineTransform((_event, request, config) => {
  const b = branding(config);
  const original = request.bodyJson();
  request.setBodyJson({ msp: b.mspName, event: original });
  for (const [name, value] of b.headers) {
    request.setHeader(name, value);
  }
  return request;
});
