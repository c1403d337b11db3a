//! The `scaihub` binary: parses the command line, then runs
//! [`scaihub::server`] (`serve`, `rotate-signing-key`) or a client command
//! of [`scaihub::cli`].

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use scaihub::cli::{Args, TopCommand};
use scaihub::clock::SystemClock;
use scaihub::config::{Command, load_config_file};
use scaihub::server;
use scaihub::storage::Store;
use tracing_subscriber::EnvFilter;

// Delivery allocates many small, short-lived buffers across threads;
// glibc's allocator spent a tenth of the worker's time consolidating them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<std::process::ExitCode> {
    // No transparent huge pages: the allocator asks for them, and then
    // every fresh 2 MiB region is zeroed on first touch and kept whole,
    // which under delivery load cost a sixth of the CPU and quadrupled the
    // resident memory. Linux only; elsewhere nothing to do.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches only this
    // process's memory-management flags.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // A config file fills in environment variables before clap reads them
    // (the server's commands only: the client has its own profile file).
    if let Some(path) = config_path_from_args() {
        load_config_file(&path)?;
    }
    let cli = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let done = std::process::ExitCode::SUCCESS;
    match cli.command {
        TopCommand::Server(Command::Serve(args)) => {
            init_tracing(&args.log_format);
            runtime.block_on(run(args)).map(|()| done)
        }
        TopCommand::Server(Command::RotateSigningKey(args)) => {
            init_tracing(&args.log_format);
            runtime.block_on(rotate_signing_key(args)).map(|()| done)
        }
        client => Ok(runtime.block_on(scaihub::cli::run(client))),
    }
}

/// `--config PATH` or `SCAIHUB_CONFIG`, looked up before clap runs, for
/// the server's commands.
fn config_path_from_args() -> Option<std::path::PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    if !matches!(
        args.get(1).map(String::as_str),
        Some("serve" | "rotate-signing-key")
    ) {
        return None;
    }
    for (i, a) in args.iter().enumerate() {
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.into());
        }
        if a == "--config" {
            return args.get(i + 1).map(Into::into);
        }
    }
    std::env::var_os("SCAIHUB_CONFIG").map(Into::into)
}

fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_env("SCAIHUB_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colour codes only for a person at a terminal: log files and
    // collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Each connection takes a file descriptor, and the usual soft limit of
/// 1,024 (shells', systemd's) would have accepts fail under many
/// connections while the hard limit is far higher: the soft limit is
/// raised to the hard one, as Go's runtime does for its servers.
fn raise_open_files_limit() {
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            if let Ok(before) = before
                && now > before
            {
                tracing::info!(from = before, to = now, "raised the open files limit");
            }
            if now < 4096 {
                tracing::warn!(
                    limit = now,
                    "the open files limit is low: each connection takes one, and accepts fail past it"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
}

async fn run(args: scaihub::config::ServeArgs) -> anyhow::Result<()> {
    tracing::info!(settings = ?args, "starting");
    raise_open_files_limit();
    let settings = server::hub_settings(&args)?;
    let destinations = server::destinations(&args)?;
    let url = server::database_url(&args);
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("opening {}", scaihub::config::redact_url(&url)))?;
    let master_key = server::master_key(&args, store.backend())?;
    let plugins = Arc::new(scaihub::plugin::PluginRuntime::new(server::plugin_limits(
        &args,
    )?)?);
    let hub = server::hub(
        store,
        Arc::new(SystemClock),
        master_key,
        destinations,
        settings,
        plugins,
    );
    if let Some(boot) = hub.bootstrap(args.admin_key.as_deref()).await? {
        tracing::info!(org_id = %boot.org_id, user_id = %boot.user_id, "created the first organisation and its admin service account");
        // Printed once, to the terminal, never to the log.
        match boot.generated_key {
            Some(key) => println!(
                "\nScaiHub is set up.\n  organisation: {}\n  admin API key (shown once, store it now): {key}\n",
                boot.org_id
            ),
            None => println!(
                "\nScaiHub is set up.\n  organisation: {}\n  admin API key: the value of SCAIHUB_ADMIN_KEY\n",
                boot.org_id
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "listening");
    server::serve(listener, hub, shutdown_signal()).await
}

async fn rotate_signing_key(args: scaihub::config::ServeArgs) -> anyhow::Result<()> {
    let url = server::database_url(&args);
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("opening {}", scaihub::config::redact_url(&url)))?;
    let master_key = server::master_key(&args, store.backend())?;
    let ring = scaihub::oauth::keys::KeyRing::default();
    let now = chrono::Utc::now().timestamp_millis();
    ring.load(&store, &master_key, now).await?;
    let kid = ring.rotate(&store, &master_key, now).await?;
    println!(
        "new signing key {kid} is active; the previous one verifies its tokens until they expire"
    );
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
