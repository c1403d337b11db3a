//! Admin console sessions (by the SHA-256 of their cookie token), the
//! organisations a console user may switch to, and the recent delivery
//! outcomes behind a webhook's "status at a glance".

use sqlx::Row;

use super::deliveries::DeliveryStatus;
use super::orgs::OrgRecord;
use super::{Store, StoreError, StoreResult, on_read, on_write};
use crate::clock::Millis;

/// A stored console session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub user_id: String,
    /// The organisation the session is looking at.
    pub org_id: String,
    pub csrf: String,
    pub expires_at: Millis,
}

/// One recent delivery, for a webhook's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: DeliveryStatus,
    pub last_status_code: Option<i64>,
    pub updated_at: Millis,
}

impl Store {
    pub async fn insert_console_session(
        &self,
        token_hash: &[u8],
        s: &SessionRecord,
        now: Millis,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO console_sessions (token_hash, user_id, org_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(&s.user_id)
            .bind(&s.org_id)
            .bind(&s.csrf)
            .bind(now)
            .bind(s.expires_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The session behind a token hash, if it has not expired at `now`.
    pub async fn console_session(
        &self,
        token_hash: &[u8],
        now: Millis,
    ) -> StoreResult<Option<SessionRecord>> {
        on_read!(self, p => {
            let row = sqlx::query(
                "SELECT user_id, org_id, csrf, expires_at FROM console_sessions \
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => Ok(Some(SessionRecord {
                    user_id: r.try_get("user_id")?,
                    org_id: r.try_get("org_id")?,
                    csrf: r.try_get("csrf")?,
                    expires_at: r.try_get("expires_at")?,
                })),
                None => Ok(None),
            }
        })
    }

    pub async fn set_console_session_org(
        &self,
        token_hash: &[u8],
        org_id: &str,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("UPDATE console_sessions SET org_id = $1 WHERE token_hash = $2")
                .bind(org_id)
                .bind(token_hash)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_console_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Removes sessions that ended before `now`.
    pub async fn delete_expired_console_sessions(&self, now: Millis) -> StoreResult<u64> {
        on_write!(self, p => {
            let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(p)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// The organisations below `org_id` (its MSP customers, and theirs),
    /// breadth first, at most 16 levels and 1,000 organisations.
    pub async fn org_descendants(&self, org_id: &str) -> StoreResult<Vec<OrgRecord>> {
        let mut out: Vec<OrgRecord> = Vec::new();
        let mut level = vec![org_id.to_string()];
        for _ in 0..16 {
            let mut next = Vec::new();
            for parent in &level {
                let children = on_read!(self, p => {
                    let rows = sqlx::query(
                        "SELECT id, name, parent_id, created_at FROM orgs WHERE parent_id = $1 ORDER BY name, id",
                    )
                    .bind(parent)
                    .fetch_all(p)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(OrgRecord {
                                id: r.try_get("id")?,
                                name: r.try_get("name")?,
                                parent_id: r.try_get("parent_id")?,
                                created_at: r.try_get("created_at")?,
                            })
                        })
                        .collect::<StoreResult<Vec<_>>>()
                })?;
                for c in children {
                    if c.id != org_id && !out.iter().any(|o| o.id == c.id) {
                        next.push(c.id.clone());
                        out.push(c);
                    }
                }
            }
            if next.is_empty() || out.len() >= 1000 {
                break;
            }
            level = next;
        }
        Ok(out)
    }

    /// A webhook's most recent deliveries that were attempted (sent,
    /// retrying, dropped or refused by a plugin), newest first.
    pub async fn recent_outcomes(
        &self,
        org_id: &str,
        webhook_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<Outcome>> {
        on_read!(self, p => {
            let rows = sqlx::query(
                "SELECT status, last_status_code, updated_at FROM deliveries \
                 WHERE webhook_id = $1 AND org_id = $3 AND status IN ('succeeded', 'retrying', 'dropped', 'plugin_failed') \
                 ORDER BY created_at DESC LIMIT $2",
            )
            .bind(webhook_id)
            .bind(limit)
            .bind(org_id)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    let text: String = r.try_get("status")?;
                    Ok(Outcome {
                        status: DeliveryStatus::parse(&text)
                            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {text:?}")))?,
                        last_status_code: r.try_get("last_status_code")?,
                        updated_at: r.try_get("updated_at")?,
                    })
                })
                .collect()
        })
    }
}
