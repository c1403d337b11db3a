//! Write ScaiHub webhook plugins: filters that decide whether a webhook
//! receives an event, and transforms that rewrite the request it receives.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` against one
//! world of the `scaidrive:hooks@0.1.0` WIT package (in `wit/` of the ScaiHub
//! repository). This crate is the only dependency a plugin needs: it runs
//! the bindings generator, hides the generated types behind its own, and
//! exports a plugin with one macro call.
//!
//! # Layout
//! - [`Event`], [`Category`]: the event a plugin is called about, with JSON
//!   helpers for its payload ([`Event::payload_json`], [`Event::pointer`]).
//! - [`Request`]: the outgoing request a transform rewrites.
//! - [`Config`]: the JSON the webhook attached to the plugin, parsed on
//!   demand into any `serde` type with [`Config::parse`].
//! - [`Error`]: the plugin's failure, recorded on the delivery by the host.
//! - [`Filter`] + [`export_filter!`], [`Transform`] + [`export_transform!`]:
//!   what a plugin implements and how it is exported.
//!
//! # Example: a filter
//! `Cargo.toml` declares `crate-type = ["cdylib"]` and depends on this crate
//! (and `serde`, for the configuration struct); `src/lib.rs` is:
//!
//! ```
//! use scaihub_sdk::{export_filter, Config, Error, Event, Filter, Verdict};
//!
//! /// Delivers only events whose payload `role` is one of the configured ones.
//! struct RoleFilter;
//!
//! #[derive(serde::Deserialize)]
//! struct RoleConfig {
//!     roles: Vec<String>,
//! }
//!
//! impl Filter for RoleFilter {
//!     fn filter(event: &Event, config: &Config) -> Result<Verdict, Error> {
//!         let config: RoleConfig = config.parse()?;
//!         let role = event.pointer("/role");
//!         let allowed = role
//!             .as_ref()
//!             .and_then(|r| r.as_str())
//!             .is_some_and(|r| config.roles.iter().any(|a| a == r));
//!         Ok(Verdict::deliver_if(allowed))
//!     }
//! }
//!
//! export_filter!(RoleFilter);
//! # fn main() {
//! #     let event = Event::sample(&serde_json::json!({"role": "editor"}));
//! #     let config = Config::new(r#"{"roles": ["editor"]}"#);
//! #     assert_eq!(RoleFilter::filter(&event, &config), Ok(Verdict::Deliver));
//! # }
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` then leaves the component
//! in `target/wasm32-wasip2/release/<name>.wasm`, ready to upload.
//!
//! # Example: a transform
//! ```
//! use scaihub_sdk::{export_transform, Config, Error, Event, Request, Transform};
//!
//! /// Adds the event's category as a header and leaves the body alone.
//! struct CategoryHeader;
//!
//! impl Transform for CategoryHeader {
//!     fn transform(event: &Event, mut request: Request, _: &Config) -> Result<Request, Error> {
//!         request.set_header("X-Category", event.category.as_str());
//!         Ok(request)
//!     }
//! }
//!
//! export_transform!(CategoryHeader);
//! # fn main() {}
//! ```
//!
//! Plain functions like these can be unit-tested with `cargo test` on the
//! build machine's own target: build inputs with [`Event::sample`],
//! [`Config::new`] and [`Request::json`].

#![warn(missing_docs)]

// Lets the generated code name this crate the same way from inside it and
// from the plugin crates its export macros expand in.
extern crate self as scaihub_sdk;

// Generated code: its doc comments come from the WIT, its aliases have none.
#[allow(missing_docs)]
mod bindings;
mod config;
mod error;
mod event;
mod plugin;
mod request;

pub use config::Config;
pub use error::Error;
pub use event::{Category, Event};
pub use plugin::{Filter, Transform, Verdict};
pub use request::{APPLICATION_JSON, Request};
/// `serde_json`, re-exported so plugins can name [`Value`](serde_json::Value)
/// and use `json!` without a dependency of their own.
pub use serde_json;

/// The bindings generator's runtime, re-exported so the generated code (and
/// thus every plugin) reaches it through this crate: plugins need no
/// dependency on `wit-bindgen` themselves.
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// What the export macros expand to refers to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::{filter, transform};
    pub use crate::plugin::{run_filter, run_transform};
}

/// Exports a type implementing [`Filter`] as the component's `filter`
/// function. Call it once, at the top level of the plugin crate.
#[macro_export]
macro_rules! export_filter {
    ($plugin:ty) => {
        const _: () = {
            struct __ScaihubFilter;

            impl $crate::__private::filter::Guest for __ScaihubFilter {
                fn filter(
                    event: $crate::__private::filter::Event,
                    config: ::std::string::String,
                ) -> ::core::result::Result<
                    $crate::__private::filter::Verdict,
                    $crate::__private::filter::PluginError,
                > {
                    $crate::__private::run_filter::<$plugin>(event, config)
                }
            }

            $crate::__private::filter::__export_filter_world!(__ScaihubFilter);
        };
    };
}

/// Exports a type implementing [`Transform`] as the component's `transform`
/// function. Call it once, at the top level of the plugin crate.
#[macro_export]
macro_rules! export_transform {
    ($plugin:ty) => {
        const _: () = {
            struct __ScaihubTransform;

            impl $crate::__private::transform::Guest for __ScaihubTransform {
                fn transform(
                    event: $crate::__private::transform::Event,
                    request: $crate::__private::transform::OutgoingRequest,
                    config: ::std::string::String,
                ) -> ::core::result::Result<
                    $crate::__private::transform::OutgoingRequest,
                    $crate::__private::transform::PluginError,
                > {
                    $crate::__private::run_transform::<$plugin>(event, request, config)
                }
            }

            $crate::__private::transform::__export_transform_world!(__ScaihubTransform);
        };
    };
}
