//! `loadgen queued`: memory under a deep queue. W paused webhooks take N
//! deliveries in all (N / W events); resident memory is sampled as the
//! queue fills, and — with `--drain` — while a resume of every webhook
//! delivers it all. A queue lives in the store, so the figures should stay
//! flat however deep it gets.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::Api;
use crate::events::EventMaker;
use crate::receiver_proc::ReceiverProc;
use crate::server::{Db, Scaihub, on_fresh_store, resolve_binary};
use crate::stats::{now_us, per_sec};

#[derive(Debug, Clone, clap::Args)]
pub struct QueuedArgs {
    /// The store scaihub runs on.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: Db,
    /// Deliveries to queue in all (N).
    #[arg(long, default_value_t = 1_000_000)]
    pub deliveries: u64,
    /// Paused webhooks sharing them (W), each subscribed to every event.
    #[arg(long, default_value_t = 10)]
    pub webhooks: u32,
    /// Events per ingest request.
    #[arg(long, default_value_t = 1000)]
    pub batch: u64,
    /// Ingest requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Then resume every webhook and measure delivering the whole queue.
    #[arg(long)]
    pub drain: bool,
    /// Longest wait for the drain (seconds).
    #[arg(long, default_value_t = 600)]
    pub drain_secs: u64,
    /// The scaihub binary (falls back to the one beside loadgen).
    #[arg(long, default_value = "target/release/scaihub")]
    pub binary: PathBuf,
    /// Admin URL of the PostgreSQL server, for `--db postgres`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
}

/// Resident memory when so many deliveries were queued (or delivered).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub deliveries: u64,
    pub rss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueuedResult {
    pub db: Db,
    pub deliveries: u64,
    pub webhooks: u32,
    pub events: u64,
    pub accepted: u64,
    pub ingest_secs: f64,
    pub ingest_events_per_sec: f64,
    /// Before the first event.
    pub rss_idle_kib: Option<u64>,
    /// As the queue filled: (deliveries queued so far, RSS).
    pub filling: Vec<Sample>,
    /// With the whole queue held.
    pub rss_full_kib: Option<u64>,
    /// Peak RSS until the queue was full.
    pub peak_rss_full_kib: Option<u64>,
    /// With `--drain`: (deliveries received so far, RSS) as it emptied.
    pub draining: Vec<Sample>,
    pub drained: Option<u64>,
    pub drain_secs: Option<f64>,
    pub drain_deliveries_per_sec: Option<f64>,
    /// Peak RSS over the whole run.
    pub peak_rss_kib: Option<u64>,
}

pub async fn queued(
    args: &QueuedArgs,
    http: &reqwest::Client,
    deadline: Instant,
) -> anyhow::Result<QueuedResult> {
    anyhow::ensure!(
        args.deliveries > 0 && args.webhooks > 0 && args.batch > 0 && args.concurrency > 0,
        "counts must be positive"
    );
    anyhow::ensure!(
        args.batch <= 1000,
        "--batch: scaihub takes at most 1000 events per request"
    );
    on_fresh_store(args.db, &args.pg_url, deadline, |url| async move {
        measure(args, http, url.as_deref()).await
    })
    .await
}

async fn measure(
    args: &QueuedArgs,
    http: &reqwest::Client,
    pg_url: Option<&str>,
) -> anyhow::Result<QueuedResult> {
    let events = args.deliveries.div_ceil(args.webhooks as u64);
    let rx = ReceiverProc::start(http.clone()).await?;
    let mut hub = Scaihub::start(&resolve_binary(&args.binary), pg_url, http).await?;
    let api = Api::new(http.clone(), &hub.base, &hub.admin_key);
    let org = api.org_id().await?;
    let mut hooks = Vec::new();
    for i in 0..args.webhooks {
        hooks.push(
            api.create_webhook_with(
                &org,
                &format!("queued {i}"),
                &rx.url(&format!("/hook/{i}")),
                serde_json::json!({"paused": true, "queue_limit": events}),
            )
            .await?,
        );
    }
    rx.reset().await?;
    let rss_idle_kib = hub.proc.rss_kib();
    eprintln!(
        "loadgen: queueing {} deliveries ({events} events × {} paused webhooks) …",
        events * args.webhooks as u64,
        args.webhooks
    );

    // Fill: events in batches from a few tasks; RSS sampled as it goes.
    let maker = Arc::new(EventMaker::new());
    let batches = events.div_ceil(args.batch);
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let started_us = now_us();
    let mut senders = JoinSet::new();
    for _ in 0..args.concurrency {
        let (api, org, maker, next, accepted, batch) = (
            api.clone(),
            org.clone(),
            maker.clone(),
            next.clone(),
            accepted.clone(),
            args.batch,
        );
        senders.spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= batches {
                    return Ok::<(), anyhow::Error>(());
                }
                let first = k * batch;
                let count = batch.min(events - first);
                let r = api
                    .ingest(&org, maker.batch(first, count, now_us()))
                    .await?;
                accepted.fetch_add(r.accepted, Ordering::Relaxed);
            }
        });
    }
    let webhooks = args.webhooks as u64;
    let mut filling = Vec::new();
    let mut sampled_at = 0;
    let step = (events / 20).max(1);
    while !senders.is_empty() {
        tokio::select! {
            joined = senders.join_next() => {
                if let Some(r) = joined {
                    r??;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let done = accepted.load(Ordering::Relaxed);
        if done >= sampled_at + step || (senders.is_empty() && done > sampled_at) {
            sampled_at = done;
            if let Some(rss) = hub.proc.rss_kib() {
                filling.push(Sample {
                    deliveries: done * webhooks,
                    rss_kib: rss,
                });
            }
        }
        hub.proc.check_alive()?;
    }
    let ingest_us = now_us() - started_us;
    let accepted = accepted.load(Ordering::Relaxed);
    let rss_full_kib = hub.proc.rss_kib();
    let peak_rss_full_kib = hub.proc.peak_rss_kib();
    eprintln!(
        "loadgen: {} deliveries queued in {:.1} s; RSS {} KiB",
        accepted * webhooks,
        ingest_us as f64 / 1e6,
        rss_full_kib.unwrap_or(0)
    );

    let (mut draining, mut drained, mut drain_secs, mut drain_rate) =
        (Vec::new(), None, None, None);
    if args.drain {
        let expected = accepted * webhooks;
        let started = Instant::now();
        let started_us = now_us();
        for id in &hooks {
            api.resume(&org, id).await?;
        }
        let deadline = started + Duration::from_secs(args.drain_secs);
        let step = (expected / 20).max(1);
        let mut sampled_at = 0;
        let mut last = 0;
        let mut last_change = Instant::now();
        loop {
            let s = rx.counts().await?;
            if s.unique >= sampled_at + step || s.unique >= expected {
                sampled_at = s.unique;
                if let Some(rss) = hub.proc.rss_kib() {
                    draining.push(Sample {
                        deliveries: s.unique,
                        rss_kib: rss,
                    });
                }
            }
            if s.unique != last {
                last = s.unique;
                last_change = Instant::now();
            }
            if s.unique >= expected
                || Instant::now() >= deadline
                || last_change.elapsed() >= Duration::from_secs(60)
            {
                break;
            }
            hub.proc.check_alive()?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let s = rx.counts().await?;
        let us = s.last_new_at_us.max(started_us) - started_us;
        if s.unique < expected {
            eprintln!(
                "warning: stopped waiting with {} of {expected} deliveries",
                s.unique
            );
        }
        drained = Some(s.unique);
        drain_secs = Some(us as f64 / 1e6);
        drain_rate = Some(per_sec(s.unique, us));
    }
    let peak_rss_kib = hub.proc.peak_rss_kib();
    let _ = hub.proc.terminate(Duration::from_secs(30)).await;
    Ok(QueuedResult {
        db: args.db,
        deliveries: events * webhooks,
        webhooks: args.webhooks,
        events,
        accepted,
        ingest_secs: ingest_us as f64 / 1e6,
        ingest_events_per_sec: per_sec(accepted, ingest_us),
        rss_idle_kib,
        filling,
        rss_full_kib,
        peak_rss_full_kib,
        draining,
        drained,
        drain_secs,
        drain_deliveries_per_sec: drain_rate,
        peak_rss_kib,
    })
}
