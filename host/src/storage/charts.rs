//! What the delivery charts read: a webhook's hourly buckets
//! (`webhook_hours`, written by the recorder in `health.rs`) with their
//! outcome counts and answer-time histograms, from a given hour on.

use sqlx::Row;

use super::health::bucket_columns;
use super::{Store, StoreResult, on_read};
use crate::domain::latency::{BUCKETS, Histogram};

/// One webhook's hour, as counted by the recorder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourCounts {
    pub webhook_id: String,
    /// Hours since the epoch (UTC).
    pub hour: i64,
    pub succeeded: i64,
    /// Failed attempts that were retried.
    pub retried: i64,
    /// Failed attempts that were the last: the delivery was dropped.
    pub failed: i64,
    pub filtered: i64,
    pub plugin_failed: i64,
    /// The receiver's answer times.
    pub latency: Histogram,
}

impl HourCounts {
    /// Every outcome counted in the hour.
    pub fn total(&self) -> i64 {
        self.succeeded + self.retried + self.failed + self.filtered + self.plugin_failed
    }
}

impl Store {
    /// The buckets of some of an organisation's webhooks from `from_hour`
    /// on, by webhook then hour; hours without a row had nothing.
    pub async fn webhook_hour_counts(
        &self,
        org_id: &str,
        webhook_ids: &[String],
        from_hour: i64,
    ) -> StoreResult<Vec<HourCounts>> {
        if webhook_ids.is_empty() {
            return Ok(Vec::new());
        }
        let cols: Vec<String> = bucket_columns().iter().map(|c| format!("h.{c}")).collect();
        let list = super::placeholders(3, webhook_ids.len());
        let sql = format!(
            "SELECT h.webhook_id, h.hour, {} FROM webhook_hours h JOIN webhooks w ON w.id = h.webhook_id \
             WHERE w.org_id = $1 AND h.hour >= $2 AND h.webhook_id IN ({list}) \
             ORDER BY h.webhook_id, h.hour",
            cols.join(", ")
        );
        on_read!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(from_hour);
            for id in webhook_ids {
                q = q.bind(id);
            }
            let rows = q.fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    let n = |c: &str| r.try_get::<i64, _>(c);
                    let mut latency = Histogram::default();
                    for (i, bin) in latency.0.iter_mut().enumerate().take(BUCKETS) {
                        *bin = n(&format!("l{i:02}"))?;
                    }
                    let failures = n("failures")?;
                    let dropped = n("dropped")?;
                    Ok(HourCounts {
                        webhook_id: r.try_get("webhook_id")?,
                        hour: r.try_get("hour")?,
                        succeeded: n("successes")?,
                        // Buckets written before the charts counted no drops:
                        // their failures show as retried.
                        retried: (failures - dropped).max(0),
                        failed: dropped,
                        filtered: n("filtered")?,
                        plugin_failed: n("plugin_failed")?,
                        latency,
                    })
                })
                .collect()
        })
    }
}
