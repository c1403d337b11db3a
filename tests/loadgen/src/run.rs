//! `loadgen run`: ScaiHub end to end. Starts the receiver and `scaihub
//! serve`, creates W webhooks, ingests N events, waits for the N×W
//! deliveries, and measures ingest rate, delivery rate, ingest→arrival
//! latency, peak RSS and CPU, then stops both processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::Api;
use crate::events::EventMaker;
use crate::receiver_proc::ReceiverProc;
use crate::server::{Db, Scaihub, on_fresh_store, resolve_binary};
use crate::stats::{Percentiles, ReceiverStats, now_us, per_sec};

/// Attempts per ingest request before its events count as failed.
const INGEST_TRIES: u32 = 3;
/// Give up waiting when no new delivery arrived for this long.
const STALL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The store scaihub runs on.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: Db,
    /// Events to ingest (N).
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Webhooks, each subscribed to every event (W): N×W deliveries.
    #[arg(long, default_value_t = 10)]
    pub webhooks: u32,
    /// Events per ingest request.
    #[arg(long, default_value_t = 100)]
    pub batch: u64,
    /// Events per second, paced by batches; 0 sends as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Ingest requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The scaihub binary (falls back to the one beside loadgen).
    #[arg(long, default_value = "target/release/scaihub")]
    pub binary: PathBuf,
    /// Admin URL of the PostgreSQL server, for `--db postgres`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
    /// Longest wait for the deliveries after the last ingest (seconds).
    #[arg(long, default_value_t = 300)]
    pub drain_secs: u64,
    /// Attach a filter (payload-field-filter, which passes every generated
    /// event) and a transform (pii-redact) to every webhook. Needs the
    /// plugins built: `plugins/build.sh`.
    #[arg(long)]
    pub plugins: bool,
    /// With `--plugins`: attach floor-filter and floor-transform instead,
    /// which do no work of their own, so the run shows what the sandbox
    /// alone costs a delivery.
    #[arg(long, requires = "plugins")]
    pub floor_plugins: bool,
    /// Attach this transform component alone to every webhook, e.g. the
    /// TypeScript build of pii-redact (`plugins/js/build.sh pii-redact`,
    /// then `plugins/js/dist/pii-redact.wasm`) or the Python one, with
    /// `{"remove": ["/payload/principal_id"]}`. A large component compiles
    /// in the background; the run starts once it is ready.
    #[arg(long, conflicts_with = "plugins")]
    pub transform_wasm: Option<PathBuf>,
    /// Where the built plugin components are.
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    pub plugin_dir: PathBuf,
    /// scaihub processes sharing the store (PostgreSQL only); ingest
    /// requests go to them in turn.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// One event per request, as a JSON object (not an array), each task
    /// on its own keep-alive connection of the cheap client (`h1`), as
    /// ScaiDrive's servers send them. Overrides `--batch`.
    #[arg(long)]
    pub single: bool,
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub db: Db,
    pub events: u64,
    pub webhooks: u32,
    pub batch: u64,
    pub rate: f64,
    pub concurrency: usize,
    pub processes: usize,
    pub plugins: bool,
    pub floor_plugins: bool,
    /// The file name of `--transform-wasm`, when given.
    pub transform_wasm: Option<String>,
    pub single: bool,
    pub accepted: u64,
    pub ingest_duplicates: u64,
    pub ingest_failed: u64,
    pub ingest_secs: f64,
    pub ingest_events_per_sec: f64,
    /// Client side: ingest request sent → answer read, per request.
    pub ingest_latency: Percentiles,
    pub expected_deliveries: u64,
    pub received: u64,
    pub received_unique: u64,
    pub received_duplicates: u64,
    pub missing: u64,
    pub complete: bool,
    /// First ingest request to the last new arrival.
    pub delivery_secs: f64,
    pub deliveries_per_sec: f64,
    pub latency: Percentiles,
    /// The largest peak RSS of any one scaihub process.
    pub peak_rss_kib: Option<u64>,
    /// The processes' peak RSS added up.
    pub peak_rss_kib_total: Option<u64>,
    /// Of all scaihub processes together.
    pub scaihub_cpu_secs: Option<f64>,
    /// scaihub's CPU (all processes) per accepted event, in microseconds.
    pub scaihub_cpu_us_per_event: Option<f64>,
    /// scaihub's context switches over the measured span (live threads).
    pub scaihub_ctx_switches: Option<u64>,
    pub receiver_cpu_secs: Option<f64>,
    pub loadgen_cpu_secs: Option<f64>,
    /// Busy CPU seconds of the whole machine over the same span; minus the
    /// three above, what other processes took.
    pub machine_cpu_secs: Option<f64>,
    /// The whole PostgreSQL server (backends, background and exited workers).
    pub postgres_cpu_secs: Option<f64>,
    /// `machine − (scaihub + receiver + loadgen + postgres)`: other work on
    /// the machine (another build, PostgreSQL's own background processes,
    /// the kernel's network work). Large values mean a disturbed run.
    pub other_cpu_secs: Option<f64>,
    /// Wall time of the CPU figures' span (ingest start to the end).
    pub measured_secs: f64,
    pub shutdown_secs: f64,
    pub shutdown_clean: bool,
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

/// Runs the benchmark, ending by `deadline`; a PostgreSQL database is
/// dropped afterwards whatever happened.
pub async fn run(
    args: &RunArgs,
    http: &reqwest::Client,
    deadline: Instant,
) -> anyhow::Result<RunResult> {
    anyhow::ensure!(
        args.events > 0 && args.webhooks > 0 && args.batch > 0 && args.concurrency > 0,
        "counts must be positive"
    );
    anyhow::ensure!(
        args.batch <= 1000,
        "--batch: scaihub takes at most 1000 events per request"
    );
    anyhow::ensure!(
        args.processes >= 1 && (args.processes == 1 || args.db == Db::Postgres),
        "--processes: several processes share a store only on PostgreSQL (--db postgres)"
    );
    let mut args = args.clone();
    if args.single {
        args.batch = 1;
    }
    let args = &args;
    on_fresh_store(args.db, &args.pg_url, deadline, |url| async move {
        measure(args, http, url.as_deref()).await
    })
    .await
}

/// `pg_url` is the PostgreSQL database; SQLite when `None`.
async fn measure(
    args: &RunArgs,
    http: &reqwest::Client,
    pg_url: Option<&str>,
) -> anyhow::Result<RunResult> {
    let mut rx = ReceiverProc::start(http.clone()).await?;
    let binary = resolve_binary(&args.binary);
    let mut hubs = match pg_url {
        Some(url) => Scaihub::start_cluster(args.processes, &binary, url, http).await?,
        None => vec![Scaihub::start(&binary, None, http).await?],
    };
    let apis: Vec<Api> = hubs
        .iter()
        .map(|h| Api::new(http.clone(), &h.base, &h.admin_key))
        .collect();
    let api = apis[0].clone();
    let org = api.org_id().await?;
    let attach = if args.plugins {
        let read = |f: &str| {
            std::fs::read(args.plugin_dir.join(f))
                .map_err(|e| anyhow::anyhow!("{}: {e} (run plugins/build.sh)", f))
        };
        let (filter_file, filter_config, transform_file, transform_config) = if args.floor_plugins {
            let none = serde_json::json!({});
            (
                "floor_filter.wasm",
                none.clone(),
                "floor_transform.wasm",
                none,
            )
        } else {
            (
                "payload_field_filter.wasm",
                serde_json::json!({"pointer": "/role", "allowed": ["contributor"]}),
                "pii_redact.wasm",
                serde_json::json!({"remove": ["/payload/principal_id"]}),
            )
        };
        let filter = api
            .upload_plugin(&org, "bench-filter", "filter", read(filter_file)?)
            .await?;
        let transform = api
            .upload_plugin(&org, "bench-transform", "transform", read(transform_file)?)
            .await?;
        serde_json::json!({
            "filter_plugins": [{"plugin_id": filter, "config": filter_config}],
            "transform_plugin": {"plugin_id": transform, "config": transform_config},
        })
    } else if let Some(path) = &args.transform_wasm {
        let wasm = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let transform = api
            .upload_plugin(&org, "bench-transform", "transform", wasm)
            .await?;
        serde_json::json!({
            "transform_plugin": {
                "plugin_id": transform,
                "config": {"remove": ["/payload/principal_id"]},
            },
        })
    } else {
        serde_json::json!({})
    };
    for i in 0..args.webhooks {
        api.create_webhook_with(
            &org,
            &format!("bench {i}"),
            &rx.url(&format!("/hook/{i}")),
            attach.clone(),
        )
        .await?;
    }
    rx.reset().await?;
    let cpu_before = Cpu::read(&hubs, &rx, pg_url.is_some());
    eprintln!(
        "loadgen: ingesting {} events ({:?}) into {} webhooks …",
        args.events, args.db, args.webhooks
    );
    let ingest = ingest(&apis, &org, args).await;
    let expected = args.events * args.webhooks as u64;
    eprintln!(
        "loadgen: ingest done: {} accepted in {:.2} s; waiting for {expected} deliveries …",
        ingest.accepted,
        (ingest.finished_us - ingest.started_us) as f64 / 1e6
    );
    drain(
        &rx,
        &mut hubs,
        expected,
        Duration::from_secs(args.drain_secs),
    )
    .await?;
    // Late duplicates (a retry of something already received) show up here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = rx.stats().await?;
    let metrics = api.metrics().await.unwrap_or_default();
    let rss: Vec<Option<u64>> = hubs.iter().map(|h| h.proc.peak_rss_kib()).collect();
    let peak_rss_kib = rss.iter().copied().max().flatten();
    let peak_rss_kib_total = rss.iter().copied().sum::<Option<u64>>();
    let cpu_after = Cpu::read(&hubs, &rx, pg_url.is_some());
    let mut stopped = Vec::new();
    for hub in &mut hubs {
        stopped.push(hub.proc.terminate(Duration::from_secs(30)).await?);
    }
    let _ = rx.proc.terminate(Duration::from_secs(5)).await;
    if let Some(e) = &ingest.first_error {
        eprintln!(
            "warning: {} events failed to ingest; first error: {e}",
            ingest.failed
        );
    }
    Ok(result(
        args,
        &ingest,
        &stats,
        expected,
        metrics,
        (peak_rss_kib, peak_rss_kib_total),
        cpu_before.since(&cpu_after),
        stopped.iter().all(|s| s.clean),
        stopped.iter().map(|s| s.took).max().unwrap_or_default(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn result(
    args: &RunArgs,
    ingest: &IngestOutcome,
    stats: &ReceiverStats,
    expected: u64,
    metrics: serde_json::Map<String, serde_json::Value>,
    (peak_rss_kib, peak_rss_kib_total): (Option<u64>, Option<u64>),
    cpu: Cpu,
    shutdown_clean: bool,
    shutdown: Duration,
) -> RunResult {
    let ingest_us = ingest.finished_us - ingest.started_us;
    let delivery_us = stats.last_new_at_us - ingest.started_us;
    RunResult {
        db: args.db,
        events: args.events,
        webhooks: args.webhooks,
        batch: args.batch,
        rate: args.rate,
        concurrency: args.concurrency,
        processes: args.processes,
        plugins: args.plugins,
        floor_plugins: args.floor_plugins,
        transform_wasm: args
            .transform_wasm
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
        single: args.single,
        accepted: ingest.accepted,
        ingest_duplicates: ingest.duplicates,
        ingest_failed: ingest.failed,
        ingest_secs: ingest_us as f64 / 1e6,
        ingest_events_per_sec: per_sec(ingest.accepted, ingest_us),
        ingest_latency: ingest.latency,
        expected_deliveries: expected,
        received: stats.count,
        received_unique: stats.unique,
        received_duplicates: stats.duplicates,
        missing: expected.saturating_sub(stats.unique),
        complete: stats.unique == expected,
        delivery_secs: delivery_us as f64 / 1e6,
        deliveries_per_sec: per_sec(stats.unique, delivery_us),
        latency: stats.latency,
        peak_rss_kib,
        peak_rss_kib_total,
        scaihub_cpu_secs: cpu.scaihub,
        scaihub_cpu_us_per_event: cpu
            .scaihub
            .filter(|_| ingest.accepted > 0)
            .map(|c| (c * 1e6 / ingest.accepted as f64 * 10.0).round() / 10.0),
        scaihub_ctx_switches: cpu.scaihub_ctx,
        receiver_cpu_secs: cpu.receiver,
        loadgen_cpu_secs: cpu.loadgen,
        machine_cpu_secs: cpu.machine,
        postgres_cpu_secs: cpu.postgres,
        other_cpu_secs: cpu.other(),
        measured_secs: cpu.wall,
        shutdown_secs: shutdown.as_secs_f64(),
        shutdown_clean,
        metrics,
    }
}

/// CPU seconds of the three processes and the machine, and the wall clock.
#[derive(Clone, Copy)]
struct Cpu {
    scaihub: Option<f64>,
    scaihub_ctx: Option<u64>,
    receiver: Option<f64>,
    loadgen: Option<f64>,
    machine: Option<f64>,
    postgres: Option<f64>,
    wall: f64,
}

impl Cpu {
    fn read(hubs: &[Scaihub], rx: &ReceiverProc, postgres: bool) -> Cpu {
        Cpu {
            scaihub: hubs.iter().map(|h| h.proc.cpu_secs()).sum(),
            scaihub_ctx: hubs.iter().map(|h| h.proc.ctx_switches()).sum(),
            receiver: rx.proc.cpu_secs(),
            loadgen: crate::child::cpu_secs("/proc/self/stat"),
            machine: crate::child::machine_busy_secs(),
            postgres: if postgres {
                crate::child::postgres_cpu_secs()
            } else {
                None
            },
            wall: now_us() as f64 / 1e6,
        }
    }

    fn other(&self) -> Option<f64> {
        Some(
            self.machine?
                - self.scaihub?
                - self.receiver?
                - self.loadgen?
                - self.postgres.unwrap_or(0.0),
        )
    }

    /// The CPU used between `self` and `later`.
    fn since(&self, later: &Cpu) -> Cpu {
        let d = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        Cpu {
            scaihub: d(self.scaihub, later.scaihub),
            scaihub_ctx: later
                .scaihub_ctx
                .zip(self.scaihub_ctx)
                .map(|(b, a)| b.saturating_sub(a)),
            receiver: d(self.receiver, later.receiver),
            loadgen: d(self.loadgen, later.loadgen),
            machine: d(self.machine, later.machine),
            postgres: d(self.postgres, later.postgres),
            wall: later.wall - self.wall,
        }
    }
}

struct IngestOutcome {
    accepted: u64,
    duplicates: u64,
    failed: u64,
    started_us: i64,
    finished_us: i64,
    first_error: Option<String>,
    latency: Percentiles,
}

#[derive(Default)]
struct Tally {
    /// Microseconds from request sent to answer read, per answered request.
    latencies: std::sync::Mutex<Vec<i64>>,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    failed: AtomicU64,
    finished_us: AtomicI64,
    first_error: std::sync::Mutex<Option<String>>,
}

/// Sends the N events in batches from `concurrency` tasks, each taking the
/// next batch number; with a rate, batch k waits for its slot
/// `k × batch / rate` seconds after the start.
async fn ingest(apis: &[Api], org: &str, args: &RunArgs) -> IngestOutcome {
    let maker = Arc::new(EventMaker::new());
    let batches = args.events.div_ceil(args.batch);
    let next = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let started_us = now_us();
    // Dropping the JoinSet (on the global timeout) aborts every sender.
    let mut senders = JoinSet::new();
    for task in 0..args.concurrency {
        let (apis, org, maker, next, tally, args) = (
            apis.to_vec(),
            org.to_string(),
            maker.clone(),
            next.clone(),
            tally.clone(),
            args.clone(),
        );
        if args.single {
            senders.spawn(async move {
                let api = &apis[task % apis.len()];
                send_singles(api, &org, &maker, &next, &tally, &args, started).await;
            });
            continue;
        }
        senders.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= batches {
                    break;
                }
                if args.rate > 0.0 {
                    tokio::time::sleep_until(
                        started + Duration::from_secs_f64((k * args.batch) as f64 / args.rate),
                    )
                    .await;
                }
                let first = k * args.batch;
                let count = args.batch.min(args.events - first);
                let sent = Instant::now();
                if send_batch(
                    &apis[k as usize % apis.len()],
                    &org,
                    maker.batch(first, count, now_us()),
                    count,
                    &tally,
                )
                .await
                {
                    latencies.push(sent.elapsed().as_micros() as i64);
                }
                tally.finished_us.fetch_max(now_us(), Ordering::Relaxed);
            }
            tally
                .latencies
                .lock()
                .expect("tally lock")
                .extend(latencies);
        });
    }
    while senders.join_next().await.is_some() {}
    let first_error = tally.first_error.lock().expect("tally lock").take();
    let latency = Percentiles::of(&mut tally.latencies.lock().expect("tally lock"));
    IngestOutcome {
        latency,
        accepted: tally.accepted.load(Ordering::Relaxed),
        duplicates: tally.duplicates.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
        started_us,
        finished_us: tally.finished_us.load(Ordering::Relaxed).max(started_us),
        first_error,
    }
}

/// One ingest request, retried a few times: ingest is idempotent on
/// `event_id`, so a retry of a request that did land answers duplicates.
async fn send_batch(api: &Api, org: &str, body: String, count: u64, tally: &Tally) -> bool {
    for attempt in 1..=INGEST_TRIES {
        match api.ingest(org, body.clone()).await {
            Ok(r) => {
                tally.accepted.fetch_add(r.accepted, Ordering::Relaxed);
                tally.duplicates.fetch_add(r.duplicates, Ordering::Relaxed);
                return attempt == 1;
            }
            Err(e) if attempt == INGEST_TRIES => {
                tally.failed.fetch_add(count, Ordering::Relaxed);
                tally
                    .first_error
                    .lock()
                    .expect("tally lock")
                    .get_or_insert_with(|| format!("{e:#}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await,
        }
    }
    false
}

/// One task of `--single`: takes the next event number, sends that event
/// alone on this task's connection, until all N are taken. A request
/// answered on its first try counts towards the latency figures.
async fn send_singles(
    api: &Api,
    org: &str,
    maker: &EventMaker,
    next: &AtomicU64,
    tally: &Tally,
    args: &RunArgs,
    started: Instant,
) {
    let path = format!("/v1/orgs/{org}/events");
    let mut conn = match crate::h1::Conn::new(api.base()) {
        Ok(c) => c,
        Err(e) => {
            tally
                .first_error
                .lock()
                .expect("tally lock")
                .get_or_insert_with(|| format!("{e:#}"));
            return;
        }
    };
    let mut latencies = Vec::new();
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= args.events {
            break;
        }
        if args.rate > 0.0 {
            tokio::time::sleep_until(started + Duration::from_secs_f64(n as f64 / args.rate)).await;
        }
        let sent_at = now_us();
        let body = maker.event(n, sent_at, &crate::events::rfc3339(sent_at));
        for attempt in 1..=INGEST_TRIES {
            let sent = Instant::now();
            let answer = conn
                .post(&path, &[("authorization", api.auth())], body.clone())
                .await
                .and_then(|(status, bytes)| {
                    anyhow::ensure!(
                        status == 202,
                        "answered {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    );
                    Ok(serde_json::from_slice::<Answer>(&bytes)?)
                });
            match answer {
                Ok(a) => {
                    if attempt == 1 {
                        latencies.push(sent.elapsed().as_micros() as i64);
                    }
                    tally
                        .accepted
                        .fetch_add(a.accepted.len() as u64, Ordering::Relaxed);
                    tally
                        .duplicates
                        .fetch_add(a.duplicates.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(e) if attempt == INGEST_TRIES => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    tally
                        .first_error
                        .lock()
                        .expect("tally lock")
                        .get_or_insert_with(|| format!("{e:#}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await,
            }
        }
        tally.finished_us.fetch_max(now_us(), Ordering::Relaxed);
    }
    tally
        .latencies
        .lock()
        .expect("tally lock")
        .extend(latencies);
}

/// An ingest answer, as far as the generator reads it.
#[derive(serde::Deserialize)]
struct Answer {
    accepted: Vec<serde::de::IgnoredAny>,
    duplicates: Vec<serde::de::IgnoredAny>,
}

/// Polls the receiver's counts until `expected` distinct deliveries
/// arrived, nothing new came for [`STALL`], or `within` ran out.
async fn drain(
    rx: &ReceiverProc,
    hubs: &mut [Scaihub],
    expected: u64,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let s = rx.counts().await?;
        if s.unique >= expected {
            return Ok(());
        }
        if s.unique != last {
            last = s.unique;
            last_change = Instant::now();
        }
        for hub in hubs.iter_mut() {
            hub.proc.check_alive()?;
        }
        if Instant::now() >= deadline || last_change.elapsed() >= STALL {
            eprintln!(
                "warning: stopped waiting with {} of {expected} deliveries",
                s.unique
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
