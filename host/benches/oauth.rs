//! OAuth throughput over keep-alive: client-credentials grants per second
//! and introspections per second against a real server (SQLite, release
//! build) on this machine, client and server sharing its cores.
//!
//! `cargo bench -p scaihub --bench oauth` (BENCH_SECONDS, BENCH_CONCURRENCY).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scaihub::clock::SystemClock;
use scaihub::crypto::MasterKey;
use scaihub::destinations::{DestinationPolicy, SystemResolver};
use scaihub::hub::HubSettings;
use scaihub::hub::applications::NewApplication;
use scaihub::plugin::{PluginLimits, PluginRuntime};
use scaihub::storage::Store;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn hammer(
    name: &str,
    client: &reqwest::Client,
    url: &str,
    form: Vec<(String, String)>,
    auth: (&str, &str),
    seconds: u64,
    concurrency: u64,
) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, form, done, failed) = (
            client.clone(),
            url.to_string(),
            form.clone(),
            done.clone(),
            failed.clone(),
        );
        let (id, secret) = (auth.0.to_string(), auth.1.to_string());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                match client
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&form)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{name:<28} {:>9.0}/s  ({n} in {secs:.1} s, {} failed, {concurrency} concurrent)",
        n as f64 / secs,
        failed.load(Ordering::Relaxed)
    );
}

#[tokio::main]
async fn main() {
    scaihub::install_crypto_provider();
    let seconds = env_or("BENCH_SECONDS", 5);
    let concurrency = env_or("BENCH_CONCURRENCY", 32);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = HubSettings {
        public_url: base.clone(),
        ..HubSettings::default()
    };
    let (key, _) = MasterKey::generate();
    let policy = DestinationPolicy::new(vec![], Arc::new(SystemResolver));
    let plugins = Arc::new(PluginRuntime::new(PluginLimits::default()).unwrap());
    let hub = scaihub::server::hub(store, Arc::new(SystemClock), key, policy, settings, plugins);
    let boot = hub.bootstrap(None).await.unwrap().unwrap();
    let admin = hub
        .authenticate_key(&boot.generated_key.unwrap())
        .await
        .unwrap()
        .unwrap();
    let input: NewApplication = serde_json::from_value(
        serde_json::json!({"name": "bench", "scopes": ["files:read", "admin:read"]}),
    )
    .unwrap();
    let (app, secret) = hub
        .create_application(&boot.org_id, &admin, input)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(scaihub::server::serve(listener, hub.clone(), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .unwrap();
    let grant = vec![("grant_type".to_string(), "client_credentials".to_string())];
    hammer(
        "client_credentials grants",
        &client,
        &format!("{base}/oauth/token"),
        grant.clone(),
        (&app.id, &secret),
        seconds,
        concurrency,
    )
    .await;
    let token: serde_json::Value = client
        .post(format!("{base}/oauth/token"))
        .basic_auth(&app.id, Some(&secret))
        .form(&grant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form = vec![(
        "token".to_string(),
        token["access_token"].as_str().unwrap().to_string(),
    )];
    hammer(
        "introspections",
        &client,
        &format!("{base}/oauth/introspect"),
        form,
        (&app.id, &secret),
        seconds,
        concurrency,
    )
    .await;
    let _ = stop.send(());
    let _ = server.await;
}
