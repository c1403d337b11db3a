//! `/v1/orgs/{org_id}/sign-in/oidc`: the organisation's own OpenID
//! Connect provider, through which its people sign in. The client secret
//! is write-only: answers say only whether one is set.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Auth;
use super::json::ApiJson;
use crate::clock::rfc3339;
use crate::domain::Scope;
use crate::error::{ApiError, ApiResult};
use crate::hub::oidc::OidcSettingsInput;
use crate::storage::oidc::OidcRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_oidc, put_oidc, delete_oidc))
}

/// An organisation's provider settings, as answered (never the secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct OidcView {
    display_name: String,
    issuer: String,
    client_id: String,
    /// Always `true`: a secret is stored (sealed); it is never answered.
    client_secret_set: bool,
    allowed_domains: Vec<String>,
    /// The redirect URI to register at the provider.
    redirect_uri: String,
    created_at: String,
    updated_at: String,
}

fn view(state: &AppState, r: OidcRecord) -> OidcView {
    OidcView {
        display_name: r.display_name,
        issuer: r.issuer,
        client_id: r.client_id,
        client_secret_set: !r.client_secret.is_empty(),
        allowed_domains: r.allowed_domains,
        redirect_uri: state.hub.oidc_redirect_uri(),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// The organisation's OpenID Connect provider. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/sign-in/oidc", tag = "orgs", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = OidcView), (status = 401), (status = 403), (status = 404, description = "no provider is set up")))]
async fn get_oidc(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
) -> ApiResult<Json<OidcView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let record = state
        .hub
        .store
        .get_org_oidc(&org_id)
        .await?
        .ok_or(ApiError::NotFound("OpenID Connect provider"))?;
    Ok(Json(view(&state, record)))
}

/// Sets up or replaces the organisation's OpenID Connect provider; the
/// issuer's discovery document is fetched and checked first (a 422 on
/// `issuer` when it fails). Scope `admin:write`.
#[utoipa::path(put, path = "/v1/orgs/{org_id}/sign-in/oidc", tag = "orgs", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)), request_body = OidcSettingsInput,
    responses((status = 200, body = OidcView), (status = 422, description = "a bad field, named"), (status = 401), (status = 403), (status = 404)))]
async fn put_oidc(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    input: ApiJson<OidcSettingsInput>,
) -> ApiResult<Json<OidcView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let record = state.hub.put_oidc(&org_id, p, input).await?;
    Ok(Json(view(&state, record)))
}

/// Removes the provider: people sign in with their passwords again.
/// Scope `admin:write`.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/sign-in/oidc", tag = "orgs", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
async fn delete_oidc(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
) -> ApiResult<StatusCode> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    state.hub.delete_oidc(&org_id, p).await?;
    Ok(StatusCode::NO_CONTENT)
}
