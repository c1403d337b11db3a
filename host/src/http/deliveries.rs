//! The delivery log: a webhook's deliveries, one delivery with its
//! attempts, and redelivery.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::{AppState, Page, page_limit};
use crate::clock::rfc3339;
use crate::domain::{FieldError, Scope};
use crate::error::{ApiError, ApiResult};
use crate::storage::deliveries::{AttemptRecord, DeliveryRecord, DeliveryStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    attempted_at: String,
    status_code: Option<i64>,
    duration_ms: i64,
    error: Option<String>,
    /// The first 1 KiB of the receiver's answer.
    response_snippet: Option<String>,
    /// Under `on_plugin_error: deliver_original`, why the transform failed
    /// before the original was sent; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin_error: Option<String>,
}

/// A delivery: one event to one webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    id: String,
    webhook_id: String,
    event_id: String,
    status: DeliveryStatus,
    attempt_count: i64,
    next_attempt_at: Option<String>,
    last_status_code: Option<i64>,
    created_at: String,
    /// Present when one delivery is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<AttemptView>>,
}

impl DeliveryView {
    pub fn new(d: DeliveryRecord, attempts: Option<Vec<AttemptRecord>>) -> DeliveryView {
        DeliveryView {
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at: d
                .next_attempt_at
                .filter(|_| matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Retrying))
                .map(rfc3339),
            last_status_code: d.last_status_code,
            created_at: rfc3339(d.created_at),
            attempts: attempts.map(|list| {
                list.into_iter()
                    .map(|a| AttemptView {
                        attempted_at: rfc3339(a.attempted_at),
                        status_code: a.status_code,
                        duration_ms: a.duration_ms,
                        error: a.error,
                        response_snippet: a.response_snippet,
                        plugin_error: a.plugin_error,
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// One of the delivery statuses.
    status: Option<String>,
    /// 1–500, default 50.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A webhook's deliveries, newest first. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path), DeliveryQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Path((org_id, webhook_id)): Path<(String, String)>,
    auth: Auth,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Page<DeliveryView>>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let status = parse_status(q.status.as_deref())?;
    let limit = page_limit(q.limit)?;
    state
        .hub
        .store
        .get_webhook(&org_id, &webhook_id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    let rows = state
        .hub
        .store
        .list_deliveries(&org_id, &webhook_id, status, q.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(Page {
        data: rows
            .into_iter()
            .map(|d| DeliveryView::new(d, None))
            .collect(),
        next_cursor,
    }))
}

/// One delivery with every attempt. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/deliveries/{delivery_id}", tag = "webhooks", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 401), (status = 403), (status = 404)))]
async fn get_delivery(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
) -> ApiResult<Json<DeliveryView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let (d, attempts) = state
        .hub
        .store
        .get_delivery(&org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok(Json(DeliveryView::new(d, Some(attempts))))
}

/// Sends the delivery's event to its webhook again, as a new delivery. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/deliveries/{delivery_id}/redeliver", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = DeliveryView), (status = 401), (status = 403), (status = 404)))]
async fn redeliver(
    State(state): State<AppState>,
    Path((org_id, id)): Path<(String, String)>,
    auth: Auth,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let d = state.hub.redeliver(&org_id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::new(d, None))))
}

/// A `?status=` filter of a delivery listing (this router's and the
/// per-webhook one in `webhooks.rs`).
pub(crate) fn parse_status(text: Option<&str>) -> Result<Option<DeliveryStatus>, FieldError> {
    text.map(|s| {
        DeliveryStatus::parse(s).ok_or_else(|| {
            FieldError::new("status", "must be one of pending queued succeeded retrying dropped filtered plugin_failed overflowed")
        })
    })
    .transpose()
}
