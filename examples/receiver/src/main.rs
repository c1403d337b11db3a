//! `scaihub-example-receiver`: the binary. Reads settings, serves the
//! router from the library on one address, and processes accepted events
//! after they have been answered. Everything that decides whether a request
//! is genuine lives in the library (`src/signature.rs`).

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::Parser;
use scaihub_example_receiver::{Delivery, ReceiverConfig, is_literal_path, router};
use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;

/// Receives ScaiHub webhooks, checks their signature, and logs each event.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "RECEIVER_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,

    /// Webhook secret (`whsec_…`). During a rotation give both, comma
    /// separated or as two `--secret` flags. Prefer the environment
    /// variable: command lines are visible to other local users.
    #[arg(
        long = "secret",
        value_name = "SECRET",
        env = "SCAIHUB_WEBHOOK_SECRET",
        value_delimiter = ',',
        required = true,
        hide_env_values = true
    )]
    secrets: Vec<String>,

    /// URL path ScaiHub posts to.
    #[arg(long, env = "RECEIVER_PATH", default_value = "/webhooks/scaidrive")]
    path: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    let secrets: Vec<Vec<u8>> = args
        .secrets
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
        .collect();
    if secrets.is_empty() {
        bail!("--secret / SCAIHUB_WEBHOOK_SECRET is empty");
    }
    if !is_literal_path(&args.path) {
        bail!("--path must start with '/' and contain no '{{', '}}', '*' or ':'");
    }

    let (app, work) = router(&args.path, ReceiverConfig::new(secrets));
    let worker = tokio::spawn(process(work));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, path = %args.path, "receiver listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;

    // The server is gone, and with it the queue's sender: the worker
    // finishes what was already accepted and then stops.
    worker.await?;
    Ok(())
}

/// Where your own work goes. It runs after ScaiHub got its 200, so it may
/// be slow; anything that must not be lost belongs in durable storage first.
async fn process(mut work: mpsc::Receiver<Delivery>) {
    while let Some(delivery) = work.recv().await {
        let category = delivery
            .event
            .as_ref()
            .and_then(|e| e["category"].as_str())
            .unwrap_or("-");
        tracing::debug!(
            delivery_id = delivery.delivery_id.as_deref().unwrap_or("-"),
            category,
            bytes = delivery.body.len(),
            "processed"
        );
    }
}
