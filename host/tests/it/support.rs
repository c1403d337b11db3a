//! Test harness: a real server (router, worker, store) on port 0 with a
//! manual clock, a real receiver on port 0, and a real database — an
//! SQLite file or a fresh PostgreSQL database per test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures_util::future::BoxFuture;
use scaihub::clock::ManualClock;
use scaihub::crypto::MasterKey;
use scaihub::destinations::{DestinationPolicy, NameResolver};
use scaihub::hub::{Hub, HubSettings};
use scaihub::plugin::{PluginLimits, PluginRuntime};
pub use scaihub::storage::Backend;
use scaihub::storage::Store;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs a scenario on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::support::postgres_available().await {
                        return;
                    }
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}

fn pg_admin_url() -> String {
    std::env::var("SCAIHUB_TEST_POSTGRES_URL").unwrap_or_else(|_| PG_ADMIN_URL.to_string())
}

/// Whether PostgreSQL tests can run; panics when they must
/// (`SCAIHUB_REQUIRE_POSTGRES=1`, as in CI) and cannot.
pub async fn postgres_available() -> bool {
    use sqlx::Connection;
    let url = pg_admin_url();
    match tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&url)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            true
        }
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            if std::env::var("SCAIHUB_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "PostgreSQL is required (SCAIHUB_REQUIRE_POSTGRES=1) but {url} is unreachable: {why}"
                );
            }
            eprintln!(
                "skipping PostgreSQL test: {url} is unreachable ({why}); set SCAIHUB_TEST_POSTGRES_URL to run it"
            );
            false
        }
    }
}

/// A database for one test, removed at the end where possible.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("scaihub.db").display());
                TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let name = format!("scaihub_t_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                let base = url::Url::parse(&pg_admin_url()).unwrap();
                let mut url = base.clone();
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// The raw bytes of every table, for "no secret in clear" checks.
    pub async fn dump(&self) -> Vec<u8> {
        if self.pg_name.is_some() {
            use sqlx::{Connection, Row};
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let mut out = Vec::new();
            for table in [
                "orgs",
                "users",
                "api_keys",
                "events",
                "webhooks",
                "deliveries",
            ] {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text AS row FROM {table} t"
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for r in rows {
                    out.extend_from_slice(r.get::<String, _>("row").as_bytes());
                }
            }
            out
        } else {
            let path = self.url.trim_start_matches("sqlite://");
            let mut out = std::fs::read(path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                out.extend(wal);
            }
            out
        }
    }

    pub async fn drop_db(&self) {
        if let Some(name) = &self.pg_name {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// A resolver with a table the test can change (for DNS rebinding).
#[derive(Default, Clone)]
pub struct TableResolver(pub Arc<Mutex<HashMap<String, Vec<std::net::IpAddr>>>>);

impl TableResolver {
    pub fn set(&self, host: &str, ip: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(host.to_string(), vec![ip.parse().unwrap()]);
    }
}

impl NameResolver for TableResolver {
    fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let found = self.0.lock().unwrap().get(host).cloned();
        Box::pin(async move {
            match found {
                Some(ips) => Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect()),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such host in the test table",
                )),
            }
        })
    }
}

/// Options of a test server.
pub struct Options {
    pub retry_schedule: Vec<Duration>,
    pub allow: String,
    pub delivery_timeout: Duration,
    pub max_in_flight_per_webhook: usize,
    pub plugin_limits: PluginLimits,
    /// How long an upload waits for its compile before answering 202.
    /// Long by default, so a loaded machine does not turn the tests'
    /// small uploads into 202s: the many servers of this one test process
    /// share wasmtime's compile workers, so a small compile can wait behind
    /// another test's JavaScript one. The compile queue's own tests
    /// shorten it.
    pub upload_wait: Duration,
    /// Where the server exports its spans (none by default).
    pub traces: Option<scaihub::traces::TraceSettings>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retry_schedule: HubSettings::default().retry_schedule,
            allow: "127.0.0.0/8,::1/128".into(),
            delivery_timeout: Duration::from_secs(5),
            max_in_flight_per_webhook: 64,
            plugin_limits: PluginLimits::default(),
            upload_wait: Duration::from_secs(600),
            traces: None,
        }
    }
}

/// A running ScaiHub with an admin key, on a manual clock.
pub struct TestEnv {
    pub db: TestDb,
    pub hub: Arc<Hub>,
    pub clock: ManualClock,
    pub resolver: TableResolver,
    pub base: String,
    pub admin_key: String,
    pub org_id: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Prints what the in-process server logs at error level (a `500`'s
/// cause is logged there, not answered), into the failing test's output
/// where the test harness captures it.
fn show_errors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::ERROR)
            .with_test_writer()
            .try_init();
    });
}

impl TestEnv {
    pub async fn start(backend: Backend) -> TestEnv {
        Self::with(backend, Options::default()).await
    }

    pub async fn with(backend: Backend, options: Options) -> TestEnv {
        show_errors();
        let db = TestDb::new(backend).await;
        let store = Store::connect(&db.url).await.unwrap();
        let clock = ManualClock::at_fixed_date();
        let resolver = TableResolver::default();
        let policy = DestinationPolicy::new(
            scaihub::config::parse_allow_list(&options.allow).unwrap(),
            Arc::new(resolver.clone()),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = HubSettings {
            public_url: base.clone(),
            retry_schedule: options.retry_schedule,
            delivery_timeout: options.delivery_timeout,
            max_in_flight_per_webhook: options.max_in_flight_per_webhook,
            plugin_upload_wait: options.upload_wait,
            traces: options.traces,
            ..HubSettings::default()
        };
        let (master_key, _) = MasterKey::generate();
        let hub = scaihub::server::hub(
            store,
            Arc::new(clock.clone()),
            master_key,
            policy,
            settings,
            plugin_runtime(options.plugin_limits),
        );
        let admin_key = scaihub::crypto::new_secret("shk_test_");
        let boot = hub.bootstrap(Some(&admin_key)).await.unwrap().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serve_hub = hub.clone();
        let task = tokio::spawn(async move {
            scaihub::server::serve(listener, serve_hub, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestEnv {
            db,
            hub,
            clock,
            resolver,
            base,
            admin_key,
            org_id: boot.org_id,
            http: {
                scaihub::install_crypto_provider();
                reqwest::Client::new()
            },
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and removes the database.
    /// The server's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn finish(mut self) {
        self.shutdown().await;
        self.db.drop_db().await;
    }

    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.replace("{org}", &self.org_id))
    }

    /// A JSON call with the admin key; answers (status, body).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.admin_key.clone(), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates a webhook to `url` for `events`; returns (id, secret).
    pub async fn webhook(&self, url: &str, events: &[&str]) -> (String, String) {
        self.webhook_with(json!({"name": "test hook", "url": url, "events": events}))
            .await
    }

    pub async fn webhook_with(&self, body: Value) -> (String, String) {
        let (status, w) = self
            .call("POST", "/v1/orgs/{org}/webhooks", Some(body))
            .await;
        assert_eq!(status, 201, "{w}");
        (
            w["id"].as_str().unwrap().to_string(),
            w["secret"].as_str().unwrap().to_string(),
        )
    }

    /// Ingests events; asserts 202.
    pub async fn ingest(&self, events: Value) -> Value {
        let (status, body) = self
            .call("POST", "/v1/orgs/{org}/events", Some(events))
            .await;
        assert_eq!(status, 202, "{body}");
        body
    }

    pub async fn delivery(&self, id: &str) -> Value {
        let (status, d) = self
            .call("GET", &format!("/v1/orgs/{{org}}/deliveries/{id}"), None)
            .await;
        assert_eq!(status, 200, "{d}");
        d
    }

    pub async fn deliveries(&self, webhook_id: &str) -> Vec<Value> {
        let (status, page) = self
            .call(
                "GET",
                &format!("/v1/orgs/{{org}}/webhooks/{webhook_id}/deliveries?limit=500"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    /// Polls until `check` holds for the webhook's deliveries (real time).
    pub async fn wait_deliveries(
        &self,
        webhook_id: &str,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let list = self.deliveries(webhook_id).await;
            if check(&list) {
                return list;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; deliveries: {list:#?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let (status, page) = self
            .call(
                "GET",
                &format!("/v1/orgs/{{org}}/audit-events?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().clone()
    }
}

/// A sample event.
pub fn event(id: &str, category: &str, action: &str) -> Value {
    json!({
        "event_id": id,
        "timestamp": "2026-05-12T14:23:01Z",
        "category": category,
        "action": action,
        "user_id": "usr_alice",
        "resource_id": "shr_reports",
        "payload": {"principal_id": "usr_bob", "role": "contributor"}
    })
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub path: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Responder = Arc<dyn Fn(usize) -> (u16, Duration) + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
    respond: Responder,
}

/// A real HTTP receiver on port 0.
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn ok() -> Receiver {
        Self::start(|_| (200, Duration::ZERO)).await
    }

    /// `respond(n)` gives the status and delay for the n-th request (0-based).
    pub async fn start(
        respond: impl Fn(usize) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Receiver {
        let state = ReceiverState {
            got: Arc::default(),
            notify: Arc::new(Notify::new()),
            respond: Arc::new(respond),
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            addr,
            got: state.got,
            notify: state.notify,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (real time) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.notify.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "receiver got {} requests, expected {n}",
                    self.received().len()
                );
            }
        }
    }
}

async fn handle(
    State(state): State<ReceiverState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let n = {
        let mut got = state.got.lock().unwrap();
        got.push(Received {
            headers,
            body,
            path: uri.path().to_string(),
        });
        got.len() - 1
    };
    state.notify.notify_waiters();
    let (status, delay) = (state.respond)(n);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (
        StatusCode::from_u16(status).unwrap(),
        format!("answer {n} with {status}"),
    )
}

/// HMAC-SHA256 with `ring`, independent of the host's `hmac` crate.
pub fn independent_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    format!("sha256={}", hex::encode(tag.as_ref()))
}

#[allow(dead_code)]
pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

#[allow(dead_code)]
pub fn is_pg(store: &Store) -> bool {
    store.backend() == Backend::Postgres
}

/// A plugin runtime with the given limits.
pub fn plugin_runtime(limits: PluginLimits) -> Arc<PluginRuntime> {
    Arc::new(PluginRuntime::new(limits).expect("the plugin engine starts"))
}

/// The example and hostile plugins, built once for wasm32-wasip2 by the
/// plugins workspace; answers the path of `<name>.wasm`.
pub fn plugin_wasm(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // A fresh machine lacks the target: add it where rustup can (a
        // no-op when it is there).
        let _ = std::process::Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
            .current_dir(&root)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the plugins failed (is the wasm32-wasip2 target installed?)"
        );
        root.join("target/wasm32-wasip2/release")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A Python example plugin built by `plugins/python/build.sh`
/// (componentize-py: ~18 MB, 14 core instances), built once when missing.
/// None, with the reason printed, without python3 and its venv module,
/// unless `SCAIHUB_REQUIRE_PYTHON=1` (as in CI) makes that a failure.
pub fn py_plugin_wasm(name: &str) -> Option<std::path::PathBuf> {
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !python {
        assert!(
            std::env::var("SCAIHUB_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "python3 3.10+ with venv is required (SCAIHUB_REQUIRE_PYTHON=1)"
        );
        eprintln!("skipped: the Python plugin {name} (no python3 3.10+ with venv)");
        return None;
    }
    Some(built_plugin("python", name))
}

/// A JavaScript example plugin built by `plugins/js/build.sh` (componentize-js:
/// ~12 MB, tens of seconds to compile), built once when missing: the large
/// component the compile queue is tested with. Needs node and npm, as the
/// test command's JavaScript step does.
pub fn js_plugin_wasm(name: &str) -> std::path::PathBuf {
    built_plugin("js", name)
}

/// `plugins/<lang>/dist/<name>.wasm`, built by `plugins/<lang>/build.sh`
/// when missing, one build at a time.
fn built_plugin(lang: &str, name: &str) -> std::path::PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(lang);
    let path = root.join(format!("dist/{name}.wasm"));
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let status = std::process::Command::new(root.join("build.sh"))
            .arg(name)
            .current_dir(&root)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("plugins/{lang}/build.sh runs: {e}"));
        assert!(status.success(), "building the {lang} plugin {name} failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}
