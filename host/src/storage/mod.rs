//! Storage: the only module that speaks SQL.
//!
//! One [`Store`] over either embedded SQLite or PostgreSQL. Queries are
//! written once in the SQL both understand (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`) and compiled for each backend by the [`on_read!`],
//! [`on_write!`] and [`on_tx!`] macros; the few places where the databases
//! differ (claiming work) branch explicitly.
//!
//! SQLite gets a single writer connection (SQLite serialises writers anyway;
//! one connection avoids busy-waiting) and a small pool of readers in WAL mode.
//!
//! Durability on SQLite: what a caller was told is stored survives power
//! loss, not only a crash — an accepted event, a new webhook, a rotated
//! secret. The connection runs `synchronous = NORMAL` (in WAL mode a commit
//! is safe against a crash of the process at once), and a durable commit
//! then syncs the write-ahead log itself ([`Store::sync_wal`]) after giving
//! the writer back, so the next transaction does not wait for the disk and
//! commits that finish together share one sync. Delivery bookkeeping that
//! may be lost without losing anything owed — leases (released at every
//! start) and attempt results (a lost result means the delivery is sent
//! again) — skips the sync ([`Store::begin_relaxed`], [`Store::claim_due`]);
//! the next durable commit's sync covers it too. On PostgreSQL attempt
//! results skip the log flush the same way (`synchronous_commit = off` in
//! [`Store::begin_relaxed`]'s transaction).

pub mod applications;
pub mod charts;
pub mod compiles;
pub mod deliveries;
pub mod direct;
pub mod events;
pub mod health;
pub mod limits;
pub mod lines;
pub mod notify;
pub mod oidc;
pub mod orgs;
pub mod plugins;
pub mod retention;
#[cfg(test)]
mod scoping;
pub mod scripts;
pub mod sessions;
pub mod webhooks;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// A storage failure. The cause is kept for logs; callers see "internal".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// A statement run on SQLite's writer handle directly ([`direct`]).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a request waits for a database connection before it is told
/// the store is unavailable (rather than hanging for sqlx's 30 s default).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl StoreError {
    /// Whether a statement broke a unique index (a name or address taken).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => db.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }

    /// Whether the database could not be reached or is shutting down, as
    /// opposed to refusing a statement: the caller may retry shortly.
    pub fn is_unavailable(&self) -> bool {
        if let StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) = self {
            // Busy or locked past the busy timeout, or the disk failing.
            return matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::CannotOpen
            );
        }
        let StoreError::Db(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // PostgreSQL: connection exceptions (08…), the server
                // shutting down or starting (57P01–57P03); SQLite: busy or
                // locked past the busy timeout (5, 6).
                code.starts_with("08")
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "5" | "6")
            }
            _ => false,
        }
    }
}

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by the whole process.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite {
        /// What rusqlite prepared on `write`'s handle (`direct`); declared
        /// first so it is dropped before the pool.
        kept: Arc<direct::KeptHandle>,
        write: SqlitePool,
        read: SqlitePool,
        /// The write-ahead log, synced after each durable commit.
        wal: Arc<PathBuf>,
    },
    Postgres(PgPool),
}

/// An open transaction on either backend. A SQLite one carries the log to
/// sync after it commits (`None` when begun relaxed).
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>, Option<Arc<PathBuf>>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$p` bound to the pool that may read.
macro_rules! on_read {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            $crate::storage::Store::Sqlite { read: $p, .. } => $body,
            $crate::storage::Store::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$p` bound to the pool that may write; on SQLite a
/// body that succeeds has its writes synced to disk before it answers.
macro_rules! on_write {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            store @ $crate::storage::Store::Sqlite { write: $p, .. } => {
                // A failing body leaves by `?` before the sync.
                let done = $body;
                store.sync_wal().await?;
                done
            }
            $crate::storage::Store::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::storage::Tx::Sqlite(t, _) => {
                let $c = &mut **t;
                $body
            }
            $crate::storage::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

pub(crate) use {on_read, on_tx, on_write};

/// The condition that scopes a statement about one webhook's rows (`$1` the
/// webhook id, `$2` its organisation) to that organisation, for tables that
/// carry no `org_id` of their own (`delivery_queue` on PostgreSQL): a
/// statement with it changes nothing when the webhook is another
/// organisation's.
pub(crate) const WEBHOOK_OF_ORG: &str =
    "EXISTS (SELECT 1 FROM webhooks w WHERE w.id = $1 AND w.org_id = $2)";

/// The runtime that runs work holding the store's writer (the recorder,
/// claims, the ingest writer): its own thread, so a task between two
/// statements of a transaction is polled again at once rather than after
/// every HTTP task queued on the main runtime.
pub fn writer_runtime() -> &'static tokio::runtime::Handle {
    static WRITER: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    WRITER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("store-writer")
            .build()
            .expect("store writer runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("store writer thread");
        handle
    })
}

impl Store {
    /// Where a delivery's due time and lease are written, and its key
    /// there. PostgreSQL keeps what is owed in `delivery_queue` (migration
    /// 0008: a result then rewrites the delivery's row as a HOT update);
    /// SQLite updates rows in place anyway and keeps it in the delivery's
    /// own row, where `delivery_queue` is a view for reading.
    pub(crate) fn owed_table(&self) -> (&'static str, &'static str) {
        match self.backend() {
            Backend::Postgres => ("delivery_queue", "delivery_id"),
            Backend::Sqlite => ("deliveries", "id"),
        }
    }

    /// The condition on `owed_table()` picking the rows `subquery` names
    /// by key. On PostgreSQL the ids come as an array (`= ANY(ARRAY(…))`),
    /// so the update reaches them through the primary key whatever the
    /// planner guesses of the subquery's `LIMIT`; an `IN` can be planned as
    /// a hash join over a scan of the whole queue.
    pub(crate) fn owed_picked(&self, subquery: &str) -> String {
        let (_, key) = self.owed_table();
        match self.backend() {
            Backend::Postgres => format!("{key} = ANY(ARRAY({subquery}))"),
            Backend::Sqlite => format!("{key} IN ({subquery})"),
        }
    }

    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let store = if let Some(rest) = url.strip_prefix("sqlite:") {
            sqlite_process_settings();
            let path = rest.trim_start_matches("//");
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Corrupt(format!("cannot create {parent:?}: {e}")))?;
            }
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Power-loss durability comes from `Store::sync_wal` (see
                // the module docs).
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory")
                // 16 MiB a connection: SQLite walks its page cache's hash
                // at the end of each write transaction, so a bigger cache
                // costs every commit.
                .pragma("cache_size", "-16384")
                // Rows queue up for the async side without stalling the
                // connection's thread: with the default of 50, a claim
                // returning 256 rows stopped five times for a round trip
                // while holding the only writer.
                .row_buffer_size(1024)
                .statement_cache_capacity(2000);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                // The one connection never goes stale; a ping before each
                // use would cost a round trip to its thread per statement.
                .test_before_acquire(false)
                // Nor is it closed and opened again: `direct` keeps
                // statements prepared on its handle.
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?;
            Store::Sqlite {
                kept: Arc::default(),
                write,
                read,
                // The log sits beside the file (without any `?options`).
                wal: Arc::new(PathBuf::from(format!(
                    "{}-wal",
                    path.split('?').next().unwrap_or(path)
                ))),
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Store::Postgres(pool)
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite { .. } => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// A PostgreSQL connection of the pool, outside any transaction; `None`
    /// on SQLite.
    pub async fn pg_connection(&self) -> StoreResult<Option<sqlx::pool::PoolConnection<Postgres>>> {
        match self {
            Store::Postgres(pool) => Ok(Some(pool.acquire().await?)),
            Store::Sqlite { .. } => Ok(None),
        }
    }

    /// PostgreSQL: resolves once the pool is closing ([`Store::close`]
    /// waits for every connection taken from it); `None` on SQLite.
    pub fn closing(&self) -> Option<sqlx::pool::CloseEvent> {
        match self {
            Store::Postgres(pool) => Some(pool.close_event()),
            Store::Sqlite { .. } => None,
        }
    }

    /// Begins a write transaction whose commit is durable.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Store::Sqlite { write, wal, .. } => Tx::Sqlite(write.begin().await?, Some(wal.clone())),
            Store::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Begins a write transaction for bookkeeping that may be lost on power
    /// loss without losing anything owed (see the module docs): its commit
    /// does not wait for the disk (on PostgreSQL, `synchronous_commit` off
    /// for the transaction).
    pub async fn begin_relaxed(&self) -> StoreResult<Tx> {
        Ok(match self {
            Store::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?, None),
            Store::Postgres(pool) => {
                // PostgreSQL's own way to the same: the commit returns
                // before its log is flushed; the next durable commit's
                // flush, or the log writer's within a moment, covers it.
                let mut t = pool.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *t)
                    .await?;
                Tx::Postgres(t)
            }
        })
    }

    /// Makes every SQLite commit so far durable: syncs the write-ahead log
    /// to disk (what `synchronous = FULL` does inside each commit), off the
    /// async threads and without holding the writer. Frames a checkpoint
    /// has already moved into the database file were synced by it; a log
    /// that is not there holds nothing unsynced.
    pub async fn sync_wal(&self) -> StoreResult<()> {
        let Store::Sqlite { wal, .. } = self else {
            return Ok(());
        };
        sync_file(wal.clone()).await
    }
    /// Whether the database answers.
    /// Whether the store answers a query within a second or two.
    pub async fn ping(&self) -> bool {
        let query = async { on_read!(self, p => sqlx::query("SELECT 1").execute(p).await.is_ok()) };
        tokio::time::timeout(Duration::from_secs(2), query)
            .await
            .unwrap_or(false)
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match self {
            Store::Sqlite {
                write, read, kept, ..
            } => {
                read.close().await;
                // Before the connection goes: what was prepared on it.
                kept.forget();
                write.close().await;
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        self.commit_then(|| {}).await
    }

    /// Commits; `released` runs once the SQLite writer is free again, before
    /// the wait for the disk (at once on PostgreSQL).
    pub async fn commit_then(self, released: impl FnOnce()) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t, wal) => {
                t.commit().await?;
                released();
                if let Some(wal) = wal {
                    sync_file(wal).await?;
                }
            }
            Tx::Postgres(t) => {
                t.commit().await?;
                released();
            }
        }
        Ok(())
    }
}

/// A commit that is done, and on SQLite not yet synced: [`Committed::durable`]
/// waits for the disk. The group-commit writer begins its next transaction
/// while the disk syncs this one (see `hub::group`).
#[must_use = "a commit is durable only once `durable` has returned"]
pub struct Committed(Option<Arc<PathBuf>>);

impl Store {
    /// What a commit made on SQLite's writer handle directly
    /// ([`direct`]) still owes: the log's sync.
    pub fn unsynced(&self) -> Committed {
        match self {
            Store::Sqlite { wal, .. } => Committed(Some(wal.clone())),
            Store::Postgres(_) => Committed(None),
        }
    }
}

impl Committed {
    /// Returns once what was committed survives power loss.
    pub async fn durable(self) -> StoreResult<()> {
        match self.0 {
            Some(wal) => sync_file(wal).await,
            None => Ok(()),
        }
    }
}

impl Tx {
    /// Commits, leaving the wait for the disk (SQLite) to the caller.
    pub async fn commit_deferred(self) -> StoreResult<Committed> {
        Ok(match self {
            Tx::Sqlite(t, wal) => {
                t.commit().await?;
                Committed(wal)
            }
            Tx::Postgres(t) => {
                t.commit().await?;
                Committed(None)
            }
        })
    }

    /// Marks a point the transaction can return to with
    /// [`Tx::rollback_to`], so one part of a grouped transaction can fail
    /// without failing the rest. `name` is a fixed identifier.
    pub async fn savepoint(&mut self, name: &'static str) -> StoreResult<()> {
        self.plain(format!("SAVEPOINT {name}")).await
    }

    /// Keeps what was done since the savepoint and forgets the point.
    pub async fn release(&mut self, name: &'static str) -> StoreResult<()> {
        self.plain(format!("RELEASE SAVEPOINT {name}")).await
    }

    /// Undoes what was done since the savepoint (also after an error, which
    /// on PostgreSQL leaves the transaction usable again) and forgets it.
    pub async fn rollback_to(&mut self, name: &'static str) -> StoreResult<()> {
        self.plain(format!("ROLLBACK TO SAVEPOINT {name}")).await?;
        self.release(name).await
    }

    async fn plain(&mut self, sql: String) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *c).await?;
        });
        Ok(())
    }
}

/// Settings SQLite takes once a process, before its first connection:
/// no memory statistics (nothing reads them), which otherwise take a
/// process-wide mutex on every allocation and free SQLite makes.
fn sqlite_process_settings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: before any connection of this process (every one is
        // opened after this, by `Store::connect`); should SQLite be
        // initialised already, it answers SQLITE_MISUSE and changes nothing.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was initialised already; memory statistics stay on"
            );
        }
    });
}

/// `fdatasync` of the file at `path` on the blocking pool; a missing file is
/// nothing to sync.
async fn sync_file(path: Arc<PathBuf>) -> StoreResult<()> {
    let synced = tokio::task::spawn_blocking(move || match std::fs::File::open(&*path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("syncing the log: {e}")))?;
    synced.map_err(|e| StoreError::Db(sqlx::Error::Io(e)))
}

/// Numbers parameters for statements with many of them. SQLite gets
/// anonymous `?` (bound strictly in order): looking up a named or numbered
/// parameter costs SQLite a walk of all of them, which made wide multi-row
/// statements quadratic. PostgreSQL gets `$n`.
pub(crate) struct Params {
    backend: Backend,
    next: usize,
}

impl Params {
    pub(crate) fn new(backend: Backend) -> Params {
        Params { backend, next: 1 }
    }

    /// The next parameter's placeholder.
    pub(crate) fn next(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        match self.backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// `count` placeholders, comma-separated.
    pub(crate) fn list(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| self.next())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `VALUES` rows of a multi-row insert: `rows` groups of `cols`.
    pub(crate) fn rows(&mut self, rows: usize, cols: usize) -> String {
        (0..rows)
            .map(|_| format!("({})", self.list(cols)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Tx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
}

/// `$first, $first+1, …` for `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("storable values serialise")
}

pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A durable commit syncs the real log: the path `sync_wal` opens is
    /// the `-wal` file SQLite writes (a wrong path would silently sync
    /// nothing), also when the URL carries options.
    #[tokio::test]
    async fn durable_commits_sync_the_log_sqlite_writes() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            format!("sqlite://{}/a.db", dir.path().display()),
            format!("sqlite://{}/b.db?mode=rwc", dir.path().display()),
        ] {
            let store = Store::connect(&url).await.unwrap();
            let Store::Sqlite { wal, .. } = &store else {
                panic!("not SQLite")
            };
            let wal = wal.clone();
            let mut tx = store.begin().await.unwrap();
            on_tx!(&mut tx, c => {
                sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ('o', 'o', 0)")
                    .execute(&mut *c)
                    .await
                    .unwrap();
            });
            tx.commit().await.unwrap();
            let len = std::fs::metadata(&*wal)
                .expect("the log is where sync_wal looks")
                .len();
            assert!(len > 0, "{url}: the commit is in the log");
            // A relaxed commit lands in the same log.
            let mut tx = store.begin_relaxed().await.unwrap();
            on_tx!(&mut tx, c => {
                sqlx::query("UPDATE orgs SET name = 'p' WHERE id = 'o'")
                    .execute(&mut *c)
                    .await
                    .unwrap();
            });
            tx.commit().await.unwrap();
            assert!(std::fs::metadata(&*wal).unwrap().len() >= len);
            store.close().await;
        }
    }
}
