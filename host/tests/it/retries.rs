//! Failures, the retry schedule on the injected clock, and dropping.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both;
use crate::support::{Backend, Options, Receiver, TestEnv, event};

both!(
    whole_default_schedule_runs_on_injected_clock_then_drops_with_security_event,
    timeout_refused_connection_and_redirect_are_failures,
    custom_schedule_sets_retry_count_and_delays,
);

async fn whole_default_schedule_runs_on_injected_clock_then_drops_with_security_event(
    backend: Backend,
) {
    let started = Instant::now();
    let env = TestEnv::start(backend).await;
    let failing = Receiver::start(|_| (500, Duration::ZERO)).await;
    let watcher = Receiver::ok().await;
    let (bad, _) = env
        .webhook(&failing.url("/"), &["SHARING", "SECURITY"])
        .await;
    let (_, _) = env.webhook(&watcher.url("/security"), &["SECURITY"]).await;
    env.ingest(event("evt_doomed", "SHARING", "share.member_added"))
        .await;

    // The page's schedule: 30s, 1m, 5m, 15m, 1h, 6h, 24h after each failure.
    let delays = [30, 60, 300, 900, 3600, 21_600, 86_400];
    let mut expected_times = vec![0i64];
    for (i, delay) in delays.iter().enumerate() {
        let attempts = i + 1;
        let list = env
            .wait_deliveries(&bad, "a failed attempt", |l| {
                l.iter()
                    .any(|d| d["attempt_count"] == attempts as i64 && d["status"] == "retrying")
            })
            .await;
        let d = list.iter().find(|d| d["event_id"] == "evt_doomed").unwrap();
        // Not a moment early: one second before the delay, nothing is sent.
        env.clock.advance(Duration::from_secs(delay - 1));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            failing.received().len(),
            attempts,
            "sent before its time (attempt {attempts})"
        );
        env.clock.advance(Duration::from_secs(1));
        expected_times.push(expected_times.last().unwrap() + *delay as i64 * 1000);
        let _ = d;
    }
    let list = env
        .wait_deliveries(&bad, "the drop", |l| {
            l.iter().any(|d| d["status"] == "dropped")
        })
        .await;
    let dropped = list.iter().find(|d| d["status"] == "dropped").unwrap();
    assert_eq!(dropped["attempt_count"], 8);
    let full = env.delivery(dropped["id"].as_str().unwrap()).await;
    let times: Vec<i64> = full["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| scaihub::clock::parse_rfc3339(a["attempted_at"].as_str().unwrap()).unwrap())
        .collect();
    let t0 = times[0];
    assert_eq!(
        times.iter().map(|t| t - t0).collect::<Vec<_>>(),
        expected_times
    );
    // All deliveries of one delivery carry the same id.
    let got = failing.received();
    assert_eq!(got.len(), 8);
    let first_id = got[0].header("x-scaidrive-delivery-id").to_string();
    assert!(
        got.iter()
            .all(|r| r.header("x-scaidrive-delivery-id") == first_id)
    );

    // The drop is a SECURITY event in the audit log and is sent to the
    // other webhook, never to the one that dropped it.
    let audit = env
        .audit("category=SECURITY&action=webhook.delivery_dropped")
        .await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["resource_id"], bad);
    assert_eq!(audit[0]["payload"]["delivery_id"], first_id);
    let seen = watcher.wait_for(1).await;
    assert_eq!(seen[0].json()["action"], "webhook.delivery_dropped");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        failing.received().len(),
        8,
        "the drop report went to the webhook it is about"
    );
    let took = started.elapsed();
    eprintln!("31 hours of retries ran in {took:?}");
    env.finish().await;
}

async fn timeout_refused_connection_and_redirect_are_failures(backend: Backend) {
    let env = TestEnv::with(
        backend,
        Options {
            delivery_timeout: Duration::from_millis(300),
            ..Options::default()
        },
    )
    .await;
    let slow = Receiver::start(|_| (200, Duration::from_secs(3))).await;
    let redirect = Receiver::start(|_| (302, Duration::ZERO)).await;
    // A port that was bound and released: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (w_slow, _) = env.webhook(&slow.url("/"), &["SHARING"]).await;
    let (w_redirect, _) = env.webhook(&redirect.url("/"), &["SHARING"]).await;
    let (w_closed, _) = env
        .webhook(&format!("http://{closed}/"), &["SHARING"])
        .await;
    env.ingest(event("evt_fail", "SHARING", "share.a")).await;
    for (w, needle) in [
        (&w_slow, "timed out"),
        (&w_redirect, "redirect (302) not followed"),
        (&w_closed, "connect"),
    ] {
        let list = env
            .wait_deliveries(w, "a failure", |l| {
                l.first().is_some_and(|d| d["status"] == "retrying")
            })
            .await;
        let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
        let error = d["attempts"][0]["error"].as_str().unwrap().to_string();
        assert!(error.contains(needle), "{w}: {error}");
    }
    // The redirect target was never fetched: one request only.
    assert_eq!(redirect.received().len(), 1);
    env.finish().await;
}

async fn custom_schedule_sets_retry_count_and_delays(backend: Backend) {
    let schedule = scaihub::config::parse_schedule("1s,2s").unwrap();
    let env = TestEnv::with(
        backend,
        Options {
            retry_schedule: schedule,
            ..Options::default()
        },
    )
    .await;
    let rx = Receiver::start(|_| (500, Duration::ZERO)).await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_short", "SHARING", "share.a")).await;
    env.wait_deliveries(&id, "1st failure", |l| {
        l.first().is_some_and(|d| d["attempt_count"] == 1)
    })
    .await;
    env.clock.advance(Duration::from_secs(1));
    env.wait_deliveries(&id, "2nd failure", |l| {
        l.first().is_some_and(|d| d["attempt_count"] == 2)
    })
    .await;
    env.clock.advance(Duration::from_secs(2));
    let list = env
        .wait_deliveries(&id, "drop", |l| {
            l.first().is_some_and(|d| d["status"] == "dropped")
        })
        .await;
    assert_eq!(list[0]["attempt_count"], 3);
    assert_eq!(rx.received().len(), 3);
    let _ = json!(null);
    env.finish().await;
}
