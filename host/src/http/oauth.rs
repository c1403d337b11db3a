//! OAuth endpoints: metadata (RFC 8414), JWKS, authorize with a sign-in and
//! consent page (authorization code + PKCE), token (RFC 6749, 7636, 8693),
//! introspection (RFC 7662) and revocation (RFC 7009).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::domain::Scope;
use crate::hub::oauth::{OAuthError, TokenResponse, parse_scope_param};
use crate::oauth::pkce;
use crate::storage::applications::ApplicationRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metadata))
        .routes(routes!(jwks))
        .routes(routes!(authorize_page, authorize_submit))
        .routes(routes!(token))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
}

/// Form parameters, each at most once (RFC 6749 §3.1, §3.2).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            OAuthError::invalid_request("body must be application/x-www-form-urlencoded")
        })?;
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(other, _)| other == k) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {k} is repeated"
                )));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

fn oauth_error(e: OAuthError) -> Response {
    let status = match e.code {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = (
        status,
        Json(json!({"error": e.code, "error_description": e.description})),
    )
        .into_response();
    no_store(res.headers_mut());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::RETRY_AFTER_SECS),
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"scaihub\""),
        );
    }
    res
}

/// A token-endpoint style answer: never cached, errors per RFC 6749 §5.2.
fn respond(result: Result<Response, OAuthError>) -> Response {
    match result {
        Ok(mut res) => {
            no_store(res.headers_mut());
            res
        }
        Err(e) => oauth_error(e),
    }
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Client authentication: `client_secret_basic` or `client_secret_post`, not both.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ApplicationRecord, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let post = params.get("client_secret");
    let (id, secret) = match (basic, post) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some(b64), None) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| OAuthError::invalid_client())?;
            let text = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = text
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            (
                decode(id).ok_or_else(OAuthError::invalid_client)?,
                decode(secret).ok_or_else(OAuthError::invalid_client)?,
            )
        }
        (None, Some(secret)) => (
            params
                .get("client_id")
                .ok_or_else(OAuthError::invalid_client)?
                .to_string(),
            secret.to_string(),
        ),
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    if let Some(body_id) = params.get("client_id")
        && body_id != id
    {
        return Err(OAuthError::invalid_client());
    }
    state
        .hub
        .authenticate_client(&id, &secret)
        .await?
        .ok_or_else(OAuthError::invalid_client)
}

/// What introspection and revocation both take: an authenticated client
/// and the `token` parameter.
async fn client_and_token(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ApplicationRecord, String), OAuthError> {
    let params = Params::parse(body)?;
    let app = authenticate_client(state, headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((app, token.to_string()))
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses((status = 200, description = "metadata")))]
async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let iss = state.hub.issuer();
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "scopes_supported": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{iss}/openapi.json"),
    }))
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses((status = 200, description = "JWK set")))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.hub.keys.jwks())
}

/// The token endpoint: `client_credentials`, `authorization_code` (PKCE),
/// `refresh_token`, and token exchange.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth", request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, description = "RFC 6749 §5.2 error"), (status = 401, description = "invalid_client")))]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let params = Params::parse(&body)?;
        let grant = params
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let app = authenticate_client(&state, &headers, &params).await?;
        let hub = &state.hub;
        match grant {
            "client_credentials" => {
                hub.grant_client_credentials(&app, params.get("scope"))
                    .await
            }
            "authorization_code" => {
                let code = params
                    .get("code")
                    .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
                hub.grant_authorization_code(
                    &app,
                    code,
                    params.get("redirect_uri"),
                    params.get("code_verifier"),
                )
                .await
            }
            "refresh_token" => {
                let refresh = params
                    .get("refresh_token")
                    .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
                hub.grant_refresh(&app, refresh, params.get("scope")).await
            }
            "urn:ietf:params:oauth:grant-type:token-exchange" => {
                if params.get("actor_token").is_some() {
                    return Err(OAuthError::invalid_request(
                        "actor_token is not supported: the authenticated client is the actor",
                    ));
                }
                if let Some(t) = params.get("requested_token_type")
                    && t != crate::hub::oauth::ACCESS_TOKEN_TYPE
                {
                    return Err(OAuthError::invalid_request(
                        "only access tokens can be requested",
                    ));
                }
                hub.grant_token_exchange(
                    &app,
                    params.get("subject_token"),
                    params.get("subject_token_type"),
                    params.get("scope"),
                )
                .await
            }
            _ => Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {grant} is not supported"),
            )),
        }
    }
    .await;
    respond(result.map(|v| Json(v).into_response()))
}

/// Token introspection (RFC 7662); the caller authenticates as a client.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth", request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{\"active\": …}`"), (status = 401, description = "invalid_client")))]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let (app, token) = client_and_token(&state, &headers, &body).await?;
        Ok::<_, OAuthError>(state.hub.introspect(&app, &token).await)
    }
    .await;
    respond(result.map(|v| Json(v).into_response()))
}

/// Token revocation (RFC 7009): always 200 for a valid client.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth", request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "revoked, or nothing to revoke"), (status = 401, description = "invalid_client")))]
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let (app, token) = client_and_token(&state, &headers, &body).await?;
        state.hub.revoke_token(&app, &token).await
    }
    .await;
    respond(result.map(|()| StatusCode::OK.into_response()))
}

// ---- authorization code: the sign-in and consent page ----

#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// A checked authorization request.
struct AuthRequest {
    app: ApplicationRecord,
    redirect_uri: String,
    scope: Option<String>,
    state: Option<String>,
    challenge: String,
}

/// What to do with a bad request: show an error page (client or redirect
/// unknown: never redirect to an unverified URI), or redirect with an error.
enum Refusal {
    Page(StatusCode, String),
    Redirect(String),
}

fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(uri).expect("registered redirect URIs are absolute");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

async fn check_request(state: &AppState, q: &AuthorizeQuery) -> Result<AuthRequest, Refusal> {
    let client_id = q
        .client_id
        .as_deref()
        .ok_or_else(|| Refusal::Page(StatusCode::BAD_REQUEST, "client_id is missing".into()))?;
    let app = state
        .hub
        .store
        .get_application(None, client_id)
        .await
        .map_err(|_| {
            Refusal::Page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not read the application".into(),
            )
        })?
        .ok_or_else(|| Refusal::Page(StatusCode::BAD_REQUEST, "unknown client_id".into()))?;
    // Exact match against a registered URI; none given is fine only when exactly one is registered.
    let redirect_uri = match q.redirect_uri.as_deref() {
        Some(u) if app.redirect_uris.iter().any(|r| r == u) => u.to_string(),
        None if app.redirect_uris.len() == 1 => app.redirect_uris[0].clone(),
        _ => {
            return Err(Refusal::Page(
                StatusCode::BAD_REQUEST,
                "redirect_uri is not registered for this application".into(),
            ));
        }
    };
    let iss = state.hub.issuer();
    let fail = |code: &str, d: &str| {
        let mut pairs = vec![
            ("error", code),
            ("error_description", d),
            ("iss", iss.as_str()),
        ];
        if let Some(s) = q.state.as_deref() {
            pairs.push(("state", s));
        }
        Refusal::Redirect(redirect_with(&redirect_uri, &pairs))
    };
    if q.response_type.as_deref() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let challenge = q
        .code_challenge
        .as_deref()
        .ok_or_else(|| fail("invalid_request", "code_challenge is required (PKCE)"))?;
    if q.code_challenge_method.as_deref() != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !pkce::challenge_is_well_formed(challenge) {
        return Err(fail(
            "invalid_request",
            "code_challenge must be 43 base64url characters",
        ));
    }
    if parse_scope_param(q.scope.as_deref()).is_err() {
        return Err(fail("invalid_scope", "unknown scope"));
    }
    Ok(AuthRequest {
        app,
        redirect_uri,
        scope: q.scope.clone(),
        state: q.state.clone(),
        challenge: challenge.to_string(),
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const CSRF_COOKIE: &str = "scaihub_oauth_csrf";

/// The authorization request as a query string, to come back to after a
/// sign-in at the organisation's own provider.
fn authorize_query(req: &AuthRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", &req.app.id)
        .append_pair("redirect_uri", &req.redirect_uri);
    if let Some(s) = &req.scope {
        q.append_pair("scope", s);
    }
    if let Some(s) = &req.state {
        q.append_pair("state", s);
    }
    q.append_pair("code_challenge", &req.challenge)
        .append_pair("code_challenge_method", "S256");
    q.finish()
}

/// The sign-in and consent page; `signed_in` is the person already
/// signed in through their organisation's provider (then only consent
/// is asked).
fn page(req: &AuthRequest, csrf: &str, error: Option<&str>, signed_in: Option<&str>) -> String {
    let scopes: Vec<&str> = match parse_scope_param(req.scope.as_deref()) {
        Ok(Some(list)) if !list.is_empty() => list
            .iter()
            .filter(|s| req.app.scopes.contains(s))
            .map(|s| s.as_str())
            .collect(),
        _ => req.app.scopes.iter().map(|s| s.as_str()).collect(),
    };
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        )
    };
    let fields = [
        hidden("response_type", "code"),
        hidden("client_id", &req.app.id),
        hidden("redirect_uri", &req.redirect_uri),
        hidden("scope", req.scope.as_deref().unwrap_or("")),
        hidden("state", req.state.as_deref().unwrap_or("")),
        hidden("code_challenge", &req.challenge),
        hidden("code_challenge_method", "S256"),
        hidden("csrf", csrf),
    ]
    .join("\n");
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let items: String = scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    let (credentials, other) = match signed_in {
        Some(who) => (
            format!(
                "<p id=\"signed-in-as\">Signed in as <strong>{}</strong> through your organisation's provider.</p>",
                escape(who)
            ),
            String::new(),
        ),
        None => (
            "<label for=\"login\">Email (or user id)</label><input id=\"login\" name=\"login\" type=\"text\" autocomplete=\"username\" required>\n\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
                .to_string(),
            format!(
                "<h2>Or through your organisation</h2>\n<form method=\"post\" action=\"{choose}\">\n{authorize}\n\
                 <label for=\"oidc-email\">Work email</label><input id=\"oidc-email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\n\
                 <button type=\"submit\" id=\"oidc-continue\">Continue</button>\n</form>",
                choose = crate::hub::oidc::CHOOSE_PATH,
                authorize = hidden("authorize", &authorize_query(req)),
            ),
        ),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to authorize {name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111}}
label{{display:block;margin-top:1rem}}input[type=text],input[type=password]{{width:100%;padding:.5rem;font-size:1rem}}
.error{{color:#a00;font-weight:600}}button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}}</style></head>
<body><main>
<h1>Authorize {name}</h1>
<p><strong>{name}</strong> asks to act on your behalf with these permissions:</p>
<ul>{items}</ul>
{error}
<form method="post" action="/oauth/authorize">
{fields}
{credentials}
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
{other}</main></body></html>"#,
        name = escape(&req.app.name),
    )
}

fn html_page(status: StatusCode, body: String, csrf: Option<&str>) -> Response {
    let mut res = (status, Html(body)).into_response();
    let h = res.headers_mut();
    no_store(h);
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("content-security-policy", HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"));
    if let Some(token) = csrf
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={token}; Path=/oauth; HttpOnly; SameSite=Strict"
        ))
    {
        h.insert(header::SET_COOKIE, v);
    }
    res
}

/// The sign-in and consent page. Its form may also lead to the client's
/// redirect URI: a browser applies `form-action` to the redirect that
/// answers a form too, so that origin is allowed beside our own.
fn consent_page(status: StatusCode, req: &AuthRequest, body: String, csrf: &str) -> Response {
    let mut res = html_page(status, body, Some(csrf));
    let origin = url::Url::parse(&req.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origin}; frame-ancestors 'none'"
    )) {
        res.headers_mut().insert("content-security-policy", v);
    }
    res
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::Page(status, message) => html_page(
            status,
            format!(
                "<!doctype html><html lang=\"en\"><title>Authorization error</title><h1>Authorization error</h1><p>{}</p></html>",
                escape(&message)
            ),
            None,
        ),
        Refusal::Redirect(to) => Redirect::to(&to).into_response(),
    }
}

/// Starts the authorization-code flow: shows the sign-in and consent page.
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth", params(AuthorizeQuery),
    responses((status = 200, description = "sign-in and consent page"), (status = 303, description = "error redirect"), (status = 400, description = "unknown client or redirect URI")))]
async fn authorize_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    match check_request(&state, &q).await {
        Ok(req) => {
            let csrf = crate::crypto::new_secret("");
            let who = ticket_user(&state, &headers).await;
            let label = who.as_ref().map(|u| {
                if u.email.is_empty() {
                    u.user_id.as_str()
                } else {
                    u.email.as_str()
                }
            });
            consent_page(StatusCode::OK, &req, page(&req, &csrf, None, label), &csrf)
        }
        Err(r) => refusal(r),
    }
}

/// The person a provider sign-in brought back to this page, if any.
async fn ticket_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<crate::hub::oidc::TicketUser> {
    let ticket = crate::cookies::value(headers, crate::hub::oidc::AUTHORIZE_TICKET_COOKIE)?;
    state.hub.authorize_ticket_user(ticket).await.ok().flatten()
}

/// Ends the provider sign-in's ticket once a decision is made.
fn spend_ticket(mut res: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}=; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age=0",
        crate::hub::oidc::AUTHORIZE_TICKET_COOKIE
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Signs in, records consent and redirects back with a code (or an error).
#[utoipa::path(post, path = "/oauth/authorize", tag = "oauth", request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the client with code, state and iss"), (status = 401, description = "sign-in failed, page shown again"), (status = 403, description = "CSRF check failed")))]
async fn authorize_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let q = AuthorizeQuery {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
    };
    let req = match check_request(&state, &q).await {
        Ok(r) => r,
        Err(r) => return refusal(r),
    };
    // Double-submit CSRF check: the form's token must equal the cookie's.
    let cookie = crate::cookies::value(&headers, CSRF_COOKIE);
    let form_csrf = get("csrf").unwrap_or_default();
    if cookie.is_none_or(|c| {
        form_csrf.is_empty() || !crate::crypto::constant_time_eq(c.as_bytes(), form_csrf.as_bytes())
    }) {
        return refusal(Refusal::Page(
            StatusCode::FORBIDDEN,
            "the form expired or was not sent from this page; start again".into(),
        ));
    }
    let iss = state.hub.issuer();
    let back = |pairs: &mut Vec<(&str, String)>| {
        pairs.push(("iss", iss.clone()));
        if let Some(s) = &req.state {
            pairs.push(("state", s.clone()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        spend_ticket(Redirect::to(&redirect_with(&req.redirect_uri, &borrowed)).into_response())
    };
    if get("decision").as_deref() != Some("allow") {
        return back(&mut vec![
            ("error", "access_denied".into()),
            ("error_description", "the user denied the request".into()),
        ]);
    }
    let login = get("login").unwrap_or_default();
    let password = get("password").unwrap_or_default();
    let ip = peer.ip().to_string();
    // Signed in at the organisation's provider a moment ago (no password
    // typed), or by password.
    let ticket = match login.is_empty() {
        true => ticket_user(&state, &headers).await,
        false => None,
    };
    let signed = match ticket {
        Some(t) => Ok(Ok((t.user_id, t.org_id, t.scopes))),
        None => state.hub.sign_in(&login, &password, Some(&ip)).await,
    };
    let user = match signed {
        Ok(Ok(u)) => u,
        Ok(Err(message)) => {
            return consent_page(
                StatusCode::UNAUTHORIZED,
                &req,
                page(&req, &form_csrf, Some(message), None),
                &form_csrf,
            );
        }
        Err(_) => {
            return refusal(Refusal::Page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sign-in failed on the server".into(),
            ));
        }
    };
    let (user_id, user_org, perms) = user;
    let same_tree = user_org == req.app.org_id
        || state
            .hub
            .store
            .org_ancestors(&user_org)
            .await
            .unwrap_or_default()
            .contains(&req.app.org_id);
    if !same_tree {
        return back(&mut vec![
            ("error", "access_denied".into()),
            (
                "error_description",
                "this application belongs to another organisation".into(),
            ),
        ]);
    }
    let requested = parse_scope_param(req.scope.as_deref())
        .ok()
        .flatten()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| req.app.scopes.clone());
    let scopes: Vec<Scope> = requested
        .into_iter()
        .filter(|s| req.app.scopes.contains(s) && perms.contains(s))
        .collect();
    if scopes.is_empty() {
        return back(&mut vec![
            ("error", "invalid_scope".into()),
            (
                "error_description",
                "none of the requested scopes can be granted to you".into(),
            ),
        ]);
    }
    match state
        .hub
        .issue_code(
            &req.app,
            &user_id,
            &user_org,
            &req.redirect_uri,
            scopes,
            &req.challenge,
        )
        .await
    {
        Ok(code) => back(&mut vec![("code", code)]),
        Err(_) => back(&mut vec![("error", "server_error".into())]),
    }
}
