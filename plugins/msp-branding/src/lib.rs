//! `msp-branding`: brands deliveries for a managed service provider (MSP)
//! that runs ScaiDrive for its customers.
//!
//! Config: `{"msp_name": "Acme IT", "headers": {"X-MSP": "acme"}}`.
//! The configured headers are set on the request (replacing any of the same
//! name), and the JSON body is wrapped as
//! `{"msp": "<msp_name>", "event": <original body>}` with content type
//! `application/json`. `headers` is optional; `msp_name` is required and
//! not blank. A body that is not JSON is an error.

use std::collections::BTreeMap;

use scaihub_sdk::serde_json::json;
use scaihub_sdk::{Config, Error, Event, Request, Transform, export_transform};
use serde::Deserialize;

/// The plugin.
pub struct MspBranding;

/// The webhook's configuration for this transform.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// The MSP's display name, put in the envelope.
    pub msp_name: String,
    /// Headers to add, by name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Branding {
    /// Parses and checks the configuration: a name, and headers that are
    /// valid HTTP (token names, values without control characters).
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let branding: Self = config.parse_object()?;
        if branding.msp_name.trim().is_empty() {
            return Err(Error::invalid_config("msp_name must not be blank"));
        }
        for (name, value) in &branding.headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(Error::invalid_config(format!(
                    "header name {name:?} is not valid"
                )));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(Error::invalid_config(format!(
                    "header {name} has a control character"
                )));
            }
        }
        Ok(branding)
    }
}

/// Whether `b` may appear in an HTTP header name (RFC 9110 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Transform for MspBranding {
    fn transform(_: &Event, mut request: Request, config: &Config) -> Result<Request, Error> {
        let branding = Branding::from_config(config)?;
        let original = request.body_json()?;
        request.set_body_json(&json!({ "msp": branding.msp_name, "event": original }));
        for (name, value) in &branding.headers {
            request.set_header(name, value);
        }
        Ok(request)
    }
}

export_transform!(MspBranding);

#[cfg(test)]
mod tests {
    use scaihub_sdk::serde_json::json;

    use super::*;

    fn run(request: Request, config: &str) -> Result<Request, Error> {
        MspBranding::transform(&Event::sample(&json!({})), request, &Config::new(config))
    }

    #[test]
    fn wraps_body_and_sets_headers() {
        let mut request = Request::json(&json!({"event_id": "evt_1"}));
        request.set_header("x-msp", "old");
        let config = r#"{"msp_name": "Acme IT", "headers": {"X-MSP": "acme", "X-Tier": "gold"}}"#;
        let out = run(request, config).unwrap();
        assert_eq!(
            out.body_json().unwrap(),
            json!({"msp": "Acme IT", "event": {"event_id": "evt_1"}})
        );
        assert_eq!(out.content_type, "application/json");
        assert_eq!(out.header("X-MSP"), Some("acme"));
        assert_eq!(out.header("X-Tier"), Some("gold"));
        assert_eq!(out.headers.len(), 2);
    }

    #[test]
    fn headers_are_optional() {
        let out = run(Request::json(&json!([1])), r#"{"msp_name": "Acme"}"#).unwrap();
        assert!(out.headers.is_empty());
        assert_eq!(out.body_json().unwrap()["event"], json!([1]));
    }

    #[test]
    fn bad_config_is_invalid_config() {
        for config in [
            "",
            r#"{"msp_name": "  "}"#,
            r#"{"msp_name": "A", "headers": {"Bad Name": "x"}}"#,
            r#"{"msp_name": "A", "headers": {"X-Ok": "line\r\nInjected: 1"}}"#,
        ] {
            let got = run(Request::json(&json!({})), config);
            assert!(
                matches!(got, Err(Error::InvalidConfig(_))),
                "{config}: {got:?}"
            );
        }
    }

    #[test]
    fn non_json_body_is_an_error() {
        let request = Request {
            body: b"<xml/>".to_vec(),
            ..Request::default()
        };
        let got = run(request, r#"{"msp_name": "Acme"}"#);
        assert!(matches!(got, Err(Error::InvalidEvent(_))), "{got:?}");
    }

    /// The cases in `plugins/cases/msp-branding.json`, which the TypeScript
    /// version in `plugins/js` must also pass.
    #[test]
    fn shared_cases_hold() {
        plugin_cases::check_transform::<MspBranding>(include_str!("../../cases/msp-branding.json"));
    }
}
