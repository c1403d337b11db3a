//! Health, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
async fn healthz() -> &'static str {
    "ok"
}

/// The store answers and migrations have run.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, description = "store unreachable")))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.hub.store.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unreachable")
    }
}

/// Most webhooks given per-webhook gauges in one scrape, bounding its cost
/// (a few index lookups per webhook).
const MAX_WEBHOOK_GAUGES: i64 = 10_000;

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let by_status = state
        .hub
        .store
        .count_owed_deliveries()
        .await
        .unwrap_or_default();
    let now = state.hub.now();
    state
        .hub
        .metrics
        .plugin_instances_kept
        .set(state.hub.plugins.kept_instances() as i64);
    state
        .hub
        .metrics
        .plugin_instances_reused
        .inc_by(state.hub.plugins.take_reused_calls());
    let health = state
        .hub
        .store
        .all_webhook_health(now, MAX_WEBHOOK_GAUGES)
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state
            .hub
            .metrics
            .render_with_health(&by_status, &health, now),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_string(),
    )
}
