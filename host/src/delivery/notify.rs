//! Cluster mode: any number of processes on one PostgreSQL share the work.
//!
//! Each claims due deliveries with a lease (`FOR UPDATE SKIP LOCKED`, see
//! [`crate::storage::Store::claim_due`]); on top of that this module keeps
//! the processes in touch through the database:
//!
//! - **Announcing**: when work falls due that any process may take (an
//!   ingest whose deliveries did not take the fast lane, a resume releasing
//!   a queue, a redelivery, a test event), [`Hub::work_due`] wakes the local
//!   worker and, on PostgreSQL, has the announcer send one `NOTIFY`
//!   (announcements made while one is being sent fold into the next).
//! - **Listening**: a task `LISTEN`s on its own connection, reconnecting
//!   with backoff, and wakes the local worker on every announcement from
//!   another process, so work made due anywhere starts within
//!   milliseconds. While it listens, the worker's idle look at the store is
//!   only a safety net ([`LISTENING_POLL`]).
//! - **Keeping leases**: the leases this process holds on deliveries it has
//!   not finished (held in memory or in flight) are renewed before they
//!   end, so a live but busy process never loses work it is about to
//!   send, and only a dead one's work is taken over — once its leases end.
//!
//! On SQLite none of this runs: one process owns the file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::hub::Hub;
use crate::storage::Backend;
use crate::storage::notify::Heard;

/// How often an idle worker looks at the store when nothing tells it.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// The same while announcements from other processes are heard.
pub const LISTENING_POLL: Duration = Duration::from_secs(5);
/// The longest wait before listening again after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// This process's side of the cluster.
#[derive(Default)]
pub struct Cluster {
    /// Rings the announcer.
    outgoing: Notify,
    /// Whether other processes' announcements are heard right now.
    listening: AtomicBool,
}

impl Hub {
    /// Work fell due in the store that any process may take: wakes the local
    /// worker and, on PostgreSQL, every other process.
    pub fn work_due(&self) {
        self.wake.notify_one();
        if self.store.backend() == Backend::Postgres {
            self.cluster.outgoing.notify_one();
        }
    }

    /// How long an idle worker waits before looking at the store anyway.
    pub fn idle_poll(&self) -> Duration {
        if self.cluster.listening.load(Ordering::Relaxed) {
            LISTENING_POLL
        } else {
            IDLE_POLL
        }
    }
}

/// Runs the cluster tasks (announcing, listening, keeping leases) until
/// aborted; returns at once on SQLite.
pub async fn run(hub: Arc<Hub>) {
    if hub.store.backend() != Backend::Postgres {
        return;
    }
    tokio::join!(announce(&hub), listen(&hub), keep_leases(&hub));
}

async fn announce(hub: &Hub) {
    loop {
        hub.cluster.outgoing.notified().await;
        if let Err(e) = hub.store.announce_work(&hub.worker_owner).await {
            // The others still find the work at their next look.
            warn!(error = %format!("{e:#}"), "announcing work to other processes failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn listen(hub: &Hub) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match hub.store.listen_for_work().await {
            Ok(Some(mut listener)) => {
                info!("listening for work announced by other processes");
                hub.cluster.listening.store(true, Ordering::Relaxed);
                // Anything announced before now was not heard.
                hub.wake.notify_one();
                backoff = Duration::from_millis(100);
                loop {
                    match listener.next().await {
                        Ok(Heard::Work(from)) => {
                            if from != hub.worker_owner {
                                hub.wake.notify_one();
                            }
                        }
                        Ok(Heard::Reconnected) => {
                            warn!("lost the connection listening for work; reconnected");
                            hub.wake.notify_one();
                        }
                        Err(e) => {
                            warn!(error = %format!("{e:#}"), "listening for work failed");
                            break;
                        }
                    }
                }
                hub.cluster.listening.store(false, Ordering::Relaxed);
            }
            Ok(None) => return,
            Err(e) => {
                warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "cannot listen for work; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Every quarter of a lease, the leases ending within half a lease are
/// extended to a full one: each is written about once per half lease, and
/// none ends while this process lives.
async fn keep_leases(hub: &Hub) {
    let lease = hub.settings.lease;
    let span = lease.as_millis() as i64;
    let mut every = tokio::time::interval((lease / 4).max(Duration::from_millis(100)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = hub.now();
        match hub
            .store
            .renew_leases(&hub.worker_owner, now - span, now + span / 2, now + span)
            .await
        {
            Ok(0) => {}
            Ok(n) => debug!(renewed = n, "renewed leases"),
            Err(e) => warn!(error = %format!("{e:#}"), "renewing leases failed"),
        }
    }
}

/// After a graceful stop has recorded the attempts in flight: gives up the
/// leases still held (deliveries held in memory, never started) so another
/// process takes them now rather than when the lease would end.
pub async fn hand_over(hub: &Hub) {
    if hub.store.backend() != Backend::Postgres {
        return;
    }
    match hub.store.release_leases(&hub.worker_owner, hub.now()).await {
        Ok(0) => {}
        Ok(n) => {
            info!(
                released = n,
                "handed deliveries not started to the other processes"
            );
            if let Err(e) = hub.store.announce_work(&hub.worker_owner).await {
                warn!(error = %format!("{e:#}"), "announcing handed-over work failed");
            }
        }
        Err(e) => warn!(error = %format!("{e:#}"), "handing over leased deliveries failed"),
    }
}
