//! `loadgen matrix`: every figure of `BENCHMARKS.md` in one command. The
//! ceiling, then for SQLite with one process and PostgreSQL with one and
//! with three: throughput (N events × 10 webhooks, without and with a
//! filter and a transform plugin), fan-out to 100 webhooks, latency at a
//! steady 500 events/s; then a million deliveries queued behind paused
//! webhooks and drained. Prints a Markdown table and writes every result as
//! JSON lines to `--out`.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use tokio::time::Instant;

use crate::ceiling::{self, CeilingArgs, CeilingResult};
use crate::queued::{self, QueuedArgs, QueuedResult};
use crate::run::{self, RunArgs, RunResult};
use crate::server::Db;

#[derive(Debug, Clone, clap::Args)]
pub struct MatrixArgs {
    /// Events of each throughput run (× 10 webhooks).
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Deliveries of the deep-queue run.
    #[arg(long, default_value_t = 1_000_000)]
    pub queued: u64,
    /// Leave out the deep-queue runs.
    #[arg(long)]
    pub skip_queued: bool,
    /// Leave out PostgreSQL.
    #[arg(long)]
    pub skip_postgres: bool,
    /// Where the JSON lines go.
    #[arg(long, default_value = "target/bench/matrix.jsonl")]
    pub out: PathBuf,
    /// The scaihub binary.
    #[arg(long, default_value = "target/release/scaihub")]
    pub binary: PathBuf,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    pub plugin_dir: PathBuf,
}

/// One row of the table.
struct Row {
    setup: String,
    run: RunResult,
    ceiling: f64,
}

pub async fn matrix(
    args: &MatrixArgs,
    http: &reqwest::Client,
    deadline: Instant,
) -> anyhow::Result<()> {
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = std::fs::File::create(&args.out)?;
    let mut record = |v: serde_json::Value| -> anyhow::Result<()> {
        writeln!(out, "{v}")?;
        Ok(())
    };
    let mut setups: Vec<(&str, Db, usize)> = vec![("SQLite, 1 process", Db::Sqlite, 1)];
    if !args.skip_postgres {
        setups.push(("PostgreSQL, 1 process", Db::Postgres, 1));
        setups.push(("PostgreSQL, 3 processes", Db::Postgres, 3));
    }
    let base = |db: Db, processes: usize| RunArgs {
        db,
        events: args.events,
        webhooks: 10,
        batch: 100,
        rate: 0.0,
        concurrency: 8,
        binary: args.binary.clone(),
        pg_url: args.pg_url.clone(),
        drain_secs: 300,
        plugins: false,
        floor_plugins: false,
        transform_wasm: None,
        plugin_dir: args.plugin_dir.clone(),
        processes,
        single: false,
    };
    let mut rows = Vec::new();
    let mut ceilings: Vec<CeilingResult> = Vec::new();
    for (setup, db, processes) in setups {
        // The ceiling moves with the machine's state; measure it beside
        // each group of runs.
        let c = ceiling::ceiling(
            &CeilingArgs {
                requests: 50_000,
                concurrency: 64,
                single: false,
            },
            deadline,
        )
        .await?;
        eprintln!("matrix: ceiling {:.0} req/s", c.requests_per_sec);
        record(json!({"mode": "ceiling", "setup": setup, "ceiling": c}))?;
        let runs = [
            ("10 webhooks", base(db, processes)),
            (
                "10 webhooks, filter + transform",
                RunArgs {
                    plugins: true,
                    ..base(db, processes)
                },
            ),
            (
                "100 webhooks (fan-out)",
                RunArgs {
                    events: args.events / 10,
                    webhooks: 100,
                    ..base(db, processes)
                },
            ),
            (
                "1 webhook at 500 events/s",
                RunArgs {
                    events: 10_000,
                    webhooks: 1,
                    rate: 500.0,
                    ..base(db, processes)
                },
            ),
        ];
        for (what, r_args) in runs {
            eprintln!("matrix: {setup}: {what} …");
            let r = run::run(&r_args, http, deadline).await?;
            record(json!({"mode": "run", "setup": setup, "what": what, "run": r}))?;
            rows.push(Row {
                setup: format!("{setup}: {what}"),
                run: r,
                ceiling: c.requests_per_sec,
            });
        }
        ceilings.push(c);
    }
    let mut deep: Vec<QueuedResult> = Vec::new();
    if !args.skip_queued {
        let mut dbs = vec![Db::Sqlite];
        if !args.skip_postgres {
            dbs.push(Db::Postgres);
        }
        for db in dbs {
            eprintln!("matrix: {:?}: {} deliveries queued …", db, args.queued);
            let q = queued::queued(
                &QueuedArgs {
                    db,
                    deliveries: args.queued,
                    webhooks: 10,
                    batch: 1000,
                    concurrency: 4,
                    drain: true,
                    drain_secs: 900,
                    binary: args.binary.clone(),
                    pg_url: args.pg_url.clone(),
                },
                http,
                deadline,
            )
            .await?;
            record(json!({"mode": "queued", "queued": q}))?;
            deep.push(q);
        }
    }
    print_tables(&rows, &ceilings, &deep);
    eprintln!("matrix: results in {}", args.out.display());
    Ok(())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

fn print_tables(rows: &[Row], ceilings: &[CeilingResult], deep: &[QueuedResult]) {
    let list: Vec<String> = ceilings
        .iter()
        .map(|c| format!("{:.0}", c.requests_per_sec))
        .collect();
    println!("\nCeilings measured (req/s): {}\n", list.join(", "));
    println!(
        "| setup | ingest events/s | deliveries/s | % of ceiling | p50 / p99 ingest→arrival | peak RSS (largest / all) | complete, duplicates |"
    );
    println!("|---|---:|---:|---:|---|---|---|");
    for row in rows {
        let r = &row.run;
        println!(
            "| {} | {:.0} | {:.0} | {:.1} % | {:.1} / {:.1} ms | {} / {} | {}, {} |",
            row.setup,
            r.ingest_events_per_sec,
            r.deliveries_per_sec,
            if row.ceiling > 0.0 {
                100.0 * r.deliveries_per_sec / row.ceiling
            } else {
                0.0
            },
            r.latency.p50_us as f64 / 1000.0,
            r.latency.p99_us as f64 / 1000.0,
            mib(r.peak_rss_kib),
            mib(r.peak_rss_kib_total),
            if r.complete { "yes" } else { "NO" },
            r.received_duplicates,
        );
    }
    if !deep.is_empty() {
        println!(
            "\n| store | deliveries queued | RSS idle | RSS queue full | peak RSS filling | drain deliveries/s | peak RSS overall |"
        );
        println!("|---|---:|---|---|---|---:|---|");
        for q in deep {
            println!(
                "| {:?} | {} | {} | {} | {} | {} | {} |",
                q.db,
                q.accepted * q.webhooks as u64,
                mib(q.rss_idle_kib),
                mib(q.rss_full_kib),
                mib(q.peak_rss_full_kib),
                q.drain_deliveries_per_sec
                    .map_or("n/a".into(), |r| format!("{r:.0}")),
                mib(q.peak_rss_kib),
            );
        }
    }
}
