//! `/v1/orgs/{org_id}/plugins/scripts…`: script plugins, written in
//! JavaScript: save source as a plugin version, run unsaved source on a
//! sample event, read a version's source. Saved versions are listed,
//! tested, attached and deleted with every other plugin version.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Auth;
use super::json::ApiJson;
use super::plugins::{PluginView, TestResultView, view};
use crate::domain::Scope;
use crate::error::ApiResult;
use crate::hub::plugins::TestOutcome;
use crate::plugin::script::error_line;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_script))
        .routes(routes!(run_script))
        .routes(routes!(script_source))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptInput {
    /// 1–64 of `[a-z0-9._-]`; an existing name gets its next version.
    name: String,
    /// `filter` or `transform`.
    kind: String,
    /// JavaScript defining `function filter(event, config)` or
    /// `function transform(event, request, config)`.
    source: String,
}

/// Saves JavaScript source as a new plugin version, after the script
/// engine has compiled it (a syntax error is a 422 naming `source`, with
/// its line). Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/plugins/scripts", tag = "plugins", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)), request_body = ScriptInput,
    responses((status = 201, body = PluginView), (status = 422, description = "invalid; `field` says which (a syntax error names `source` and its line)"),
        (status = 409, description = "script plugins are not available in this build"),
        (status = 401), (status = 403), (status = 404)))]
async fn create_script(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    input: ApiJson<ScriptInput>,
) -> ApiResult<(StatusCode, Json<PluginView>)> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let record = state
        .hub
        .create_script_plugin(&org_id, p, &input.name, &input.kind, &input.source)
        .await?;
    Ok((StatusCode::CREATED, Json(view(record))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptRunInput {
    /// `filter` or `transform`.
    kind: String,
    /// The JavaScript to run.
    source: String,
    /// A sample event, validated like an ingested one.
    #[schema(value_type = Object)]
    event: Value,
    /// The configuration to run it with.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Value,
}

/// A run's answer: a plugin test's (verdict or request, error, time and
/// fuel) and the source line its error is on.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScriptRunView {
    #[serde(flatten)]
    result: TestResultView,
    /// The line of the source the error is on, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

/// Runs unsaved JavaScript on a sample event in the plugin sandbox, as a
/// saved version would run: its verdict or request, or its error with the
/// line, and the time and fuel it used. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/plugins/scripts/run", tag = "plugins", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)), request_body = ScriptRunInput,
    responses((status = 200, body = ScriptRunView), (status = 422), (status = 409, description = "script plugins are not available in this build"),
        (status = 401), (status = 403), (status = 404)))]
async fn run_script(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    input: ApiJson<ScriptRunInput>,
) -> ApiResult<Json<ScriptRunView>> {
    auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let (outcome, report) = state
        .hub
        .run_script(
            &org_id,
            &input.kind,
            &input.source,
            &input.event,
            &input.config,
        )
        .await?;
    Ok(Json(run_view(outcome, report)))
}

/// The answer of a run, as the API and the console's editor show it.
pub fn run_view(outcome: TestOutcome, report: crate::plugin::CallReport) -> ScriptRunView {
    let result = TestResultView::new(outcome, report);
    let line = result.error().and_then(error_line);
    ScriptRunView { result, line }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScriptSourceView {
    name: String,
    kind: String,
    version: i64,
    source: String,
}

/// The JavaScript source of a script plugin version (404 for a
/// component). Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/plugins/{plugin_id}/source", tag = "plugins", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("plugin_id" = String, Path)),
    responses((status = 200, body = ScriptSourceView), (status = 401), (status = 403), (status = 404)))]
async fn script_source(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
) -> ApiResult<Json<ScriptSourceView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let s = state.hub.script_source(&org_id, &id).await?;
    Ok(Json(ScriptSourceView {
        name: s.name,
        kind: s.kind,
        version: s.version,
        source: s.source,
    }))
}
