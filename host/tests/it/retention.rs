//! Retention: finished deliveries, their attempts and unreferenced events
//! older than the retention are deleted by the background task on the
//! injected clock; recent rows and everything still owed are kept.

use std::time::Duration;

use serde_json::Value;

use crate::both;
use crate::support::{Backend, Options, Receiver, TestEnv, event};

both!(old_finished_deliveries_and_events_are_pruned_but_owed_ones_kept);

const DAY: Duration = Duration::from_secs(86_400);

/// A counter or gauge from /metrics (0 when absent).
async fn metric(env: &TestEnv, series: &str) -> f64 {
    env.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Moves the clock and waits (real time) for the retention run it wakes.
async fn advance_and_prune(env: &TestEnv, by: Duration) {
    // The run at start must be over, or it would pass for the one awaited.
    wait_runs(env, 1.0).await;
    let runs = metric(env, "scaihub_retention_runs_total").await;
    env.clock.advance(by);
    wait_runs(env, runs + 1.0).await;
}

async fn wait_runs(env: &TestEnv, at_least: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while metric(env, "scaihub_retention_runs_total").await < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retention run after moving the clock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn delivery_status(env: &TestEnv, id: &str) -> u16 {
    env.call("GET", &format!("/v1/orgs/{{org}}/deliveries/{id}"), None)
        .await
        .0
}

async fn audit_ids(env: &TestEnv) -> Vec<String> {
    env.audit("limit=500")
        .await
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

async fn old_finished_deliveries_and_events_are_pruned_but_owed_ones_kept(backend: Backend) {
    // A failed delivery's one retry is 40 days out: still owed at day 31.
    let env = TestEnv::with(
        backend,
        Options {
            retry_schedule: vec![40 * DAY],
            ..Default::default()
        },
    )
    .await;
    let good = Receiver::ok().await;
    let failing = Receiver::start(|_| (500, Duration::ZERO)).await;
    let (ok, _) = env
        .webhook(&good.url("/"), &["SHARING", "COMPLIANCE"])
        .await;
    let (retrying, _) = env.webhook(&failing.url("/"), &["FILE_ACCESS"]).await;
    let (held, _) = env
        .webhook_with(serde_json::json!({"name": "held", "url": good.url("/held"), "events": ["SHARING"], "paused": true}))
        .await;

    // Shared by a finished and a queued delivery: the event stays.
    env.ingest(event("evt_old_shared", "SHARING", "share.a"))
        .await;
    // Only a finished delivery: both go.
    env.ingest(event("evt_old_done", "COMPLIANCE", "policy.a"))
        .await;
    // Only a retrying delivery: stays.
    env.ingest(event("evt_old_retry", "FILE_ACCESS", "file.read"))
        .await;
    // No webhook wanted it: goes.
    env.ingest(event("evt_old_unmatched", "AUTHENTICATION", "login.ok"))
        .await;
    let done = env
        .wait_deliveries(&ok, "two successes", |l| {
            l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    let owed_retry = env
        .wait_deliveries(&retrying, "a failure", |l| {
            l.iter().any(|d| d["status"] == "retrying")
        })
        .await;
    let owed_queue = env.deliveries(&held).await;
    assert_eq!(owed_queue[0]["status"], "queued");
    let id = |d: &Value| d["id"].as_str().unwrap().to_string();
    let done: Vec<String> = done.iter().map(id).collect();
    let (owed_retry, owed_queue) = (id(&owed_retry[0]), id(&owed_queue[0]));

    // Day 29: younger than the retention, nothing goes.
    advance_and_prune(&env, 29 * DAY).await;
    for d in &done {
        assert_eq!(delivery_status(&env, d).await, 200, "pruned too early");
    }
    assert!(audit_ids(&env).await.contains(&"evt_old_done".to_string()));

    // Day 31: the finished deliveries and unreferenced events are gone.
    advance_and_prune(&env, 2 * DAY).await;
    for d in &done {
        assert_eq!(delivery_status(&env, d).await, 404, "{d} was kept");
    }
    let retry = env.delivery(&owed_retry).await;
    assert_eq!(retry["status"], "retrying");
    assert_eq!(
        retry["attempts"].as_array().unwrap().len(),
        1,
        "an owed delivery keeps its attempts"
    );
    assert_eq!(env.delivery(&owed_queue).await["status"], "queued");
    let left = audit_ids(&env).await;
    for kept in ["evt_old_shared", "evt_old_retry"] {
        assert!(left.contains(&kept.to_string()), "{kept} pruned: {left:?}");
    }
    for gone in ["evt_old_done", "evt_old_unmatched"] {
        assert!(!left.contains(&gone.to_string()), "{gone} kept: {left:?}");
    }
    assert_eq!(
        metric(&env, "scaihub_retention_deleted_total{kind=\"deliveries\"}").await,
        2.0
    );
    assert_eq!(
        metric(&env, "scaihub_retention_deleted_total{kind=\"attempts\"}").await,
        2.0
    );
    assert!(metric(&env, "scaihub_retention_deleted_total{kind=\"events\"}").await >= 2.0);

    // What arrives now is recent, and the owed delivery is still sent.
    env.ingest(event("evt_new", "COMPLIANCE", "policy.b")).await;
    let fresh = env
        .wait_deliveries(&ok, "the new success", |l| {
            l.iter()
                .any(|d| d["event_id"] == "evt_new" && d["status"] == "succeeded")
        })
        .await;
    advance_and_prune(&env, Duration::from_secs(600)).await;
    assert_eq!(delivery_status(&env, &id(&fresh[0])).await, 200);
    assert!(audit_ids(&env).await.contains(&"evt_new".to_string()));
    env.clock.advance(10 * DAY);
    failing.wait_for(2).await;
    env.finish().await;
}
