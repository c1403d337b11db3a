//! Every endpoint's gate: 401 with `WWW-Authenticate` without a valid
//! token, 404 for another organisation's things, 403 `insufficient_scope`
//! without the scope. MSPs manage their child organisations.

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event};

both!(
    every_endpoint_enforces_token_organisation_and_scope,
    msp_admins_manage_children_but_children_never_see_parent_or_siblings,
    api_keys_are_scoped_revocable_and_expire
);

/// (method, path, scope it needs, body).
fn endpoints(
    w: &str,
    d: &str,
    u: &str,
    a: &str,
) -> Vec<(&'static str, String, &'static str, Option<Value>)> {
    let hook = json!({"name": "x", "url": "http://127.0.0.1:9/", "events": ["SHARING"]});
    vec![
        (
            "POST",
            "/v1/orgs/{org}/events".into(),
            "events:write",
            Some(event("evt_gate", "SHARING", "share.a")),
        ),
        (
            "GET",
            "/v1/orgs/{org}/audit-events".into(),
            "admin:read",
            None,
        ),
        (
            "POST",
            "/v1/orgs/{org}/webhooks".into(),
            "admin:write",
            Some(hook),
        ),
        ("GET", "/v1/orgs/{org}/webhooks".into(), "admin:read", None),
        (
            "GET",
            format!("/v1/orgs/{{org}}/webhooks/{w}"),
            "admin:read",
            None,
        ),
        (
            "PATCH",
            format!("/v1/orgs/{{org}}/webhooks/{w}"),
            "admin:write",
            Some(json!({"name": "y"})),
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/webhooks/{w}/pause"),
            "admin:write",
            None,
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/webhooks/{w}/resume"),
            "admin:write",
            None,
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/webhooks/{w}/rotate-secret"),
            "admin:write",
            None,
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/webhooks/{w}/test"),
            "admin:write",
            None,
        ),
        (
            "GET",
            format!("/v1/orgs/{{org}}/webhooks/{w}/deliveries"),
            "admin:read",
            None,
        ),
        (
            "GET",
            format!("/v1/orgs/{{org}}/deliveries/{d}"),
            "admin:read",
            None,
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/deliveries/{d}/redeliver"),
            "admin:write",
            None,
        ),
        (
            "POST",
            "/v1/orgs/{org}/users".into(),
            "admin:write",
            Some(json!({"name": "s", "kind": "service"})),
        ),
        ("GET", "/v1/orgs/{org}/users".into(), "admin:read", None),
        (
            "GET",
            format!("/v1/orgs/{{org}}/users/{u}"),
            "admin:read",
            None,
        ),
        (
            "PATCH",
            format!("/v1/orgs/{{org}}/users/{u}"),
            "admin:write",
            Some(json!({"name": "z"})),
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/users/{u}/api-keys"),
            "admin:write",
            Some(json!({})),
        ),
        (
            "DELETE",
            format!("/v1/orgs/{{org}}/users/{u}/api-keys/key_nope"),
            "admin:write",
            None,
        ),
        (
            "POST",
            "/v1/orgs/{org}/applications".into(),
            "admin:write",
            Some(json!({"name": "app"})),
        ),
        (
            "GET",
            "/v1/orgs/{org}/applications".into(),
            "admin:read",
            None,
        ),
        (
            "GET",
            format!("/v1/orgs/{{org}}/applications/{a}"),
            "admin:read",
            None,
        ),
        (
            "PATCH",
            format!("/v1/orgs/{{org}}/applications/{a}"),
            "admin:write",
            Some(json!({"description": "d"})),
        ),
        (
            "POST",
            format!("/v1/orgs/{{org}}/applications/{a}/rotate-secret"),
            "admin:write",
            None,
        ),
        (
            "POST",
            "/v1/orgs/{org}/plugins?name=p&kind=filter".into(),
            "admin:write",
            None,
        ),
        ("GET", "/v1/orgs/{org}/plugins".into(), "admin:read", None),
        (
            "GET",
            "/v1/orgs/{org}/plugins/plg_nope".into(),
            "admin:read",
            None,
        ),
        (
            "POST",
            "/v1/orgs/{org}/plugins/plg_nope/test".into(),
            "admin:write",
            Some(json!({"event": {}})),
        ),
        (
            "DELETE",
            "/v1/orgs/{org}/plugins/plg_nope".into(),
            "admin:write",
            None,
        ),
        (
            "DELETE",
            format!("/v1/orgs/{{org}}/applications/{a}"),
            "admin:write",
            None,
        ),
        (
            "DELETE",
            format!("/v1/orgs/{{org}}/webhooks/{w}"),
            "admin:write",
            None,
        ),
        (
            "DELETE",
            format!("/v1/orgs/{{org}}/users/{u}"),
            "admin:write",
            None,
        ),
    ]
}

/// A service account in `org` with `permissions`, and a key for it.
pub async fn service_key(
    env: &TestEnv,
    org: &str,
    key: &str,
    permissions: &[&str],
) -> (String, String) {
    let (s, user) = env
        .call_as(
            key,
            "POST",
            &format!("/v1/orgs/{org}/users"),
            Some(json!({"name": "svc", "kind": "service", "permissions": permissions})),
        )
        .await;
    assert_eq!(s, 201, "{user}");
    let uid = user["id"].as_str().unwrap().to_string();
    let (s, k) = env
        .call_as(
            key,
            "POST",
            &format!("/v1/orgs/{org}/users/{uid}/api-keys"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    (uid, k["key"].as_str().unwrap().to_string())
}

async fn every_endpoint_enforces_token_organisation_and_scope(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (w, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_seed", "SHARING", "share.a")).await;
    let list = env
        .wait_deliveries(&w, "one delivery", |l| !l.is_empty())
        .await;
    let d = list[0]["id"].as_str().unwrap().to_string();
    let (u, _) = service_key(&env, &env.org_id, &env.admin_key, &["files:read"]).await;
    let (_, app) = env
        .call(
            "POST",
            "/v1/orgs/{org}/applications",
            Some(json!({"name": "gate"})),
        )
        .await;
    let a = app["id"].as_str().unwrap().to_string();
    // A key holding every scope but none of the one each endpoint needs.
    let all = [
        "files:read",
        "files:write",
        "shares:read",
        "shares:write",
        "links:create",
        "search:read",
        "admin:read",
        "admin:write",
        "events:write",
    ];
    // A separate organisation with a full admin of its own.
    let (s, other) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Other"})))
        .await;
    assert_eq!(s, 201);
    let other_org = other["id"].as_str().unwrap().to_string();
    let (_, outsider) = service_key(&env, &other_org, &env.admin_key, &all).await;

    for (method, path, scope, body) in endpoints(&w, &d, &u, &a) {
        let url = env.url(&path);
        // No token, a malformed header and an unknown token: 401 with WWW-Authenticate.
        for auth in [None, Some("Basic abc"), Some("Bearer shk_not_a_real_key")] {
            let mut req = env.http.request(method.parse().unwrap(), &url);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} with {auth:?}");
            let challenge = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer"),
                "{method} {path}: {challenge:?}"
            );
            let err: Value = res.json().await.unwrap();
            assert_eq!(err["error"], "invalid_token");
        }
        // Another organisation's admin: 404, whatever its scopes.
        let (s, err) = env.call_as(&outsider, method, &path, body.clone()).await;
        assert_eq!(s, 404, "{method} {path} by an outsider: {err}");
        // Missing scope: 403 insufficient_scope naming it.
        let without: Vec<&str> = all.iter().copied().filter(|s| *s != scope).collect();
        let (_, limited) = service_key(&env, &env.org_id, &env.admin_key, &without).await;
        let res = {
            let mut req = env
                .http
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&limited);
            if let Some(b) = &body {
                req = req.json(b);
            }
            req.send().await.unwrap()
        };
        assert_eq!(res.status(), 403, "{method} {path} without {scope}");
        let challenge = res
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains("insufficient_scope") && challenge.contains(scope),
            "{challenge}"
        );
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "insufficient_scope");
        // With the scope, it is allowed (not 401/403/404 on the gate).
        let (_, granted) = service_key(&env, &env.org_id, &env.admin_key, &[scope]).await;
        let (s, res) = env.call_as(&granted, method, &path, body.clone()).await;
        assert!(
            ![401, 403].contains(&s),
            "{method} {path} with {scope}: {s} {res}"
        );
    }
    // /v1/me needs only a valid token; /v1/orgs needs admin:write.
    let (_, reader) = service_key(&env, &env.org_id, &env.admin_key, &["files:read"]).await;
    let (s, me) = env.call_as(&reader, "GET", "/v1/me", None).await;
    assert_eq!(s, 200);
    assert_eq!(me["scopes"], json!(["files:read"]));
    assert_eq!(me["kind"], "service");
    assert_eq!(me["org_id"], env.org_id);
    let (s, _) = env
        .call_as(&reader, "POST", "/v1/orgs", Some(json!({"name": "x"})))
        .await;
    assert_eq!(s, 403);
    let res = env.http.get(env.url("/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    env.finish().await;
}

async fn msp_admins_manage_children_but_children_never_see_parent_or_siblings(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let all = ["admin:read", "admin:write", "events:write"];
    let (_, a) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Customer A"})))
        .await;
    let (_, b) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Customer B"})))
        .await;
    let (org_a, org_b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(a["parent_id"], env.org_id);
    // The MSP's admin works inside a child.
    let rx = Receiver::ok().await;
    let (s, hook) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org_a}/webhooks"),
            Some(json!({"name": "a", "url": rx.url("/a"), "events": ["SHARING"]})),
        )
        .await;
    assert_eq!(s, 201);
    let hook_a = hook["id"].as_str().unwrap().to_string();
    let (s, _) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org_a}/events"),
            Some(event("evt_child", "SHARING", "share.a")),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(rx.wait_for(1).await[0].json()["event_id"], "evt_child");
    // A child admin sees its own org only.
    let (_, key_a) = service_key(&env, &org_a, &env.admin_key, &all).await;
    let (s, _) = env
        .call_as(
            &key_a,
            "GET",
            &format!("/v1/orgs/{org_a}/webhooks/{hook_a}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    for path in [
        format!("/v1/orgs/{}/webhooks", env.org_id),
        format!("/v1/orgs/{org_b}/webhooks"),
        format!("/v1/orgs/{org_b}/audit-events"),
    ] {
        let (s, _) = env.call_as(&key_a, "GET", &path, None).await;
        assert_eq!(s, 404, "{path}");
    }
    // A webhook id of org A is not found through org B, even by the MSP.
    let (s, _) = env
        .call("GET", &format!("/v1/orgs/{org_b}/webhooks/{hook_a}"), None)
        .await;
    assert_eq!(s, 404);
    // The child's events stay in the child's audit log.
    assert!(env.audit("action=share.a").await.is_empty());
    let (_, log_a) = env
        .call(
            "GET",
            &format!("/v1/orgs/{org_a}/audit-events?action=share.a"),
            None,
        )
        .await;
    assert_eq!(log_a["data"].as_array().unwrap().len(), 1);
    env.finish().await;
}

async fn api_keys_are_scoped_revocable_and_expire(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (s, user) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(json!({"name": "producer", "kind": "service", "permissions": ["events:write"]})),
        )
        .await;
    assert_eq!(s, 201);
    let uid = user["id"].as_str().unwrap();
    let (s, err) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/users/{uid}/api-keys"),
            Some(json!({"scopes": ["admin:read"]})),
        )
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("scopes")));
    let (s, k) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/users/{uid}/api-keys"),
            Some(json!({"expires_at": "2026-05-12T15:00:00Z"})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_string();
    assert_eq!(env.call_as(&key, "GET", "/v1/me", None).await.0, 200);
    env.clock.advance(std::time::Duration::from_secs(3600));
    assert_eq!(
        env.call_as(&key, "GET", "/v1/me", None).await.0,
        401,
        "an expired key still works"
    );
    let (_, k2) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/users/{uid}/api-keys"),
            Some(json!({})),
        )
        .await;
    let key2 = k2["key"].as_str().unwrap().to_string();
    assert_eq!(env.call_as(&key2, "GET", "/v1/me", None).await.0, 200);
    let (s, _) = env
        .call(
            "DELETE",
            &format!(
                "/v1/orgs/{{org}}/users/{uid}/api-keys/{}",
                k2["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        env.call_as(&key2, "GET", "/v1/me", None).await.0,
        401,
        "a revoked key still works"
    );
    // Humans need a password and get no keys.
    let (s, err) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(json!({"name": "h", "kind": "human"})),
        )
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("password")));
    let (s, human) = env
        .call("POST", "/v1/orgs/{org}/users", Some(json!({"name": "h", "kind": "human", "password": "correct horse battery", "permissions": ["admin:read"]})))
        .await;
    assert_eq!(s, 201);
    let (s, _) = env
        .call(
            "POST",
            &format!(
                "/v1/orgs/{{org}}/users/{}/api-keys",
                human["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, err) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(json!({"name": "x", "kind": "service", "permissions": ["files:fly"]})),
        )
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("permissions[0]")));
    env.finish().await;
}
