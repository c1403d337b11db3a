//! What processes sharing one PostgreSQL tell each other through it:
//! announcements that work fell due (`NOTIFY` on [`WORK_CHANNEL`], heard
//! with `LISTEN`), who works on the database from which host (see
//! [`Store::beat`]), and the upkeep of this process's leases (renewed while
//! it lives, released when it stops). On SQLite one process owns the file,
//! so there is no one to tell: announcing does nothing and there is no
//! listener.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::{Backend, Store, StoreResult, on_write};
use crate::clock::Millis;

/// The channel on which work that fell due is announced. Its payload is the
/// announcing process's lease owner id, so a process can ignore its own.
pub const WORK_CHANNEL: &str = "scaihub_work";

/// Announcements on [`WORK_CHANNEL`] whose payload starts with this are
/// not work: a process joined or left, and the others count again who
/// shares their host (lease owner ids never contain a colon).
pub const PEERS_PREFIX: &str = "peers:";

/// The database's clock in milliseconds since the epoch, for judging
/// liveness by one clock across processes.
fn db_now_ms(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Backend::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    }
}

/// What a [`WorkListener`] heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// A process announced work; the payload names it.
    Work(String),
    /// A process (named) joined or left.
    Peers(String),
    /// The connection was lost and re-established: announcements made in
    /// between were missed.
    Reconnected,
}

/// A dedicated connection that listens on [`WORK_CHANNEL`].
pub struct WorkListener {
    listener: PgListener,
}

impl WorkListener {
    /// The next announcement, or the news that some may have been missed.
    pub async fn next(&mut self) -> StoreResult<Heard> {
        Ok(match self.listener.try_recv().await? {
            Some(n) => match n.payload().strip_prefix(PEERS_PREFIX) {
                Some(owner) => Heard::Peers(owner.to_string()),
                None => Heard::Work(n.payload().to_string()),
            },
            None => Heard::Reconnected,
        })
    }
}

impl Store {
    /// Tells every listening process that work fell due in the store.
    pub async fn announce_work(&self, from: &str) -> StoreResult<()> {
        if let Store::Postgres(pool) = self {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(WORK_CHANNEL)
                .bind(from)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Tells every listening process that `from` joined or left, so they
    /// count again who shares their host.
    pub async fn announce_peers(&self, from: &str) -> StoreResult<()> {
        self.announce_work(&format!("{PEERS_PREFIX}{from}")).await
    }

    /// Marks `owner`, running on `host`, alive at `now`; forgets processes
    /// not seen since `forget_before` (long dead); answers how many
    /// processes on `host` were seen since `live_since`, this one included.
    pub async fn beat(
        &self,
        owner: &str,
        host: &str,
        now: Millis,
        live_since: Millis,
        forget_before: Millis,
    ) -> StoreResult<usize> {
        let now_ms = db_now_ms(self.backend());
        on_write!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO workers (owner, host, seen_at, alive_at) VALUES ($1, $2, $3, {now_ms}) \
                 ON CONFLICT (owner) DO UPDATE SET host = excluded.host, seen_at = excluded.seen_at, \
                 alive_at = excluded.alive_at"
            )))
            .bind(owner)
            .bind(host)
            .bind(now)
            .execute(p)
            .await?;
            sqlx::query("DELETE FROM workers WHERE seen_at < $1")
                .bind(forget_before)
                .execute(p)
                .await?;
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM workers WHERE host = $1 AND (seen_at >= $2 OR owner = $3)",
            )
            .bind(host)
            .bind(live_since)
            .bind(owner)
            .fetch_one(p)
            .await?;
            Ok(live.max(1) as usize)
        })
    }

    /// `owner` stops: it no longer counts on its host.
    /// Releases the leases of every process that has not marked itself
    /// alive for `dead_after` by the database's clock, so the living take
    /// its deliveries over at once rather than when each lease ends, and
    /// forgets it. Answers (process, leases released) for each one found
    /// dead. Its row goes in the same transaction, and only while it is
    /// still stale, so a process that comes back in between keeps both.
    pub async fn take_over_dead(
        &self,
        dead_after: Duration,
        now: Millis,
    ) -> StoreResult<Vec<(String, u64)>> {
        let Store::Postgres(pool) = self else {
            // One process owns an SQLite file: a restart releases all.
            return Ok(Vec::new());
        };
        let stale = format!("alive_at < {} - $1", db_now_ms(Backend::Postgres));
        let dead: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT owner FROM workers WHERE {stale} ORDER BY owner"
        )))
        .bind(dead_after.as_millis() as i64)
        .fetch_all(pool)
        .await?;
        let mut out = Vec::new();
        for owner in dead {
            let mut tx = pool.begin().await?;
            let gone = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM workers WHERE owner = $2 AND {stale}"
            )))
            .bind(dead_after.as_millis() as i64)
            .bind(&owner)
            .execute(&mut *tx)
            .await?;
            if gone.rows_affected() == 0 {
                continue;
            }
            let (table, key) = self.owed_table();
            let released = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET lease_owner = NULL, lease_until = NULL, next_attempt_at = {} \
                 WHERE lease_owner = $2 AND status IN ('pending', 'retrying')",
                super::deliveries::unleased_due(table, key)
            )))
            .bind(now)
            .bind(&owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            out.push((owner, released));
        }
        Ok(out)
    }

    /// Which of `ids` are still leased to `owner` (all of them on SQLite,
    /// where no other process takes leases over).
    pub async fn still_leased(&self, owner: &str, ids: &[String]) -> StoreResult<Vec<String>> {
        let Store::Postgres(pool) = self else {
            return Ok(ids.to_vec());
        };
        let (table, key) = self.owed_table();
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {key} FROM {table} WHERE {key} = ANY($2) AND lease_owner = $1"
        )))
        .bind(owner)
        .bind(ids)
        .fetch_all(pool)
        .await?)
    }

    pub async fn leave(&self, owner: &str) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("DELETE FROM workers WHERE owner = $1")
                .bind(owner)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    /// Opens a listener on its own connection (not one of the pool's, which
    /// it would hold forever); `None` on SQLite.
    pub async fn listen_for_work(&self) -> StoreResult<Option<WorkListener>> {
        let Store::Postgres(pool) = self else {
            return Ok(None);
        };
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with((*pool.connect_options()).clone())
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(WORK_CHANNEL).await?;
        Ok(Some(WorkListener { listener }))
    }

    /// Extends to `until` the leases `owner` holds on deliveries it has not
    /// finished and that end before `before` (they fall due at `until`,
    /// should this process die). Only leases that ended after `since` are
    /// looked at, so the index on due deliveries serves. Answers how many
    /// were renewed.
    pub async fn renew_leases(
        &self,
        owner: &str,
        since: Millis,
        before: Millis,
        until: Millis,
    ) -> StoreResult<u64> {
        // Rows another statement holds (being recorded, or claimed by a
        // peer because the lease already ended) are skipped, not waited
        // for: renewing never waits, so it never deadlocks the recorder.
        let lock = if self.backend() == Backend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let (table, key) = self.owed_table();
        let picked = self.owed_picked(&format!(
            "SELECT {key} FROM {table} WHERE status IN ('pending', 'retrying') \
               AND next_attempt_at > $2 AND next_attempt_at < $3 AND lease_owner = $1{lock}"
        ));
        let sql =
            format!("UPDATE {table} SET lease_until = $4, next_attempt_at = $4 WHERE {picked}");
        on_write!(self, p => {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(since)
                .bind(before)
                .bind(until)
                .execute(p)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Gives up every lease `owner` still holds (a graceful stop, after its
    /// attempts in flight were recorded): those deliveries are due at once
    /// for the other processes, never-tried ones by creation time.
    pub async fn release_leases(&self, owner: &str, now: Millis) -> StoreResult<u64> {
        on_write!(self, p => {
            let (table, key) = self.owed_table();
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET lease_owner = NULL, lease_until = NULL, next_attempt_at = {} \
                 WHERE lease_owner = $2 AND status IN ('pending', 'retrying')",
                super::deliveries::unleased_due(table, key)
            )))
            .bind(now)
            .bind(owner)
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
