//! Ingest validation and the audit log's filters and pagination; ScaiHub's
//! own actions are audit events that fire webhooks.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event};

both!(
    bad_events_are_refused_naming_the_field_and_nothing_is_stored,
    audit_log_filters_by_category_action_user_and_time_with_cursor_pages,
    own_actions_are_audited_and_fire_webhooks,
);

/// A refusal given before the body is read (a bad key; a body over the
/// limit, read only up to it) reaches a client that reads it while still
/// sending, and the connection ends after the body's end. Closed earlier,
/// with bytes unread, it would end in a reset, which can reach a client
/// before it has read the answer (as CI once saw in the test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_is_read_to_its_end_before_the_connection_closes() {
    const SENT: usize = 16 << 20;
    let env = TestEnv::start(Backend::Sqlite).await;
    let addr = env.base.trim_start_matches("http://").to_string();
    let path = env.url("/v1/orgs/{org}/events").replacen(&env.base, "", 1);
    for (key, status) in [("shk_not_a_key", 401), (env.admin_key.as_str(), 413)] {
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\
             content-type: application/json\r\ncontent-length: {SENT}\r\n\r\n"
        );
        let sending = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 << 10];
            for _ in 0..SENT / chunk.len() {
                wr.write_all(&chunk).await?;
            }
            wr.flush().await
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer))
            .await
            .expect("the connection ends after the body");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        assert!(answer.contains("connection: close"), "{answer}");
        read.unwrap_or_else(|e| panic!("answered {status}, then the connection failed: {e}"));
        sending
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("sending the rest of the body after a {status}: {e}"));
    }
    env.finish().await;
}

async fn bad_events_are_refused_naming_the_field_and_nothing_is_stored(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let good = event("evt_ok", "SHARING", "share.a");
    let mut bad_ts = event("evt_bad", "SHARING", "share.a");
    bad_ts["timestamp"] = json!("12 May 2026");
    let (s, err) = env
        .call(
            "POST",
            "/v1/orgs/{org}/events",
            Some(json!([good.clone(), bad_ts])),
        )
        .await;
    assert_eq!(s, 422, "{err}");
    assert_eq!(err["error"], "invalid_field");
    assert_eq!(err["field"], "[1].timestamp");
    // The whole batch was refused: the good one was not stored either.
    assert!(env.audit("action=share.a").await.is_empty());

    let cases = [
        (json!({"category": "SHARES"}), "category"),
        (json!({"event_id": "123"}), "event_id"),
        (json!({"user_id": "alice"}), "user_id"),
        (json!({"ip_address": "300.1.1.1"}), "ip_address"),
        (json!({"payload": "text"}), "payload"),
        (json!({"extra": 1}), "extra"),
    ];
    for (change, field) in cases {
        let mut e = good.clone();
        for (k, v) in change.as_object().unwrap() {
            e[k] = v.clone();
        }
        let (s, err) = env.call("POST", "/v1/orgs/{org}/events", Some(e)).await;
        assert_eq!(s, 422, "{field}: {err}");
        assert_eq!(err["field"], field);
    }
    let (s, err) = env
        .call("POST", "/v1/orgs/{org}/events", Some(json!([])))
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("body")));
    let too_many: Vec<_> = (0..1001)
        .map(|i| event(&format!("evt_{i}"), "SHARING", "share.a"))
        .collect();
    let (s, _) = env
        .call("POST", "/v1/orgs/{org}/events", Some(json!(too_many)))
        .await;
    assert_eq!(s, 422);
    // Not JSON, wrong content type, too large.
    let res = env
        .http
        .post(env.url("/v1/orgs/{org}/events"))
        .bearer_auth(&env.admin_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = env
        .http
        .post(env.url("/v1/orgs/{org}/events"))
        .bearer_auth(&env.admin_key)
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let mut huge = good.clone();
    huge["payload"] = json!({"blob": "x".repeat(2 * 1024 * 1024)});
    // Its own connection: the server answers before reading the whole body
    // and closes it, which a pooled connection would trip over next.
    let res = reqwest::Client::new()
        .post(env.url("/v1/orgs/{org}/events"))
        .bearer_auth(&env.admin_key)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["connection"], "close");
    // A bad key is refused before the body is read: the answer says the
    // connection ends, and the same client's next request goes through.
    let client = reqwest::Client::new();
    let res = client
        .post(env.url("/v1/orgs/{org}/events"))
        .bearer_auth("shk_not_a_key")
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["connection"], "close");
    let res = client
        .post(env.url("/v1/orgs/{org}/events"))
        .bearer_auth(&env.admin_key)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success() || res.status() == 422,
        "{}",
        res.status()
    );
    assert!(env.audit("action=share.a").await.is_empty());
    env.finish().await;
}

async fn audit_log_filters_by_category_action_user_and_time_with_cursor_pages(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let mut batch = Vec::new();
    for i in 0..25 {
        let mut e = event(
            &format!("evt_a{i:02}"),
            if i % 2 == 0 { "SHARING" } else { "FILE_ACCESS" },
            if i % 3 == 0 {
                "file.read"
            } else {
                "share.member_added"
            },
        );
        e["timestamp"] = json!(format!("2026-05-12T10:{i:02}:00Z"));
        e["user_id"] = json!(if i < 10 { "usr_alice" } else { "usr_bob" });
        batch.push(e);
    }
    env.ingest(json!(batch)).await;
    let ids = |list: &[serde_json::Value]| {
        list.iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    let sharing = env.audit("category=SHARING&limit=500").await;
    assert_eq!(sharing.len(), 13);
    assert!(sharing.iter().all(|e| e["category"] == "SHARING"));
    let reads = env.audit("action=file.read&limit=500").await;
    assert_eq!(reads.len(), 9);
    let alice = env.audit("user_id=usr_alice&limit=500").await;
    assert_eq!(alice.len(), 10);
    let window = env
        .audit("since=2026-05-12T10:05:00Z&until=2026-05-12T10:08:00Z")
        .await;
    assert_eq!(ids(&window), ["evt_a07", "evt_a06", "evt_a05"]);
    let both = env
        .audit("category=FILE_ACCESS&user_id=usr_bob&action=file.read")
        .await;
    assert_eq!(ids(&both), ["evt_a21", "evt_a15"]);

    // Pages of 10, newest first, cover everything exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/orgs/{{org}}/audit-events?limit=10&user_id=usr_bob&cursor={c}"),
            None => "/v1/orgs/{org}/audit-events?limit=10&user_id=usr_bob".to_string(),
        };
        let (s, page) = env.call("GET", &q, None).await;
        assert_eq!(s, 200);
        seen.extend(ids(page["data"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (10..25).rev().map(|i| format!("evt_a{i:02}")).collect();
    assert_eq!(seen, expected);

    for (q, field) in [
        ("category=NOPE", "category"),
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("cursor=zz", "cursor"),
        ("user_id=bob", "user_id"),
    ] {
        let (s, err) = env
            .call("GET", &format!("/v1/orgs/{{org}}/audit-events?{q}"), None)
            .await;
        assert_eq!(s, 422, "{q}");
        assert_eq!(err["field"], field, "{q}");
    }
    env.finish().await;
}

async fn own_actions_are_audited_and_fire_webhooks(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let admin_rx = Receiver::ok().await;
    env.webhook_with(json!({"name": "admin feed", "url": admin_rx.url("/admin"), "events": ["ADMIN"], "actions": ["webhook.*"]})).await;
    let rx = Receiver::ok().await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.call(
        "PATCH",
        &format!("/v1/orgs/{{org}}/webhooks/{id}"),
        Some(json!({"name": "renamed"})),
    )
    .await;
    env.call(
        "POST",
        &format!("/v1/orgs/{{org}}/webhooks/{id}/pause"),
        None,
    )
    .await;
    env.call(
        "POST",
        &format!("/v1/orgs/{{org}}/webhooks/{id}/resume"),
        None,
    )
    .await;
    env.call(
        "POST",
        &format!("/v1/orgs/{{org}}/webhooks/{id}/rotate-secret"),
        None,
    )
    .await;
    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let expected = [
        "webhook.created",
        "webhook.updated",
        "webhook.paused",
        "webhook.resumed",
        "webhook.secret_rotated",
        "webhook.deleted",
    ];
    // Its own creation reaches the feed too, hence one more.
    let got = admin_rx.wait_for(expected.len() + 1).await;
    let mut actions: Vec<String> = got
        .iter()
        .map(|r| r.json())
        .filter(|e| e["resource_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    actions.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(actions, want);
    let (_, me) = env.call("GET", "/v1/me", None).await;
    let audit = env.audit("category=ADMIN&limit=500").await;
    for action in expected {
        let e = audit
            .iter()
            .find(|e| e["action"] == action && e["resource_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{action} not audited"));
        assert_eq!(e["user_id"], me["principal_id"]);
    }
    let (s, _) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 404);
    env.finish().await;
}
