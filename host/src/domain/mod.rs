//! The domain vocabulary: events, webhooks, scopes, and the validation that
//! turns untrusted JSON into them. Nothing here touches storage or HTTP.

pub mod event;
pub mod latency;
pub mod scope;
pub mod webhook;

pub use event::{ActionPattern, Category, Event};
pub use scope::Scope;
pub use webhook::{Filters, WebhookInput, WebhookPatch};

/// A named field of the input is wrong; `field` is a path such as
/// `events[2].timestamp` or `filters.ip_ranges[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Joins a path prefix and a field name (`""` + `name` is `name`).
pub(crate) fn path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
