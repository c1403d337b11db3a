//! The one error type of the HTTP edge. Domain code returns its own
//! `thiserror` enums; they become an [`ApiError`] here, and only here is it
//! decided what a caller may see. Internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::FieldError;
use crate::storage::StoreError;

/// An error answered to an API caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or credentials we do not accept.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Authenticated, but the credential lacks the scope.
    #[error("this call needs the scope {0}")]
    InsufficientScope(&'static str),
    /// The thing does not exist, or belongs to an organisation the caller cannot see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field of the input is wrong.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The request as a whole is malformed (not JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The body exceeds its limit.
    /// The body exceeds its limit (in bytes, when known).
    #[error("request body is too large{}", limit_text(*.0))]
    TooLarge(usize),
    /// The database cannot be reached right now; retry after a moment.
    #[error("the store is unavailable; retry in a few seconds")]
    Unavailable,
    /// Anything we did not expect; the cause goes to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The `Retry-After` (seconds) of an answer that the store is unavailable.
pub const RETRY_AFTER_SECS: u32 = 2;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "invalid_token"),
            ApiError::InsufficientScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %format!("{err:#}"), "the store is unavailable: answering 503");
            ApiError::Unavailable
        } else {
            ApiError::Internal(err.into())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %format!("{cause:#}"), "internal error answering a request");
        }
        let field = match &self {
            ApiError::Invalid(e) => Some(e.field.as_str()),
            _ => None,
        };
        let message = match &self {
            ApiError::Invalid(e) => e.message.clone(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: code,
            message,
            field,
        };
        let mut response = (status, axum::Json(body)).into_response();
        // The rest of a too-large body is left unread, so the connection
        // cannot carry another request: said, so a client does not reuse
        // it and meet the close mid-request. The same for a refused
        // credential, checked before the body is read.
        if let ApiError::TooLarge(_)
        | ApiError::Unauthenticated(_)
        | ApiError::InsufficientScope(_) = &self
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        match &self {
            ApiError::Unauthenticated(msg) => {
                let value = format!(
                    "Bearer realm=\"scaihub\", error=\"invalid_token\", error_description=\"{msg}\""
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::Unavailable => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            ApiError::InsufficientScope(scope) => {
                let value = format!(
                    "Bearer realm=\"scaihub\", error=\"insufficient_scope\", scope=\"{scope}\""
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            _ => {}
        }
        response
    }
}

fn limit_text(limit: usize) -> String {
    if limit > 0 {
        format!(" (the limit is {limit} bytes)")
    } else {
        String::new()
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
