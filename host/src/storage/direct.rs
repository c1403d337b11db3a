//! Statements run on SQLite's writer handle from the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and every
//! statement is a message to that thread and an answer back. Under many
//! single-event ingest requests those round trips, not the SQL, set the
//! pace: a group's six statements cost 100–200 µs each in thread wakeups
//! while the writer was held. [`Store::with_sqlite_writer`] takes the
//! writer connection's handle from sqlx's thread once (one round trip) and
//! runs a whole transaction on it synchronously, on the caller's thread,
//! through rusqlite; the handle goes back to sqlx when it returns.
//!
//! Only the statements ingest needs exist here ([`Writes`], implemented for
//! both a sqlx [`Tx`] and a [`Direct`] transaction), so the fan-out is
//! written once for both.

use std::collections::BTreeSet;

use futures_util::FutureExt;

use super::deliveries::NewDelivery;
use super::lines::LineKey;
use super::webhooks::WebhookRecord;
use super::{Store, StoreError, StoreResult, Tx};
use crate::clock::Millis;
use crate::domain::Event;
use crate::traces::TraceParent;

/// A transaction open on the SQLite writer's handle (see the module docs).
/// Dropped without [`Direct::commit`], it is rolled back.
pub struct Direct<'c> {
    conn: &'c rusqlite::Connection,
    open: bool,
}

/// A savepoint name in SQL (a fixed identifier, never input).
fn savepoint_sql(verb: &str, name: &'static str) -> String {
    format!("{verb} {name}")
}

impl<'c> Direct<'c> {
    /// Begins a write transaction (`BEGIN IMMEDIATE`: the write lock is
    /// taken at once, so a database locked by another process is met here,
    /// before anything is written).
    pub fn begin(conn: &'c rusqlite::Connection) -> StoreResult<Direct<'c>> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Direct { conn, open: true })
    }

    /// Commits. On SQLite the caller still owes the log's sync
    /// ([`super::Committed::durable`]).
    pub fn commit(mut self) -> StoreResult<()> {
        self.open = false;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            // A failed COMMIT may leave the transaction open.
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }
}

impl Drop for Direct<'_> {
    fn drop(&mut self) {
        // The handle goes back to sqlx, which must not find a transaction
        // it did not begin.
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Store {
    /// Runs `work` with SQLite's writer handle, on this thread, once sqlx's
    /// thread has let go of it (see the module docs); `None` on PostgreSQL.
    /// `work` must leave no transaction open ([`Direct`] sees to that).
    /// It blocks this thread for as long as it runs: call it from the
    /// store-writer runtime, which runs nothing else that could proceed
    /// without the writer.
    pub async fn with_sqlite_writer<R>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> R,
    ) -> StoreResult<Option<R>> {
        let Store::Sqlite { write, kept, .. } = self else {
            return Ok(None);
        };
        let mut pooled = write.acquire().await?;
        let mut locked = pooled.lock_handle().await?;
        let handle = locked.as_raw_handle();
        let mut state = kept.0.lock().unwrap_or_else(|e| e.into_inner());
        let (closing, slot) = &mut *state;
        if slot.as_ref().map(|(h, _)| *h) != Some(handle.as_ptr() as usize) {
            // SAFETY: `locked` holds the connection's lock, so sqlx's
            // thread does not touch the handle while `work` runs; rusqlite
            // does not close a handle it was lent (`from_handle`). The
            // handle outlives what rusqlite prepared on it: the write pool
            // never closes its connection on its own (no lifetime or idle
            // limit, `Store::connect`), and `KeptHandle` is dropped before
            // the pool, in `Store::close` and in the store's drop. (Were
            // the handle closed under it anyway, SQLite would refuse to
            // close a handle with statements left, so finalizing them here
            // stays sound.) libsqlite3-sys is one crate for both.
            let conn = unsafe { rusqlite::Connection::from_handle(handle.as_ptr()) }?;
            *slot = Some((handle.as_ptr() as usize, conn));
        }
        let (_, conn) = slot.as_ref().expect("set above");
        let out = work(conn);
        if !conn.is_autocommit() {
            // Never expected; the connection must not go back mid-transaction.
            let _ = conn.execute_batch("ROLLBACK");
        }
        if *closing {
            // The store is closing: nothing stays prepared on the handle.
            *slot = None;
        }
        drop(state);
        drop(locked);
        Ok(Some(out))
    }
}

/// rusqlite's view of the SQLite writer handle, kept between hand-overs so
/// that the statements it prepares are prepared once (afresh each group
/// they were ~3 % of a single event's CPU). Keyed by the handle's address.
/// Once the store is closing (the flag), nothing is kept past a hand-over.
#[derive(Default)]
pub struct KeptHandle(std::sync::Mutex<(bool, Option<(usize, rusqlite::Connection)>)>);

impl KeptHandle {
    /// Finalizes what was prepared, and keeps nothing from now on: before
    /// the handle's connection closes.
    pub fn forget(&self) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = true;
        state.1 = None;
    }
}

impl std::fmt::Debug for KeptHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeptHandle")
    }
}

/// Runs a future that never waits — one driving a [`Direct`] transaction,
/// whose statements all complete on the spot — to its end.
pub fn run_direct<T, E: From<StoreError>>(
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    work.now_or_never().unwrap_or_else(|| {
        Err(StoreError::Corrupt("a direct SQLite write waited on something".into()).into())
    })
}

/// Declares [`Writes`] and its two implementations from one list: each
/// statement's name and arguments, what it answers, and the function that
/// runs it on SQLite's handle. A [`Tx`] runs its own method of that name.
macro_rules! writes {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty = $now:path;)*) => {
        /// The statements ingest runs in its transaction, on a sqlx [`Tx`]
        /// (any store) or a [`Direct`] one (SQLite's writer handle).
        pub trait Writes {
            $($(#[$doc])*
            fn $name(&mut self, $($arg: $ty),*) -> impl Future<Output = StoreResult<$out>> + Send;)*
        }

        impl Writes for Tx {
            $(fn $name(&mut self, $($arg: $ty),*) -> impl Future<Output = StoreResult<$out>> + Send {
                Tx::$name(self, $($arg),*)
            })*
        }

        /// Each answer is ready when asked for: the statement ran on the spot.
        impl Writes for Direct<'_> {
            $(fn $name(&mut self, $($arg: $ty),*) -> impl Future<Output = StoreResult<$out>> + Send {
                std::future::ready($now(self.conn, $($arg),*))
            })*
        }
    };
}

writes! {
    /// Which of the keys (organisation, key id) are still unrevoked.
    fn live_keys(keys: &[(&str, &str)]) -> Vec<String> = super::orgs::live_keys_now;
    fn webhooks_of_org(org_id: &str) -> Vec<WebhookRecord> = super::webhooks::webhooks_of_org_now;
    fn insert_events(
        org_id: &str,
        events: &[(&Event, &str, Option<TraceParent>)],
        now: Millis
    ) -> Vec<Option<i64>> = super::events::insert_events_now;
    fn queued_count(org_id: &str, webhook_id: &str) -> i64 = super::deliveries::queued_count_now;
    fn insert_deliveries(rows: &[NewDelivery]) -> () = super::deliveries::insert_deliveries_now;
    fn advance_lines(lines: &BTreeSet<LineKey>, now: Millis) -> u64 = super::lines::advance_lines_now;
    fn add_overflow(
        org_id: &str,
        webhook_id: &str,
        count: i64,
        now: Millis
    ) -> () = super::webhooks::add_overflow_now;
    fn savepoint(name: &'static str) -> () = savepoint_now;
    fn release(name: &'static str) -> () = release_now;
    fn rollback_to(name: &'static str) -> () = rollback_to_now;
}

fn savepoint_now(conn: &rusqlite::Connection, name: &'static str) -> StoreResult<()> {
    Ok(conn.execute_batch(&savepoint_sql("SAVEPOINT", name))?)
}

fn release_now(conn: &rusqlite::Connection, name: &'static str) -> StoreResult<()> {
    Ok(conn.execute_batch(&savepoint_sql("RELEASE SAVEPOINT", name))?)
}

fn rollback_to_now(conn: &rusqlite::Connection, name: &'static str) -> StoreResult<()> {
    conn.execute_batch(&savepoint_sql("ROLLBACK TO SAVEPOINT", name))?;
    release_now(conn, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{on_read, on_tx};

    fn event(id: &str) -> Event {
        Event::from_json(
            &serde_json::json!({
                "event_id": id, "timestamp": "2026-05-12T16:23:01Z", "category": "SHARING",
                "action": "share.member_added", "user_id": "usr_1", "payload": {}
            }),
            "",
        )
        .unwrap()
    }

    async fn store_with_orgs(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}/d.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        for org in ["a", "b"] {
            on_tx!(&mut tx, c => {
                sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $1, 0)")
                    .bind(org)
                    .execute(&mut *c)
                    .await
                    .unwrap();
            });
        }
        tx.commit().await.unwrap();
        store
    }

    /// Stores `event` in organisation `a` on the handle, committing or
    /// dropping the transaction (which rolls it back).
    async fn insert_on_handle(store: &Store, event: &Event, commit: bool) {
        store
            .with_sqlite_writer(|conn| {
                let mut tx = Direct::begin(conn).unwrap();
                run_direct(Writes::insert_events(
                    &mut tx,
                    "a",
                    &[(event, "{}", None)],
                    1,
                ))
                .unwrap();
                if commit {
                    tx.commit().unwrap();
                }
            })
            .await
            .unwrap();
    }

    /// The handle's statements store what sqlx's would: the same answers
    /// for the same batch (new, repeated within it, already stored), in
    /// one organisation each.
    #[tokio::test]
    async fn direct_inserts_answer_as_sqlx_ones_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_orgs(&dir).await;
        let (one, two) = (event("evt_1"), event("evt_2"));
        let batch = [(&one, "{}", None), (&two, "{}", None), (&one, "{}", None)];
        let mut tx = store.begin().await.unwrap();
        let by_sqlx = [
            tx.insert_events("a", &batch, 7).await.unwrap(),
            tx.insert_events("a", &batch, 7).await.unwrap(),
        ];
        tx.commit().await.unwrap();
        let by_handle = store
            .with_sqlite_writer(|conn| {
                let mut tx = Direct::begin(conn)?;
                let answers = [
                    run_direct(Writes::insert_events(&mut tx, "b", &batch, 7))?,
                    run_direct(Writes::insert_events(&mut tx, "b", &batch, 7))?,
                ];
                tx.commit()?;
                StoreResult::Ok(answers)
            })
            .await
            .unwrap()
            .expect("SQLite")
            .unwrap();
        let shape = |a: &[Vec<Option<i64>>; 2]| {
            a.iter()
                .map(|v| v.iter().map(Option::is_some).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shape(&by_sqlx),
            vec![vec![true, true, false], vec![false, false, false]]
        );
        assert_eq!(shape(&by_handle), shape(&by_sqlx));
        let count = |org: &'static str| {
            let store = store.clone();
            async move {
                on_read!(&store, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE org_id = $1")
                    .bind(org)
                    .fetch_one(p)
                    .await
                    .unwrap())
            }
        };
        assert_eq!((count("a").await, count("b").await), (2, 2));
    }

    /// What rusqlite prepared stays between hand-overs, and is gone before
    /// the store closes its connection: the close then completes, which
    /// SQLite shows by removing the log (a handle refused its close, with
    /// statements left, would keep it).
    #[tokio::test]
    async fn kept_statements_are_reused_and_released_before_the_close() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_orgs(&dir).await;
        let one = event("evt_1");
        for _ in 0..2 {
            insert_on_handle(&store, &one, true).await;
        }
        let Store::Sqlite { kept, wal, .. } = &store else {
            panic!("not SQLite")
        };
        let kept = kept.clone();
        let wal = wal.clone();
        assert!(
            kept.0.lock().unwrap().1.is_some(),
            "kept between hand-overs"
        );
        assert!(wal.exists());
        store.close().await;
        assert!(kept.0.lock().unwrap().1.is_none());
        assert!(!wal.exists(), "every connection closed, the log with them");
    }

    /// A transaction on the handle that fails, or is left without a
    /// commit, leaves nothing behind, and sqlx gets its connection back
    /// out of any transaction.
    #[tokio::test]
    async fn an_unfinished_direct_write_is_rolled_back_and_the_writer_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_orgs(&dir).await;
        let one = event("evt_1");
        let failed = store
            .with_sqlite_writer(|conn| {
                let mut tx = Direct::begin(conn)?;
                run_direct(Writes::insert_events(
                    &mut tx,
                    "a",
                    &[(&one, "{}", None)],
                    1,
                ))?;
                // An organisation that does not exist breaks a foreign key.
                run_direct(Writes::insert_events(
                    &mut tx,
                    "nobody",
                    &[(&one, "{}", None)],
                    1,
                ))?;
                tx.commit()
            })
            .await
            .unwrap()
            .expect("SQLite");
        assert!(failed.is_err(), "a missing organisation is refused");
        insert_on_handle(&store, &one, false).await;
        // sqlx's own transactions run as before, and see no event.
        let mut tx = store.begin().await.unwrap();
        let stored = tx
            .insert_events("a", &[(&one, "{}", None)], 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(stored[0].is_some(), "neither earlier write kept the event");
    }
}
