//! The audit log page: filter by category, action, user and time; newest
//! first, one page at a time.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use super::{Console, Layout, PageResult, page, when};
use crate::clock::parse_rfc3339;
use crate::domain::{Category, FieldError, Scope};
use crate::ids::{self, IdKind};
use crate::state::AppState;
use crate::storage::events::AuditQuery;

const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/audit", get(audit))
}

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub before: String,
}

/// A time from a `datetime-local` field (read as UTC) or RFC 3339.
fn time(field: &str, text: &str) -> Result<Option<i64>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let full = match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => text.to_string(),
    };
    parse_rfc3339(&full)
        .map(Some)
        .ok_or_else(|| FieldError::new(field, "must be a date and time"))
}

fn query(f: &Filter) -> Result<AuditQuery, FieldError> {
    let category = match f.category.trim() {
        "" => None,
        c if Category::parse(c).is_some() => Some(c.to_string()),
        _ => return Err(FieldError::new("category", "is not a category")),
    };
    let user_id = match f.user_id.trim() {
        "" => None,
        u if ids::is_valid(IdKind::User, u) => Some(u.to_string()),
        _ => return Err(FieldError::new("user_id", "must be a user id (usr_…)")),
    };
    let before_seq = match f.before.trim() {
        "" => None,
        b => Some(
            b.parse::<i64>()
                .map_err(|_| FieldError::new("before", "is not a page marker"))?,
        ),
    };
    Ok(AuditQuery {
        category,
        action: Some(f.action.trim().to_string()).filter(|a| !a.is_empty()),
        user_id,
        since: time("since", &f.since)?,
        until: time("until", &f.until)?,
        before_seq,
        limit: PAGE,
    })
}

pub struct EventRow {
    pub time: String,
    pub category: String,
    pub action: String,
    pub user: String,
    pub resource: String,
    pub ip: String,
    pub payload: String,
}

fn event_row(body: &str) -> EventRow {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
    EventRow {
        time: text("timestamp").replace('T', " ").replace('Z', " UTC"),
        category: text("category"),
        action: text("action"),
        user: text("user_id"),
        resource: text("resource_id"),
        ip: text("ip_address"),
        payload: serde_json::to_string_pretty(&v["payload"]).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    l: Layout,
    f: Filter,
    error: Option<FieldError>,
    rows: Vec<EventRow>,
    next: Option<String>,
    categories: Vec<&'static str>,
    now: String,
}

impl AuditPage {
    /// The query string of the next page: the same filter, older events.
    fn next_link(&self, before: &str) -> String {
        serde_urlencoded::to_string([
            ("category", self.f.category.as_str()),
            ("action", self.f.action.as_str()),
            ("user_id", self.f.user_id.as_str()),
            ("since", self.f.since.as_str()),
            ("until", self.f.until.as_str()),
            ("before", before),
        ])
        .unwrap_or_default()
    }
}

async fn audit(State(state): State<AppState>, c: Console, Query(f): Query<Filter>) -> PageResult {
    c.need(Scope::AdminRead)?;
    let (rows, next, error, status) = match query(&f) {
        Ok(q) => {
            let found = state.hub.store.audit_events(c.org(), &q).await?;
            let next = (found.len() as i64 == PAGE)
                .then(|| found.last().map(|e| e.seq.to_string()))
                .flatten();
            let rows = found.iter().map(|e| event_row(&e.body)).collect();
            (rows, next, None, StatusCode::OK)
        }
        Err(e) => (Vec::new(), None, Some(e), StatusCode::UNPROCESSABLE_ENTITY),
    };
    let l = Layout::new(&state, &c, "audit", "Audit log").await?;
    Ok(page(
        status,
        &AuditPage {
            l,
            f,
            error,
            rows,
            next,
            categories: Category::ALL.iter().map(|c| c.as_str()).collect(),
            now: when(state.hub.now()),
        },
    ))
}
