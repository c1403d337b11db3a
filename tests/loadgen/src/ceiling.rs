//! `loadgen ceiling`: what this machine can do at all. The same receiver
//! process and the same ~600 B signed POSTs as ScaiHub sends, straight from
//! one keep-alive reqwest client, with no ScaiHub in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events::{EventMaker, rfc3339};
use crate::receiver_proc::ReceiverProc;
use crate::stats::{Percentiles, now_us, per_sec};

/// The signing secret; any value does, the receiver does not check it.
const SECRET: &[u8] = b"whsec_loadgen_ceiling_0123456789abcdef";

#[derive(Debug, Clone, clap::Args)]
pub struct CeilingArgs {
    /// Requests to send in all.
    #[arg(long = "requests", default_value_t = 50_000)]
    pub requests: u64,
    /// Requests in flight at once.
    #[arg(long = "concurrency", default_value_t = 64)]
    pub concurrency: usize,
    /// Send with the cheap client of the single-event mode (`h1`: one
    /// hyper connection per task) instead of reqwest.
    #[arg(long)]
    pub single: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CeilingResult {
    /// Sent with the cheap client (`--single`).
    pub single: bool,
    pub requests: u64,
    pub concurrency: usize,
    pub ok: u64,
    pub failed: u64,
    pub secs: f64,
    pub requests_per_sec: f64,
    /// Client side, request start to response end.
    pub client_latency: Percentiles,
    pub receiver_count: u64,
    pub receiver_cpu_secs: Option<f64>,
    pub loadgen_cpu_secs: Option<f64>,
    /// Busy CPU seconds of the whole machine over the same span.
    pub machine_cpu_secs: Option<f64>,
}

pub async fn ceiling(args: &CeilingArgs, deadline: Instant) -> anyhow::Result<CeilingResult> {
    anyhow::ensure!(
        args.requests > 0 && args.concurrency > 0,
        "counts must be positive"
    );
    match tokio::time::timeout_at(deadline, measure(args)).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("the ceiling run hit the global timeout")),
    }
}

async fn measure(args: &CeilingArgs) -> anyhow::Result<CeilingResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let rx = ReceiverProc::start(client.clone()).await?;
    let url = rx.url("/hook/0");
    let rx_cpu0 = rx.proc.cpu_secs();
    let me_cpu0 = crate::child::cpu_secs("/proc/self/stat");
    let machine0 = crate::child::machine_busy_secs();
    let maker = Arc::new(EventMaker::new());
    let timestamp: Arc<str> = rfc3339(now_us()).into();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    // Dropping the JoinSet (on the global timeout) aborts every sender.
    let mut senders = JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, url, maker, timestamp, next, total) = (
            client.clone(),
            url.clone(),
            maker.clone(),
            timestamp.clone(),
            next.clone(),
            args.requests,
        );
        if args.single {
            senders.spawn(async move {
                let mut conn = crate::h1::Conn::new(&url).expect("the receiver's URL parses");
                let path = url::Url::parse(&url)
                    .expect("parsed above")
                    .path()
                    .to_string();
                let mut latencies = Vec::new();
                let mut failed = 0u64;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let t0 = Instant::now();
                    let body = maker.event(n, now_us(), &timestamp);
                    let signature = sign(body.as_bytes());
                    let headers = [
                        ("x-scaidrive-event", "share.member_added"),
                        ("x-scaidrive-signature", signature.as_str()),
                    ];
                    match conn.post(&path, &headers, body).await {
                        Ok((status, _)) if (200..300).contains(&status) => {
                            latencies.push(t0.elapsed().as_micros() as i64)
                        }
                        _ => failed += 1,
                    }
                }
                (latencies, failed)
            });
            continue;
        }
        senders.spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let t0 = Instant::now();
                let body = maker.event(n, now_us(), &timestamp);
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-scaidrive-event", "share.member_added")
                    .header("x-scaidrive-signature", sign(body.as_bytes()))
                    .body(body)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let ok = match res {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed().as_micros() as i64);
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        });
    }
    let mut latencies = Vec::with_capacity(args.requests as usize);
    let mut failed = 0;
    while let Some(done) = senders.join_next().await {
        let (l, f) = done?;
        latencies.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed();
    let stats = rx.stats().await?;
    let ok = latencies.len() as u64;
    Ok(CeilingResult {
        single: args.single,
        requests: args.requests,
        concurrency: args.concurrency,
        ok,
        failed,
        secs: elapsed.as_secs_f64(),
        requests_per_sec: per_sec(ok, elapsed.as_micros() as i64),
        client_latency: Percentiles::of(&mut latencies),
        receiver_count: stats.count,
        receiver_cpu_secs: rx.proc.cpu_secs().zip(rx_cpu0).map(|(b, a)| b - a),
        loadgen_cpu_secs: crate::child::cpu_secs("/proc/self/stat")
            .zip(me_cpu0)
            .map(|(b, a)| b - a),
        machine_cpu_secs: crate::child::machine_busy_secs()
            .zip(machine0)
            .map(|(b, a)| b - a),
    })
}

/// `sha256=<hex HMAC-SHA256 of body>`, as ScaiHub signs a delivery.
fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
