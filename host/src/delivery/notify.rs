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
//!   only a safety net ([`crate::hub::cluster::LISTENING_POLL`]).
//! - **Sharing the host**: every [`BEAT`] each process marks itself seen
//!   in `workers` with its host name and counts the live processes on
//!   that host; `SCAIHUB_MAX_IN_FLIGHT` is the host's budget of attempts in
//!   flight, and each takes an equal share of it (the worker holds the
//!   rest back). Several processes on one machine then keep as many
//!   connections open to receivers as one would, instead of a multiple
//!   of it that only costs the shared cores; processes on their own hosts
//!   each keep the whole budget. Joining and leaving are announced, so
//!   the others recount at once; a dead process stops counting once it
//!   has not been seen for [`LIVE_FOR`].
//! - **Keeping leases**: the leases this process holds on deliveries it has
//!   not finished (held in memory or in flight) are renewed before they
//!   end, so a live but busy process never loses work it is about to
//!   send, and only a dead one's work is taken over — once its leases end.
//!
//! On SQLite none of this runs: one process owns the file.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::hub::Hub;
use crate::hub::cluster::DEAD_AFTER;
use crate::storage::Backend;
use crate::storage::notify::Heard;

/// The longest wait before listening again after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often a process marks itself seen and counts who shares its host.
pub const BEAT: Duration = Duration::from_secs(1);
/// A process not seen for this long no longer counts on its host.
pub const LIVE_FOR: Duration = Duration::from_secs(7);
/// A process not seen for this long is deleted from `workers`.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// This process's share of a host's budget of attempts in flight.
pub fn in_flight_share(budget: usize, processes: usize) -> usize {
    budget.div_ceil(processes.max(1)).max(1)
}

/// The name processes on one machine share: the kernel's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs the cluster tasks (announcing, listening, keeping leases) until
/// aborted; returns at once on SQLite.
pub async fn run(hub: Arc<Hub>) {
    if hub.store.backend() != Backend::Postgres {
        return;
    }
    tokio::join!(
        announce(&hub),
        listen(&hub),
        keep_leases(&hub),
        share_host(&hub)
    );
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
                        Ok(Heard::Peers(from)) => {
                            if from != hub.worker_owner {
                                hub.cluster.peers.notify_one();
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

/// Marks this process seen every [`BEAT`] (and whenever another joins or
/// leaves) and publishes how many processes share its host.
async fn share_host(hub: &Hub) {
    let host = host_name();
    let mut announced = false;
    loop {
        let now = hub.now();
        match hub
            .store
            .beat(
                &hub.worker_owner,
                &host,
                now,
                now - LIVE_FOR.as_millis() as i64,
                now - FORGET_AFTER.as_millis() as i64,
            )
            .await
        {
            Ok(processes) => {
                hub.marked_alive();
                take_over_dead(hub).await;
                let changed = hub.cluster.host_processes.send_if_modified(|n| {
                    let changed = *n != processes;
                    *n = processes;
                    changed
                });
                if changed {
                    info!(
                        processes,
                        in_flight = in_flight_share(hub.settings.max_in_flight, processes),
                        "processes on this host share its in-flight budget"
                    );
                }
                if !announced {
                    announced = true;
                    info!(process = %hub.worker_owner, host = %host, "joined the cluster");
                    if let Err(e) = hub.store.announce_peers(&hub.worker_owner).await {
                        warn!(error = %format!("{e:#}"), "announcing this process to the others failed");
                    }
                }
            }
            Err(e) => warn!(error = %format!("{e:#}"), "marking this process seen failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(BEAT) => {}
            _ = hub.cluster.peers.notified() => {}
        }
    }
}

/// Every quarter of a lease, the leases ending within half a lease are
/// extended to a full one: each is written about once per half lease, and
/// none ends while this process lives.
/// Releases the leases of processes not alive for [`DEAD_AFTER`] and wakes
/// every worker to send what they held: a killed process's deliveries go
/// out within seconds, not when each of its leases would have ended.
async fn take_over_dead(hub: &Hub) {
    match hub.store.take_over_dead(DEAD_AFTER, hub.now()).await {
        Ok(dead) if !dead.is_empty() => {
            for (owner, released) in &dead {
                warn!(
                    process = %owner,
                    released,
                    "a process stopped marking itself alive: its deliveries are taken over"
                );
                hub.metrics.leases_taken_over.inc_by(*released);
            }
            hub.work_due();
        }
        Ok(_) => {}
        Err(e) => warn!(error = %format!("{e:#}"), "looking for dead processes failed"),
    }
}

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

/// After a graceful stop has recorded the attempts in flight: leaves the
/// count of processes on this host (the others take back its share of the
/// in-flight budget) and gives up the leases still held (deliveries held
/// in memory, never started) so another process takes them now rather
/// than when the lease would end.
pub async fn hand_over(hub: &Hub) {
    if hub.store.backend() != Backend::Postgres {
        return;
    }
    // The others on this host take back this process's share.
    match hub.store.leave(&hub.worker_owner).await {
        Ok(()) => {
            if let Err(e) = hub.store.announce_peers(&hub.worker_owner).await {
                warn!(error = %format!("{e:#}"), "announcing that this process leaves failed");
            }
        }
        Err(e) => warn!(error = %format!("{e:#}"), "leaving the list of processes failed"),
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
