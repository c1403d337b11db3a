//! `/v1/orgs/{org_id}/plugins…`: upload, list, read, delete, test.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Auth;
use super::json::ApiJson;
use crate::clock::rfc3339;
use crate::domain::{FieldError, Scope};
use crate::error::{ApiError, ApiResult};
use crate::hub::plugins::TestOutcome;
use crate::storage::plugins::{PluginRecord, status};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_plugin, list_plugins))
        .routes(routes!(get_plugin, delete_plugin))
        .routes(routes!(test_plugin))
}

/// A plugin version.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginView {
    id: String,
    /// The organisation that uploaded it (an MSP's plugins are listed to its customers).
    org_id: String,
    name: String,
    version: i64,
    kind: String,
    /// Hex SHA-256 of the uploaded `.wasm`.
    sha256: String,
    size: i64,
    created_at: String,
    /// `compiling` (uploaded, its compile queued or running), `ready`
    /// (may be attached and tested) or `failed` (see `status_reason`).
    #[schema(example = "ready")]
    status: String,
    /// Why the compile failed, when `status` is `failed`.
    status_reason: Option<String>,
}

pub(super) fn view(p: PluginRecord) -> PluginView {
    PluginView {
        id: p.id,
        org_id: p.org_id,
        name: p.name,
        version: p.version,
        kind: p.kind,
        sha256: p.sha256,
        size: p.size,
        created_at: rfc3339(p.created_at),
        status: p.status,
        status_reason: p.status_reason,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// 1–64 of `[a-z0-9._-]`; uploading an existing name makes its next version.
    name: Option<String>,
    /// `filter` or `transform`: the world the component must export.
    kind: Option<String>,
}

/// Uploads a `.wasm` component as a new immutable version. It is checked
/// at once (a component of the declared world, importing nothing beyond
/// WASI, within the size cap), then compiled once, in the background, one
/// compile at a time per process. The answer waits up to 2 s for the
/// compile: 201 with `status` `ready` (or 422 with the compile error);
/// a longer compile answers 202 with `status` `compiling` and a
/// `Location` to poll until it is `ready` or `failed`. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/plugins", tag = "plugins", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), UploadParams), request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = PluginView, description = "compiled: `status` is `ready`"),
        (status = 202, body = PluginView, description = "still compiling: poll `Location` until `status` is `ready` or `failed`",
            headers(("Location" = String, description = "the version's URL"))),
        (status = 422, description = "not a valid plugin; `field` says why"),
        (status = 413), (status = 401), (status = 403), (status = 404)))]
async fn upload_plugin(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    Query(params): Query<UploadParams>,
    body: Body,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, String); 1],
    Json<PluginView>,
)> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    // The body first: answered before it is read, the connection could
    // not carry the client's next request.
    let limit = state.hub.plugins.limits().max_module_bytes;
    let bytes = axum::body::to_bytes(body, limit + 1)
        .await
        .map_err(|_| ApiError::TooLarge(limit))?;
    if bytes.len() > limit {
        return Err(ApiError::TooLarge(limit));
    }
    let name = params
        .name
        .ok_or_else(|| FieldError::new("name", "is required"))?;
    let kind = params
        .kind
        .ok_or_else(|| FieldError::new("kind", "is required (filter or transform)"))?;
    if bytes.is_empty() {
        return Err(FieldError::new("body", "must be the .wasm component").into());
    }
    let record = state
        .hub
        // Without a copy: the request's bytes become the stored module.
        .upload_plugin(&org_id, p, &name, &kind, Vec::from(bytes))
        .await?;
    let location = format!("/v1/orgs/{org_id}/plugins/{}", record.id);
    let code = if record.status == status::READY {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, [(header::LOCATION, location)], Json(view(record))))
}

/// Plugin versions usable here: this organisation's and its MSP's. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/plugins", tag = "plugins", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path)), responses((status = 200, body = Vec<PluginView>), (status = 401), (status = 403), (status = 404)))]
async fn list_plugins(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
) -> ApiResult<Json<Vec<PluginView>>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let mut out = Vec::new();
    for org in state.hub.plugin_scope(&org_id).await? {
        out.extend(
            state
                .hub
                .store
                .list_plugins(&org)
                .await?
                .into_iter()
                .map(view),
        );
    }
    Ok(Json(out))
}

/// One plugin version. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/plugins/{plugin_id}", tag = "plugins", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("plugin_id" = String, Path)), responses((status = 200, body = PluginView), (status = 401), (status = 403), (status = 404)))]
async fn get_plugin(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
) -> ApiResult<Json<PluginView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let scope = state.hub.plugin_scope(&org_id).await?;
    let p = state
        .hub
        .store
        .get_plugin(&scope, &id)
        .await?
        .ok_or(ApiError::NotFound("plugin"))?;
    Ok(Json(view(p)))
}

/// Deletes a plugin version that no webhook uses. Scope `admin:write`.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/plugins/{plugin_id}", tag = "plugins", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("plugin_id" = String, Path)),
    responses((status = 204), (status = 409, description = "still attached"), (status = 401), (status = 403), (status = 404)))]
async fn delete_plugin(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
) -> ApiResult<StatusCode> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    state.hub.delete_plugin(&org_id, p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    /// A sample event, validated like an ingested one.
    #[schema(value_type = Object)]
    event: Value,
    /// The configuration to run it with.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TestRequestView {
    /// The body as text (lossy UTF-8).
    body: String,
    headers: Vec<(String, String)>,
    content_type: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TestResultView {
    /// `deliver` or `skip`, for a filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'static str>,
    /// The transformed request, for a transform.
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<TestRequestView>,
    /// What went wrong, when the plugin failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_us: u64,
    fuel_used: u64,
}

/// Runs the plugin on a sample event and answers its verdict or transformed
/// request, with the time and fuel it used. A version not `ready` answers
/// 409 with its status. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/plugins/{plugin_id}/test", tag = "plugins", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("plugin_id" = String, Path)), request_body = TestInput,
    responses((status = 200, body = TestResultView), (status = 409, description = "the version is still compiling, or failed to compile"),
        (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn test_plugin(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
    input: ApiJson<TestInput>,
) -> ApiResult<Json<TestResultView>> {
    auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let (outcome, report) = state
        .hub
        .test_plugin(&org_id, &id, &input.event, &input.config)
        .await?;
    Ok(Json(TestResultView::new(outcome, report)))
}

impl TestResultView {
    /// A call's outcome with its time and fuel, as a test or a script run
    /// (`http/scripts.rs`) answers it.
    pub fn new(outcome: TestOutcome, report: crate::plugin::CallReport) -> TestResultView {
        let mut view = TestResultView {
            verdict: None,
            request: None,
            error: None,
            duration_us: report.duration.as_micros() as u64,
            fuel_used: report.fuel_used,
        };
        match outcome {
            TestOutcome::Verdict(deliver) => {
                view.verdict = Some(if deliver { "deliver" } else { "skip" })
            }
            TestOutcome::Request(r) => {
                view.request = Some(TestRequestView {
                    body: String::from_utf8_lossy(&r.body).into_owned(),
                    headers: r.headers,
                    content_type: r.content_type,
                })
            }
            TestOutcome::Error(e) => view.error = Some(e.to_string()),
        }
        view
    }

    /// What went wrong, when the plugin failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}
