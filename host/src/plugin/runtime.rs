//! The wasmtime engine, its sandbox settings, compiling and calling.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::filter::{Filter, FilterPre};
use super::bindings::transform::{Transform, TransformPre};
use super::bindings::{self, OutgoingRequest, Verdict};
use super::slots::{FairSlots, Slot};
use super::warm::{WarmKey, WarmPool};
use crate::domain::{Category, Event};

/// How often the epoch ticks; deadlines are counted in these.
const EPOCH_TICK: Duration = Duration::from_millis(2);

/// A call also ends after this many times its time cap in wall-clock time,
/// whatever it is doing: the time cap counts only the guest's own running,
/// so a guest that sleeps (a WASI clock it waits on) is stopped by this.
const WALL_FACTOR: u32 = 8;

/// Core instances (and tables) one plugin component may have: what the
/// largest supported toolchain makes (componentize-py: 14), with room.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;

/// The sandbox's limits, all configurable.
#[derive(Debug, Clone)]
pub struct PluginLimits {
    /// Largest accepted `.wasm` upload.
    pub max_module_bytes: usize,
    /// Largest linear memory a guest may grow to.
    pub max_memory_bytes: usize,
    /// Fuel (roughly, wasm instructions) per call.
    pub fuel: u64,
    /// Time cap per call: the guest's own running time, counted in epoch
    /// ticks (time spent yielded to other tasks does not count). A call
    /// also ends after 8 times this in wall-clock time, waiting included.
    pub timeout: Duration,
    /// Largest body (and headers) a transform may return.
    pub max_output_bytes: usize,
    /// Calls running at once (each holds a pooled instance slot).
    pub max_concurrent: usize,
    /// Instances kept between deliveries of the same plugin on the same
    /// webhook (`warm.rs`); 0 gives every call a fresh one.
    pub warm_instances: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            max_module_bytes: 32 * 1024 * 1024,
            max_memory_bytes: 32 * 1024 * 1024,
            fuel: 200_000_000,
            timeout: Duration::from_millis(250),
            max_output_bytes: 1024 * 1024,
            max_concurrent: 32,
            warm_instances: 32,
        }
    }
}

/// Which world a plugin targets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    Filter,
    Transform,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Filter => "filter",
            PluginKind::Transform => "transform",
        }
    }
    pub fn parse(text: &str) -> Option<PluginKind> {
        match text {
            "filter" => Some(PluginKind::Filter),
            "transform" => Some(PluginKind::Transform),
            _ => None,
        }
    }
}

/// Why an upload is refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the module is {0} bytes; the limit is {1}")]
    TooLarge(usize, usize),
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component exports neither `filter` nor `transform` from scaidrive:hooks")]
    NoWorld,
    #[error("the component is a {found} plugin, not a {declared} one")]
    WrongKind {
        declared: &'static str,
        found: &'static str,
    },
    #[error("the component imports something the sandbox does not provide: {0}")]
    Imports(String),
    #[error("the component's `{world}` export does not match scaidrive:hooks@0.1.0: {detail}")]
    Exports { world: &'static str, detail: String },
    /// The compiler itself failed on the component (a panic in wasmtime).
    #[error("the compiler failed on this component")]
    Crashed,
    /// The process's compile queue has stopped (the process is stopping).
    #[error("the compile queue has stopped")]
    Unavailable,
}

/// Why a call did not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The plugin returned one of its own errors.
    #[error("plugin error: {0}")]
    Plugin(String),
    /// The guest trapped, ran out of fuel or time, or hit the memory cap.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The output broke a rule (size, reserved headers).
    #[error("plugin output refused: {0}")]
    Output(String),
    /// The artifact could not be loaded.
    #[error("plugin unavailable: {0}")]
    Unavailable(String),
}

/// One plugin of a chain: its id, the loaded plugin, its config JSON.
pub type ChainCall = (String, Arc<Loaded>, String);

/// What a webhook's plugin chain decided.
#[derive(Debug)]
pub enum ChainOutcome {
    /// Every filter delivered; the transformed request, if there is a transform.
    Passed(Option<OutgoingRequest>),
    /// This filter said skip.
    Filtered(String),
    /// This filter failed (a filter that cannot decide never lets an event through).
    Failed(String, CallError),
    /// The transform failed; the webhook's policy decides.
    TransformFailed(String, CallError),
}

/// What a call cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallReport {
    pub duration: Duration,
    pub fuel_used: u64,
}

/// An event as plugins receive it, built once per delivery and lent to every
/// call of the chain. Its payload is JSON text: from a stored body it is that
/// body's own text, copied rather than parsed and written out again (which,
/// for a large payload, cost more than the call itself).
#[derive(Debug, Clone)]
pub struct PluginEvent(bindings::Event);

impl PluginEvent {
    /// From a stored event body (an event serialised as JSON).
    pub fn from_body(body: &str) -> Result<PluginEvent, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Stored<'a> {
            event_id: String,
            timestamp: String,
            category: Category,
            action: String,
            #[serde(default)]
            user_id: Option<String>,
            #[serde(default)]
            resource_id: Option<String>,
            #[serde(borrow)]
            payload: &'a serde_json::value::RawValue,
            #[serde(default)]
            ip_address: Option<String>,
            #[serde(default)]
            share_id: Option<String>,
            #[serde(default)]
            service_account: Option<String>,
        }
        let e: Stored = serde_json::from_str(body)?;
        Ok(PluginEvent(bindings::Event {
            event_id: e.event_id,
            timestamp: e.timestamp,
            category: wit_category(e.category),
            action: e.action,
            user_id: e.user_id,
            resource_id: e.resource_id,
            payload: e.payload.get().to_owned(),
            ip_address: e.ip_address,
            share_id: e.share_id,
            service_account: e.service_account,
        }))
    }

    /// From an event in memory (its payload written out as JSON).
    pub fn from_event(e: &Event) -> PluginEvent {
        PluginEvent(bindings::Event {
            event_id: e.event_id.clone(),
            timestamp: e.timestamp.clone(),
            category: wit_category(e.category),
            action: e.action.clone(),
            user_id: e.user_id.clone(),
            resource_id: e.resource_id.clone(),
            payload: e.payload.to_string(),
            ip_address: e.ip_address.clone(),
            share_id: e.share_id.clone(),
            service_account: e.service_account.clone(),
        })
    }

    /// The payload's JSON text, as the plugin sees it.
    pub fn payload(&self) -> &str {
        &self.0.payload
    }
}

/// A store's state: an empty WASI context, the memory limiter and the
/// time left to the call running in it. The context is built the first
/// time the guest calls into WASI, which most calls never do (building it
/// seeds two random generators, a measurable share of a call that does
/// nothing else).
pub struct CallState {
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    limiter: Limiter,
    /// Epoch ticks the running call may still run through.
    ticks_left: u64,
}

/// The store's caps, noting the largest memory granted (a kept instance
/// whose memory keeps growing is replaced, see `warm.rs`).
struct Limiter {
    caps: StoreLimits,
    largest_memory: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let granted = self.caps.memory_growing(current, desired, maximum)?;
        if granted {
            self.largest_memory = self.largest_memory.max(desired);
        }
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.caps.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.caps.instances()
    }

    fn tables(&self) -> usize {
        self.caps.tables()
    }

    fn memories(&self) -> usize {
        self.caps.memories()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            // An empty context: no preopened dirs, no env, no args, no
            // network, no stdin.
            ctx: self
                .wasi
                .get_or_insert_with(|| wasmtime_wasi::WasiCtxBuilder::new().build()),
            table: &mut self.table,
        }
    }
}

/// A compiled plugin ready to instantiate.
#[derive(Clone)]
pub enum Loaded {
    Filter(FilterPre<CallState>),
    Transform(TransformPre<CallState>),
    /// Code run by an interpreter component (script plugins, `script.rs`).
    Interpreted(Interpreted),
}

impl Loaded {
    pub fn kind(&self) -> PluginKind {
        match self {
            Loaded::Filter(_) => PluginKind::Filter,
            Loaded::Transform(_) => PluginKind::Transform,
            Loaded::Interpreted(i) => i.kind,
        }
    }

    /// The filter to instantiate and the config string it takes.
    fn as_filter<'a>(
        &'a self,
        config: &'a str,
    ) -> Option<(&'a FilterPre<CallState>, Cow<'a, str>)> {
        match self {
            Loaded::Filter(pre) => Some((pre, Cow::Borrowed(config))),
            Loaded::Interpreted(i) if i.kind == PluginKind::Filter => {
                Some((&i.interpreter.filter, Cow::Owned((i.config)(config))))
            }
            _ => None,
        }
    }

    /// The transform to instantiate and the config string it takes.
    fn as_transform<'a>(
        &'a self,
        config: &'a str,
    ) -> Option<(&'a TransformPre<CallState>, Cow<'a, str>)> {
        match self {
            Loaded::Transform(pre) => Some((pre, Cow::Borrowed(config))),
            Loaded::Interpreted(i) if i.kind == PluginKind::Transform => {
                Some((&i.interpreter.transform, Cow::Owned((i.config)(config))))
            }
            _ => None,
        }
    }
}

/// A component that runs the code it is given, exporting both worlds'
/// functions (the script engine, `script.rs`), ready to instantiate.
pub struct Interpreter {
    pub filter: FilterPre<CallState>,
    pub transform: TransformPre<CallState>,
}

/// A plugin run by an interpreter: its code travels in each call's config
/// string, so it takes the same calls, caps and slots as any component.
#[derive(Clone)]
pub struct Interpreted {
    pub kind: PluginKind,
    pub interpreter: Arc<Interpreter>,
    /// The interpreter's config string, from the plugin's own.
    pub config: Arc<dyn Fn(&str) -> String + Send + Sync>,
}

/// A live instance's exports.
enum Exports {
    Filter(Filter),
    Transform(Transform),
}

/// An instance with its store, kept between calls (`warm.rs`).
struct Kept {
    store: Store<CallState>,
    exports: Exports,
    /// Calls it has served.
    calls: u32,
    /// Its largest memory after its first call, in bytes.
    baseline: usize,
}

/// The process's plugin engine.
pub struct PluginRuntime {
    pub(super) engine: Engine,
    pub(super) linker: Linker<CallState>,
    /// The script engine, compiled or deserialised on first use.
    pub(super) interpreter: tokio::sync::OnceCell<Arc<Interpreter>>,
    limits: PluginLimits,
    pub(super) loaded: Mutex<HashMap<String, Arc<Loaded>>>,
    slots: Arc<FairSlots>,
    warm: WarmPool<Kept>,
    /// Calls that ran in a kept instance since the last metrics scrape.
    reused: std::sync::atomic::AtomicU64,
    ticker: EpochTicker,
}

/// Ticks the engine's epoch from a plain thread while any call runs, and
/// sleeps (parked, no wake-ups) while none does: an idle process, or one
/// of several sharing a machine, pays nothing for it. Stops when dropped.
struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: std::thread::Thread,
}

struct TickerShared {
    running: AtomicUsize,
    stop: AtomicBool,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<EpochTicker> {
        let shared = Arc::new(TickerShared {
            running: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("plugin-epoch".into())
                .spawn(move || {
                    while !shared.stop.load(Ordering::Acquire) {
                        if shared.running.load(Ordering::Acquire) == 0 {
                            // Woken by the first call to start (an unpark
                            // before this park makes it return at once).
                            std::thread::park();
                            continue;
                        }
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?
                .thread()
                .clone()
        };
        Ok(EpochTicker { shared, thread })
    }

    /// Keeps the epoch ticking until the guard is dropped.
    fn running(&self) -> Ticking<'_> {
        if self.shared.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Ticking(&self.shared)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// A call in progress, as far as the epoch ticker is concerned.
struct Ticking<'a>(&'a TickerShared);

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PluginRuntime {
    pub fn new(limits: PluginLimits) -> anyhow::Result<PluginRuntime> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = limits.max_concurrent.max(1) as u32;
        // Kept instances hold their pool slots while idle; calls hold at
        // most one instance each at a time (a chain's calls run in turn).
        let held = slots + limits.warm_instances as u32;
        // Each slot holds one call's component, sized for the largest a
        // supported toolchain makes: componentize-py's has 14 core
        // instances and as many tables, so at 8 a slot, Python calls
        // failed once a dozen ran at once. A component needing more is
        // refused when it is compiled, naming the limit.
        pool.total_component_instances(slots + held)
            .total_core_instances(held * CORE_INSTANCES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(held * 4)
            .total_tables(held * CORE_INSTANCES_PER_COMPONENT)
            .max_tables_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_stacks(slots * 2)
            .max_memories_per_component(4)
            .max_memory_size(limits.max_memory_bytes)
            // Under load, returning each instance's memory with its own
            // madvise costs a TLB shootdown across every core per call;
            // batching decommits and resetting small memories with memset
            // keeps that off the hot path.
            .decommit_batch_size(32)
            .linear_memory_keep_resident(2 * 1024 * 1024)
            .table_keep_resident(64 * 1024)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 * 1024)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        // Rust wasip2 guests import WASI even when they do no I/O; it is
        // linked, and the empty context denies everything it could reach.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(PluginRuntime {
            engine,
            linker,
            slots: FairSlots::new(limits.max_concurrent.max(1)),
            warm: WarmPool::new(limits.warm_instances),
            reused: Default::default(),
            limits,
            loaded: Mutex::default(),
            interpreter: tokio::sync::OnceCell::new(),
            ticker,
        })
    }

    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// The checks an upload gets before it is stored, without compiling:
    /// size cap, a valid component, the declared world, WASI imports only,
    /// the export's shape. [`PluginRuntime::compile`] checks all again.
    pub fn inspect(&self, wasm: &[u8], declared: PluginKind) -> Result<(), UploadError> {
        super::inspect::inspect(wasm, self.limits.max_module_bytes, declared)
    }

    /// Validates an upload and compiles it: a component, within the size
    /// cap, exporting one of our worlds (the declared one), importing only
    /// what the sandbox provides. Returns the serialised artifact to store.
    pub fn compile(&self, wasm: &[u8], declared: PluginKind) -> Result<Vec<u8>, UploadError> {
        if wasm.len() > self.limits.max_module_bytes {
            return Err(UploadError::TooLarge(
                wasm.len(),
                self.limits.max_module_bytes,
            ));
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(UploadError::NotAComponent(
                "missing the \\0asm header".into(),
            ));
        }
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| UploadError::NotAComponent(root_cause(&e)))?;
        let found = self.world_of(&component)?;
        if found != declared {
            return Err(UploadError::WrongKind {
                declared: declared.as_str(),
                found: found.as_str(),
            });
        }
        self.prepare(&component, found)?;
        component
            .serialize()
            .map_err(|e| UploadError::NotAComponent(root_cause(&e)))
    }

    fn world_of(&self, component: &Component) -> Result<PluginKind, UploadError> {
        let ty = component.component_type();
        let mut kinds = ty.exports(&self.engine).filter_map(|(name, _)| match name {
            "filter" => Some(PluginKind::Filter),
            "transform" => Some(PluginKind::Transform),
            _ => None,
        });
        match (kinds.next(), kinds.next()) {
            (Some(k), None) => Ok(k),
            _ => Err(UploadError::NoWorld),
        }
    }

    fn prepare(&self, component: &Component, kind: PluginKind) -> Result<Loaded, UploadError> {
        let pre: InstancePre<CallState> = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| UploadError::Imports(root_cause(&e)))?;
        let exports = |e: wasmtime::Error| UploadError::Exports {
            world: kind.as_str(),
            detail: root_cause(&e),
        };
        Ok(match kind {
            PluginKind::Filter => Loaded::Filter(FilterPre::new(pre).map_err(exports)?),
            PluginKind::Transform => Loaded::Transform(TransformPre::new(pre).map_err(exports)?),
        })
    }

    /// The plugin, from the cache or from its stored artifact.
    pub fn load(
        &self,
        plugin_id: &str,
        kind: PluginKind,
        artifact: &[u8],
    ) -> Result<Arc<Loaded>, CallError> {
        if let Some(l) = self.cached(plugin_id) {
            return Ok(l);
        }
        // SAFETY: artifacts are only ever produced by `compile` above with
        // this engine's configuration and read back from our own store.
        let component = unsafe { Component::deserialize(&self.engine, artifact) }
            .map_err(|e| CallError::Unavailable(root_cause(&e)))?;
        let loaded = Arc::new(
            self.prepare(&component, kind)
                .map_err(|e| CallError::Unavailable(e.to_string()))?,
        );
        self.loaded
            .lock()
            .expect("plugin cache lock")
            .insert(plugin_id.to_string(), loaded.clone());
        Ok(loaded)
    }

    pub fn cached(&self, plugin_id: &str) -> Option<Arc<Loaded>> {
        self.loaded
            .lock()
            .expect("plugin cache lock")
            .get(plugin_id)
            .cloned()
    }

    /// A fresh store, its caps set; [`PluginRuntime::arm`] readies it
    /// for each call.
    fn store(&self) -> Store<CallState> {
        let caps = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory_bytes)
            .instances(64)
            .tables(64)
            .memories(8)
            .build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi: None,
                table: ResourceTable::new(),
                limiter: Limiter {
                    caps,
                    largest_memory: 0,
                },
                ticks_left: 0,
            },
        );
        store.limiter(|s| &mut s.limiter);
        // The guest runs on a fiber of the async worker that called it. Each
        // epoch tick it has run through, it hands the worker back (so other
        // tasks go on) until its call's time budget is spent; then it traps.
        store.epoch_deadline_callback(|mut cx| {
            let state = cx.data_mut();
            state.ticks_left = state.ticks_left.saturating_sub(1);
            Ok(if state.ticks_left == 0 {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store
    }

    /// Gives a store a whole call's budget: fuel and time.
    fn arm(&self, store: &mut Store<CallState>) {
        let _ = store.set_fuel(self.limits.fuel);
        store.data_mut().ticks_left = self.deadline_ticks();
        store.set_epoch_deadline(1);
    }

    /// The kept instance for `key`, or a fresh store to instantiate in.
    fn store_for(&self, key: Option<&WarmKey>) -> (Store<CallState>, Option<Exports>, u32, usize) {
        match key.and_then(|k| self.warm.take(k)) {
            Some(kept) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                (kept.store, Some(kept.exports), kept.calls, kept.baseline)
            }
            None => (self.store(), None, 0, 0),
        }
    }

    /// After a clean return: keeps the instance for the next call of `key`
    /// unless it has served its calls or its memory keeps growing (see
    /// `warm.rs`); otherwise it is dropped here.
    fn keep(
        &self,
        key: Option<WarmKey>,
        store: Store<CallState>,
        exports: Exports,
        calls: u32,
        baseline: usize,
    ) {
        let Some(key) = key else { return };
        let largest = store.data().limiter.largest_memory;
        let baseline = if calls == 0 { largest } else { baseline };
        let headroom = self.limits.max_memory_bytes.saturating_sub(baseline);
        if calls + 1 >= super::warm::MAX_CALLS || largest > baseline + headroom / 2 {
            return;
        }
        self.warm.put(
            key,
            Kept {
                store,
                exports,
                calls: calls + 1,
                baseline,
            },
        );
    }

    /// Instances kept for later calls now.
    pub fn kept_instances(&self) -> usize {
        self.warm.kept()
    }

    /// Drops the kept instances that have not been used for a while
    /// (`warm.rs`), giving their memory back.
    pub fn expire_idle_instances(&self) {
        self.warm.expire_idle();
    }

    /// Calls that ran in a kept instance since this was last asked.
    pub fn take_reused_calls(&self) -> u64 {
        self.reused.swap(0, Ordering::Relaxed)
    }

    /// The time cap in epoch ticks of the guest's own running: a tick
    /// counts when it passes while the guest runs, not while it waits.
    fn deadline_ticks(&self) -> u64 {
        (self.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    /// The wall-clock cap of one call (dropping the call unwinds the guest).
    fn wall_limit(&self) -> Duration {
        self.limits.timeout * WALL_FACTOR
    }

    fn wall_limit_error(&self) -> CallError {
        CallError::Trap(format!(
            "exceeded its wall-clock limit of {} ms (waiting counts)",
            self.wall_limit().as_millis()
        ))
    }

    /// Waits for one of the pooled instance slots, on behalf of `tenant`
    /// (an organisation): while slots are short they go round the waiting
    /// tenants in turn.
    async fn slot(&self, tenant: &str) -> Result<Slot, CallError> {
        self.slots
            .acquire(tenant)
            .await
            .map_err(|_| CallError::Unavailable("plugin runtime is shutting down".into()))
    }

    /// One filter call, in the instance kept for `key` or a fresh one.
    async fn call_filter(
        &self,
        pre: &FilterPre<CallState>,
        event: &bindings::Event,
        config: &str,
        key: Option<WarmKey>,
    ) -> (Result<bool, CallError>, CallReport) {
        let (mut store, exports, calls, baseline) = self.store_for(key.as_ref());
        self.arm(&mut store);
        let _ticking = self.ticker.running();
        let started = Instant::now();
        let call = async {
            let f = match exports {
                Some(Exports::Filter(f)) => f,
                _ => pre.instantiate_async(&mut store).await?,
            };
            let verdict = f.call_filter(&mut store, event, config).await?;
            Ok::<_, wasmtime::Error>((f, verdict))
        };
        let outcome = tokio::time::timeout(self.wall_limit(), call).await;
        let report = self.report(&store, started);
        let result = match outcome {
            Err(_) => Err(self.wall_limit_error()),
            Ok(Err(e)) => Err(CallError::Trap(trap_text(&e))),
            Ok(Ok((f, verdict))) => {
                self.keep(key, store, Exports::Filter(f), calls, baseline);
                match verdict {
                    Ok(Verdict::Deliver) => Ok(true),
                    Ok(Verdict::Skip) => Ok(false),
                    Err(e) => Err(CallError::Plugin(plugin_error_text(&e))),
                }
            }
        };
        (result, report)
    }

    /// One transform call, in the instance kept for `key` or a fresh one,
    /// its output checked.
    async fn call_transform(
        &self,
        pre: &TransformPre<CallState>,
        event: &bindings::Event,
        request: &OutgoingRequest,
        config: &str,
        key: Option<WarmKey>,
    ) -> (Result<OutgoingRequest, CallError>, CallReport) {
        let (mut store, exports, calls, baseline) = self.store_for(key.as_ref());
        self.arm(&mut store);
        let _ticking = self.ticker.running();
        let started = Instant::now();
        let call = async {
            let t = match exports {
                Some(Exports::Transform(t)) => t,
                _ => pre.instantiate_async(&mut store).await?,
            };
            let out = t.call_transform(&mut store, event, request, config).await?;
            Ok::<_, wasmtime::Error>((t, out))
        };
        let outcome = tokio::time::timeout(self.wall_limit(), call).await;
        let report = self.report(&store, started);
        let result = match outcome {
            Err(_) => Err(self.wall_limit_error()),
            Ok(Err(e)) => Err(CallError::Trap(trap_text(&e))),
            Ok(Ok((t, out))) => {
                self.keep(key, store, Exports::Transform(t), calls, baseline);
                match out {
                    Ok(out) => check_output(out, self.limits.max_output_bytes),
                    Err(e) => Err(CallError::Plugin(plugin_error_text(&e))),
                }
            }
        };
        (result, report)
    }

    fn report(&self, store: &Store<CallState>, started: Instant) -> CallReport {
        CallReport {
            duration: started.elapsed(),
            fuel_used: self
                .limits
                .fuel
                .saturating_sub(store.get_fuel().unwrap_or(0)),
        }
    }

    /// Runs a filter for `tenant` (the organisation whose call it is), in
    /// the instance kept for `warm` if there is one, else a fresh one
    /// (always, with `None`: tests of a plugin, script runs).
    pub async fn filter(
        &self,
        tenant: &str,
        loaded: Arc<Loaded>,
        event: &PluginEvent,
        config: &str,
        warm: Option<WarmKey>,
    ) -> (Result<bool, CallError>, CallReport) {
        let Some((pre, config)) = loaded.as_filter(config) else {
            return (
                Err(CallError::Unavailable("not a filter plugin".into())),
                CallReport::default(),
            );
        };
        let _slot = match self.slot(tenant).await {
            Ok(s) => s,
            Err(e) => return (Err(e), CallReport::default()),
        };
        self.call_filter(pre, &event.0, &config, warm).await
    }

    /// Runs a transform for `tenant` and checks its output; `warm` as for
    /// [`PluginRuntime::filter`].
    pub async fn transform(
        &self,
        tenant: &str,
        loaded: Arc<Loaded>,
        event: &PluginEvent,
        request: OutgoingRequest,
        config: &str,
        warm: Option<WarmKey>,
    ) -> (Result<OutgoingRequest, CallError>, CallReport) {
        let Some((pre, config)) = loaded.as_transform(config) else {
            return (
                Err(CallError::Unavailable("not a transform plugin".into())),
                CallReport::default(),
            );
        };
        let _slot = match self.slot(tenant).await {
            Ok(s) => s,
            Err(e) => return (Err(e), CallReport::default()),
        };
        self.call_transform(pre, &event.0, &request, &config, warm)
            .await
    }

    /// Runs a webhook's filters, then its transform, holding one instance
    /// slot (taken on behalf of `tenant`, the webhook's organisation) for
    /// the chain. `scope` names the webhook and its version: each call runs
    /// in an instance kept from an earlier delivery of that scope with the
    /// same plugin and config, or in a fresh one (`warm.rs`).
    pub async fn chain(
        &self,
        tenant: &str,
        scope: &str,
        filters: Vec<ChainCall>,
        transform: Option<ChainCall>,
        event: &PluginEvent,
        request: OutgoingRequest,
    ) -> ChainOutcome {
        let _slot = match self.slot(tenant).await {
            Ok(s) => s,
            Err(e) => return ChainOutcome::Failed("runtime".into(), e),
        };
        let event = &event.0;
        for (id, loaded, config) in filters {
            let Some((pre, config)) = loaded.as_filter(&config) else {
                return ChainOutcome::Failed(
                    id,
                    CallError::Unavailable("not a filter plugin".into()),
                );
            };
            let key = WarmKey::new(scope, &id, &config);
            match self.call_filter(pre, event, &config, Some(key)).await.0 {
                Ok(true) => {}
                Ok(false) => return ChainOutcome::Filtered(id),
                Err(e) => return ChainOutcome::Failed(id, e),
            }
        }
        let Some((id, loaded, config)) = transform else {
            return ChainOutcome::Passed(None);
        };
        let Some((pre, config)) = loaded.as_transform(&config) else {
            return ChainOutcome::TransformFailed(
                id,
                CallError::Unavailable("not a transform plugin".into()),
            );
        };
        let key = WarmKey::new(scope, &id, &config);
        match self
            .call_transform(pre, event, &request, &config, Some(key))
            .await
            .0
        {
            Ok(out) => ChainOutcome::Passed(Some(out)),
            Err(e) => ChainOutcome::TransformFailed(id, e),
        }
    }
}

/// Header names a transform may not set.
fn reserved_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("x-scaidrive-")
        || matches!(
            lower.as_str(),
            "host"
                | "content-length"
                | "connection"
                | "keep-alive"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "content-type"
        )
}

fn check_output(out: OutgoingRequest, max: usize) -> Result<OutgoingRequest, CallError> {
    let header_bytes: usize = out.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if out.body.len() + header_bytes > max {
        return Err(CallError::Output(format!(
            "{} bytes returned; the limit is {max}",
            out.body.len() + header_bytes
        )));
    }
    if out.headers.len() > 50 {
        return Err(CallError::Output("more than 50 headers".into()));
    }
    for (name, value) in &out.headers {
        if reserved_header(name) {
            return Err(CallError::Output(format!(
                "header {} is set by ScaiHub (use content-type for Content-Type)",
                clip(name.clone(), 100)
            )));
        }
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(value).is_err()
        {
            return Err(CallError::Output(format!(
                "header {:?} is not a valid HTTP header",
                clip(name.clone(), 100)
            )));
        }
    }
    if axum::http::HeaderValue::from_str(&out.content_type).is_err() || out.content_type.is_empty()
    {
        return Err(CallError::Output(
            "content-type is not a valid header value".into(),
        ));
    }
    Ok(out)
}

fn wit_category(c: Category) -> bindings::Category {
    match c {
        Category::Authentication => bindings::Category::Authentication,
        Category::Authorization => bindings::Category::Authorization,
        Category::FileAccess => bindings::Category::FileAccess,
        Category::FileModification => bindings::Category::FileModification,
        Category::Sharing => bindings::Category::Sharing,
        Category::Admin => bindings::Category::Admin,
        Category::Security => bindings::Category::Security,
        Category::Compliance => bindings::Category::Compliance,
    }
}

fn plugin_error_text(e: &bindings::PluginError) -> String {
    let (kind, text) = match e {
        bindings::PluginError::InvalidConfig(t) => ("invalid config", t),
        bindings::PluginError::InvalidEvent(t) => ("invalid event", t),
        bindings::PluginError::Failed(t) => ("failed", t),
    };
    clip(format!("{kind}: {text}"), 1000)
}

/// `text` cut to at most `max` bytes, on a character boundary (a guest's
/// message may be any UTF-8; cutting inside a character would panic).
fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn trap_text(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        let what = match trap {
            wasmtime::Trap::OutOfFuel => "ran out of fuel (CPU budget)".to_string(),
            wasmtime::Trap::Interrupt => "exceeded its time limit".to_string(),
            wasmtime::Trap::StackOverflow => "overflowed its stack".to_string(),
            other => other.to_string(),
        };
        return what;
    }
    clip(root_cause(e), 500)
}

fn root_cause(e: &wasmtime::Error) -> String {
    format!("{:#}", e)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin sees the same event whether it was built from the stored
    /// body (the delivery path) or from the event in memory (the test API).
    #[test]
    fn an_event_from_its_stored_body_is_the_event_itself() {
        let events = [
            serde_json::json!({
                "event_id": "evt_1", "timestamp": "2026-05-12T14:23:01Z",
                "category": "SHARING", "action": "share.member_added",
                "user_id": "usr_a", "resource_id": "shr_b", "ip_address": "10.0.0.1",
                "share_id": "shr_b", "service_account": "svc_c",
                "payload": {"role": "owner", "n": [1, 2.5, -3e-7, 12345678901234567890u64],
                            "text": "quote \" slash \\ tab \t é 😀 \u{1}", "nested": {"z": null, "a": true}}
            }),
            serde_json::json!({
                "event_id": "evt_2", "timestamp": "2026-05-12T14:23:01Z",
                "category": "ADMIN", "action": "admin.x", "payload": {}
            }),
        ];
        for json in events {
            let event = Event::from_json(&json, "").unwrap();
            let from_body = PluginEvent::from_body(&event.to_body()).unwrap();
            let from_event = PluginEvent::from_event(&event);
            assert_eq!(format!("{from_body:?}"), format!("{from_event:?}"));
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(from_body.payload()).unwrap(),
                json["payload"]
            );
        }
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let text = "é".repeat(1000); // 2,000 bytes
        let cut = clip(text.clone(), 999);
        assert_eq!(cut.len(), 998);
        assert!(text.starts_with(&cut));
        assert_eq!(clip("short".into(), 999), "short");
        let error = bindings::PluginError::Failed("😀".repeat(700));
        assert!(plugin_error_text(&error).len() <= 1000);
    }

    #[test]
    fn a_stored_body_that_is_not_an_event_is_refused() {
        assert!(PluginEvent::from_body("{}").is_err());
        assert!(PluginEvent::from_body("not json").is_err());
    }
}
