//! Signing in through an organisation's own OpenID Connect provider
//! (the person's side: choose by email, go to the provider, come back),
//! and the org admin's form for the provider's settings.
//!
//! The choice and the start need no CSRF token: they change nothing but
//! a sign-in row that only the browser holding its cookie can finish, and
//! the callback checks that cookie (login CSRF is what the binding stops).

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};

use super::{
    Console, Form, Layout, PageError, PageResult, Posted, cookie, error_for, page, secure,
    see_other, session_cookie, when,
};
use crate::domain::{FieldError, Scope};
use crate::hub::HubError;
use crate::hub::oidc::{
    AUTHORIZE_TICKET_COOKIE, BROWSER_COOKIE, CALLBACK_PATH, CHOOSE_PATH, Callback,
    OidcSettingsInput, SIGN_IN_LIFETIME_MS, START_PATH, TICKET_LIFETIME_MS,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CHOOSE_PATH, post(choose))
        .route(START_PATH, post(start))
        .route(CALLBACK_PATH, get(callback))
        .route("/console/sign-in-settings", get(settings_page).post(save))
        .route("/console/sign-in-settings/delete", post(remove))
}

// ---- the person's side ----

#[derive(Template)]
#[template(path = "console/oidc_choice.html")]
struct ChoicePage<'a> {
    typed: &'a str,
    authorize: &'a str,
    display_name: &'a str,
    back: &'a str,
}

#[derive(Template)]
#[template(path = "console/oidc_refused.html")]
struct RefusedPage<'a> {
    message: &'a str,
    back: &'a str,
}

/// Where a refused person goes back to: the sign-in they came from.
fn back_to(authorize: Option<&str>) -> String {
    match authorize {
        Some(q) if !q.is_empty() => format!("/oauth/authorize?{q}"),
        _ => "/console/sign-in".to_string(),
    }
}

fn refused(status: StatusCode, message: &str, authorize: Option<&str>) -> Response {
    let back = back_to(authorize);
    page(
        status,
        &RefusedPage {
            message,
            back: &back,
        },
    )
}

/// The person typed their email: show which provider they will meet.
async fn choose(State(state): State<AppState>, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let authorize = form.get("authorize");
    let authorize_opt = (!authorize.is_empty()).then_some(authorize);
    match state.hub.oidc_provider_for(form.get("email")).await? {
        Ok(choice) => {
            let back = back_to(authorize_opt);
            let mut res = page(
                StatusCode::OK,
                &ChoicePage {
                    typed: &choice.typed,
                    authorize,
                    display_name: &choice.settings.display_name,
                    back: &back,
                },
            );
            // The start answers with a redirect to the provider, which
            // `form-action` governs too.
            if let Ok(v) = HeaderValue::from_str(&format!(
                "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                 form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
                choice.origin
            )) {
                res.headers_mut().insert("content-security-policy", v);
            }
            Ok(res)
        }
        Err(message) => Ok(refused(StatusCode::NOT_FOUND, &message, authorize_opt)),
    }
}

/// Sends the browser to the provider, bound to it by a cookie.
async fn start(State(state): State<AppState>, body: axum::body::Bytes) -> PageResult {
    let form = Form::parse(&body);
    let authorize = form.get("authorize");
    let authorize_opt = (!authorize.is_empty()).then_some(authorize);
    match state
        .hub
        .begin_oidc_sign_in(form.get("email"), authorize_opt)
        .await?
    {
        Ok(go) => {
            let mut res = see_other(&go.redirect);
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{BROWSER_COOKIE}={}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age={}{}",
                go.browser,
                SIGN_IN_LIFETIME_MS / 1000,
                secure(&state)
            )) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        Err(message) => Ok(refused(StatusCode::NOT_FOUND, &message, authorize_opt)),
    }
}

#[derive(Debug, serde::Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The provider sends the person back here.
async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> PageResult {
    let browser = cookie(&headers, BROWSER_COOKIE).unwrap_or_default();
    let ip = peer.ip().to_string();
    let back = Callback {
        state: q.state.as_deref(),
        code: q.code.as_deref(),
        error: q.error.as_deref(),
        iss: q.iss.as_deref(),
    };
    let outcome = state
        .hub
        .finish_oidc_sign_in(back, browser, Some(&ip))
        .await?;
    let mut res = match outcome {
        Err(r) => refused(StatusCode::FORBIDDEN, &r.message, r.authorize.as_deref()),
        Ok(who) => match who.authorize {
            None => {
                let (token, session) = state
                    .hub
                    .open_console_session(who.user_id, who.org_id, who.scopes, Some(&ip), "oidc")
                    .await?;
                let mut res = see_other("/console/webhooks");
                if let Some(v) = session_cookie(&state, &token, &session) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
                res
            }
            Some(query) => {
                let mut res = see_other(&format!("/oauth/authorize?{query}"));
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "{AUTHORIZE_TICKET_COOKIE}={}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={}{}",
                    state.hub.authorize_ticket(&who.user_id),
                    TICKET_LIFETIME_MS / 1000,
                    secure(&state)
                )) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
                res
            }
        },
    };
    // The binding is spent either way.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{BROWSER_COOKIE}=; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=0"
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

// ---- the org admin's settings ----

/// The form as typed (never the secret).
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub domains: String,
}

#[derive(Template)]
#[template(path = "console/oidc_settings.html")]
struct SettingsPage {
    l: Layout,
    v: Values,
    /// Whether settings are stored (the secret is then set).
    configured: bool,
    updated: String,
    redirect_uri: String,
    error: Option<FieldError>,
    saved: bool,
}

impl SettingsPage {
    fn err(&self, control: &str) -> Option<&str> {
        error_for(&self.error, control)
    }
}

async fn settings_form(
    state: &AppState,
    c: &Console,
    v: Option<Values>,
    error: Option<FieldError>,
    saved: bool,
) -> PageResult {
    let stored = state.hub.store.get_org_oidc(c.org()).await?;
    let v = v.unwrap_or_else(|| match &stored {
        Some(s) => Values {
            display_name: s.display_name.clone(),
            issuer: s.issuer.clone(),
            client_id: s.client_id.clone(),
            domains: s.allowed_domains.join("\n"),
        },
        None => Values::default(),
    });
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let l = Layout::new(state, c, "sign-in", "Sign-in").await?;
    Ok(page(
        status,
        &SettingsPage {
            l,
            v,
            configured: stored.is_some(),
            updated: stored.map(|s| when(s.updated_at)).unwrap_or_default(),
            redirect_uri: state.hub.oidc_redirect_uri(),
            error,
            saved,
        },
    ))
}

async fn settings_page(State(state): State<AppState>, c: Console) -> PageResult {
    c.need(Scope::AdminRead)?;
    settings_form(&state, &c, None, None, false).await
}

async fn save(State(state): State<AppState>, p: Posted) -> PageResult {
    let principal = p.console.need(Scope::AdminWrite)?.principal.clone();
    let f = &p.form;
    let v = Values {
        display_name: f.get("display_name").to_string(),
        issuer: f.get("issuer").to_string(),
        client_id: f.get("client_id").to_string(),
        domains: f.get("allowed_domains").to_string(),
    };
    let secret = f.get("client_secret");
    let input = OidcSettingsInput {
        display_name: (!v.display_name.is_empty()).then(|| v.display_name.clone()),
        issuer: v.issuer.clone(),
        client_id: v.client_id.clone(),
        client_secret: (!secret.is_empty()).then(|| secret.to_string()),
        allowed_domains: f.lines("allowed_domains"),
    };
    match state.hub.put_oidc(p.console.org(), &principal, input).await {
        Ok(_) => settings_form(&state, &p.console, None, None, true).await,
        Err(HubError::Invalid(e)) => {
            settings_form(&state, &p.console, Some(v), Some(e), false).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn remove(State(state): State<AppState>, p: Posted) -> PageResult {
    let principal = p.console.need(Scope::AdminWrite)?.principal.clone();
    match state.hub.delete_oidc(p.console.org(), &principal).await {
        Ok(()) | Err(HubError::NotFound(_)) => Ok(see_other("/console/sign-in-settings")),
        Err(e) => Err(PageError::from(e)),
    }
}
