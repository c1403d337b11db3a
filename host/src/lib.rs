//! ScaiHub: signed, retried webhooks for ScaiDrive's audit events.
//!
//! # Layout
//! - [`config`]: the command line and settings, validated at start.
//! - [`domain`]: events, webhooks and scopes, and validating them.
//! - [`storage`]: the only module that speaks SQL (SQLite and PostgreSQL).
//! - [`hub`]: the service: ingest and fan-out, webhook management, principals.
//! - [`delivery`]: the worker that claims, signs, sends, retries and drops.
//! - [`plugin`]: the WebAssembly sandbox that runs customers' filters and
//!   transforms (wasmtime, the WIT bindings, fair call slots).
//! - [`oauth`]: access tokens (JWT), signing keys and PKCE for the
//!   authorization server; its grants live in `hub::oauth`.
//! - [`http`]: the API edge: routing, auth, errors, OpenAPI.
//! - [`console`]: the admin console, server-rendered pages under `/console`.
//! - [`state`]: the state every handler of `http` and `console` gets.
//! - [`server`]: wiring (the web app mounting `http` and `console`, the
//!   worker, the cluster tasks) and graceful shutdown.
//! - [`cli`]: the command line: the server's commands and the client
//!   commands that talk to a running ScaiHub over its API.
//! - [`error`]: the API's one error type.
//! - [`traces`]: the `traceparent` of deliveries and the optional
//!   OpenTelemetry export (OTLP/HTTP) of ingest and delivery spans.
//! - [`clock`], [`cookies`], [`crypto`], [`signing`], [`destinations`], [`ids`], [`metrics`]: the pieces they share.
//!
//! Modules look down this list's layers, never up: `storage` knows no
//! `hub`, `hub` no `delivery` or `http`, `http` and `console` not each
//! other; `server` alone sees them all (and `cli`, the client on top,
//! uses `server` only to run a plugin under the limits `serve` applies).

pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod cookies;
pub mod crypto;
pub mod delivery;
pub mod destinations;
pub mod domain;
pub mod error;
pub mod http;
pub mod hub;
pub mod ids;
pub mod metrics;
pub mod oauth;
pub mod plugin;
pub mod server;
pub mod signing;
pub mod state;
pub mod storage;
pub mod traces;

/// Makes `ring` the process's TLS crypto provider (we build reqwest and
/// hyper-rustls without a provider to avoid a C toolchain dependency).
/// Safe to call repeatedly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
