//! `GET /v1/orgs/{org_id}/webhooks/{webhook_id}/stats`: the series the
//! console's delivery charts draw, for scripts and dashboards.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Auth;
use crate::clock::rfc3339;
use crate::domain::Scope;
use crate::error::ApiResult;
use crate::hub::stats::{Bar, Series, Window};
use crate::storage::health::HOUR_MS;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webhook_stats))
}

/// `?window=`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `24h` (the default: 24 bars of an hour) or `7d` (28 bars of six hours).
    pub window: Option<String>,
}

/// One bar: what the recorder counted in its span.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BarView {
    /// Start of the bar's span (UTC; hours, or 00/06/12/18 h for 7-day bars).
    start: String,
    /// Attempts the receiver accepted (2xx).
    succeeded: i64,
    /// Failed attempts that were retried (non-2xx, timeout, network error).
    retried: i64,
    /// Failed attempts that were the last: the delivery was dropped.
    failed: i64,
    /// Deliveries a filter plugin skipped.
    filtered: i64,
    /// Deliveries skipped because a plugin failed.
    plugin_failed: i64,
    /// Attempts the receiver answered (any status code): what the
    /// percentiles are computed over.
    answered: i64,
    /// Median time to the receiver's answer, in milliseconds; `null`
    /// without answers. From a histogram with bins about ×1.6 wide (1 ms to
    /// 50 s): the true value lies in the same bin.
    p50_ms: Option<f64>,
    /// 99th percentile of the same.
    p99_ms: Option<f64>,
}

impl BarView {
    fn new(b: &Bar) -> BarView {
        let o = &b.outcomes;
        let tenth = |v: Option<f64>| v.map(|v| (v * 10.0).round() / 10.0);
        BarView {
            start: rfc3339(b.start),
            succeeded: o.succeeded,
            retried: o.retried,
            failed: o.failed,
            filtered: o.filtered,
            plugin_failed: o.plugin_failed,
            answered: b.latency.count(),
            p50_ms: tenth(b.p50()),
            p99_ms: tenth(b.p99()),
        }
    }
}

/// A webhook's delivery statistics over a window.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatsView {
    webhook_id: String,
    /// `24h` or `7d`.
    window: String,
    /// Start of the first bar (UTC).
    from: String,
    /// When this was read; the last bar is still filling.
    until: String,
    /// Length of each bar: 3600 or 21600.
    bar_seconds: i64,
    /// Oldest first.
    bars: Vec<BarView>,
    /// The whole window.
    total: BarView,
}

impl StatsView {
    pub fn new(webhook_id: &str, s: &Series) -> StatsView {
        StatsView {
            webhook_id: webhook_id.to_string(),
            window: s.window.as_str().to_string(),
            from: rfc3339(s.from),
            until: rfc3339(s.until),
            bar_seconds: s.window.bar_hours() * HOUR_MS / 1000,
            bars: s.bars.iter().map(BarView::new).collect(),
            total: BarView::new(&s.total),
        }
    }
}

/// Deliveries by outcome and the receiver's answer times (p50, p99) per
/// hour over the last 24 hours, or per six hours over the last 7 days —
/// what the console's charts draw. Counted by the delivery recorder in
/// hourly buckets, times in UTC. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/stats", tag = "webhooks", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path), StatsQuery),
    responses((status = 200, body = StatsView), (status = 422, description = "`window` is not 24h or 7d"), (status = 401), (status = 403), (status = 404)))]
async fn webhook_stats(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Json<StatsView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let window = Window::parse(q.window.as_deref().unwrap_or("24h"))?;
    let series = state.hub.webhook_stats(&org_id, &id, window).await?;
    Ok(Json(StatsView::new(&id, &series)))
}
