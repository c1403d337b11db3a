//! `Event` and `Category`: the audit event a plugin is called about, with
//! helpers to read its JSON payload.

use std::fmt;

use serde_json::{Map, Value};

use crate::Error;

/// The kind of activity an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Sign-in, sign-out, token issue and the like.
    Authentication,
    /// Permission checks and changes.
    Authorization,
    /// A file was read, listed or downloaded.
    FileAccess,
    /// A file was created, changed, moved or deleted.
    FileModification,
    /// A share was created, changed or used.
    Sharing,
    /// An administrative action.
    Admin,
    /// A security-relevant signal.
    Security,
    /// Retention, legal hold and other compliance activity.
    Compliance,
}

impl Category {
    /// Every category, in the order the WIT lists them.
    pub const ALL: [Category; 8] = [
        Self::Authentication,
        Self::Authorization,
        Self::FileAccess,
        Self::FileModification,
        Self::Sharing,
        Self::Admin,
        Self::Security,
        Self::Compliance,
    ];

    /// The name as it appears in event JSON: `FILE_ACCESS`, `SHARING`...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "AUTHENTICATION",
            Self::Authorization => "AUTHORIZATION",
            Self::FileAccess => "FILE_ACCESS",
            Self::FileModification => "FILE_MODIFICATION",
            Self::Sharing => "SHARING",
            Self::Admin => "ADMIN",
            Self::Security => "SECURITY",
            Self::Compliance => "COMPLIANCE",
        }
    }

    /// The category named `name` as in event JSON, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event, as the host passes it to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Prefixed unique id, `evt_...`.
    pub event_id: String,
    /// When it happened, RFC 3339 in UTC.
    pub timestamp: String,
    /// What kind of activity it reports.
    pub category: Category,
    /// The action within the category, dotted (`share.member_added`).
    pub action: String,
    /// The acting user, `usr_...`.
    pub user_id: Option<String>,
    /// The resource acted upon.
    pub resource_id: Option<String>,
    /// The event's own details as JSON text; see [`Event::payload_json`].
    pub payload: String,
    /// The client's IP address, when known.
    pub ip_address: Option<String>,
    /// The share involved, when there is one.
    pub share_id: Option<String>,
    /// The service account acting for the user, when there is one.
    pub service_account: Option<String>,
}

impl Event {
    /// The payload parsed as JSON; text that is not JSON is
    /// [`Error::InvalidEvent`].
    pub fn payload_json(&self) -> Result<Value, Error> {
        serde_json::from_str(&self.payload)
            .map_err(|e| Error::invalid_event(format!("payload is not JSON: {e}")))
    }

    /// The value at a JSON pointer (RFC 6901, `/role`, `/items/0/name`)
    /// into the payload; `None` when nothing is there or the payload is not
    /// JSON.
    pub fn pointer(&self, pointer: &str) -> Option<Value> {
        let mut payload = self.payload_json().ok()?;
        payload.pointer_mut(pointer).map(Value::take)
    }

    /// The event as the JSON object a webhook receives without transforms:
    /// snake_case keys, the payload embedded as JSON (or as a string when it
    /// is not JSON), optional fields left out when absent.
    pub fn to_json(&self) -> Value {
        let payload = self
            .payload_json()
            .unwrap_or_else(|_| Value::String(self.payload.clone()));
        let mut object = Map::new();
        let mut put = |key: &str, value: Value| {
            object.insert(key.to_owned(), value);
        };
        put("event_id", self.event_id.clone().into());
        put("timestamp", self.timestamp.clone().into());
        put("category", self.category.as_str().into());
        put("action", self.action.clone().into());
        put("payload", payload);
        let optional = [
            ("user_id", &self.user_id),
            ("resource_id", &self.resource_id),
            ("ip_address", &self.ip_address),
            ("share_id", &self.share_id),
            ("service_account", &self.service_account),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                put(key, value.clone().into());
            }
        }
        Value::Object(object)
    }

    /// A plausible event for tests and examples: a `SHARING`
    /// `share.member_added` with payload `payload`.
    pub fn sample(payload: &Value) -> Self {
        Self {
            event_id: "evt_01SAMPLE".into(),
            timestamp: "2025-01-31T12:00:00Z".into(),
            category: Category::Sharing,
            action: "share.member_added".into(),
            user_id: Some("usr_01SAMPLE".into()),
            resource_id: Some("shr_01SAMPLE".into()),
            payload: payload.to_string(),
            ip_address: Some("203.0.113.7".into()),
            share_id: Some("shr_01SAMPLE".into()),
            service_account: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn category_names_round_trip() {
        for category in Category::ALL {
            assert_eq!(Category::from_name(category.as_str()), Some(category));
        }
        assert_eq!(Category::FileModification.to_string(), "FILE_MODIFICATION");
        assert_eq!(Category::from_name("sharing"), None);
    }

    #[test]
    fn pointer_reads_into_payload() {
        let event = Event::sample(&json!({"role": "viewer", "n": [1, 2]}));
        assert_eq!(event.pointer("/role"), Some(json!("viewer")));
        assert_eq!(event.pointer("/n/1"), Some(json!(2)));
        assert_eq!(event.pointer("/missing"), None);
    }

    #[test]
    fn non_json_payload_is_invalid_event_and_has_no_pointers() {
        let mut event = Event::sample(&json!({}));
        event.payload = "not json".into();
        assert!(matches!(event.payload_json(), Err(Error::InvalidEvent(_))));
        assert_eq!(event.pointer(""), None);
        assert_eq!(event.to_json()["payload"], json!("not json"));
    }

    #[test]
    fn to_json_has_delivered_shape() {
        let event = Event::sample(&json!({"role": "viewer"}));
        let json = event.to_json();
        assert_eq!(json["category"], "SHARING");
        assert_eq!(json["payload"]["role"], "viewer");
        assert_eq!(json["share_id"], "shr_01SAMPLE");
        assert!(json.get("service_account").is_none());
    }
}
