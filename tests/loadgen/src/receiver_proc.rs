//! The receiver as seen from the generator: spawns `loadgen receiver` as a
//! separate process (this same executable) and reads its stats.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use crate::child::{self, Proc};
use crate::stats::ReceiverStats;

pub struct ReceiverProc {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    http: reqwest::Client,
}

impl ReceiverProc {
    /// Starts the receiver on a free port of 127.0.0.1 and waits for its
    /// address line.
    pub async fn start(http: reqwest::Client) -> anyhow::Result<ReceiverProc> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["receiver", "--listen", "127.0.0.1:0", "--exit-on-stdin-eof"]);
        let (proc, stdout) = child::spawn("receiver", cmd)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let addr = match tokio::time::timeout(Duration::from_secs(15), rx).await {
            Ok(Ok(Some(line))) => line.trim().to_string(),
            _ => anyhow::bail!("the receiver printed no address:\n{}", proc.stderr_tail()),
        };
        anyhow::ensure!(
            addr.starts_with("127.0.0.1:"),
            "the receiver bound {addr}, not 127.0.0.1"
        );
        Ok(ReceiverProc {
            proc,
            base: format!("http://{addr}"),
            http,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Counts and latency percentiles.
    pub async fn stats(&self) -> anyhow::Result<ReceiverStats> {
        self.get_stats("/stats").await
    }

    /// Counts only (percentiles zero): cheap enough to poll.
    pub async fn counts(&self) -> anyhow::Result<ReceiverStats> {
        self.get_stats("/stats?counts_only=1").await
    }

    async fn get_stats(&self, path: &str) -> anyhow::Result<ReceiverStats> {
        let res = self
            .http
            .get(self.url(path))
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "GET /stats answered {}",
            res.status()
        );
        Ok(serde_json::from_slice(&res.bytes().await?)?)
    }

    pub async fn reset(&self) -> anyhow::Result<()> {
        let res = self
            .http
            .post(self.url("/reset"))
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "POST /reset answered {}",
            res.status()
        );
        Ok(())
    }
}
