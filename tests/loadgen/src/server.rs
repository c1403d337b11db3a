//! The system under test: the real `scaihub serve` binary as a child
//! process with its own data dir and admin key, and for PostgreSQL a fresh
//! database created before and dropped after.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::Rng;
use sqlx::Connection;

use crate::child::{self, Proc};

/// Which store scaihub runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database `scaihub_bench_<random>` on the PostgreSQL server of
/// `admin_url`, for one run.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The URL scaihub gets.
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let name = format!(
            "scaihub_bench_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut conn = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(admin_url),
        )
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {admin_url} timed out"))??;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(PgDatabase {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        })
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_db(self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        let _ = conn.close().await;
        Ok(())
    }
}

/// Runs `measure` on the store `db` names, ending by `deadline`: SQLite
/// (`None`), or a fresh PostgreSQL database (its URL), dropped afterwards
/// whatever happened.
pub async fn on_fresh_store<T, Fut>(
    db: Db,
    pg_admin_url: &str,
    deadline: tokio::time::Instant,
    measure: impl FnOnce(Option<String>) -> Fut,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let pg = match db {
        Db::Postgres => Some(PgDatabase::create(pg_admin_url).await?),
        Db::Sqlite => None,
    };
    let outcome = match tokio::time::timeout_at(
        deadline,
        measure(pg.as_ref().map(|d| d.url.clone())),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("the run hit the global timeout")),
    };
    if let Some(pg) = pg
        && let Err(e) = pg.drop_db().await
    {
        eprintln!("warning: could not drop the bench database: {e:#}");
    }
    outcome
}

/// A running `scaihub serve`.
pub struct Scaihub {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub admin_key: String,
    keys: Keys,
    _data_dir: tempfile::TempDir,
}

/// What processes sharing one store must share.
#[derive(Clone)]
struct Keys {
    admin: String,
    master: String,
}

/// `--binary` as given, or when that default is absent, the `scaihub`
/// next to this executable (both live in `target/release`).
pub fn resolve_binary(given: &Path) -> PathBuf {
    if given.exists() {
        return given.to_path_buf();
    }
    match std::env::current_exe() {
        Ok(me) => me.with_file_name("scaihub"),
        Err(_) => given.to_path_buf(),
    }
}

impl Scaihub {
    /// Starts scaihub on a free port with SQLite in a temp dir, or on
    /// `database_url` (PostgreSQL), and waits for `GET /readyz` to answer 200.
    pub async fn start(
        binary: &Path,
        database_url: Option<&str>,
        http: &reqwest::Client,
    ) -> anyhow::Result<Scaihub> {
        let keys = Keys {
            admin: format!(
                "shk_bench_{}",
                hex::encode(rand::rng().random::<[u8; 20]>())
            ),
            master: hex::encode(rand::rng().random::<[u8; 32]>()),
        };
        Scaihub::start_with(binary, database_url, http, &keys).await
    }

    /// `n` processes on one PostgreSQL database, sharing its keys: the
    /// first sets the store up, the others join it.
    pub async fn start_cluster(
        n: usize,
        binary: &Path,
        database_url: &str,
        http: &reqwest::Client,
    ) -> anyhow::Result<Vec<Scaihub>> {
        let first = Scaihub::start(binary, Some(database_url), http).await?;
        let keys = first.keys.clone();
        let mut all = vec![first];
        for _ in 1..n {
            all.push(Scaihub::start_with(binary, Some(database_url), http, &keys).await?);
        }
        Ok(all)
    }

    async fn start_with(
        binary: &Path,
        database_url: Option<&str>,
        http: &reqwest::Client,
        keys: &Keys,
    ) -> anyhow::Result<Scaihub> {
        let data_dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let admin_key = keys.admin.clone();
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .env_clear()
            .env("SCAIHUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("SCAIHUB_DATA_DIR", data_dir.path())
            .env("SCAIHUB_ADMIN_KEY", &admin_key)
            .env("SCAIHUB_ALLOW_DESTINATIONS", "127.0.0.0/8")
            .env("SCAIHUB_LOG", "warn");
        // The sandbox's settings pass through, so a run can compare them
        // (e.g. SCAIHUB_PLUGIN_WARM_INSTANCES=0); nothing else of the
        // caller's environment does.
        cmd.envs(std::env::vars().filter(|(k, _)| k.starts_with("SCAIHUB_PLUGIN_")));
        if let Some(url) = database_url {
            cmd.env("SCAIHUB_DATABASE_URL", url)
                .env("SCAIHUB_MASTER_KEY", &keys.master);
        }
        let (mut proc, stdout) = child::spawn("scaihub", cmd)?;
        // The set-up banner goes to stdout; drain it so the pipe never fills.
        let _ = child::capture(stdout);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status() == 200
            {
                break;
            }
            proc.check_alive()?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "scaihub was not ready within 60 s:\n{}",
                proc.stderr_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Scaihub {
            proc,
            base,
            admin_key,
            keys: keys.clone(),
            _data_dir: data_dir,
        })
    }
}
