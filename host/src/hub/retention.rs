//! Retention: a background task that, at start and every few minutes,
//! deletes finished deliveries (with their attempts) and unreferenced
//! events older than the retention, and health buckets older than eight days.
//!
//! Work goes in steps of at most [`STEP`] rows, each its own short
//! transaction, with a pause between steps so ingest and the delivery
//! recorder get the (single, on SQLite) writer in between. Time is the
//! hub's clock, so a test moves a `ManualClock` past the retention and the
//! task wakes and prunes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Hub, HubResult};
use crate::clock::Millis;
use crate::storage::health::HOUR_MS;

/// How often the task runs (on the hub's clock).
pub const INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Most rows one step deletes.
pub const STEP: i64 = 1000;
/// Real-time pause between steps, leaving the writer to others.
const BREATHER: Duration = Duration::from_millis(5);
/// Health buckets are kept this many hours: the rate reads 24, the 7-day
/// chart up to 168 (eight days leave a margin for a late pruning run).
const HEALTH_HOURS_KEPT: i64 = 8 * 24;

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub attempts: u64,
    pub events: u64,
    pub health_hours: u64,
}

impl Hub {
    /// One pruning pass over everything older than the retention at
    /// `Hub::now()`.
    pub async fn prune_expired(&self) -> HubResult<Pruned> {
        let now = self.now();
        let cutoff: Millis = now - self.settings.retention.as_millis() as Millis;
        let mut pruned = Pruned::default();
        for webhook_id in self.store.webhook_ids().await? {
            loop {
                let step = self
                    .store
                    .prune_deliveries(&webhook_id, cutoff, STEP)
                    .await?;
                pruned.deliveries += step.deliveries;
                pruned.attempts += step.attempts;
                self.metrics
                    .retention_deleted("deliveries", step.deliveries);
                self.metrics.retention_deleted("attempts", step.attempts);
                if step.deliveries < STEP as u64 {
                    break;
                }
                tokio::time::sleep(BREATHER).await;
            }
        }
        loop {
            let n = self.store.prune_events(cutoff, STEP).await?;
            pruned.events += n;
            self.metrics.retention_deleted("events", n);
            if n < STEP as u64 {
                break;
            }
            tokio::time::sleep(BREATHER).await;
        }
        let before_hour = now.div_euclid(HOUR_MS) - HEALTH_HOURS_KEPT;
        loop {
            let n = self.store.prune_health_hours(before_hour, STEP).await?;
            pruned.health_hours += n;
            if n < STEP as u64 {
                break;
            }
            tokio::time::sleep(BREATHER).await;
        }
        Ok(pruned)
    }
}

/// Runs pruning at start and then every [`INTERVAL`] of the hub's clock
/// until `shutdown` turns true.
pub async fn run(hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = hub.now();
        match hub.prune_expired().await {
            Ok(p) => {
                hub.metrics.retention_runs.inc();
                if p != Pruned::default() {
                    tracing::info!(
                        deliveries = p.deliveries,
                        attempts = p.attempts,
                        events = p.events,
                        health_hours = p.health_hours,
                        retention_days = hub.settings.retention.as_secs() / 86_400,
                        "pruned records older than the retention"
                    );
                }
            }
            // Often a race with a concurrent writer on PostgreSQL (a
            // redelivery of an event being pruned); the next run retries.
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "retention pruning failed"),
        }
        let next = started + INTERVAL.as_millis() as Millis;
        tokio::select! {
            _ = hub.clock.sleep_until(next) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}
