//! The HTTP side: an axum [`Router`] with one `POST` route for ScaiHub.
//!
//! The handler does only what must happen before answering, in this order:
//!
//! 1. read the exact body bytes (never a re-serialised JSON value);
//! 2. [`verify`] `X-ScaiDrive-Signature`, or [`verify_standard`] the
//!    Standard Webhooks headers when `webhook-signature` is present (a
//!    webhook whose `signature_scheme` is `standard`) — 401 if missing or
//!    wrong;
//! 3. record `X-ScaiDrive-Delivery-Id` in [`SeenDeliveries`] — a repeat is
//!    answered 200 and goes no further (only *verified* requests reach this
//!    step, so a stranger cannot fill the set or block real ids);
//! 4. log one line for the event;
//! 5. hand a [`Delivery`] to a bounded queue and answer 200.
//!
//! The real work happens after answering, in whatever drains the queue
//! (see `main.rs`). ScaiHub counts a slow answer as a failure and retries,
//! so keep the handler fast. If the queue is full the handler forgets the
//! id and answers 503; ScaiHub will try again later.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::dedup::SeenDeliveries;
use crate::signature::{SIGNATURE_HEADER, verify};
use crate::standard::{StandardHeaders, verify_standard};

/// `X-ScaiDrive-Delivery-Id`: the same on every retry of one delivery.
pub const DELIVERY_ID_HEADER: &str = "x-scaidrive-delivery-id";
/// The Standard Webhooks signature header; its presence selects that scheme.
pub const STANDARD_SIGNATURE_HEADER: &str = "webhook-signature";
/// `X-ScaiDrive-Event`: the event's action, e.g. `share.created`.
pub const EVENT_HEADER: &str = "x-scaidrive-event";

/// How the receiver behaves; [`ReceiverConfig::new`] fills in defaults.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Every secret currently accepted (two during a rotation overlap).
    pub secrets: Vec<Vec<u8>>,
    /// How many recent delivery ids to remember for deduplication.
    pub dedup_capacity: usize,
    /// How many accepted deliveries may wait for the worker.
    pub queue_capacity: usize,
    /// Largest body accepted; bigger requests get 413.
    pub max_body_bytes: usize,
}

impl ReceiverConfig {
    /// Default queue of 1,024, 10,000 remembered ids, bodies up to 1 MiB.
    pub fn new(secrets: Vec<Vec<u8>>) -> Self {
        Self {
            secrets,
            dedup_capacity: SeenDeliveries::DEFAULT_CAPACITY,
            queue_capacity: 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// One verified, first-time delivery, waiting to be processed.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-ScaiDrive-Delivery-Id`, if the request carried one.
    pub delivery_id: Option<String>,
    /// `X-ScaiDrive-Event` (the action), if present.
    pub event_header: Option<String>,
    /// The body exactly as received.
    pub body: Bytes,
    /// The body parsed as JSON, or `None` if it is not JSON (a transform
    /// plugin may send another format).
    pub event: Option<Value>,
}

/// What the handler shares between requests.
#[derive(Debug)]
struct Shared {
    secrets: Vec<Vec<u8>>,
    seen: SeenDeliveries,
    queue: mpsc::Sender<Delivery>,
}

/// Builds the router serving `POST {path}`, and the receiving end of the
/// work queue it fills. Drain the queue (or drop it, and every request
/// answers 503).
///
/// `path` is an axum route: check it with [`is_literal_path`] first (axum
/// panics on an invalid route, and `{name}` or `*` would make a pattern).
pub fn router(path: &str, config: ReceiverConfig) -> (Router, mpsc::Receiver<Delivery>) {
    let (queue, work) = mpsc::channel(config.queue_capacity.max(1));
    let shared = Arc::new(Shared {
        secrets: config.secrets,
        seen: SeenDeliveries::new(config.dedup_capacity),
        queue,
    });
    let router = Router::new()
        .route(path, post(receive))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(shared);
    (router, work)
}

/// Whether `path` is a plain route path: starts with `/`, and has no `{`,
/// `}`, `*` or `:` that axum would read as (or reject as) a pattern.
pub fn is_literal_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['{', '}', '*', ':'])
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    // 1–2. Authenticity, on the raw bytes, in the webhook's scheme.
    let verdict = if headers.contains_key(STANDARD_SIGNATURE_HEADER) {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let secrets: Vec<&str> = shared
            .secrets
            .iter()
            .filter_map(|s| std::str::from_utf8(s).ok())
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let standard = StandardHeaders {
            id: text("webhook-id"),
            timestamp: text("webhook-timestamp"),
            signature: text(STANDARD_SIGNATURE_HEADER),
        };
        verify_standard(standard, &secrets, &body, now).map_err(|e| e.to_string())
    } else {
        let signature = signature_value(&headers);
        let secrets: Vec<&[u8]> = shared.secrets.iter().map(Vec::as_slice).collect();
        verify(&signature, &secrets, &body).map_err(|e| e.to_string())
    };
    if let Err(error) = verdict {
        tracing::warn!(%error, "rejected request");
        return (StatusCode::UNAUTHORIZED, "invalid or missing signature\n");
    }

    // 3. Deduplication.
    let delivery_id = header_text(&headers, DELIVERY_ID_HEADER);
    match &delivery_id {
        Some(id) if !shared.seen.insert(id) => {
            tracing::info!(delivery_id = %id, "repeat of an accepted delivery; not processed again");
            return (StatusCode::OK, "duplicate, already received\n");
        }
        Some(_) => {}
        None => tracing::warn!("no X-ScaiDrive-Delivery-Id; cannot deduplicate this request"),
    }

    // 4. One log line per event.
    let event_header = header_text(&headers, EVENT_HEADER);
    let event: Option<Value> = serde_json::from_slice(&body).ok();
    let field = |name: &str| {
        event
            .as_ref()
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    tracing::info!(
        event_id = %field("event_id"),
        category = %field("category"),
        action = %field("action"),
        x_scaidrive_event = %event_header.as_deref().unwrap_or("-"),
        delivery_id = %delivery_id.as_deref().unwrap_or("-"),
        "event received"
    );

    // 5. Hand over and answer.
    let delivery = Delivery {
        delivery_id,
        event_header,
        body,
        event,
    };
    match shared.queue.try_send(delivery) {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(error) => {
            let delivery = match error {
                mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => d,
            };
            if let Some(id) = &delivery.delivery_id {
                shared.seen.remove(id);
            }
            tracing::warn!(
                delivery_id = delivery.delivery_id.as_deref().unwrap_or("-"),
                "work queue unavailable; asking ScaiHub to retry"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "busy, retry later\n")
        }
    }
}

/// The signature header as one string. HTTP lets a list header arrive as
/// several lines; they mean the same as one comma-joined line. A value that
/// is not visible ASCII cannot be a valid signature and becomes `"?"`,
/// which [`verify`] rejects as malformed.
fn signature_value(headers: &HeaderMap) -> String {
    let values: Vec<&str> = headers
        .get_all(SIGNATURE_HEADER)
        .iter()
        .map(|v| v.to_str().unwrap_or("?"))
        .collect();
    values.join(",")
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths() {
        assert!(is_literal_path("/webhooks/scaidrive"));
        assert!(is_literal_path("/"));
        for bad in ["", "webhooks", "/hooks/{id}", "/hooks/*rest", "/hooks/:id"] {
            assert!(!is_literal_path(bad), "{bad:?}");
        }
    }
}
