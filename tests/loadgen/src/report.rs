//! Output: a human table per mode and one final `RESULT {json}` line with
//! every figure, for scripts.

use serde::Serialize;

use crate::ceiling::CeilingResult;
use crate::queued::QueuedResult;
use crate::run::RunResult;

/// Prints `title` and aligned `label  value` rows.
fn table(title: &str, rows: &[(&str, String)]) {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    println!("\n{title}");
    println!("{}", "-".repeat(title.len()));
    for (label, value) in rows {
        println!("  {label:<width$}  {value}");
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("n/a".into(), |v| v.to_string())
}

fn ms(us: i64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn cpu(v: Option<f64>) -> String {
    opt(v.map(|v| format!("{v:.2}")))
}

pub fn ceiling(r: &CeilingResult) {
    table(
        if r.single {
            "ceiling: signed 600 B POSTs straight into the receiver (no ScaiHub), cheap client"
        } else {
            "ceiling: signed 600 B POSTs straight into the receiver (no ScaiHub)"
        },
        &[
            (
                "requests (ok / failed)",
                format!("{} ({} / {})", r.requests, r.ok, r.failed),
            ),
            ("concurrency", r.concurrency.to_string()),
            ("wall time", format!("{:.2} s", r.secs)),
            ("requests/s", format!("{:.0}", r.requests_per_sec)),
            (
                "client latency p50 / p99 / max",
                format!(
                    "{} / {} / {}",
                    ms(r.client_latency.p50_us),
                    ms(r.client_latency.p99_us),
                    ms(r.client_latency.max_us)
                ),
            ),
            ("receiver counted", r.receiver_count.to_string()),
            (
                "CPU s: receiver / loadgen / machine",
                format!(
                    "{} / {} / {}",
                    cpu(r.receiver_cpu_secs),
                    cpu(r.loadgen_cpu_secs),
                    cpu(r.machine_cpu_secs)
                ),
            ),
        ],
    );
}

/// Other processes took more than this share of one core: say so.
const DISTURBED: f64 = 0.15;

pub fn run(r: &RunResult) {
    let rate = if r.rate > 0.0 {
        format!("{} events/s", r.rate)
    } else {
        "as fast as possible".into()
    };
    let deliveries = if r.complete {
        format!(
            "{} of {} (complete), {} duplicates",
            r.received_unique, r.expected_deliveries, r.received_duplicates
        )
    } else {
        format!(
            "{} of {} — {} MISSING, {} duplicates",
            r.received_unique, r.expected_deliveries, r.missing, r.received_duplicates
        )
    };
    table(
        &format!(
            "run: {} scaihub process{} on {:?}, {} events × {} webhooks{}{}",
            r.processes,
            if r.processes == 1 { "" } else { "es" },
            r.db,
            r.events,
            r.webhooks,
            if r.single {
                ", one event per request"
            } else {
                ""
            },
            if r.floor_plugins {
                ", floor filter + transform plugins".to_string()
            } else if r.plugins {
                ", filter + transform plugins".to_string()
            } else if let Some(file) = &r.transform_wasm {
                format!(", transform {file}")
            } else {
                String::new()
            }
        ),
        &[
            (
                "batch / concurrency / rate",
                format!("{} / {} / {rate}", r.batch, r.concurrency),
            ),
            (
                "accepted (dup / failed)",
                format!(
                    "{} ({} / {})",
                    r.accepted, r.ingest_duplicates, r.ingest_failed
                ),
            ),
            ("ingest time", format!("{:.2} s", r.ingest_secs)),
            ("ingest events/s", format!("{:.0}", r.ingest_events_per_sec)),
            (
                "ingest answer p50 / p99 / max",
                format!(
                    "{} / {} / {}",
                    ms(r.ingest_latency.p50_us),
                    ms(r.ingest_latency.p99_us),
                    ms(r.ingest_latency.max_us)
                ),
            ),
            ("deliveries received", deliveries),
            (
                "first ingest → last arrival",
                format!("{:.2} s", r.delivery_secs),
            ),
            ("deliveries/s", format!("{:.0}", r.deliveries_per_sec)),
            (
                "latency p50 / p99 / max",
                format!(
                    "{} / {} / {}",
                    ms(r.latency.p50_us),
                    ms(r.latency.p99_us),
                    ms(r.latency.max_us)
                ),
            ),
            (
                "scaihub peak RSS (largest / all)",
                format!(
                    "{} / {}",
                    opt(r
                        .peak_rss_kib
                        .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))),
                    opt(r
                        .peak_rss_kib_total
                        .map(|k| format!("{:.1} MiB", k as f64 / 1024.0)))
                ),
            ),
            (
                "CPU s: scaihub / receiver / loadgen",
                format!(
                    "{} / {} / {}",
                    cpu(r.scaihub_cpu_secs),
                    cpu(r.receiver_cpu_secs),
                    cpu(r.loadgen_cpu_secs)
                ),
            ),
            (
                "scaihub CPU per event",
                opt(r.scaihub_cpu_us_per_event.map(|us| format!("{us:.1} µs"))),
            ),
            ("CPU s: PostgreSQL server", cpu(r.postgres_cpu_secs)),
            ("scaihub context switches", opt(r.scaihub_ctx_switches)),
            (
                "CPU s: whole machine / other / wall s",
                format!(
                    "{} / {} / {:.2}",
                    cpu(r.machine_cpu_secs),
                    cpu(r.other_cpu_secs),
                    r.measured_secs
                ),
            ),
            (
                "SIGTERM → exit",
                format!(
                    "{:.2} s ({})",
                    r.shutdown_secs,
                    if r.shutdown_clean {
                        "clean"
                    } else {
                        "NOT clean"
                    }
                ),
            ),
        ],
    );
    if let Some(other) = r.other_cpu_secs
        && r.measured_secs > 0.0
        && other / r.measured_secs > DISTURBED
    {
        println!(
            "  WARNING: other processes used {:.2} cores on average during this run; its figures are disturbed",
            other / r.measured_secs
        );
    }
}

fn mib(kib: Option<u64>) -> String {
    opt(kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)))
}

pub fn queued(r: &QueuedResult) {
    let mut rows = vec![
        (
            "events × paused webhooks",
            format!(
                "{} × {} = {} deliveries",
                r.events, r.webhooks, r.deliveries
            ),
        ),
        (
            "accepted / ingest time / events/s",
            format!(
                "{} / {:.2} s / {:.0}",
                r.accepted, r.ingest_secs, r.ingest_events_per_sec
            ),
        ),
        ("RSS idle", mib(r.rss_idle_kib)),
    ];
    let filling: Vec<String> = r
        .filling
        .iter()
        .map(|s| format!("{}k: {}", s.deliveries / 1000, mib(Some(s.rss_kib))))
        .collect();
    rows.push(("RSS as the queue filled", filling.join(", ")));
    rows.push(("RSS with the queue full", mib(r.rss_full_kib)));
    rows.push(("peak RSS until full", mib(r.peak_rss_full_kib)));
    if let (Some(n), Some(secs), Some(rate)) = (r.drained, r.drain_secs, r.drain_deliveries_per_sec)
    {
        let draining: Vec<String> = r
            .draining
            .iter()
            .map(|s| format!("{}k: {}", s.deliveries / 1000, mib(Some(s.rss_kib))))
            .collect();
        rows.push(("RSS as it drained", draining.join(", ")));
        rows.push((
            "drained / time / deliveries/s",
            format!("{n} / {secs:.2} s / {rate:.0}"),
        ));
    }
    rows.push(("peak RSS over the run", mib(r.peak_rss_kib)));
    table(
        &format!(
            "queued: scaihub on {:?}, a deep queue behind paused webhooks",
            r.db
        ),
        &rows,
    );
}

/// deliveries/s of the run as a percentage of the ceiling's requests/s.
pub fn ratio_pct(c: &CeilingResult, r: &RunResult) -> f64 {
    if c.requests_per_sec > 0.0 {
        100.0 * r.deliveries_per_sec / c.requests_per_sec
    } else {
        0.0
    }
}

pub fn compare(c: &CeilingResult, r: &RunResult) {
    ceiling(c);
    run(r);
    println!(
        "\nScaiHub delivers {:.0}/s = {:.1} % of the {:.0} req/s this machine can POST at all",
        r.deliveries_per_sec,
        ratio_pct(c, r),
        c.requests_per_sec
    );
    if r.single && c.requests_per_sec > 0.0 {
        println!(
            "ScaiHub ingests {:.0} single-event requests/s = {:.1} % of the same client's ceiling",
            r.ingest_events_per_sec,
            100.0 * r.ingest_events_per_sec / c.requests_per_sec
        );
    }
}

/// The last line: `RESULT {json}`.
pub fn result_line(value: &impl Serialize) {
    println!(
        "RESULT {}",
        serde_json::to_string(value).expect("results serialise")
    );
}
