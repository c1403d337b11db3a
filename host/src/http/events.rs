//! `POST /events` (ingest) and `GET /audit-events` (the audit log).

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Auth, IngestAuth};
use super::json::read_json_body;
use super::{AppState, Page, page_limit};
use crate::clock::parse_rfc3339;
use crate::domain::{Category, Event, FieldError, Scope};
use crate::error::{ApiError, ApiResult};
use crate::hub::group::KeyRef;
use crate::ids::{self, IdKind};
use crate::storage::events::AuditQuery;
use crate::traces::TraceParent;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .routes(routes!(audit_events))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestView {
    /// Ids stored now.
    accepted: Vec<String>,
    /// Ids already known (not delivered again).
    duplicates: Vec<String>,
}

/// Ingests one event object or an array of them; idempotent on `event_id`.
/// Accepted events are durable before the answer. Scope `events:write`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/events", tag = "events", security(("bearer" = ["events:write"])),
    params(("org_id" = String, Path)), request_body(content = Vec<Event>, description = "an event or an array of events"),
    responses((status = 202, body = IngestView), (status = 422, description = "a field is wrong; `field` names it"),
        (status = 413, description = "body too large"), (status = 401), (status = 403), (status = 404)))]
async fn ingest(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Result<IngestAuth, ApiError>,
    req: Request,
) -> Response {
    // The request's span (when traces are exported) continues a producer's
    // trace; its context is stored with the events for their deliveries.
    let producer = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let span = state.hub.traces.ingest(&org_id, producer);
    let answer = ingest_events(&state, &org_id, auth, req, span.context()).await;
    let events = answer
        .as_ref()
        .ok()
        .map(|v| (v.accepted.len(), v.duplicates.len()));
    let response = answer
        .map(|view| (StatusCode::ACCEPTED, Json(view)))
        .into_response();
    span.finish(response.status().as_u16(), events);
    response
}

async fn ingest_events(
    state: &AppState,
    org_id: &str,
    auth: Result<IngestAuth, ApiError>,
    req: Request,
    trace: Option<TraceParent>,
) -> ApiResult<IngestView> {
    let IngestAuth(auth) = auth?;
    let principal = auth.require(state, org_id, Scope::EventsWrite).await?;
    let bytes = read_json_body(req, state).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not valid JSON: {e}")))?;
    let events = match &value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(FieldError::new("body", "must hold at least one event").into());
            }
            if items.len() > MAX_BATCH {
                return Err(FieldError::new(
                    "body",
                    format!("at most {MAX_BATCH} events per request"),
                )
                .into());
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| Event::from_json(v, &format!("[{i}]")))
                .collect::<Result<Vec<_>, _>>()?
        }
        single => vec![Event::from_json(single, "")?],
    };
    // An application acting for a user (an `act` claim) is recorded on
    // the events it reports.
    let events = events
        .into_iter()
        .map(|mut e| {
            if e.service_account.is_none() {
                e.service_account = principal.service_account.clone();
            }
            e
        })
        .collect();
    // A key from the principal cache is checked again where the events
    // are stored.
    let key = principal.key_id.as_ref().map(|key_id| KeyRef {
        org_id: principal.org_id.clone(),
        key_id: key_id.clone(),
    });
    let outcome = state.hub.ingest_as(org_id, events, key, trace).await?;
    Ok(IngestView {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// One of the eight categories.
    category: Option<String>,
    /// An exact action, e.g. `share.member_added`.
    action: Option<String>,
    /// `usr_…`
    user_id: Option<String>,
    /// RFC 3339; events at or after.
    since: Option<String>,
    /// RFC 3339; events before.
    until: Option<String>,
    /// 1–500, default 50.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The audit log, newest first, filtered, paginated. Scope `admin:read`.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/audit-events", tag = "events", security(("bearer" = ["admin:read"])),
    params(("org_id" = String, Path), AuditParams),
    responses((status = 200, body = Page<Event>), (status = 422, description = "a parameter is wrong"), (status = 401), (status = 403), (status = 404)))]
async fn audit_events(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    auth: Auth,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<Page<Box<RawValue>>>> {
    auth.require(&state, &org_id, Scope::AdminRead).await?;
    let q = audit_query(params)?;
    let rows = state.hub.store.audit_events(&org_id, &q).await?;
    let next_cursor = (rows.len() as i64 == q.limit)
        .then(|| rows.last().map(|r| format!("s{}", r.seq)))
        .flatten();
    let data = rows
        .into_iter()
        .map(|r| RawValue::from_string(r.body).map_err(|e| ApiError::Internal(e.into())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page { data, next_cursor }))
}

fn audit_query(p: AuditParams) -> Result<AuditQuery, FieldError> {
    if let Some(c) = &p.category
        && Category::parse(c).is_none()
    {
        return Err(FieldError::new(
            "category",
            "must be one of the eight categories",
        ));
    }
    if let Some(u) = &p.user_id
        && !ids::is_valid(IdKind::User, u)
    {
        return Err(FieldError::new("user_id", "must be a user id (usr_…)"));
    }
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, FieldError> {
        v.as_deref()
            .map(|t| {
                parse_rfc3339(t)
                    .ok_or_else(|| FieldError::new(name, "must be an RFC 3339 date-time"))
            })
            .transpose()
    };
    let before_seq = p
        .cursor
        .as_deref()
        .map(|c| {
            c.strip_prefix('s')
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| FieldError::new("cursor", "is not a cursor from this endpoint"))
        })
        .transpose()?;
    Ok(AuditQuery {
        since: time("since", &p.since)?,
        until: time("until", &p.until)?,
        category: p.category,
        action: p.action,
        user_id: p.user_id,
        before_seq,
        limit: page_limit(p.limit)?,
    })
}
