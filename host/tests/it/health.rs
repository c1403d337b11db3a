//! Per-webhook health in the API and in /metrics: a failing receiver is
//! found at a glance, and turns healthy again after a success.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event};

both!(
    failing_receiver_is_found_by_health_and_recovers_after_a_success,
    unreachable_receiver_reports_the_transport_error,
);

async fn health(env: &TestEnv, id: &str) -> Value {
    let (status, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 200, "{w}");
    w["health"].clone()
}

async fn ids_with_health(env: &TestEnv, filter: &str) -> Vec<String> {
    let (status, page) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/webhooks?health={filter}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_eq!(w["health"]["status"], filter, "{w}");
            w["id"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn failing_receiver_is_found_by_health_and_recovers_after_a_success(backend: Backend) {
    let env = TestEnv::start(backend).await;
    // Two failures, then success: attempts at 0 s, +30 s, +90 s.
    let flaky = Receiver::start(|n| (if n < 2 { 503 } else { 200 }, Duration::ZERO)).await;
    let good = Receiver::ok().await;
    let (bad, _) = env.webhook(&flaky.url("/"), &["SHARING"]).await;
    let (fine, _) = env.webhook(&good.url("/"), &["SHARING"]).await;
    let (quiet, _) = env.webhook(&good.url("/quiet"), &["COMPLIANCE"]).await;
    let (held, _) = env
        .webhook_with(json!({"name": "held", "url": good.url("/held"), "events": ["SHARING"], "paused": true}))
        .await;

    assert_eq!(health(&env, &quiet).await["status"], "idle");
    let started = env.hub.now();
    env.ingest(event("evt_h1", "SHARING", "share.a")).await;
    env.wait_deliveries(&bad, "the first failure", |l| {
        l.iter().any(|d| d["status"] == "retrying")
    })
    .await;
    env.wait_deliveries(&fine, "the success", |l| {
        l.iter().any(|d| d["status"] == "succeeded")
    })
    .await;

    let h = health(&env, &bad).await;
    assert_eq!(h["status"], "failing", "{h}");
    assert_eq!(h["consecutive_failures"], 1, "{h}");
    assert_eq!(h["last_error"], "HTTP 503", "{h}");
    assert_eq!(h["queue_depth"], 1, "{h}");
    assert_eq!(h["success_rate"], 0.0, "{h}");
    assert_eq!(h["attempts_24h"], 1, "{h}");
    assert_eq!(h["failing_since"], scaihub::clock::rfc3339(started), "{h}");
    assert!(h["last_success_at"].is_null(), "{h}");
    let ok = health(&env, &fine).await;
    assert_eq!(ok["status"], "healthy", "{ok}");
    assert_eq!(ok["success_rate"], 1.0, "{ok}");
    assert!(ok["failing_since"].is_null(), "{ok}");
    let paused = health(&env, &held).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["queue_depth"], 1, "{paused}");

    // Found at a glance, each in exactly one state.
    assert_eq!(ids_with_health(&env, "failing").await, vec![bad.clone()]);
    assert_eq!(ids_with_health(&env, "healthy").await, vec![fine.clone()]);
    assert_eq!(ids_with_health(&env, "paused").await, vec![held.clone()]);
    assert_eq!(ids_with_health(&env, "idle").await, vec![quiet.clone()]);
    let (status, err) = env
        .call("GET", "/v1/orgs/{org}/webhooks?health=sad", None)
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["field"], "health", "{err}");

    // The list carries health too.
    let (_, page) = env.call("GET", "/v1/orgs/{org}/webhooks", None).await;
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["health"]["status"].is_string()),
        "{page}"
    );

    // An hour of failing shows in /metrics, labelled by org and webhook.
    env.clock.advance(Duration::from_secs(29));
    let text = env.metrics().await;
    let labels = format!("{{org=\"{}\",webhook=\"{bad}\"}}", env.org_id);
    for needle in [
        format!("scaihub_webhook_consecutive_failures{labels} 1\n"),
        format!("scaihub_webhook_queue_depth{labels} 1\n"),
        format!("scaihub_webhook_success_rate{labels} 0\n"),
        format!("scaihub_webhook_failing_seconds{labels} 29\n"),
    ] {
        assert!(text.contains(&needle), "missing {needle} in\n{text}");
    }
    assert!(
        !text.contains(&format!("scaihub_webhook_seconds_since_success{labels}")),
        "a webhook that never succeeded has no time since success\n{text}"
    );
    let fine_labels = format!("{{org=\"{}\",webhook=\"{fine}\"}}", env.org_id);
    assert!(
        text.contains(&format!(
            "scaihub_webhook_seconds_since_success{fine_labels} 29\n"
        )),
        "{text}"
    );

    // The second failure extends the streak; it does not restart it.
    env.clock.advance(Duration::from_secs(1));
    flaky.wait_for(2).await;
    env.wait_deliveries(&bad, "the second failure", |l| {
        l.iter().any(|d| d["attempt_count"] == 2)
    })
    .await;
    let h = health(&env, &bad).await;
    assert_eq!(h["consecutive_failures"], 2, "{h}");
    assert_eq!(h["failing_since"], scaihub::clock::rfc3339(started), "{h}");

    // A success ends it.
    env.clock.advance(Duration::from_secs(60));
    env.wait_deliveries(&bad, "the success", |l| {
        l.iter().any(|d| d["status"] == "succeeded")
    })
    .await;
    let h = health(&env, &bad).await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["consecutive_failures"], 0, "{h}");
    assert!(h["failing_since"].is_null(), "{h}");
    assert_eq!(h["queue_depth"], 0, "{h}");
    assert_eq!(
        h["last_error"], "HTTP 503",
        "the last error stays on record: {h}"
    );
    assert_eq!(
        h["last_success_at"],
        scaihub::clock::rfc3339(env.hub.now()),
        "{h}"
    );
    let rate = h["success_rate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{h}");
    assert!(ids_with_health(&env, "failing").await.is_empty());
    let text = env.metrics().await;
    assert!(
        text.contains(&format!("scaihub_webhook_consecutive_failures{labels} 0\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("scaihub_webhook_failing_seconds{labels} 0\n")),
        "{text}"
    );

    // A day later with no traffic, the webhook is idle (the rate window passed).
    env.clock.advance(Duration::from_secs(25 * 3600));
    let h = health(&env, &bad).await;
    assert_eq!(h["status"], "idle", "{h}");
    assert!(h["success_rate"].is_null(), "{h}");
    env.finish().await;
}

async fn unreachable_receiver_reports_the_transport_error(backend: Backend) {
    let env = TestEnv::start(backend).await;
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (id, _) = env
        .webhook(&format!("http://127.0.0.1:{port}/"), &["SHARING"])
        .await;
    env.ingest(event("evt_refused", "SHARING", "share.a")).await;
    env.wait_deliveries(&id, "the failure", |l| {
        l.iter().any(|d| d["status"] == "retrying")
    })
    .await;
    let h = health(&env, &id).await;
    assert_eq!(h["status"], "failing", "{h}");
    let error = h["last_error"].as_str().unwrap();
    assert!(error.starts_with("could not connect"), "{h}");
    assert!(error.len() <= 200, "{h}");
    env.finish().await;
}
