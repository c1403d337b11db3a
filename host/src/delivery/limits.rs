//! A webhook's own send limits: `max_in_flight` (attempts under way at
//! once) and `rate_limit` (attempts started per second), kept across every
//! process of a cluster.
//!
//! Each process keeps them in memory first — its line of the webhook never
//! starts more than the bound (see [`line_bound`]), and [`Limits::admit`]
//! counts what is under way here and, on SQLite (one process owns the
//! database), spaces the starts. On PostgreSQL the decision is then the
//! store's ([`Store::take_send`]): the webhook's gate row is locked while
//! one process counts the sends under way everywhere and moves the rate's
//! next start, so two processes never both take the last room. A delivery
//! that waits longer than [`PATIENCE`] is given back to the store, its
//! attempt not counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::sender::Target;
use crate::clock::Millis;
use crate::storage::limits::SendAsk;
use crate::storage::{Backend, Store};

/// How long a delivery waits at its webhook's gate before it goes back to
/// the store to be claimed again.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What may be under way at once for the webhook in one process, if it
/// bounds itself: its `max_in_flight`, and no more than a second's worth
/// of its `rate_limit` (more would only wait at the gate).
pub fn line_bound(t: &Target) -> Option<usize> {
    match (t.max_in_flight, t.rate_limit) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(u32::MAX).min(b.unwrap_or(u32::MAX)) as usize),
    }
}

#[derive(Default)]
pub struct Limits {
    gates: Mutex<HashMap<String, Gate>>,
    /// Rings when a send ends, for those waiting for room.
    ended: Notify,
}

#[derive(Default)]
struct Gate {
    under_way: usize,
    /// When the next start may be (SQLite; the store keeps it otherwise).
    next_start: Option<Instant>,
}

/// A send let through the gate; give it back with [`Limits::end`].
pub struct Admitted {
    webhook_id: String,
    org_id: String,
    delivery_id: String,
    max_in_flight: Option<i64>,
}

/// Milliseconds since 1970 by the system clock: limits are about real
/// seconds at the receiver, whatever clock the hub keeps.
fn wall_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

impl Limits {
    /// Waits until the webhook may start one more send; `None` when it
    /// waited [`PATIENCE`] (or the store could not be asked).
    pub async fn admit(
        &self,
        store: &Store,
        owner: &str,
        target: &Target,
        delivery_id: &str,
        lease: Duration,
    ) -> Option<Option<Admitted>> {
        if target.max_in_flight.is_none() && target.rate_limit.is_none() {
            return Some(None);
        }
        let local_rate = store.backend() == Backend::Sqlite;
        // Starts 5 % further apart than the rate, so that the few
        // milliseconds a start can take to reach the receiver (a commit, a
        // new connection) never put more than the rate into one second there.
        let interval = target
            .rate_limit
            .map(|r| Duration::from_micros(1_050_000u64.div_ceil(u64::from(r.max(1)))));
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ended = self.ended.notified();
            let wait = {
                let mut gates = self.gates.lock().expect("gates lock");
                let gate = gates.entry(target.webhook_id.clone()).or_default();
                let now = Instant::now();
                if target
                    .max_in_flight
                    .is_some_and(|m| gate.under_way >= m as usize)
                {
                    Some(Duration::from_millis(50))
                } else if local_rate && gate.next_start.is_some_and(|t| t > now) {
                    gate.next_start.map(|t| t - now)
                } else {
                    gate.under_way += 1;
                    if local_rate && let Some(i) = interval {
                        gate.next_start = Some(gate.next_start.map_or(now, |t| t.max(now)) + i);
                    }
                    None
                }
            };
            if let Some(wait) = wait {
                if Instant::now() + wait > deadline {
                    return None;
                }
                // A send ending here may make room before the wait is up.
                let _ = tokio::time::timeout(wait, ended).await;
                continue;
            }
            let admitted = Admitted {
                webhook_id: target.webhook_id.clone(),
                org_id: target.org_id.clone(),
                delivery_id: delivery_id.to_string(),
                max_in_flight: target.max_in_flight.map(i64::from),
            };
            if local_rate {
                return Some(Some(admitted));
            }
            let now = wall_ms();
            let ask = SendAsk {
                org_id: &target.org_id,
                webhook_id: &target.webhook_id,
                delivery_id,
                owner,
                interval: interval.map(|i| i.as_millis().max(1) as Millis),
                max_in_flight: admitted.max_in_flight,
                lease_until: now + lease.as_millis() as Millis,
            };
            // Boxed, as below: the store's future is kilobytes, and held
            // inline it would make every delivery's attempt that size —
            // copied whole at each await that starts it — with or without
            // limits.
            match Box::pin(store.take_send(&ask, now)).await {
                Ok(Ok(())) => return Some(Some(admitted)),
                Ok(Err(at)) => {
                    self.local_end(&target.webhook_id);
                    let wait = Duration::from_millis((at - now).clamp(1, 1_000) as u64);
                    if Instant::now() + wait > deadline {
                        return None;
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    self.local_end(&target.webhook_id);
                    tracing::warn!(error = %e, "cannot ask the webhook's gate; giving the delivery back");
                    return None;
                }
            }
        }
    }

    /// Ends a send let through by [`Limits::admit`].
    pub async fn end(&self, store: &Store, owner: &str, admitted: Admitted) {
        self.local_end(&admitted.webhook_id);
        if store.backend() == Backend::Postgres {
            let ask = SendAsk {
                org_id: &admitted.org_id,
                webhook_id: &admitted.webhook_id,
                delivery_id: &admitted.delivery_id,
                owner,
                interval: None,
                max_in_flight: admitted.max_in_flight,
                lease_until: 0,
            };
            // Not ended in the store, it stops counting when its lease runs out.
            if let Err(e) = Box::pin(store.give_send(&ask)).await {
                tracing::warn!(error = %e, "cannot end a send at the webhook's gate");
            }
        }
    }

    fn local_end(&self, webhook_id: &str) {
        let mut gates = self.gates.lock().expect("gates lock");
        if let Some(gate) = gates.get_mut(webhook_id) {
            gate.under_way = gate.under_way.saturating_sub(1);
            if gate.under_way == 0 && gate.next_start.is_none_or(|t| t <= Instant::now()) {
                gates.remove(webhook_id);
            }
        }
        drop(gates);
        self.ended.notify_waiters();
    }
}
