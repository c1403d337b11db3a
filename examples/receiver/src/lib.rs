//! `scaihub-example-receiver`: the library half of the example receiver.
//!
//! This file owns the crate's public face and nothing else; the pieces live
//! in three small modules, each usable on its own:
//!
//! - [`signature`]: [`verify`] checks `X-ScaiDrive-Signature` against the
//!   exact body bytes and one or more secrets, in constant time. No I/O — the
//!   part to copy if you use another web framework.
//! - [`standard`]: [`verify_standard`] checks a Standard Webhooks
//!   signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`),
//!   for webhooks whose `signature_scheme` is `standard`.
//! - [`dedup`]: [`SeenDeliveries`], a bounded in-memory set of recent
//!   `X-ScaiDrive-Delivery-Id`s, so a retried delivery is answered 200 but
//!   processed once.
//! - [`app`]: [`router`], the axum route that puts the two together, logs
//!   one line per event and queues the work for after the answer.
//!
//! The binary (`src/main.rs`) only reads settings, serves the router and
//! drains the queue. See `README.md` for how to run it against ScaiHub.

pub mod app;
pub mod dedup;
pub mod signature;
pub mod standard;

pub use app::{
    DELIVERY_ID_HEADER, Delivery, EVENT_HEADER, ReceiverConfig, is_literal_path, router,
};
pub use dedup::SeenDeliveries;
pub use signature::{MAX_SIGNATURES, SIGNATURE_HEADER, VerifyError, sign, verify};
pub use standard::{StandardError, StandardHeaders, TOLERANCE_SECS, verify_standard};
