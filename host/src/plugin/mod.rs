//! Customer plugins: WASM components run in a sandbox on every delivery.
//!
//! Each plugin version is checked at upload (`inspect.rs`, without
//! compiling), then compiled once by the hub's compile queue; the
//! compiled artifact lives in our own store and is the only thing ever
//! deserialised. A call runs in a store with an empty WASI context (no
//! files, network, environment, arguments or stdin), a memory cap, and a
//! fuel budget and an epoch deadline of its own; the store is fresh, or
//! on the delivery path one kept from the same plugin's last clean call on
//! the same webhook (`warm.rs`). The guest runs on a fiber of the async
//! worker that called it and hands that worker back at every epoch tick it
//! runs through, so guest code never holds a worker for long. Whatever the
//! guest does, the outcome is a [`CallError`], never a crash of the host.

mod bindings;
mod inspect;
pub mod runtime;
pub mod script;
mod slots;
mod warm;

pub use bindings::{OutgoingRequest, Verdict};
pub use runtime::{
    CallError, CallReport, ChainOutcome, PluginEvent, PluginKind, PluginLimits, PluginRuntime,
    UploadError,
};
pub use warm::WarmKey;
