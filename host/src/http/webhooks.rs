//! `/v1/orgs/{org_id}/webhooks…`: create, list, read, change, delete,
//! pause, resume, rotate the secret, send a test event.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::deliveries::DeliveryView;
use super::json::ApiJson;
use super::{AppState, Page, PageQuery, page_limit};
use crate::clock::rfc3339;
use crate::domain::webhook::{
    Filters, OnPluginError, Ordering, PluginRef, SignatureScheme, WebhookInput, WebhookPatch,
};
use crate::domain::{Category, FieldError, Scope};
use crate::error::{ApiError, ApiResult};
use crate::hub::recovery::RecoverInput;
use crate::storage::health::{HealthRecord, HealthStatus};
use crate::storage::webhooks::WebhookRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(pause_webhook))
        .routes(routes!(resume_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(test_webhook))
        .routes(routes!(recover_deliveries))
}

/// A webhook as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    id: String,
    name: String,
    url: String,
    events: Vec<Category>,
    actions: Vec<String>,
    filters: Filters,
    headers: BTreeMap<String, String>,
    paused: bool,
    /// Why ScaiHub paused the webhook itself (its receiver answered
    /// `410 Gone`); `null` when it runs or an admin paused it. A resume clears it.
    paused_reason: Option<String>,
    queue_limit: i64,
    /// Events refused since the webhook was last resumed because its queue was full.
    overflow_count: i64,
    filter_plugins: Vec<PluginRef>,
    transform_plugin: Option<PluginRef>,
    on_plugin_error: OnPluginError,
    signature_scheme: SignatureScheme,
    /// Deliveries per second at most, across every process; `null`: none.
    rate_limit: Option<u32>,
    /// Attempts at once at most, across every process; `null`: the
    /// process setting (`SCAIHUB_MAX_IN_FLIGHT_PER_WEBHOOK`, per process).
    max_in_flight: Option<u32>,
    /// `unordered`, or `fifo`: one delivery at a time, in event order,
    /// across every process; a failing one holds those behind it until it
    /// succeeds or is dropped.
    ordering: Ordering,
    created_at: String,
    updated_at: String,
    /// Only in the answer to create: the signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// How delivery to this webhook is going; in the answers to get and list.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<HealthView>,
}

/// A webhook's delivery health, for finding failing receivers at a glance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `failing` from the first failed attempt after a success until the next success.
    status: HealthStatus,
    /// Successful attempts over all attempts in the last 24 hours (hourly
    /// buckets); `null` when there was no attempt.
    success_rate: Option<f64>,
    /// Attempts in the last 24 hours.
    attempts_24h: i64,
    /// Deliveries still owed: pending, retrying and queued.
    queue_depth: i64,
    /// Failed attempts since the last success.
    consecutive_failures: i64,
    /// The last failure, short: `HTTP 503`, `timed out`, `could not connect: …`.
    last_error: Option<String>,
    last_success_at: Option<String>,
    last_failure_at: Option<String>,
    /// When the current run of failures began; `null` unless failing.
    failing_since: Option<String>,
}

impl HealthView {
    pub fn new(h: &HealthRecord) -> HealthView {
        HealthView {
            status: h.status(),
            success_rate: h.success_rate(),
            attempts_24h: h.successes + h.failures,
            queue_depth: h.queue_depth,
            consecutive_failures: h.consecutive_failures,
            last_error: h.last_error.clone(),
            last_success_at: h.last_success_at.map(rfc3339),
            last_failure_at: h.last_failure_at.map(rfc3339),
            failing_since: h.failing_since.map(rfc3339),
        }
    }
}

/// The webhooks as the API shows them, with their health.
async fn views_with_health(
    state: &AppState,
    org_id: &str,
    rows: Vec<WebhookRecord>,
) -> ApiResult<Vec<WebhookView>> {
    let ids: Vec<String> = rows.iter().map(|w| w.id.clone()).collect();
    let mut health: std::collections::HashMap<String, HealthRecord> = state
        .hub
        .store
        .webhook_health(org_id, &ids, state.hub.now())
        .await?
        .into_iter()
        .map(|h| (h.webhook_id.clone(), h))
        .collect();
    Ok(rows
        .into_iter()
        .map(|w| {
            let h = health.remove(&w.id);
            let mut view = WebhookView::new(w, None);
            view.health = h.as_ref().map(HealthView::new);
            view
        })
        .collect())
}

/// `?health=` on the webhook list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// Only webhooks in this state: `failing`, `healthy`, `paused` or `idle`.
    pub health: Option<String>,
}

impl WebhookView {
    pub fn new(w: WebhookRecord, secret: Option<String>) -> WebhookView {
        let s = w.settings;
        WebhookView {
            id: w.id,
            name: s.name,
            url: s.url,
            events: s.events,
            actions: s.actions,
            filters: s.filters,
            headers: s.headers,
            paused: w.paused,
            paused_reason: w.paused_reason,
            queue_limit: s.queue_limit,
            overflow_count: w.overflow_count,
            filter_plugins: s.filter_plugins,
            transform_plugin: s.transform_plugin,
            on_plugin_error: s.on_plugin_error,
            signature_scheme: s.signature_scheme,
            rate_limit: s.rate_limit,
            max_in_flight: s.max_in_flight,
            ordering: s.ordering,
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
            secret,
            health: None,
        }
    }
}

type WebhookPath = Path<(String, String)>;

/// Creates a webhook; the answer carries its `secret`, shown only here. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/webhooks", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path)), request_body = WebhookInput,
    responses((status = 201, body = WebhookView), (status = 422, description = "a field is wrong; `field` names it"), (status = 401), (status = 403), (status = 404)))]
async fn create_webhook(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    input: ApiJson<WebhookInput>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let (record, secret) = state.hub.create_webhook(&org_id, &p.actor(), input).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookView::new(record, Some(secret))),
    ))
}

/// Lists webhooks, oldest first, with their health; `?health=failing`
/// finds the ones whose receiver is failing. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/webhooks", tag = "webhooks", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), PageQuery, HealthQuery),
    responses((status = 200, body = Page<WebhookView>), (status = 401), (status = 403), (status = 404)))]
async fn list_webhooks(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    Query(page): Query<PageQuery>,
    Query(filter): Query<HealthQuery>,
) -> ApiResult<Json<Page<WebhookView>>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let limit = page_limit(page.limit)?;
    let health = filter
        .health
        .as_deref()
        .map(|h| {
            HealthStatus::parse(h).ok_or_else(|| {
                FieldError::new("health", "must be one of failing healthy paused idle")
            })
        })
        .transpose()?;
    let rows = match health {
        None => {
            state
                .hub
                .store
                .list_webhooks(&org_id, page.cursor.as_deref(), limit)
                .await?
        }
        Some(h) => {
            state
                .hub
                .store
                .list_webhooks_by_health(&org_id, h, state.hub.now(), page.cursor.as_deref(), limit)
                .await?
        }
    };
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|w| w.id.clone()))
        .flatten();
    Ok(Json(Page {
        data: views_with_health(&state, &org_id, rows).await?,
        next_cursor,
    }))
}

/// One webhook. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 401), (status = 403), (status = 404)))]
async fn get_webhook(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
) -> ApiResult<Json<WebhookView>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let w = state
        .hub
        .store
        .get_webhook(&org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    let view = views_with_health(&state, &org_id, vec![w]).await?.pop();
    Ok(Json(view.ok_or(ApiError::NotFound("webhook"))?))
}

/// Changes some fields; absent fields stay as they are. Scope `admin:write`.
#[utoipa::path(patch, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)), request_body = WebhookPatch,
    responses((status = 200, body = WebhookView), (status = 422), (status = 401), (status = 403), (status = 404)))]
async fn update_webhook(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
    patch: ApiJson<WebhookPatch>,
) -> ApiResult<Json<WebhookView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let patch = patch.parse()?;
    let w = state
        .hub
        .update_webhook(&org_id, &id, &p.actor(), patch)
        .await?;
    Ok(Json(WebhookView::new(w, None)))
}

/// Deletes the webhook and its delivery log. Scope `admin:write`.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
async fn delete_webhook(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
) -> ApiResult<StatusCode> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    state.hub.delete_webhook(&org_id, &id, &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops sending; matching events queue up to `queue_limit`. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/pause", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 401), (status = 403), (status = 404)))]
async fn pause_webhook(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
) -> ApiResult<Json<WebhookView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    Ok(Json(WebhookView::new(
        state.hub.pause_webhook(&org_id, &id, &p.actor()).await?,
        None,
    )))
}

/// Resumes sending; the queue is delivered oldest first. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/resume", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 401), (status = 403), (status = 404)))]
async fn resume_webhook(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
) -> ApiResult<Json<WebhookView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    Ok(Json(WebhookView::new(
        state.hub.resume_webhook(&org_id, &id, &p.actor()).await?,
        None,
    )))
}

/// What a recovery did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveredView {
    /// Deliveries sent again (same ids, a new attempt each), or queued
    /// for the resume when the webhook is paused.
    recovered: u64,
}

/// Sends again the webhook's deliveries created in a window that ended
/// badly (`dropped`, `plugin_failed`, `overflowed` by default): the same
/// deliveries, each with one new attempt, at most once per call; audited.
/// Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/recover", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    request_body = RecoverInput,
    responses((status = 200, body = RecoveredView), (status = 401), (status = 403), (status = 404), (status = 422)))]
async fn recover_deliveries(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
    input: ApiJson<RecoverInput>,
) -> ApiResult<Json<RecoveredView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let input = input.parse()?;
    let recovered = state
        .hub
        .recover_deliveries(&org_id, &id, &p.actor(), input)
        .await?;
    Ok(Json(RecoveredView { recovered }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedView {
    /// The new secret, shown once; it signs from now on.
    secret: String,
    /// Until then the old secret signs too: `sha256=<new>,sha256=<old>`
    /// (`v1,<new> v1,<old>` in the standard scheme).
    previous_secret_expires_at: String,
}

/// Issues a new signing secret; the old one keeps signing beside it for 24 h. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/rotate-secret", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = RotatedView), (status = 401), (status = 403), (status = 404)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
) -> ApiResult<Json<RotatedView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let (_, rotated) = state
        .hub
        .rotate_webhook_secret(&org_id, &id, &p.actor())
        .await?;
    Ok(Json(RotatedView {
        secret: rotated.secret,
        previous_secret_expires_at: rfc3339(rotated.previous_secret_expires_at),
    }))
}

/// Sends a test event to this webhook now and answers the delivery after
/// its first attempt. Scope `admin:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/webhooks/{webhook_id}/test", tag = "webhooks", security(("bearer" = ["admin:write"])),
    params(("org_id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 401), (status = 403), (status = 404)))]
async fn test_webhook(
    State(state): State<AppState>,
    Path((org_id, id)): WebhookPath,
    auth: Auth,
) -> ApiResult<Json<DeliveryView>> {
    let p = auth.require(&state, &org_id, Scope::AdminWrite).await?;
    let d = state.hub.send_test_event(&org_id, &id, &p.actor()).await?;
    let (record, attempts) = state
        .hub
        .store
        .get_delivery(&org_id, &d.id)
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok(Json(DeliveryView::new(record, Some(attempts))))
}
