//! FIFO lines: the owed deliveries of a webhook whose `ordering` is
//! `fifo`, sent one at a time in event order (migrations: SQLite 0015,
//! PostgreSQL 0017).
//!
//! A delivery in a line carries its place, `line_seq` (its event's
//! sequence). Only the line's *front* has a due time; the rows behind it
//! wait with `next_attempt_at` NULL (on PostgreSQL in `delivery_queue` and
//! in `deliveries`, which the API reads), which the claim's range on the due
//! index never reaches, so the claim, the lease renewal and the takeover
//! of a dead process's leases are the same statements as for unordered
//! deliveries. The front is claimed and leased like any delivery, so the
//! one process holding its lease is the one that owns the line; should it
//! die, its lease is released or runs out and another process claims the
//! front. A retrying front keeps its due time and holds the rest.
//!
//! [`Tx::advance_lines`] moves a line on: when it has no front and its
//! webhook is not paused, the first row in place order becomes the front,
//! due now. A paused webhook's line stands still: its front, once claimed,
//! is turned `queued` like any delivery of a paused webhook, and that
//! first row holds the line until the resume. (A first row found `queued`
//! while the webhook runs — a worker that saw the pause a moment late —
//! is made pending and sent, rather than holding the line for ever.) Every transaction
//! that can leave a line without a front calls it for that webhook: ingest
//! (new rows), the recorder (a front that ended), a resume, a recovery and
//! a switch of `ordering`. On PostgreSQL those transactions take the
//! line's advisory lock first ([`Tx::lock_lines`]), so two of them never
//! both find a line without a front and each make one; on SQLite one
//! writer runs one transaction at a time.

use std::collections::BTreeSet;

use super::{StoreResult, Tx};
use crate::clock::Millis;

/// A webhook's line: (organisation, webhook).
pub type LineKey = (String, String);

impl Tx {
    /// Takes the lines' advisory locks (PostgreSQL), in one order for
    /// every transaction, until the transaction ends.
    pub async fn lock_lines(&mut self, lines: &BTreeSet<LineKey>) -> StoreResult<()> {
        if let Tx::Postgres(t) = self
            && !lines.is_empty()
        {
            let ids: Vec<&str> = lines.iter().map(|(_, w)| w.as_str()).collect();
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('scaihub line ' || l.id, 0)) \
                 FROM unnest($1::text[]) WITH ORDINALITY AS l (id, n) ORDER BY l.n",
            )
            .bind(&ids)
            .execute(&mut **t)
            .await?;
        }
        Ok(())
    }

    /// Moves the lines on (see the module's notes); a line of a webhook no
    /// longer `fifo` is let go instead: its rows become unordered, due as
    /// they were or at their creation. Answers how many rows became due.
    pub async fn advance_lines(
        &mut self,
        lines: &BTreeSet<LineKey>,
        now: Millis,
    ) -> StoreResult<u64> {
        if lines.is_empty() {
            return Ok(0);
        }
        self.lock_lines(lines).await?;
        let mut due = 0;
        match self {
            Tx::Sqlite(t, _) => {
                for (org_id, webhook_id) in lines {
                    due += sqlx::query(SQLITE_FRONT)
                        .bind(webhook_id)
                        .bind(org_id)
                        .bind(now)
                        .execute(&mut **t)
                        .await?
                        .rows_affected();
                    due += sqlx::query(SQLITE_LET_GO)
                        .bind(webhook_id)
                        .bind(org_id)
                        .execute(&mut **t)
                        .await?
                        .rows_affected();
                }
            }
            Tx::Postgres(t) => {
                let orgs: Vec<&str> = lines.iter().map(|(o, _)| o.as_str()).collect();
                let hooks: Vec<&str> = lines.iter().map(|(_, w)| w.as_str()).collect();
                // Each statement changes the queue's rows and then the
                // same deliveries' rows, so the API (which reads
                // `deliveries`) shows a front due and those behind it
                // waiting (`next_attempt_at` null), as SQLite's one row does.
                due += sqlx::query(
                    "WITH fronts AS (UPDATE delivery_queue q SET next_attempt_at = $3, \
                       status = CASE WHEN q.status = 'queued' THEN 'pending' ELSE q.status END \
                     WHERE q.delivery_id = ANY(ARRAY( \
                       SELECT h.delivery_id FROM webhooks w \
                       CROSS JOIN LATERAL (SELECT l.delivery_id, l.status, l.next_attempt_at \
                         FROM delivery_queue l WHERE l.webhook_id = w.id AND l.line_seq IS NOT NULL \
                         ORDER BY l.line_seq, l.delivery_id LIMIT 1) h \
                       WHERE (w.org_id, w.id) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
                         AND w.ordering = 'fifo' AND NOT w.paused \
                         AND h.next_attempt_at IS NULL \
                         AND NOT EXISTS (SELECT 1 FROM delivery_queue f WHERE f.webhook_id = w.id \
                           AND f.line_seq IS NOT NULL AND f.next_attempt_at IS NOT NULL \
                           AND f.status IN ('pending', 'retrying')))) \
                       RETURNING q.delivery_id) \
                     UPDATE deliveries d SET next_attempt_at = $3, \
                       status = CASE WHEN d.status = 'queued' THEN 'pending' ELSE d.status END \
                     WHERE d.id = ANY(ARRAY(SELECT delivery_id FROM fronts)) \
                       AND (d.org_id, d.webhook_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                )
                .bind(&orgs)
                .bind(&hooks)
                .bind(now)
                .execute(&mut **t)
                .await?
                .rows_affected();
                due += sqlx::query(
                    "WITH let_go AS (UPDATE delivery_queue q SET line_seq = NULL, next_attempt_at = CASE \
                       WHEN q.status IN ('pending', 'retrying') THEN COALESCE(q.next_attempt_at, q.created_at) \
                       ELSE q.next_attempt_at END \
                     FROM webhooks w WHERE q.webhook_id = w.id AND q.line_seq IS NOT NULL \
                       AND (w.org_id, w.id) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
                       AND w.ordering <> 'fifo' \
                     RETURNING q.delivery_id) \
                     UPDATE deliveries d SET next_attempt_at = CASE \
                       WHEN d.status IN ('pending', 'retrying') THEN COALESCE(d.next_attempt_at, d.created_at) \
                       ELSE d.next_attempt_at END \
                     WHERE d.id = ANY(ARRAY(SELECT delivery_id FROM let_go)) \
                       AND (d.org_id, d.webhook_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                )
                .bind(&orgs)
                .bind(&hooks)
                .execute(&mut **t)
                .await?
                .rows_affected();
            }
        }
        Ok(due)
    }

    /// Forms a webhook's line when it turns `fifo`: every owed delivery
    /// takes its event's place, and those not leased to a worker wait
    /// (their due time cleared) for the line to reach them. Leased ones —
    /// held or being sent by a worker when the switch commits — stay as
    /// they are and count as fronts, so the line starts once each of them
    /// has ended. Then moves the line on.
    pub async fn form_line(
        &mut self,
        org_id: &str,
        webhook_id: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let key: BTreeSet<LineKey> = [(org_id.to_string(), webhook_id.to_string())].into();
        self.lock_lines(&key).await?;
        // Not leased, or leased by a process whose lease ran out.
        const FREE: &str =
            "(lease_until IS NULL OR lease_until <= $3) AND status IN ('pending', 'retrying')";
        match self {
            Tx::Sqlite(t, _) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET line_seq = event_seq, \
                       next_attempt_at = CASE WHEN {FREE} THEN NULL ELSE next_attempt_at END, \
                       lease_owner = CASE WHEN {FREE} THEN NULL ELSE lease_owner END, \
                       lease_until = CASE WHEN {FREE} THEN NULL ELSE lease_until END \
                     WHERE webhook_id = $1 AND org_id = $2 AND status IN ('pending', 'retrying', 'queued')"
                )))
                .bind(webhook_id)
                .bind(org_id)
                .bind(now)
                .execute(&mut **t)
                .await?;
            }
            Tx::Postgres(t) => {
                let free = FREE
                    .replace("lease_until", "q.lease_until")
                    .replace("status", "q.status");
                // The rows that now wait show no due time in the API.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH lined AS (UPDATE delivery_queue q SET line_seq = d.event_seq, \
                       next_attempt_at = CASE WHEN {free} THEN NULL ELSE q.next_attempt_at END, \
                       lease_owner = CASE WHEN {free} THEN NULL ELSE q.lease_owner END, \
                       lease_until = CASE WHEN {free} THEN NULL ELSE q.lease_until END \
                     FROM deliveries d WHERE d.id = q.delivery_id AND q.webhook_id = $1 AND d.org_id = $2 \
                     RETURNING q.delivery_id, q.next_attempt_at IS NULL AS waits) \
                     UPDATE deliveries d SET next_attempt_at = NULL \
                     WHERE d.id = ANY(ARRAY(SELECT delivery_id FROM lined WHERE waits)) AND d.org_id = $2"
                )))
                .bind(webhook_id)
                .bind(org_id)
                .bind(now)
                .execute(&mut **t)
                .await?;
            }
        }
        self.advance_lines(&key, now).await?;
        Ok(())
    }
}

/// SQLite: makes a line's first row its front, due at `$3`, when it has
/// none and its webhook (`$1`, of organisation `$2`) runs in order.
const SQLITE_FRONT: &str = "UPDATE deliveries SET next_attempt_at = $3, \
    status = CASE WHEN status = 'queued' THEN 'pending' ELSE status END \
    WHERE id = (SELECT l.id FROM deliveries l WHERE l.webhook_id = $1 \
    AND l.line_seq IS NOT NULL AND l.status IN ('pending', 'retrying', 'queued') \
    ORDER BY l.line_seq, l.id LIMIT 1) \
    AND next_attempt_at IS NULL \
    AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = $1 AND w.org_id = $2 \
    AND w.ordering = 'fifo' AND NOT w.paused) \
    AND NOT EXISTS (SELECT 1 FROM deliveries f WHERE f.webhook_id = $1 \
    AND f.line_seq IS NOT NULL AND f.next_attempt_at IS NOT NULL \
    AND f.status IN ('pending', 'retrying'))";

/// SQLite: lets go of the line of a webhook (`$1`, of `$2`) no longer
/// `fifo`: its rows become unordered, due as they were or at creation.
const SQLITE_LET_GO: &str = "UPDATE deliveries SET line_seq = NULL, next_attempt_at = CASE \
    WHEN status IN ('pending', 'retrying') THEN COALESCE(next_attempt_at, created_at) \
    ELSE next_attempt_at END \
    WHERE webhook_id = $1 AND line_seq IS NOT NULL \
    AND status IN ('pending', 'retrying', 'queued') \
    AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = $1 AND w.org_id = $2 \
    AND w.ordering <> 'fifo')";

/// As [`Tx::advance_lines`], on SQLite's writer handle.
pub(crate) fn advance_lines_now(
    conn: &rusqlite::Connection,
    lines: &BTreeSet<LineKey>,
    now: Millis,
) -> StoreResult<u64> {
    let mut due = 0;
    for (org_id, webhook_id) in lines {
        due += conn
            .prepare_cached(SQLITE_FRONT)?
            .execute(rusqlite::named_params! { "$1": webhook_id, "$2": org_id, "$3": now })?
            as u64;
        due += conn
            .prepare_cached(SQLITE_LET_GO)?
            .execute(rusqlite::named_params! { "$1": webhook_id, "$2": org_id })?
            as u64;
    }
    Ok(due)
}
