//! Signing in through an organisation's own OpenID Connect provider,
//! against a real one: panva's `oidc-provider` (npm, pinned by
//! `tests/oidc-provider/package-lock.json`) started by the test on a free
//! port, with ScaiHub as its client and a few people — one a ScaiHub user
//! with a verified address, one unverified, one unknown to ScaiHub, one of
//! another domain, one a user of another organisation. The console and
//! `/oauth/authorize` are driven in headless Chromium. Skipped, with the
//! reason, without node/npm (unless `SCAIHUB_REQUIRE_NODE=1`) or
//! chromedriver (unless `SCAIHUB_REQUIRE_BROWSER=1`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::both;
use crate::console::browser::{Client, chromedriver, fill, shot, start_driver, submit, text};
use crate::console::{Browser, PASSWORD};
use crate::support::{Backend, Receiver, TestEnv};

both!(
    provider_settings_are_checked_by_field_sealed_and_audited,
    a_callback_counts_once_and_only_in_the_browser_that_began_it,
    people_sign_in_through_their_provider_and_everyone_else_is_refused,
);

const CLIENT_ID: &str = "scaihub-test";
const CLIENT_SECRET: &str = "provider-client-secret-0123456789";

/// The provider's people: login → claims.
fn accounts() -> Value {
    json!({
        "ana": {"email": "ana@example.com", "email_verified": true},
        "ben": {"email": "ben@example.com", "email_verified": false},
        "zoe": {"email": "zoe@example.com", "email_verified": true},
        "out": {"email": "out@elsewhere.org", "email_verified": true},
        "carl": {"email": "carl@example.com", "email_verified": true},
    })
}

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc-provider")
}

/// Whether node and npm are here; panics when CI requires them.
fn node_available() -> bool {
    let ok = ["node", "npm"].iter().all(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(
            std::env::var("SCAIHUB_REQUIRE_NODE").as_deref() != Ok("1"),
            "node and npm are required (SCAIHUB_REQUIRE_NODE=1) for the OpenID provider"
        );
        eprintln!(
            "skipped: the OpenID Connect tests need node and npm for their provider (tests/oidc-provider)"
        );
    }
    ok
}

/// Installs the provider's pinned packages from the lockfile, once.
fn install() {
    static ONCE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = ONCE.lock().unwrap();
    if *done || provider_dir().join("node_modules/oidc-provider").exists() {
        *done = true;
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(provider_dir())
        .output()
        .expect("npm runs");
    assert!(
        out.status.success(),
        "npm ci in tests/oidc-provider failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    *done = true;
}

/// A running provider, stopped on drop.
struct Provider {
    issuer: String,
    _child: tokio::process::Child,
}

async fn provider(env: &TestEnv) -> Provider {
    install();
    let mut child = tokio::process::Command::new("node")
        .arg(provider_dir().join("provider.mjs"))
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_REDIRECT_URI", env.hub.oidc_redirect_uri())
        .env("OIDC_ACCOUNTS", accounts().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider starts")
        .unwrap()
        .expect("a first line");
    // Whatever else it prints is read and dropped (a closed pipe would
    // end it at its next line).
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let v: Value = serde_json::from_str(&first).unwrap();
    Provider {
        issuer: v["issuer"].as_str().unwrap().to_string(),
        _child: child,
    }
}

/// ScaiHub's clock at the real time, which the provider's tokens carry.
fn clock_to_now(env: &TestEnv) {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let behind = real - env.hub.now();
    if behind > 0 {
        env.clock.advance(Duration::from_millis(behind as u64));
    }
}

fn settings(issuer: &str) -> Value {
    json!({
        "display_name": "Example IdP",
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_domains": ["Example.com", "@example.com"],
    })
}

async fn person(env: &TestEnv, org: &str, email: &str, perms: &[&str]) -> String {
    let (s, u) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org}/users"),
            Some(json!({"name": email, "kind": "human", "password": PASSWORD,
                "permissions": perms, "email": email})),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

async fn provider_settings_are_checked_by_field_sealed_and_audited(backend: Backend) {
    if !node_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let idp = provider(&env).await;
    let path = "/v1/orgs/{org}/sign-in/oidc";
    let (s, _) = env.call("GET", path, None).await;
    assert_eq!(s, 404, "nothing set up yet");

    // Each bad field is named, and nothing is stored.
    let with = |field: &str, value: Value| {
        let mut b = settings(&idp.issuer);
        if value.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = value;
        }
        b
    };
    for (body, field) in [
        (with("issuer", json!("http://idp.example.com")), "issuer"),
        (with("issuer", json!("not a url")), "issuer"),
        (
            with("issuer", json!(format!("{}?x=1", idp.issuer))),
            "issuer",
        ),
        // Answers no discovery document.
        (with("issuer", json!("http://127.0.0.1:9")), "issuer"),
        // Its discovery document names another issuer.
        (with("issuer", json!(format!("{}/", idp.issuer))), "issuer"),
        (with("client_id", json!("")), "client_id"),
        (with("client_secret", Value::Null), "client_secret"),
        (with("allowed_domains", json!([])), "allowed_domains"),
        (
            with("allowed_domains", json!(["example.com", "not a domain"])),
            "allowed_domains[1]",
        ),
        (with("display_name", json!("")), "display_name"),
    ] {
        let (s, e) = env.call("PUT", path, Some(body.clone())).await;
        assert_eq!(s, 422, "{body}: {e}");
        assert_eq!(e["field"], field, "{body}: {e}");
    }
    let (s, _) = env.call("GET", path, None).await;
    assert_eq!(s, 404, "a refusal stored nothing");

    let (s, v) = env.call("PUT", path, Some(settings(&idp.issuer))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["client_secret_set"], true);
    assert_eq!(v["allowed_domains"], json!(["example.com"]));
    assert_eq!(
        v["redirect_uri"],
        format!("{}/console/oidc/callback", env.base)
    );
    assert!(!v.to_string().contains(CLIENT_SECRET), "write-only: {v}");
    let (_, read) = env.call("GET", path, None).await;
    assert!(!read.to_string().contains(CLIENT_SECRET));
    assert_eq!(read["issuer"], idp.issuer);
    // Sealed at rest, under the master key.
    let stored = env
        .hub
        .store
        .get_org_oidc(&env.org_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored
            .client_secret
            .windows(CLIENT_SECRET.len())
            .any(|w| w == CLIENT_SECRET.as_bytes())
    );
    assert_eq!(
        env.hub
            .master_key
            .open(&stored.client_secret, &env.org_id)
            .unwrap(),
        CLIENT_SECRET.as_bytes()
    );
    // A change without a secret keeps the stored one.
    let mut keep = settings(&idp.issuer);
    keep.as_object_mut().unwrap().remove("client_secret");
    keep["display_name"] = json!("Renamed IdP");
    let (s, v) = env.call("PUT", path, Some(keep)).await;
    assert_eq!((s, v["display_name"].clone()), (200, json!("Renamed IdP")));
    let again = env
        .hub
        .store
        .get_org_oidc(&env.org_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        env.hub
            .master_key
            .open(&again.client_secret, &env.org_id)
            .unwrap(),
        CLIENT_SECRET.as_bytes()
    );

    // One organisation per domain.
    let (_, child) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Child"})))
        .await;
    let child = child["id"].as_str().unwrap();
    let (s, e) = env
        .call(
            "PUT",
            &format!("/v1/orgs/{child}/sign-in/oidc"),
            Some(settings(&idp.issuer)),
        )
        .await;
    assert_eq!(
        (s, e["field"].clone()),
        (422, json!("allowed_domains")),
        "{e}"
    );

    // Audited, without the secret.
    let events = env
        .audit("category=ADMIN&action=oidc_provider.updated")
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        !Value::Array(events.clone())
            .to_string()
            .contains(CLIENT_SECRET)
    );
    assert_eq!(events[0]["payload"]["issuer"], idp.issuer);

    let (s, _) = env.call("DELETE", path, None).await;
    assert_eq!(s, 204);
    let (s, _) = env.call("GET", path, None).await;
    assert_eq!(s, 404);
    let (s, _) = env.call("DELETE", path, None).await;
    assert_eq!(s, 404, "nothing left to remove");
    assert_eq!(
        env.audit("category=ADMIN&action=oidc_provider.deleted")
            .await
            .len(),
        1
    );
    // The domain is free again.
    let (s, e) = env
        .call(
            "PUT",
            &format!("/v1/orgs/{child}/sign-in/oidc"),
            Some(settings(&idp.issuer)),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    env.finish().await;
}

/// Starts a sign-in over plain HTTP: answers the provider URL and the
/// browser cookie.
async fn start(env: &TestEnv, email: &str) -> (url::Url, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(env.url("/console/oidc/start"))
        .form(&[("email", email)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    (to, cookie.split(';').next().unwrap().to_string())
}

async fn callback(env: &TestEnv, query: &str, cookie: Option<&str>) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = http.get(env.url(&format!("/console/oidc/callback?{query}")));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn a_callback_counts_once_and_only_in_the_browser_that_began_it(backend: Backend) {
    if !node_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let idp = provider(&env).await;
    let (s, e) = env
        .call(
            "PUT",
            "/v1/orgs/{org}/sign-in/oidc",
            Some(settings(&idp.issuer)),
        )
        .await;
    assert_eq!(s, 200, "{e}");

    // The request to the provider: code flow, PKCE S256, state and nonce.
    let (to, cookie) = start(&env, "Ana@Example.com").await;
    assert!(to.as_str().starts_with(&idp.issuer), "{to}");
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], env.hub.oidc_redirect_uri());
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(q["login_hint"], "ana@example.com");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43);
    assert_ne!(q["state"], q["nonce"]);
    let state = &q["state"];

    // Another browser (no cookie, or another's) cannot use the state, and
    // does not spend it.
    let (other_to, other_cookie) = start(&env, "ana@example.com").await;
    for c in [None, Some(other_cookie.as_str())] {
        let (s, page) = callback(&env, &format!("state={state}&code=x"), c).await;
        assert_eq!(s, 403, "{page}");
        assert!(page.contains("another browser"), "{page}");
    }
    // The provider's refusal comes back: refused, audited, and spent.
    let (s, page) = callback(
        &env,
        &format!("state={state}&error=access_denied"),
        Some(&cookie),
    )
    .await;
    assert_eq!(s, 403, "{page}");
    assert!(page.contains("did not sign you in"), "{page}");
    let refused = env
        .audit("category=SECURITY&action=auth.oidc_refused")
        .await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("access_denied")
    );
    let (s, page) = callback(&env, &format!("state={state}&code=x"), Some(&cookie)).await;
    assert_eq!(s, 403, "{page}");
    assert!(page.contains("already used"), "used once: {page}");

    // An answer naming another issuer (a mix-up) is refused before any
    // code is spent at the provider.
    let other_state: String = other_to
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let (s, _) = callback(
        &env,
        &format!("state={other_state}&code=x&iss=https%3A%2F%2Fevil.example"),
        Some(&other_cookie),
    )
    .await;
    assert_eq!(s, 403);
    let refused = env
        .audit("category=SECURITY&action=auth.oidc_refused")
        .await;
    assert_eq!(refused.len(), 2);
    assert!(
        refused[0]["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("evil.example")
    );

    // A sign-in not finished in time is gone.
    let (late_to, late_cookie) = start(&env, "ana@example.com").await;
    let late_state: String = late_to
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    env.clock.advance(Duration::from_secs(11 * 60));
    let (s, page) = callback(
        &env,
        &format!("state={late_state}&error=access_denied"),
        Some(&late_cookie),
    )
    .await;
    assert_eq!(s, 403);
    assert!(page.contains("expired"), "{page}");

    // A domain no organisation signs in with goes nowhere.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(env.url("/console/oidc/start"))
        .form(&[("email", "ana@nowhere.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("sign in with your email and password")
    );
    env.finish().await;
}

/// One person's sign-in at the provider in a fresh browser: the console's
/// sign-in page, the choice, the provider's own login form, and back.
async fn through_provider(c: &Client, env: &TestEnv, typed: &str, login: &str) {
    c.goto(&format!("{}/console/sign-in", env.base)).await;
    fill(c, "#oidc-email", typed).await;
    submit(c, "#oidc-continue").await;
    assert_eq!(text(c, "#provider-name").await, "Example IdP");
    submit(c, "#oidc-sign-in").await;
    at_provider(c, env, login).await;
}

/// The provider's development login form: any password.
async fn at_provider(c: &Client, env: &TestEnv, login: &str) {
    // The ID token will carry the real time; a slow machine's test may
    // have run for minutes since ScaiHub's clock was last set.
    clock_to_now(env);
    fill(c, "input[name=login]", login).await;
    fill(c, "input[name=password]", "anything").await;
    submit(c, "button[type=submit]").await;
    // Back at ScaiHub once the redirects have settled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while c.current_url().await.path().starts_with("/interaction") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still at the provider"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn people_sign_in_through_their_provider_and_everyone_else_is_refused(backend: Backend) {
    if !node_available() {
        return;
    }
    let Some(path) = chromedriver() else { return };
    let env = TestEnv::start(backend).await;
    clock_to_now(&env);
    let idp = provider(&env).await;
    let org = env.org_id.clone();
    let admin = person(
        &env,
        &org,
        "admin@example.com",
        &["admin:read", "admin:write"],
    )
    .await;
    let ana = person(&env, &org, "ana@example.com", &["admin:read", "files:read"]).await;
    person(&env, &org, "ben@example.com", &["admin:read"]).await;
    person(&env, &org, "out@elsewhere.org", &["admin:read"]).await;
    let (_, child) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Child"})))
        .await;
    let child = child["id"].as_str().unwrap().to_string();
    person(&env, &child, "carl@example.com", &["admin:read"]).await;
    let driver = start_driver(&path).await;

    // The org admin sets the provider up in the console.
    let c = Client::connect(&driver).await;
    c.goto(&format!("{}/console/sign-in", env.base)).await;
    fill(&c, "#login", "admin@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    submit(&c, "#sign-in").await;
    c.goto(&format!("{}/console/sign-in-settings", env.base))
        .await;
    assert_eq!(text(&c, "#redirect-uri").await, env.hub.oidc_redirect_uri());
    fill(&c, "#display_name", "Example IdP").await;
    fill(&c, "#issuer", "http://idp.example.com").await;
    fill(&c, "#client_id", CLIENT_ID).await;
    fill(&c, "#client_secret", CLIENT_SECRET).await;
    fill(&c, "#allowed_domains", "example.com").await;
    submit(&c, "#save-oidc").await;
    assert!(text(&c, "#form-error").await.contains("issuer"));
    shot(&c, "oidc-01-settings-refused").await;
    fill(&c, "#issuer", &idp.issuer).await;
    fill(&c, "#client_secret", CLIENT_SECRET).await;
    submit(&c, "#save-oidc").await;
    assert!(text(&c, "#saved").await.contains("Saved"));
    assert!(text(&c, "#secret-state").await.contains("A secret is set"));
    assert!(
        !c.source().await.contains(CLIENT_SECRET),
        "never shown again"
    );
    shot(&c, "oidc-02-settings-saved").await;
    c.close().await;

    // Ana: a verified address of a user of this organisation.
    let c = Client::connect(&driver).await;
    through_provider(&c, &env, "ana@example.com", "ana").await;
    assert!(
        c.current_url().await.path().ends_with("/console/webhooks"),
        "{}: {:?}",
        c.current_url().await,
        env.audit("category=SECURITY").await
    );
    assert!(text(&c, "header").await.contains(&ana), "signed in as Ana");
    shot(&c, "oidc-03-signed-in").await;
    c.close().await;
    let signed = env
        .audit("category=AUTHENTICATION&action=auth.oidc_signed_in")
        .await;
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0]["user_id"], ana);
    assert_eq!(signed[0]["payload"]["issuer"], idp.issuer);

    // Everyone else is refused, with the reason audited.
    for (typed, login, shown, reason) in [
        ("ben@example.com", "ben", "has not verified", "not verified"),
        ("zoe@example.com", "zoe", "No ScaiHub user", "no user"),
        ("out@example.com", "out", "not of a domain", "elsewhere.org"),
        ("carl@example.com", "carl", "No ScaiHub user", "no user"),
    ] {
        let c = Client::connect(&driver).await;
        through_provider(&c, &env, typed, login).await;
        let message = text(&c, "#oidc-error").await;
        let refused = env
            .audit("category=SECURITY&action=auth.oidc_refused")
            .await;
        assert!(
            message.contains(shown),
            "{login}: {message} ({})",
            refused[0]
        );
        assert!(
            c.find("#back-to-sign-in").await.is_ok(),
            "{login}: a way back"
        );
        shot(&c, &format!("oidc-04-refused-{login}")).await;
        let latest = &refused[0]["payload"];
        assert!(
            latest["reason"].as_str().unwrap().contains(reason),
            "{login}: {latest}"
        );
        // Not signed in: the console sends them to the sign-in page.
        c.goto(&format!("{}/console/webhooks", env.base)).await;
        assert!(c.current_url().await.path().ends_with("/console/sign-in"));
        c.close().await;
    }
    assert_eq!(
        env.audit("category=SECURITY&action=auth.oidc_refused")
            .await
            .len(),
        4
    );
    assert_eq!(
        env.audit("category=AUTHENTICATION&action=auth.oidc_signed_in")
            .await
            .len(),
        1,
        "nobody else was let in"
    );

    // /oauth/authorize: sign in at the provider, come back to consent.
    let receiver = Receiver::ok().await;
    let redirect = receiver.url("/cb");
    let (s, app) = env
        .call(
            "POST",
            "/v1/orgs/{org}/applications",
            Some(json!({"name": "Reports", "redirect_uris": [redirect], "scopes": ["files:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-more";
    let challenge = scaihub::oauth::pkce::s256(verifier);
    let authorize = format!(
        "{}/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=files%3Aread&state=st-1&code_challenge={challenge}&code_challenge_method=S256",
        env.base,
        app["client_id"].as_str().unwrap(),
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
    );
    let c = Client::connect(&driver).await;
    c.goto(&authorize).await;
    fill(&c, "#oidc-email", "ana@example.com").await;
    submit(&c, "#oidc-continue").await;
    submit(&c, "#oidc-sign-in").await;
    at_provider(&c, &env, "ana").await;
    assert_eq!(c.current_url().await.path(), "/oauth/authorize");
    assert!(text(&c, "#signed-in-as").await.contains("ana@example.com"));
    assert!(c.find("#password").await.is_err(), "no password asked");
    shot(&c, "oidc-05-consent").await;
    submit(&c, "#allow").await;
    let back = c.current_url().await;
    assert!(back.as_str().starts_with(&redirect), "{back}");
    let got: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(got["state"], "st-1");
    c.close().await;
    let token: Value = env
        .http
        .post(env.url("/oauth/token"))
        .basic_auth(
            app["client_id"].as_str().unwrap(),
            Some(app["client_secret"].as_str().unwrap()),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", got["code"].as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"));
    let (s, me) = env.call_as(access, "GET", "/v1/me", None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["principal_id"], ana, "the token is Ana's");
    assert_eq!(
        env.audit("category=AUTHENTICATION&action=auth.oidc_signed_in")
            .await
            .len(),
        2
    );

    // A password sign-in still works beside it.
    let mut b = Browser::new(&env);
    assert_eq!(b.sign_in("ana@example.com", PASSWORD).await.status, 303);
    let _ = admin;
    drop(driver);
    env.finish().await;
}
