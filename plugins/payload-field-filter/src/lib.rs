//! `payload-field-filter`: delivers an event only when a field of its
//! payload holds one of a list of allowed values.
//!
//! Config: `{"pointer": "/role", "allowed": ["contributor", "owner"]}`.
//! `pointer` is a JSON pointer (RFC 6901) into the event's payload;
//! `allowed` lists JSON values (strings, numbers, booleans, even objects).
//! The event is delivered when the field exists and equals one of them as a
//! JSON value: `"1"` and `1` differ, `1` and `1.0` are the same number. An
//! event whose payload lacks the field, or is not JSON, is skipped.

use scaihub_sdk::serde_json::Value;
use scaihub_sdk::{Config, Error, Event, Filter, Verdict, export_filter};
use serde::Deserialize;

/// The plugin.
pub struct PayloadFieldFilter;

/// The webhook's configuration for this filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// Where the field is in the payload, as a JSON pointer.
    pub pointer: String,
    /// The values that let the event through.
    pub allowed: Vec<Value>,
}

impl FieldRule {
    /// Parses and checks the configuration.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let rule: Self = config.parse_object()?;
        if !rule.pointer.starts_with('/') {
            return Err(Error::invalid_config(format!(
                "pointer {:?} must start with '/'",
                rule.pointer
            )));
        }
        if rule.allowed.is_empty() {
            return Err(Error::invalid_config(
                "allowed must list at least one value",
            ));
        }
        Ok(rule)
    }

    /// Whether `payload` passes: the field exists and is an allowed value.
    pub fn admits(&self, payload: &Value) -> bool {
        payload
            .pointer(&self.pointer)
            .is_some_and(|field| self.allowed.iter().any(|a| same_json_value(a, field)))
    }
}

/// JSON equality in which numbers compare by value (`1 == 1.0`), at any
/// depth: objects compare key by key, arrays element by element.
fn same_json_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Integers compare exactly (no rounding of large ones through f64).
        (Value::Number(x), Value::Number(y)) if !x.is_f64() && !y.is_f64() => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_json_value(a, b)))
        }
        _ => a == b,
    }
}

impl Filter for PayloadFieldFilter {
    fn filter(event: &Event, config: &Config) -> Result<Verdict, Error> {
        let rule = FieldRule::from_config(config)?;
        // A payload that is not JSON has no fields, so it cannot match.
        let admitted = event
            .payload_json()
            .is_ok_and(|payload| rule.admits(&payload));
        Ok(Verdict::deliver_if(admitted))
    }
}

export_filter!(PayloadFieldFilter);

#[cfg(test)]
mod tests {
    use scaihub_sdk::serde_json::json;

    use super::*;

    fn verdict(payload: Value, config: &str) -> Result<Verdict, Error> {
        PayloadFieldFilter::filter(&Event::sample(&payload), &Config::new(config))
    }

    const ROLES: &str = r#"{"pointer": "/role", "allowed": ["contributor", "owner"]}"#;

    #[test]
    fn allowed_string_is_delivered() {
        assert_eq!(
            verdict(json!({"role": "owner"}), ROLES),
            Ok(Verdict::Deliver)
        );
    }

    #[test]
    fn other_value_or_missing_field_is_skipped() {
        assert_eq!(verdict(json!({"role": "viewer"}), ROLES), Ok(Verdict::Skip));
        assert_eq!(verdict(json!({"other": "owner"}), ROLES), Ok(Verdict::Skip));
    }

    #[test]
    fn non_json_payload_is_skipped() {
        let mut event = Event::sample(&json!({}));
        event.payload = "role=owner".into();
        let got = PayloadFieldFilter::filter(&event, &Config::new(ROLES));
        assert_eq!(got, Ok(Verdict::Skip));
    }

    #[test]
    fn numbers_and_bools_compare_as_json_values() {
        let config = r#"{"pointer": "/item/size", "allowed": [10, true]}"#;
        assert_eq!(
            verdict(json!({"item": {"size": 10.0}}), config),
            Ok(Verdict::Deliver)
        );
        assert_eq!(
            verdict(json!({"item": {"size": true}}), config),
            Ok(Verdict::Deliver)
        );
        assert_eq!(
            verdict(json!({"item": {"size": "10"}}), config),
            Ok(Verdict::Skip)
        );
        assert_eq!(
            verdict(json!({"item": {"size": 11}}), config),
            Ok(Verdict::Skip)
        );
    }

    #[test]
    fn bad_config_is_invalid_config() {
        for config in [
            "",
            r#"{"pointer": "role", "allowed": ["x"]}"#,
            r#"{"pointer": "/role", "allowed": []}"#,
            r#"{"pointer": "/role"}"#,
        ] {
            let got = verdict(json!({"role": "x"}), config);
            assert!(
                matches!(got, Err(Error::InvalidConfig(_))),
                "{config}: {got:?}"
            );
        }
    }

    /// The cases in `plugins/cases/payload-field-filter.json`, which the TypeScript
    /// version in `plugins/js` must also pass.
    #[test]
    fn shared_cases_hold() {
        plugin_cases::check_filter::<PayloadFieldFilter>(include_str!(
            "../../cases/payload-field-filter.json"
        ));
    }
}
