//! `/v1/orgs/{org_id}/users…`: human and service accounts, and personal
//! API keys for service accounts.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::json::ApiJson;
use super::{AppState, Page, PageQuery, page_limit};
use crate::clock::rfc3339;
use crate::domain::Scope;
use crate::error::{ApiError, ApiResult};
use crate::hub::users::{NewApiKey, NewUser, UserPatch};
use crate::storage::orgs::UserRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    id: String,
    scopes: Vec<Scope>,
    expires_at: Option<String>,
    created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    id: String,
    name: String,
    kind: String,
    permissions: Vec<Scope>,
    /// What the person signs in with; `null` when none was given.
    email: Option<String>,
    created_at: String,
    /// Unrevoked keys (never their secrets), when one user is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_keys: Option<Vec<ApiKeyView>>,
}

fn view(u: UserRecord) -> UserView {
    UserView {
        id: u.id,
        name: u.name,
        kind: u.kind,
        permissions: u.permissions,
        email: u.email,
        created_at: rfc3339(u.created_at),
        api_keys: None,
    }
}

type UserPath = Path<(String, String)>;

/// Creates a human (with a password) or a service account. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/users", tag = "users", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)), request_body = NewUser,
    responses((status = 201, body = UserView), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn create_user(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    input: ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let user = state.hub.create_user(&org_id, p, input).await?;
    Ok((StatusCode::CREATED, Json(view(user))))
}

/// Lists users. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/users", tag = "users", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), PageQuery), responses((status = 200, body = Page<UserView>), (status = 401), (status = 403), (status = 404)))]
async fn list_users(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let limit = page_limit(page.limit)?;
    let rows = state
        .hub
        .store
        .list_users(&org_id, page.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|u| u.id.clone()))
        .flatten();
    Ok(Json(Page {
        data: rows.into_iter().map(view).collect(),
        next_cursor,
    }))
}

/// One user with their API keys (ids and scopes only). Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/users/{user_id}", tag = "users", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), responses((status = 200, body = UserView), (status = 401), (status = 403), (status = 404)))]
async fn get_user(
    State(state): State<AppState>,
    Path((org_id, id)): UserPath,
    auth: Auth,
) -> ApiResult<Json<UserView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let user = state
        .hub
        .store
        .get_user(&org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let keys = state.hub.store.list_api_keys(&org_id, &id).await?;
    let mut v = view(user);
    v.api_keys = Some(
        keys.into_iter()
            .map(|k| ApiKeyView {
                id: k.id,
                scopes: k.scopes,
                expires_at: k.expires_at.map(rfc3339),
                created_at: rfc3339(k.created_at),
            })
            .collect(),
    );
    Ok(Json(v))
}

/// Renames a user or changes their permissions; keys lose scopes the user no longer holds. Scope `admin:write`.
#[utoipa::path(patch, path = "/v1/orgs/{org_id}/users/{user_id}", tag = "users", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn update_user(
    State(state): State<AppState>,
    Path((org_id, id)): UserPath,
    auth: Auth,
    patch: ApiJson<UserPatch>,
) -> ApiResult<Json<UserView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let patch = patch.parse()?;
    Ok(Json(view(
        state.hub.update_user(&org_id, p, &id, patch).await?,
    )))
}

/// Deletes a user and revokes their keys. Scope `admin:write`.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/users/{user_id}", tag = "users", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
async fn delete_user(
    State(state): State<AppState>,
    Path((org_id, id)): UserPath,
    auth: Auth,
) -> ApiResult<StatusCode> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    state.hub.delete_user(&org_id, p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewKeyView {
    id: String,
    /// The key itself, shown only here.
    key: String,
}

/// A personal API key for a service account, scopes ⊆ its permissions. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/users/{user_id}/api-keys", tag = "users", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("user_id" = String, Path)), request_body = NewApiKey,
    responses((status = 201, body = NewKeyView), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn create_key(
    State(state): State<AppState>,
    Path((org_id, id)): UserPath,
    auth: Auth,
    input: ApiJson<NewApiKey>,
) -> ApiResult<(StatusCode, Json<NewKeyView>)> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let (key_id, key) = state.hub.create_api_key(&org_id, p, &id, input).await?;
    Ok((StatusCode::CREATED, Json(NewKeyView { id: key_id, key })))
}

/// Revokes a key at once. Scope `admin:write`.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/users/{user_id}/api-keys/{key_id}", tag = "users", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("user_id" = String, Path), ("key_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
async fn revoke_key(
    State(state): State<AppState>,
    Path((org_id, id, key_id)): Path<(String, String, String)>,
    auth: Auth,
) -> ApiResult<StatusCode> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    state.hub.revoke_api_key(&org_id, p, &id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
