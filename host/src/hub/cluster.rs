//! This process's side of cluster mode, as the service layer sees it: the
//! signals that wake the local worker and the other processes when work
//! falls due, and how many processes share this host. The tasks that
//! carry the signals over PostgreSQL (`LISTEN`/`NOTIFY`, beats, lease
//! renewal) are in [`crate::delivery::notify`], which looks down to this.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::Hub;
use crate::storage::Backend;

/// How often an idle worker looks at the store when nothing tells it.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// The same while announcements from other processes are heard.
pub const LISTENING_POLL: Duration = Duration::from_secs(5);
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
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            outgoing: Notify::new(),
            listening: AtomicBool::new(false),
            peers: Notify::new(),
            host_processes: watch::Sender::new(1),
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

    /// How long an idle worker waits before looking at the store anyway.
    pub fn idle_poll(&self) -> Duration {
        if self.cluster.listening.load(Ordering::Relaxed) {
            LISTENING_POLL
        } else {
            IDLE_POLL
        }
    }
}
