//! The compile queue's rows: a `compiling` plugin version is claimed by one
//! process at a time (`compile_owner` until `compile_until`), compiled from
//! its stored `.wasm`, and finished `ready` with its artifact or `failed`
//! with the reason. A claim that runs out (its process died) lets another
//! process, or the next start, compile the version again.

use sqlx::Row;

use super::plugins::status;
use super::{Store, StoreResult, on_read, on_write};
use crate::clock::Millis;

/// How a compile ended.
pub enum Compiled<'a> {
    Ready(&'a [u8]),
    Failed(&'a str),
}

impl Store {
    /// Claims a version still `compiling` for `owner` until `until`,
    /// unless another live claim holds it. One conditional update, so two
    /// processes cannot both win it.
    pub async fn claim_compile(
        &self,
        org_id: &str,
        id: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        on_write!(self, p => {
            let done = sqlx::query(
                "UPDATE plugins SET compile_owner = $1, compile_until = $2 \
                 WHERE id = $3 AND org_id = $4 AND status = 'compiling' \
                 AND (compile_owner IS NULL OR compile_owner = $1 OR compile_until < $5)",
            )
            .bind(owner)
            .bind(until)
            .bind(id)
            .bind(org_id)
            .bind(now)
            .execute(p)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Extends this process's claim while its compile runs.
    pub async fn renew_compile(
        &self,
        org_id: &str,
        id: &str,
        owner: &str,
        until: Millis,
    ) -> StoreResult<bool> {
        on_write!(self, p => {
            let done = sqlx::query(
                "UPDATE plugins SET compile_until = $1 \
                 WHERE id = $2 AND org_id = $3 AND compile_owner = $4 AND status = 'compiling'",
            )
            .bind(until)
            .bind(id)
            .bind(org_id)
            .bind(owner)
            .execute(p)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The kind and uploaded `.wasm` of a version still `compiling`.
    pub async fn compile_input(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<(String, Vec<u8>)>> {
        on_read!(self, p => {
            let row = sqlx::query(
                "SELECT kind, wasm FROM plugins WHERE id = $1 AND org_id = $2 AND status = 'compiling'",
            )
            .bind(id)
            .bind(org_id)
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => Ok(Some((r.try_get("kind")?, r.try_get("wasm")?))),
                None => Ok(None),
            }
        })
    }

    /// Records the outcome of a compile this process claimed; false when
    /// the claim was lost (the version deleted, or taken over).
    pub async fn finish_compile(
        &self,
        org_id: &str,
        id: &str,
        owner: &str,
        outcome: Compiled<'_>,
    ) -> StoreResult<bool> {
        let (state, artifact, reason): (&str, &[u8], Option<&str>) = match outcome {
            Compiled::Ready(a) => (status::READY, a, None),
            Compiled::Failed(r) => (status::FAILED, &[], Some(r)),
        };
        on_write!(self, p => {
            let done = sqlx::query(
                "UPDATE plugins SET status = $1, status_reason = $2, artifact = $3, \
                 compile_owner = NULL, compile_until = NULL \
                 WHERE id = $4 AND org_id = $5 AND compile_owner = $6 AND status = 'compiling'",
            )
            .bind(state)
            .bind(reason)
            .bind(artifact)
            .bind(id)
            .bind(org_id)
            .bind(owner)
            .execute(p)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Versions of every organisation left `compiling` with no live claim
    /// (their process died, or never got to them), oldest first.
    pub async fn compiles_owed(
        &self,
        now: Millis,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        on_read!(self, p => {
            let rows = sqlx::query(
                "SELECT org_id, id FROM plugins WHERE status = 'compiling' \
                 AND (compile_owner IS NULL OR compile_until < $1) ORDER BY created_at, id LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("org_id")?, r.try_get("id")?)))
                .collect()
        })
    }

    /// Start-up on SQLite: this process alone uses the file, so a claim
    /// left in it is a dead run's, and its version is compiled again now.
    pub async fn release_compile_claims(&self) -> StoreResult<u64> {
        on_write!(self, p => {
            let done = sqlx::query(
                "UPDATE plugins SET compile_owner = NULL, compile_until = NULL \
                 WHERE status = 'compiling' AND compile_owner IS NOT NULL",
            )
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
