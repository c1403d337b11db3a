//! The console's JavaScript editor: write a filter or transform, run it
//! on a sample event in the plugin sandbox (verdict or request, time,
//! fuel, or the error and its line), save it as a new plugin version; the
//! plugin's page then tests and attaches it like any other. A plain form
//! (Run and Save are its two buttons), so it works without JavaScript;
//! `editor.js` adds the highlighting, line numbers and the error's line.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::{Console, Form, Layout, PageResult, Posted, asset, page, see_other};
use crate::domain::{FieldError, Scope};
use crate::hub::HubError;
use crate::hub::plugins::TestOutcome;
use crate::plugin::script::{error_line, unavailable_reason};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/plugins/script", get(editor).post(submit))
        .route("/console/editor.js", get(script))
        .route("/console/editor.css", get(style))
}

const NEW_FILTER: &str =
    "// A filter: return true to deliver the event to the webhook, false to skip it.
// event: eventId, timestamp, category, action, userId, resourceId, shareId,
//        ipAddress, payloadJson(); config: config.json() (the webhook's JSON).
function filter(event, config) {
  return event.category === 'SHARING';
}
";

const NEW_TRANSFORM: &str = "// A transform: change the request the webhook sends, and return it.
// request: bodyJson(), setBodyJson(value), bodyText(), setHeader(name, value).
function transform(event, request, config) {
  const body = request.bodyJson();
  body.source = 'scaihub';
  request.setBodyJson(body);
  return request;
}
";

/// What a run gave, as the page shows it.
struct RunResult {
    verdict: String,
    body: String,
    headers: String,
    error: String,
    duration_us: u128,
    fuel_used: u64,
}

#[derive(Template)]
#[template(path = "console/editor.html")]
struct EditorPage {
    l: Layout,
    name: String,
    kind: String,
    source: String,
    event: String,
    config: String,
    /// The version this edit started from.
    from: String,
    error: Option<FieldError>,
    result: Option<RunResult>,
    /// The source line to mark (a syntax or runtime error's).
    line: Option<u32>,
    unavailable: Option<&'static str>,
}

impl EditorPage {
    fn line_attr(&self) -> String {
        self.line.map(|l| l.to_string()).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct EditorQuery {
    /// Start from this script version's source (edit as a new version).
    from: Option<String>,
    kind: Option<String>,
}

async fn editor(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<EditorQuery>,
) -> PageResult {
    c.need(Scope::AdminWrite)?;
    let (name, kind, source, from) = match &q.from {
        Some(id) => {
            let s = state.hub.script_source(c.org(), id).await?;
            (s.name, s.kind, s.source, id.clone())
        }
        None if q.kind.as_deref() == Some("transform") => (
            String::new(),
            "transform".into(),
            NEW_TRANSFORM.into(),
            String::new(),
        ),
        None => (
            String::new(),
            "filter".into(),
            NEW_FILTER.into(),
            String::new(),
        ),
    };
    let title = if from.is_empty() {
        "New script plugin".to_string()
    } else {
        format!("Edit {name} as a new version")
    };
    let l = Layout::new(&state, &c, "plugins", title).await?;
    Ok(page(
        StatusCode::OK,
        &EditorPage {
            l,
            name,
            kind,
            source,
            event: super::plugins::SAMPLE_EVENT.into(),
            config: String::new(),
            from,
            error: None,
            result: None,
            line: None,
            unavailable: unavailable_reason(),
        },
    ))
}

/// A field exactly as sent: a source's leading blank lines count for its
/// line numbers, so it is not trimmed like other fields.
fn raw<'a>(form: &'a Form, name: &str) -> &'a str {
    form.0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn json_field(text: &str, field: &str) -> Result<serde_json::Value, FieldError> {
    match text.trim() {
        "" => Ok(serde_json::Value::Null),
        t => serde_json::from_str(t)
            .map_err(|e| FieldError::new(field, format!("is not JSON ({e})"))),
    }
}

/// Run (the default button) or Save.
async fn submit(State(state): State<AppState>, p: Posted) -> PageResult {
    let c = &p.console;
    let s = c.need(Scope::AdminWrite)?;
    let f = &p.form;
    let title = match f.get("from") {
        "" => "New script plugin".to_string(),
        _ => format!("Edit {} as a new version", f.get("name")),
    };
    let mut pg = EditorPage {
        l: Layout::new(&state, c, "plugins", title).await?,
        name: f.get("name").to_string(),
        kind: f.get("kind").to_string(),
        source: raw(f, "source").replace("\r\n", "\n"),
        event: f.get("event").to_string(),
        config: f.get("config").to_string(),
        from: f.get("from").to_string(),
        error: None,
        result: None,
        line: None,
        unavailable: unavailable_reason(),
    };
    let outcome = if f.get("action") == "save" {
        match state
            .hub
            .create_script_plugin(c.org(), &s.principal, &pg.name, &pg.kind, &pg.source)
            .await
        {
            Ok(p) => return Ok(see_other(&format!("/console/plugins/{}", p.id))),
            Err(e) => Err(e),
        }
    } else {
        run(&state, c, &mut pg).await
    };
    match outcome {
        Ok(()) => {}
        Err(HubError::Invalid(e)) => {
            if e.field == "source" {
                pg.line = error_line(&e.message);
            }
            pg.error = Some(e);
        }
        Err(HubError::Conflict(m)) => pg.error = Some(FieldError::new("source", m)),
        Err(e) => return Err(e.into()),
    }
    let status = if pg.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(page(status, &pg))
}

async fn run(state: &AppState, c: &Console, pg: &mut EditorPage) -> Result<(), HubError> {
    let event = json_field(&pg.event, "event")?;
    let config = json_field(&pg.config, "config")?;
    let config = if config.is_null() { json!({}) } else { config };
    let (outcome, report) = state
        .hub
        .run_script(c.org(), &pg.kind, &pg.source, &event, &config)
        .await?;
    let mut r = RunResult {
        verdict: String::new(),
        body: String::new(),
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
            r.headers = req
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        TestOutcome::Error(e) => {
            r.error = e.to_string();
            pg.line = error_line(&r.error);
        }
    }
    pg.result = Some(r);
    Ok(())
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("editor.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("editor.css"))
}
