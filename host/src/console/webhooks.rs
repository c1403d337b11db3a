//! Console pages for webhooks: the list with each one's health, the new
//! and edit forms, the detail page with recent deliveries, and the
//! actions (pause, resume, rotate the secret, send a test event,
//! redeliver, delete).

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::charts::{Charts, SPARK_HEIGHT, SPARK_WIDTH, Sparkline};
use super::{Console, Layout, PageError, PageResult, Posted, error_for, page, see_other, when};
use crate::domain::webhook::{
    OnPluginError, Ordering, PluginRef, SignatureScheme, WebhookInput, WebhookPatch,
};
use crate::domain::{Category, FieldError, Filters, Scope};
use crate::hub::HubError;
use crate::hub::console::WebhookHealth;
use crate::hub::stats::Window;
use crate::state::AppState;
use crate::storage::deliveries::{DeliveryRecord, DeliveryStatus};
use crate::storage::webhooks::WebhookRecord;

const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/webhooks", get(list).post(create))
        .route("/console/webhooks/new", get(new_form))
        .route("/console/webhooks/{id}", get(detail))
        .route("/console/webhooks/{id}/edit", get(edit_form).post(update))
        .route("/console/webhooks/{id}/pause", post(pause))
        .route("/console/webhooks/{id}/resume", post(resume))
        .route("/console/webhooks/{id}/rotate-secret", post(rotate))
        .route("/console/webhooks/{id}/test", post(test))
        .route("/console/webhooks/{id}/recover", post(recover))
        .route("/console/webhooks/{id}/delete", post(delete))
        .route("/console/deliveries/{id}", get(delivery))
        .route("/console/deliveries/{id}/redeliver", post(redeliver))
}

// ---- list ----

pub struct Row {
    pub id: String,
    pub name: String,
    pub url: String,
    pub events: String,
    pub health: &'static str,
    pub health_class: &'static str,
    pub recent: String,
    /// The last 24 hours, hour by hour.
    pub trend: Sparkline,
}

fn health_class(h: &WebhookHealth) -> &'static str {
    use crate::hub::console::Health;
    match h.health {
        Health::Paused => "paused",
        Health::Failing => "failing",
        Health::Healthy => "healthy",
        Health::Idle => "idle",
    }
}

fn recent_text(h: &WebhookHealth) -> String {
    if h.attempted == 0 {
        return "—".into();
    }
    let code = h
        .last_status_code
        .map(|c| format!("; last response {c}"))
        .unwrap_or_default();
    format!(
        "{} of the last {} succeeded{code}",
        h.succeeded, h.attempted
    )
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    next: Option<String>,
    spark_width: f64,
    spark_height: f64,
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
}

async fn list(State(state): State<AppState>, c: Console, Query(q): Query<ListQuery>) -> PageResult {
    c.need(Scope::AdminRead)?;
    let hooks = state
        .hub
        .store
        .list_webhooks(c.org(), q.after.as_deref(), PAGE)
        .await?;
    let next = (hooks.len() as i64 == PAGE)
        .then(|| hooks.last().map(|w| w.id.clone()))
        .flatten();
    let ids: Vec<String> = hooks.iter().map(|w| w.id.clone()).collect();
    let mut trends = state.hub.webhook_trends(c.org(), &ids).await?;
    let mut rows = Vec::with_capacity(hooks.len());
    for w in hooks {
        let h = state.hub.webhook_health(&w).await?;
        rows.push(Row {
            trend: Sparkline::new(&trends.remove(&w.id).unwrap_or_default()),
            health: h.health.as_str(),
            health_class: health_class(&h),
            recent: recent_text(&h),
            events: categories(&w),
            id: w.id,
            name: w.settings.name,
            url: w.settings.url,
        });
    }
    let l = Layout::new(&state, &c, "webhooks", "Webhooks").await?;
    Ok(page(
        StatusCode::OK,
        &ListPage {
            l,
            rows,
            next,
            spark_width: SPARK_WIDTH,
            spark_height: SPARK_HEIGHT,
        },
    ))
}

fn categories(w: &WebhookRecord) -> String {
    w.settings
        .events
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- the form ----

/// The form's values as typed, so a refused form comes back as it was.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub actions: String,
    pub share_ids: String,
    pub user_ids: String,
    pub ip_ranges: String,
    pub headers: String,
    pub queue_limit: String,
    pub secret: String,
    pub paused: bool,
    pub filter_plugins: String,
    pub transform_plugin: String,
    pub transform_config: String,
    pub on_plugin_error: String,
    pub signature_scheme: String,
    pub rate_limit: String,
    pub max_in_flight: String,
    pub ordering: String,
}

impl Values {
    fn from_form(f: &super::Form) -> Values {
        Values {
            name: f.get("name").to_string(),
            url: f.get("url").to_string(),
            events: f.all("events"),
            actions: f.get("actions").to_string(),
            share_ids: f.get("share_ids").to_string(),
            user_ids: f.get("user_ids").to_string(),
            ip_ranges: f.get("ip_ranges").to_string(),
            headers: f.get("headers").to_string(),
            queue_limit: f.get("queue_limit").to_string(),
            secret: f.get("secret").to_string(),
            paused: f.checked("paused"),
            filter_plugins: f.get("filter_plugins").to_string(),
            transform_plugin: f.get("transform_plugin").to_string(),
            transform_config: f.get("transform_config").to_string(),
            on_plugin_error: f.get("on_plugin_error").to_string(),
            signature_scheme: f.get("signature_scheme").to_string(),
            rate_limit: f.get("rate_limit").to_string(),
            max_in_flight: f.get("max_in_flight").to_string(),
            ordering: f.get("ordering").to_string(),
        }
    }

    fn from_record(w: &WebhookRecord) -> Values {
        let s = &w.settings;
        let lines = |v: &[String]| v.join("\n");
        Values {
            name: s.name.clone(),
            url: s.url.clone(),
            events: s.events.iter().map(|c| c.as_str().to_string()).collect(),
            actions: lines(&s.actions),
            share_ids: lines(&s.filters.share_ids),
            user_ids: lines(&s.filters.user_ids),
            ip_ranges: lines(&s.filters.ip_ranges),
            headers: s
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            queue_limit: s.queue_limit.to_string(),
            secret: String::new(),
            paused: w.paused,
            filter_plugins: s
                .filter_plugins
                .iter()
                .map(plugin_line)
                .collect::<Vec<_>>()
                .join("\n"),
            transform_plugin: s
                .transform_plugin
                .as_ref()
                .map(|p| p.plugin_id.clone())
                .unwrap_or_default(),
            transform_config: s
                .transform_plugin
                .as_ref()
                .filter(|p| !p.config.is_null())
                .map(|p| p.config.to_string())
                .unwrap_or_default(),
            on_plugin_error: s.on_plugin_error.as_str().to_string(),
            signature_scheme: s.signature_scheme.as_str().to_string(),
            rate_limit: s.rate_limit.map(|n| n.to_string()).unwrap_or_default(),
            max_in_flight: s.max_in_flight.map(|n| n.to_string()).unwrap_or_default(),
            ordering: s.ordering.as_str().to_string(),
        }
    }

    /// Whether the category's box is ticked.
    pub fn has_event(&self, category: &str) -> bool {
        self.events.iter().any(|e| e == category)
    }

    fn parts(&self) -> Result<Parts, FieldError> {
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut headers = BTreeMap::new();
        for line in lines(&self.headers) {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| FieldError::new("headers", "each line must be Name: value"))?;
            headers.insert(k.trim().to_string(), v.trim().to_string());
        }
        let queue_limit = match self.queue_limit.trim() {
            "" => None,
            n => Some(
                n.parse::<i64>()
                    .map_err(|_| FieldError::new("queue_limit", "must be a whole number"))?,
            ),
        };
        let mut filter_plugins = Vec::new();
        for (i, line) in lines(&self.filter_plugins).iter().enumerate() {
            let (id, config) = match line.split_once(char::is_whitespace) {
                Some((id, rest)) => (id, json_config(rest, &format!("filter_plugins[{i}]"))?),
                None => (line.as_str(), Value::Null),
            };
            filter_plugins.push(PluginRef {
                plugin_id: id.to_string(),
                config,
            });
        }
        let transform_plugin = match self.transform_plugin.trim() {
            "" => None,
            id => Some(PluginRef {
                plugin_id: id.to_string(),
                config: json_config(&self.transform_config, "transform_plugin")?,
            }),
        };
        let signature_scheme = match self.signature_scheme.trim() {
            "" => SignatureScheme::default(),
            text => SignatureScheme::parse(text).ok_or_else(|| {
                FieldError::new("signature_scheme", "must be scaidrive or standard")
            })?,
        };
        let ordering = match self.ordering.trim() {
            "" => Ordering::default(),
            text => Ordering::parse(text)
                .ok_or_else(|| FieldError::new("ordering", "must be unordered or fifo"))?,
        };
        let whole = |text: &str, field: &str| match text.trim() {
            "" => Ok(None),
            n => n
                .parse::<i64>()
                .map(Some)
                .map_err(|_| FieldError::new(field, "must be a whole number, or empty for none")),
        };
        Ok(Parts {
            rate_limit: whole(&self.rate_limit, "rate_limit")?,
            max_in_flight: whole(&self.max_in_flight, "max_in_flight")?,
            signature_scheme,
            ordering,
            filters: Filters {
                share_ids: lines(&self.share_ids),
                user_ids: lines(&self.user_ids),
                ip_ranges: lines(&self.ip_ranges),
            },
            actions: lines(&self.actions),
            headers,
            queue_limit,
            filter_plugins,
            transform_plugin,
            on_plugin_error: OnPluginError::parse(&self.on_plugin_error),
        })
    }
}

struct Parts {
    filters: Filters,
    actions: Vec<String>,
    headers: BTreeMap<String, String>,
    queue_limit: Option<i64>,
    filter_plugins: Vec<PluginRef>,
    transform_plugin: Option<PluginRef>,
    on_plugin_error: OnPluginError,
    signature_scheme: SignatureScheme,
    rate_limit: Option<i64>,
    max_in_flight: Option<i64>,
    ordering: Ordering,
}

fn json_config(text: &str, field: &str) -> Result<Value, FieldError> {
    match text.trim() {
        "" => Ok(Value::Null),
        t => serde_json::from_str(t)
            .map_err(|e| FieldError::new(format!("{field}.config"), format!("is not JSON ({e})"))),
    }
}

fn plugin_line(p: &PluginRef) -> String {
    if p.config.is_null() {
        p.plugin_id.clone()
    } else {
        format!("{} {}", p.plugin_id, p.config)
    }
}

#[derive(Template)]
#[template(path = "console/webhook_form.html")]
struct FormPage {
    l: Layout,
    /// `None` for a new webhook.
    id: Option<String>,
    v: Values,
    error: Option<FieldError>,
    categories: Vec<&'static str>,
}

impl FormPage {
    fn err(&self, control: &str) -> Option<&str> {
        error_for(&self.error, control)
    }
}

async fn form_page(
    state: &AppState,
    c: &Console,
    id: Option<String>,
    v: Values,
    error: Option<FieldError>,
) -> PageResult {
    let title = if id.is_some() {
        "Edit webhook"
    } else {
        "New webhook"
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let l = Layout::new(state, c, "webhooks", title).await?;
    Ok(page(
        status,
        &FormPage {
            l,
            id,
            v,
            error,
            categories: Category::ALL.iter().map(|c| c.as_str()).collect(),
        },
    ))
}

async fn new_form(State(state): State<AppState>, c: Console) -> PageResult {
    c.need(Scope::AdminWrite)?;
    let v = Values {
        events: vec![],
        on_plugin_error: "skip".into(),
        signature_scheme: "scaidrive".into(),
        ordering: "unordered".into(),
        ..Values::default()
    };
    form_page(&state, &c, None, v, None).await
}

#[derive(Template)]
#[template(path = "console/webhook_created.html")]
struct CreatedPage {
    l: Layout,
    id: String,
    name: String,
    secret: String,
}

async fn create(State(state): State<AppState>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let v = Values::from_form(&p.form);
    let parts = match v.parts() {
        Ok(parts) => parts,
        Err(e) => return form_page(&state, c, None, v, Some(e)).await,
    };
    let input = WebhookInput {
        name: v.name.clone(),
        url: v.url.clone(),
        events: v.events.clone(),
        actions: parts.actions,
        filters: parts.filters,
        secret: (!v.secret.is_empty()).then(|| v.secret.clone()),
        headers: parts.headers,
        paused: v.paused,
        queue_limit: parts.queue_limit,
        filter_plugins: parts.filter_plugins,
        transform_plugin: parts.transform_plugin,
        on_plugin_error: parts.on_plugin_error,
        signature_scheme: parts.signature_scheme,
        rate_limit: parts.rate_limit,
        max_in_flight: parts.max_in_flight,
        ordering: parts.ordering,
    };
    match state
        .hub
        .create_webhook(c.org(), &s.principal.actor(), input)
        .await
    {
        Ok((w, secret)) => {
            let l = Layout::new(&state, c, "webhooks", "Webhook created").await?;
            Ok(page(
                StatusCode::CREATED,
                &CreatedPage {
                    l,
                    id: w.id,
                    name: w.settings.name,
                    secret,
                },
            ))
        }
        Err(HubError::Invalid(e)) => form_page(&state, c, None, v, Some(e)).await,
        Err(e) => Err(e.into()),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
) -> PageResult {
    c.need(Scope::AdminWrite)?;
    let w = get_webhook(&state, &c, &id).await?;
    form_page(
        &state,
        &c,
        Some(w.id.clone()),
        Values::from_record(&w),
        None,
    )
    .await
}

async fn update(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let v = Values::from_form(&p.form);
    let parts = match v.parts() {
        Ok(parts) => parts,
        Err(e) => return form_page(&state, c, Some(id), v, Some(e)).await,
    };
    let patch = WebhookPatch {
        name: Some(v.name.clone()),
        url: Some(v.url.clone()),
        events: Some(v.events.clone()),
        actions: Some(parts.actions),
        filters: Some(parts.filters),
        headers: Some(parts.headers),
        queue_limit: parts.queue_limit,
        filter_plugins: Some(parts.filter_plugins),
        transform_plugin: Some(parts.transform_plugin),
        on_plugin_error: Some(parts.on_plugin_error),
        signature_scheme: Some(parts.signature_scheme),
        rate_limit: Some(parts.rate_limit),
        max_in_flight: Some(parts.max_in_flight),
        ordering: Some(parts.ordering),
    };
    match state
        .hub
        .update_webhook(c.org(), &id, &s.principal.actor(), patch)
        .await
    {
        Ok(w) => Ok(see_other(&format!("/console/webhooks/{}", w.id))),
        Err(HubError::Invalid(e)) => form_page(&state, c, Some(id), v, Some(e)).await,
        Err(e) => Err(e.into()),
    }
}

// ---- detail ----

pub struct DeliveryRow {
    pub id: String,
    pub created: String,
    pub status: &'static str,
    pub code: String,
    pub attempts: i64,
    pub next_attempt: String,
}

fn delivery_row(d: &DeliveryRecord) -> DeliveryRow {
    DeliveryRow {
        id: d.id.clone(),
        created: when(d.created_at),
        status: d.status.as_str(),
        code: d
            .last_status_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "—".into()),
        attempts: d.attempt_count,
        next_attempt: d
            .next_attempt_at
            .filter(|_| matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Retrying))
            .map(when)
            .unwrap_or_default(),
    }
}

/// A one-off message on the detail page (the result of an action).
pub enum Notice {
    Rotated {
        secret: String,
        previous_until: String,
    },
    Tested(DeliveryRow),
    Recovered(u64),
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct DetailPage {
    l: Layout,
    w: WebhookRecord,
    events: String,
    health: &'static str,
    health_class: &'static str,
    recent: String,
    queued: i64,
    rows: Vec<DeliveryRow>,
    next: Option<String>,
    status_filter: String,
    statuses: Vec<&'static str>,
    rotated_secret: Option<String>,
    previous_until: String,
    tested: Option<DeliveryRow>,
    recovered: Option<u64>,
    created: String,
    updated: String,
    /// The delivery charts: the last 24 hours, then the last 7 days.
    charts: Vec<Charts>,
}

impl DetailPage {
    fn headers(&self) -> String {
        self.w
            .settings
            .headers
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn plugins(&self) -> String {
        let s = &self.w.settings;
        let mut out: Vec<String> = s
            .filter_plugins
            .iter()
            .map(|p| format!("filter {}", p.plugin_id))
            .collect();
        if let Some(t) = &s.transform_plugin {
            out.push(format!("transform {}", t.plugin_id));
        }
        if out.is_empty() {
            "none".into()
        } else {
            out.join(", ")
        }
    }
}

#[derive(Deserialize)]
struct DetailQuery {
    before: Option<String>,
    status: Option<String>,
}

async fn get_webhook(state: &AppState, c: &Console, id: &str) -> Result<WebhookRecord, PageError> {
    state
        .hub
        .store
        .get_webhook(c.org(), id)
        .await?
        .ok_or(PageError::NotFound("webhook"))
}

async fn detail_page(
    state: &AppState,
    c: &Console,
    id: &str,
    q: DetailQuery,
    notice: Option<Notice>,
) -> PageResult {
    c.need(Scope::AdminRead)?;
    let w = get_webhook(state, c, id).await?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(DeliveryStatus::parse);
    let list = state
        .hub
        .store
        .list_deliveries(c.org(), id, status, q.before.as_deref(), PAGE)
        .await?;
    let next = (list.len() as i64 == PAGE)
        .then(|| list.last().map(|d| d.id.clone()))
        .flatten();
    let h = state.hub.webhook_health(&w).await?;
    let queued = if w.paused {
        state.hub.store.queued_count(&w.org_id, &w.id).await?
    } else {
        0
    };
    let mut charts = Vec::with_capacity(2);
    for window in [Window::Day, Window::Week] {
        let series = state.hub.webhook_stats(c.org(), id, window).await?;
        charts.push(Charts::new(&series));
    }
    let l = Layout::new(state, c, "webhooks", w.settings.name.clone()).await?;
    let (mut rotated_secret, mut previous_until, mut tested, mut recovered) =
        (None, String::new(), None, None);
    match notice {
        Some(Notice::Rotated {
            secret,
            previous_until: until,
        }) => (rotated_secret, previous_until) = (Some(secret), until),
        Some(Notice::Tested(row)) => tested = Some(row),
        Some(Notice::Recovered(n)) => recovered = Some(n),
        None => {}
    }
    Ok(page(
        StatusCode::OK,
        &DetailPage {
            l,
            events: categories(&w),
            health: h.health.as_str(),
            health_class: health_class(&h),
            recent: recent_text(&h),
            queued,
            rows: list.iter().map(delivery_row).collect(),
            next,
            status_filter: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            statuses: DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect(),
            rotated_secret,
            previous_until,
            tested,
            recovered,
            created: when(w.created_at),
            updated: when(w.updated_at),
            charts,
            w,
        },
    ))
}

async fn detail(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> PageResult {
    detail_page(&state, &c, &id, q, None).await
}

fn no_query() -> DetailQuery {
    DetailQuery {
        before: None,
        status: None,
    }
}

async fn pause(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let s = p.console.need(Scope::AdminWrite)?;
    state
        .hub
        .pause_webhook(p.console.org(), &id, &s.principal.actor())
        .await?;
    Ok(see_other(&format!("/console/webhooks/{id}")))
}

async fn resume(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let s = p.console.need(Scope::AdminWrite)?;
    state
        .hub
        .resume_webhook(p.console.org(), &id, &s.principal.actor())
        .await?;
    Ok(see_other(&format!("/console/webhooks/{id}")))
}

async fn delete(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let s = p.console.need(Scope::AdminWrite)?;
    state
        .hub
        .delete_webhook(p.console.org(), &id, &s.principal.actor())
        .await?;
    Ok(see_other("/console/webhooks"))
}

async fn rotate(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let s = p.console.need(Scope::AdminWrite)?;
    let (_, rotated) = state
        .hub
        .rotate_webhook_secret(p.console.org(), &id, &s.principal.actor())
        .await?;
    let notice = Notice::Rotated {
        secret: rotated.secret,
        previous_until: when(rotated.previous_secret_expires_at),
    };
    detail_page(&state, &p.console, &id, no_query(), Some(notice)).await
}

async fn test(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let s = p.console.need(Scope::AdminWrite)?;
    let d = state
        .hub
        .send_test_event(p.console.org(), &id, &s.principal.actor())
        .await?;
    let notice = Notice::Tested(delivery_row(&d));
    detail_page(&state, &p.console, &id, no_query(), Some(notice)).await
}

/// Sends again what ended badly in the last hours the admin chose.
async fn recover(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let s = p.console.need(Scope::AdminWrite)?;
    let hours: i64 = p.form.get("hours").parse().unwrap_or(24).clamp(1, 24 * 90);
    let statuses = p.form.all("statuses");
    let input = crate::hub::recovery::RecoverInput {
        since: crate::clock::rfc3339(state.hub.now() - hours * 3_600_000),
        until: None,
        statuses: Some(statuses),
    };
    let recovered = state
        .hub
        .recover_deliveries(p.console.org(), &id, &s.principal.actor(), input)
        .await?;
    detail_page(
        &state,
        &p.console,
        &id,
        no_query(),
        Some(Notice::Recovered(recovered)),
    )
    .await
}

async fn redeliver(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    p.console.need(Scope::AdminWrite)?;
    let d = state.hub.redeliver(p.console.org(), &id).await?;
    Ok(see_other(&format!("/console/webhooks/{}", d.webhook_id)))
}

// ---- one delivery ----

pub struct AttemptRow {
    pub at: String,
    pub code: String,
    pub duration_ms: i64,
    pub error: String,
    pub snippet: String,
}

#[derive(Template)]
#[template(path = "console/delivery.html")]
struct DeliveryPage {
    l: Layout,
    d: DeliveryRow,
    webhook_id: String,
    event_id: String,
    attempts: Vec<AttemptRow>,
}

async fn delivery(State(state): State<AppState>, c: Console, Path(id): Path<String>) -> PageResult {
    c.need(Scope::AdminRead)?;
    let (d, attempts) = state
        .hub
        .store
        .get_delivery(c.org(), &id)
        .await?
        .ok_or(PageError::NotFound("delivery"))?;
    let l = Layout::new(&state, &c, "webhooks", format!("Delivery {}", d.id)).await?;
    let page_data = DeliveryPage {
        l,
        d: delivery_row(&d),
        webhook_id: d.webhook_id.clone(),
        event_id: d.event_id.clone(),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptRow {
                at: when(a.attempted_at),
                code: a
                    .status_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "—".into()),
                duration_ms: a.duration_ms,
                error: match (a.error, a.plugin_error) {
                    (Some(e), _) => e,
                    (None, Some(p)) => format!("sent the original: {p}"),
                    (None, None) => String::new(),
                },
                snippet: a.response_snippet.unwrap_or_default(),
            })
            .collect(),
    };
    Ok(page(StatusCode::OK, &page_data))
}
