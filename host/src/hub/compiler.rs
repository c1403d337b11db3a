//! The compile queue: uploads are stored `compiling` and compiled here, one
//! at a time per process, on a thread of their own, so a large component
//! (a JavaScript one takes ~20 s and ~700 MiB to compile) neither holds an
//! async worker nor multiplies its memory by the number of uploads at once.
//! Requests and deliveries go on meanwhile.
//!
//! A version is compiled by the process that claims its row (a conditional
//! update, with a lease renewed while the compile runs), so two processes
//! on one PostgreSQL never compile it both. A process that dies mid-compile
//! leaves its claim to run out; every process looks for versions left
//! `compiling` without a live claim at start and every few seconds, so the
//! version is compiled again from its stored `.wasm`. A finished compile
//! stores the artifact: no later start compiles it again.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::Hub;
use crate::plugin::{PluginKind, PluginRuntime, UploadError};
use crate::storage::Backend;
use crate::storage::compiles::Compiled;

/// How long a claim on a compile lasts unless renewed.
pub const COMPILE_LEASE: Duration = Duration::from_secs(30);
/// How often a running compile renews its claim.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often the queue looks for versions nobody is compiling.
const SCAN_EVERY: Duration = Duration::from_secs(10);
/// Versions taken per look.
const SCAN_BATCH: i64 = 16;
/// The longest failure reason kept (wasmtime's errors can run long).
const MAX_REASON: usize = 1000;

/// How a compile ended, as told to whoever waits for it.
#[derive(Debug, Clone)]
pub struct Done {
    pub plugin_id: String,
    pub outcome: Result<(), CompileFailure>,
}

/// Why a version failed to compile: the field at fault and the reason.
#[derive(Debug, Clone)]
pub struct CompileFailure {
    pub field: &'static str,
    pub reason: String,
}

enum Job {
    Compile {
        org_id: String,
        plugin_id: String,
    },
    /// Look for versions left `compiling` (after a start released claims).
    Scan,
}

/// The queue's handle in the hub.
pub struct CompileQueue {
    jobs: mpsc::UnboundedSender<Job>,
    /// The receiving end, until [`CompileQueue::start`] hands it to the
    /// queue's task.
    waiting: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    done: broadcast::Sender<Done>,
}

impl Default for CompileQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl CompileQueue {
    /// A queue that keeps what is submitted until it is started.
    pub fn new() -> CompileQueue {
        let (done, _) = broadcast::channel(64);
        let (jobs, rx) = mpsc::unbounded_channel();
        CompileQueue {
            jobs,
            waiting: std::sync::Mutex::new(Some(rx)),
            done,
        }
    }

    /// Starts the queue's task on the current runtime (none outside one,
    /// as in tools that never upload), once its hub exists. Started while
    /// the hub was still being built, the task could not reach it at its
    /// first look and ended, leaving every upload `compiling` for good.
    pub fn start(&self, hub: &Arc<Hub>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let taken = self.waiting.lock().expect("compile queue lock").take();
        if let Some(rx) = taken {
            rt.spawn(run(Arc::downgrade(hub), rx, self.done.clone()));
        }
    }

    /// Hears every compile that ends from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Done> {
        self.done.subscribe()
    }

    /// Queues a stored `compiling` version.
    pub fn submit(&self, org_id: &str, plugin_id: &str) {
        self.send(Job::Compile {
            org_id: org_id.to_string(),
            plugin_id: plugin_id.to_string(),
        });
    }

    /// Asks for a look at versions left `compiling`.
    pub fn rescan(&self) {
        self.send(Job::Scan);
    }

    fn send(&self, job: Job) {
        // Fails only once the queue stopped with its hub.
        let _ = self.jobs.send(job);
    }
}

async fn run(
    hub: Weak<Hub>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    done: broadcast::Sender<Done>,
) {
    let thread = match CompileThread::start() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the plugin compile thread; uploads stay compiling");
            return;
        }
    };
    let mut scan = tokio::time::interval(SCAN_EVERY);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let job = tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => job,
                None => return,
            },
            _ = scan.tick() => Job::Scan,
        };
        let Some(hub) = hub.upgrade() else { return };
        match job {
            Job::Compile { org_id, plugin_id } => {
                compile_one(&hub, &thread, &done, &org_id, &plugin_id).await
            }
            Job::Scan => {
                let owed = match hub.store.compiles_owed(hub.now(), SCAN_BATCH).await {
                    Ok(owed) => owed,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look for plugins left compiling");
                        continue;
                    }
                };
                for (org_id, plugin_id) in owed {
                    tracing::info!(plugin_id, "compiling a plugin version left compiling");
                    compile_one(&hub, &thread, &done, &org_id, &plugin_id).await;
                }
            }
        }
    }
}

/// Claims, compiles and records one version. Store errors leave the
/// version `compiling`; its claim runs out and a later look retries it.
async fn compile_one(
    hub: &Hub,
    thread: &CompileThread,
    done: &broadcast::Sender<Done>,
    org_id: &str,
    plugin_id: &str,
) {
    let owner = hub.worker_owner.as_str();
    let lease = COMPILE_LEASE.as_millis() as i64;
    let now = hub.now();
    match hub
        .store
        .claim_compile(org_id, plugin_id, owner, now, now + lease)
        .await
    {
        Ok(true) => {}
        // Compiled, deleted, or another process's to compile.
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(plugin_id, error = %e, "cannot claim a plugin compile");
            return;
        }
    }
    let (kind, wasm) = match hub.store.compile_input(org_id, plugin_id).await {
        Ok(Some(input)) => input,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(plugin_id, error = %e, "cannot read a plugin to compile");
            return;
        }
    };
    let Some(kind) = PluginKind::parse(&kind) else {
        tracing::error!(plugin_id, kind = %kind, "a stored plugin has an unknown kind");
        return;
    };
    let started = Instant::now();
    let size = wasm.len();
    let mut compiled = std::pin::pin!(thread.compile(hub.plugins.clone(), wasm, kind));
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut compiled => break result,
            _ = renew.tick() => {
                let until = hub.now() + lease;
                if let Err(e) = hub.store.renew_compile(org_id, plugin_id, owner, until).await {
                    tracing::warn!(plugin_id, error = %e, "cannot renew a plugin compile's claim");
                }
            }
        }
    };
    if let Err(UploadError::Unavailable) = result {
        // Stopping: the claim runs out and the version is compiled later.
        return;
    }
    let outcome = result.as_ref().map(|_| ()).map_err(failure);
    let stored = match &result {
        Ok(artifact) => Compiled::Ready(artifact),
        Err(_) => Compiled::Failed(&outcome.as_ref().unwrap_err().reason),
    };
    let label = if result.is_ok() { "ready" } else { "failed" };
    hub.metrics.plugin_compile(label);
    tracing::info!(
        plugin_id,
        size,
        outcome = label,
        ms = started.elapsed().as_millis() as u64,
        "compiled a plugin version"
    );
    match hub
        .store
        .finish_compile(org_id, plugin_id, owner, stored)
        .await
    {
        Ok(true) => {
            let _ = done.send(Done {
                plugin_id: plugin_id.to_string(),
                outcome,
            });
        }
        Ok(false) => tracing::info!(
            plugin_id,
            "a compiled plugin was deleted or taken over meanwhile"
        ),
        Err(e) => {
            tracing::warn!(plugin_id, error = %e, "cannot record a plugin compile; it will be compiled again")
        }
    }
}

/// The field and reason an upload's compile failure is told with.
fn failure(e: &UploadError) -> CompileFailure {
    let field = match e {
        UploadError::WrongKind { .. } => "kind",
        _ => "body",
    };
    let mut reason = e.to_string();
    if reason.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    CompileFailure { field, reason }
}

type Request = (
    Arc<PluginRuntime>,
    Vec<u8>,
    PluginKind,
    oneshot::Sender<Result<Vec<u8>, UploadError>>,
);

/// The one thread that compiles, so at most one compile's memory is held
/// at a time (wasmtime may still spread one compile over the cores).
struct CompileThread {
    requests: std::sync::mpsc::Sender<Request>,
}

impl CompileThread {
    fn start() -> std::io::Result<CompileThread> {
        let (requests, rx) = std::sync::mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("plugin-compile".into())
            .spawn(move || {
                lower_priority();
                // Ends when the queue's task drops its sender.
                while let Ok((runtime, wasm, kind, reply)) = rx.recv() {
                    // A panic in the compiler fails this component, not
                    // the thread every later upload needs.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        runtime.compile(&wasm, kind)
                    }))
                    .unwrap_or(Err(UploadError::Crashed));
                    drop(wasm);
                    let _ = reply.send(result);
                }
            })?;
        Ok(CompileThread { requests })
    }

    async fn compile(
        &self,
        runtime: Arc<PluginRuntime>,
        wasm: Vec<u8>,
        kind: PluginKind,
    ) -> Result<Vec<u8>, UploadError> {
        let (reply, answer) = oneshot::channel();
        if self.requests.send((runtime, wasm, kind, reply)).is_err() {
            return Err(UploadError::Unavailable);
        }
        answer.await.unwrap_or(Err(UploadError::Unavailable))
    }
}

/// The compile thread's nice value: enough for requests and deliveries to
/// win the cores while a compile runs, not so much that a busy machine
/// starves the compile (at 10, other processes' load held a tiny
/// component's compile for over a minute).
#[cfg(target_os = "linux")]
const NICE: libc::c_int = 5;

/// Lowers the compile thread's CPU priority: a compile takes tens of
/// seconds of every core it gets, and requests and deliveries should win
/// the cores while it runs. wasmtime's compile workers are created by the
/// first compile, from this thread, and inherit it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; on Linux `who = 0`
    // with PRIO_PROCESS names the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
    }
}

/// On SQLite, claims left by the last run are released at start and the
/// versions they held are compiled again now.
pub(crate) async fn recover(hub: &Hub) -> crate::storage::StoreResult<()> {
    if hub.store.backend() == Backend::Sqlite {
        let released = hub.store.release_compile_claims().await?;
        if released > 0 {
            tracing::info!(
                released,
                "compiling plugin versions left compiling by the last run"
            );
        }
    }
    hub.compiler.rescan();
    Ok(())
}
