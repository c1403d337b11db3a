//! Applications and the authorization server, driven by independent client
//! libraries: the `oauth2` crate for the flows and `jsonwebtoken` to verify
//! tokens against the JWKS.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv};

both!(
    codes_are_single_use_bound_to_client_redirect_and_verifier,
    applications_are_validated_and_the_secret_is_shown_once_and_stored_hashed,
    client_credentials_with_an_independent_client_and_jwt_verified_against_jwks,
    rotated_client_secret_keeps_working_for_24h_then_never,
    authorization_code_with_pkce_end_to_end,
    the_authorization_page_signs_a_person_in_by_email,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    token_exchange_carries_act_and_narrows,
    introspection_and_revocation,
    introspection_tells_nothing_to_another_organisations_client,
    token_endpoint_errors_follow_rfc6749,
);

const REDIRECT: &str = "http://127.0.0.1:65000/callback";

async fn app(env: &TestEnv, scopes: &[&str]) -> (String, String) {
    let (s, a) = env
        .call(
            "POST",
            "/v1/orgs/{org}/applications",
            Some(json!({"name": "CI pipeline", "description": "builds", "redirect_uris": [REDIRECT], "scopes": scopes})),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    (
        a["client_id"].as_str().unwrap().to_string(),
        a["client_secret"].as_str().unwrap().to_string(),
    )
}

async fn form(
    env: &TestEnv,
    path: &str,
    basic: Option<(&str, &str)>,
    fields: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = env.http.post(env.url(path)).form(fields);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn client_token(env: &TestEnv, id: &str, secret: &str, scope: Option<&str>) -> Value {
    let mut fields = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        fields.push(("scope", s));
    }
    let (s, _, body) = form(env, "/oauth/token", Some((id, secret)), &fields).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// An `oauth2`-crate HTTP client over reqwest.
async fn http_client(req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut r = client
        .request(req.method().clone(), req.uri().to_string())
        .body(req.body().clone());
    for (k, v) in req.headers() {
        r = r.header(k, v);
    }
    let res = r.send().await?;
    let mut out = oauth2::HttpResponse::new(Vec::new());
    *out.status_mut() = res.status();
    *out.headers_mut() = res.headers().clone();
    *out.body_mut() = res.bytes().await?.to_vec();
    Ok(out)
}

async fn applications_are_validated_and_the_secret_is_shown_once_and_stored_hashed(
    backend: Backend,
) {
    let env = TestEnv::start(backend).await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "a", "scopes": ["files:fly"]}), "scopes[0]"),
        (
            json!({"name": "a", "redirect_uris": ["http://example.com/cb"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"name": "a", "redirect_uris": ["https://example.com/cb#frag"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"name": "a", "token_lifetime_secs": 7200}),
            "token_lifetime_secs",
        ),
        (
            json!({"name": "a", "token_lifetime_secs": 10}),
            "token_lifetime_secs",
        ),
    ] {
        let (s, err) = env
            .call("POST", "/v1/orgs/{org}/applications", Some(body.clone()))
            .await;
        assert_eq!(
            (s, err["field"].as_str()),
            (422, Some(field)),
            "{body} → {err}"
        );
    }
    let (s, a) = env
        .call("POST", "/v1/orgs/{org}/applications", Some(json!({"name": "Sync", "scopes": ["files:read", "files:write"], "token_lifetime_secs": 600})))
        .await;
    assert_eq!(s, 201, "{a}");
    let secret = a["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "the secret carries at least 256 bits");
    assert_eq!(a["token_lifetime_secs"], 600);
    let id = a["id"].as_str().unwrap();
    let (_, got) = env
        .call("GET", &format!("/v1/orgs/{{org}}/applications/{id}"), None)
        .await;
    assert!(got.get("client_secret").is_none());
    let dump = env.db.dump().await;
    assert!(
        !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the client secret is stored in clear"
    );
    // Scopes are editable; the default lifetime is an hour.
    let (s, edited) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/applications/{id}"),
            Some(json!({"scopes": ["files:read"]})),
        )
        .await;
    assert_eq!((s, edited["scopes"].clone()), (200, json!(["files:read"])));
    let (_, b) = env
        .call(
            "POST",
            "/v1/orgs/{org}/applications",
            Some(json!({"name": "Default"})),
        )
        .await;
    assert_eq!(b["token_lifetime_secs"], 3600);
    let (_, list) = env.call("GET", "/v1/orgs/{org}/applications", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(env.audit("action=application.created").await.len(), 2);
    env.finish().await;
}

async fn client_credentials_with_an_independent_client_and_jwt_verified_against_jwks(
    backend: Backend,
) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["files:read", "admin:read"]).await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_token_uri(TokenUrl::new(env.url("/oauth/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("admin:read".into()))
        .add_scope(Scope::new("admin:write".into()))
        .request_async(&http_client)
        .await
        .unwrap();
    assert!(
        token.refresh_token().is_none(),
        "client credentials get no refresh token"
    );
    assert_eq!(
        token
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ["admin:read"]
    );
    assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));
    let access = token.access_token().secret().clone();

    // Verify with jsonwebtoken against the JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = env
        .http
        .get(env.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[env.base.as_str()]);
    validation.set_audience(&[format!("{}/v1", env.base)]);
    // The test clock stands in 2026-05; the token's exp is in that time.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(&access, &key, &validation).unwrap();
    let c = data.claims;
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(c.get(claim).is_some(), "missing {claim}");
    }
    assert_eq!(c["client_id"], id);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );

    // The token works on the API, within its scopes.
    let (s, me) = env.call_as(&access, "GET", "/v1/me", None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["scopes"], json!(["admin:read"]));
    assert_eq!(
        env.call_as(&access, "GET", "/v1/orgs/{org}/webhooks", None)
            .await
            .0,
        200
    );
    assert_eq!(
        env.call_as(&access, "POST", "/v1/orgs/{org}/webhooks", Some(json!({})))
            .await
            .0,
        403
    );
    // Tampered or expired tokens are refused.
    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(env.call_as(&tampered, "GET", "/v1/me", None).await.0, 401);
    env.clock.advance(Duration::from_secs(3601));
    assert_eq!(env.call_as(&access, "GET", "/v1/me", None).await.0, 401);
    // Deleting the application revokes its tokens.
    let fresh = client_token(&env, &id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.call_as(&fresh, "GET", "/v1/me", None).await.0, 200);
    env.call(
        "DELETE",
        &format!("/v1/orgs/{{org}}/applications/{id}"),
        None,
    )
    .await;
    assert_eq!(env.call_as(&fresh, "GET", "/v1/me", None).await.0, 401);
    env.finish().await;
}

async fn rotated_client_secret_keeps_working_for_24h_then_never(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, old) = app(&env, &["files:read"]).await;
    let (s, r) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/applications/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let new = r["client_secret"].as_str().unwrap().to_string();
    assert_eq!(r["previous_secret_expires_at"], "2026-05-13T14:00:00Z");
    client_token(&env, &id, &new, None).await;
    client_token(&env, &id, &old, None).await;
    env.clock.advance(Duration::from_secs(24 * 3600));
    let (s, _, body) = form(
        &env,
        "/oauth/token",
        Some((&id, &old)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")));
    client_token(&env, &id, &new, None).await;
    let audit = env.audit("action=application.secret_rotated").await;
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].to_string().contains(&new));
    env.finish().await;
}

/// A human who may read files and admin data.
async fn human(env: &TestEnv, perms: &[&str]) -> String {
    let (s, u) = env
        .call("POST", "/v1/orgs/{org}/users", Some(json!({"name": "Alice", "kind": "human", "password": "correct horse battery staple", "permissions": perms})))
        .await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

/// Drives the sign-in page like a browser: GET it, then POST the form with
/// its CSRF cookie. Answers (status, Location, body).
async fn sign_in(
    env: &TestEnv,
    authorize_url: &str,
    login: &str,
    password: &str,
    decision: &str,
) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let cookie = page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        page.headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
    let html = page.text().await.unwrap();
    let mut fields: Vec<(String, String)> = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let name = part
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value = part
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        fields.push((name.to_string(), value));
    }
    fields.push(("login".into(), login.into()));
    fields.push(("password".into(), password.into()));
    fields.push(("decision".into(), decision.into()));
    let res = client
        .post(env.url("/oauth/authorize"))
        .header("cookie", cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.text().await.unwrap_or_default())
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Runs the whole code flow; answers the token response.
async fn code_flow(
    env: &TestEnv,
    id: &str,
    secret: &str,
    user: &str,
    scope: &str,
) -> oauth2::basic::BasicTokenResponse {
    let client = BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_auth_uri(AuthUrl::new(env.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(env.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.into()))
        .set_pkce_challenge(challenge)
        .url();
    let (status, location, body) = sign_in(
        env,
        url.as_str(),
        user,
        "correct horse battery staple",
        "allow",
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let q = query_of(&location);
    assert_eq!(q["state"], *csrf.secret());
    assert_eq!(q["iss"], env.base);
    client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .unwrap()
}

async fn the_authorization_page_signs_a_person_in_by_email(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["files:read"]).await;
    let (s, u) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(
                json!({"name": "Bea", "kind": "human", "password": "correct horse battery staple",
                "permissions": ["files:read"], "email": "bea@example.com"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let token = code_flow(&env, &id, &secret, "Bea@Example.com", "files:read").await;
    let (_, claims) = env
        .call_as(
            &token.access_token().secret().to_string(),
            "GET",
            "/v1/me",
            None,
        )
        .await;
    assert_eq!(claims["principal_id"], u["id"], "{claims}");
    env.finish().await;
}

async fn authorization_code_with_pkce_end_to_end(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["files:read", "admin:read"]).await;
    let alice = human(&env, &["files:read", "admin:read", "admin:write"]).await;
    let token = code_flow(&env, &id, &secret, &alice, "admin:read").await;
    assert!(token.refresh_token().is_some());
    let access = token.access_token().secret();
    let (s, me) = env.call_as(access, "GET", "/v1/me", None).await;
    assert_eq!(s, 200);
    assert_eq!(me["principal_id"], alice);
    assert_eq!(me["kind"], "human");
    assert_eq!(me["scopes"], json!(["admin:read"]));

    let base = |extra: &str| {
        format!(
            "{}?response_type=code&client_id={id}&redirect_uri={}&state=xyz{extra}",
            env.url("/oauth/authorize"),
            urlencode(REDIRECT)
        )
    };
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // `plain` and a missing challenge are refused by redirect with state and iss.
    for extra in [
        format!("&code_challenge={challenge}&code_challenge_method=plain"),
        format!("&code_challenge={challenge}"),
        String::new(),
    ] {
        let res = client.get(base(&extra)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{extra}");
        let q = query_of(res.headers()["location"].to_str().unwrap());
        assert_eq!(q["error"], "invalid_request", "{extra}");
        assert_eq!(q["state"], "xyz");
    }
    // An unregistered redirect URI is never redirected to.
    let res = client
        .get(format!("{}?response_type=code&client_id={id}&redirect_uri=https%3A%2F%2Fevil.example%2F&code_challenge={challenge}&code_challenge_method=S256", env.url("/oauth/authorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // Deny sends access_denied back.
    let (s, location, _) = sign_in(
        &env,
        &base(&format!(
            "&code_challenge={challenge}&code_challenge_method=S256"
        )),
        &alice,
        "correct horse battery staple",
        "deny",
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(query_of(&location)["error"], "access_denied");
    // A form without its CSRF cookie is refused.
    let res = client
        .post(env.url("/oauth/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("csrf", "forged"),
            ("login", alice.as_str()),
            ("password", "correct horse battery staple"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Wrong passwords are audited and rate-limited.
    for _ in 0..5 {
        let (s, _, body) = sign_in(
            &env,
            &base(&format!(
                "&code_challenge={challenge}&code_challenge_method=S256"
            )),
            &alice,
            "wrong password!",
            "allow",
        )
        .await;
        assert_eq!(s, 401);
        assert!(body.contains("wrong login or password"));
    }
    let (s, _, body) = sign_in(
        &env,
        &base(&format!(
            "&code_challenge={challenge}&code_challenge_method=S256"
        )),
        &alice,
        "correct horse battery staple",
        "allow",
    )
    .await;
    assert_eq!(s, 401);
    assert!(body.contains("too many failed sign-ins"), "{body}");
    assert!(env.audit("action=auth.login_failed").await.len() >= 5);
    env.finish().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["files:read", "admin:read"]).await;
    let alice = human(&env, &["files:read", "admin:read"]).await;
    let first = code_flow(&env, &id, &secret, &alice, "admin:read").await;
    let r1 = first.refresh_token().unwrap().secret().clone();
    let (s, _, second) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await;
    assert_eq!(s, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "refresh tokens rotate");
    let access2 = second["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.call_as(&access2, "GET", "/v1/me", None).await.0, 200);
    // Reusing the old one fails and revokes the whole family.
    let (s, _, err) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        env.call_as(&access2, "GET", "/v1/me", None).await.0,
        401,
        "the family's access token still works"
    );
    let (s, _, err) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (400, Some("invalid_grant")));
    env.finish().await;
}

async fn token_exchange_carries_act_and_narrows(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (ui_id, ui_secret) = app(&env, &["files:read", "admin:read", "admin:write"]).await;
    let alice = human(&env, &["files:read", "admin:read", "admin:write"]).await;
    let user_token = code_flow(
        &env,
        &ui_id,
        &ui_secret,
        &alice,
        "admin:read admin:write files:read",
    )
    .await;
    let subject = user_token.access_token().secret().clone();
    // A second application exchanges the user's token to act for her.
    let (s, svc) = env
        .call("POST", "/v1/orgs/{org}/applications", Some(json!({"name": "Indexer", "scopes": ["admin:read", "admin:write"], "token_lifetime_secs": 600})))
        .await;
    assert_eq!(s, 201);
    let (svc_id, svc_secret) = (
        svc["client_id"].as_str().unwrap().to_string(),
        svc["client_secret"].as_str().unwrap().to_string(),
    );
    let exchange = |subject: String, id: String, secret: String, scope: Option<&'static str>| {
        let env = &env;
        async move {
            let mut fields = vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange".to_string(),
                ),
                ("subject_token", subject),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token".to_string(),
                ),
            ];
            if let Some(s) = scope {
                fields.push(("scope", s.to_string()));
            }
            let borrowed: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form(env, "/oauth/token", Some((&id, &secret)), &borrowed).await
        }
    };
    let (s, _, out) = exchange(
        subject.clone(),
        svc_id.clone(),
        svc_secret.clone(),
        Some("admin:write files:read"),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(out.get("refresh_token").is_none());
    assert_eq!(
        out["scope"], "admin:write",
        "scope = requested ∩ subject's ∩ application's"
    );
    assert_eq!(out["expires_in"], 600);
    let acted = out["access_token"].as_str().unwrap().to_string();
    let (_, me) = env.call_as(&acted, "GET", "/v1/me", None).await;
    assert_eq!(me["principal_id"], alice);
    assert_eq!(me["service_account"], svc["service_account_id"]);
    let (_, intro) = form(
        &env,
        "/oauth/introspect",
        Some((&svc_id, &svc_secret)),
        &[("token", &acted)],
    )
    .await
    .2
    .pipe_ok();
    assert_eq!(intro["act"]["sub"], svc["service_account_id"]);
    // Calls made with it are audited with the service account.
    let rx = Receiver::ok().await;
    let (s, hook) = env
        .call_as(
            &acted,
            "POST",
            "/v1/orgs/{org}/webhooks",
            Some(json!({"name": "h", "url": rx.url("/"), "events": ["SHARING"]})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let audit = env.audit("action=webhook.created").await;
    assert_eq!(audit[0]["user_id"], alice);
    assert_eq!(audit[0]["service_account"], svc["service_account_id"]);
    // Exchanging the acted token again nests the act claim.
    let (s, _, twice) = exchange(acted.clone(), ui_id.clone(), ui_secret.clone(), None).await;
    assert_eq!(s, 200, "{twice}");
    let (_, _, intro) = form(
        &env,
        "/oauth/introspect",
        Some((&ui_id, &ui_secret)),
        &[("token", twice["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        intro["act"]["act"]["sub"], svc["service_account_id"],
        "{intro}"
    );
    // Its expiry is no later than the subject's.
    assert!(intro["exp"].as_i64().unwrap() <= jsonish_exp(&env, &ui_id, &ui_secret, &acted).await);
    // A bad subject token is invalid_request (RFC 8693 §2.2.2).
    let (s, _, err) = exchange(
        "eyJhbGciOiJFZERTQSJ9.e30.AAAA".into(),
        svc_id.clone(),
        svc_secret.clone(),
        None,
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (400, Some("invalid_request")));
    env.finish().await;
}

async fn jsonish_exp(env: &TestEnv, id: &str, secret: &str, token: &str) -> i64 {
    form(
        env,
        "/oauth/introspect",
        Some((id, secret)),
        &[("token", token)],
    )
    .await
    .2["exp"]
        .as_i64()
        .unwrap()
}

trait PipeOk {
    fn pipe_ok(self) -> ((), Value);
}
impl PipeOk for Value {
    fn pipe_ok(self) -> ((), Value) {
        ((), self)
    }
}

/// RFC 7662 §4 lets the server choose what each caller learns: a client
/// of one organisation learns nothing of another's tokens, while its own
/// and its organisation's other clients' tokens still introspect.
async fn introspection_tells_nothing_to_another_organisations_client(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (a_id, a_secret) = app(&env, &["files:read"]).await;
    let (a2_id, a2_secret) = app(&env, &["files:read"]).await;
    let a_token = client_token(&env, &a_id, &a_secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Organisation B: a child of the first, with an application of its own.
    let (s, b) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "B"})))
        .await;
    assert_eq!(s, 201);
    let b_org = b["id"].as_str().unwrap();
    let (s, b_app) = env
        .call(
            "POST",
            &format!("/v1/orgs/{b_org}/applications"),
            Some(json!({"name": "B's app", "scopes": ["files:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{b_app}");
    let (b_id, b_secret) = (
        b_app["client_id"].as_str().unwrap(),
        b_app["client_secret"].as_str().unwrap(),
    );
    let b_token = client_token(&env, b_id, b_secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let introspect = |id: &str, secret: &str, token: &str| {
        let (id, secret, token) = (id.to_string(), secret.to_string(), token.to_string());
        let env = &env;
        async move {
            let (s, _, v) = form(
                env,
                "/oauth/introspect",
                Some((&id, &secret)),
                &[("token", &token)],
            )
            .await;
            assert_eq!(s, 200);
            v
        }
    };
    assert_eq!(
        introspect(b_id, b_secret, &a_token).await,
        json!({"active": false}),
        "B's client learns nothing of A's token"
    );
    assert_eq!(
        introspect(&a_id, &a_secret, &b_token).await,
        json!({"active": false}),
        "nor A's client of B's"
    );
    let own = introspect(&a_id, &a_secret, &a_token).await;
    assert_eq!(
        (own["active"].clone(), own["client_id"].clone()),
        (json!(true), json!(a_id))
    );
    let sibling = introspect(&a2_id, &a2_secret, &a_token).await;
    assert_eq!(
        sibling["active"], true,
        "same organisation, other client: {sibling}"
    );
    let b_own = introspect(b_id, b_secret, &b_token).await;
    assert_eq!(b_own["active"], true);
    assert_eq!(b_own["org_id"], b_org);
    env.finish().await;
}

async fn introspection_and_revocation(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["files:read"]).await;
    let token = client_token(&env, &id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, headers, intro) = form(
        &env,
        "/oauth/introspect",
        Some((&id, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], id);
    assert_eq!(intro["scope"], "files:read");
    for unknown in ["garbage", "eyJ.eyJ.sig"] {
        let (_, _, i) = form(
            &env,
            "/oauth/introspect",
            Some((&id, &secret)),
            &[("token", unknown)],
        )
        .await;
        assert_eq!(i, json!({"active": false}));
    }
    // The caller must authenticate.
    let (s, _, _) = form(&env, "/oauth/introspect", None, &[("token", &token)]).await;
    assert_eq!(s, 401);
    // Revocation: 200, then the token is dead everywhere.
    let (s, _, _) = form(
        &env,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(s, 200);
    let (_, _, i) = form(
        &env,
        "/oauth/introspect",
        Some((&id, &secret)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(i["active"], false);
    assert_eq!(env.call_as(&token, "GET", "/v1/me", None).await.0, 401);
    let (s, _, _) = form(
        &env,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", "unknown-token")],
    )
    .await;
    assert_eq!(s, 200, "unknown tokens are not an error");
    // Metadata names every endpoint.
    let meta: Value = env
        .http
        .get(env.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], env.base);
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    for k in [
        "token_endpoint",
        "authorization_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        assert!(meta[k].as_str().unwrap().starts_with(&env.base), "{k}");
    }
    // Signing keys rotate with overlap: old tokens still verify.
    let before = client_token(&env, &id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let new_kid = env
        .hub
        .keys
        .rotate(&env.hub.store, &env.hub.master_key, env.hub.now())
        .await
        .unwrap();
    let after = client_token(&env, &id, &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        jsonwebtoken::decode_header(&after).unwrap().kid.unwrap(),
        new_kid
    );
    assert_eq!(env.call_as(&before, "GET", "/v1/me", None).await.0, 200);
    let jwks: Value = env
        .http
        .get(env.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    env.finish().await;
}

async fn token_endpoint_errors_follow_rfc6749(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["files:read"]).await;
    // invalid_client: 401 with WWW-Authenticate.
    let (s, headers, err) = form(
        &env,
        "/oauth/token",
        Some((&id, "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(headers["cache-control"], "no-store");
    // client_secret_post works; using both methods is invalid_request.
    let (s, _, _) = form(
        &env,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, err) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (400, Some("invalid_request")));
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("grant_type", "password")], "unsupported_grant_type"),
        (&[], "invalid_request"),
        (
            &[("grant_type", "client_credentials"), ("scope", "files:fly")],
            "invalid_scope",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("scope", "admin:write"),
            ],
            "invalid_scope",
        ),
        (
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                (
                    "code_verifier",
                    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                ),
                ("redirect_uri", REDIRECT),
            ],
            "invalid_grant",
        ),
    ];
    for (fields, code) in cases {
        let (s, headers, err) = form(&env, "/oauth/token", Some((&id, &secret)), fields).await;
        assert_eq!(
            (s, err["error"].as_str()),
            (400, Some(code)),
            "{fields:?}: {err}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert!(err["error_description"].is_string());
    }
    // Repeated parameters are refused.
    let res = env
        .http
        .post(env.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    env.finish().await;
}

/// Signs in through the page and answers the raw authorization code.
async fn raw_code(env: &TestEnv, id: &str, user: &str, challenge: &str) -> String {
    let url = format!(
        "{}?response_type=code&client_id={id}&redirect_uri={}&state=s1&scope=admin%3Aread&code_challenge={challenge}&code_challenge_method=S256",
        env.url("/oauth/authorize"),
        urlencode(REDIRECT)
    );
    let (status, location, body) =
        sign_in(env, &url, user, "correct horse battery staple", "allow").await;
    assert_eq!(status, 303, "{body}");
    query_of(&location)["code"].clone()
}

async fn codes_are_single_use_bound_to_client_redirect_and_verifier(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (id, secret) = app(&env, &["admin:read", "files:read"]).await;
    let (other_id, other_secret) = app(&env, &["admin:read"]).await;
    let alice = human(&env, &["admin:read", "files:read"]).await;
    // RFC 7636 Appendix B's pair.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let redeem =
        |code: String, client: (String, String), redirect: &'static str, verifier: &'static str| {
            let env = &env;
            async move {
                form(
                    env,
                    "/oauth/token",
                    Some((&client.0, &client.1)),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", redirect),
                        ("code_verifier", verifier),
                    ],
                )
                .await
            }
        };
    let mine = (id.clone(), secret.clone());
    // A wrong verifier, a wrong redirect URI, another client: invalid_grant.
    let code = raw_code(&env, &id, &alice, challenge).await;
    let (s, _, err) = redeem(
        code,
        mine.clone(),
        REDIRECT,
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    )
    .await;
    assert_eq!(
        (s, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    let code = raw_code(&env, &id, &alice, challenge).await;
    let (s, _, err) = redeem(code, mine.clone(), "http://127.0.0.1:65000/other", verifier).await;
    assert_eq!(
        (s, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    let code = raw_code(&env, &id, &alice, challenge).await;
    let (s, _, err) = redeem(code.clone(), (other_id, other_secret), REDIRECT, verifier).await;
    assert_eq!(
        (s, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    // …and the foreign attempt did not spend it: its owner still can.
    let (s, headers, first) = redeem(code.clone(), mine.clone(), REDIRECT, verifier).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(headers["cache-control"], "no-store");
    let access = first["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.call_as(&access, "GET", "/v1/me", None).await.0, 200);
    // A second use fails and revokes what the first issued.
    let (s, _, err) = redeem(code, mine.clone(), REDIRECT, verifier).await;
    assert_eq!((s, err["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        env.call_as(&access, "GET", "/v1/me", None).await.0,
        401,
        "tokens of a replayed code still work"
    );
    let (_, _, r) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(r["error"], "invalid_grant");
    // Codes expire after ten minutes.
    let code = raw_code(&env, &id, &alice, challenge).await;
    env.clock.advance(Duration::from_secs(601));
    let (s, _, err) = redeem(code, mine.clone(), REDIRECT, verifier).await;
    assert_eq!((s, err["error"].as_str()), (400, Some("invalid_grant")));
    // A narrowed refresh narrows only that access token, not the family.
    let code = raw_code(&env, &id, &alice, challenge).await;
    let (_, _, t) = redeem(code, mine.clone(), REDIRECT, verifier).await;
    let (_, _, narrow) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("scope", "admin:read"),
        ],
    )
    .await;
    assert_eq!(narrow["scope"], "admin:read");
    let (_, _, wide) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrow["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(wide["scope"], t["scope"], "{wide}");
    // Revoking a refresh token ends its family.
    let (s, _, _) = form(
        &env,
        "/oauth/revoke",
        Some((&id, &secret)),
        &[("token", wide["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(s, 200);
    let (_, _, dead) = form(
        &env,
        "/oauth/token",
        Some((&id, &secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", wide["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(dead["error"], "invalid_grant");
    assert_eq!(
        env.call_as(
            wide["access_token"].as_str().unwrap(),
            "GET",
            "/v1/me",
            None
        )
        .await
        .0,
        401
    );
    env.finish().await;
}
