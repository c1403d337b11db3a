//! Organisations, users and personal API keys.

use sqlx::Row;

use super::{Store, StoreResult, Tx, from_json_text, json_text, on_read, on_tx, on_write};
use crate::clock::Millis;
use crate::domain::Scope;

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct OrgRecord {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: String,
    pub permissions: Vec<Scope>,
    /// What the person signs in with (lower case); unique across ScaiHub.
    pub email: Option<String>,
    pub created_at: Millis,
}

/// What an API key authenticates as.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPrincipal {
    pub key_id: String,
    pub user_id: String,
    pub org_id: String,
    pub user_kind: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Millis>,
}

/// A new API key to store (its hash only).
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub org_id: &'a str,
    pub key_hash: &'a [u8],
    pub scopes: &'a [Scope],
    pub expires_at: Option<Millis>,
}

impl Store {
    pub async fn count_orgs(&self) -> StoreResult<i64> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM orgs").fetch_one(p).await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }

    pub async fn insert_org(&self, org: &OrgRecord) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("INSERT INTO orgs (id, name, parent_id, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&org.id)
                .bind(&org.name)
                .bind(&org.parent_id)
                .bind(org.created_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn get_org(&self, id: &str) -> StoreResult<Option<OrgRecord>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT id, name, parent_id, created_at FROM orgs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(OrgRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    parent_id: r.try_get("parent_id")?,
                    created_at: r.try_get("created_at")?,
                }),
                None => None,
            })
        })
    }

    /// The organisation's chain of parents, nearest first (at most 16 deep).
    pub async fn org_ancestors(&self, id: &str) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        let mut current = self.get_org(id).await?.and_then(|o| o.parent_id);
        while let Some(parent) = current {
            if out.len() >= 16 || out.contains(&parent) {
                break;
            }
            current = self.get_org(&parent).await?.and_then(|o| o.parent_id);
            out.push(parent);
        }
        Ok(out)
    }

    pub async fn insert_user(
        &self,
        user: &UserRecord,
        password_hash: Option<&str>,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO users (id, org_id, name, kind, permissions, password_hash, created_at, updated_at, email) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            )
            .bind(&user.id)
            .bind(&user.org_id)
            .bind(&user.name)
            .bind(&user.kind)
            .bind(json_text(&user.permissions))
            .bind(password_hash)
            .bind(user.created_at)
            .bind(&user.email)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    pub async fn insert_api_key(&self, key: &NewKey<'_>, now: Millis) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, org_id, key_hash, scopes, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(key.id)
            .bind(key.user_id)
            .bind(key.org_id)
            .bind(key.key_hash)
            .bind(json_text(&key.scopes))
            .bind(key.expires_at)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// The principal behind an unrevoked key with this hash. Expiry is the
    /// caller's to check against its clock.
    pub async fn find_api_key(&self, key_hash: &[u8]) -> StoreResult<Option<KeyPrincipal>> {
        on_read!(self, p => {
            let row = sqlx::query(
                "SELECT k.id, k.user_id, k.org_id, k.scopes, k.expires_at, u.kind \
                 FROM api_keys k JOIN users u ON u.id = k.user_id \
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(key_hash)
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => Ok(Some(KeyPrincipal {
                    key_id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    org_id: r.try_get("org_id")?,
                    user_kind: r.try_get("kind")?,
                    scopes: from_json_text(&r.try_get::<String, _>("scopes")?, "api key scopes")?,
                    expires_at: r.try_get("expires_at")?,
                })),
                None => Ok(None),
            }
        })
    }
}

macro_rules! decode_user {
    ($r:expr) => {{
        let r = $r;
        (|| -> StoreResult<UserRecord> {
            Ok(UserRecord {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                name: r.try_get("name")?,
                kind: r.try_get("kind")?,
                permissions: from_json_text(
                    &r.try_get::<String, _>("permissions")?,
                    "user permissions",
                )?,
                email: r.try_get("email")?,
                created_at: r.try_get("created_at")?,
            })
        })()
    }};
}

/// An API key as listed (never its secret or hash).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
}

impl Store {
    pub async fn get_user(&self, org_id: &str, id: &str) -> StoreResult<Option<UserRecord>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT id, org_id, name, kind, permissions, email, created_at FROM users WHERE id = $1 AND org_id = $2 AND kind <> 'deleted'")
                .bind(id)
                .bind(org_id)
                .fetch_optional(p)
                .await?;
            match row.as_ref() {
                Some(r) => Ok(Some(decode_user!(r)?)),
                None => Ok(None),
            }
        })
    }

    pub async fn list_users(
        &self,
        org_id: &str,
        after_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>> {
        on_read!(self, p => {
            let rows = sqlx::query(
                "SELECT id, org_id, name, kind, permissions, email, created_at FROM users WHERE org_id = $1 AND id > $2 AND kind <> 'deleted' ORDER BY id LIMIT $3",
            )
            .bind(org_id)
            .bind(after_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter().map(|r| decode_user!(r)).collect()
        })
    }

    /// Changes a user's name and permissions; keys keep only the scopes the
    /// user still holds. Every statement names the user's organisation.
    pub async fn update_user(&self, user: &UserRecord, now: Millis) -> StoreResult<bool> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query("UPDATE users SET name = $3, permissions = $4, updated_at = $5, email = $6 WHERE id = $1 AND org_id = $2 AND kind <> 'deleted'")
                .bind(&user.id)
                .bind(&user.org_id)
                .bind(&user.name)
                .bind(json_text(&user.permissions))
                .bind(now)
                .bind(&user.email)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                // Not this organisation's user: nothing changes.
                return Ok(false);
            }
            let keys = sqlx::query("SELECT id, scopes FROM api_keys WHERE user_id = $1 AND org_id = $2")
                .bind(&user.id)
                .bind(&user.org_id)
                .fetch_all(&mut *tx)
                .await?;
            for k in keys {
                let scopes: Vec<Scope> = from_json_text(&k.try_get::<String, _>("scopes")?, "api key scopes")?;
                let kept: Vec<Scope> = scopes.into_iter().filter(|s| user.permissions.contains(s)).collect();
                sqlx::query("UPDATE api_keys SET scopes = $3 WHERE id = $1 AND org_id = $2")
                    .bind(k.try_get::<String, _>("id")?)
                    .bind(&user.org_id)
                    .bind(json_text(&kept))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Deletes a user and revokes every key of theirs. The user is marked
    /// first and keys are revoked only when that matched a user of this
    /// organisation, and by a statement that names the organisation too, so
    /// another organisation's call changes nothing.
    pub async fn delete_user(&self, org_id: &str, id: &str, now: Millis) -> StoreResult<bool> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query("UPDATE users SET permissions = '[]', kind = 'deleted', email = NULL, updated_at = $3 WHERE id = $1 AND org_id = $2 AND kind <> 'deleted'")
                .bind(id)
                .bind(org_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE user_id = $1 AND org_id = $2 AND revoked_at IS NULL")
                .bind(id)
                .bind(org_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn list_api_keys(&self, org_id: &str, user_id: &str) -> StoreResult<Vec<KeyRecord>> {
        on_read!(self, p => {
            let rows = sqlx::query(
                "SELECT id, scopes, expires_at, created_at FROM api_keys WHERE user_id = $1 AND org_id = $2 AND revoked_at IS NULL ORDER BY id",
            )
            .bind(user_id)
            .bind(org_id)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(KeyRecord {
                        id: r.try_get("id")?,
                        scopes: from_json_text(&r.try_get::<String, _>("scopes")?, "api key scopes")?,
                        expires_at: r.try_get("expires_at")?,
                        created_at: r.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }

    pub async fn revoke_api_key(
        &self,
        org_id: &str,
        user_id: &str,
        key_id: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        on_write!(self, p => {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = $4 WHERE id = $1 AND user_id = $2 AND org_id = $3 AND revoked_at IS NULL",
            )
            .bind(key_id)
            .bind(user_id)
            .bind(org_id)
            .bind(now)
            .execute(p)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

impl Tx {
    /// Which of `key_ids` (each with the organisation that owns it) are
    /// still unrevoked, read inside the caller's transaction: a key revoked
    /// by any process before this statement is not among them.
    pub async fn live_keys(&mut self, keys: &[(&str, &str)]) -> StoreResult<Vec<String>> {
        let mut live = Vec::new();
        for (org_id, key_id) in keys {
            let found = on_tx!(self, c => {
                sqlx::query(LIVE_KEY)
                    .bind(*key_id)
                    .bind(*org_id)
                    .fetch_optional(&mut *c)
                    .await?
                    .is_some()
            });
            if found {
                live.push(key_id.to_string());
            }
        }
        Ok(live)
    }
}

const LIVE_KEY: &str =
    "SELECT id FROM api_keys WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL";

/// As [`Tx::live_keys`], on SQLite's writer handle.
pub(crate) fn live_keys_now(
    conn: &rusqlite::Connection,
    keys: &[(&str, &str)],
) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(LIVE_KEY)?;
    let mut live = Vec::new();
    for (org_id, key_id) in keys {
        if stmt.exists(rusqlite::named_params! { "$1": key_id, "$2": org_id })? {
            live.push(key_id.to_string());
        }
    }
    Ok(live)
}
