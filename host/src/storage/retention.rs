//! Retention: deleting what is older than the retention, in short steps.
//!
//! Each call deletes at most `limit` rows in one short transaction, so the
//! single SQLite writer is never held long and ingest keeps its turn; the
//! caller loops. Only finished deliveries go, and only events no delivery
//! refers to any more: a pending, retrying or queued delivery is still
//! owed, so it and its event stay whatever their age.

use sqlx::Row;

use super::{Backend, Params, Store, StoreResult, on_tx, on_write};
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
        let select = format!(
            "SELECT id, attempt_count FROM deliveries WHERE webhook_id = $1 AND created_at < $2 AND status IN {FINISHED} \
             ORDER BY created_at LIMIT $3{lock}"
        );
        let mut tx = self.begin().await?;
        let (ids, attempts): (Vec<String>, Vec<i64>) = on_tx!(&mut tx, c => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(select))
                .bind(webhook_id)
                .bind(cutoff)
                .bind(limit)
                .fetch_all(&mut *c)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("id")?, r.try_get::<i64, _>("attempt_count")?)))
                .collect::<StoreResult<Vec<_>>>()?
                .into_iter()
                .unzip()
        });
        if ids.is_empty() {
            return Ok(PrunedDeliveries::default());
        }
        let mut p = Params::new(self.backend());
        let deliveries_sql = format!(
            "DELETE FROM deliveries WHERE id IN ({}) AND status IN {FINISHED}",
            p.list(ids.len())
        );
        let pruned = on_tx!(&mut tx, c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(deliveries_sql));
            for id in &ids {
                q = q.bind(id);
            }
            let deliveries = q.execute(&mut *c).await?.rows_affected();
            // Attempts live in their delivery's row and go with it.
            PrunedDeliveries { deliveries, attempts: attempts.iter().sum::<i64>() as u64 }
        });
        tx.commit().await?;
        Ok(pruned)
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
