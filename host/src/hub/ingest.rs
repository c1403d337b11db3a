//! Ingest: storing events and fanning each out to the webhooks that match
//! it, in one transaction, so an accepted event is never without its
//! deliveries.

use std::collections::{HashMap, VecDeque};

use serde_json::json;

use super::{Actor, Hub, HubResult};
use crate::clock::Millis;
use crate::domain::webhook::{Matcher, Ordering};
use crate::domain::{Category, Event};
use crate::ids::{IdKind, new_id};
use crate::storage::Tx;
use crate::storage::deliveries::{DeliveryStatus, NewDelivery};
use crate::storage::direct::Writes;
use crate::storage::webhooks::WebhookRecord;
use crate::traces::TraceParent;

/// What became of an ingested batch.
#[derive(Debug, Default, Clone)]
pub struct IngestOutcome {
    pub accepted: Vec<String>,
    pub duplicates: Vec<String>,
    /// Deliveries created that a worker should claim from the store.
    pub pending: usize,
    /// Deliveries created leased to this process's worker, to hand over
    /// from memory once the transaction has committed.
    pub claimed: Vec<crate::storage::deliveries::ClaimedDelivery>,
    /// The event of each delivery counted in `pending`, so a grouped
    /// outcome can be split per request.
    pub pending_events: Vec<String>,
}

/// Past this many bytes of deliveries waiting in memory, new ones go
/// through the store's claim path instead (bounded memory under any
/// backlog). Each delivery counts [`LANE_ENTRY_BYTES`], each event's body
/// once (its deliveries share it).
pub const FAST_LANE_BYTES: usize = 48 << 20;
/// What one delivery held in memory costs besides its event's body.
pub const LANE_ENTRY_BYTES: usize = 320;

/// Actions ScaiHub logs about a webhook that must never be sent to it.
pub const DROPPED: &str = "webhook.delivery_dropped";
pub const OVERFLOW: &str = "webhook.queue_overflow";

/// An event to ingest, and whether it may fan out to webhooks at all.
pub struct Incoming {
    pub event: Event,
    pub fan_out: bool,
    /// The trace its deliveries continue (the ingest request's).
    pub trace: Option<TraceParent>,
}

impl Incoming {
    pub fn new(event: Event) -> Incoming {
        Incoming::traced(event, None)
    }

    pub fn traced(event: Event, trace: Option<TraceParent>) -> Incoming {
        Incoming {
            event,
            fan_out: true,
            trace,
        }
    }
}

impl Hub {
    /// Logs one of ScaiHub's own events, fanning it out like any other.
    pub async fn log_own_event(
        &self,
        tx: &mut Tx,
        org_id: &str,
        event: Event,
    ) -> HubResult<IngestOutcome> {
        self.ingest_in_tx(tx, org_id, vec![Incoming::new(event)])
            .await
    }

    pub(crate) fn after_commit(&self, outcome: &IngestOutcome) {
        self.metrics
            .events_ingested
            .inc_by(outcome.accepted.len() as u64);
        if !outcome.claimed.is_empty() {
            let lane = self.fast_lane.lock().expect("fast lane lock").clone();
            let sent = lane.is_some_and(|tx| {
                let bytes = outcome.claimed.iter().map(|d| d.lane_bytes).sum();
                self.fast_backlog
                    .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
                tx.send(outcome.claimed.clone()).is_ok()
            });
            if sent {
                self.metrics.taken("memory", outcome.claimed.len());
            } else {
                // Without a worker to take them they wait out their lease,
                // then any worker claims them from the store.
                tracing::warn!(
                    count = outcome.claimed.len(),
                    "no local worker for leased deliveries"
                );
            }
        }
        if outcome.pending > 0 {
            self.work_due();
        }
    }

    /// Whether new deliveries may take the in-memory lane now.
    pub(crate) fn fast_lane_open(&self) -> bool {
        self.fast_lane.lock().expect("fast lane lock").is_some()
            && self.fast_backlog.load(std::sync::atomic::Ordering::Relaxed) < FAST_LANE_BYTES
    }

    /// The fan-out. Events ScaiHub raises while doing it (queue overflow)
    /// are processed in the same transaction.
    pub(crate) async fn ingest_in_tx<W: Writes>(
        &self,
        tx: &mut W,
        org_id: &str,
        events: Vec<Incoming>,
    ) -> HubResult<IngestOutcome> {
        let now = self.now();
        let webhooks = tx.webhooks_of_org(org_id).await?;
        let matchers: Vec<Matcher> = webhooks.iter().map(|w| Matcher::new(&w.settings)).collect();
        let mut queued: HashMap<usize, i64> = HashMap::new();
        let mut overflowed: HashMap<usize, i64> = HashMap::new();
        let mut reported: Vec<bool> = webhooks.iter().map(|w| w.overflow_reported).collect();
        let mut work: VecDeque<Incoming> = events.into();
        let mut deliveries = Vec::new();
        let mut outcome = IngestOutcome::default();
        let fast = self.fast_lane_open();
        let lease_until = now + self.settings.lease.as_millis() as Millis;
        // FIFO webhooks given new deliveries: their lines may move on.
        let mut lines = std::collections::BTreeSet::new();

        // Rounds: the given events in one go, then any the fan-out raised
        // (queue overflow reports), until none is left.
        let mut round: Vec<(Incoming, String)> = Vec::new();
        let mut stored: VecDeque<Option<i64>> = VecDeque::new();
        loop {
            if round.is_empty() {
                if work.is_empty() {
                    break;
                }
                round = work
                    .drain(..)
                    .map(|i| {
                        let body = i.event.to_body();
                        (i, body)
                    })
                    .collect();
                let rows: Vec<(&Event, &str, Option<TraceParent>)> = round
                    .iter()
                    .map(|(i, b)| (&i.event, b.as_str(), i.trace))
                    .collect();
                stored = tx.insert_events(org_id, &rows, now).await?.into();
                round.reverse();
            }
            let Some((
                Incoming {
                    event,
                    fan_out,
                    trace,
                },
                body,
            )) = round.pop()
            else {
                continue;
            };
            let Some(seq) = stored.pop_front().flatten() else {
                outcome.duplicates.push(event.event_id);
                continue;
            };
            outcome.accepted.push(event.event_id.clone());
            if !fan_out {
                continue;
            }
            let mut shared: Option<std::sync::Arc<str>> = None;
            for (i, webhook) in webhooks.iter().enumerate() {
                if !matchers[i].matches(&event) || is_about(&event, &webhook.id) {
                    continue;
                }
                let status = if webhook.paused {
                    let held = match queued.get(&i) {
                        Some(n) => *n,
                        None => tx.queued_count(&webhook.org_id, &webhook.id).await?,
                    };
                    if held < webhook.settings.queue_limit {
                        queued.insert(i, held + 1);
                        DeliveryStatus::Queued
                    } else {
                        queued.insert(i, held);
                        *overflowed.entry(i).or_default() += 1;
                        if !reported[i] {
                            reported[i] = true;
                            work.push_back(Incoming::new(self.overflow_event(webhook, &event)));
                        }
                        DeliveryStatus::Overflowed
                    }
                } else {
                    DeliveryStatus::Pending
                };
                let mut d = new_delivery(org_id, &webhook.id, seq, &event.event_id, status, now);
                if webhook.settings.ordering == Ordering::Fifo {
                    // It waits in the webhook's line, which the store moves
                    // on below; never leased here: the line's front may be
                    // another process's.
                    d = d.in_line();
                    if status == DeliveryStatus::Pending {
                        lines.insert((org_id.to_string(), webhook.id.clone()));
                        outcome.pending += 1;
                        outcome.pending_events.push(event.event_id.clone());
                    }
                } else if status == DeliveryStatus::Pending {
                    let lane = fast.then_some(lease_until);
                    self.lease_or_leave(
                        &mut d,
                        webhook,
                        &event,
                        &body,
                        &mut shared,
                        trace,
                        lane,
                        &mut outcome,
                    );
                }
                deliveries.push(d);
            }
        }
        tx.insert_deliveries(&deliveries).await?;
        tx.advance_lines(&lines, now).await?;
        for (i, count) in overflowed {
            tx.add_overflow(&webhooks[i].org_id, &webhooks[i].id, count, now)
                .await?;
            self.metrics.queue_overflows.inc_by(count as u64);
        }
        Ok(outcome)
    }

    /// A new pending delivery to an unordered webhook: with `lane` (the
    /// in-memory lane open, and the lease's end) leased to this process's
    /// worker, to be handed over from memory once committed; without, left
    /// for a worker to claim from the store. `shared` holds the event's
    /// body for all its deliveries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn lease_or_leave(
        &self,
        d: &mut NewDelivery,
        webhook: &WebhookRecord,
        event: &Event,
        body: &str,
        shared: &mut Option<std::sync::Arc<str>>,
        trace: Option<TraceParent>,
        lane: Option<Millis>,
        outcome: &mut IngestOutcome,
    ) {
        let Some(lease_until) = lane else {
            outcome.pending += 1;
            outcome.pending_events.push(event.event_id.clone());
            return;
        };
        // Leased to this process until `lease_until`, when any worker may
        // take it over.
        d.lease_owner = Some(self.worker_owner.clone());
        d.next_attempt_at = Some(lease_until);
        let lane_bytes = LANE_ENTRY_BYTES + if shared.is_none() { body.len() } else { 0 };
        let body = shared.get_or_insert_with(|| body.into()).clone();
        outcome
            .claimed
            .push(crate::storage::deliveries::ClaimedDelivery {
                id: d.id.clone(),
                org_id: d.org_id.clone(),
                webhook_id: webhook.id.clone(),
                webhook_version: webhook.version,
                event_id: event.event_id.clone(),
                action: event.action.clone(),
                body,
                attempt_count: 0,
                lane_bytes,
                trace,
            });
    }

    fn overflow_event(
        &self,
        webhook: &crate::storage::webhooks::WebhookRecord,
        first: &Event,
    ) -> Event {
        self.own_event(
            Category::Security,
            OVERFLOW,
            &Actor::system(),
            &webhook.id,
            json!({
                "webhook_id": webhook.id,
                "webhook_name": webhook.settings.name,
                "queue_limit": webhook.settings.queue_limit,
                "first_refused_event_id": first.event_id,
            }),
        )
    }
}

/// ScaiHub's reports about a webhook's own trouble are not sent to it.
pub(crate) fn is_about(event: &Event, webhook_id: &str) -> bool {
    (event.action == DROPPED || event.action == OVERFLOW)
        && event.resource_id.as_deref() == Some(webhook_id)
}

pub(crate) fn new_delivery(
    org_id: &str,
    webhook_id: &str,
    seq: i64,
    event_id: &str,
    status: DeliveryStatus,
    now: Millis,
) -> NewDelivery {
    NewDelivery {
        id: new_id(IdKind::Delivery),
        org_id: org_id.to_string(),
        webhook_id: webhook_id.to_string(),
        event_seq: seq,
        event_id: event_id.to_string(),
        status,
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(now),
        lease_owner: None,
        line_seq: None,
        created_at: now,
    }
}
