//! `Config`: the JSON configuration a webhook attaches to a plugin.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// The configuration text the host passed for this call, unparsed until the
/// plugin asks. An absent configuration (empty text or `null`) reads as
/// `{}`, so a struct whose fields all have `#[serde(default)]` parses from
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    raw: String,
}

impl Config {
    /// Wraps configuration text as the host sends it (tests build these).
    pub fn new(raw: impl Into<String>) -> Self {
        Self { raw: raw.into() }
    }

    /// The text exactly as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether the webhook attached no configuration at all.
    pub fn is_absent(&self) -> bool {
        matches!(self.raw.trim(), "" | "null")
    }

    /// Deserializes the configuration into `T`; a mismatch becomes
    /// [`Error::InvalidConfig`] naming the problem, so `?` is enough.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let text = if self.is_absent() {
            "{}"
        } else {
            self.raw.as_str()
        };
        serde_json::from_str(text).map_err(Error::invalid_config)
    }

    /// Like [`Config::parse`], for a configuration that must be a JSON
    /// object (absent reads as `{}`). serde would otherwise read a JSON
    /// array into a struct's fields by position, so `["/role", ["owner"]]`
    /// would pass for `{"pointer": "/role", "allowed": ["owner"]}`; this
    /// refuses it with an [`Error::InvalidConfig`] that says so.
    pub fn parse_object<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if !self.is_absent() && !self.raw.trim_start().starts_with('{') {
            return Err(Error::invalid_config(
                "configuration must be a JSON object",
            ));
        }
        self.parse()
    }

    /// The configuration as a JSON value (`{}` when absent).
    pub fn json(&self) -> Result<Value, Error> {
        self.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Optional {
        template: Option<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Required {
        #[allow(dead_code)]
        pointer: String,
    }

    #[test]
    fn absent_config_parses_as_empty_object() {
        for raw in ["", "  ", "null"] {
            let parsed: Optional = Config::new(raw).parse().unwrap();
            assert!(parsed.template.is_none());
        }
    }

    #[test]
    fn missing_required_field_is_invalid_config() {
        let err = Config::new(r#"{"other": 1}"#)
            .parse::<Required>()
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig(m) if m.contains("pointer")),
            "{err}"
        );
    }

    #[test]
    fn an_array_is_not_read_into_a_struct_by_position() {
        // serde alone would accept it: the reason parse_object exists.
        assert!(Config::new(r#"["/role"]"#).parse::<Required>().is_ok());
        let err = Config::new(r#"["/role"]"#)
            .parse_object::<Required>()
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig(m) if m.contains("JSON object")),
            "{err}"
        );
        let ok: Required = Config::new(r#" {"pointer": "/role"}"#)
            .parse_object()
            .unwrap();
        assert_eq!(ok.pointer, "/role");
        let absent: Optional = Config::new("null").parse_object().unwrap();
        assert!(absent.template.is_none());
    }

    #[test]
    fn malformed_json_is_invalid_config() {
        let err = Config::new("{not json").json().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)));
    }
}
