//! Group commit of ingest requests. Producers send one event per request
//! from many connections; a transaction (and on SQLite a sync) each made
//! the commit, not the machine, the limit. Requests wait in one queue; a
//! writer takes every request queued when it has its connection, writes
//! them in one transaction, commits once and answers each request once
//! its events are durable. A request arriving meanwhile goes into the next
//! transaction, so it waits behind at most one commit it is not part of.
//!
//! The requests of one organisation are fanned out together (one webhook
//! lookup, one insert of events, one of deliveries) and split again per
//! request: an event id repeated across requests is stored for the first
//! and a duplicate for the others, as if they had come one after another.
//! The shared write takes no savepoint (each is a round trip to the
//! store's writer): if it fails, the transaction is dropped and each
//! request written again in a new one, alone under its own savepoint, so
//! one request's failure is its own answer.
//!
//! On PostgreSQL most groups skip the transaction: one statement that is
//! its own transaction, its fan-out planned from the webhooks the writer
//! last read and checked by the statement ([`Hub::write_group_at_once`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Instant;

use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use tokio::runtime::Handle;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::ingest::{Incoming, IngestOutcome, is_about, new_delivery};
use super::{Hub, HubError, HubResult};
use crate::clock::Millis;
use crate::domain::Event;
use crate::domain::webhook::{Matcher, Ordering};
use crate::storage::deliveries::{DeliveryStatus, NewDelivery};
use crate::storage::direct::{Direct, Writes, run_direct};
use crate::storage::events::EventRow;
use crate::storage::webhooks::WebhookRecord;
use crate::storage::{Backend, Store, Tx};
use crate::traces::TraceParent;

/// A group stops taking requests past this many events (a request is
/// never split), so the store's writer is not held for a huge transaction
/// while the delivery recorder waits for it.
const GROUP_EVENTS: usize = 2_000;
/// PostgreSQL writes a group in one statement ([`Hub::write_group_at_once`])
/// only up to about this many rows (events, and deliveries counted as each
/// event times its organisation's webhooks). The five round trips it saves
/// (~1.3 ms) are most of a small group's time and a few per cent of a big
/// one's, and for big groups the transaction's way cost PostgreSQL less
/// CPU for the same rows: batches of 100 events to 10 webhooks, 8
/// connections, took 41 s of PostgreSQL CPU against 45 s in one statement
/// (see BENCHMARKS.md).
const AT_ONCE_ROWS: usize = 1_000;
/// Writers per store: SQLite has one writer connection anyway; on
/// PostgreSQL a second one writes the next group beside the first only
/// when that group is big ([`OVERLAP_EVENTS`]).
const PG_WRITERS: usize = 2;
/// A PostgreSQL writer that has taken a group while the other is writing
/// one keeps gathering requests until the other's is written, unless its
/// group reaches this many events: small groups written side by side
/// cost PostgreSQL a statement each and took CPU the other writer's needed
/// (one event a request, 32 connections: 8,612–9,129 events/s with two
/// writers at once against 10,047–10,456 with one), while big ones (100
/// events a request) are written a fifth faster two at a time.
const OVERLAP_EVENTS: usize = 100;

/// The API key a request was authenticated with from the principal cache:
/// the group's transaction checks it is still unrevoked, so a key revoked
/// by any process is refused from the next commit on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRef {
    /// The organisation that owns the key (the caller's, not necessarily
    /// the one the events are for).
    pub org_id: String,
    pub key_id: String,
}

/// One ingest request waiting for a writer.
pub struct Queued {
    pub org_id: String,
    pub events: Vec<Event>,
    pub key: Option<KeyRef>,
    /// The trace the request's events carry to their deliveries.
    pub trace: Option<TraceParent>,
    pub reply: oneshot::Sender<HubResult<IngestOutcome>>,
    /// When it was queued.
    pub arrived: Instant,
}

/// The queue's receiving end, shared by the writers: the one holding it
/// takes the next group.
pub type Intake = Arc<Mutex<mpsc::UnboundedReceiver<Queued>>>;

/// PostgreSQL: how many writers are writing a group, and a bell rung as
/// each finishes (see [`OVERLAP_EVENTS`]).
#[derive(Clone, Default)]
struct Writing(Arc<WritingState>);

#[derive(Default)]
struct WritingState {
    writers: std::sync::atomic::AtomicUsize,
    finished: tokio::sync::Notify,
}

/// A writer's turn at writing a group; it ends when dropped.
struct Turn(Writing);

impl Writing {
    fn busy(&self) -> bool {
        self.0.writers.load(std::sync::atomic::Ordering::Acquire) > 0
    }

    /// Starts a turn: taken while the queue is still held, so the next
    /// writer to take the queue sees it.
    fn start(&self) -> Turn {
        self.0
            .writers
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Turn(self.clone())
    }

    /// Adds requests from the queue to `group` while another writer is
    /// writing, until its group is written or this one reaches
    /// [`OVERLAP_EVENTS`] (or the queue closes).
    async fn gather(&self, group: &mut Vec<Queued>, rx: &mut mpsc::UnboundedReceiver<Queued>) {
        let mut events: usize = group.iter().map(|q| q.events.len()).sum();
        while events < OVERLAP_EVENTS {
            let finished = self.0.finished.notified();
            tokio::pin!(finished);
            // Registered before looking, so a turn ending in between rings it.
            finished.as_mut().enable();
            if !self.busy() {
                return;
            }
            tokio::select! {
                () = &mut finished => {}
                q = rx.recv() => match q {
                    Some(q) => {
                        group.push(q);
                        take_waiting(group, rx);
                        events = group.iter().map(|q| q.events.len()).sum();
                    }
                    None => return,
                },
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let state = &(self.0).0;
        state
            .writers
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        state.finished.notify_waiters();
    }
}

/// PostgreSQL: when the writers' last wait for a connection that found
/// the store away ended, until a wait finds it back. A request that arrived
/// before then and is still queued has waited through that wait, and is
/// answered `503` at once rather than after a wait of its own: the writers
/// wait for a connection one after another, and a writer that takes a
/// group after a failed wait would otherwise make the requests that were
/// queued through it wait the whole timeout again (CI saw answers after
/// twice the pool's timeout: requests queued just before a writer's wait
/// began, while both writers were replacing broken connections).
#[derive(Clone, Default)]
struct Away(Arc<std::sync::Mutex<Option<Instant>>>);

impl Away {
    /// Runs a wait for the store, noting it if it found the store away.
    async fn noting<T>(
        &self,
        wait: impl std::future::Future<Output = Result<T, crate::storage::StoreError>>,
    ) -> Result<T, crate::storage::StoreError> {
        let got = wait.await;
        let mut last = self.0.lock().expect("away lock");
        match &got {
            // Any earlier failed wait ended before this one.
            Err(e) if e.is_unavailable() => *last = Some(Instant::now()),
            Err(_) => {}
            Ok(_) => *last = None,
        }
        got
    }

    /// A write went through: the store is back.
    fn back(&self) {
        *self.0.lock().expect("away lock") = None;
    }

    /// Answers `503` to the requests of `group` that were queued through a
    /// wait that found the store away; returns the others.
    fn answer_arrived_while_away(&self, group: Vec<Queued>) -> Vec<Queued> {
        let Some(ended) = *self.0.lock().expect("away lock") else {
            return group;
        };
        let (waited, after): (Vec<Queued>, Vec<Queued>) =
            group.into_iter().partition(|q| q.arrived <= ended);
        if !waited.is_empty() {
            fail_all(waited, &HubError::Unavailable);
        }
        after
    }
}

/// Starts the writers of `hub`'s store; they end when the hub is dropped.
pub fn spawn_writers(hub: Weak<Hub>, backend: Backend) -> mpsc::UnboundedSender<Queued> {
    let (tx, rx) = mpsc::unbounded_channel();
    let intake: Intake = Arc::new(Mutex::new(rx));
    match backend {
        // Between two statements the writer holds SQLite's only writer:
        // it runs where HTTP tasks do not delay it (as the recorder does).
        // Answers go out from the caller's runtime, so a group being
        // written does not hold back the last one's.
        Backend::Sqlite => {
            let answer_on = tokio::runtime::Handle::current();
            crate::storage::writer_runtime().spawn(run_writer(
                hub,
                intake,
                answer_on,
                Away::default(),
                Writing::default(),
            ));
        }
        Backend::Postgres => {
            let away = Away::default();
            let writing = Writing::default();
            for _ in 0..PG_WRITERS {
                let answer_on = tokio::runtime::Handle::current();
                tokio::spawn(run_writer(
                    hub.clone(),
                    intake.clone(),
                    answer_on,
                    away.clone(),
                    writing.clone(),
                ));
            }
        }
    }
    tx
}

async fn run_writer(
    hub: Weak<Hub>,
    intake: Intake,
    answer_on: tokio::runtime::Handle,
    away: Away,
    writing: Writing,
) {
    // PostgreSQL: the webhooks this writer last read, by organisation,
    // and its connection, kept between groups (taking one from the pool
    // cost a round trip, its health check, on every group).
    let mut known = Known::default();
    let mut kept: Option<PoolConnection<Postgres>> = None;
    loop {
        let next = async {
            let mut rx = intake.lock().await;
            let first = rx.recv().await;
            (rx, first)
        };
        // A kept connection goes back when the store closes (its close
        // waits for every connection), whether this writer is waiting for
        // a request or for the other writer to let go of the queue.
        let closing = match &kept {
            Some(_) => hub.upgrade().and_then(|h| h.store.closing()),
            None => None,
        };
        let (mut rx, first) = match closing {
            Some(closing) => tokio::select! {
                next = next => next,
                () = closing => {
                    kept = None;
                    continue;
                }
            },
            None => next.await,
        };
        let Some(first) = first else { return };
        let Some(hub) = hub.upgrade() else { return };
        if hub.store.backend() == Backend::Sqlite {
            // One writer: the queue may stay held while it writes.
            hub.write_group_direct(first, &mut rx, &answer_on).await;
            continue;
        }
        // A connection first, then the queue: if the store is away every
        // request waiting is told at once.
        let Some(first) = away.answer_arrived_while_away(vec![first]).pop() else {
            continue;
        };
        let reused = kept.is_some();
        let had = match kept {
            Some(_) => Ok(()),
            None => away
                .noting(hub.store.pg_connection())
                .await
                .map(|c| kept = c),
        };
        let mut group = vec![first];
        take_waiting(&mut group, &mut rx);
        if had.is_ok() {
            writing.gather(&mut group, &mut rx).await;
        }
        let _turn = writing.start();
        drop(rx);
        let group = match had {
            Ok(()) => away.answer_arrived_while_away(group),
            Err(e) => {
                fail_all(group, &e.into());
                continue;
            }
        };
        if !group.is_empty() {
            hub.write_group_pg(&mut kept, reused, group, &mut known, &answer_on, &away)
                .await
        }
    }
}

/// The webhooks a PostgreSQL writer last read, by organisation: its plans
/// are made from them, and its one statement writes only if they are
/// still exactly the organisation's webhooks (see
/// [`Store::insert_events_at_once`]), so a stale entry costs a read, never
/// a wrong fan-out. Forgotten whole past [`KNOWN_ORGS`] organisations.
type Known = HashMap<String, Vec<WebhookRecord>>;
const KNOWN_ORGS: usize = 1_000;

/// The group's requests by organisation, in arrival order, leaving out
/// those already answered.
fn by_org(group: &[Queued], answered: impl Fn(usize) -> bool) -> Vec<(&str, Vec<usize>)> {
    let mut orgs: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, q) in group.iter().enumerate() {
        if answered(i) {
            continue;
        }
        match orgs.iter_mut().find(|(o, _)| *o == q.org_id) {
            Some((_, members)) => members.push(i),
            None => orgs.push((q.org_id.as_str(), vec![i])),
        }
    }
    orgs
}

/// Adds the requests waiting in the queue to `group`, up to
/// [`GROUP_EVENTS`].
fn take_waiting(group: &mut Vec<Queued>, rx: &mut mpsc::UnboundedReceiver<Queued>) {
    let mut events: usize = group.iter().map(|q| q.events.len()).sum();
    while events < GROUP_EVENTS {
        match rx.try_recv() {
            Ok(q) => {
                events += q.events.len();
                group.push(q);
            }
            Err(_) => break,
        }
    }
}

/// Tells every request of a failed group, logging the cause once.
fn fail_all(group: Vec<Queued>, err: &HubError) {
    tracing::warn!(error = %format!("{err:#}"), requests = group.len(), "an ingest group failed");
    for q in group {
        let _ = q.reply.send(Err(shared(err)));
    }
}

/// One request's copy of an error shared by its group.
fn shared(err: &HubError) -> HubError {
    match err {
        HubError::Store(e) if e.is_unavailable() => HubError::Unavailable,
        HubError::Unavailable => HubError::Unavailable,
        HubError::Unauthenticated(m) => HubError::Unauthenticated(m),
        other => HubError::Internal(format!("{other:#}")),
    }
}

/// A request's place in the group and what it will be answered.
type Answers = Vec<Option<HubResult<IngestOutcome>>>;

impl Hub {
    /// Ingests producer events (deduplicated by id) and commits.
    pub async fn ingest(&self, org_id: &str, events: Vec<Event>) -> HubResult<IngestOutcome> {
        self.ingest_as(org_id, events, None, None).await
    }

    /// Ingests events for a caller authenticated with `key` from the
    /// principal cache: the key is checked again in the transaction that
    /// stores them. Written with whatever other requests are waiting, in
    /// one commit (see `hub::group`); answered once the events are durable.
    /// `trace` is stored with the events: their deliveries continue it.
    pub async fn ingest_as(
        &self,
        org_id: &str,
        events: Vec<Event>,
        key: Option<KeyRef>,
        trace: Option<TraceParent>,
    ) -> HubResult<IngestOutcome> {
        let Some(queue) = &self.ingest_queue else {
            return self.ingest_alone(org_id, events, key, trace).await;
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = Queued {
            org_id: org_id.to_string(),
            events,
            key,
            trace,
            reply,
            arrived: Instant::now(),
        };
        if let Err(mpsc::error::SendError(q)) = queue.send(queued) {
            return self.ingest_alone(org_id, q.events, q.key, q.trace).await;
        }
        answer
            .await
            .unwrap_or_else(|_| Err(HubError::Internal("the ingest writer stopped".into())))
    }

    /// One transaction of its own, for a hub without a runtime to run the
    /// group writer on.
    async fn ingest_alone(
        &self,
        org_id: &str,
        events: Vec<Event>,
        key: Option<KeyRef>,
        trace: Option<TraceParent>,
    ) -> HubResult<IngestOutcome> {
        let mut tx = self.store.begin().await?;
        if let Some(k) = &key
            && tx.live_keys(&[(&k.org_id, &k.key_id)]).await?.is_empty()
        {
            self.principal_cache.forget_all();
            return Err(HubError::Unauthenticated(
                "token is unknown, revoked or expired",
            ));
        }
        let outcome = self
            .ingest_in_tx(
                &mut tx,
                org_id,
                events
                    .into_iter()
                    .map(|e| Incoming::traced(e, trace))
                    .collect(),
            )
            .await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(outcome)
    }

    /// PostgreSQL: the group in one statement when it can be
    /// ([`Hub::write_group_at_once`]), on the writer's connection `conn`,
    /// else in a transaction. After a failure the connection is let go (a
    /// new one next time); one kept from an earlier group (`reused`) found
    /// broken (the server restarted, an idle link cut) is replaced and the
    /// group tried on the new one — once, and never for a connection just
    /// taken, so a store that is away costs a request one wait for the
    /// pool, not two.
    async fn write_group_pg(
        self: Arc<Self>,
        conn: &mut Option<PoolConnection<Postgres>>,
        mut reused: bool,
        group: Vec<Queued>,
        known: &mut Known,
        answer_on: &Handle,
        away: &Away,
    ) {
        let at_once = loop {
            let c = match conn {
                Some(c) => c,
                None => match away.noting(self.store.pg_connection()).await {
                    Ok(Some(c)) => conn.insert(c),
                    Ok(None) => {
                        let e = HubError::Internal("no PostgreSQL connection".into());
                        return fail_all(group, &e);
                    }
                    Err(e) => return fail_all(group, &e.into()),
                },
            };
            let at_once = self.write_group_at_once(c, &group, known).await;
            if at_once.is_err() {
                *conn = None;
            }
            match at_once {
                Err(e) if reused && unavailable(&e) => {
                    tracing::debug!(error = %format!("{e:#}"), "the ingest writer's connection broke; taking a new one");
                    reused = false;
                }
                other => break other,
            }
        };
        match at_once {
            Ok(Some((answers, done))) => {
                // The store answers again.
                away.back();
                let written = Ok((self.store.unsynced(), answers, done));
                return self.answer_group(group, written, answer_on).await;
            }
            Ok(None) => {}
            Err(e) if unavailable(&e) => return fail_all(group, &e),
            // Nothing was written (the statement is its own transaction);
            // the transaction's way tells whose request it was.
            Err(e) => tracing::debug!(
                error = %format!("{e:#}"),
                "an ingest group failed in one statement; writing it in a transaction"
            ),
        }
        match away.noting(self.store.begin()).await {
            Ok(tx) => self.write_group(tx, group, answer_on).await,
            Err(e) => {
                // The kept connection is likely gone with the store.
                if e.is_unavailable() {
                    *conn = None;
                }
                fail_all(group, &e.into())
            }
        }
    }

    /// PostgreSQL: a group whose organisations' webhooks all run and are
    /// unordered, and whose keys are all live (the common case), written
    /// in one statement that is its own transaction, where a transaction
    /// takes six round trips (begin, keys, webhooks, events, deliveries,
    /// commit); under load those round trips, not the SQL, were most of a
    /// group's time. The fan-out is planned here from the webhooks last
    /// read (`known`); the statement checks, in its own snapshot, that
    /// they are still the organisations' webhooks and the keys still live,
    /// and writes nothing if not: the webhooks are then read again, with
    /// the keys, and the group tried once more. It stores the events and,
    /// for those not known already, their planned deliveries. `None` when
    /// the group needs the transaction's way: a paused webhook counts its
    /// queue and may report an overflow, a FIFO line moves on, a revoked
    /// key is refused.
    async fn write_group_at_once(
        &self,
        conn: &mut sqlx::PgConnection,
        group: &[Queued],
        known: &mut Known,
    ) -> HubResult<Option<(Answers, Vec<IngestOutcome>)>> {
        let keys: HashSet<(&str, &str)> = group
            .iter()
            .filter_map(|q| q.key.as_ref())
            .map(|k| (k.org_id.as_str(), k.key_id.as_str()))
            .collect();
        let keys: Vec<(&str, &str)> = keys.into_iter().collect();
        let orgs = by_org(group, |_| false);
        let org_ids: Vec<&str> = orgs.iter().map(|(o, _)| *o).collect();
        let events: usize = group.iter().map(|q| q.events.len()).sum();
        let bodies: Vec<Vec<String>> = group
            .iter()
            .map(|q| q.events.iter().map(Event::to_body).collect())
            .collect();
        for fresh in [false, true] {
            if fresh || org_ids.iter().any(|o| !known.contains_key(*o)) {
                let (live, webhooks) = Store::ingest_context(conn, &keys, &org_ids).await?;
                if known.len() + org_ids.len() > KNOWN_ORGS {
                    known.clear();
                }
                for org in &org_ids {
                    let theirs = webhooks.iter().filter(|w| w.org_id == *org).cloned();
                    known.insert(org.to_string(), theirs.collect());
                }
                if live.len() != keys.len() {
                    return Ok(None);
                }
            }
            let webhooks: Vec<&WebhookRecord> =
                org_ids.iter().flat_map(|o| known[*o].iter()).collect();
            if events * (1 + webhooks.len()) > AT_ONCE_ROWS {
                return Ok(None);
            }
            if webhooks
                .iter()
                .any(|w| w.paused || w.settings.ordering == Ordering::Fifo)
            {
                if fresh {
                    return Ok(None);
                }
                // Perhaps resumed since it was read.
                continue;
            }
            let expected: Vec<(&str, &str, i64)> = webhooks
                .iter()
                .map(|w| (w.org_id.as_str(), w.id.as_str(), w.version))
                .collect();
            let plan = self.plan_at_once(group, &orgs, &webhooks, &bodies);
            let stored = Store::insert_events_at_once(
                conn,
                &org_ids,
                &expected,
                &keys,
                &plan.rows,
                &plan.deliveries,
                plan.now,
            )
            .await?;
            let Some(stored) = stored else {
                // Changed since read, or a key revoked: nothing written.
                for org in &org_ids {
                    known.remove(*org);
                }
                continue;
            };
            return Ok(Some(plan.outcomes(group, &orgs, &stored)));
        }
        Ok(None)
    }

    /// The events of a group written at once, and the deliveries of each
    /// to the webhooks it matches (every one of them running, unordered).
    fn plan_at_once<'g>(
        &self,
        group: &'g [Queued],
        orgs: &[(&'g str, Vec<usize>)],
        webhooks: &[&WebhookRecord],
        bodies: &'g [Vec<String>],
    ) -> AtOnce<'g> {
        let now = self.now();
        let lane = self
            .fast_lane_open()
            .then(|| now + self.settings.lease.as_millis() as Millis);
        let mut plan = AtOnce {
            now,
            rows: Vec::new(),
            deliveries: Vec::new(),
            planned: HashMap::new(),
        };
        for (org_id, members) in orgs {
            let hooks: Vec<(&WebhookRecord, Matcher)> = webhooks
                .iter()
                .filter(|w| w.org_id == *org_id)
                .map(|w| (*w, Matcher::new(&w.settings)))
                .collect();
            for &i in members {
                let trace = group[i].trace;
                for (event, body) in group[i].events.iter().zip(&bodies[i]) {
                    let key = (*org_id, event.event_id.as_str());
                    if plan.planned.contains_key(&key) {
                        continue;
                    }
                    let mut part = IngestOutcome::default();
                    let mut shared = None;
                    for (webhook, matcher) in &hooks {
                        if !matcher.matches(event) || is_about(event, &webhook.id) {
                            continue;
                        }
                        let mut d = new_delivery(
                            org_id,
                            &webhook.id,
                            0,
                            &event.event_id,
                            DeliveryStatus::Pending,
                            now,
                        );
                        self.lease_or_leave(
                            &mut d,
                            webhook,
                            event,
                            body,
                            &mut shared,
                            trace,
                            lane,
                            &mut part,
                        );
                        plan.deliveries.push(d);
                    }
                    plan.planned.insert(key, part);
                    plan.rows.push(EventRow {
                        org_id,
                        event,
                        body,
                        trace,
                    });
                }
            }
        }
        plan
    }

    async fn write_group(self: Arc<Self>, tx: Tx, group: Vec<Queued>, answer_on: &Handle) {
        // Together first, with no savepoint (each is a round trip to the
        // store's writer); if an organisation's shared write fails for a
        // reason of its own, that transaction is dropped and the group is
        // written again with each request under a savepoint of its own.
        let written = match self.write_and_commit(tx, &group, false).await {
            Err(Unwritten::Split(err)) => {
                split_warning(&err);
                match self.store.begin().await {
                    Ok(tx) => self.write_and_commit(tx, &group, true).await,
                    Err(e) => Err(Unwritten::Failed(e.into())),
                }
            }
            other => other,
        };
        self.answer_group(group, written, answer_on).await;
    }

    /// SQLite: the group written on the writer's handle from this thread
    /// (`storage::direct`): one round trip to sqlx's thread for the whole
    /// transaction, where each statement was one. The queue is read once
    /// the handle is had, as on PostgreSQL.
    async fn write_group_direct(
        self: Arc<Self>,
        first: Queued,
        rx: &mut mpsc::UnboundedReceiver<Queued>,
        answer_on: &Handle,
    ) {
        let mut group = vec![first];
        let wrote = self
            .store
            .with_sqlite_writer(|conn| {
                take_waiting(&mut group, rx);
                let attempt = |one_by_one| -> Result<(Answers, Vec<IngestOutcome>), Unwritten> {
                    let mut tx = Direct::begin(conn)?;
                    let written = run_direct(self.write_all(&mut tx, &group, one_by_one))?;
                    tx.commit()?;
                    Ok(written)
                };
                match attempt(false) {
                    Err(Unwritten::Split(err)) => {
                        split_warning(&err);
                        attempt(true)
                    }
                    other => other,
                }
            })
            .await;
        let written = match wrote {
            Ok(Some(w)) => w.map(|(answers, done)| (self.store.unsynced(), answers, done)),
            Ok(None) => Err(Unwritten::Failed(HubError::Internal(
                "a direct write on a store that is not SQLite".into(),
            ))),
            Err(e) => Err(Unwritten::Failed(e.into())),
        };
        self.answer_group(group, written, answer_on).await;
    }

    /// Answers each request of a group once its commit is durable (or
    /// each with the group's failure); on SQLite from a task on
    /// `answer_on` while the next group is written.
    async fn answer_group(
        self: Arc<Self>,
        group: Vec<Queued>,
        written: Result<Written, Unwritten>,
        answer_on: &Handle,
    ) {
        let (committed, answers, done) = match written {
            Ok(w) => w,
            Err(Unwritten::Failed(e) | Unwritten::Split(e)) => return fail_all(group, &e),
        };
        self.metrics.ingest_commits.inc();
        self.metrics.ingest_requests.inc_by(group.len() as u64);
        let hub = self.clone();
        let finish = async move {
            if let Err(e) = committed.durable().await {
                return fail_all(group, &e.into());
            }
            for outcome in &done {
                hub.after_commit(outcome);
            }
            for (q, answer) in group.into_iter().zip(answers) {
                let _ = q.reply.send(answer.expect("every request has an answer"));
            }
        };
        // The next group may write while the disk syncs this one.
        match self.store.backend() {
            Backend::Sqlite => {
                answer_on.spawn(finish);
            }
            Backend::Postgres => finish.await,
        }
    }

    async fn write_and_commit(
        &self,
        mut tx: Tx,
        group: &[Queued],
        one_by_one: bool,
    ) -> Result<Written, Unwritten> {
        let (answers, done) = self.write_all(&mut tx, group, one_by_one).await?;
        let committed = tx.commit_deferred().await.map_err(HubError::from)?;
        Ok((committed, answers, done))
    }

    /// Writes a group in `tx`: each organisation's requests together, or
    /// with `one_by_one` each request under its own savepoint.
    async fn write_all<W: Writes>(
        &self,
        tx: &mut W,
        group: &[Queued],
        one_by_one: bool,
    ) -> Result<(Answers, Vec<IngestOutcome>), Unwritten> {
        let mut answers: Answers = (0..group.len()).map(|_| None).collect();
        let mut done = Vec::new();
        self.check_keys(tx, group, &mut answers).await?;
        for (org_id, members) in by_org(group, |i| answers[i].is_some()) {
            if one_by_one {
                self.write_one_by_one(tx, org_id, &members, group, &mut answers, &mut done)
                    .await?;
                continue;
            }
            let incoming: Vec<Incoming> = members
                .iter()
                .flat_map(|&i| {
                    let trace = group[i].trace;
                    group[i]
                        .events
                        .iter()
                        .cloned()
                        .map(move |e| Incoming::traced(e, trace))
                })
                .collect();
            match self.ingest_in_tx(tx, org_id, incoming).await {
                Ok(outcome) => {
                    let parts = split(&outcome, &members, group);
                    for (&i, part) in members.iter().zip(parts) {
                        answers[i] = Some(Ok(part));
                    }
                    done.push(outcome);
                }
                // Alone in its group, a request's failure is the group's;
                // with the store away, every request fails.
                Err(e) if group.len() == 1 || unavailable(&e) => return Err(Unwritten::Failed(e)),
                Err(e) => return Err(Unwritten::Split(e)),
            }
        }
        Ok((answers, done))
    }

    /// Refuses the requests whose cached key has been revoked since.
    async fn check_keys<W: Writes>(
        &self,
        tx: &mut W,
        group: &[Queued],
        answers: &mut Answers,
    ) -> HubResult<()> {
        let keys: HashSet<&KeyRef> = group.iter().filter_map(|q| q.key.as_ref()).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.org_id.as_str(), k.key_id.as_str()))
            .collect();
        let live: HashSet<String> = tx.live_keys(&pairs).await?.into_iter().collect();
        if live.len() == keys.len() {
            return Ok(());
        }
        self.principal_cache.forget_all();
        for (i, q) in group.iter().enumerate() {
            if q.key.as_ref().is_some_and(|k| !live.contains(&k.key_id)) {
                answers[i] = Some(Err(HubError::Unauthenticated(
                    "token is unknown, revoked or expired",
                )));
            }
        }
        Ok(())
    }

    /// One organisation's requests, each under its own savepoint, so one
    /// request's failure is its own answer. An error returned fails the
    /// whole group (the store is away).
    async fn write_one_by_one<W: Writes>(
        &self,
        tx: &mut W,
        org_id: &str,
        members: &[usize],
        group: &[Queued],
        answers: &mut Answers,
        done: &mut Vec<IngestOutcome>,
    ) -> HubResult<()> {
        const ONE: &str = "ingest_request";
        for &i in members {
            tx.savepoint(ONE).await?;
            let trace = group[i].trace;
            let incoming = group[i]
                .events
                .iter()
                .cloned()
                .map(|e| Incoming::traced(e, trace))
                .collect();
            match self.ingest_in_tx(tx, org_id, incoming).await {
                Ok(outcome) => {
                    tx.release(ONE).await?;
                    answers[i] = Some(Ok(split(&outcome, &[i], group).remove(0)));
                    done.push(outcome);
                }
                Err(e) if unavailable(&e) => return Err(e),
                Err(e) => {
                    tx.rollback_to(ONE).await?;
                    answers[i] = Some(Err(e));
                }
            }
        }
        Ok(())
    }
}

/// A group planned to be written at once ([`Hub::plan_at_once`]).
struct AtOnce<'g> {
    now: Millis,
    rows: Vec<EventRow<'g>>,
    deliveries: Vec<NewDelivery>,
    /// What each event (an id's first time in its organisation) adds to
    /// its organisation's outcome if it is stored.
    planned: HashMap<(&'g str, &'g str), IngestOutcome>,
}

impl<'g> AtOnce<'g> {
    /// Each request's answer and each organisation's outcome, given the
    /// (organisation, event id) of the events the statement stored.
    fn outcomes(
        mut self,
        group: &'g [Queued],
        orgs: &[(&'g str, Vec<usize>)],
        stored: &[(String, String)],
    ) -> (Answers, Vec<IngestOutcome>) {
        let stored: HashSet<(&str, &str)> = stored
            .iter()
            .map(|(o, e)| (o.as_str(), e.as_str()))
            .collect();
        let mut answers: Answers = (0..group.len()).map(|_| None).collect();
        let mut done = Vec::with_capacity(orgs.len());
        for (org_id, members) in orgs {
            let mut outcome = IngestOutcome::default();
            for &i in members {
                for event in &group[i].events {
                    let key = (*org_id, event.event_id.as_str());
                    // An id's first time takes its plan; a repeat of it is
                    // a duplicate, as is an id known already.
                    match self.planned.remove(&key) {
                        Some(part) if stored.contains(&key) => {
                            outcome.accepted.push(event.event_id.clone());
                            outcome.pending += part.pending;
                            outcome.pending_events.extend(part.pending_events);
                            outcome.claimed.extend(part.claimed);
                        }
                        _ => outcome.duplicates.push(event.event_id.clone()),
                    }
                }
            }
            for (&i, part) in members.iter().zip(split(&outcome, members, group)) {
                answers[i] = Some(Ok(part));
            }
            done.push(outcome);
        }
        (answers, done)
    }
}

/// Why a group was not written: a failure every request of it shares, or
/// one organisation's shared write failing for a reason of its own (the
/// group is then written again request by request).
enum Unwritten {
    Failed(HubError),
    Split(HubError),
}

/// A group committed: its commit, each request's answer, and the outcomes
/// to act on once it is durable.
type Written = (crate::storage::Committed, Answers, Vec<IngestOutcome>);

impl From<HubError> for Unwritten {
    fn from(e: HubError) -> Unwritten {
        Unwritten::Failed(e)
    }
}

impl From<crate::storage::StoreError> for Unwritten {
    fn from(e: crate::storage::StoreError) -> Unwritten {
        Unwritten::Failed(e.into())
    }
}

fn split_warning(err: &HubError) {
    tracing::warn!(error = %format!("{err:#}"), "a grouped ingest failed; writing its requests one by one");
}

fn unavailable(err: &HubError) -> bool {
    matches!(err, HubError::Store(e) if e.is_unavailable())
}

/// Each member request's share of an outcome written for several: its
/// events accepted or duplicate, in its own order, and the deliveries of
/// its accepted events. Own events the fan-out raised (overflow reports)
/// belong to no request.
fn split(outcome: &IngestOutcome, members: &[usize], group: &[Queued]) -> Vec<IngestOutcome> {
    let mut unclaimed: HashSet<&str> = outcome.accepted.iter().map(String::as_str).collect();
    let mut owner: HashMap<&str, usize> = HashMap::new();
    let mut parts: Vec<IngestOutcome> = members.iter().map(|_| IngestOutcome::default()).collect();
    for (m, &i) in members.iter().enumerate() {
        for e in &group[i].events {
            if unclaimed.remove(e.event_id.as_str()) {
                owner.insert(&e.event_id, m);
                parts[m].accepted.push(e.event_id.clone());
            } else {
                parts[m].duplicates.push(e.event_id.clone());
            }
        }
    }
    for d in &outcome.claimed {
        if let Some(&m) = owner.get(d.event_id.as_str()) {
            parts[m].claimed.push(d.clone());
        }
    }
    for id in &outcome.pending_events {
        if let Some(&m) = owner.get(id.as_str()) {
            parts[m].pending += 1;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::storage::StoreError;

    fn queued(arrived: Instant) -> (Queued, oneshot::Receiver<HubResult<IngestOutcome>>) {
        let (reply, answer) = oneshot::channel();
        let q = Queued {
            org_id: "org_a".into(),
            events: Vec::new(),
            key: None,
            trace: None,
            reply,
            arrived,
        };
        (q, answer)
    }

    #[tokio::test]
    async fn a_request_queued_through_a_wait_that_found_the_store_away_is_answered_at_once() {
        let away = Away::default();
        let before = Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let during = Arc::new(std::sync::Mutex::new(None));
        let seen = during.clone();
        let waited = away
            .noting(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                *seen.lock().unwrap() = Some(Instant::now());
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err::<(), _>(StoreError::Db(sqlx::Error::PoolTimedOut))
            })
            .await;
        assert!(waited.is_err());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let during = during.lock().unwrap().unwrap();
        let after = Instant::now();

        // Queued before the wait began (another writer had taken the group
        // before it), or while it went on: both waited through it.
        let (early, mut early_answer) = queued(before);
        let (mid, mut mid_answer) = queued(during);
        let (late, _c) = queued(after);
        let left = away.answer_arrived_while_away(vec![early, mid, late]);
        let arrivals: Vec<Instant> = left.iter().map(|q| q.arrived).collect();
        assert_eq!(
            arrivals,
            vec![after],
            "only the one that came after the wait is left to wait"
        );
        for answer in [&mut early_answer, &mut mid_answer] {
            assert!(matches!(answer.try_recv(), Ok(Err(HubError::Unavailable))));
        }

        // A wait that finds the store back forgets the outage.
        away.noting(async { Ok::<(), StoreError>(()) })
            .await
            .unwrap();
        let (mid, _d) = queued(during);
        assert_eq!(away.answer_arrived_while_away(vec![mid]).len(), 1);
    }

    /// A request of `n` events.
    fn of_events(n: usize) -> Queued {
        let (mut q, _answer) = queued(Instant::now());
        q.events = (0..n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "event_id": format!("evt_{i}"),
                    "timestamp": "2026-12-07T00:00:00Z",
                    "category": "SHARING",
                    "action": "share.member_added",
                    "payload": {},
                }))
                .expect("an event")
            })
            .collect();
        q
    }

    type Gathered = (Vec<Queued>, mpsc::UnboundedReceiver<Queued>);

    fn gathering(
        writing: &Writing,
        mut group: Vec<Queued>,
        mut rx: mpsc::UnboundedReceiver<Queued>,
    ) -> tokio::task::JoinHandle<Gathered> {
        let writing = writing.clone();
        tokio::spawn(async move {
            writing.gather(&mut group, &mut rx).await;
            (group, rx)
        })
    }

    #[tokio::test]
    async fn a_writer_gathers_while_the_other_writes_unless_its_group_is_big() {
        let writing = Writing::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let within = Duration::from_secs(5);

        // Nobody else writing: the group goes as it is.
        let (group, rx) = tokio::time::timeout(within, gathering(&writing, vec![of_events(1)], rx))
            .await
            .expect("not held")
            .unwrap();
        assert_eq!(group.len(), 1);

        // The other writer writing: small requests join until its turn ends.
        let turn = writing.start();
        let held = gathering(&writing, vec![of_events(1)], rx);
        tx.send(of_events(1)).unwrap();
        tx.send(of_events(2)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !held.is_finished(),
            "a small group waits for the other's turn"
        );
        drop(turn);
        let (group, rx) = tokio::time::timeout(within, held)
            .await
            .expect("released when the other's turn ends")
            .unwrap();
        assert_eq!(group.iter().map(|q| q.events.len()).sum::<usize>(), 4);

        // A group that reaches OVERLAP_EVENTS is written beside the other.
        let _turn = writing.start();
        let held = gathering(&writing, vec![of_events(1)], rx);
        tx.send(of_events(OVERLAP_EVENTS - 1)).unwrap();
        let (group, _rx) = tokio::time::timeout(within, held)
            .await
            .expect("a big group is not held")
            .unwrap();
        assert_eq!(group.len(), 2);
    }

    #[tokio::test]
    async fn a_wait_refused_for_another_reason_is_not_an_outage() {
        let away = Away::default();
        let began = Instant::now();
        let refused = away
            .noting(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err::<(), _>(StoreError::Db(sqlx::Error::RowNotFound))
            })
            .await;
        assert!(refused.is_err());
        let (q, _a) = queued(began + Duration::from_millis(1));
        assert_eq!(away.answer_arrived_while_away(vec![q]).len(), 1);
    }
}
