//! Events: the JSON object of the audit log, validated from untrusted input.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldError, path};
use crate::clock::{Millis, parse_rfc3339, rfc3339};
use crate::ids::{self, IdKind};

/// The eight audit categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Authentication,
    Authorization,
    FileAccess,
    FileModification,
    Sharing,
    Admin,
    Security,
    Compliance,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Authentication,
        Category::Authorization,
        Category::FileAccess,
        Category::FileModification,
        Category::Sharing,
        Category::Admin,
        Category::Security,
        Category::Compliance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Authentication => "AUTHENTICATION",
            Category::Authorization => "AUTHORIZATION",
            Category::FileAccess => "FILE_ACCESS",
            Category::FileModification => "FILE_MODIFICATION",
            Category::Sharing => "SHARING",
            Category::Admin => "ADMIN",
            Category::Security => "SECURITY",
            Category::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A validated event. Serialises to exactly the JSON a receiver gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub event_id: String,
    /// RFC 3339, normalised to UTC.
    pub timestamp: String,
    pub category: Category,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

const FIELDS: [&str; 10] = [
    "event_id",
    "timestamp",
    "category",
    "action",
    "user_id",
    "resource_id",
    "payload",
    "ip_address",
    "share_id",
    "service_account",
];

impl Event {
    /// Validates one event object; `at` names it in errors (`events[3]`).
    pub fn from_json(value: &Value, at: &str) -> Result<Event, FieldError> {
        let obj = value.as_object().ok_or_else(|| {
            FieldError::new(
                if at.is_empty() { "body" } else { at },
                "must be a JSON object",
            )
        })?;
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(path(at, unknown), "is not an event field"));
        }
        let event_id = required_str(obj, at, "event_id")?;
        if !ids::is_valid(IdKind::Event, event_id) {
            return Err(FieldError::new(
                path(at, "event_id"),
                "must be evt_ followed by 1-120 of [A-Za-z0-9_-]",
            ));
        }
        let timestamp_text = required_str(obj, at, "timestamp")?;
        let ts = parse_rfc3339(timestamp_text).ok_or_else(|| {
            FieldError::new(path(at, "timestamp"), "must be an RFC 3339 date-time")
        })?;
        let category_text = required_str(obj, at, "category")?;
        let category = Category::parse(category_text).ok_or_else(|| {
            FieldError::new(
                path(at, "category"),
                "must be one of AUTHENTICATION AUTHORIZATION FILE_ACCESS FILE_MODIFICATION SHARING ADMIN SECURITY COMPLIANCE",
            )
        })?;
        let action = required_str(obj, at, "action")?;
        if !is_valid_action(action) {
            return Err(FieldError::new(
                path(at, "action"),
                "must be dot-separated segments of [a-z0-9_-], at most 128 characters",
            ));
        }
        let user_id = optional_str(obj, at, "user_id")?;
        if let Some(u) = user_id
            && !ids::is_valid(IdKind::User, u)
        {
            return Err(FieldError::new(
                path(at, "user_id"),
                "must be usr_ followed by 1-120 of [A-Za-z0-9_-]",
            ));
        }
        let resource_id = optional_ref(obj, at, "resource_id")?;
        let share_id = optional_ref(obj, at, "share_id")?;
        let service_account = optional_ref(obj, at, "service_account")?;
        let ip_address = match optional_str(obj, at, "ip_address")? {
            Some(ip) => Some(
                ip.parse::<IpAddr>()
                    .map_err(|_| {
                        FieldError::new(path(at, "ip_address"), "must be an IPv4 or IPv6 address")
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let payload = match obj.get("payload") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => {
                return Err(FieldError::new(
                    path(at, "payload"),
                    "must be a JSON object",
                ));
            }
        };
        Ok(Event {
            event_id: event_id.to_string(),
            timestamp: rfc3339(ts),
            category,
            action: action.to_string(),
            user_id: user_id.map(str::to_string),
            resource_id: resource_id.map(str::to_string),
            payload,
            ip_address,
            share_id: share_id.map(str::to_string),
            service_account: service_account.map(str::to_string),
        })
    }

    /// The timestamp in milliseconds (validated at construction).
    pub fn timestamp_ms(&self) -> Millis {
        parse_rfc3339(&self.timestamp).unwrap_or_default()
    }

    /// The exact bytes a receiver gets (absent a transform).
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("an event always serialises")
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<&'a str, FieldError> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(FieldError::new(path(at, name), "must not be empty")),
        Some(_) => Err(FieldError::new(path(at, name), "must be a string")),
        None => Err(FieldError::new(path(at, name), "is required")),
    }
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<Option<&'a str>, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_str(obj, at, name).map(Some),
    }
}

fn optional_ref<'a>(
    obj: &'a Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<Option<&'a str>, FieldError> {
    let value = optional_str(obj, at, name)?;
    if let Some(v) = value
        && !ids::is_valid_reference(v)
    {
        return Err(FieldError::new(
            path(at, name),
            "must be 1-120 of [A-Za-z0-9_-]",
        ));
    }
    Ok(value)
}

/// `share.member_added`: dot-separated segments of `[a-z0-9_-]`.
pub fn is_valid_action(action: &str) -> bool {
    action.len() <= 128
        && action.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// An action pattern: an exact action, `prefix.*` for everything below a
/// prefix, or `*` for every action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPattern(String);

impl ActionPattern {
    pub fn parse(text: &str, field: &str) -> Result<ActionPattern, FieldError> {
        let ok = text == "*"
            || is_valid_action(text)
            || text.strip_suffix(".*").is_some_and(is_valid_action);
        if ok {
            Ok(ActionPattern(text.to_string()))
        } else {
            Err(FieldError::new(
                field,
                "must be an action (share.member_added), a prefix pattern (share.*) or *",
            ))
        }
    }

    pub fn matches(&self, action: &str) -> bool {
        if self.0 == "*" {
            return true;
        }
        match self.0.strip_suffix(".*") {
            Some(prefix) => action
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
            None => self.0 == action,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "event_id": "evt_1", "timestamp": "2026-05-12T16:23:01+02:00", "category": "SHARING",
            "action": "share.member_added", "user_id": "usr_1", "resource_id": "shr_1",
            "payload": {"principal_id": "usr_2", "role": "contributor"}
        })
    }

    #[test]
    fn valid_event_is_normalised_to_utc() {
        let e = Event::from_json(&sample(), "").unwrap();
        assert_eq!(e.timestamp, "2026-05-12T14:23:01Z");
        assert_eq!(e.category, Category::Sharing);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("category", json!("SHARES"), "category"),
            ("timestamp", json!("yesterday"), "timestamp"),
            ("event_id", json!("123"), "event_id"),
            ("user_id", json!("bob"), "user_id"),
            ("action", json!("Share Added"), "action"),
            ("ip_address", json!("10.0.0.300"), "ip_address"),
            ("payload", json!([1]), "payload"),
            ("colour", json!("red"), "colour"),
        ];
        for (name, value, field) in cases {
            let mut v = sample();
            v[name] = value;
            let err = Event::from_json(&v, "events[2]").unwrap_err();
            assert_eq!(err.field, format!("events[2].{field}"), "{name}");
        }
        let mut v = sample();
        v.as_object_mut().unwrap().remove("action");
        assert_eq!(Event::from_json(&v, "").unwrap_err().field, "action");
    }

    #[test]
    fn action_patterns_match_by_segment() {
        let p = ActionPattern::parse("share.*", "actions[0]").unwrap();
        assert!(p.matches("share.member_added"));
        assert!(p.matches("share.link.created"));
        assert!(!p.matches("share"));
        assert!(!p.matches("shares.member_added"));
        assert!(
            ActionPattern::parse("*", "a")
                .unwrap()
                .matches("anything.at_all")
        );
        assert!(ActionPattern::parse("share.*.x", "a").is_err());
        assert!(ActionPattern::parse("", "a").is_err());
    }
}
