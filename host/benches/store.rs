//! The store's share of ingest and delivery, timed without HTTP around
//! it, on SQLite and, when given a server, PostgreSQL:
//! - single-event ingest: `BENCH_CONCURRENCY` tasks (default 32) each
//!   calling `Hub::ingest` with one event at a time for `BENCH_SECONDS`
//!   (default 3), to 1 and to 10 webhooks: events a second and the answer's
//!   p50 / p99, through the group-commit writers (`hub::group`) and the
//!   log's sync, as a request sees them;
//! - recording results: the delivery recorder's transaction
//!   (`complete_many` and its commit) over batches of claimed deliveries,
//!   a delivery at a time.
//!
//! End-to-end runs (`loadgen`) on two shared cores drift by a third from
//! one minute to the next and mix in HTTP on both sides; these isolate
//! the store's statements a change to them is about.
//!
//! `cargo bench -p scaihub --bench store`. `BENCH_DELIVERIES` (default
//! 64,000: a tenth as many events fanned out to 10 webhooks),
//! `BENCH_BATCH` (results a transaction, default 64, the recorder's batch
//! under load), `BENCH_POSTGRES_URL` (a server where a database of its own
//! is created and dropped, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use scaihub::clock::SystemClock;
use scaihub::crypto::MasterKey;
use scaihub::destinations::{DestinationPolicy, SystemResolver};
use scaihub::domain::Event;
use scaihub::hub::Actor;
use scaihub::plugin::{PluginLimits, PluginRuntime};
use scaihub::storage::Store;
use scaihub::storage::deliveries::{AttemptRecord, Completion, DeliveryStatus};
use sqlx::Connection;

const WEBHOOKS: usize = 10;
const OWNER: &str = "bench-recorder";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A hub on `url`'s store with its first organisation and `webhooks`
/// webhooks to nowhere (no worker runs: deliveries stay owed).
async fn hub_with_webhooks(url: &str, webhooks: usize) -> (Arc<scaihub::hub::Hub>, String) {
    let store = Store::connect(url).await.expect("store");
    let policy = DestinationPolicy::new(
        scaihub::config::parse_allow_list("127.0.0.0/8").expect("allow list"),
        Arc::new(SystemResolver),
    );
    let (key, _) = MasterKey::generate();
    let plugins = Arc::new(PluginRuntime::new(PluginLimits::default()).expect("plugins"));
    let hub = scaihub::server::hub(
        store,
        Arc::new(SystemClock),
        key,
        policy,
        Default::default(),
        plugins,
    );
    let boot = hub.bootstrap(None).await.expect("bootstrap").expect("new");
    for i in 0..webhooks {
        let input = serde_json::json!({
            "name": format!("bench {i}"),
            "url": format!("http://127.0.0.1:9/hook/{i}"),
            "events": ["SHARING"]
        });
        hub.create_webhook(
            &boot.org_id,
            &Actor::system(),
            serde_json::from_value(input).expect("input"),
        )
        .await
        .expect("webhook");
    }
    (hub, boot.org_id)
}

/// An event as ScaiDrive sends them, about 300 bytes.
fn event(id: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "event_id": id,
        "timestamp": "2026-12-07T12:00:00Z",
        "category": "SHARING",
        "action": "share.member_added",
        "user_id": "usr_bench",
        "resource_id": "shr_reports",
        "payload": {"principal_id": format!("usr_{id}"), "role": "contributor"},
    }))
    .expect("event")
}

/// `concurrency` producers ingesting one event a call for `seconds`.
async fn single_events(label: &str, url: &str, webhooks: usize, concurrency: u64, seconds: u64) {
    let (hub, org) = hub_with_webhooks(url, webhooks).await;
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..concurrency {
        let (hub, org) = (hub.clone(), org.clone());
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            let mut n = 0u64;
            while Instant::now() < until {
                let at = Instant::now();
                let outcome = hub
                    .ingest(&org, vec![event(&format!("evt_single_{p}_{n}"))])
                    .await
                    .expect("ingest");
                assert_eq!(outcome.accepted.len(), 1);
                took.push(at.elapsed());
                n += 1;
            }
            took
        }));
    }
    let mut took = Vec::new();
    for t in tasks {
        took.extend(t.await.expect("producer"));
    }
    let secs = started.elapsed().as_secs_f64();
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    println!(
        "{label:<10} single events, {webhooks:>2} webhook(s): {:>7.0} events/s ({} from {concurrency} producers; answer p50 {:.2} ms, p99 {:.2} ms)",
        took.len() as f64 / secs,
        took.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
    hub.store.close().await;
}

/// Fills `url`'s store with `deliveries` pending deliveries, then claims
/// them `batch` at a time and records each batch as succeeded; prints the
/// time a delivery took to record and the batches' p50 / p99.
async fn record_results(label: &str, url: &str, deliveries: u64, batch: i64) {
    let (hub, org) = hub_with_webhooks(url, WEBHOOKS).await;
    let events = deliveries / WEBHOOKS as u64;
    let mut n = 0;
    while n < events {
        let request: Vec<Event> = (n..(n + 100).min(events))
            .map(|i| event(&format!("evt_bench_{i}")))
            .collect();
        n += request.len() as u64;
        hub.ingest(&org, request).await.expect("ingest");
    }
    let mut took = Vec::new();
    let mut recorded = 0usize;
    loop {
        let now = hub.now();
        let claimed = hub
            .store
            .claim_due(OWNER, now, now + 600_000, batch, &[])
            .await
            .expect("claim");
        if claimed.is_empty() {
            break;
        }
        let done: Vec<Completion> = claimed
            .iter()
            .map(|d| Completion {
                delivery_id: d.id.clone(),
                status: DeliveryStatus::Succeeded,
                next_attempt_at: None,
                attempt: Some(AttemptRecord {
                    attempted_at: now,
                    status_code: Some(200),
                    duration_ms: 3,
                    error: None,
                    response_snippet: Some("ok".into()),
                    plugin_error: None,
                }),
            })
            .collect();
        let started = Instant::now();
        let mut tx = hub.store.begin_relaxed().await.expect("begin");
        let ids = tx.complete_many(&done, OWNER, now).await.expect("record");
        tx.commit().await.expect("commit");
        took.push(started.elapsed());
        assert_eq!(ids.ids.len(), done.len(), "every result recorded");
        recorded += done.len();
    }
    assert_eq!(recorded as u64, events * WEBHOOKS as u64);
    let total: Duration = took.iter().sum();
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    println!(
        "{label:<10} record results: {:>6.2} µs a delivery ({recorded} in batches of {batch}; a batch p50 {:.2} ms, p99 {:.2} ms)",
        total.as_secs_f64() * 1e6 / recorded as f64,
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
    hub.store.close().await;
}

#[tokio::main]
async fn main() {
    scaihub::install_crypto_provider();
    let deliveries = env_or("BENCH_DELIVERIES", 64_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 32);
    let seconds = env_or("BENCH_SECONDS", 3);
    let batch = env_or("BENCH_BATCH", 64) as i64;
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    for webhooks in [1, 10] {
        let url = sqlite(&format!("single-{webhooks}.db"));
        single_events("SQLite", &url, webhooks, concurrency, seconds).await;
    }
    record_results("SQLite", &sqlite("record.db"), deliveries, batch).await;
    if let Ok(admin) = std::env::var("BENCH_POSTGRES_URL") {
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL");
        let mut url = url::Url::parse(&admin).expect("BENCH_POSTGRES_URL");
        // A database of its own for each part, dropped after it.
        for part in ["single-1", "single-10", "record"] {
            let name = format!(
                "scaihub_bench_{}_{}",
                std::process::id(),
                part.replace('-', "_")
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            url.set_path(&format!("/{name}"));
            match part {
                "single-1" => {
                    single_events("PostgreSQL", url.as_str(), 1, concurrency, seconds).await
                }
                "single-10" => {
                    single_events("PostgreSQL", url.as_str(), 10, concurrency, seconds).await
                }
                _ => record_results("PostgreSQL", url.as_str(), deliveries, batch).await,
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .expect("drop database");
        }
    }
}
