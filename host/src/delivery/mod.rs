//! The delivery worker: takes due deliveries, sends them concurrently,
//! and records every attempt.
//!
//! Flow: deliveries reach [`Worker::run`] two ways. Those created by this
//! process arrive from memory (the *fast lane*) already leased to it, right
//! after the transaction that stored them commits. Everything else — retries
//! falling due, queues released by a resume, work left by a process that
//! died — is claimed from the store with a lease. Both feed one ready
//! queue; each attempt runs as a task, bounded overall and per webhook. The
//! recorder writes finished attempts in batches, schedules retries, drops
//! deliveries whose schedule is spent, and logs the SECURITY event for each.
//!
//! Nothing lives only in memory: a delivery is in the store before it is
//! sent, and its lease lets another worker (or this one after a restart)
//! take it over, so every accepted event is delivered at least once.

mod limits;
pub mod notify;
mod plugins;
pub mod sender;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use serde_json::json;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tracing::{Instrument, info_span, warn};

use crate::clock::Millis;
use crate::domain::Category;
use crate::domain::webhook::SignatureScheme;
use crate::hub::ingest::{DROPPED, Incoming, OVERFLOW};
use crate::hub::{Actor, Hub};
use crate::storage::deliveries::{AttemptRecord, ClaimedDelivery, Completion, DeliveryStatus};
use crate::storage::writer_runtime;
use crate::traces::{AttemptEnd, AttemptOf, TraceParent};
use plugins::PluginOutcome;
use sender::{Rewrite, Sender, Target};

/// How many deliveries one claim takes at most.
const CLAIM_BATCH: i64 = 256;
/// Results that may wait to be written, per sending slot: the recorder
/// writes them in batches (on SQLite sharing the one writer with ingest)
/// and the next attempts go on meanwhile, up to this many per slot. It is
/// also what bounds the attempts a crash can make be sent twice.
pub const UNRECORDED_PER_SLOT: usize = 8;
/// A batch of results smaller than this waits up to `RECORD_LINGER` for
/// more before it is written.
const RECORD_BATCH: usize = 64;
const RECORD_LINGER: Duration = Duration::from_millis(2);
/// How long a webhook's settings are reused before being read again.
const TARGET_TTL: Duration = Duration::from_secs(1);

/// The HMAC key a secret gives in a scheme: the string's bytes, or the
/// bytes a `whsec_` secret encodes.
fn signing_key(scheme: SignatureScheme, secret: Vec<u8>) -> Option<Vec<u8>> {
    match scheme {
        SignatureScheme::Scaidrive => Some(secret),
        SignatureScheme::Standard => {
            crate::signing::standard_key(std::str::from_utf8(&secret).ok()?)
        }
    }
}

/// What one attempt came to.
struct Attempted {
    completion: Completion,
    hold: Option<Millis>,
}

impl From<Completion> for Attempted {
    fn from(completion: Completion) -> Attempted {
        Attempted {
            completion,
            hold: None,
        }
    }
}

/// Where an attempt's time went, for its span.
#[derive(Default)]
struct Timing {
    /// In the webhook's plugins, when it has any.
    plugins: Option<Duration>,
    /// In the HTTP request, when one was sent.
    send: Option<Duration>,
}

/// The answer by which a receiver says it wants no more deliveries.
const GONE: u16 = 410;

/// Whether an attempt was answered `410 Gone` (its webhook gets paused).
fn is_gone(c: &Completion) -> bool {
    c.status == DeliveryStatus::Queued
        && c.attempt.as_ref().and_then(|a| a.status_code) == Some(i64::from(GONE))
}

/// A finished attempt on its way to the store.
struct Finished {
    claimed: ClaimedDelivery,
    completion: Completion,
    /// Until when the receiver asked (`Retry-After`) for its webhook's
    /// deliveries to wait.
    hold: Option<Millis>,
    /// Freed once the result is written: attempts sent but not recorded
    /// never outnumber `Worker::unrecorded_limit`, which bounds what a
    /// crash can make be sent twice.
    _unrecorded: tokio::sync::OwnedSemaphorePermit,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// What the worker holds. Each webhook has its own line of held
/// deliveries (oldest first); webhooks with something to start and a free
/// per-webhook slot take turns, one delivery each, so a backlog or a slow
/// receiver on one webhook never stands in front of another's work, and
/// starting a delivery costs the same however much is held.
#[derive(Default)]
struct State {
    /// Every delivery this worker holds: waiting in a line or being sent.
    owned: FastSet<String>,
    /// Per webhook with held or running deliveries.
    lines: FastMap<String, Line>,
    /// Webhooks whose turn it is, each at most once (`Line::queued`).
    turns: VecDeque<String>,
}

#[derive(Default)]
struct Line {
    ready: VecDeque<ClaimedDelivery>,
    /// Attempts being sent (not yet answered).
    busy: usize,
    /// In `State::turns`.
    queued: bool,
    /// The webhook's own bound on attempts at once here (its
    /// `max_in_flight`, or its `rate_limit`), once its settings are known.
    own_limit: Option<usize>,
}

impl Line {
    /// Attempts this webhook may have under way at once in this process.
    fn limit(&self, global: usize) -> usize {
        self.own_limit.map_or(global, |l| l.min(global))
    }
}

impl State {
    /// Gives the webhook a turn if it has work, a free slot and no turn yet.
    fn offer_turn(&mut self, webhook_id: &str, global: usize) {
        if let Some(line) = self.lines.get_mut(webhook_id)
            && !line.queued
            && !line.ready.is_empty()
            && line.busy < line.limit(global)
        {
            line.queued = true;
            self.turns.push_back(webhook_id.to_string());
        }
    }
}

impl Worker {
    /// Records the webhook's own bound once its settings are read, and lets
    /// its line start more if the bound grew.
    fn learn_limit(&self, target: &Target) {
        let own = limits::line_bound(target);
        let global = self.hub.settings.max_in_flight_per_webhook;
        let mut state = self.state.lock().expect("worker state lock");
        if let Some(line) = state.lines.get_mut(&target.webhook_id)
            && line.own_limit != own
        {
            line.own_limit = own;
            state.offer_turn(&target.webhook_id, global);
        }
    }
}

/// One process's delivery worker.
pub struct Worker {
    hub: Arc<Hub>,
    owner: String,
    sender: Sender,
    /// Attempts being sent at once: `max_in_flight`.
    sending: Arc<Semaphore>,
    /// Attempts started and not yet recorded (see [`Finished`]).
    unrecorded: Arc<Semaphore>,
    state: Mutex<State>,
    /// Rings when recorded results free room to start more.
    freed: Notify,
    targets: Mutex<HashMap<String, Arc<Target>>>,
    /// Webhooks' `rate_limit` and `max_in_flight`.
    limits: limits::Limits,
}

impl Worker {
    pub fn new(hub: Arc<Hub>) -> Arc<Worker> {
        let sender = Sender::new(hub.destinations.clone(), hub.settings.delivery_timeout);
        Arc::new(Worker {
            sending: Arc::new(Semaphore::new(hub.settings.max_in_flight)),
            unrecorded: Arc::new(Semaphore::new(Self::unrecorded_limit(&hub))),
            owner: hub.worker_owner.clone(),
            hub,
            sender,
            state: Mutex::default(),
            freed: Notify::new(),
            targets: Mutex::default(),
            limits: limits::Limits::default(),
        })
    }

    /// Runs until `shutdown` turns true, then finishes the attempts in
    /// flight and records them before returning. Deliveries held but not
    /// started stay leased in the store and are taken up again later.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let (lane_tx, mut lane) = mpsc::unbounded_channel::<Vec<ClaimedDelivery>>();
        *self.hub.fast_lane.lock().expect("fast lane lock") = Some(lane_tx);
        let (done_tx, done_rx) = mpsc::channel::<Finished>(8192);
        let recorder = writer_runtime().spawn(self.clone().record(done_rx));
        let share = tokio::spawn(self.clone().keep_share());
        let mut poll_store = true;
        // When the store next has something due; refreshed after each claim
        // (reading it on every wake-up would cost a query per batch).
        let mut next_due: Option<Millis> = None;
        let mut claim_failing = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Ok(batch) = lane.try_recv() {
                self.hold(batch);
            }
            if self.hub.cluster.recheck.swap(false, Ordering::AcqRel) {
                self.forget_lost().await;
            }
            if poll_store && self.has_room() {
                poll_store = false;
                // Keep starting held work while the claim waits for the
                // store's writer: slots freed meanwhile are refilled at once.
                let claim = self.claim();
                tokio::pin!(claim);
                let claimed = loop {
                    tokio::select! {
                        r = &mut claim => break r,
                        _ = self.freed.notified() => self.dispatch(&done_tx),
                        Some(b) = lane.recv() => {
                            self.hold(b);
                            self.dispatch(&done_tx);
                        }
                    }
                };
                if claimed.is_ok() && claim_failing {
                    claim_failing = false;
                    tracing::info!("claiming deliveries works again");
                }
                match claimed {
                    // More is due: claim again after dispatching, and leave
                    // asking when the next one falls due until the backlog
                    // is gone.
                    Ok(n) if n as i64 >= CLAIM_BATCH => {
                        poll_store = true;
                        next_due = None;
                    }
                    Ok(_) => next_due = self.hub.store.next_due_at().await.ok().flatten(),
                    // Once per outage, not once per look at the store.
                    Err(e) if !claim_failing => {
                        claim_failing = true;
                        warn!(error = %format!("{e:#}"), "claiming deliveries failed; retrying quietly until it works");
                    }
                    Err(e) => {
                        tracing::debug!(error = %format!("{e:#}"), "claiming deliveries failed")
                    }
                }
            }
            self.dispatch(&done_tx);
            if poll_store && self.has_room() {
                continue;
            }
            // Already meaning to claim (waiting for a slot): nothing to time.
            let clock_wait = match next_due {
                Some(t) if !poll_store => self.hub.clock.sleep_until(t),
                _ => Box::pin(std::future::pending()),
            };
            tokio::select! {
                batch = lane.recv() => if let Some(b) = batch { self.hold(b) },
                _ = self.freed.notified() => {}
                _ = self.hub.wake.notified() => poll_store = true,
                _ = clock_wait => poll_store = true,
                // Work committed by another process unannounced, or a clock that jumped.
                _ = tokio::time::sleep(self.hub.idle_poll()) => poll_store = true,
                _ = shutdown.changed() => {}
            }
        }
        share.abort();
        self.hub.fast_lane.lock().expect("fast lane lock").take();
        // Let every attempt in flight finish and be recorded, within bounds:
        // if the store is gone, what was not recorded stays leased and is
        // sent again later (at least once), rather than hanging the stop.
        let grace = self.hub.settings.delivery_timeout + Duration::from_secs(15);
        let all = Self::unrecorded_limit(&self.hub) as u32;
        let _ = tokio::time::timeout(grace, self.unrecorded.acquire_many(all)).await;
        drop(done_tx);
        if tokio::time::timeout(grace, recorder).await.is_err() {
            warn!("stopping without recording some finished attempts: the store did not answer");
        }
    }

    /// Keeps this process to its share of the host's in-flight budget
    /// (see [`notify`]): the slots that belong to the other processes on
    /// this host are taken from `sending` as they come free and held until
    /// the share grows again.
    async fn keep_share(self: Arc<Self>) {
        let mut processes = self.hub.cluster.host_processes.subscribe();
        let budget = self.hub.settings.max_in_flight;
        let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
        loop {
            let n = (*processes.borrow_and_update()).max(1);
            let share = notify::in_flight_share(budget, n);
            self.hub.metrics.host_processes.set(n as i64);
            self.hub.metrics.in_flight_limit.set(share as i64);
            drop(held.take());
            if share < budget {
                tokio::select! {
                    got = self.sending.clone().acquire_many_owned((budget - share) as u32) => match got {
                        Ok(permit) => held = Some(permit),
                        Err(_) => return,
                    },
                    changed = processes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            }
            if processes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether to claim more: until one claim's worth waits to start for
    /// webhooks below their in-flight limit (so slots that free up are
    /// refilled without waiting for a claim, and a webhook at its limit
    /// does not stop the others being claimed). A backlog stays in the
    /// store, not in memory: claiming whenever a slot was free let a long
    /// drain pull most of the queue into memory, a claim at a time.
    fn has_room(&self) -> bool {
        let limit = self.hub.settings.max_in_flight_per_webhook;
        let state = self.state.lock().expect("worker state lock");
        let startable: usize = state
            .lines
            .values()
            .filter(|l| l.busy < l.limit(limit))
            .map(|l| l.ready.len())
            .sum();
        startable < CLAIM_BATCH as usize
    }

    /// After a fenced spell: forgets held deliveries whose lease another
    /// process took over meanwhile (they are its to send now).
    async fn forget_lost(&self) {
        let held: Vec<String> = {
            let state = self.state.lock().expect("worker state lock");
            state
                .lines
                .values()
                .flat_map(|l| l.ready.iter().map(|d| d.id.clone()))
                .collect()
        };
        if held.is_empty() {
            return;
        }
        let kept: FastSet<String> = match self.hub.store.still_leased(&self.owner, &held).await {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => {
                // Checked again at the next fenced spell; meanwhile the
                // recorder's lease check still refuses foreign results.
                warn!(error = %format!("{e:#}"), "checking held leases failed");
                self.hub.cluster.recheck.store(true, Ordering::Release);
                return;
            }
        };
        let mut state = self.state.lock().expect("worker state lock");
        let mut lost = 0;
        let mut lost_bytes = 0;
        let State { owned, lines, .. } = &mut *state;
        for line in lines.values_mut() {
            line.ready.retain(|d| {
                let ours = kept.contains(&d.id);
                if !ours {
                    owned.remove(&d.id);
                    lost += 1;
                    lost_bytes += d.lane_bytes;
                }
                ours
            });
        }
        lines.retain(|_, l| l.busy > 0 || !l.ready.is_empty() || l.queued);
        if lost > 0 {
            self.hub
                .fast_backlog
                .fetch_sub(lost_bytes, Ordering::Relaxed);
            warn!(
                lost,
                "deliveries taken over by another process while this one was fenced"
            );
        }
    }

    /// Takes deliveries into the ready queue, unless already held.
    fn hold(&self, batch: Vec<ClaimedDelivery>) {
        let limit = self.hub.settings.max_in_flight_per_webhook;
        let mut state = self.state.lock().expect("worker state lock");
        for d in batch {
            if state.owned.insert(d.id.clone()) {
                let webhook_id = d.webhook_id.clone();
                let line = state
                    .lines
                    .entry(webhook_id.clone())
                    .or_insert_with(|| Line {
                        // The webhook's own bound when its settings were seen
                        // before, else one until they are (`learn_limit`).
                        // Lock order: state, then targets; nothing holds the
                        // targets lock while it takes the state lock.
                        own_limit: match self.targets.lock().expect("targets lock").get(&webhook_id)
                        {
                            Some(t) => limits::line_bound(t),
                            None => Some(1),
                        },
                        ..Line::default()
                    });
                line.ready.push_back(d);
                state.offer_turn(&webhook_id, limit);
            }
        }
    }

    /// Claims due deliveries from the store; answers how many.
    async fn claim(&self) -> anyhow::Result<usize> {
        let saturated: Vec<String> = {
            let state = self.state.lock().expect("worker state lock");
            state
                .lines
                .iter()
                .filter(|(_, l)| l.busy >= l.limit(self.hub.settings.max_in_flight_per_webhook))
                .map(|(id, _)| id.clone())
                .collect()
        };
        let now = self.hub.now();
        let lease_until = now + self.hub.settings.lease.as_millis() as i64;
        let store = self.hub.store.clone();
        let owner = self.owner.clone();
        let claimed = writer_runtime()
            .spawn(async move {
                store
                    .claim_due(&owner, now, lease_until, CLAIM_BATCH, &saturated)
                    .await
            })
            .await??;
        let n = claimed.len();
        self.hub.metrics.taken("store", n);
        self.hold(claimed);
        Ok(n)
    }

    fn unrecorded_limit(hub: &Hub) -> usize {
        hub.settings.max_in_flight.max(1) * UNRECORDED_PER_SLOT
    }

    /// Starts as many held deliveries as slots and per-webhook limits allow,
    /// webhooks taking turns, each webhook's oldest first. Called by the
    /// run loop and by each attempt as it gets its answer.
    fn dispatch(self: &Arc<Self>, done: &mpsc::Sender<Finished>) {
        if self.hub.fenced() {
            // Others may be taking this process's work over; the run loop
            // checks what is still ours once it is alive again.
            return;
        }
        let per_webhook = self.hub.settings.max_in_flight_per_webhook;
        let mut start = Vec::new();
        {
            let mut state = self.state.lock().expect("worker state lock");
            while let Some(webhook_id) = state.turns.pop_front() {
                let permits = self
                    .sending
                    .clone()
                    .try_acquire_owned()
                    .and_then(|s| Ok((s, self.unrecorded.clone().try_acquire_owned()?)));
                let Ok(permit) = permits else {
                    state.turns.push_front(webhook_id);
                    break;
                };
                let Some(line) = state.lines.get_mut(&webhook_id) else {
                    continue;
                };
                line.queued = false;
                let Some(d) = line.ready.pop_front() else {
                    continue;
                };
                line.busy += 1;
                start.push((d, permit));
                state.offer_turn(&webhook_id, per_webhook);
            }
        }
        let started: usize = start.iter().map(|(d, _)| d.lane_bytes).sum();
        if started > 0 {
            self.hub.fast_backlog.fetch_sub(started, Ordering::Relaxed);
        }
        for (delivery, (sending, unrecorded)) in start {
            let worker = self.clone();
            let done = done.clone();
            let span = info_span!("delivery", delivery_id = %delivery.id, webhook_id = %delivery.webhook_id, attempt = delivery.attempt_count + 1);
            // Boxed: an attempt's future is large (the HTTP client's state),
            // and spawning it unboxed copied all of it more than once.
            tokio::spawn(Box::pin(
                async move {
                    let Attempted { completion, hold } = worker.attempt(&delivery).await;
                    drop(sending);
                    let webhook_id = delivery.webhook_id.clone();
                    // Counted as unrecorded until the recorder has written it.
                    let _ = done
                        .send(Finished {
                            claimed: delivery,
                            completion,
                            hold,
                            _unrecorded: unrecorded,
                        })
                        .await;
                    worker.answered(&webhook_id);
                    worker.dispatch(&done);
                }
                .instrument(span),
            ));
        }
    }

    /// An attempt of this webhook got its answer: its in-flight place frees.
    fn answered(&self, webhook_id: &str) {
        let limit = self.hub.settings.max_in_flight_per_webhook;
        let mut state = self.state.lock().expect("worker state lock");
        let Some(line) = state.lines.get_mut(webhook_id) else {
            return;
        };
        line.busy = line.busy.saturating_sub(1);
        if line.busy == 0 && line.ready.is_empty() && !line.queued {
            state.lines.remove(webhook_id);
        } else {
            state.offer_turn(webhook_id, limit);
        }
    }

    async fn target(&self, delivery: &ClaimedDelivery) -> anyhow::Result<Option<Arc<Target>>> {
        // A cached target serves while it is at least as new as the version
        // the delivery was claimed with and younger than TARGET_TTL, so a
        // pause, a new URL or a rotation made by any process applies within
        // a second even to deliveries already held in memory.
        if let Some(t) = self
            .targets
            .lock()
            .expect("targets lock")
            .get(&delivery.webhook_id)
            && t.version >= delivery.webhook_version
            && t.fetched_at.elapsed() < TARGET_TTL
        {
            return Ok(Some(t.clone()));
        }
        let Some(w) = self
            .hub
            .store
            .get_webhook_by_id(&delivery.webhook_id)
            .await?
        else {
            return Ok(None);
        };
        let scheme = w.settings.signature_scheme;
        let secret =
            signing_key(scheme, self.hub.webhook_secret(&w)?.into_bytes()).ok_or_else(|| {
                anyhow::anyhow!("the webhook's secret does not suit its signature scheme")
            })?;
        let previous = match (&w.prev_secret_enc, w.prev_secret_expires_at) {
            // A previous secret the scheme cannot use signs nothing.
            (Some(sealed), Some(until)) => signing_key(
                scheme,
                self.hub
                    .master_key
                    .open(sealed, &format!("{}:previous", w.id))?,
            )
            .map(|key| (key, until)),
            _ => None,
        };
        let headers = w
            .settings
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        let target = Arc::new(Target {
            webhook_id: w.id.clone(),
            org_id: w.org_id.clone(),
            version: w.version,
            url: url::Url::parse(&w.settings.url)?,
            headers,
            scheme,
            secret,
            previous_secret: previous,
            filters: w
                .settings
                .filter_plugins
                .iter()
                .map(|p| (p.plugin_id.clone(), p.config.to_string()))
                .collect(),
            transform: w
                .settings
                .transform_plugin
                .as_ref()
                .map(|p| (p.plugin_id.clone(), p.config.to_string())),
            on_plugin_error: w.settings.on_plugin_error,
            paused: w.paused,
            held_until: w.held_until,
            rate_limit: w.settings.rate_limit,
            max_in_flight: w.settings.max_in_flight,
            fetched_at: std::time::Instant::now(),
        });
        self.targets
            .lock()
            .expect("targets lock")
            .insert(w.id.clone(), target.clone());
        self.learn_limit(&target);
        Ok(Some(target))
    }

    /// One attempt inside its span: the span names the attempt's
    /// `traceparent`, and ends with what the attempt came to.
    async fn attempt(&self, delivery: &ClaimedDelivery) -> Attempted {
        let span = self.hub.traces.attempt(
            &AttemptOf {
                org_id: &delivery.org_id,
                webhook_id: &delivery.webhook_id,
                delivery_id: &delivery.id,
                event_id: &delivery.event_id,
                attempt: delivery.attempt_count + 1,
            },
            delivery.trace,
        );
        let mut timing = Timing::default();
        let attempted = self
            .attempt_once(delivery, &span.traceparent(), &mut timing)
            .await;
        let record = attempted.completion.attempt.as_ref();
        span.finish(AttemptEnd {
            outcome: attempted.completion.status.as_str(),
            status_code: record.and_then(|a| a.status_code),
            error: record.and_then(|a| a.error.as_deref()),
            plugin_error: record.and_then(|a| a.plugin_error.as_deref()),
            plugin_time: timing.plugins,
            send_time: timing.send,
        });
        attempted
    }

    async fn attempt_once(
        &self,
        delivery: &ClaimedDelivery,
        trace: &TraceParent,
        timing: &mut Timing,
    ) -> Attempted {
        let mut attempted_at = self.hub.now();
        let mut plugin_error = None;
        let result = match self.target(delivery).await {
            Ok(Some(target)) if target.paused => {
                // Paused after this delivery was taken: it joins the queue
                // that resume releases, with no attempt made.
                return Completion {
                    delivery_id: delivery.id.clone(),
                    status: DeliveryStatus::Queued,
                    next_attempt_at: None,
                    attempt: None,
                }
                .into();
            }
            Ok(Some(target)) if target.held_until.is_some_and(|t| t > attempted_at) => {
                // The receiver asked for a pause (`Retry-After`): this one
                // waits it out, its attempt not counted.
                let status = if delivery.attempt_count == 0 {
                    DeliveryStatus::Pending
                } else {
                    DeliveryStatus::Retrying
                };
                return Completion {
                    delivery_id: delivery.id.clone(),
                    status,
                    next_attempt_at: target.held_until,
                    attempt: None,
                }
                .into();
            }
            Ok(Some(target)) => {
                let mut body = delivery.body.as_bytes().to_vec();
                let mut rewrite = Rewrite::default();
                if target.has_plugins() {
                    let started = std::time::Instant::now();
                    // Boxed: the sandbox's future is kilobytes, and most
                    // deliveries run no plugin.
                    let outcome = Box::pin(plugins::run(&self.hub, &target, &delivery.body)).await;
                    timing.plugins = Some(started.elapsed());
                    match outcome {
                        PluginOutcome::Pass => {}
                        PluginOutcome::Original(error) => plugin_error = Some(error),
                        PluginOutcome::Transformed {
                            body: new_body,
                            rewrite: r,
                        } => {
                            body = new_body;
                            rewrite = r;
                        }
                        PluginOutcome::Filtered(by) => {
                            tracing::debug!(plugin_id = %by, "filtered by plugin");
                            return Completion {
                                delivery_id: delivery.id.clone(),
                                status: DeliveryStatus::Filtered,
                                next_attempt_at: None,
                                attempt: None,
                            }
                            .into();
                        }
                        PluginOutcome::Failed(error) => {
                            tracing::info!(error = %error, "plugin failed; delivery skipped");
                            self.hub.metrics.attempt("plugin_failed");
                            return Completion {
                                delivery_id: delivery.id.clone(),
                                status: DeliveryStatus::PluginFailed,
                                next_attempt_at: None,
                                attempt: Some(AttemptRecord {
                                    attempted_at,
                                    status_code: None,
                                    duration_ms: 0,
                                    error: Some(error),
                                    response_snippet: None,
                                    plugin_error: None,
                                }),
                            }
                            .into();
                        }
                    }
                }
                // The webhook's own limits, across the cluster.
                let lease = self.hub.settings.delivery_timeout + Duration::from_secs(5);
                let Some(admitted) = self
                    .limits
                    .admit(&self.hub.store, &self.owner, &target, &delivery.id, lease)
                    .await
                else {
                    // Waited long enough: back to the store, uncounted.
                    return Completion {
                        delivery_id: delivery.id.clone(),
                        status: if delivery.attempt_count == 0 {
                            DeliveryStatus::Pending
                        } else {
                            DeliveryStatus::Retrying
                        },
                        next_attempt_at: Some(self.hub.now() + 1_000),
                        attempt: None,
                    }
                    .into();
                };
                if admitted.is_some() {
                    attempted_at = self.hub.now();
                }
                let headers = self.sender.headers(
                    &target,
                    &rewrite,
                    &delivery.id,
                    &delivery.action,
                    &body,
                    attempted_at,
                    trace,
                );
                let result = self.sender.attempt(&target, headers, body).await;
                timing.send = Some(result.duration);
                if let Some(a) = admitted {
                    self.limits.end(&self.hub.store, &self.owner, a).await;
                }
                let now = self.hub.now();
                let hold = result
                    .retry_after
                    .map(|r| r.at(now).min(now + self.longest_delay()))
                    .filter(|t| *t > now);
                if result.status_code == Some(GONE) || hold.is_some() {
                    // Until the recorder has stored the pause or the hold,
                    // this process's held deliveries of the webhook see it.
                    let changed = Arc::new(Target {
                        paused: target.paused || result.status_code == Some(GONE),
                        held_until: hold.max(target.held_until),
                        fetched_at: std::time::Instant::now(),
                        ..(*target).clone()
                    });
                    self.targets
                        .lock()
                        .expect("targets lock")
                        .insert(target.webhook_id.clone(), changed);
                }
                result
            }
            Ok(None) => sender::AttemptResult {
                status_code: None,
                duration: Duration::ZERO,
                error: Some("webhook no longer exists".into()),
                snippet: None,
                retry_after: None,
            },
            Err(e) => {
                warn!(error = %format!("{e:#}"), "cannot prepare delivery");
                sender::AttemptResult {
                    status_code: None,
                    duration: Duration::ZERO,
                    error: Some("internal error preparing the request".into()),
                    snippet: None,
                    retry_after: None,
                }
            }
        };
        self.hub
            .metrics
            .attempt_seconds
            .observe(result.duration.as_secs_f64());
        let now = self.hub.now();
        let hold_until = result
            .retry_after
            .map(|r| r.at(now).min(now + self.longest_delay()))
            .filter(|t| *t > now);
        let attempts_made = delivery.attempt_count + 1;
        let (status, next) = if result.succeeded() {
            (DeliveryStatus::Succeeded, None)
        } else if result.status_code == Some(GONE) {
            // The receiver wants no more: the recorder pauses the webhook
            // and this delivery waits in its queue for a resume.
            (DeliveryStatus::Queued, None)
        } else {
            match self
                .hub
                .settings
                .retry_schedule
                .get((attempts_made - 1) as usize)
            {
                // No earlier than the receiver asked, up to the schedule's
                // longest step.
                Some(delay) => (
                    DeliveryStatus::Retrying,
                    Some((now + delay.as_millis() as Millis).max(hold_until.unwrap_or(0))),
                ),
                None => (DeliveryStatus::Dropped, None),
            }
        };
        self.hub.metrics.attempt(match status {
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Dropped => "dropped",
            _ => "failed",
        });
        match status {
            DeliveryStatus::Succeeded => {
                tracing::debug!(status_code = ?result.status_code, "delivered")
            }
            _ => {
                tracing::info!(status_code = ?result.status_code, error = ?result.error, outcome = status.as_str(), "attempt failed")
            }
        }
        Attempted {
            completion: Completion {
                delivery_id: delivery.id.clone(),
                status,
                next_attempt_at: next,
                attempt: Some(AttemptRecord {
                    attempted_at,
                    status_code: result.status_code.map(i64::from),
                    duration_ms: result.duration.as_millis() as i64,
                    error: result.error,
                    response_snippet: result.snippet,
                    plugin_error,
                }),
            },
            hold: hold_until,
        }
    }

    /// The schedule's longest step: the most a `Retry-After` may hold.
    fn longest_delay(&self) -> Millis {
        let schedule = &self.hub.settings.retry_schedule;
        schedule.iter().max().map_or(0, |d| d.as_millis() as Millis)
    }

    /// Writes finished attempts in batches, one transaction per batch.
    async fn record(self: Arc<Self>, mut rx: mpsc::Receiver<Finished>) {
        let mut batch = Vec::with_capacity(1024);
        while rx.recv_many(&mut batch, 1024).await > 0 {
            // Under load, let a few more results join: each batch is a
            // transaction, on SQLite on the one writer ingest waits for.
            let linger = tokio::time::Instant::now() + RECORD_LINGER;
            while batch.len() < RECORD_BATCH {
                match tokio::time::timeout_at(linger, rx.recv_many(&mut batch, 1024)).await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            let mut wait = Duration::from_millis(50);
            let retries = loop {
                match self.write_batch(&batch).await {
                    Ok(retries) => break retries,
                    Err(e) => {
                        // Keep the results: a lost write would mean a resend,
                        // not a loss, but retrying avoids even that.
                        warn!(error = %format!("{e:#}"), "recording attempts failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            };
            {
                let mut state = self.state.lock().expect("worker state lock");
                for f in &batch {
                    state.owned.remove(&f.claimed.id);
                }
            }
            // Frees their places among the unrecorded.
            batch.clear();
            self.freed.notify_one();
            // A retry may now be due earlier than the worker planned to look.
            if retries {
                self.hub.wake.notify_one();
            }
        }
    }

    /// Records a batch; answers whether any retry was scheduled.
    async fn write_batch(&self, batch: &[Finished]) -> anyhow::Result<bool> {
        let now = self.hub.now();
        // Results may be lost on power loss (the delivery is sent again),
        // so their commit need not wait for the disk.
        let mut tx = self.hub.store.begin_relaxed().await?;
        let completions: Vec<Completion> = batch.iter().map(|f| f.completion.clone()).collect();
        let owned = tx.complete_many(&completions, &self.owner, now).await?;
        // Per-webhook health: one grouped update per batch, of what was recorded.
        let health = crate::storage::health::summarize(
            batch
                .iter()
                .filter(|f| owned.contains(&f.claimed.id))
                .map(|f| (f.claimed.webhook_id.as_str(), &f.completion)),
        );
        tx.record_health(&health, now).await?;
        // Holds asked for by receivers, for every process to see.
        let mut holds: FastMap<(&str, &str), Millis> = FastMap::default();
        for f in batch.iter().filter(|f| owned.contains(&f.claimed.id)) {
            if let Some(until) = f.hold {
                let key = (f.claimed.org_id.as_str(), f.claimed.webhook_id.as_str());
                let at = holds.entry(key).or_insert(until);
                *at = (*at).max(until);
            }
        }
        for ((org_id, webhook_id), until) in &holds {
            tx.hold_webhook(org_id, webhook_id, *until).await?;
        }
        let mut outcomes = Vec::new();
        let mut gone = Vec::new();
        for f in batch
            .iter()
            .filter(|f| owned.contains(&f.claimed.id) && is_gone(&f.completion))
        {
            let c = &f.claimed;
            if gone.contains(&c.webhook_id) {
                continue;
            }
            if let Some(outcome) = self
                .hub
                .pause_gone_in_tx(&mut tx, &c.org_id, &c.webhook_id, &c.id)
                .await?
            {
                warn!(webhook_id = %c.webhook_id, delivery_id = %c.id, "receiver answered 410 Gone; webhook paused");
                outcomes.push(outcome);
            }
            gone.push(c.webhook_id.clone());
        }
        // A FIFO line whose front ended moves on to its next, in this
        // transaction (after the pauses above, which hold it); a retrying
        // front holds it.
        let lines: std::collections::BTreeSet<crate::storage::lines::LineKey> = batch
            .iter()
            .filter(|f| {
                owned.in_line.contains(&f.claimed.id) && f.completion.next_attempt_at.is_none()
            })
            .map(|f| (f.claimed.org_id.clone(), f.claimed.webhook_id.clone()))
            .collect();
        let moved_on = tx.advance_lines(&lines, now).await? > 0;
        for f in batch {
            if owned.contains(&f.claimed.id) && f.completion.status == DeliveryStatus::Dropped {
                let c = &f.claimed;
                let event = self.hub.own_event(
                    Category::Security,
                    DROPPED,
                    &Actor::system(),
                    &c.webhook_id,
                    json!({
                        "webhook_id": c.webhook_id,
                        "delivery_id": c.id,
                        "event_id": c.event_id,
                        "attempts": c.attempt_count + 1,
                        "last_status_code": f.completion.attempt.as_ref().and_then(|a| a.status_code),
                        "last_error": f.completion.attempt.as_ref().and_then(|a| a.error.clone()),
                    }),
                );
                // A report about a dropped report is logged but not sent on,
                // so failing webhooks cannot feed each other forever.
                let fan_out = c.action != DROPPED && c.action != OVERFLOW;
                let outcome = self
                    .hub
                    .ingest_in_tx(
                        &mut tx,
                        &c.org_id,
                        vec![Incoming {
                            event,
                            fan_out,
                            trace: None,
                        }],
                    )
                    .await?;
                outcomes.push(outcome);
            }
        }
        tx.commit().await?;
        for o in &outcomes {
            self.hub.after_commit(o);
        }
        // Due now: a line moved on, or a pause lifted before it was recorded.
        if moved_on || !owned.resumed.is_empty() {
            self.hub.work_due();
        }
        // Held deliveries of a paused webhook must see the pause now, not
        // when the cached settings expire.
        if !gone.is_empty() {
            let mut targets = self.targets.lock().expect("targets lock");
            for id in &gone {
                targets.remove(id);
            }
        }
        Ok(batch
            .iter()
            .any(|f| f.completion.status == DeliveryStatus::Retrying))
    }
}
