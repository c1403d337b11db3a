//! The one place the host runs `bindgen!`, once per world of `wit/`. The
//! transform world reuses the filter world's `types`, so both speak the same
//! Rust types.

/// Host bindings of the `filter` world.
pub mod filter {
    wasmtime::component::bindgen!({
        world: "filter",
        path: "../wit",
        exports: { default: async },
    });
}

/// Host bindings of the `transform` world.
pub mod transform {
    wasmtime::component::bindgen!({
        world: "transform",
        path: "../wit",
        exports: { default: async },
        with: {
            "scaidrive:hooks/types": super::filter::scaidrive::hooks::types,
        },
    });
}

pub use filter::scaidrive::hooks::types::{Category, Event, OutgoingRequest, PluginError, Verdict};
