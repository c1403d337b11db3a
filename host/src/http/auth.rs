//! Bearer authentication and the checks every `/v1` handler makes: who is
//! calling (401), may they see this organisation (404, never 403, so other
//! organisations stay invisible), and does the credential hold the scope (403).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::hub::principals::Principal;

/// An authenticated caller.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, KeyLookup::Store).await
    }
}

/// An authenticated caller of ingest: an API key's principal may come from
/// the hub's cache, because ingest checks the key row again in the
/// transaction that stores the events (`Hub::ingest_as`).
pub struct IngestAuth(pub Auth);

impl FromRequestParts<AppState> for IngestAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(IngestAuth(
            authenticate(parts, state, KeyLookup::Cached).await?,
        ))
    }
}

enum KeyLookup {
    Store,
    Cached,
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    lookup: KeyLookup,
) -> Result<Auth, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated("missing bearer token"))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("malformed authorization header"))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthenticated(
            "authorization must be a bearer token",
        ))?;
    let principal = if crate::oauth::jwt::looks_like_jwt(token) {
        state
            .hub
            .authenticate_access_token(token)
            .await
            .map_err(ApiError::Unauthenticated)?
    } else {
        let found = match lookup {
            KeyLookup::Store => state.hub.authenticate_key(token).await?,
            KeyLookup::Cached => state.hub.authenticate_key_cached(token).await?,
        };
        found.ok_or(ApiError::Unauthenticated(
            "token is unknown, revoked or expired",
        ))?
    };
    Ok(Auth(principal))
}

impl Auth {
    /// Checks access to `org_id` and the scope, in that order.
    pub async fn require(
        &self,
        state: &AppState,
        org_id: &str,
        scope: Scope,
    ) -> Result<&Principal, ApiError> {
        if !state.hub.can_access_org(&self.0, org_id).await? {
            return Err(ApiError::NotFound("organisation"));
        }
        self.require_scope(scope)
    }

    /// Checks the scope alone (for calls outside an organisation path).
    pub fn require_scope(&self, scope: Scope) -> Result<&Principal, ApiError> {
        if !self.0.has(scope) {
            return Err(ApiError::InsufficientScope(scope.as_str()));
        }
        Ok(&self.0)
    }
}
