//! Customer plugins: WASM components run in a sandbox on every delivery.
//!
//! Each plugin version is checked at upload (`inspect.rs`, without
//! compiling), then compiled once by the hub's compile queue; the
//! compiled artifact lives in our own store and is the only thing ever
//! deserialised. A call gets a fresh store with an empty WASI context (no
//! files, network, environment, arguments or stdin), a memory cap, a fuel
//! budget and an epoch deadline. The guest runs on a fiber of the async
//! worker that called it and hands that worker back at every epoch tick it
//! runs through, so guest code never holds a worker for long. Whatever the
//! guest does, the outcome is a [`CallError`], never a crash of the host.

mod bindings;
mod inspect;
pub mod runtime;
pub mod script;
mod slots;

pub use bindings::{OutgoingRequest, Verdict};
pub use runtime::{
    CallError, CallReport, ChainOutcome, PluginEvent, PluginKind, PluginLimits, PluginRuntime,
    UploadError,
};
