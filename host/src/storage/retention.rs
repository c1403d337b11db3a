//! Retention: deleting what is older than the retention, in short steps.
//!
//! Each call deletes at most `limit` rows in one short transaction, so the
//! single SQLite writer is never held long and ingest keeps its turn; the
//! caller loops. Only finished deliveries go, and only events no delivery
//! refers to any more: a pending, retrying or queued delivery is still
//! owed, so it and its event stay whatever their age.

use sqlx::Row;

use super::{Backend, Store, StoreResult, on_write};
use crate::clock::Millis;

/// Delivery states that are over: nothing will send them again.
const FINISHED: &str = "('succeeded', 'dropped', 'filtered', 'plugin_failed', 'overflowed')";

/// What one pruning step deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedDeliveries {
    pub deliveries: u64,
    pub attempts: u64,
}

impl Store {
    /// Every webhook id, for walking deliveries webhook by webhook along
    /// the `(webhook_id, created_at)` index.
    pub async fn webhook_ids(&self) -> StoreResult<Vec<String>> {
        super::on_read!(self, p => {
            let rows = sqlx::query("SELECT id FROM webhooks ORDER BY id").fetch_all(p).await?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    /// Deletes up to `limit` of a webhook's finished deliveries created
    /// before `cutoff`, oldest first, with their attempts.
    pub async fn prune_deliveries(
        &self,
        webhook_id: &str,
        cutoff: Millis,
        limit: i64,
    ) -> StoreResult<PrunedDeliveries> {
        // Locked on PostgreSQL so a concurrent redelivery or completion
        // waits for (or skips) the rows being deleted.
        let lock = if self.backend() == Backend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // One statement: the attempts live in each delivery's row and go
        // with it.
        let sql = format!(
            "DELETE FROM deliveries WHERE id IN (\
               SELECT id FROM deliveries WHERE webhook_id = $1 AND created_at < $2 AND status IN {FINISHED} \
               ORDER BY created_at LIMIT $3{lock}) \
             RETURNING attempt_count"
        );
        on_write!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(webhook_id)
                .bind(cutoff)
                .bind(limit)
                .fetch_all(p)
                .await?;
            let attempts = rows
                .iter()
                .map(|r| r.try_get::<i64, _>("attempt_count"))
                .sum::<Result<i64, _>>()?;
            Ok(PrunedDeliveries {
                deliveries: rows.len() as u64,
                attempts: attempts as u64,
            })
        })
    }

    /// Deletes up to `limit` events received before `cutoff` that no
    /// delivery refers to, oldest first.
    pub async fn prune_events(&self, cutoff: Millis, limit: i64) -> StoreResult<u64> {
        on_write!(self, p => {
            let done = sqlx::query(
                "DELETE FROM events WHERE seq IN (\
                   SELECT e.seq FROM events e WHERE e.received_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq) \
                   ORDER BY e.received_at LIMIT $2) \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }

    /// Deletes up to `limit` health buckets of hours before `before_hour`.
    pub async fn prune_health_hours(&self, before_hour: i64, limit: i64) -> StoreResult<u64> {
        on_write!(self, p => {
            let done = sqlx::query(
                "DELETE FROM webhook_hours WHERE (webhook_id, hour) IN (\
                   SELECT webhook_id, hour FROM webhook_hours WHERE hour < $1 LIMIT $2)",
            )
            .bind(before_hour)
            .bind(limit)
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
