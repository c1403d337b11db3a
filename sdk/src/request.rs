//! `Request`: the outgoing HTTP request a transform receives and returns.

use serde_json::Value;

use crate::Error;

/// The content type of JSON bodies.
pub const APPLICATION_JSON: &str = "application/json";

/// The request the host is about to send for a delivery. The host adds its
/// own `X-ScaiDrive-*` headers and signs the body after the transform.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The exact bytes of the body.
    pub body: Vec<u8>,
    /// Extra headers, name and value, in order.
    pub headers: Vec<(String, String)>,
    /// The `Content-Type` of the body.
    pub content_type: String,
}

impl Request {
    /// A request whose body is `value` serialized as JSON, with no headers.
    pub fn json(value: &Value) -> Self {
        let mut request = Self::default();
        request.set_body_json(value);
        request
    }

    /// The body parsed as JSON; a body that is not JSON is
    /// [`Error::InvalidEvent`].
    pub fn body_json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::invalid_event(format!("body is not JSON: {e}")))
    }

    /// Replaces the body with `value` as JSON and sets the content type to
    /// `application/json`.
    pub fn set_body_json(&mut self, value: &Value) {
        self.body = value.to_string().into_bytes();
        self.content_type = APPLICATION_JSON.to_owned();
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets header `name` to `value`, replacing every header of that name
    /// (case-insensitive).
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_body_round_trips_and_sets_content_type() {
        let request = Request::json(&json!({"a": 1}));
        assert_eq!(request.content_type, APPLICATION_JSON);
        assert_eq!(request.body_json().unwrap(), json!({"a": 1}));
    }

    #[test]
    fn non_json_body_is_invalid_event() {
        let request = Request {
            body: b"plain".to_vec(),
            ..Request::default()
        };
        assert!(matches!(request.body_json(), Err(Error::InvalidEvent(_))));
    }

    #[test]
    fn set_header_replaces_case_insensitively() {
        let mut request = Request::default();
        request.set_header("X-Tenant", "a");
        request.set_header("x-tenant", "b");
        assert_eq!(
            request.headers,
            vec![("x-tenant".to_owned(), "b".to_owned())]
        );
        assert_eq!(request.header("X-TENANT"), Some("b"));
    }
}
