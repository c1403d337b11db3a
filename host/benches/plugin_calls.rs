//! Micro benchmark of plugin calls in the real runtime: one filter call and
//! one transform call on 1 KiB and 64 KiB events, each a fresh store and
//! instance as in the delivery path. Prints p50 and p99. Beside the example
//! plugins it calls the floor plugins, which do no work of their own: their
//! figures are the sandbox's share of a call.
//!
//! `cargo bench -p scaihub --bench plugin_calls` (builds the plugins first).
//! `BENCH_ITERATIONS=n` (default 3000), `BENCH_SIZES=1024,65536` and
//! `BENCH_ONLY=<part of a case's name>` narrow a run, e.g. for a profiler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scaihub::domain::Event;
use scaihub::plugin::{OutgoingRequest, PluginEvent, PluginKind, PluginLimits, PluginRuntime};
use serde_json::json;

fn build_plugins() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
    assert!(status.success(), "building the plugins failed");
    root.join("target/wasm32-wasip2/release")
}

fn event_of(size: usize) -> Event {
    let base = json!({
        "event_id": "evt_bench", "timestamp": "2026-05-12T14:23:01Z", "category": "SHARING",
        "action": "share.member_added", "user_id": "usr_alice", "resource_id": "shr_reports",
        "payload": {"role": "contributor", "email": "bob@example.com", "pad": ""}
    });
    let overhead = base.to_string().len();
    let mut v = base;
    v["payload"]["pad"] = json!("x".repeat(size.saturating_sub(overhead)));
    Event::from_json(&v, "").unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<34} n={:<6} p50={:>8.1}µs  p99={:>8.1}µs  max={:>8.1}µs",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = build_plugins();
    let runtime = Arc::new(PluginRuntime::new(PluginLimits::default()).unwrap());
    let compile = |file: &str, kind: PluginKind| {
        let wasm = std::fs::read(dir.join(file)).unwrap();
        let started = Instant::now();
        let artifact = runtime.compile(&wasm, kind).unwrap();
        println!(
            "compile {file:<28} {:>6.1} ms, artifact {} KiB",
            started.elapsed().as_secs_f64() * 1e3,
            artifact.len() / 1024
        );
        artifact
    };
    let filter_art = compile("payload_field_filter.wasm", PluginKind::Filter);
    let transform_art = compile("pii_redact.wasm", PluginKind::Transform);
    let filter = runtime
        .load("bench-filter", PluginKind::Filter, &filter_art)
        .unwrap();
    let transform = runtime
        .load("bench-transform", PluginKind::Transform, &transform_art)
        .unwrap();
    // The floor plugins do no work of their own: what they cost is the
    // sandbox's share of a call (a fresh store, instantiation, the event in,
    // the answer out, the store dropped).
    let idle_filter_art = compile("floor_filter.wasm", PluginKind::Filter);
    let idle_transform_art = compile("floor_transform.wasm", PluginKind::Transform);
    let idle_filter = runtime
        .load("bench-idle-filter", PluginKind::Filter, &idle_filter_art)
        .unwrap();
    let idle_transform = runtime
        .load(
            "bench-idle-transform",
            PluginKind::Transform,
            &idle_transform_art,
        )
        .unwrap();
    let idle_config = "{}".to_string();
    let filter_config = json!({"pointer": "/role", "allowed": ["contributor"]}).to_string();
    let transform_config = json!({"remove": ["/payload/email"]}).to_string();
    let iterations = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000usize);
    // BENCH_ONLY=<text> runs only the cases whose name contains it (to
    // profile one case at a time).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();

    let sizes: Vec<usize> = match std::env::var("BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => vec![1024, 64 * 1024],
    };
    for size in sizes {
        let event = event_of(size);
        let body = event.to_body().into_bytes();
        // As the delivery path builds it: once per delivery, from the body.
        let event = PluginEvent::from_body(&event.to_body()).unwrap();
        // Warm up, then measure one call at a time (latency, not throughput).
        let filters = [
            ("filter", &filter, &filter_config),
            ("floor filter", &idle_filter, &idle_config),
        ];
        for (name, plugin, config) in filters {
            if !name.contains(only.as_str()) {
                continue;
            }
            let mut samples = Vec::with_capacity(iterations);
            for i in 0..iterations + 200 {
                let started = Instant::now();
                let (result, _) = runtime
                    .filter("bench", plugin.clone(), &event, config)
                    .await;
                let took = started.elapsed();
                assert!(result.unwrap());
                if i >= 200 {
                    samples.push(took);
                }
            }
            report(&format!("{name}, {} KiB event", size / 1024), samples);
        }
        let transforms = [
            ("transform (pii)", &transform, &transform_config),
            ("floor transform", &idle_transform, &idle_config),
        ];
        for (name, plugin, config) in transforms {
            if !name.contains(only.as_str()) {
                continue;
            }
            let mut samples = Vec::with_capacity(iterations);
            for i in 0..iterations + 200 {
                let request = OutgoingRequest {
                    body: body.clone(),
                    headers: vec![],
                    content_type: "application/json".into(),
                };
                let started = Instant::now();
                let (result, _) = runtime
                    .transform("bench", plugin.clone(), &event, request, config)
                    .await;
                let took = started.elapsed();
                assert!(result.is_ok());
                if i >= 200 {
                    samples.push(took);
                }
            }
            report(&format!("{name}, {} KiB event", size / 1024), samples);
        }
    }
}
