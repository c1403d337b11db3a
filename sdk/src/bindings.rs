//! The one place that runs `wit_bindgen::generate!`, once per world of
//! `../wit`. Plugin authors never name anything here: the SDK's own types
//! and the `export_*!` macros sit in front of it.
//!
//! Both worlds share the `types` interface. The filter world generates it;
//! the transform world is told (`with`) to reuse those Rust types instead of
//! making a second, incompatible copy.

/// Bindings of the `filter` world.
pub mod filter {
    wit_bindgen::generate!({
        world: "filter",
        path: "../wit",
        runtime_path: "scaihub_sdk::__wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_filter_world",
        default_bindings_module: "scaihub_sdk::__private::filter",
    });
}

/// Bindings of the `transform` world.
pub mod transform {
    wit_bindgen::generate!({
        world: "transform",
        path: "../wit",
        runtime_path: "scaihub_sdk::__wit_bindgen::rt",
        pub_export_macro: true,
        export_macro_name: "__export_transform_world",
        default_bindings_module: "scaihub_sdk::__private::transform",
        with: {
            "scaidrive:hooks/types@0.1.0": crate::bindings::filter::scaidrive::hooks::types,
        },
    });
}
