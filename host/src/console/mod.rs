//! The admin console: server-rendered pages under `/console` for webhooks,
//! deliveries, applications, plugins and the audit log.
//!
//! Every page is an askama template (compile-time checked, HTML-escaped)
//! served by the host itself; nothing loads from elsewhere and every action
//! is a plain form post, so the console works without JavaScript (one small
//! script adds copy buttons). Actions go through the same [`Hub`] calls as
//! the API, so validation, audit events and organisation access are the
//! API's. Sessions live in the database (cookie token stored hashed); every
//! form carries the session's CSRF token and every POST checks it.
//!
//! [`Hub`]: crate::hub::Hub

pub mod applications;
pub mod audit;
pub mod charts;
pub mod editor;
pub mod oidc;
pub mod plugins;
pub mod webhooks;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::clock::{Millis, rfc3339};
use crate::crypto::constant_time_eq;
use crate::domain::{FieldError, Scope};
use crate::hub::HubError;
use crate::hub::console::ConsoleSession;
use crate::state::AppState;

/// The session cookie (`Path=/console`, `HttpOnly`, `SameSite=Lax`).
pub const SESSION_COOKIE: &str = "scaihub_console";
/// The sign-in form's double-submit token, before there is a session.
const SIGN_IN_CSRF_COOKIE: &str = "scaihub_console_csrf";

/// `max_module_bytes`: the plugin module cap, which the upload form follows.
pub fn router(max_module_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/style.css", get(style))
        .route("/console/console.js", get(script))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/org", post(switch_org))
        .merge(webhooks::router())
        .merge(applications::router())
        .merge(plugins::router(max_module_bytes))
        .merge(editor::router())
        .merge(audit::router())
        .merge(oidc::router())
}

// ---- responses ----

/// Renders a page with the console's security headers.
pub fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut res = (status, axum::response::Html(html)).into_response();
            secure_headers(res.headers_mut());
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// A 303 to a console page (after a form post).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// What a console handler can fail with, as a page.
#[derive(Debug)]
pub enum PageError {
    NotFound(&'static str),
    Forbidden(String),
    BadRequest(String),
    SignIn,
    /// The store cannot be reached: a 503 page asking to retry.
    Unavailable,
    Internal,
}

impl From<HubError> for PageError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::NotFound(what) => PageError::NotFound(what),
            HubError::Invalid(f) => PageError::BadRequest(f.to_string()),
            HubError::Conflict(m) => PageError::BadRequest(m),
            HubError::Store(s) if s.is_unavailable() => PageError::Unavailable,
            other => {
                tracing::error!(error = %format!("{other:#}"), "console request failed");
                PageError::Internal
            }
        }
    }
}

impl From<crate::storage::StoreError> for PageError {
    fn from(e: crate::storage::StoreError) -> Self {
        HubError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no such {what} in this organisation."),
            ),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone()),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Cannot do that", m.clone()),
            PageError::SignIn => return see_other("/console/sign-in"),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database cannot be reached right now. Try again in a few seconds.".to_string(),
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server error",
                "The server could not complete the request.".to_string(),
            ),
        };
        let mut res = page(
            status,
            &ErrorPage {
                title,
                message: &message,
            },
        );
        if matches!(self, PageError::Unavailable) {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::error::RETRY_AFTER_SECS),
            );
        }
        res
    }
}

pub type PageResult = Result<Response, PageError>;

// ---- the session ----

pub(crate) use crate::cookies::value as cookie;

/// A signed-in console user; anything else is sent to the sign-in page.
pub struct Console(pub ConsoleSession);

impl FromRequestParts<AppState> for Console {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(PageError::SignIn)?;
        match state.hub.console_session(token).await? {
            Some(s) => Ok(Console(s)),
            None => Err(PageError::SignIn),
        }
    }
}

impl Console {
    /// The scope, or a page saying which one is missing.
    pub fn need(&self, scope: Scope) -> Result<&ConsoleSession, PageError> {
        if self.0.principal.has(scope) {
            Ok(&self.0)
        } else {
            Err(PageError::Forbidden(format!(
                "This needs the {} permission, which your account does not hold.",
                scope.as_str()
            )))
        }
    }

    pub fn org(&self) -> &str {
        &self.0.org_id
    }
}

/// A url-encoded form, fields in order (checkbox groups repeat a name).
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    /// The field's value, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The non-empty lines of a text area, trimmed.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

/// A form posted by a signed-in user, its CSRF token checked.
pub struct Posted {
    pub console: Console,
    pub form: Form,
}

pub(crate) fn csrf_failed() -> PageError {
    PageError::Forbidden(
        "The form expired or was not sent from this console; go back, reload the page and try again."
            .into(),
    )
}

/// Whether a posted token is the session's.
pub fn csrf_ok(session: &ConsoleSession, sent: &str) -> bool {
    !sent.is_empty() && constant_time_eq(sent.as_bytes(), session.csrf.as_bytes())
}

impl FromRequest<AppState> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let console = Console::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, 256 * 1024)
            .await
            .map_err(|_| PageError::BadRequest("the form is too large".into()))?;
        let form = Form::parse(&bytes);
        if !csrf_ok(&console.0, form.get("csrf")) {
            return Err(csrf_failed());
        }
        Ok(Posted { console, form })
    }
}

// ---- the layout every signed-in page shares ----

/// What the page frame shows: who is signed in, which organisation, the
/// navigation and the sign-out form.
pub struct Layout {
    pub title: String,
    pub section: &'static str,
    pub user_id: String,
    pub org_id: String,
    pub org_name: String,
    /// (id, name) of every organisation the user may switch to.
    pub orgs: Vec<(String, String)>,
    pub csrf: String,
    pub can_write: bool,
}

impl Layout {
    pub async fn new(
        state: &AppState,
        c: &Console,
        section: &'static str,
        title: impl Into<String>,
    ) -> Result<Layout, PageError> {
        let s = &c.0;
        let orgs = state.hub.managed_orgs(&s.principal).await?;
        let org_name = orgs
            .iter()
            .find(|o| o.id == s.org_id)
            .map(|o| o.name.clone())
            .unwrap_or_else(|| s.org_id.clone());
        Ok(Layout {
            title: title.into(),
            section,
            user_id: s.principal.user_id.clone(),
            org_id: s.org_id.clone(),
            org_name,
            orgs: orgs.into_iter().map(|o| (o.id, o.name)).collect(),
            csrf: s.csrf.clone(),
            can_write: s.principal.has(Scope::AdminWrite),
        })
    }

    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// A time for people: `2026-05-12 14:23:01 UTC`.
pub fn when(ms: Millis) -> String {
    rfc3339(ms).replace('T', " ").replace('Z', " UTC")
}

/// Maps an error's field path to the form control that shows it
/// (`filters.ip_ranges[1]` → `ip_ranges`, `events[0]` → `events`).
pub fn control_of(field: &str) -> String {
    let field = field.strip_prefix("filters.").unwrap_or(field);
    field.split(['[', '.']).next().unwrap_or(field).to_string()
}

/// A form's error for one control, if that is where it belongs.
pub fn error_for<'a>(error: &'a Option<FieldError>, control: &str) -> Option<&'a str> {
    error
        .as_ref()
        .filter(|e| control_of(&e.field) == control)
        .map(|e| e.message.as_str())
}

// ---- sign-in, sign-out, organisation switch, assets ----

async fn home(c: Result<Console, PageError>) -> Response {
    match c {
        Ok(_) => see_other("/console/webhooks"),
        Err(_) => see_other("/console/sign-in"),
    }
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("style.css"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("console.js"))
}

pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    login: &'a str,
    error: Option<&'a str>,
}

pub(crate) fn secure(state: &AppState) -> &'static str {
    if state.hub.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn sign_in_response(
    state: &AppState,
    status: StatusCode,
    csrf: &str,
    login: &str,
    error: Option<&str>,
) -> Response {
    let mut res = page(status, &SignInPage { csrf, login, error });
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SIGN_IN_CSRF_COOKIE}={csrf}; Path=/console; HttpOnly; SameSite=Strict{}",
        secure(state)
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The session cookie for a new session.
pub(crate) fn session_cookie(
    state: &AppState,
    token: &str,
    session: &ConsoleSession,
) -> Option<HeaderValue> {
    let max_age = (session.expires_at - state.hub.now()) / 1000;
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        secure(state)
    ))
    .ok()
}

async fn sign_in_page(State(state): State<AppState>, c: Result<Console, PageError>) -> Response {
    if c.is_ok() {
        return see_other("/console/webhooks");
    }
    let csrf = crate::crypto::new_secret("");
    sign_in_response(&state, StatusCode::OK, &csrf, "", None)
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PageResult {
    let form = Form::parse(&body);
    // Double-submit check: the form's token must equal the cookie's.
    let sent = form.get("csrf");
    let ok = cookie(&headers, SIGN_IN_CSRF_COOKIE)
        .is_some_and(|c| !sent.is_empty() && constant_time_eq(c.as_bytes(), sent.as_bytes()));
    if !ok {
        return Err(csrf_failed());
    }
    let login = form.get("login");
    let ip = peer.ip().to_string();
    match state
        .hub
        .console_sign_in(login, form.get("password"), Some(&ip))
        .await?
    {
        Ok((token, session)) => {
            let mut res = see_other("/console/webhooks");
            let h = res.headers_mut();
            if let Some(v) = session_cookie(&state, &token, &session) {
                h.append(header::SET_COOKIE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{SIGN_IN_CSRF_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"
            )) {
                h.append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        Err(message) => {
            let csrf = crate::crypto::new_secret("");
            Ok(sign_in_response(
                &state,
                StatusCode::UNAUTHORIZED,
                &csrf,
                login,
                Some(message),
            ))
        }
    }
}

async fn sign_out(State(state): State<AppState>, p: Posted) -> PageResult {
    state.hub.console_sign_out(&p.console.0).await?;
    let mut res = see_other("/console/sign-in");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Lax; Max-Age=0{}",
        secure(&state)
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

async fn switch_org(State(state): State<AppState>, p: Posted) -> PageResult {
    state
        .hub
        .console_switch_org(&p.console.0, p.form.get("org_id"))
        .await?;
    Ok(see_other("/console/webhooks"))
}
