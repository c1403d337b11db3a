//! `/v1/orgs/{org_id}/applications…`: OAuth clients.

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
use crate::hub::applications::{ApplicationPatch, NewApplication};
use crate::storage::applications::ApplicationRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_application, list_applications))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(rotate_secret))
}

/// An application as the API shows it (never its secret, except once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    id: String,
    /// The OAuth client id (public).
    client_id: String,
    name: String,
    description: String,
    redirect_uris: Vec<String>,
    scopes: Vec<Scope>,
    token_lifetime_secs: i64,
    /// The service account that acts for the application (`act.sub` in exchanged tokens).
    service_account_id: String,
    previous_secret_expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    /// Only in the answer to create: the client secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

fn view(a: ApplicationRecord, secret: Option<String>) -> ApplicationView {
    ApplicationView {
        client_id: a.id.clone(),
        id: a.id,
        name: a.name,
        description: a.description,
        redirect_uris: a.redirect_uris,
        scopes: a.scopes,
        token_lifetime_secs: a.token_lifetime_secs,
        service_account_id: a.service_account_id,
        previous_secret_expires_at: a.prev_secret_expires_at.map(rfc3339),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
        client_secret: secret,
    }
}

type AppPath = Path<(String, String)>;

/// Creates an application; the answer carries `client_secret`, shown only here. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/applications", tag = "applications", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)), request_body = NewApplication,
    responses((status = 201, body = ApplicationView), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn create_application(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    input: ApiJson<NewApplication>,
) -> ApiResult<(StatusCode, Json<ApplicationView>)> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let (app, secret) = state.hub.create_application(&org_id, p, input).await?;
    Ok((StatusCode::CREATED, Json(view(app, Some(secret)))))
}

/// Lists applications. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/applications", tag = "applications", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<ApplicationView>), (status = 401), (status = 403), (status = 404)))]
async fn list_applications(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
) -> ApiResult<Json<Vec<ApplicationView>>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    Ok(Json(
        state
            .hub
            .store
            .list_applications(&org_id)
            .await?
            .into_iter()
            .map(|a| view(a, None))
            .collect(),
    ))
}

/// One application. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/applications/{application_id}", tag = "applications", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("application_id" = String, Path)), responses((status = 200, body = ApplicationView), (status = 401), (status = 403), (status = 404)))]
async fn get_application(
    State(state): State<AppState>,
    Path((org_id, id)): AppPath,
    auth: Auth,
) -> ApiResult<Json<ApplicationView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let app = state
        .hub
        .store
        .get_application(Some(&org_id), &id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    Ok(Json(view(app, None)))
}

/// Edits an application (scopes, lifetime, redirect URIs…). Scope `admin:write`.
#[utoipa::path(patch, path = "/v1/orgs/{org_id}/applications/{application_id}", tag = "applications", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("application_id" = String, Path)), request_body = ApplicationPatch,
    responses((status = 200, body = ApplicationView), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn update_application(
    State(state): State<AppState>,
    Path((org_id, id)): AppPath,
    auth: Auth,
    patch: ApiJson<ApplicationPatch>,
) -> ApiResult<Json<ApplicationView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let patch = patch.parse()?;
    Ok(Json(view(
        state.hub.update_application(&org_id, p, &id, patch).await?,
        None,
    )))
}

/// Deletes an application; its tokens stop working at once. Scope `admin:write`.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/applications/{application_id}", tag = "applications", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("application_id" = String, Path)), responses((status = 204), (status = 401), (status = 403), (status = 404)))]
async fn delete_application(
    State(state): State<AppState>,
    Path((org_id, id)): AppPath,
    auth: Auth,
) -> ApiResult<StatusCode> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    state.hub.delete_application(&org_id, p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedClientSecret {
    /// The new secret, shown once.
    client_secret: String,
    /// Until then the old secret still authenticates.
    previous_secret_expires_at: String,
}

/// A new client secret; the old one keeps working for 24 h. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/applications/{application_id}/rotate-secret", tag = "applications", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("application_id" = String, Path)), responses((status = 200, body = RotatedClientSecret), (status = 401), (status = 403), (status = 404)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Path((org_id, id)): AppPath,
    auth: Auth,
) -> ApiResult<Json<RotatedClientSecret>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let (secret, expires) = state.hub.rotate_application_secret(&org_id, p, &id).await?;
    Ok(Json(RotatedClientSecret {
        client_secret: secret,
        previous_secret_expires_at: rfc3339(expires),
    }))
}
