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

pub mod applications;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod notify;
pub mod orgs;
pub mod plugins;
pub mod retention;
pub mod sessions;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// A storage failure. The cause is kept for logs; callers see "internal".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by the whole process.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// An open transaction on either backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
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

/// Runs `$body` with `$p` bound to the pool that may write.
macro_rules! on_write {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            $crate::storage::Store::Sqlite { write: $p, .. } => $body,
            $crate::storage::Store::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::storage::Tx::Sqlite(t) => {
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

impl Store {
    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let store = if let Some(rest) = url.strip_prefix("sqlite:") {
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
                // FULL: an accepted event survives power loss, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory")
                // 16 MiB a connection: SQLite walks its page cache's hash
                // at the end of each write transaction, so a bigger cache
                // costs every commit.
                .pragma("cache_size", "-16384");
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?;
            Store::Sqlite { write, read }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
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

    /// Begins a write transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Store::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?),
            Store::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        on_read!(self, p => sqlx::query("SELECT 1").execute(p).await.is_ok())
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match self {
            Store::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
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
            Tx::Sqlite(_) => Backend::Sqlite,
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
