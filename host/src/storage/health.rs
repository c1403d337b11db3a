//! Per-webhook health: what the delivery recorder writes once per batch,
//! and what the API and `/metrics` read.
//!
//! The failure streak (`consecutive_failures`, `failing_since`) and the last
//! outcome live on the webhook row. The success rate comes from hourly
//! buckets (`webhook_hours`: attempts per webhook per hour), summed over the
//! last 24 hours on read. Buckets were chosen over counting the `attempts`
//! table on read because that costs a join over every attempt of the day
//! (unbounded for a busy webhook, and `/metrics` reads every webhook), and
//! over a decayed counter because a bucket count is exact and explainable
//! ("7 of 10 attempts since 14:00 yesterday"); the price is one multi-row
//! upsert per recorder batch and at most ~25 small rows per webhook, which
//! retention trims.

use std::collections::BTreeMap;

use sqlx::Row;

use super::deliveries::{AttemptRecord, Completion, DeliveryStatus};
use super::{Store, StoreResult, Tx, on_read};
use crate::clock::Millis;

/// One hour in milliseconds: the bucket width.
pub const HOUR_MS: Millis = 3_600_000;
/// How far back the success rate looks.
pub const RATE_WINDOW_HOURS: i64 = 24;
/// Longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 200;

/// How a webhook is doing, at a glance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Its last attempt succeeded, or it has work and has not failed since.
    Healthy,
    /// Its last attempt failed (see `failing_since`, `last_error`).
    Failing,
    /// Paused by an operator; events queue up.
    Paused,
    /// No attempt in the last 24 hours and nothing owed.
    Idle,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Failing => "failing",
            HealthStatus::Paused => "paused",
            HealthStatus::Idle => "idle",
        }
    }

    pub fn parse(text: &str) -> Option<HealthStatus> {
        [
            HealthStatus::Healthy,
            HealthStatus::Failing,
            HealthStatus::Paused,
            HealthStatus::Idle,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The SQL condition on `webhooks` (aliased `w`) selecting this status;
    /// `$since` is the first hour of the rate window. Mirrors
    /// [`HealthRecord::status`].
    pub(crate) fn condition(self, since: &str) -> String {
        let active = format!(
            "(EXISTS (SELECT 1 FROM webhook_hours h WHERE h.webhook_id = w.id AND h.hour >= {since}) \
             OR EXISTS (SELECT 1 FROM delivery_queue q WHERE q.webhook_id = w.id))"
        );
        match self {
            HealthStatus::Paused => "w.paused = TRUE".into(),
            HealthStatus::Failing => "w.paused = FALSE AND w.failing_since IS NOT NULL".into(),
            HealthStatus::Healthy => {
                format!("w.paused = FALSE AND w.failing_since IS NULL AND {active}")
            }
            HealthStatus::Idle => {
                format!("w.paused = FALSE AND w.failing_since IS NULL AND NOT {active}")
            }
        }
    }
}

/// A webhook's health as stored, with its counts over the rate window.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRecord {
    pub webhook_id: String,
    pub org_id: String,
    pub paused: bool,
    pub last_success_at: Option<Millis>,
    pub last_failure_at: Option<Millis>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    pub failing_since: Option<Millis>,
    /// Attempts in the rate window.
    pub successes: i64,
    pub failures: i64,
    /// Deliveries owed: pending, retrying or queued.
    pub queue_depth: i64,
}

impl HealthRecord {
    pub fn status(&self) -> HealthStatus {
        if self.paused {
            HealthStatus::Paused
        } else if self.failing_since.is_some() {
            HealthStatus::Failing
        } else if self.successes + self.failures == 0 && self.queue_depth == 0 {
            HealthStatus::Idle
        } else {
            HealthStatus::Healthy
        }
    }

    /// Successes over attempts in the rate window; `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.successes + self.failures;
        (total > 0).then(|| self.successes as f64 / total as f64)
    }
}

/// What one recorder batch says about one webhook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthDelta {
    pub webhook_id: String,
    pub successes: i64,
    pub failures: i64,
    pub last_success_at: Option<Millis>,
    pub last_failure_at: Option<Millis>,
    pub last_error: Option<String>,
    /// Failures after the batch's last success (all of them if none succeeded).
    pub trailing_failures: i64,
    /// When the first of those trailing failures was attempted.
    pub trailing_since: Option<Millis>,
}

/// Sums up a batch of recorded completions per webhook. Only attempts at
/// the receiver count: a success, or a failure that was retried or dropped
/// (filtered, queued and plugin-failed deliveries say nothing about the
/// receiver).
pub fn summarize<'a>(
    done: impl IntoIterator<Item = (&'a str, &'a Completion)>,
) -> Vec<HealthDelta> {
    let mut per: BTreeMap<&str, Vec<(Millis, bool, &AttemptRecord)>> = BTreeMap::new();
    for (webhook_id, c) in done {
        let Some(a) = &c.attempt else { continue };
        let ok = match c.status {
            DeliveryStatus::Succeeded => true,
            DeliveryStatus::Retrying | DeliveryStatus::Dropped => false,
            _ => continue,
        };
        per.entry(webhook_id)
            .or_default()
            .push((a.attempted_at, ok, a));
    }
    per.into_iter()
        .map(|(webhook_id, mut outcomes)| {
            outcomes.sort_by_key(|(at, _, _)| *at);
            let mut d = HealthDelta {
                webhook_id: webhook_id.to_string(),
                ..HealthDelta::default()
            };
            for (at, ok, a) in outcomes {
                if ok {
                    d.successes += 1;
                    d.last_success_at = Some(at);
                    d.trailing_failures = 0;
                    d.trailing_since = None;
                } else {
                    d.failures += 1;
                    d.last_failure_at = Some(at);
                    d.last_error = Some(short_error(a));
                    d.trailing_failures += 1;
                    d.trailing_since.get_or_insert(at);
                }
            }
            d
        })
        .collect()
}

/// A short, operator-facing reason: `HTTP 503`, or the transport error
/// (`timed out`, `could not connect: … refused`), cut to a bounded length.
pub fn short_error(a: &AttemptRecord) -> String {
    match (a.status_code, &a.error) {
        (Some(code), _) if !(200..300).contains(&code) => format!("HTTP {code}"),
        (_, Some(e)) => e.chars().take(MAX_ERROR_CHARS).collect(),
        _ => "failed".into(),
    }
}

impl Tx {
    /// Applies a batch's health deltas: one update of the webhook rows and
    /// one upsert of the current hour's buckets, each of one shape whatever
    /// the batch (the deltas travel as one JSON or array parameter), never
    /// a statement per delivery.
    pub async fn record_health(&mut self, deltas: &[HealthDelta], now: Millis) -> StoreResult<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let hour = now.div_euclid(HOUR_MS);
        // A success in the batch resets the streak to what followed it.
        let reset = |d: &HealthDelta| i64::from(d.successes > 0);
        const SET: &str = "last_success_at = COALESCE(v.ls, webhooks.last_success_at), \
             last_failure_at = COALESCE(v.lf, webhooks.last_failure_at), \
             last_error = COALESCE(v.err, webhooks.last_error), \
             consecutive_failures = CASE WHEN v.had_success = 1 THEN v.streak ELSE webhooks.consecutive_failures + v.streak END, \
             failing_since = CASE WHEN v.streak = 0 THEN NULL WHEN v.had_success = 1 THEN v.since \
               ELSE COALESCE(webhooks.failing_since, v.since) END";
        const BUCKETS: &str = "ON CONFLICT (webhook_id, hour) DO UPDATE SET \
             successes = webhook_hours.successes + excluded.successes, \
             failures = webhook_hours.failures + excluded.failures";
        match self {
            Tx::Sqlite(t, _) => {
                let rows: Vec<serde_json::Value> = deltas
                    .iter()
                    .map(|d| {
                        serde_json::json!([
                            d.webhook_id,
                            d.last_success_at,
                            d.last_failure_at,
                            d.last_error,
                            d.trailing_failures,
                            d.trailing_since,
                            reset(d),
                            d.successes,
                            d.failures
                        ])
                    })
                    .collect();
                // Both statements in one call into the connection's thread.
                let sql = format!(
                    "WITH v (id, ls, lf, err, streak, since, had_success) AS ( \
                       SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6 FROM json_each($1) j) \
                     UPDATE webhooks SET {SET} FROM v WHERE webhooks.id = v.id; \
                     INSERT INTO webhook_hours (webhook_id, hour, successes, failures) \
                       SELECT j.value->>0, $2, j.value->>7, j.value->>8 FROM json_each($1) j WHERE TRUE {BUCKETS}"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(serde_json::Value::Array(rows).to_string())
                    .bind(hour)
                    .execute(&mut **t)
                    .await?;
            }
            Tx::Postgres(t) => {
                let sql = format!(
                    "UPDATE webhooks SET {SET} \
                     FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::int8[], $6::int8[], $7::int8[]) \
                       AS v (id, ls, lf, err, streak, since, had_success) \
                     WHERE webhooks.id = v.id"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(
                        deltas
                            .iter()
                            .map(|d| d.webhook_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(deltas.iter().map(|d| d.last_success_at).collect::<Vec<_>>())
                    .bind(deltas.iter().map(|d| d.last_failure_at).collect::<Vec<_>>())
                    .bind(
                        deltas
                            .iter()
                            .map(|d| d.last_error.as_deref())
                            .collect::<Vec<_>>(),
                    )
                    .bind(
                        deltas
                            .iter()
                            .map(|d| d.trailing_failures)
                            .collect::<Vec<_>>(),
                    )
                    .bind(deltas.iter().map(|d| d.trailing_since).collect::<Vec<_>>())
                    .bind(deltas.iter().map(reset).collect::<Vec<_>>())
                    .execute(&mut **t)
                    .await?;
                let upsert = format!(
                    "INSERT INTO webhook_hours (webhook_id, hour, successes, failures) \
                     SELECT v.id, $2::int8, v.s, v.f FROM unnest($1::text[], $3::int8[], $4::int8[]) AS v (id, s, f) {BUCKETS}"
                );
                sqlx::query(sqlx::AssertSqlSafe(upsert))
                    .bind(
                        deltas
                            .iter()
                            .map(|d| d.webhook_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(hour)
                    .bind(deltas.iter().map(|d| d.successes).collect::<Vec<_>>())
                    .bind(deltas.iter().map(|d| d.failures).collect::<Vec<_>>())
                    .execute(&mut **t)
                    .await?;
            }
        }
        Ok(())
    }
}

const HEALTH_SELECT: &str = "SELECT w.id, w.org_id, w.paused, w.last_success_at, w.last_failure_at, w.last_error, \
     w.consecutive_failures, w.failing_since, \
     (SELECT CAST(COALESCE(SUM(h.successes), 0) AS BIGINT) FROM webhook_hours h WHERE h.webhook_id = w.id AND h.hour >= $1) AS successes, \
     (SELECT CAST(COALESCE(SUM(h.failures), 0) AS BIGINT) FROM webhook_hours h WHERE h.webhook_id = w.id AND h.hour >= $1) AS failures, \
     (SELECT COUNT(*) FROM delivery_queue q WHERE q.webhook_id = w.id) AS queue_depth \
     FROM webhooks w";

/// The first hour of the rate window ending at `now`.
pub fn window_start(now: Millis) -> i64 {
    now.div_euclid(HOUR_MS) - (RATE_WINDOW_HOURS - 1)
}

macro_rules! decode_health {
    ($r:expr) => {{
        let r = $r;
        (|| -> StoreResult<HealthRecord> {
            Ok(HealthRecord {
                webhook_id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                paused: r.try_get("paused")?,
                last_success_at: r.try_get("last_success_at")?,
                last_failure_at: r.try_get("last_failure_at")?,
                last_error: r.try_get("last_error")?,
                consecutive_failures: r.try_get("consecutive_failures")?,
                failing_since: r.try_get("failing_since")?,
                successes: r.try_get("successes")?,
                failures: r.try_get("failures")?,
                queue_depth: r.try_get("queue_depth")?,
            })
        })()
    }};
}

impl Store {
    /// The health of some of an organisation's webhooks.
    pub async fn webhook_health(
        &self,
        org_id: &str,
        ids: &[String],
        now: Millis,
    ) -> StoreResult<Vec<HealthRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = super::placeholders(3, ids.len());
        let sql = format!("{HEALTH_SELECT} WHERE w.org_id = $2 AND w.id IN ({list})");
        on_read!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(window_start(now)).bind(org_id);
            for id in ids {
                q = q.bind(id);
            }
            let rows = q.fetch_all(p).await?;
            rows.iter().map(|r| decode_health!(r)).collect()
        })
    }

    /// The health of every webhook, at most `limit` of them by id (for
    /// `/metrics`: one pass over the webhooks, index lookups for each).
    pub async fn all_webhook_health(
        &self,
        now: Millis,
        limit: i64,
    ) -> StoreResult<Vec<HealthRecord>> {
        let sql = format!("{HEALTH_SELECT} ORDER BY w.id LIMIT $2");
        on_read!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(window_start(now)).bind(limit).fetch_all(p).await?;
            rows.iter().map(|r| decode_health!(r)).collect()
        })
    }
}
