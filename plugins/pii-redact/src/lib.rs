//! `pii-redact`: removes or masks fields of the outgoing JSON body.
//!
//! Config: `{"remove": ["/payload/email"], "mask": ["/payload/phone",
//! "/user_id"], "keep_last": 4}`. Each entry is a JSON pointer (RFC 6901)
//! into the body, which before any other transform is the event JSON, so
//! event fields are `/user_id`, payload fields `/payload/...`.
//! - `remove`: the field is deleted (an array element is taken out).
//! - `mask`: a string longer than `keep_last` characters becomes `***`
//!   followed by its last `keep_last` characters (`+1 555 0100` →
//!   `***0100`); any shorter string, and any number, boolean, object or
//!   array, becomes `***`. `keep_last` defaults to 4; 0 masks everything.
//!
//! Pointers that lead nowhere are ignored: not every event has every field.
//! A body that is not JSON is an error, never sent unredacted by this plugin.

use scaihub_sdk::serde_json::Value;
use scaihub_sdk::{Config, Error, Event, Request, Transform, export_transform};
use serde::Deserialize;

/// The plugin.
pub struct PiiRedact;

/// What to hide, as configured on the webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// Pointers to fields to delete.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Pointers to fields to mask.
    #[serde(default)]
    pub mask: Vec<String>,
    /// How many trailing characters a masked string keeps.
    #[serde(default = "default_keep_last")]
    pub keep_last: usize,
}

fn default_keep_last() -> usize {
    4
}

/// What replaces masked content.
const MASK: &str = "***";

impl Redaction {
    /// Parses and checks the configuration.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let redaction: Self = config.parse_object()?;
        for pointer in redaction.remove.iter().chain(&redaction.mask) {
            if !pointer.starts_with('/') {
                return Err(Error::invalid_config(format!(
                    "pointer {pointer:?} must start with '/'"
                )));
            }
        }
        Ok(redaction)
    }

    /// Applies the redaction to `body` in place: masks first, then removals.
    pub fn apply(&self, body: &mut Value) {
        for pointer in &self.mask {
            if let Some(field) = body.pointer_mut(pointer) {
                *field = Value::String(mask(field, self.keep_last));
            }
        }
        for pointer in &self.remove {
            remove(body, pointer);
        }
    }
}

/// The masked form of `value`.
fn mask(value: &Value, keep_last: usize) -> String {
    match value {
        Value::String(s) if keep_last > 0 && s.chars().count() > keep_last => {
            let tail_start = s
                .char_indices()
                .rev()
                .nth(keep_last - 1)
                .map_or(0, |(i, _)| i);
            format!("{MASK}{}", &s[tail_start..])
        }
        _ => MASK.to_owned(),
    }
}

/// Deletes the field at `pointer` (which starts with '/'), if there is one.
fn remove(body: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match body.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
        }
        _ => {}
    }
}

impl Transform for PiiRedact {
    fn transform(_: &Event, mut request: Request, config: &Config) -> Result<Request, Error> {
        let redaction = Redaction::from_config(config)?;
        let mut body = request.body_json()?;
        redaction.apply(&mut body);
        request.body = body.to_string().into_bytes();
        Ok(request)
    }
}

export_transform!(PiiRedact);

#[cfg(test)]
mod tests {
    use scaihub_sdk::serde_json::json;

    use super::*;

    fn run(body: Value, config: &str) -> Result<Value, Error> {
        let event = Event::sample(&json!({}));
        let out = PiiRedact::transform(&event, Request::json(&body), &Config::new(config))?;
        Ok(out.body_json().unwrap())
    }

    #[test]
    fn removes_and_masks_configured_fields() {
        let body = json!({
            "user_id": "usr_01HXYZABCD",
            "payload": {"email": "a@b.example", "phone": "+1 555 0100", "keep": 1}
        });
        let config = r#"{"remove": ["/payload/email"], "mask": ["/payload/phone", "/user_id"]}"#;
        let out = run(body, config).unwrap();
        assert_eq!(
            out,
            json!({"user_id": "***ABCD", "payload": {"phone": "***0100", "keep": 1}})
        );
    }

    #[test]
    fn short_strings_and_non_strings_are_fully_masked() {
        let body = json!({"pin": "1234", "age": 42, "tags": ["a"]});
        let out = run(body, r#"{"mask": ["/pin", "/age", "/tags"]}"#).unwrap();
        assert_eq!(out, json!({"pin": "***", "age": "***", "tags": "***"}));
    }

    #[test]
    fn keep_last_zero_masks_everything_and_counts_characters() {
        let body = json!({"a": "secret value", "b": "żółw-żółty"});
        assert_eq!(
            run(body.clone(), r#"{"mask": ["/a"], "keep_last": 0}"#).unwrap()["a"],
            "***"
        );
        assert_eq!(run(body, r#"{"mask": ["/b"]}"#).unwrap()["b"], "***ółty");
    }

    #[test]
    fn missing_fields_are_ignored_and_array_items_removed() {
        let body = json!({"list": [1, 2, 3], "a/b": true});
        let config = r#"{"remove": ["/list/1", "/nothing/here", "/list/9", "/a~1b"]}"#;
        assert_eq!(run(body, config).unwrap(), json!({"list": [1, 3]}));
    }

    #[test]
    fn non_json_body_is_an_error() {
        let request = Request {
            body: b"email=a@b".to_vec(),
            ..Request::default()
        };
        let event = Event::sample(&json!({}));
        let got = PiiRedact::transform(&event, request, &Config::new(r#"{"remove": ["/x"]}"#));
        assert!(matches!(got, Err(Error::InvalidEvent(_))), "{got:?}");
    }

    #[test]
    fn relative_pointer_is_invalid_config() {
        let got = run(json!({}), r#"{"mask": ["user_id"]}"#);
        assert!(matches!(got, Err(Error::InvalidConfig(_))), "{got:?}");
    }

    /// The cases in `plugins/cases/pii-redact.json`, which the TypeScript
    /// version in `plugins/js` must also pass.
    #[test]
    fn shared_cases_hold() {
        plugin_cases::check_transform::<PiiRedact>(include_str!("../../cases/pii-redact.json"));
    }
}
