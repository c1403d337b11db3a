//! Per-webhook send limits kept across the processes of a cluster
//! (PostgreSQL; see migration 0015). On SQLite one process owns the
//! database and `delivery::limits` keeps the same limits in memory, so
//! these answer "go" at once there.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::clock::Millis;

/// One send asked of a webhook's gate.
pub struct SendAsk<'a> {
    pub org_id: &'a str,
    pub webhook_id: &'a str,
    pub delivery_id: &'a str,
    pub owner: &'a str,
    /// Milliseconds between sends (`1000 / rate_limit`), if limited.
    pub interval: Option<Millis>,
    pub max_in_flight: Option<i64>,
    /// When the send must have ended, whatever happens to its process.
    pub lease_until: Millis,
}

impl Store {
    /// Takes one send if the webhook's limits allow it at `now`; answers
    /// `Ok(())`, or `Err(when)` to ask again no earlier than `when`.
    pub async fn take_send(
        &self,
        ask: &SendAsk<'_>,
        now: Millis,
    ) -> StoreResult<Result<(), Millis>> {
        let Store::Postgres(pool) = self else {
            return Ok(Ok(()));
        };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_gates (webhook_id, org_id) VALUES ($1, $2) ON CONFLICT (org_id, webhook_id) DO NOTHING",
        )
        .bind(ask.webhook_id)
        .bind(ask.org_id)
        .execute(&mut *tx)
        .await?;
        // The lock that makes the decision below one process's at a time.
        let tat: i64 = sqlx::query(
            "SELECT tat FROM webhook_gates WHERE webhook_id = $1 AND org_id = $2 FOR UPDATE",
        )
        .bind(ask.webhook_id)
        .bind(ask.org_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("tat")?;
        if ask.interval.is_some() && tat > now {
            return Ok(Err(tat));
        }
        if let Some(max) = ask.max_in_flight {
            let row = sqlx::query(
                "SELECT count(*) AS n, min(lease_until) AS first_end FROM webhook_sends \
                 WHERE webhook_id = $1 AND org_id = $2 AND lease_until > $3",
            )
            .bind(ask.webhook_id)
            .bind(ask.org_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let n: i64 = row.try_get("n")?;
            if n >= max {
                // A send ends well before its lease; look again soon.
                let first_end: Option<i64> = row.try_get("first_end")?;
                return Ok(Err(first_end.unwrap_or(now).min(now + 50)));
            }
            sqlx::query(
                "INSERT INTO webhook_sends (webhook_id, org_id, delivery_id, owner, lease_until) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (org_id, webhook_id, delivery_id) DO UPDATE SET owner = $4, lease_until = $5",
            )
            .bind(ask.webhook_id)
            .bind(ask.org_id)
            .bind(ask.delivery_id)
            .bind(ask.owner)
            .bind(ask.lease_until)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(interval) = ask.interval {
            sqlx::query("UPDATE webhook_gates SET tat = $3 WHERE webhook_id = $1 AND org_id = $2")
                .bind(ask.webhook_id)
                .bind(ask.org_id)
                .bind(tat.max(now) + interval)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Ends a send taken by [`Store::take_send`].
    pub async fn give_send(&self, ask: &SendAsk<'_>) -> StoreResult<()> {
        if let Store::Postgres(pool) = self
            && ask.max_in_flight.is_some()
        {
            sqlx::query(
                "DELETE FROM webhook_sends WHERE webhook_id = $1 AND org_id = $2 AND delivery_id = $3 AND owner = $4",
            )
            .bind(ask.webhook_id)
            .bind(ask.org_id)
            .bind(ask.delivery_id)
            .bind(ask.owner)
            .execute(pool)
            .await?;
        }
        Ok(())
    }
}
