//! FIFO webhooks (`ordering: fifo`): the receiver gets one delivery at a
//! time, in event order; a failing delivery holds those behind it until it
//! succeeds or is dropped; a pause and resume, a recovery and a switch of
//! `ordering` keep the order; and on a cluster, a process SIGKILLed while
//! it owns the line hands it to another, order intact, nothing lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::binary::Proc;
use crate::both;
use crate::support::{Backend, Options, TestDb, TestEnv, event, postgres_available};

both!(
    fifo_sends_one_at_a_time_in_event_order_and_a_failure_holds_the_rest,
    a_dropped_delivery_releases_the_line_and_a_recovered_one_goes_next,
    pause_and_resume_keep_the_order,
    ordering_is_validated_by_name_and_a_switch_lines_up_what_is_owed,
    a_filtered_and_a_plugin_failed_delivery_end_their_turn,
    only_the_front_shows_a_due_time,
);

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Arrival {
    event_id: String,
    delivery_id: String,
    status: u16,
}

/// A receiver that answers `500` to the first `fails[event]` attempts of
/// an event, records every arrival in order, and counts the requests open
/// at once. The first attempt of `stall` (an event id) is held until
/// `release` rings, and not counted as open: the test kills its sender.
#[derive(Clone, Default)]
struct LineReceiver {
    log: Arc<Mutex<Vec<Arrival>>>,
    fails: Arc<Mutex<HashMap<String, usize>>>,
    /// (open now, most open since the last reset).
    open: Arc<Mutex<(usize, usize)>>,
    stall: Arc<Mutex<Option<String>>>,
    release: Arc<Notify>,
}

async fn receive(State(r): State<LineReceiver>, headers: HeaderMap, body: String) -> StatusCode {
    let event_id = serde_json::from_str::<Value>(&body).unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let delivery_id = headers["x-scaidrive-delivery-id"]
        .to_str()
        .unwrap()
        .to_string();
    let stalled = {
        let mut stall = r.stall.lock().unwrap();
        let hit = stall.as_deref() == Some(event_id.as_str());
        if hit {
            *stall = None;
        }
        hit
    };
    if stalled {
        r.log.lock().unwrap().push(Arrival {
            event_id,
            delivery_id,
            status: 200,
        });
        let _ = tokio::time::timeout(Duration::from_secs(60), r.release.notified()).await;
        return StatusCode::OK;
    }
    {
        let mut open = r.open.lock().unwrap();
        open.0 += 1;
        open.1 = open.1.max(open.0);
    }
    let status = {
        let mut fails = r.fails.lock().unwrap();
        match fails.get_mut(&event_id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                500
            }
            _ => 200,
        }
    };
    r.log.lock().unwrap().push(Arrival {
        event_id,
        delivery_id,
        status,
    });
    // Long enough that a second delivery sent at once would overlap.
    tokio::time::sleep(Duration::from_millis(30)).await;
    r.open.lock().unwrap().0 -= 1;
    StatusCode::from_u16(status).unwrap()
}

impl LineReceiver {
    async fn start() -> (String, LineReceiver) {
        let r = LineReceiver::default();
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/line", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, r)
    }

    fn fail(&self, event_id: &str, times: usize) {
        self.fails
            .lock()
            .unwrap()
            .insert(event_id.to_string(), times);
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.log.lock().unwrap().clone()
    }

    /// The event ids in arrival order, `!` after those answered 500.
    fn sequence(&self) -> Vec<String> {
        self.arrivals()
            .iter()
            .map(|a| match a.status {
                200 => a.event_id.clone(),
                _ => format!("{}!", a.event_id),
            })
            .collect()
    }

    fn most_open(&self) -> usize {
        self.open.lock().unwrap().1
    }

    fn reset_most_open(&self) {
        let mut open = self.open.lock().unwrap();
        open.1 = open.0;
    }

    async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.arrivals().len() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} arrivals: {:?}",
                self.arrivals().len(),
                self.sequence()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.sequence()
    }

    /// Nothing more arrives for a while (real time: the worker is free to
    /// send whatever is due).
    async fn stays_at(&self, n: usize, why: &str) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(self.arrivals().len(), n, "{why}: {:?}", self.sequence());
    }
}

fn ids(prefix: &str, range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:02}")).collect()
}

fn events(ids: &[String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| event(id, "SHARING", "share.created"))
            .collect(),
    )
}

async fn fifo_webhook(env: &TestEnv, url: &str) -> String {
    let (id, _) = env
        .webhook_with(
            json!({"name": "line", "url": url, "events": ["SHARING"], "ordering": "fifo"}),
        )
        .await;
    id
}

/// The webhook's delivery of `event_id`.
async fn delivery_of(env: &TestEnv, webhook_id: &str, event_id: &str) -> Value {
    env.deliveries(webhook_id)
        .await
        .into_iter()
        .find(|d| d["event_id"] == event_id)
        .unwrap_or_else(|| panic!("no delivery of {event_id}"))
}

async fn wait_status(env: &TestEnv, webhook_id: &str, event_id: &str, status: &str, attempts: i64) {
    env.wait_deliveries(webhook_id, &format!("{event_id} {status}"), |l| {
        l.iter().any(|d| {
            d["event_id"] == event_id && d["status"] == status && d["attempt_count"] == attempts
        })
    })
    .await;
}

async fn fifo_sends_one_at_a_time_in_event_order_and_a_failure_holds_the_rest(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (url, rx) = LineReceiver::start().await;
    let hook = fifo_webhook(&env, &url).await;
    let all = ids("evt_o", 1..=8);
    rx.fail(&all[2], 2);
    // Four in one request, four one after another.
    env.ingest(events(&all[..4])).await;
    for id in &all[4..] {
        env.ingest(events(std::slice::from_ref(id))).await;
    }
    let seen = rx.wait_for(3).await;
    assert_eq!(seen, ["evt_o01", "evt_o02", "evt_o03!"]);
    wait_status(&env, &hook, "evt_o03", "retrying", 1).await;
    // Everything behind the retrying one is due now, and waits.
    rx.stays_at(3, "sent past a retrying delivery").await;
    for id in &all[3..] {
        let d = delivery_of(&env, &hook, id).await;
        assert_eq!(
            (d["status"].as_str(), d["attempt_count"].as_i64()),
            (Some("pending"), Some(0)),
            "{d}"
        );
    }
    // Its second attempt (30 s later by the schedule) fails too.
    env.clock.advance(Duration::from_secs(29));
    rx.stays_at(3, "retried early").await;
    env.clock.advance(Duration::from_secs(1));
    wait_status(&env, &hook, "evt_o03", "retrying", 2).await;
    rx.stays_at(4, "sent past a retrying delivery").await;
    // The third succeeds, and the line moves on.
    env.clock.advance(Duration::from_secs(60));
    let seen = rx.wait_for(10).await;
    assert_eq!(
        seen,
        [
            "evt_o01", "evt_o02", "evt_o03!", "evt_o03!", "evt_o03", "evt_o04", "evt_o05",
            "evt_o06", "evt_o07", "evt_o08"
        ]
    );
    assert_eq!(rx.most_open(), 1, "two deliveries were open at once");
    env.wait_deliveries(&hook, "all succeeded", |l| {
        l.len() == 8 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    rx.stays_at(10, "sent twice").await;
    env.finish().await;
}

async fn a_dropped_delivery_releases_the_line_and_a_recovered_one_goes_next(backend: Backend) {
    let env = TestEnv::with(
        backend,
        Options {
            retry_schedule: scaihub::config::parse_schedule("10s").unwrap(),
            ..Options::default()
        },
    )
    .await;
    let (url, rx) = LineReceiver::start().await;
    let hook = fifo_webhook(&env, &url).await;
    let all = ids("evt_d", 1..=5);
    rx.fail(&all[1], 2);
    rx.fail(&all[3], 1);
    env.ingest(events(&all)).await;
    rx.wait_for(2).await;
    rx.stays_at(2, "sent past a retrying delivery").await;
    // Its last attempt fails: dropped, and the line goes on to the next.
    env.clock.advance(Duration::from_secs(10));
    wait_status(&env, &hook, "evt_d02", "dropped", 2).await;
    let seen = rx.wait_for(5).await;
    assert_eq!(
        seen,
        ["evt_d01", "evt_d02!", "evt_d02!", "evt_d03", "evt_d04!"]
    );
    wait_status(&env, &hook, "evt_d04", "retrying", 1).await;
    // Recovered while the fourth is retrying: it goes after the one being
    // tried, ahead of the newer fifth.
    let (s, body) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{hook}/recover"),
            Some(json!({"since": "2000-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!((s, body["recovered"].as_i64()), (200, Some(1)), "{body}");
    rx.stays_at(5, "a recovered delivery jumped the retrying one")
        .await;
    env.clock.advance(Duration::from_secs(10));
    let seen = rx.wait_for(8).await;
    assert_eq!(
        seen,
        [
            "evt_d01", "evt_d02!", "evt_d02!", "evt_d03", "evt_d04!", "evt_d04", "evt_d02",
            "evt_d05"
        ]
    );
    assert_eq!(rx.most_open(), 1, "two deliveries were open at once");
    // The recovered one is the same delivery, sent again.
    let got = rx.arrivals();
    assert_eq!(got[1].delivery_id, got[6].delivery_id);
    env.wait_deliveries(&hook, "all succeeded", |l| {
        l.len() == 5 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    env.finish().await;
}

async fn pause_and_resume_keep_the_order(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (url, rx) = LineReceiver::start().await;
    let hook = fifo_webhook(&env, &url).await;
    let all = ids("evt_p", 1..=6);
    rx.fail(&all[0], 1);
    env.ingest(events(&all[..3])).await;
    rx.wait_for(1).await;
    wait_status(&env, &hook, "evt_p01", "retrying", 1).await;
    let path = format!("/v1/orgs/{{org}}/webhooks/{hook}");
    let (s, _) = env.call("POST", &format!("{path}/pause"), None).await;
    assert_eq!(s, 200);
    env.ingest(events(&all[3..])).await;
    // The retry falls due while paused: it is queued, not sent.
    env.clock.advance(Duration::from_secs(30));
    env.wait_deliveries(&hook, "the retry queued", |l| {
        l.iter()
            .any(|d| d["event_id"] == "evt_p01" && d["status"] == "queued")
    })
    .await;
    rx.stays_at(1, "sent while paused").await;
    let (s, _) = env.call("POST", &format!("{path}/resume"), None).await;
    assert_eq!(s, 200);
    let seen = rx.wait_for(7).await;
    assert_eq!(
        seen,
        [
            "evt_p01!", "evt_p01", "evt_p02", "evt_p03", "evt_p04", "evt_p05", "evt_p06"
        ]
    );
    assert_eq!(rx.most_open(), 1, "two deliveries were open at once");
    env.wait_deliveries(&hook, "all succeeded", |l| {
        l.len() == 6 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    env.finish().await;
}

/// A script filter that fails on events whose payload says `boom`.
const BOOM: &str = "export function filter(event, config) {
  if (event.payloadJson().boom) throw new Error('boom: refused by the test');
  return true;
}
";

/// A filter plugin that skips a delivery and a plugin that fails on another
/// end them (`filtered`, `plugin_failed` are final): each takes its turn
/// and the line goes on to the next.
async fn a_filtered_and_a_plugin_failed_delivery_end_their_turn(backend: Backend) {
    if !crate::scripts::engine_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let (url, rx) = LineReceiver::start().await;
    let role = crate::plugins::upload(&env, &org, "payload_field_filter", "role", "filter").await;
    let (s, boom) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org}/plugins/scripts"),
            Some(json!({"name": "boom", "kind": "filter", "source": BOOM})),
        )
        .await;
    assert_eq!(s, 201, "{boom}");
    let boom = boom["id"].as_str().unwrap().to_string();
    let (hook, _) = env
        .webhook_with(json!({
            "name": "line", "url": url, "events": ["SHARING"], "ordering": "fifo",
            "filter_plugins": [
                {"plugin_id": role, "config": {"pointer": "/role", "allowed": ["owner"]}},
                {"plugin_id": boom, "config": {}}
            ]
        }))
        .await;
    let all = ids("evt_f", 1..=6);
    // The first fails once: the rest are all in the line, waiting behind it.
    rx.fail(&all[0], 1);
    let mut batch = Vec::new();
    for id in &all {
        let mut e = event(id, "SHARING", "share.created");
        e["payload"]["role"] = json!(if id == &all[2] { "viewer" } else { "owner" });
        e["payload"]["boom"] = json!(id == &all[3]);
        batch.push(e);
    }
    env.ingest(Value::Array(batch)).await;
    wait_status(&env, &hook, &all[0], "retrying", 1).await;
    rx.stays_at(1, "sent past a retrying delivery").await;
    env.clock.advance(Duration::from_secs(30));
    let seen = rx.wait_for(5).await;
    assert_eq!(
        seen,
        ["evt_f01!", "evt_f01", "evt_f02", "evt_f05", "evt_f06"]
    );
    assert_eq!(rx.most_open(), 1, "two deliveries were open at once");
    let list = env
        .wait_deliveries(&hook, "all ended", |l| {
            l.len() == 6
                && l.iter().all(|d| {
                    !["pending", "retrying", "queued"].contains(&d["status"].as_str().unwrap())
                })
        })
        .await;
    let status = |id: &str| {
        list.iter()
            .find(|d| d["event_id"] == id)
            .map(|d| d["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status(&all[2]), "filtered");
    assert_eq!(status(&all[3]), "plugin_failed");
    for id in [&all[0], &all[1], &all[4], &all[5]] {
        assert_eq!(status(id), "succeeded", "{id}");
    }
    let failed = delivery_of(&env, &hook, &all[3]).await;
    let failed = env.delivery(failed["id"].as_str().unwrap()).await;
    let error = failed["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("boom: refused by the test"), "{failed}");
    rx.stays_at(5, "an ended delivery was sent").await;
    env.finish().await;
}

/// The API's `next_attempt_at`: the line's front has its due time, those
/// behind it none, whether the line started at ingest or at a resume.
async fn only_the_front_shows_a_due_time(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (url, rx) = LineReceiver::start().await;
    let hook = fifo_webhook(&env, &url).await;
    let all = ids("evt_n", 1..=5);
    let due = |d: &Value| !d["next_attempt_at"].is_null();
    let check = |front: &'static str, waiting: &'static [&'static str]| {
        let env = &env;
        let hook = &hook;
        async move {
            let list = env.deliveries(hook).await;
            for d in &list {
                let id = d["event_id"].as_str().unwrap();
                if id == front {
                    assert!(due(d), "the front has no due time: {d}");
                } else if waiting.contains(&id) {
                    assert_eq!(d["status"], "pending", "{d}");
                    assert!(!due(d), "waiting behind the front, but due: {d}");
                }
            }
        }
    };
    // The front is held open at the receiver.
    *rx.stall.lock().unwrap() = Some(all[0].clone());
    env.ingest(events(&all[..4])).await;
    rx.wait_for(1).await;
    check("evt_n01", &["evt_n02", "evt_n03", "evt_n04"]).await;
    // Paused while the front is out: it ends, and the line stands still;
    // a new event queues.
    let path = format!("/v1/orgs/{{org}}/webhooks/{hook}");
    let (s, _) = env.call("POST", &format!("{path}/pause"), None).await;
    assert_eq!(s, 200);
    rx.release.notify_waiters();
    wait_status(&env, &hook, "evt_n01", "succeeded", 1).await;
    env.ingest(events(&all[4..])).await;
    wait_status(&env, &hook, "evt_n05", "queued", 0).await;
    rx.stays_at(1, "sent while paused").await;
    // Resumed: the queued one waits in the line like the others.
    *rx.stall.lock().unwrap() = Some(all[1].clone());
    let (s, _) = env.call("POST", &format!("{path}/resume"), None).await;
    assert_eq!(s, 200);
    rx.wait_for(2).await;
    check("evt_n02", &["evt_n03", "evt_n04", "evt_n05"]).await;
    rx.release.notify_waiters();
    let seen = rx.wait_for(5).await;
    assert_eq!(
        seen,
        ["evt_n01", "evt_n02", "evt_n03", "evt_n04", "evt_n05"]
    );
    env.wait_deliveries(&hook, "all succeeded", |l| {
        l.len() == 5
            && l.iter()
                .all(|d| d["status"] == "succeeded" && d["next_attempt_at"].is_null())
    })
    .await;
    env.finish().await;
}

async fn ordering_is_validated_by_name_and_a_switch_lines_up_what_is_owed(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (url, rx) = LineReceiver::start().await;
    for bad in [json!("lifo"), json!(1), json!(null)] {
        let (s, e) = env
            .call(
                "POST",
                "/v1/orgs/{org}/webhooks",
                Some(json!({"name": "l", "url": url, "events": ["SHARING"], "ordering": bad})),
            )
            .await;
        assert_eq!(s, 422, "{e}");
        assert!(e.to_string().contains("ordering"), "names ordering: {e}");
    }
    let (s, list) = env.call("GET", "/v1/orgs/{org}/webhooks", None).await;
    assert_eq!(
        (s, list["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{list}"
    );
    let (hook, _) = env.webhook(&url, &["SHARING"]).await;
    let path = format!("/v1/orgs/{{org}}/webhooks/{hook}");
    let (_, w) = env.call("GET", &path, None).await;
    assert_eq!(w["ordering"], "unordered");
    // Unordered: four failures at once, each retrying on its own.
    let all = ids("evt_s", 1..=4);
    for id in &all {
        rx.fail(id, 1);
    }
    env.ingest(events(&all)).await;
    rx.wait_for(4).await;
    env.wait_deliveries(&hook, "all retrying", |l| {
        l.len() == 4 && l.iter().all(|d| d["status"] == "retrying")
    })
    .await;
    let (s, e) = env
        .call("PATCH", &path, Some(json!({"ordering": "sideways"})))
        .await;
    assert_eq!(s, 422, "{e}");
    assert!(e.to_string().contains("ordering"), "names ordering: {e}");
    rx.reset_most_open();
    // To fifo: what is owed lines up in event order, and the line starts
    // at once with the first (its retry's wait is over at the front).
    let (s, w) = env
        .call("PATCH", &path, Some(json!({"ordering": "fifo"})))
        .await;
    assert_eq!((s, w["ordering"].as_str()), (200, Some("fifo")), "{w}");
    let seen = rx.wait_for(8).await;
    assert_eq!(seen[4..], ["evt_s01", "evt_s02", "evt_s03", "evt_s04"]);
    assert_eq!(rx.most_open(), 1, "two deliveries were open at once");
    // And back: the next ones go at once, side by side.
    let (s, w) = env
        .call("PATCH", &path, Some(json!({"ordering": "unordered"})))
        .await;
    assert_eq!((s, w["ordering"].as_str()), (200, Some("unordered")), "{w}");
    env.finish().await;
}

/// The lease owner id a process logged when it joined the cluster.
fn owner_of(p: &Proc) -> String {
    let logs = p.stderr.lock().unwrap().clone();
    logs.lines()
        .filter(|l| l.contains("joined the cluster"))
        .find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            Some(v["process"].as_str()?.to_string())
        })
        .expect("the process logged its lease owner id")
}

/// Two real processes on one PostgreSQL share a FIFO webhook's events; the
/// one that owns the line (holds its front's lease, the delivery stalled
/// at the receiver) is SIGKILLed. The other takes the line over once the
/// dead one is found silent, sends the stalled delivery again and the rest
/// after it: order intact, nothing lost, never two at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_owner_killed_mid_send_hands_the_line_over_in_order() {
    if !postgres_available().await {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = "shk_fifo_test_admin_key_0123456789ab";
    let settings = vec![
        ("SCAIHUB_DATA_DIR", dir.path().display().to_string()),
        ("SCAIHUB_DATABASE_URL", db.url.clone()),
        ("SCAIHUB_MASTER_KEY", "44".repeat(32)),
        ("SCAIHUB_ADMIN_KEY", key.to_string()),
        // The stalled attempt must still be open when its sender dies.
        ("SCAIHUB_DELIVERY_TIMEOUT_SECS", "30".to_string()),
        (
            "SCAIHUB_LOG",
            "warn,scaihub::delivery::notify=info".to_string(),
        ),
    ];
    let a = Proc::start(&settings).await;
    let b = Proc::start(&settings).await;
    let (url, rx) = LineReceiver::start().await;
    let (_, me) = a.call(key, "GET", "/v1/me", None).await;
    let org = me["org_id"].as_str().unwrap().to_string();
    let (s, hook) = a
        .call(
            key,
            "POST",
            &format!("/v1/orgs/{org}/webhooks"),
            Some(json!({"name": "line", "url": url, "events": ["SHARING"], "ordering": "fifo"})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let all = ids("evt_k", 1..=8);
    *rx.stall.lock().unwrap() = Some(all[2].clone());
    // One after another, alternately through each process.
    for (i, id) in all.iter().enumerate() {
        let p = if i % 2 == 0 { &a } else { &b };
        p.ingest(key, &org, vec![event(id, "SHARING", "share.created")])
            .await;
    }
    rx.wait_for(3).await;
    let stalled = rx.arrivals()[2].clone();
    assert_eq!(stalled.event_id, all[2]);
    // Whose lease the stalled front is: that process owns the line.
    let owner: String = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let owner =
            sqlx::query_scalar("SELECT lease_owner FROM delivery_queue WHERE delivery_id = $1")
                .bind(&stalled.delivery_id)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        let _ = conn.close().await;
        owner
    };
    let (victim, survivor) = if owner == owner_of(&a) {
        (a, b)
    } else {
        assert_eq!(owner, owner_of(&b), "the front is leased to one of the two");
        (b, a)
    };
    rx.stays_at(3, "sent past the front in flight").await;
    let mut victim = victim;
    victim.signal(libc::SIGKILL);
    victim.wait_exit(Duration::from_secs(10));
    let killed = Instant::now();
    rx.release.notify_waiters();
    let seen = rx.wait_for(9).await;
    let took = killed.elapsed();
    assert_eq!(
        seen,
        [
            "evt_k01", "evt_k02", "evt_k03", "evt_k03", "evt_k04", "evt_k05", "evt_k06", "evt_k07",
            "evt_k08"
        ],
        "order across the takeover"
    );
    let got = rx.arrivals();
    assert_eq!(
        got[3].delivery_id, stalled.delivery_id,
        "the same delivery, sent again"
    );
    assert_eq!(rx.most_open(), 1, "two deliveries were open at once");
    eprintln!("the line moved to the survivor; all sent {took:?} after the kill");
    // Every delivery recorded as succeeded, by the survivor.
    let hook_id = hook["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = survivor
            .call(
                key,
                "GET",
                &format!("/v1/orgs/{org}/webhooks/{hook_id}/deliveries?limit=50"),
                None,
            )
            .await;
        let list = page["data"].as_array().cloned().unwrap_or_default();
        if list.len() == 8 && list.iter().all(|d| d["status"] == "succeeded") {
            break;
        }
        assert!(Instant::now() < deadline, "not all recorded: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rx.stays_at(9, "sent again").await;
    drop((victim, survivor));
    db.drop_db().await;
}
