//! `loadgen`: load generator and ceiling benchmark for ScaiHub.
//!
//! # Layout
//! - `receiver` — the `receiver` subcommand: the webhook receiver process.
//! - `receiver_proc` — spawning that process and reading its `/stats`.
//! - `server` — spawning the real `scaihub serve`; the PostgreSQL bench database.
//! - `api` — the few ScaiHub API calls (me, webhooks, ingest, metrics).
//! - `events` — the ~600 B benchmark event carrying `sent_at_us`.
//! - `h1` — the cheap keep-alive HTTP/1 client of the single-event modes.
//! - `run` — `run`: ScaiHub end to end; `ceiling` — `ceiling`: no ScaiHub.
//! - `queued` — `queued`: memory with a million deliveries held by paused webhooks.
//! - `matrix` — `matrix`: every run of BENCHMARKS.md, as one Markdown table.
//! - `child` — child processes: output, signals, `/proc` figures, kill on drop.
//! - `stats` — time and percentiles; `report` — tables and the `RESULT` line.
//!
//! Every mode stops by itself: request loops are bounded in count, each
//! request has a timeout, and the whole command a global one.

mod api;
mod ceiling;
mod child;
mod events;
mod h1;
mod matrix;
mod queued;
mod receiver;
mod receiver_proc;
mod report;
mod run;
mod server;
mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator and ceiling benchmark for ScaiHub"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The whole command ends after this many seconds, whatever it is doing.
    #[arg(long, global = true, default_value_t = 600)]
    timeout_secs: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The webhook receiver: 200 to every POST, `GET /stats`, `POST /reset`.
    Receiver {
        /// Address to bind (loopback only).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Exit when stdin closes (set by the generator that spawns it).
        #[arg(long)]
        exit_on_stdin_eof: bool,
    },
    /// ScaiHub end to end: ingest N events into W webhooks, measure delivery.
    Run(run::RunArgs),
    /// Signed POSTs straight into the receiver: what the machine can do at all.
    Ceiling(ceiling::CeilingArgs),
    /// Every figure of BENCHMARKS.md: ceiling, SQLite and PostgreSQL (1 and 3
    /// processes), plugins, fan-out, latency, deep queue.
    Matrix(matrix::MatrixArgs),
    /// Memory while paused webhooks hold a deep queue, and while it drains.
    Queued(queued::QueuedArgs),
    /// `ceiling`, then `run`, and the ratio of the two.
    Compare {
        #[command(flatten)]
        run: run::RunArgs,
        /// Requests of the ceiling part.
        #[arg(long, default_value_t = 50_000)]
        ceiling_requests: u64,
        /// Concurrency of the ceiling part.
        #[arg(long, default_value_t = 64)]
        ceiling_concurrency: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if let Command::Receiver {
            listen,
            exit_on_stdin_eof,
        } = cli.command
        {
            anyhow::ensure!(
                listen.ip().is_loopback(),
                "--listen must be a loopback address"
            );
            return receiver::serve(listen, exit_on_stdin_eof).await;
        }
        // reqwest here is built without a default crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().build()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(cli.timeout_secs);
        match cli.command {
            Command::Receiver { .. } => unreachable!("handled above"),
            Command::Run(args) => {
                let r = run::run(&args, &http, deadline).await?;
                report::run(&r);
                report::result_line(&json!({"mode": "run", "run": r}));
            }
            Command::Matrix(args) => matrix::matrix(&args, &http, deadline).await?,
            Command::Queued(args) => {
                let q = queued::queued(&args, &http, deadline).await?;
                report::queued(&q);
                report::result_line(&json!({"mode": "queued", "queued": q}));
            }
            Command::Ceiling(args) => {
                let c = ceiling::ceiling(&args, deadline).await?;
                report::ceiling(&c);
                report::result_line(&json!({"mode": "ceiling", "ceiling": c}));
            }
            Command::Compare {
                run,
                ceiling_requests,
                ceiling_concurrency,
            } => {
                let c_args = ceiling::CeilingArgs {
                    requests: ceiling_requests,
                    concurrency: ceiling_concurrency,
                    // A single-event run is read against the same client's ceiling.
                    single: run.single,
                };
                let c = ceiling::ceiling(&c_args, deadline).await?;
                let r = run::run(&run, &http, deadline).await?;
                report::compare(&c, &r);
                let ratio = (report::ratio_pct(&c, &r) * 10.0).round() / 10.0;
                report::result_line(
                    &json!({"mode": "compare", "ceiling": c, "run": r, "ratio_pct": ratio}),
                );
            }
        }
        Ok(())
    })
}
