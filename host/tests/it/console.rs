//! The admin console: sessions, CSRF and access rules over real HTTP, the
//! page timings with 10,000 deliveries in the store, and end-to-end runs in
//! a real headless Chromium driven over WebDriver (skipped, with the reason
//! printed, when chromedriver is missing and `SCAIHUB_REQUIRE_BROWSER` is
//! not set).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event};

both!(
    sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session,
    failed_sign_ins_are_audited_and_rate_limited,
    every_post_needs_the_session_csrf_token,
    webhook_form_shows_field_errors_and_creates_through_the_hub,
    other_organisations_are_invisible_and_an_msp_can_switch,
    read_only_users_see_pages_but_cannot_act,
    plugins_are_uploaded_tested_and_attached_from_the_console,
    a_compiling_plugin_page_reloads_itself_until_it_shows_the_outcome,
    editing_an_application_keeps_scopes_the_editor_does_not_hold,
);

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A human user with these permissions; answers its id (the login).
pub(crate) async fn human(env: &TestEnv, perms: &[&str]) -> String {
    let (s, u) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(json!({"name": "Console user", "kind": "human", "password": PASSWORD, "permissions": perms})),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

/// A browser-like client over plain HTTP: keeps the console cookie by hand
/// and follows no redirects, so each answer can be checked.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: String,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) set_cookie: Vec<String>,
    pub(crate) body: String,
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

impl Browser {
    pub(crate) fn new(env: &TestEnv) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: env.base.clone(),
            cookie: None,
            csrf: String::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder, extra_cookie: Option<&str>) -> Answer {
        let mut cookies: Vec<String> = self.cookie.iter().cloned().collect();
        cookies.extend(extra_cookie.map(str::to_string));
        let req = if cookies.is_empty() {
            req
        } else {
            req.header("cookie", cookies.join("; "))
        };
        let res = req.send().await.unwrap();
        Answer {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            set_cookie: res
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect(),
            body: res.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let a = self
            .send(self.http.get(format!("{}{path}", self.base)), None)
            .await;
        let token = hidden(&a.body, "csrf");
        if !token.is_empty() {
            self.csrf = token;
        }
        a
    }

    /// Posts a form; the session's CSRF token is added unless `csrf` is given.
    pub(crate) async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> Answer {
        let mut all: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.push((
            "csrf".into(),
            csrf.map(str::to_string).unwrap_or(self.csrf.clone()),
        ));
        self.send(
            self.http.post(format!("{}{path}", self.base)).form(&all),
            None,
        )
        .await
    }

    /// Signs in through the form; answers the sign-in POST.
    pub(crate) async fn sign_in(&mut self, login: &str, password: &str) -> Answer {
        let page = self.get("/console/sign-in").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf_cookie = page.set_cookie[0].split(';').next().unwrap().to_string();
        let token = hidden(&page.body, "csrf");
        let a = self
            .send(
                self.http
                    .post(format!("{}/console/sign-in", self.base))
                    .form(&[
                        ("csrf", token.as_str()),
                        ("login", login),
                        ("password", password),
                    ]),
                Some(&csrf_cookie),
            )
            .await;
        if let Some(c) = a
            .set_cookie
            .iter()
            .find(|c| c.starts_with("scaihub_console="))
        {
            self.cookie = Some(c.split(';').next().unwrap().to_string());
        }
        a
    }
}

async fn sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let mut b = Browser::new(&env);

    // Not signed in: every page leads to the sign-in form.
    let a = b.get("/console/webhooks").await;
    assert_eq!((a.status, a.location.as_str()), (303, "/console/sign-in"));

    let a = b.sign_in(&alice, PASSWORD).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/console/webhooks"));
    let cookie = a
        .set_cookie
        .iter()
        .find(|c| c.starts_with("scaihub_console="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(
        !cookie.contains("Secure"),
        "http here, so no Secure: {cookie}"
    );
    // The database holds the token's hash, never the token.
    let token = b.cookie.clone().unwrap();
    let token = token.trim_start_matches("scaihub_console=");
    let dump = env.db.dump().await;
    assert!(
        !dump.windows(token.len()).any(|w| w == token.as_bytes()),
        "the session token is stored in clear"
    );

    let a = b.get("/console/webhooks").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains(&alice), "the page names who is signed in");
    // Successful sign-ins are audited too.
    let events = env.audit("action=auth.console_signed_in").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["user_id"], alice.as_str());

    // The session expires on the injected clock.
    env.clock.advance(Duration::from_secs(7 * 3600));
    assert_eq!(b.get("/console/webhooks").await.status, 200);

    let a = b.post("/console/sign-out", &[], None).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/console/sign-in"));
    assert!(a.set_cookie.iter().any(|c| c.contains("Max-Age=0")));
    // The old cookie no longer works, even if the browser kept it.
    let a = b.get("/console/webhooks").await;
    assert_eq!((a.status, a.location.as_str()), (303, "/console/sign-in"));

    b.sign_in(&alice, PASSWORD).await;
    assert_eq!(b.get("/console/webhooks").await.status, 200);
    env.clock.advance(Duration::from_secs(8 * 3600 + 1));
    let a = b.get("/console/webhooks").await;
    assert_eq!((a.status, a.location.as_str()), (303, "/console/sign-in"));
    env.finish().await;
}

async fn failed_sign_ins_are_audited_and_rate_limited(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read"]).await;
    let mut b = Browser::new(&env);
    for _ in 0..5 {
        let a = b.sign_in(&alice, "wrong password!").await;
        assert_eq!(a.status, 401);
        assert!(a.body.contains("wrong login or password"), "{}", a.body);
        assert!(b.cookie.is_none());
    }
    // The sixth is refused even with the right password.
    let a = b.sign_in(&alice, PASSWORD).await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("too many failed sign-ins"), "{}", a.body);
    let failures = env.audit("action=auth.login_failed").await;
    assert_eq!(failures.len(), 6, "{failures:?}");
    assert!(failures.iter().all(|e| e["ip_address"] == "127.0.0.1"));
    // After the window, the right password works.
    env.clock.advance(Duration::from_secs(16 * 60));
    let a = b.sign_in(&alice, PASSWORD).await;
    assert_eq!(a.status, 303, "{}", a.body);
    env.finish().await;
}

async fn every_post_needs_the_session_csrf_token(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/"), &["SHARING"]).await;

    // The sign-in form itself: no cookie, or a token that is not the cookie's.
    let b = Browser::new(&env);
    let a = b
        .send(
            b.http.post(format!("{}/console/sign-in", env.base)).form(&[
                ("csrf", "forged"),
                ("login", alice.as_str()),
                ("password", PASSWORD),
            ]),
            Some("scaihub_console_csrf=other"),
        )
        .await;
    assert_eq!(a.status, 403);

    let mut b = Browser::new(&env);
    b.sign_in(&alice, PASSWORD).await;
    b.get("/console/webhooks").await;
    assert!(!b.csrf.is_empty());
    for path in [
        format!("/console/webhooks/{hook}/pause"),
        format!("/console/webhooks/{hook}/rotate-secret"),
        format!("/console/webhooks/{hook}/delete"),
        "/console/sign-out".to_string(),
    ] {
        for bad in ["", "not-the-token"] {
            let a = b.post(&path, &[], Some(bad)).await;
            assert_eq!(a.status, 403, "{path} with csrf {bad:?}: {}", a.body);
        }
    }
    // Nothing happened.
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{hook}"), None)
        .await;
    assert_eq!(w["paused"], false);
    // With the token, it does.
    let a = b
        .post(&format!("/console/webhooks/{hook}/pause"), &[], None)
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{hook}"), None)
        .await;
    assert_eq!(w["paused"], true);
    // …and it is audited as the signed-in user, like the API would.
    let paused = env.audit("action=webhook.paused").await;
    assert_eq!(paused[0]["user_id"], alice.as_str());
    let list = b.get("/console/webhooks").await;
    assert!(list.body.contains("badge paused"), "{}", list.body);
    env.finish().await;
}

async fn webhook_form_shows_field_errors_and_creates_through_the_hub(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let receiver = Receiver::ok().await;
    let mut b = Browser::new(&env);
    b.sign_in(&alice, PASSWORD).await;
    let form = b.get("/console/webhooks/new").await;
    assert_eq!(form.status, 200);
    for control in [
        "name",
        "url",
        "events",
        "actions",
        "share_ids",
        "user_ids",
        "ip_ranges",
        "headers",
        "queue_limit",
        "secret",
        "filter_plugins",
        "transform_plugin",
        "on_plugin_error",
        "ordering",
    ] {
        assert!(
            form.body.contains(&format!("name=\"{control}\"")),
            "the form lacks {control}"
        );
    }
    // An internal address is refused by the same check as the API, next to the field.
    let a = b
        .post(
            "/console/webhooks",
            &[
                ("name", "ops"),
                ("url", "http://10.1.2.3/hook"),
                ("events", "SHARING"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("id=\"url-error\""), "{}", a.body);
    assert!(
        a.body.contains("value=\"ops\""),
        "the form keeps what was typed"
    );
    let a = b
        .post(
            "/console/webhooks",
            &[
                ("name", "ops"),
                ("url", &receiver.url("/")),
                ("ip_ranges", "not-a-range"),
                ("events", "SHARING"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("ip_ranges"), "{}", a.body);
    let a = b
        .post(
            "/console/webhooks",
            &[
                ("name", "ops"),
                ("url", &receiver.url("/")),
                ("headers", "no colon"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 422);
    let a = b
        .post(
            "/console/webhooks",
            &[
                ("name", "ops"),
                ("url", &receiver.url("/")),
                ("events", "SHARING"),
                ("ordering", "lifo"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 422);
    assert!(a.body.contains("must be unordered or fifo"), "{}", a.body);

    let a = b
        .post(
            "/console/webhooks",
            &[
                ("name", "ops <b>hook</b>"),
                ("url", &receiver.url("/in")),
                ("events", "SHARING"),
                ("events", "ADMIN"),
                ("actions", "share.*\nwebhook.*"),
                ("headers", "X-Team: ops"),
                ("queue_limit", "500"),
                ("ordering", "fifo"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.contains("whsec_"), "the secret is shown once");
    assert!(
        !a.body.contains("<b>hook") && a.body.contains("hook"),
        "names are escaped: {}",
        a.body
    );
    let (_, page) = env.call("GET", "/v1/orgs/{org}/webhooks", None).await;
    let w = &page["data"][0];
    assert_eq!(w["events"], json!(["SHARING", "ADMIN"]));
    assert_eq!(w["actions"], json!(["share.*", "webhook.*"]));
    assert!(
        w["headers"]
            .to_string()
            .to_lowercase()
            .contains(r#""x-team":"ops""#),
        "{w}"
    );
    assert_eq!(w["queue_limit"], 500);
    assert_eq!(w["ordering"], "fifo");
    let id = w["id"].as_str().unwrap();
    let created = env.audit("action=webhook.created").await;
    assert_eq!(created[0]["user_id"], alice.as_str());

    // The detail page never shows the secret again; an edit goes through the hub.
    let detail = b.get(&format!("/console/webhooks/{id}")).await;
    assert!(!detail.body.contains("whsec_"));
    let a = b
        .post(
            &format!("/console/webhooks/{id}/edit"),
            &[
                ("name", "renamed"),
                ("url", &receiver.url("/in")),
                ("events", "SHARING"),
                ("queue_limit", "0"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 422, "queue_limit 0 is refused: {}", a.body);
    let a = b
        .post(
            &format!("/console/webhooks/{id}/edit"),
            &[
                ("name", "renamed"),
                ("url", &receiver.url("/in")),
                ("events", "SHARING"),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(w["name"], "renamed");
    assert_eq!(w["actions"], json!([]));

    // Send a test event: the answer shows the delivery with its response code.
    let a = b
        .post(&format!("/console/webhooks/{id}/test"), &[], None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("id=\"test-result\""), "{}", a.body);
    assert!(a.body.contains("response code 200"), "{}", a.body);
    // Rotate: the new secret is shown once with the old one's expiry.
    let a = b
        .post(&format!("/console/webhooks/{id}/rotate-secret"), &[], None)
        .await;
    assert!(a.body.contains("whsec_") && a.body.contains("keeps signing beside it until"));
    // Redeliver the test delivery: a new delivery appears.
    let before = env.deliveries(id).await.len();
    let first = env.deliveries(id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = b
        .post(&format!("/console/deliveries/{first}/redeliver"), &[], None)
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    env.wait_deliveries(id, "the redelivery", |l| l.len() == before + 1)
        .await;
    env.finish().await;
}

async fn other_organisations_are_invisible_and_an_msp_can_switch(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let receiver = Receiver::ok().await;
    // A customer of the MSP (the default organisation), with its own webhook.
    let (s, child) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Customer Ltd"})))
        .await;
    assert_eq!(s, 201, "{child}");
    let child_id = child["id"].as_str().unwrap().to_string();
    let (s, cw) = env
        .call(
            "POST",
            &format!("/v1/orgs/{child_id}/webhooks"),
            Some(json!({"name": "customer hook", "url": receiver.url("/"), "events": ["SHARING"]})),
        )
        .await;
    assert_eq!(s, 201, "{cw}");
    let child_hook = cw["id"].as_str().unwrap();

    let mut b = Browser::new(&env);
    b.sign_in(&alice, PASSWORD).await;
    // Looking at its own organisation, the customer's webhook is a 404.
    let a = b.get(&format!("/console/webhooks/{child_hook}")).await;
    assert_eq!(a.status, 404);
    let list = b.get("/console/webhooks").await;
    assert!(
        list.body.contains("Customer Ltd"),
        "the switcher lists the customer"
    );
    assert!(!list.body.contains("customer hook"));
    // Switch to the customer.
    let a = b.post("/console/org", &[("org_id", &child_id)], None).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let list = b.get("/console/webhooks").await;
    assert!(list.body.contains("customer hook"), "{}", list.body);
    assert_eq!(
        b.get(&format!("/console/webhooks/{child_hook}"))
            .await
            .status,
        200
    );
    // An organisation outside the tree cannot be chosen.
    let a = b
        .post("/console/org", &[("org_id", "org_nothere")], None)
        .await;
    assert_eq!(a.status, 404);

    // A user of the customer cannot see the MSP.
    let (s, u) = env
        .call(
            "POST",
            &format!("/v1/orgs/{child_id}/users"),
            Some(json!({"name": "Bob", "kind": "human", "password": PASSWORD, "permissions": ["admin:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let mut bob = Browser::new(&env);
    bob.sign_in(u["id"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(bob.get("/console/webhooks").await.status, 200);
    let a = bob
        .post("/console/org", &[("org_id", &env.org_id)], None)
        .await;
    assert_eq!(a.status, 404);
    env.finish().await;
}

async fn read_only_users_see_pages_but_cannot_act(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let reader = human(&env, &["admin:read"]).await;
    let nobody = human(&env, &["files:read"]).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/"), &["SHARING"]).await;
    let mut b = Browser::new(&env);
    b.sign_in(&reader, PASSWORD).await;
    for path in [
        "/console/webhooks",
        "/console/applications",
        "/console/plugins",
        "/console/audit",
    ] {
        let a = b.get(path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(!a.body.contains("New webhook") && !a.body.contains("id=\"upload-plugin\""));
    }
    let a = b.get(&format!("/console/webhooks/{hook}")).await;
    assert!(!a.body.contains("id=\"pause\""));
    let a = b
        .post(&format!("/console/webhooks/{hook}/pause"), &[], None)
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("admin:write"));
    let mut n = Browser::new(&env);
    n.sign_in(&nobody, PASSWORD).await;
    assert_eq!(n.get("/console/webhooks").await.status, 403);
    env.finish().await;
}

/// A multipart form as a browser sends a file upload.
fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----scaihub-console-test";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"wasm\"; filename=\"plugin.wasm\"\r\nContent-Type: application/wasm\r\n\r\n")
            .as_bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn uncompilable_filter() -> Vec<u8> {
    crate::compiles::uncompilable_filter()
}

async fn a_compiling_plugin_page_reloads_itself_until_it_shows_the_outcome(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let mut b = Browser::new(&env);
    b.sign_in(&alice, PASSWORD).await;
    // A version stored `compiling` and not yet queued: what a large upload
    // looks like for the tens of seconds its compile takes. It imports
    // an interface the sandbox lacks, so its compile will fail.
    let wasm = uncompilable_filter();
    let id = "plg_console_compiling";
    env.hub
        .store
        .insert_plugin(&scaihub::storage::plugins::NewPlugin {
            id,
            org_id: &env.org_id,
            name: "big",
            kind: "filter",
            sha256: &"0".repeat(64),
            wasm: &wasm,
            created_by: None,
            created_at: env.hub.now(),
        })
        .await
        .unwrap()
        .unwrap();
    let refresh = "<meta http-equiv=\"refresh\"";
    let page = b.get(&format!("/console/plugins/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("compiling…"), "{}", page.body);
    assert!(page.body.contains(refresh), "{}", page.body);
    assert!(!page.body.contains("id=\"run-test\""), "{}", page.body);
    assert!(!page.body.contains("id=\"attach\""), "{}", page.body);
    let list = b.get("/console/plugins").await;
    assert!(
        list.body.contains(refresh) && list.body.contains("compiling…"),
        "{}",
        list.body
    );

    env.hub.compiler.submit(&env.org_id, id);
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        let page = b.get(&format!("/console/plugins/{id}")).await;
        if !page.body.contains("compiling…") {
            break page;
        }
        assert!(Instant::now() < deadline, "still compiling: {}", page.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        page.body.contains("failed to compile: ")
            && page
                .body
                .contains("imports something the sandbox does not provide"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(refresh), "{}", page.body);
    assert!(!page.body.contains("id=\"run-test\""), "{}", page.body);
    let list = b.get("/console/plugins").await;
    assert!(
        !list.body.contains(refresh) && list.body.contains(">failed<"),
        "{}",
        list.body
    );
    env.finish().await;
}

async fn plugins_are_uploaded_tested_and_attached_from_the_console(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/"), &["SHARING"]).await;
    let wasm = std::fs::read(crate::support::plugin_wasm("payload_field_filter")).unwrap();
    let mut b = Browser::new(&env);
    b.sign_in(&alice, PASSWORD).await;
    b.get("/console/plugins").await;
    let upload = |fields: Vec<(&'static str, String)>, file: Vec<u8>| {
        let fields: Vec<(&str, String)> = fields;
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (ct, body) = multipart(&pairs, &file);
        b.send(
            b.http
                .post(format!("{}/console/plugins", env.base))
                .header("content-type", ct)
                .body(body),
            None,
        )
    };
    // Without the CSRF token: refused.
    let a = upload(
        vec![("name", "role-filter".into()), ("kind", "filter".into())],
        wasm.clone(),
    )
    .await;
    assert_eq!(a.status, 403);
    // A filter declared as a transform: refused by the hub's validation, shown on the page.
    let a = upload(
        vec![
            ("csrf", b.csrf.clone()),
            ("name", "role-filter".into()),
            ("kind", "transform".into()),
        ],
        wasm.clone(),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("id=\"form-error\""), "{}", a.body);
    let a = upload(
        vec![
            ("csrf", b.csrf.clone()),
            ("name", "role-filter".into()),
            ("kind", "filter".into()),
        ],
        wasm.clone(),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = a
        .location
        .trim_start_matches("/console/plugins/")
        .to_string();
    let page = b.get(&a.location).await;
    assert!(
        page.body.contains("role-filter")
            && page.body.contains("version 1")
            && page.body.contains("<dd id=\"plugin-status\">ready</dd>"),
        "{}",
        page.body
    );
    let list = b.get("/console/plugins").await;
    assert!(list.body.contains(&id));

    // Run it on the sample event: the verdict is shown.
    let sample = hidden_textarea(&page.body, "event");
    for (allowed, verdict) in [("contributor", "deliver"), ("owner", "skip")] {
        let config = format!(r#"{{"pointer": "/role", "allowed": ["{allowed}"]}}"#);
        let a = b
            .post(
                &format!("/console/plugins/{id}/test"),
                &[("event", &sample), ("config", &config)],
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            a.body.contains(&format!("id=\"verdict\">{verdict}<")),
            "{allowed}: {}",
            a.body
        );
    }
    let a = b
        .post(
            &format!("/console/plugins/{id}/test"),
            &[("event", "{not json")],
            None,
        )
        .await;
    assert_eq!(a.status, 422);

    // Attach it to the webhook: the hub checks and stores it.
    let a = b
        .post(
            &format!("/console/plugins/{id}/attach"),
            &[
                ("webhook_id", &hook),
                (
                    "attach_config",
                    r#"{"pointer": "/role", "allowed": ["contributor"]}"#,
                ),
            ],
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.location.clone()),
        (303, format!("/console/webhooks/{hook}"))
    );
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{hook}"), None)
        .await;
    assert_eq!(w["filter_plugins"][0]["plugin_id"], id.as_str());
    assert_eq!(
        w["filter_plugins"][0]["config"]["allowed"],
        json!(["contributor"])
    );
    env.finish().await;
}

/// The text of a `<textarea name=…>`, unescaped.
fn hidden_textarea(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\""))
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split("</textarea>").next())
        .unwrap_or_default()
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

// ---- timings with 10,000 deliveries ----

/// Prints each page's server time with 10,000 deliveries in the store (the
/// goal is under 100 ms); asserts only that they answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_timings_with_10000_deliveries() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let alice = human(&env, &["admin:read", "admin:write"]).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/"), &["SHARING"]).await;
    for i in 0..10 {
        env.webhook(&receiver.url(&format!("/{i}")), &["FILE_ACCESS"])
            .await;
    }
    let started = Instant::now();
    for batch in 0..10 {
        let events: Vec<Value> = (0..1000)
            .map(|i| {
                event(
                    &format!("evt_t{batch}_{i}"),
                    "SHARING",
                    "share.member_added",
                )
            })
            .collect();
        env.ingest(Value::Array(events)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < 10_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "console timings: 10,000 deliveries stored, {} sent, after {:?}",
        receiver.received().len(),
        started.elapsed()
    );
    let mut b = Browser::new(&env);
    b.sign_in(&alice, PASSWORD).await;
    let first = env.deliveries(&hook).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/console/webhooks".to_string(),
        format!("/console/webhooks/{hook}"),
        format!("/console/webhooks/{hook}?status=succeeded"),
        format!("/console/deliveries/{first}"),
        "/console/audit".to_string(),
        "/console/audit?category=SHARING&action=share.member_added".to_string(),
        "/console/applications".to_string(),
        "/console/plugins".to_string(),
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let a = b.get(&path).await;
            times.push(t.elapsed());
            assert_eq!(a.status, 200, "{path}");
        }
        times.sort();
        eprintln!(
            "console timings: {path}: median {:?}, max {:?}",
            times[2], times[4]
        );
    }
    env.finish().await;
}

// ---- the real browser ----

pub(crate) mod browser {
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use base64::Engine;
    use serde_json::{Value, json};

    use super::{PASSWORD, human};
    use crate::support::{Backend, Receiver, TestEnv, event};

    /// chromedriver, or the reason to skip (a panic when a browser is required).
    pub(crate) fn chromedriver() -> Option<PathBuf> {
        let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        if found.is_none() {
            if std::env::var("SCAIHUB_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!(
                    "a browser is required (SCAIHUB_REQUIRE_BROWSER=1) but chromedriver is not installed (apt-get install chromium chromium-driver)"
                );
            }
            eprintln!(
                "skipping the browser test: chromedriver is not installed (apt-get install chromium chromium-driver); set SCAIHUB_REQUIRE_BROWSER=1 to make this a failure"
            );
        }
        found
    }

    /// A chromedriver process on a free port, stopped on drop.
    pub(crate) struct Driver {
        child: Child,
        port: u16,
    }

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub(crate) async fn start_driver(path: &PathBuf) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver { child, port };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    /// A minimal W3C WebDriver client: the dozen commands these tests use,
    /// JSON over HTTP with the reqwest client the suite already has.
    pub(crate) struct Client {
        http: reqwest::Client,
        session: String,
    }

    const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

    impl Client {
        pub(crate) async fn connect(driver: &Driver) -> Client {
            Self::connect_with(driver, true).await
        }

        /// A session whose pages run no JavaScript at all when
        /// `javascript` is false (Chromium's content setting).
        pub(crate) async fn connect_with(driver: &Driver, javascript: bool) -> Client {
            let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]});
            if !javascript {
                options["prefs"] = json!({"profile.default_content_setting_values.javascript": 2});
            }
            if std::path::Path::new("/usr/bin/chromium").exists() {
                options["binary"] = json!("/usr/bin/chromium");
            }
            let http = reqwest::Client::new();
            let base = format!("http://127.0.0.1:{}", driver.port);
            let res: Value = http
                .post(format!("{base}/session"))
                .json(&json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = res["value"]["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no WebDriver session: {res}"));
            let client = Client {
                http,
                session: format!("{base}/session/{id}"),
            };
            // Finding an element waits up to 5 s for it (a page still loading after a click).
            client
                .call("POST", "/timeouts", Some(json!({"implicit": 5000})))
                .await
                .unwrap();
            if !javascript {
                // The page's own scripts stay off for every page of the tab.
                client
                    .call(
                        "POST",
                        "/goog/cdp/execute",
                        Some(json!({"cmd": "Emulation.setScriptExecutionDisabled", "params": {"value": true}})),
                    )
                    .await
                    .unwrap();
            }
            client
        }

        pub(crate) async fn call(
            &self,
            method: &str,
            path: &str,
            body: Option<Value>,
        ) -> Result<Value, String> {
            let mut req = self
                .http
                .request(method.parse().unwrap(), format!("{}{path}", self.session));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let res = req.send().await.map_err(|e| e.to_string())?;
            let ok = res.status().is_success();
            let v: Value = res.json().await.map_err(|e| e.to_string())?;
            if ok {
                Ok(v["value"].clone())
            } else {
                Err(format!(
                    "{}: {}",
                    v["value"]["error"], v["value"]["message"]
                ))
            }
        }

        pub(crate) async fn goto(&self, url: &str) {
            self.call("POST", "/url", Some(json!({"url": url})))
                .await
                .unwrap();
        }

        pub(crate) async fn current_url(&self) -> url::Url {
            let v = self.call("GET", "/url", None).await.unwrap();
            url::Url::parse(v.as_str().unwrap()).unwrap()
        }

        pub(crate) async fn source(&self) -> String {
            let v = self.call("GET", "/source", None).await.unwrap();
            v.as_str().unwrap().to_string()
        }

        pub(crate) async fn find(&self, css: &str) -> Result<String, String> {
            let v = self
                .call(
                    "POST",
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await?;
            Ok(v[ELEMENT].as_str().unwrap().to_string())
        }

        pub(crate) async fn find_all(&self, css: &str) -> Vec<String> {
            let v = self
                .call(
                    "POST",
                    "/elements",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await
                .unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|e| e[ELEMENT].as_str().unwrap().to_string())
                .collect()
        }

        pub(crate) async fn element(
            &self,
            id: &str,
            method: &str,
            what: &str,
            body: Option<Value>,
        ) -> Value {
            self.call(method, &format!("/element/{id}/{what}"), body)
                .await
                .unwrap()
        }

        async fn screenshot(&self) -> Vec<u8> {
            let v = self.call("GET", "/screenshot", None).await.unwrap();
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
        }

        pub(crate) async fn close(self) {
            let _ = self.http.delete(&self.session).send().await;
        }
    }

    pub(crate) fn screenshots() -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub(crate) async fn shot(c: &Client, name: &str) {
        let png = c.screenshot().await;
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
        let el = c
            .find(css)
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        c.element(&el, "POST", "clear", Some(json!({}))).await;
        c.element(&el, "POST", "value", Some(json!({"text": text})))
            .await;
    }

    pub(crate) async fn click(c: &Client, css: &str) {
        let el = c
            .find(css)
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        c.element(&el, "POST", "click", Some(json!({}))).await;
    }

    /// Clicks something that loads a new page, and waits until it has.
    pub(crate) async fn submit(c: &Client, css: &str) {
        submit_within(c, css, Duration::from_secs(10)).await
    }

    /// `submit` for a page that may take long to answer (the first script
    /// run of a process waits for the script engine to compile).
    pub(crate) async fn submit_within(c: &Client, css: &str, within: Duration) {
        let old = c.find("html").await.unwrap();
        click(c, css).await;
        let deadline = tokio::time::Instant::now() + within;
        while c
            .call("GET", &format!("/element/{old}/name"), None)
            .await
            .is_ok()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} did not load a new page"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn text(c: &Client, css: &str) -> String {
        let el = match c.find(css).await {
            Ok(el) => el,
            Err(e) => {
                let source = c.source().await;
                panic!("no {css} ({e}) on {}: {source}", c.current_url().await);
            }
        };
        c.element(&el, "GET", "text", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Sign in, create a webhook through the form, trigger an event through
    /// the API and see the delivery with its response code on the detail
    /// page; create an application and see its secret once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn console_in_a_real_browser() {
        let Some(path) = chromedriver() else { return };
        let env = TestEnv::start(Backend::Sqlite).await;
        let alice = human(&env, &["admin:read", "admin:write", "files:read"]).await;
        let receiver = Receiver::start(|_| (202, Duration::ZERO)).await;
        let driver = start_driver(&path).await;
        let c = Client::connect(&driver).await;

        c.goto(&format!("{}/console", env.base)).await;
        assert!(c.current_url().await.path().ends_with("/console/sign-in"));
        fill(&c, "#login", &alice).await;
        fill(&c, "#password", "not the password").await;
        submit(&c, "#sign-in").await;
        assert!(
            text(&c, "#sign-in-error")
                .await
                .contains("wrong login or password")
        );
        shot(&c, "01-sign-in-refused").await;
        fill(&c, "#login", &alice).await;
        fill(&c, "#password", PASSWORD).await;
        submit(&c, "#sign-in").await;
        assert!(c.current_url().await.path().ends_with("/console/webhooks"));
        shot(&c, "02-webhooks-empty").await;

        // New webhook through the form.
        submit(&c, "#new-webhook").await;
        fill(&c, "#name", "Browser hook").await;
        fill(&c, "#url", "http://10.0.0.1/hook").await;
        click(&c, "input[name=events][value=SHARING]").await;
        submit(&c, "#save-webhook").await;
        shot(&c, "03-webhook-form-error").await;
        let shown = text(&c, "main").await;
        assert!(
            shown.contains("internal address"),
            "the URL is refused inline: {shown}"
        );
        fill(&c, "#url", &receiver.url("/browser")).await;
        submit(&c, "#save-webhook").await;
        let secret = text(&c, "#webhook-secret").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        shot(&c, "04-webhook-created").await;
        submit(&c, "#webhook-link").await;
        let detail_url = c.current_url().await;
        assert!(!c.source().await.contains(&secret), "shown once");

        // An event through the API; its delivery appears with the code.
        env.ingest(event("evt_browser_1", "SHARING", "share.member_added"))
            .await;
        receiver.wait_for(1).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            c.goto(detail_url.as_str()).await;
            let found = c.find_all("#deliveries tbody tr td.code").await;
            if let Some(cell) = found.first()
                && c.element(cell, "GET", "text", None).await == "202"
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no delivery with 202 on the page"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(text(&c, "#deliveries").await.contains("succeeded"));
        assert_eq!(text(&c, "#webhook-health").await, "healthy");
        shot(&c, "05-webhook-detail-with-delivery").await;

        // Pause and resume by keyboard-free clicks; the badge follows.
        submit(&c, "#pause").await;
        assert_eq!(text(&c, "#webhook-health").await, "paused");
        submit(&c, "#resume").await;
        assert_eq!(text(&c, "#webhook-health").await, "healthy");

        // An application: the secret is shown once.
        c.goto(&format!("{}/console/applications", env.base)).await;
        submit(&c, "#new-application").await;
        fill(&c, "#name", "Reporting app").await;
        click(&c, "input[name=scopes][value='files:read']").await;
        submit(&c, "#save-application").await;
        let client_secret = text(&c, "#client-secret").await;
        let client_id = text(&c, "#client-id").await;
        assert!(client_secret.starts_with("scs_"), "{client_secret}");
        assert!(c.source().await.contains("shown only this once"));
        shot(&c, "06-application-secret-once").await;
        c.goto(&format!("{}/console/applications/{client_id}", env.base))
            .await;
        assert!(!c.source().await.contains(&client_secret));
        // The secret works against the token endpoint.
        let token = env
            .http
            .post(env.url("/oauth/token"))
            .basic_auth(&client_id, Some(&client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 200);
        submit(&c, "#rotate-app-secret").await;
        assert!(
            text(&c, "#previous-expiry")
                .await
                .contains("keeps working until")
        );
        shot(&c, "07-application-rotated").await;

        // The audit log, filtered.
        c.goto(&format!("{}/console/audit?category=ADMIN", env.base))
            .await;
        let log = text(&c, "#events").await;
        assert!(log.contains("webhook.created") && log.contains("application.created"));
        assert!(!log.contains("share.member_added"));
        shot(&c, "08-audit-log").await;

        // A plugin version still compiling: its page says so and reloads
        // itself (a meta refresh, no script) until the compile is done.
        let wasm = super::uncompilable_filter();
        let id = "plg_browser_compiling";
        env.hub
            .store
            .insert_plugin(&scaihub::storage::plugins::NewPlugin {
                id,
                org_id: &env.org_id,
                name: "big",
                kind: "filter",
                sha256: &"0".repeat(64),
                wasm: &wasm,
                created_by: None,
                created_at: env.hub.now(),
            })
            .await
            .unwrap()
            .unwrap();
        c.goto(&format!("{}/console/plugins/{id}", env.base)).await;
        assert!(text(&c, "#plugin-status").await.starts_with("compiling"));
        shot(&c, "09-plugin-compiling").await;
        env.hub.compiler.submit(&env.org_id, id);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !c.source().await.contains("failed to compile: ") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page did not reload to the outcome"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            c.current_url().await.path().ends_with(id),
            "it reloaded in place"
        );
        assert!(
            text(&c, "#plugin-status")
                .await
                .contains("imports something the sandbox does not provide")
        );
        shot(&c, "10-plugin-failed").await;

        c.close().await;
        drop(driver);
        env.finish().await;
    }
}

async fn editing_an_application_keeps_scopes_the_editor_does_not_hold(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (s, app) = env
        .call(
            "POST",
            "/v1/orgs/{org}/applications",
            Some(json!({"name": "Ingest bot", "scopes": ["events:write", "admin:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let id = app["client_id"].as_str().unwrap().to_string();
    // An admin who cannot write events: that box shows disabled, and a
    // browser never submits a disabled box.
    let editor = human(&env, &["admin:read", "admin:write"]).await;
    let mut b = Browser::new(&env);
    assert_eq!(b.sign_in(&editor, PASSWORD).await.status, 303);
    let form = b.get(&format!("/console/applications/{id}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // A rename with the held scopes as they were keeps events:write.
    let a = b
        .post(
            &format!("/console/applications/{id}"),
            &[("name", "Ingest bot 2"), ("scopes", "admin:read")],
            None,
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, now) = env
        .call("GET", &format!("/v1/orgs/{{org}}/applications/{id}"), None)
        .await;
    assert_eq!(
        now["scopes"],
        json!(["admin:read", "events:write"]),
        "{now}"
    );

    // Changing the held scopes cannot quietly drop it either: refused,
    // naming the scope, and nothing changes.
    let a = b
        .post(
            &format!("/console/applications/{id}"),
            &[("name", "Ingest bot 3"), ("scopes", "admin:write")],
            None,
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("events:write"), "{}", a.body);
    let (_, now) = env
        .call("GET", &format!("/v1/orgs/{{org}}/applications/{id}"), None)
        .await;
    assert_eq!(now["name"], "Ingest bot 2");
    assert_eq!(now["scopes"], json!(["admin:read", "events:write"]));
    env.finish().await;
}
