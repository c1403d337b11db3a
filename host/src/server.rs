//! Putting it together: settings → store → hub → HTTP server and delivery
//! worker, with a graceful shutdown that finishes what is in flight.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::clock::SharedClock;
use crate::config::{ConfigError, ServeArgs, parse_allow_list, parse_schedule};
use crate::crypto::MasterKey;
use crate::delivery::Worker;
use crate::destinations::{DestinationPolicy, NameResolver, SystemResolver};
use crate::hub::{Hub, HubSettings};
use crate::metrics::Metrics;
use crate::plugin::{PluginLimits, PluginRuntime};
use crate::state::AppState;
use crate::storage::{Backend, Store};

/// Builds the shared service over an open store.
pub fn hub(
    store: Store,
    clock: SharedClock,
    master_key: MasterKey,
    destinations: DestinationPolicy,
    settings: HubSettings,
    plugins: Arc<PluginRuntime>,
) -> Arc<Hub> {
    let traces = match &settings.traces {
        Some(t) => crate::traces::Traces::start(t).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot export traces; running without");
            crate::traces::Traces::off()
        }),
        None => crate::traces::Traces::off(),
    };
    let hub = Arc::new_cyclic(|weak| {
        // The group-commit writer for own events, when a runtime is there to run it.
        let audit_queue = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (tx, rx) = tokio::sync::mpsc::channel(4096);
            rt.spawn(Hub::run_audit_writer(weak.clone(), rx));
            tx
        });
        let ingest_queue = tokio::runtime::Handle::try_current()
            .ok()
            .map(|_| crate::hub::group::spawn_writers(weak.clone(), store.backend()));
        let oidc = crate::oauth::oidc::OidcClient::new(destinations.clone());
        Hub {
            oidc,
            store,
            clock,
            master_key,
            destinations,
            settings,
            metrics: Metrics::new(),
            keys: Default::default(),
            plugins,
            compiler: crate::hub::compiler::CompileQueue::new(),
            plugin_loads: Default::default(),
            wake: Arc::new(Notify::new()),
            worker_owner: crate::ids::new_id(crate::ids::IdKind::Key).replacen("key_", "wkr_", 1),
            fast_lane: Default::default(),
            fast_backlog: Default::default(),
            audit_queue,
            cluster: Default::default(),
            ingest_queue,
            principal_cache: Default::default(),
            traces,
        }
    });
    hub.compiler.start(&hub);
    hub
}

/// Serves HTTP on `listener` and runs the delivery worker until `shutdown`
/// resolves; then stops accepting, lets requests and attempts in flight
/// finish, records them, and returns.
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if hub.store.backend() == Backend::Sqlite {
        // Only this process uses the file: nothing it leased before a crash is still in flight.
        let released = hub.store.release_all_leases(hub.now()).await?;
        if released > 0 {
            tracing::info!(
                released,
                "re-queued deliveries that were in flight when the last run stopped"
            );
        }
    }
    crate::hub::compiler::recover(&hub).await?;
    hub.keys
        .load(&hub.store, &hub.master_key, hub.now())
        .await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = Worker::new(hub.clone());
    let worker_task = tokio::spawn(worker.run(stop_rx.clone()));
    let cluster_task = tokio::spawn(crate::delivery::notify::run(hub.clone()));
    let retention_task = tokio::spawn(crate::hub::retention::run(hub.clone(), stop_rx.clone()));
    tokio::spawn(crate::hub::scripts::warm_up(hub.clone()));
    tokio::spawn(expire_idle_plugin_instances(Arc::downgrade(&hub)));
    let app = app(hub.clone());
    let mut http_stop = stop_rx.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|s| *s).await;
    });
    let server_task = tokio::spawn(async move { server.await });
    shutdown.await;
    tracing::info!("shutting down: finishing requests and deliveries in flight");
    let _ = stop_tx.send(true);
    let _ = server_task.await;
    let _ = worker_task.await;
    cluster_task.abort();
    crate::delivery::notify::hand_over(&hub).await;
    // Pruning can stop anywhere: a step cut short rolls back.
    retention_task.abort();
    let _ = retention_task.await;
    hub.store.close().await;
    // Every attempt has been recorded, so its span has ended: export them.
    hub.traces.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The master key: from the setting, else (SQLite only) from, or newly
/// into, `<data_dir>/master.key`.
pub fn master_key(args: &ServeArgs, backend: Backend) -> Result<MasterKey, ConfigError> {
    let err = |m: String| ConfigError {
        setting: "SCAIHUB_MASTER_KEY",
        message: m,
    };
    if let Some(hex) = &args.master_key {
        return MasterKey::from_hex(hex).map_err(|e| err(e.to_string()));
    }
    if backend == Backend::Postgres {
        return Err(err(
            "is required with PostgreSQL, so every process shares it".into(),
        ));
    }
    let path = args.data_dir.join("master.key");
    read_or_create_key(&path).map_err(err)
}

fn read_or_create_key(path: &Path) -> Result<MasterKey, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let (key, hex) = MasterKey::generate();
            write_private(path, &hex)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Validated settings of the service, from the command line.
pub fn hub_settings(args: &ServeArgs) -> Result<HubSettings, ConfigError> {
    if args.max_in_flight == 0 || args.max_in_flight_per_webhook == 0 {
        return Err(ConfigError {
            setting: "SCAIHUB_MAX_IN_FLIGHT",
            message: "must be at least 1".into(),
        });
    }
    if args.lease_secs <= args.delivery_timeout_secs {
        return Err(ConfigError {
            setting: "SCAIHUB_LEASE_SECS",
            message: "must be longer than SCAIHUB_DELIVERY_TIMEOUT_SECS".into(),
        });
    }
    if !(1..=36_500).contains(&args.retention_days) {
        return Err(ConfigError {
            setting: "SCAIHUB_RETENTION_DAYS",
            message: "must be between 1 and 36500".into(),
        });
    }
    let traces = match &args.otlp_endpoint {
        Some(endpoint) if !endpoint.trim().is_empty() => {
            let traces_url =
                crate::traces::traces_url(endpoint).map_err(|message| ConfigError {
                    setting: "SCAIHUB_OTLP_ENDPOINT",
                    message,
                })?;
            if !(0.0..=1.0).contains(&args.otlp_sample_ratio) {
                return Err(ConfigError {
                    setting: "SCAIHUB_OTLP_SAMPLE_RATIO",
                    message: "must be between 0 and 1".into(),
                });
            }
            Some(crate::traces::TraceSettings {
                traces_url,
                service_name: args.otlp_service_name.clone(),
                sample_ratio: args.otlp_sample_ratio,
                export_delay: Duration::from_secs(5),
            })
        }
        _ => None,
    };
    Ok(HubSettings {
        traces,
        retention: Duration::from_secs(args.retention_days * 86_400),
        lease: Duration::from_secs(args.lease_secs),
        retry_schedule: parse_schedule(&args.retry_schedule)?,
        delivery_timeout: Duration::from_secs(args.delivery_timeout_secs.max(1)),
        max_in_flight: args.max_in_flight,
        max_in_flight_per_webhook: args.max_in_flight_per_webhook,
        max_body_bytes: args.max_body_bytes.max(1024),
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.listen)),
        ..HubSettings::default()
    })
}

/// The destination policy from the command line, with the system resolver.
pub fn destinations(args: &ServeArgs) -> Result<DestinationPolicy, ConfigError> {
    let resolver: Arc<dyn NameResolver> = Arc::new(SystemResolver);
    Ok(DestinationPolicy::new(
        parse_allow_list(&args.allow_destinations)?,
        resolver,
    ))
}

/// The database URL: the setting, or SQLite in the data dir.
pub fn database_url(args: &ServeArgs) -> String {
    args.database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("scaihub.db").display()))
}

/// The plugin sandbox's limits from the command line.
pub fn plugin_limits(args: &ServeArgs) -> Result<PluginLimits, ConfigError> {
    let err = |setting: &'static str, m: &str| ConfigError {
        setting,
        message: m.to_string(),
    };
    if args.plugin_memory_mib == 0 || args.plugin_memory_mib > 4096 {
        return Err(err("SCAIHUB_PLUGIN_MEMORY_MIB", "must be 1-4096"));
    }
    if args.plugin_warm_instances > 1024 {
        return Err(err("SCAIHUB_PLUGIN_WARM_INSTANCES", "must be 0-1024"));
    }
    if args.plugin_timeout_ms == 0 {
        return Err(err("SCAIHUB_PLUGIN_TIMEOUT_MS", "must be at least 1"));
    }
    Ok(PluginLimits {
        max_module_bytes: args.plugin_max_module_kib * 1024,
        max_memory_bytes: args.plugin_memory_mib * 1024 * 1024,
        fuel: args.plugin_fuel,
        timeout: Duration::from_millis(args.plugin_timeout_ms),
        max_output_bytes: args.plugin_max_output_kib * 1024,
        max_concurrent: args.plugin_concurrency.max(1),
        warm_instances: args.plugin_warm_instances,
    })
}

/// Every half minute, drops the plugin instances kept for deliveries that
/// have not come (`plugin/warm.rs`); ends with the hub.
async fn expire_idle_plugin_instances(hub: std::sync::Weak<Hub>) {
    let mut every = tokio::time::interval(Duration::from_secs(30));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(hub) = hub.upgrade() else { return };
        hub.plugins.expire_idle_instances();
    }
}

/// The whole web application: the API (with its OpenAPI document) and the
/// console, side by side over one [`AppState`]. Assembled here, above
/// both, so neither module refers to the other.
pub fn app(hub: Arc<Hub>) -> Router {
    let max_body = hub.settings.max_body_bytes;
    let (router, mut doc) = crate::http::api().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let openapi = Arc::new(
        doc.to_pretty_json()
            .expect("the OpenAPI document serialises"),
    );
    router
        .merge(crate::console::router(
            hub.plugins.limits().max_module_bytes,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .layer(crate::http::linger::LingerLayer)
        .with_state(AppState { hub, openapi })
}
