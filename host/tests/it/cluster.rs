//! Cluster mode in one test process: two hubs on one PostgreSQL database
//! (a full server, and a second process whose worker is not running), so
//! work made due in one is taken by the other, a change made through one
//! applies in the other, and a dead process's deliveries are taken over once
//! its leases end. And: a hanging receiver does not delay the others.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use scaihub::destinations::DestinationPolicy;
use scaihub::domain::Event;
use scaihub::hub::cluster::LISTENING_POLL;
use scaihub::hub::{Actor, Hub};
use scaihub::plugin::PluginLimits;
use scaihub::storage::Store;
use scaihub::storage::deliveries::{Completion, DeliveryStatus};

use crate::both;
use crate::support::{
    Backend, Options, Receiver, TestDb, TestEnv, event, plugin_runtime, postgres_available,
};

both!(
    a_hanging_receiver_does_not_delay_the_other_webhooks,
    processes_count_per_host_while_seen
);

/// Another process on the same database as `env`: same master key and
/// clock, its own pool, lease owner id and (unstarted) worker.
async fn second_process(env: &TestEnv) -> Arc<Hub> {
    let store = Store::connect(&env.db.url).await.unwrap();
    let policy = DestinationPolicy::new(
        scaihub::config::parse_allow_list("127.0.0.0/8").unwrap(),
        Arc::new(env.resolver.clone()),
    );
    scaihub::server::hub(
        store,
        Arc::new(env.clock.clone()),
        env.hub.master_key.clone(),
        policy,
        env.hub.settings.clone(),
        plugin_runtime(PluginLimits::default()),
    )
}

fn events(prefix: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let v = event(&format!("evt_{prefix}{i:03}"), "SHARING", "share.a");
            Event::from_json(&v, "event").unwrap()
        })
        .collect()
}

/// Waits until the server's worker hears other processes' announcements.
async fn wait_listening(env: &TestEnv) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.hub.idle_poll() != LISTENING_POLL {
        assert!(Instant::now() < deadline, "the listener never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_made_due_in_one_process_is_taken_promptly_by_another() {
    if !postgres_available().await {
        return;
    }
    let env = TestEnv::start(Backend::Postgres).await;
    let a = second_process(&env).await;
    // A announces work but sends nothing itself: its worker is not running.
    let a_cluster = tokio::spawn(scaihub::delivery::notify::run(a.clone()));
    let rx = Receiver::ok().await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    wait_listening(&env).await;
    // The server looked at the store when its listener connected; unless
    // told, it would look again only after LISTENING_POLL.
    let started = Instant::now();
    let outcome = a.ingest(&env.org_id, events("a", 3)).await.unwrap();
    assert_eq!(
        outcome.pending, 3,
        "A has no worker: the store's claim path"
    );
    rx.wait_for(3).await;
    let first = started.elapsed();
    assert!(
        first < Duration::from_secs(2),
        "work committed in A reached B after {first:?}"
    );

    // A resume through A releases the queue; B is told and sends it.
    a.pause_webhook(&env.org_id, &id, &Actor::system())
        .await
        .unwrap();
    let outcome = a.ingest(&env.org_id, events("b", 4)).await.unwrap();
    assert_eq!(outcome.pending, 0, "paused: queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 3, "a paused webhook was sent to");
    let resumed = Instant::now();
    a.resume_webhook(&env.org_id, &id, &Actor::system())
        .await
        .unwrap();
    rx.wait_for(7).await;
    let second = resumed.elapsed();
    assert!(
        second < Duration::from_secs(2),
        "a resume in A reached B after {second:?}"
    );
    eprintln!(
        "announced work taken by the other process after {first:?} (ingest) and {second:?} (resume)"
    );
    a_cluster.abort();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_through_one_process_stops_sends_from_another() {
    if !postgres_available().await {
        return;
    }
    // One at a time to a slow receiver: B holds the rest in memory.
    let env = TestEnv::with(
        Backend::Postgres,
        Options {
            max_in_flight_per_webhook: 1,
            ..Default::default()
        },
    )
    .await;
    let a = second_process(&env).await;
    let a_cluster = tokio::spawn(scaihub::delivery::notify::run(a.clone()));
    let rx = Receiver::start(|_| (200, Duration::from_millis(150))).await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let batch: Vec<Value> = (0..20)
        .map(|i| event(&format!("evt_p{i:02}"), "SHARING", "share.a"))
        .collect();
    env.ingest(json!(batch)).await;
    rx.wait_for(2).await;
    a.pause_webhook(&env.org_id, &id, &Actor::system())
        .await
        .unwrap();
    // B re-reads a webhook's settings at most a second old; one attempt
    // may be in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_pause = rx.received().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        rx.received().len(),
        at_pause,
        "B kept sending after the pause in A"
    );
    assert!(at_pause < 20, "everything was sent before the pause took");
    let queued = env
        .wait_deliveries(&id, "the rest queued", |l| {
            l.iter().filter(|d| d["status"] == "queued").count() == 20 - at_pause
        })
        .await;
    assert_eq!(queued.len(), 20);

    a.resume_webhook(&env.org_id, &id, &Actor::system())
        .await
        .unwrap();
    let got = rx.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert_eq!(rx.received().len(), got.len(), "sent twice");
    a_cluster.abort();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_process_deliveries_are_taken_over_when_its_lease_ends() {
    if !postgres_available().await {
        return;
    }
    let env = TestEnv::start(Backend::Postgres).await;
    let rx = Receiver::ok().await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let a = second_process(&env).await;
    // A's worker takes what A ingests from memory: leased to A in the
    // same transaction. Then A dies before sending any of it.
    let (lane, held) = tokio::sync::mpsc::unbounded_channel();
    *a.fast_lane.lock().unwrap() = Some(lane);
    let outcome = a.ingest(&env.org_id, events("k", 5)).await.unwrap();
    assert_eq!(outcome.claimed.len(), 5);
    let a_owner = a.worker_owner.clone();
    drop(held);
    a.store.close().await;
    drop(a);

    // B leaves them alone while the lease lasts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.received().is_empty(), "B took leased deliveries");
    let list = env.deliveries(&id).await;
    assert!(list.iter().all(|d| d["status"] == "pending"), "{list:#?}");

    // The lease ends: B takes over and sends each once.
    env.clock
        .advance(env.hub.settings.lease + Duration::from_secs(1));
    let started = Instant::now();
    rx.wait_for(5).await;
    let took = started.elapsed();
    assert!(
        took <= LISTENING_POLL + Duration::from_secs(2),
        "took over after {took:?}"
    );
    let list = env
        .wait_deliveries(&id, "all succeeded", |l| {
            l.iter().filter(|d| d["status"] == "succeeded").count() == 5
        })
        .await;
    assert!(list.iter().all(|d| d["attempt_count"] == 1), "{list:#?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 5, "sent twice");

    // Had A sent one after all, its result would not overwrite B's.
    let mut tx = env.hub.store.begin().await.unwrap();
    let late = Completion {
        delivery_id: outcome.claimed[0].id.clone(),
        status: DeliveryStatus::Dropped,
        next_attempt_at: None,
        attempt: None,
    };
    let owned = tx
        .complete_many(&[late], &a_owner, env.hub.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(owned.is_empty(), "a lost lease still wrote its result");
    let d = env.delivery(&outcome.claimed[0].id).await;
    assert_eq!(d["status"], "succeeded");
    env.finish().await;
}

/// Arrival times per event id, kept by a receiver's responder.
type Arrivals = Arc<Mutex<Vec<Instant>>>;

async fn timed_receiver(delay: Duration) -> (Receiver, Arrivals) {
    let times: Arrivals = Arc::default();
    let t = times.clone();
    let rx = Receiver::start(move |n| {
        let mut t = t.lock().unwrap();
        if t.len() <= n {
            t.resize(n + 1, Instant::now());
        }
        t[n] = Instant::now();
        (200, delay)
    })
    .await;
    (rx, times)
}

async fn a_hanging_receiver_does_not_delay_the_other_webhooks(backend: Backend) {
    let env = TestEnv::with(
        backend,
        Options {
            delivery_timeout: Duration::from_secs(1),
            max_in_flight_per_webhook: 16,
            ..Default::default()
        },
    )
    .await;
    // Answers only after the delivery timeout: every attempt to it hangs.
    let (hanging, _) = timed_receiver(Duration::from_secs(30)).await;
    let (hung_id, _) = env.webhook(&hanging.url("/slow"), &["SHARING"]).await;
    let mut healthy = Vec::new();
    for i in 0..3 {
        let (rx, times) = timed_receiver(Duration::ZERO).await;
        env.webhook(&rx.url(&format!("/ok{i}")), &["SHARING"]).await;
        healthy.push((rx, times));
    }
    let mut sent_at = std::collections::HashMap::new();
    let rounds = 15;
    for b in 0..rounds {
        let batch: Vec<Value> = (0..10)
            .map(|i| event(&format!("evt_s{b:02}_{i}"), "SHARING", "share.a"))
            .collect();
        let at = Instant::now();
        env.ingest(json!(batch)).await;
        for i in 0..10 {
            sent_at.insert(format!("evt_s{b:02}_{i}"), at);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = rounds * 10;
    let mut latencies = Vec::new();
    for (rx, times) in &healthy {
        let got = rx.wait_for(total).await;
        // The responder notes the time just after the arrival is listed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let times = times.lock().unwrap().clone();
        for (n, r) in got.iter().enumerate() {
            let id = r.json()["event_id"].as_str().unwrap().to_string();
            latencies.push(times[n].duration_since(sent_at[&id]));
        }
    }
    // Meanwhile the hanging one still has most of its deliveries waiting.
    let slow = env.deliveries(&hung_id).await;
    let waiting = slow
        .iter()
        .filter(|d| d["status"] == "pending" && d["attempt_count"] == 0)
        .count();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = *latencies.last().unwrap();
    eprintln!(
        "isolation ({backend:?}): healthy p50 {:?}, p99 {p99:?}, max {max:?} over {} arrivals; the hanging webhook had {waiting} of {total} not yet tried",
        latencies[latencies.len() / 2],
        latencies.len()
    );
    assert!(
        waiting >= total / 2,
        "the hanging receiver was not backed up ({waiting} waiting): the test proves nothing"
    );
    assert!(
        p99 < Duration::from_secs(1),
        "healthy webhooks delayed: p99 {p99:?}"
    );
    env.finish().await;
}

/// The store's count of processes per host: a process counts on its own
/// host while it was seen recently, stops counting when it leaves or
/// misses its beats, and is forgotten once long dead.
async fn processes_count_per_host_while_seen(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url).await.unwrap();
    let forget = -1_000_000;
    assert_eq!(
        store.beat("wkr_a", "h1", 1_000, 0, forget).await.unwrap(),
        1
    );
    assert_eq!(
        store.beat("wkr_b", "h1", 1_100, 100, forget).await.unwrap(),
        2
    );
    assert_eq!(
        store.beat("wkr_c", "h2", 1_200, 200, forget).await.unwrap(),
        1,
        "another host's processes do not count"
    );
    assert_eq!(
        store.beat("wkr_a", "h1", 1_300, 300, forget).await.unwrap(),
        2
    );
    // b misses its beats: at 9,000 only what was seen since 2,000 counts.
    assert_eq!(
        store
            .beat("wkr_a", "h1", 9_000, 2_000, forget)
            .await
            .unwrap(),
        1
    );
    // b comes back; then leaves.
    assert_eq!(
        store
            .beat("wkr_b", "h1", 9_100, 2_100, forget)
            .await
            .unwrap(),
        2
    );
    store.leave("wkr_b").await.unwrap();
    assert_eq!(
        store.beat("wkr_a", "h1", 9_200, 0, forget).await.unwrap(),
        1
    );
    // A process moved to another host counts there only.
    assert_eq!(
        store.beat("wkr_c", "h1", 9_300, 0, forget).await.unwrap(),
        2
    );
    assert_eq!(
        store.beat("wkr_a", "h2", 9_400, 0, forget).await.unwrap(),
        1
    );
    // Rows of processes not seen since `forget_before` are deleted: b
    // (seen at 9,500) and c (9,300) are gone after a beat at 20,000 that
    // forgets what was not seen since 10,000, so even asked to count
    // everything ever seen on h1, a finds itself alone.
    assert_eq!(
        store.beat("wkr_b", "h1", 9_500, 0, forget).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .beat("wkr_a", "h1", 20_000, 15_000, 10_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .beat("wkr_a", "h1", 20_100, i64::MIN, forget)
            .await
            .unwrap(),
        1
    );
    store.close().await;
    db.drop_db().await;
}
