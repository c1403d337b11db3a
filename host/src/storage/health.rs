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
//!
//! The same buckets feed the delivery charts (`storage/charts.rs`): besides
//! the attempts they count dropped deliveries (the last failed attempt),
//! filtered and plugin-failed ones, and the receiver's answer times as a
//! fixed histogram (`domain/latency.rs`), all in the same one upsert.
//! Buckets are kept eight days (the 7-day chart), see `hub/retention.rs`.

use std::collections::BTreeMap;

use sqlx::Row;

use super::deliveries::{AttemptRecord, Completion, DeliveryStatus};
use super::{Store, StoreResult, Tx, on_read};
use crate::clock::Millis;
use crate::domain::latency::{BUCKETS, Histogram};

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
            "(EXISTS (SELECT 1 FROM webhook_hours h WHERE h.webhook_id = w.id AND h.hour >= {since} \
               AND h.successes + h.failures > 0) \
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
    /// Of the failures, those that were the delivery's last attempt.
    pub dropped: i64,
    /// Deliveries a filter plugin skipped.
    pub filtered: i64,
    /// Deliveries skipped because a plugin failed.
    pub plugin_failed: i64,
    /// How long the receiver took to answer, for attempts it answered.
    pub latency: Histogram,
}

impl HealthDelta {
    /// Whether the batch attempted anything at the receiver (only then does
    /// it say anything about the failure streak).
    fn attempted(&self) -> bool {
        self.successes + self.failures > 0
    }
}

/// An attempt at the receiver: when, whether it succeeded, the attempt.
type Outcome<'a> = (Millis, bool, &'a AttemptRecord);

/// Sums up a batch of recorded completions per webhook. The streak and
/// the success rate count only attempts at the receiver: a success, or a
/// failure that was retried or dropped (filtered, queued and plugin-failed
/// deliveries say nothing about the receiver); the charts' counts add the
/// filtered and plugin-failed deliveries, and the answer times of the
/// attempts the receiver answered (a status code, whatever it was).
pub fn summarize<'a>(
    done: impl IntoIterator<Item = (&'a str, &'a Completion)>,
) -> Vec<HealthDelta> {
    let mut per: BTreeMap<&str, (HealthDelta, Vec<Outcome<'_>>)> = BTreeMap::new();
    for (webhook_id, c) in done {
        let entry = || (HealthDelta::default(), Vec::new());
        match (c.status, &c.attempt) {
            (DeliveryStatus::Filtered, _) => {
                per.entry(webhook_id).or_insert_with(entry).0.filtered += 1
            }
            (DeliveryStatus::PluginFailed, _) => {
                per.entry(webhook_id).or_insert_with(entry).0.plugin_failed += 1
            }
            (
                status @ (DeliveryStatus::Succeeded
                | DeliveryStatus::Retrying
                | DeliveryStatus::Dropped),
                Some(a),
            ) => {
                let (d, outcomes) = per.entry(webhook_id).or_insert_with(entry);
                if status == DeliveryStatus::Dropped {
                    d.dropped += 1;
                }
                if a.status_code.is_some() {
                    d.latency.record(a.duration_ms);
                }
                outcomes.push((a.attempted_at, status == DeliveryStatus::Succeeded, a));
            }
            _ => {}
        }
    }
    per.into_iter()
        .map(|(webhook_id, (mut d, mut outcomes))| {
            outcomes.sort_by_key(|(at, _, _)| *at);
            d.webhook_id = webhook_id.to_string();
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

/// The counting columns of `webhook_hours`, in the order of
/// [`bucket_counts`]: attempts, the other outcomes, then the latency bins
/// `l00`…`l24`.
pub(crate) fn bucket_columns() -> &'static [String] {
    static COLUMNS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        [
            "successes",
            "failures",
            "dropped",
            "filtered",
            "plugin_failed",
        ]
        .into_iter()
        .map(str::to_string)
        .chain((0..BUCKETS).map(|i| format!("l{i:02}")))
        .collect()
    });
    &COLUMNS
}

/// A delta's values for [`bucket_columns`].
fn bucket_counts(d: &HealthDelta) -> impl Iterator<Item = i64> + '_ {
    [
        d.successes,
        d.failures,
        d.dropped,
        d.filtered,
        d.plugin_failed,
    ]
    .into_iter()
    .chain(d.latency.0)
}

/// `ON CONFLICT … DO UPDATE` adding every counting column.
fn bucket_conflict() -> String {
    let sets: Vec<String> = bucket_columns()
        .iter()
        .map(|c| format!("{c} = webhook_hours.{c} + excluded.{c}"))
        .collect();
    format!(
        "ON CONFLICT (webhook_id, hour) DO UPDATE SET {}",
        sets.join(", ")
    )
}

/// The upsert of the current hour's buckets, per store (built once).
fn sqlite_buckets_sql() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let cols = bucket_columns();
        // Elements 0..=7 of each row are the webhook row's update.
        let values: Vec<String> = (0..cols.len())
            .map(|i| format!("j.value->>{}", i + 8))
            .collect();
        format!(
            "INSERT INTO webhook_hours (webhook_id, hour, {}) SELECT j.value->>0, $2, {} \
             FROM json_each($1) j WHERE TRUE {}",
            cols.join(", "),
            values.join(", "),
            bucket_conflict()
        )
    });
    &SQL
}

fn postgres_buckets_sql() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let cols = bucket_columns();
        let arrays: Vec<String> = (0..cols.len())
            .map(|i| format!("${}::int8[]", i + 3))
            .collect();
        format!(
            "INSERT INTO webhook_hours (webhook_id, hour, {cols}) SELECT v.id, $2::int8, {vcols} \
             FROM unnest($1::text[], {arrays}) AS v (id, {cols}) {conflict}",
            cols = cols.join(", "),
            vcols = cols
                .iter()
                .map(|c| format!("v.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            arrays = arrays.join(", "),
            conflict = bucket_conflict()
        )
    });
    &SQL
}

impl Tx {
    /// Applies a batch's health deltas: one update of the webhook rows that
    /// had attempts at their receiver and one upsert of the current hour's
    /// buckets, each of one shape whatever the batch (the deltas travel as
    /// one JSON or array parameter), never a statement per delivery.
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
        match self {
            Tx::Sqlite(t, _) => {
                let rows: Vec<serde_json::Value> = deltas
                    .iter()
                    .map(|d| {
                        let mut row = vec![
                            serde_json::json!(d.webhook_id),
                            serde_json::json!(d.last_success_at),
                            serde_json::json!(d.last_failure_at),
                            serde_json::json!(d.last_error),
                            serde_json::json!(d.trailing_failures),
                            serde_json::json!(d.trailing_since),
                            serde_json::json!(reset(d)),
                            serde_json::json!(i64::from(d.attempted())),
                        ];
                        row.extend(bucket_counts(d).map(serde_json::Value::from));
                        serde_json::Value::Array(row)
                    })
                    .collect();
                // Both statements in one call into the connection's thread;
                // a webhook whose batch held no attempt at its receiver
                // (only filtered or plugin-failed deliveries) keeps its streak.
                let sql = format!(
                    "WITH v (id, ls, lf, err, streak, since, had_success, attempted) AS ( \
                       SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, j.value->>7 FROM json_each($1) j) \
                     UPDATE webhooks SET {SET} FROM v WHERE webhooks.id = v.id AND v.attempted = 1; \
                     {}",
                    sqlite_buckets_sql()
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(serde_json::Value::Array(rows).to_string())
                    .bind(hour)
                    .execute(&mut **t)
                    .await?;
            }
            Tx::Postgres(t) => {
                let attempted: Vec<&HealthDelta> =
                    deltas.iter().filter(|d| d.attempted()).collect();
                if !attempted.is_empty() {
                    let sql = format!(
                        "UPDATE webhooks SET {SET} \
                         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::int8[], $6::int8[], $7::int8[]) \
                           AS v (id, ls, lf, err, streak, since, had_success) \
                         WHERE webhooks.id = v.id"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(
                            attempted
                                .iter()
                                .map(|d| d.webhook_id.as_str())
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            attempted
                                .iter()
                                .map(|d| d.last_success_at)
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            attempted
                                .iter()
                                .map(|d| d.last_failure_at)
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            attempted
                                .iter()
                                .map(|d| d.last_error.as_deref())
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            attempted
                                .iter()
                                .map(|d| d.trailing_failures)
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            attempted
                                .iter()
                                .map(|d| d.trailing_since)
                                .collect::<Vec<_>>(),
                        )
                        .bind(attempted.iter().map(|d| reset(d)).collect::<Vec<_>>())
                        .execute(&mut **t)
                        .await?;
                }
                // One array per counting column.
                let counts: Vec<Vec<i64>> =
                    deltas.iter().map(|d| bucket_counts(d).collect()).collect();
                let mut q = sqlx::query(sqlx::AssertSqlSafe(postgres_buckets_sql()))
                    .bind(
                        deltas
                            .iter()
                            .map(|d| d.webhook_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(hour);
                for c in 0..bucket_columns().len() {
                    q = q.bind(counts.iter().map(|row| row[c]).collect::<Vec<_>>());
                }
                q.execute(&mut **t).await?;
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
