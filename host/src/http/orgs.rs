//! The caller (`/v1/me`) and child organisations (`/v1/orgs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Auth;
use super::json::ApiJson;
use crate::clock::rfc3339;
use crate::domain::Scope;
use crate::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(create_org))
}

/// Who the token belongs to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MeView {
    principal_id: String,
    org_id: String,
    kind: String,
    scopes: Vec<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_account: Option<String>,
}

/// The calling principal. Any valid token.
#[utoipa::path(get, path = "/v1/me", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, description = "missing or bad token")))]
async fn me(auth: Auth) -> Json<MeView> {
    let p = auth.0;
    Json(MeView {
        principal_id: p.user_id,
        org_id: p.org_id,
        kind: p.kind,
        scopes: p.scopes,
        service_account: p.service_account,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrgView {
    id: String,
    name: String,
    parent_id: Option<String>,
    created_at: String,
}

/// Creates a child organisation of the caller's (an MSP's customer). Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = NewOrg, security(("bearer" = ["admin:write"])),
    responses((status = 201, body = OrgView), (status = 403, description = "insufficient_scope"), (status = 422, description = "bad field")))]
async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    input: ApiJson<NewOrg>,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let principal = auth.require_scope(Scope::AdminWrite)?;
    let input = input.parse()?;
    let org = state
        .hub
        .create_child_org(principal, &input.name)
        .await
        .map_err(ApiError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(OrgView {
            id: org.id,
            name: org.name,
            parent_id: org.parent_id,
            created_at: rfc3339(org.created_at),
        }),
    ))
}
