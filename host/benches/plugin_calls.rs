//! Micro benchmark of plugin calls in the real runtime: one filter call and
//! one transform call on 1 KiB and 64 KiB events, each twice: in a fresh
//! store and instance (a plugin's test call, a webhook's first delivery),
//! and in the instance kept from the previous call as deliveries of one
//! webhook get it (`plugin/warm.rs`). Prints p50 and p99. Beside the example
//! plugins it calls the floor plugins, which do no work of their own: their
//! figures are the sandbox's share of a call.
//!
//! The same calls go to the example plugins built from TypeScript
//! (componentize-js) and Python (componentize-py) when node and python3
//! are here (`plugins/js/build.sh`, `plugins/python/build.sh`; skipped with
//! the reason otherwise), with the fuel each call burnt.
//!
//! `cargo bench -p scaihub --bench plugin_calls` (builds the plugins first).
//! `BENCH_ITERATIONS=n` (default 3000), `BENCH_SIZES=1024,65536` and
//! `BENCH_ONLY=<part of a case's name>` narrow a run, e.g. for a profiler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scaihub::domain::Event;
use scaihub::plugin::{
    OutgoingRequest, PluginEvent, PluginKind, PluginLimits, PluginRuntime, WarmKey,
};
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

/// A component built by another language's toolchain: its name in the
/// report, its kind, and the build script and plugin name that make it.
struct Guest {
    name: &'static str,
    kind: PluginKind,
    script: &'static str,
    plugin: &'static str,
}

const GUESTS: [Guest; 4] = [
    Guest {
        name: "js filter",
        kind: PluginKind::Filter,
        script: "plugins/js/build.sh",
        plugin: "payload-field-filter",
    },
    Guest {
        name: "js transform (pii)",
        kind: PluginKind::Transform,
        script: "plugins/js/build.sh",
        plugin: "pii-redact",
    },
    Guest {
        name: "py filter",
        kind: PluginKind::Filter,
        script: "plugins/python/build.sh",
        plugin: "payload-field-filter",
    },
    Guest {
        name: "py transform (pii)",
        kind: PluginKind::Transform,
        script: "plugins/python/build.sh",
        plugin: "pii-redact",
    },
];

/// Builds a guest with its language's script; None, with the reason
/// printed, when the toolchain is not here or the build fails.
fn build_guest(guest: &Guest) -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tool = if guest.script.contains("/js/") {
        "node"
    } else {
        "python3"
    };
    if std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipped: {} ({tool} is not installed)", guest.name);
        return None;
    }
    let started = Instant::now();
    let out = std::process::Command::new("bash")
        .arg(root.join(guest.script))
        .arg(guest.plugin)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("bash runs");
    if !out.status.success() {
        println!("skipped: {} (its build failed)", guest.name);
        return None;
    }
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with(&format!("{}.wasm", guest.plugin)))
        .map(|l| root.join(l.trim()))?;
    println!(
        "built {:<28} {:>6.1} s, {:.1} MiB",
        guest.name,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).ok()?.len() as f64 / (1024.0 * 1024.0)
    );
    Some(path)
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

/// The process's minor page faults so far (field 10 of /proc/self/stat;
/// 0 where there is no /proc). Copy-on-write faults on a memory image
/// are minor faults.
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses.
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split(' ').nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

fn report(name: &str, mut samples: Vec<Duration>, fuel: u64, faults: u64) {
    samples.sort();
    println!(
        "{name:<40} n={:<6} p50={:>8.1}µs  p99={:>8.1}µs  max={:>8.1}µs  fuel={:.2}M  faults/call={}",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
        fuel as f64 / 1e6,
        faults / samples.len().max(1) as u64
    );
}

/// Measures one case twice, fresh then kept: 200 calls to warm up, then
/// `iterations` one at a time (latency, not throughput). `call(kept)`
/// makes one call and answers how long it took and the fuel it burnt.
async fn measure(
    label: &str,
    iterations: usize,
    mut call: impl AsyncFnMut(bool) -> (Duration, u64),
) {
    for kept in [false, true] {
        let mut samples = Vec::with_capacity(iterations);
        let (mut fuel, mut faults) = (0, 0);
        for i in 0..iterations + 200 {
            if i == 200 {
                faults = minor_faults();
            }
            let (took, burnt) = call(kept).await;
            fuel = burnt;
            if i >= 200 {
                samples.push(took);
            }
        }
        let faults = minor_faults() - faults;
        let how = if kept { "kept" } else { "fresh" };
        report(&format!("{label}, {how}"), samples, fuel, faults);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = build_plugins();
    let runtime = Arc::new(PluginRuntime::new(PluginLimits::default()).unwrap());
    let compile_path = |path: &std::path::Path, kind: PluginKind| {
        let wasm = std::fs::read(path).unwrap();
        let started = Instant::now();
        let artifact = runtime.compile(&wasm, kind).unwrap();
        println!(
            "compile {:<34} {:>8.1} ms, artifact {} KiB",
            path.file_name().unwrap().to_string_lossy(),
            started.elapsed().as_secs_f64() * 1e3,
            artifact.len() / 1024
        );
        artifact
    };
    let compile = |file: &str, kind: PluginKind| compile_path(&dir.join(file), kind);
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
    // BENCH_ONLY=<text> runs only the cases whose name contains it (to
    // profile one case at a time).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut guest_filters = Vec::new();
    let mut guest_transforms = Vec::new();
    for guest in GUESTS.iter().filter(|g| g.name.contains(only.as_str())) {
        let Some(path) = build_guest(guest) else {
            continue;
        };
        let artifact = compile_path(&path, guest.kind);
        let loaded = runtime
            .load(&format!("bench-{}", guest.name), guest.kind, &artifact)
            .unwrap();
        match guest.kind {
            PluginKind::Filter => guest_filters.push((guest.name, loaded)),
            PluginKind::Transform => guest_transforms.push((guest.name, loaded)),
        }
    }
    let iterations = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000usize);

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
        let mut filters = vec![
            ("filter", &filter, &filter_config),
            ("floor filter", &idle_filter, &idle_config),
        ];
        filters.extend(guest_filters.iter().map(|(n, p)| (*n, p, &filter_config)));
        for (name, plugin, config) in filters {
            if !name.contains(only.as_str()) {
                continue;
            }
            let label = format!("{name}, {} KiB", size / 1024);
            measure(&label, iterations, async |kept| {
                let warm = kept.then(|| WarmKey::new("bench@1", name, config));
                let started = Instant::now();
                let (result, call) = runtime
                    .filter("bench", plugin.clone(), &event, config, warm)
                    .await;
                let took = started.elapsed();
                assert!(result.unwrap(), "{name} did not deliver");
                (took, call.fuel_used)
            })
            .await;
        }
        let mut transforms = vec![
            ("transform (pii)", &transform, &transform_config),
            ("floor transform", &idle_transform, &idle_config),
        ];
        transforms.extend(
            guest_transforms
                .iter()
                .map(|(n, p)| (*n, p, &transform_config)),
        );
        for (name, plugin, config) in transforms {
            if !name.contains(only.as_str()) {
                continue;
            }
            let label = format!("{name}, {} KiB", size / 1024);
            measure(&label, iterations, async |kept| {
                let request = OutgoingRequest {
                    body: body.clone(),
                    headers: vec![],
                    content_type: "application/json".into(),
                };
                let warm = kept.then(|| WarmKey::new("bench@1", name, config));
                let started = Instant::now();
                let (result, call) = runtime
                    .transform("bench", plugin.clone(), &event, request, config, warm)
                    .await;
                let took = started.elapsed();
                if let Err(e) = result {
                    panic!("{name} failed: {e}");
                }
                (took, call.fuel_used)
            })
            .await;
        }
    }
}
