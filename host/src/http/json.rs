//! `ApiJson`: a JSON extractor whose failures are our [`ApiError`], naming
//! the field that was wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::domain::FieldError;
use crate::error::ApiError;

/// A JSON body, read by the extractor but checked and deserialised only
/// when the handler calls [`ApiJson::parse`] — after it has checked the
/// caller's token and scope, so a caller without the scope learns nothing
/// about the body's rules.
pub struct ApiJson<T> {
    bytes: Bytes,
    is_json: bool,
    _t: std::marker::PhantomData<T>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json(&req);
        let bytes = read_body(req, state).await?;
        Ok(ApiJson {
            bytes,
            is_json,
            _t: std::marker::PhantomData,
        })
    }
}

impl<T: DeserializeOwned> ApiJson<T> {
    /// The body as `T`, or an error naming the wrong field.
    pub fn parse(self) -> Result<T, ApiError> {
        if !self.is_json {
            return Err(ApiError::BadRequest(
                "Content-Type must be application/json".into(),
            ));
        }
        parse(&self.bytes)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(0)
        } else {
            ApiError::BadRequest(format!("cannot read the body: {e}"))
        }
    })
}

/// The body of a request that must be JSON, within the size limit.
pub async fn read_json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(&req) {
        return Err(ApiError::BadRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    read_body(req, state).await
}

/// Deserialises, reporting the path of the first wrong field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        // serde_json reports a value of the wrong kind for a choice of
        // names (a number or null where `"fifo"` belongs) as a syntax
        // error; in a well-formed body it is the field's error.
        let wrong_kind = (inner.is_syntax() || inner.is_eof())
            && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if (inner.is_syntax() || inner.is_eof()) && !wrong_kind {
            return ApiError::BadRequest(format!("body is not valid JSON: {inner}"));
        }
        let mut field = e.path().to_string();
        let message = if wrong_kind {
            "must be one of the names this field accepts, as a string".to_string()
        } else {
            inner.to_string()
        };
        // serde names a missing or unknown field in the message, at the parent's path.
        for marker in ["missing field `", "unknown field `"] {
            if let Some(rest) = message.strip_prefix(marker)
                && let Some(name) = rest.split('`').next()
                && !field.ends_with(name)
            {
                field = if field == "." || field.is_empty() {
                    name.to_string()
                } else {
                    format!("{field}.{name}")
                };
            }
        }
        if field == "." {
            field = "body".into();
        }
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        ApiError::Invalid(FieldError::new(field, message))
    })
}
