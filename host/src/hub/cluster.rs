//! This process's side of cluster mode, as the service layer sees it: the
//! signals that wake the local worker and the other processes when work
//! falls due, and how many processes share this host. The tasks that
//! carry the signals over PostgreSQL (`LISTEN`/`NOTIFY`, beats, lease
//! renewal) are in [`crate::delivery::notify`], which looks down to this.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::Hub;
use crate::storage::Backend;

/// How often an idle worker looks at the store when nothing tells it.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// The same while announcements from other processes are heard.
pub const LISTENING_POLL: Duration = Duration::from_secs(5);
/// A process that has not marked itself alive for this long (by the
/// database's clock) is dead: the others release its leases and send its
/// deliveries, rather than waiting for each lease to end.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);
/// A process that has not managed to mark itself alive for this long
/// starts nothing new (see [`Hub::fenced`]): it stops before the others
/// could judge it dead, so a process paused by its machine and woken
/// again does not send what they have taken over.
pub const FENCE_AFTER: Duration = Duration::from_secs(3);

/// This process's side of the cluster.
pub struct Cluster {
    /// Rings the announcer.
    pub(crate) outgoing: Notify,
    /// Whether other processes' announcements are heard right now.
    pub(crate) listening: AtomicBool,
    /// Rings when another process joined or left.
    pub(crate) peers: Notify,
    /// Processes on this host working on the same database, this one
    /// included; the worker takes its share of the in-flight budget by it.
    pub host_processes: watch::Sender<usize>,
    /// When this process last marked itself alive in the store, in
    /// milliseconds of `started`'s monotonic clock (not the hub's clock,
    /// which tests move at will).
    alive_ms: AtomicU64,
    started: Instant,
    /// Set when this process marks itself alive again after being fenced:
    /// the worker then checks which of the deliveries it holds are still
    /// leased to it, and forgets the others.
    pub(crate) recheck: AtomicBool,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            outgoing: Notify::new(),
            listening: AtomicBool::new(false),
            peers: Notify::new(),
            host_processes: watch::Sender::new(1),
            alive_ms: AtomicU64::new(0),
            started: Instant::now(),
            recheck: AtomicBool::new(false),
        }
    }
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

    /// Records that this process marked itself alive in the store just
    /// now; after a fenced spell, wakes the worker to check its holdings.
    pub(crate) fn marked_alive(&self) {
        let was_fenced = self.fenced();
        let c = &self.cluster;
        c.alive_ms
            .store(c.started.elapsed().as_millis() as u64, Ordering::Release);
        if was_fenced {
            c.recheck.store(true, Ordering::Release);
            self.wake.notify_one();
        }
    }

    /// Whether this process should start no new attempt: on PostgreSQL,
    /// when it has not marked itself alive for [`FENCE_AFTER`], so the
    /// others may soon take its work over. Attempts already in flight run
    /// to their end; their results are written only if the lease is still
    /// this process's.
    pub fn fenced(&self) -> bool {
        if self.store.backend() != Backend::Postgres {
            return false;
        }
        let c = &self.cluster;
        let since = c.started.elapsed().as_millis() as u64 - c.alive_ms.load(Ordering::Acquire);
        since > FENCE_AFTER.as_millis() as u64
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
