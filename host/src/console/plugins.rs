//! Console pages for plugins: upload a `.wasm` (a multipart form), list
//! versions, run one on a sample event, attach one to a webhook.

use askama::Template;
use axum::Router;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Request, State,
};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Console, Layout, PageError, PageResult, Posted, csrf_ok, page, see_other, when};
use crate::domain::webhook::{PluginRef, WebhookPatch};
use crate::domain::{FieldError, Scope};
use crate::hub::HubError;
use crate::hub::plugins::TestOutcome;
use crate::state::AppState;
use crate::storage::plugins::PluginRecord;

/// Room for an upload form's other fields and multipart framing.
const FORM_OVERHEAD: usize = 1 << 20;

/// `max_module_bytes` is the plugin module cap: the upload form may carry
/// a component of that size and the form's own fields around it.
pub fn router(max_module_bytes: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/console/plugins",
            get(list)
                .post(upload)
                // The module cap applies inside; this only lets the form through.
                .layer(DefaultBodyLimit::max(max_module_bytes + FORM_OVERHEAD)),
        )
        .route("/console/plugins/{id}", get(detail))
        .route("/console/plugins/{id}/test", post(test))
        .route("/console/plugins/{id}/attach", post(attach))
}

pub struct PluginRow {
    pub id: String,
    pub name: String,
    pub version: i64,
    pub kind: String,
    pub sha256: String,
    pub size: i64,
    pub created: String,
    /// Uploaded by an MSP above this organisation.
    pub inherited: bool,
    /// `compiling`, `ready` or `failed`.
    pub status: String,
    /// Why it failed to compile.
    pub reason: String,
}

impl PluginRow {
    pub fn compiling(&self) -> bool {
        self.status == crate::storage::plugins::status::COMPILING
    }
    pub fn ready(&self) -> bool {
        self.status == crate::storage::plugins::status::READY
    }
}

fn row(p: &PluginRecord, org_id: &str) -> PluginRow {
    PluginRow {
        id: p.id.clone(),
        name: p.name.clone(),
        version: p.version,
        kind: p.kind.clone(),
        sha256: p.sha256.chars().take(16).collect(),
        size: p.size,
        created: when(p.created_at),
        inherited: p.org_id != org_id,
        status: p.status.clone(),
        reason: p.status_reason.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/plugins.html")]
struct ListPage {
    l: Layout,
    rows: Vec<PluginRow>,
    /// A version is compiling: the page reloads itself until it is not.
    refresh: bool,
    error: Option<FieldError>,
    name: String,
    kind: String,
}

async fn list_page(
    state: &AppState,
    c: &Console,
    error: Option<FieldError>,
    name: String,
    kind: String,
) -> PageResult {
    c.need(Scope::AdminRead)?;
    let mut rows = Vec::new();
    for org in state.hub.plugin_scope(c.org()).await? {
        rows.extend(
            state
                .hub
                .store
                .list_plugins(&org)
                .await?
                .iter()
                .map(|p| row(p, c.org())),
        );
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let l = Layout::new(state, c, "plugins", "Plugins").await?;
    Ok(page(
        status,
        &ListPage {
            l,
            refresh: rows.iter().any(PluginRow::compiling),
            rows,
            error,
            name,
            kind,
        },
    ))
}

async fn list(State(state): State<AppState>, c: Console) -> PageResult {
    list_page(&state, &c, None, String::new(), "filter".into()).await
}

async fn upload(State(state): State<AppState>, req: Request) -> PageResult {
    let (mut parts, body) = req.into_parts();
    let c = Console::from_request_parts(&mut parts, &state).await?;
    let s = c.need(Scope::AdminWrite)?.clone();
    let req = Request::from_parts(parts, body);
    let mut form = Multipart::from_request(req, &state)
        .await
        .map_err(|_| PageError::BadRequest("the upload must be a multipart form".into()))?;
    let limit = state.hub.plugins.limits().max_module_bytes;
    let (mut csrf, mut name, mut kind, mut wasm) =
        (String::new(), String::new(), String::new(), None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|_| PageError::BadRequest("the upload was cut short".into()))?
    {
        let field_name = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| PageError::BadRequest("the upload was cut short".into()))?;
        match field_name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "name" => name = String::from_utf8_lossy(&bytes).trim().to_string(),
            "kind" => kind = String::from_utf8_lossy(&bytes).trim().to_string(),
            "wasm" => wasm = Some(bytes),
            _ => {}
        }
    }
    if !csrf_ok(&s, &csrf) {
        return Err(super::csrf_failed());
    }
    let refuse = |e: FieldError| (e, name.clone(), kind.clone());
    let result = match wasm {
        None => Err(refuse(FieldError::new("wasm", "choose a .wasm file"))),
        Some(b) if b.is_empty() => Err(refuse(FieldError::new("wasm", "choose a .wasm file"))),
        Some(b) if b.len() > limit => Err(refuse(FieldError::new(
            "wasm",
            format!("must be at most {limit} bytes"),
        ))),
        Some(b) => match state
            .hub
            .upload_plugin(c.org(), &s.principal, &name, &kind, Vec::from(b))
            .await
        {
            Ok(p) => Ok(p),
            Err(HubError::Invalid(e)) => Err(refuse(e)),
            Err(e) => return Err(e.into()),
        },
    };
    match result {
        Ok(p) => Ok(see_other(&format!("/console/plugins/{}", p.id))),
        Err((e, name, kind)) => list_page(&state, &c, Some(e), name, kind).await,
    }
}

pub(super) const SAMPLE_EVENT: &str = r#"{
  "event_id": "evt_console_sample",
  "timestamp": "2026-05-12T14:23:01Z",
  "category": "SHARING",
  "action": "share.member_added",
  "user_id": "usr_alice",
  "resource_id": "shr_reports",
  "payload": {"principal_id": "usr_bob", "role": "contributor"}
}"#;

/// What a test run gave.
pub struct TestResult {
    pub verdict: String,
    pub body: String,
    pub content_type: String,
    pub headers: String,
    pub error: String,
    pub duration_us: u128,
    pub fuel_used: u64,
}

#[derive(Template)]
#[template(path = "console/plugin.html")]
struct DetailPage {
    l: Layout,
    p: PluginRow,
    event: String,
    config: String,
    error: Option<FieldError>,
    result: Option<TestResult>,
    /// (id, name) of this organisation's webhooks.
    webhooks: Vec<(String, String)>,
    attached: Vec<String>,
    /// A script plugin: the page offers to edit it as a new version.
    is_script: bool,
}

async fn detail_page(
    state: &AppState,
    c: &Console,
    id: &str,
    event: String,
    config: String,
    error: Option<FieldError>,
    result: Option<TestResult>,
) -> PageResult {
    c.need(Scope::AdminRead)?;
    let scope = state.hub.plugin_scope(c.org()).await?;
    let p = state
        .hub
        .store
        .get_plugin(&scope, id)
        .await?
        .ok_or(PageError::NotFound("plugin"))?;
    let is_script = state.hub.store.script_source(&scope, id).await?.is_some();
    let hooks = state.hub.store.list_webhooks(c.org(), None, 500).await?;
    let attached = hooks
        .iter()
        .filter(|w| {
            w.settings.filter_plugins.iter().any(|r| r.plugin_id == id)
                || w.settings
                    .transform_plugin
                    .as_ref()
                    .is_some_and(|r| r.plugin_id == id)
        })
        .map(|w| w.settings.name.clone())
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let l = Layout::new(
        state,
        c,
        "plugins",
        format!("Plugin {} v{}", p.name, p.version),
    )
    .await?;
    Ok(page(
        status,
        &DetailPage {
            l,
            p: row(&p, c.org()),
            event,
            config,
            error,
            result,
            webhooks: hooks.into_iter().map(|w| (w.id, w.settings.name)).collect(),
            attached,
            is_script,
        },
    ))
}

async fn detail(State(state): State<AppState>, c: Console, Path(id): Path<String>) -> PageResult {
    detail_page(
        &state,
        &c,
        &id,
        SAMPLE_EVENT.into(),
        String::new(),
        None,
        None,
    )
    .await
}

fn json_field(text: &str, field: &str) -> Result<Value, FieldError> {
    match text.trim() {
        "" => Ok(Value::Null),
        t => serde_json::from_str(t)
            .map_err(|e| FieldError::new(field, format!("is not JSON ({e})"))),
    }
}

async fn test(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let c = &p.console;
    c.need(Scope::AdminWrite)?;
    let event_text = p.form.get("event").to_string();
    let config_text = p.form.get("config").to_string();
    let parsed =
        json_field(&event_text, "event").and_then(|e| Ok((e, json_field(&config_text, "config")?)));
    let (event, config) = match parsed {
        Ok(v) => v,
        Err(e) => return detail_page(&state, c, &id, event_text, config_text, Some(e), None).await,
    };
    let config = if config.is_null() { json!({}) } else { config };
    match state.hub.test_plugin(c.org(), &id, &event, &config).await {
        Ok((outcome, report)) => {
            let mut r = TestResult {
                verdict: String::new(),
                body: String::new(),
                content_type: String::new(),
                headers: String::new(),
                error: String::new(),
                duration_us: report.duration.as_micros(),
                fuel_used: report.fuel_used,
            };
            match outcome {
                TestOutcome::Verdict(deliver) => {
                    r.verdict = if deliver { "deliver" } else { "skip" }.into()
                }
                TestOutcome::Request(req) => {
                    r.body = String::from_utf8_lossy(&req.body).into_owned();
                    r.content_type = req.content_type;
                    r.headers = req
                        .headers
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                TestOutcome::Error(e) => r.error = e.to_string(),
            }
            detail_page(&state, c, &id, event_text, config_text, None, Some(r)).await
        }
        Err(HubError::Invalid(e)) => {
            detail_page(&state, c, &id, event_text, config_text, Some(e), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds the plugin to a webhook: appended to its filters, or as its transform.
async fn attach(State(state): State<AppState>, Path(id): Path<String>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let scope = state.hub.plugin_scope(c.org()).await?;
    let plugin = state
        .hub
        .store
        .get_plugin(&scope, &id)
        .await?
        .ok_or(PageError::NotFound("plugin"))?;
    let webhook_id = p.form.get("webhook_id");
    let config_text = p.form.get("attach_config").to_string();
    let config = match json_field(&config_text, "attach_config") {
        Ok(v) => v,
        Err(e) => {
            return detail_page(
                &state,
                c,
                &id,
                SAMPLE_EVENT.into(),
                String::new(),
                Some(e),
                None,
            )
            .await;
        }
    };
    let w = state
        .hub
        .store
        .get_webhook(c.org(), webhook_id)
        .await?
        .ok_or(PageError::NotFound("webhook"))?;
    let new_ref = PluginRef {
        plugin_id: plugin.id.clone(),
        config,
    };
    let mut patch = WebhookPatch::default();
    if plugin.kind == "transform" {
        patch.transform_plugin = Some(Some(new_ref));
    } else {
        let mut filters = w.settings.filter_plugins.clone();
        filters.retain(|r| r.plugin_id != plugin.id);
        filters.push(new_ref);
        patch.filter_plugins = Some(filters);
    }
    match state
        .hub
        .update_webhook(c.org(), &w.id, &s.principal.actor(), patch)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/webhooks/{}", w.id))),
        Err(HubError::Invalid(e)) => {
            detail_page(
                &state,
                c,
                &id,
                SAMPLE_EVENT.into(),
                String::new(),
                Some(e),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
