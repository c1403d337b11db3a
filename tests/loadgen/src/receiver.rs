//! `loadgen receiver`: the webhook receiver process. Answers 200 to every
//! POST, records its arrival time and the event's `payload.sent_at_us`, and
//! serves `GET /stats` and `POST /reset` (neither is counted).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};

use crate::stats::{Percentiles, ReceiverStats, now_us};

/// Everything recorded since start or the last reset.
#[derive(Default)]
struct Record {
    count: u64,
    without_sent_at: u64,
    first_at_us: i64,
    last_at_us: i64,
    last_new_at_us: i64,
    /// `path` + NUL + `event_id`, one per webhook and event.
    seen: HashSet<Box<[u8]>>,
    latencies_us: Vec<i64>,
}

/// A std Mutex, not a Tokio one: no await happens while it is held, and
/// the critical section is a push and a hash insert.
type Shared = Arc<Mutex<Record>>;

/// Binds `listen`, prints the bound address as the first stdout line, and
/// serves until the process ends (or stdin closes, with `exit_on_stdin_eof`,
/// so a receiver never outlives the generator that spawned it).
pub async fn serve(listen: SocketAddr, exit_on_stdin_eof: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    println!("{addr}");
    use std::io::Write;
    std::io::stdout().flush()?;
    if exit_on_stdin_eof {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    axum::serve(listener, app()).await?;
    Ok(())
}

fn app() -> Router {
    let shared = Shared::default();
    Router::new()
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .fallback(record)
        .with_state(shared)
}

async fn record(State(shared): State<Shared>, method: Method, uri: Uri, body: Bytes) -> StatusCode {
    let at = now_us();
    if method != Method::POST {
        return StatusCode::OK;
    }
    let sent_at = find_number(&body, b"\"sent_at_us\":");
    let key = dedup_key(uri.path(), &body);
    let mut r = shared.lock().expect("receiver lock");
    r.count += 1;
    if r.first_at_us == 0 {
        r.first_at_us = at;
    }
    r.last_at_us = at;
    if r.seen.insert(key) {
        r.last_new_at_us = at;
    }
    match sent_at {
        Some(sent) => r.latencies_us.push(at - sent),
        None => r.without_sent_at += 1,
    }
    StatusCode::OK
}

/// `?counts_only=1` skips the percentiles (a copy and a sort of every
/// latency), for cheap polling while a run drains.
#[derive(serde::Deserialize)]
struct StatsQuery {
    #[serde(default)]
    counts_only: Option<String>,
}

async fn stats(State(shared): State<Shared>, Query(q): Query<StatsQuery>) -> Json<ReceiverStats> {
    let counts_only = q.counts_only.is_some_and(|v| v != "0" && v != "false");
    // Copy out under the lock, sort outside it.
    let (mut lat, mut out) = {
        let r = shared.lock().expect("receiver lock");
        let out = ReceiverStats {
            count: r.count,
            unique: r.seen.len() as u64,
            duplicates: r.count - r.seen.len() as u64,
            without_sent_at: r.without_sent_at,
            first_at_us: r.first_at_us,
            last_at_us: r.last_at_us,
            last_new_at_us: r.last_new_at_us,
            latency: Percentiles::default(),
        };
        (
            if counts_only {
                Vec::new()
            } else {
                r.latencies_us.clone()
            },
            out,
        )
    };
    out.latency = Percentiles::of(&mut lat);
    Json(out)
}

async fn reset(State(shared): State<Shared>) -> StatusCode {
    *shared.lock().expect("receiver lock") = Record::default();
    StatusCode::NO_CONTENT
}

/// The event's identity at this path. A byte search, not a JSON parse, so
/// the receiver spends as little of the shared CPU as it can.
fn dedup_key(path: &str, body: &[u8]) -> Box<[u8]> {
    let id = find_string(body, b"\"event_id\":\"").unwrap_or(body);
    let mut key = Vec::with_capacity(path.len() + 1 + id.len());
    key.extend_from_slice(path.as_bytes());
    key.push(0);
    key.extend_from_slice(id);
    key.into_boxed_slice()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + needle.len())
}

/// The integer right after `key` (which ends with the colon).
fn find_number(body: &[u8], key: &[u8]) -> Option<i64> {
    let start = find(body, key)?;
    let rest = &body[start..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The string value right after `key` (which ends with the opening quote).
fn find_string<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = find(body, key)?;
    let len = body[start..].iter().position(|b| *b == b'"')?;
    Some(&body[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sent_at_and_event_id_in_compact_and_spaced_json() {
        let body = br#"{"event_id":"evt_1","payload":{"pad":"x","sent_at_us": 1700000000000001}}"#;
        assert_eq!(
            find_number(body, b"\"sent_at_us\":"),
            Some(1_700_000_000_000_001)
        );
        assert_eq!(find_string(body, b"\"event_id\":\""), Some(&b"evt_1"[..]));
        assert_eq!(find_number(b"{}", b"\"sent_at_us\":"), None);
        assert_ne!(dedup_key("/hook/0", body), dedup_key("/hook/1", body));
    }
}
