//! A webhook's own limits: `max_in_flight` (attempts open at once at its
//! receiver) and `rate_limit` (attempts started per second) hold for the
//! whole deployment — one process, or two real processes on one
//! PostgreSQL — and deliveries beyond them wait; none is dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::binary::Proc;
use crate::both;
use crate::support::{Backend, TestDb, TestEnv, event, postgres_available};

both!(limits_hold_in_one_process_and_bad_values_are_refused_by_name,);

/// What a receiver saw: the most requests open at once and when each
/// request arrived, per path.
#[derive(Clone, Default)]
struct Seen {
    open: Arc<Mutex<std::collections::HashMap<String, (usize, usize)>>>,
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
}

async fn seen(State(s): State<Seen>, uri: axum::http::Uri) -> StatusCode {
    let path = uri.path().to_string();
    s.arrivals
        .lock()
        .unwrap()
        .push((path.clone(), Instant::now()));
    {
        let mut open = s.open.lock().unwrap();
        let (now, most) = open.entry(path.clone()).or_default();
        *now += 1;
        *most = (*most).max(*now);
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    s.open.lock().unwrap().get_mut(&path).unwrap().0 -= 1;
    StatusCode::OK
}

async fn receiver() -> (String, Seen) {
    let s = Seen::default();
    let app = axum::Router::new().fallback(seen).with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, s)
}

impl Seen {
    fn most_open(&self, path: &str) -> usize {
        self.open
            .lock()
            .unwrap()
            .get(path)
            .map_or(0, |(_, most)| *most)
    }

    fn arrivals(&self, path: &str) -> Vec<Instant> {
        let mut at: Vec<Instant> = self
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| *t)
            .collect();
        at.sort();
        at
    }

    /// The most arrivals within any `window`.
    fn most_within(&self, path: &str, window: Duration) -> usize {
        let at = self.arrivals(path);
        (0..at.len())
            .map(|i| at[i..].iter().take_while(|t| **t - at[i] < window).count())
            .max()
            .unwrap_or(0)
    }

    async fn wait(&self, path: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.arrivals(path).len() < n {
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} arrived",
                self.arrivals(path).len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Rate 10/s: no more than 10 arrivals in any second.
const RATE: usize = 10;
const WINDOW: Duration = Duration::from_secs(1);
const IN_FLIGHT: usize = 3;

async fn limits_hold_in_one_process_and_bad_values_are_refused_by_name(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (url, seen) = receiver().await;
    for (body, field) in [
        (json!({"rate_limit": 0}), "rate_limit"),
        (json!({"rate_limit": 10_001}), "rate_limit"),
        (json!({"max_in_flight": -1}), "max_in_flight"),
        (json!({"max_in_flight": "3"}), "max_in_flight"),
    ] {
        let mut b = json!({"name": "l", "url": format!("{url}/x"), "events": ["SHARING"]});
        b.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (s, e) = env.call("POST", "/v1/orgs/{org}/webhooks", Some(b)).await;
        assert_eq!(s, 422, "{e}");
        assert!(e.to_string().contains(field), "names {field}: {e}");
    }
    let (slow, _) = env
        .webhook_with(
            json!({"name": "slow", "url": format!("{url}/slow"), "events": ["SHARING"],
            "max_in_flight": IN_FLIGHT}),
        )
        .await;
    let (paced, _) = env
        .webhook_with(
            json!({"name": "paced", "url": format!("{url}/paced"), "events": ["SHARING"],
            "rate_limit": RATE}),
        )
        .await;
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{paced}"), None)
        .await;
    assert_eq!(
        (w["rate_limit"].as_u64(), w["max_in_flight"].as_u64()),
        (Some(RATE as u64), None)
    );
    let batch: Vec<Value> = (0..25)
        .map(|i| event(&format!("evt_lim{i}"), "SHARING", "share.created"))
        .collect();
    env.ingest(json!(batch)).await;
    seen.wait("/slow", 25, Duration::from_secs(30)).await;
    seen.wait("/paced", 25, Duration::from_secs(30)).await;
    assert!(
        seen.most_open("/slow") <= IN_FLIGHT,
        "{} open at once",
        seen.most_open("/slow")
    );
    assert!(seen.most_open("/slow") >= 2, "the limit was reached");
    let burst = seen.most_within("/paced", WINDOW);
    assert!(burst <= RATE, "{burst} within {WINDOW:?}");
    // Nothing beyond the limit was dropped or counted as an attempt.
    let list = env
        .wait_deliveries(&paced, "all recorded", |l| {
            l.len() == 25 && l.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    assert!(list.iter().all(|d| d["attempt_count"] == 1), "{list:?}");
    // Lifted by null, as PATCH says.
    let (s, w) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{slow}"),
            Some(json!({"max_in_flight": null})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert!(w["max_in_flight"].is_null());
    env.finish().await;
}

/// Two real processes on one PostgreSQL, each given half the events: the
/// receiver still never sees more than the limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_two_processes() {
    if !postgres_available().await {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = "shk_limits_test_admin_key_0123456789";
    let settings = vec![
        ("SCAIHUB_DATA_DIR", dir.path().display().to_string()),
        ("SCAIHUB_DATABASE_URL", db.url.clone()),
        ("SCAIHUB_MASTER_KEY", "33".repeat(32)),
        ("SCAIHUB_ADMIN_KEY", key.to_string()),
        ("SCAIHUB_LOG", "warn".to_string()),
    ];
    let a = Proc::start(&settings).await;
    let b = Proc::start(&settings).await;
    let (url, seen) = receiver().await;
    let (_, me) = a.call(key, "GET", "/v1/me", None).await;
    let org = me["org_id"].as_str().unwrap().to_string();
    for (name, limit) in [
        ("slow", json!({"max_in_flight": IN_FLIGHT})),
        ("paced", json!({"rate_limit": RATE})),
    ] {
        let mut body = json!({"name": name, "url": format!("{url}/{name}"), "events": ["SHARING"]});
        body.as_object_mut()
            .unwrap()
            .extend(limit.as_object().unwrap().clone());
        let (s, w) = a
            .call(key, "POST", &format!("/v1/orgs/{org}/webhooks"), Some(body))
            .await;
        assert_eq!(s, 201, "{w}");
    }
    // Single events through both processes at once.
    let sends = (0..30).map(|i| {
        let p = if i % 2 == 0 { &a } else { &b };
        let org = org.clone();
        async move {
            p.ingest(
                key,
                &org,
                vec![event(&format!("evt_two{i}"), "SHARING", "share.created")],
            )
            .await
        }
    });
    futures_util::future::join_all(sends).await;
    seen.wait("/slow", 30, Duration::from_secs(60)).await;
    seen.wait("/paced", 30, Duration::from_secs(60)).await;
    let open = seen.most_open("/slow");
    assert!(
        (2..=IN_FLIGHT).contains(&open),
        "{open} open at once across two processes"
    );
    let burst = seen.most_within("/paced", WINDOW);
    assert!(
        burst <= RATE,
        "{burst} within {WINDOW:?} across two processes"
    );
    drop((a, b));
    db.drop_db().await;
}
