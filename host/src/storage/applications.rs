//! OAuth applications (clients) and the rows behind their tokens: signing
//! keys, authorization codes, refresh tokens, revocations, failed logins.

use sqlx::Row;

use super::{Store, StoreResult, from_json_text, json_text, on_read, on_write};
use crate::clock::Millis;
use crate::domain::Scope;

#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationRecord {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<Scope>,
    pub token_lifetime_secs: i64,
    pub service_account_id: String,
    pub secret_hash: Vec<u8>,
    pub prev_secret_hash: Option<Vec<u8>>,
    pub prev_secret_expires_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const APP_COLUMNS: &str = "id, org_id, name, description, redirect_uris, scopes, token_lifetime_secs, service_account_id, \
     secret_hash, prev_secret_hash, prev_secret_expires_at, created_at, updated_at";

macro_rules! decode_app {
    ($r:expr) => {{
        let r = $r;
        (|| -> StoreResult<ApplicationRecord> {
            Ok(ApplicationRecord {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                redirect_uris: from_json_text(
                    &r.try_get::<String, _>("redirect_uris")?,
                    "redirect uris",
                )?,
                scopes: from_json_text(&r.try_get::<String, _>("scopes")?, "application scopes")?,
                token_lifetime_secs: r.try_get("token_lifetime_secs")?,
                service_account_id: r.try_get("service_account_id")?,
                secret_hash: r.try_get("secret_hash")?,
                prev_secret_hash: r.try_get("prev_secret_hash")?,
                prev_secret_expires_at: r.try_get("prev_secret_expires_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        })()
    }};
}

/// A stored signing key (private half sealed).
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_enc: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: Millis,
    pub retired_at: Option<Millis>,
}

/// An authorization code's grant.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub app_id: String,
    pub user_id: String,
    pub org_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<Scope>,
    pub code_challenge: String,
    pub family_id: String,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

/// The outcome of spending a single-use credential.
#[derive(Debug, Clone)]
pub enum Spent<T> {
    /// Spent now, for the first time.
    Fresh(T),
    /// Spent before: a replay.
    Replayed(T),
    /// Issued to another client; left untouched.
    Foreign,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub family_id: String,
    pub app_id: String,
    pub user_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

impl Store {
    pub async fn insert_application(&self, a: &ApplicationRecord) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO applications (id, org_id, name, description, redirect_uris, scopes, token_lifetime_secs, \
                 service_account_id, secret_hash, prev_secret_hash, prev_secret_expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&a.id)
            .bind(&a.org_id)
            .bind(&a.name)
            .bind(&a.description)
            .bind(json_text(&a.redirect_uris))
            .bind(json_text(&a.scopes))
            .bind(a.token_lifetime_secs)
            .bind(&a.service_account_id)
            .bind(&a.secret_hash)
            .bind(&a.prev_secret_hash)
            .bind(a.prev_secret_expires_at)
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Writes back a live application of `a.org_id`; false when there is
    /// none (deleted, or another organisation's).
    pub async fn update_application(&self, a: &ApplicationRecord) -> StoreResult<bool> {
        on_write!(self, p => {
            let done = sqlx::query(
                "UPDATE applications SET name = $2, description = $3, redirect_uris = $4, scopes = $5, token_lifetime_secs = $6, \
                 secret_hash = $7, prev_secret_hash = $8, prev_secret_expires_at = $9, updated_at = $10 \
                 WHERE id = $1 AND org_id = $11 AND deleted_at IS NULL",
            )
            .bind(&a.id)
            .bind(&a.name)
            .bind(&a.description)
            .bind(json_text(&a.redirect_uris))
            .bind(json_text(&a.scopes))
            .bind(a.token_lifetime_secs)
            .bind(&a.secret_hash)
            .bind(&a.prev_secret_hash)
            .bind(a.prev_secret_expires_at)
            .bind(a.updated_at)
            .bind(&a.org_id)
            .execute(p)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// A live application by id, optionally within an organisation.
    pub async fn get_application(
        &self,
        org_id: Option<&str>,
        id: &str,
    ) -> StoreResult<Option<ApplicationRecord>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE id = $1 AND deleted_at IS NULL AND ($2 = '' OR org_id = $2)"
        );
        on_read!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(org_id.unwrap_or("")).fetch_optional(p).await?;
            match row.as_ref() {
                Some(r) => Ok(Some(decode_app!(r)?)),
                None => Ok(None),
            }
        })
    }

    pub async fn list_applications(&self, org_id: &str) -> StoreResult<Vec<ApplicationRecord>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
        );
        on_read!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(p).await?;
            rows.iter().map(|r| decode_app!(r)).collect()
        })
    }

    /// Marks an application deleted; its tokens stop verifying with it.
    pub async fn delete_application(
        &self,
        org_id: &str,
        id: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query("UPDATE applications SET deleted_at = $3 WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL")
                .bind(id)
                .bind(org_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                // Not this organisation's application: nothing changes.
                return Ok(false);
            }
            sqlx::query("UPDATE refresh_tokens SET used_at = $3 WHERE app_id = $1 AND org_id = $2 AND used_at IS NULL")
                .bind(id)
                .bind(org_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Whether an application exists and is live (for token checks).
    pub async fn application_live(&self, id: &str) -> StoreResult<bool> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT 1 AS one FROM applications WHERE id = $1 AND deleted_at IS NULL").bind(id).fetch_optional(p).await?;
            Ok(row.is_some())
        })
    }

    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        on_read!(self, p => {
            let rows = sqlx::query("SELECT kid, private_enc, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at")
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(SigningKeyRecord {
                        kid: r.try_get("kid")?,
                        private_enc: r.try_get("private_enc")?,
                        public_key: r.try_get("public_key")?,
                        created_at: r.try_get("created_at")?,
                        retired_at: r.try_get("retired_at")?,
                    })
                })
                .collect()
        })
    }

    /// Adds a signing key and retires the others as of `now` (they keep
    /// verifying until the tokens they signed have expired).
    pub async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL").bind(k.created_at).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO signing_keys (kid, private_enc, public_key, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&k.kid)
                .bind(&k.private_enc)
                .bind(&k.public_key)
                .bind(k.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn insert_code(&self, hash: &[u8], c: &CodeRecord) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO oauth_codes (code_hash, app_id, user_id, org_id, redirect_uri, scopes, code_challenge, family_id, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(hash)
            .bind(&c.app_id)
            .bind(&c.user_id)
            .bind(&c.org_id)
            .bind(&c.redirect_uri)
            .bind(json_text(&c.scopes))
            .bind(&c.code_challenge)
            .bind(&c.family_id)
            .bind(c.expires_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Spends a code issued to `app_id`: answers `Fresh` exactly once (an
    /// atomic update, safe under concurrent redemption), `Replayed` when it
    /// was spent before, `Foreign` when another client holds it, `None`
    /// when it does not exist. A foreign client cannot spend it.
    pub async fn take_code(
        &self,
        hash: &[u8],
        app_id: &str,
        now: Millis,
    ) -> StoreResult<Option<Spent<CodeRecord>>> {
        const COLS: &str = "app_id, user_id, org_id, redirect_uri, scopes, code_challenge, family_id, expires_at, used_at";
        macro_rules! decode_code {
            ($r:expr) => {{
                let r = $r;
                CodeRecord {
                    app_id: r.try_get("app_id")?,
                    user_id: r.try_get("user_id")?,
                    org_id: r.try_get("org_id")?,
                    redirect_uri: r.try_get("redirect_uri")?,
                    scopes: from_json_text(&r.try_get::<String, _>("scopes")?, "code scopes")?,
                    code_challenge: r.try_get("code_challenge")?,
                    family_id: r.try_get("family_id")?,
                    expires_at: r.try_get("expires_at")?,
                    used_at: r.try_get("used_at")?,
                }
            }};
        }
        on_write!(self, p => {
            let spent = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND app_id = $3 AND used_at IS NULL RETURNING {COLS}"
            )))
            .bind(hash)
            .bind(now)
            .bind(app_id)
            .fetch_optional(p)
            .await?;
            // No early return: on SQLite the mark must be synced (on_write).
            if let Some(r) = spent {
                let mut record = decode_code!(&r);
                record.used_at = None;
                Ok(Some(Spent::Fresh(record)))
            } else {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM oauth_codes WHERE code_hash = $1")))
                .bind(hash)
                .fetch_optional(p)
                .await?;
            Ok(row.map(|r| -> StoreResult<Spent<CodeRecord>> {
                let record = decode_code!(&r);
                Ok(if record.app_id != app_id { Spent::Foreign } else { Spent::Replayed(record) })
            }).transpose()?)
            }
        })
    }

    pub async fn insert_refresh(
        &self,
        hash: &[u8],
        r: &RefreshRecord,
        now: Millis,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, app_id, user_id, org_id, scopes, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(hash)
            .bind(&r.family_id)
            .bind(&r.app_id)
            .bind(&r.user_id)
            .bind(&r.org_id)
            .bind(json_text(&r.scopes))
            .bind(r.expires_at)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Spends a refresh token of `app_id`, like [`Store::take_code`].
    pub async fn take_refresh(
        &self,
        hash: &[u8],
        app_id: &str,
        now: Millis,
    ) -> StoreResult<Option<Spent<RefreshRecord>>> {
        const COLS: &str = "family_id, app_id, user_id, org_id, scopes, expires_at, used_at";
        macro_rules! decode_refresh {
            ($r:expr) => {{
                let r = $r;
                RefreshRecord {
                    family_id: r.try_get("family_id")?,
                    app_id: r.try_get("app_id")?,
                    user_id: r.try_get("user_id")?,
                    org_id: r.try_get("org_id")?,
                    scopes: from_json_text(&r.try_get::<String, _>("scopes")?, "refresh scopes")?,
                    expires_at: r.try_get("expires_at")?,
                    used_at: r.try_get("used_at")?,
                }
            }};
        }
        on_write!(self, p => {
            let spent = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND app_id = $3 AND used_at IS NULL RETURNING {COLS}"
            )))
            .bind(hash)
            .bind(now)
            .bind(app_id)
            .fetch_optional(p)
            .await?;
            // No early return: on SQLite the mark must be synced (on_write).
            if let Some(r) = spent {
                let mut record = decode_refresh!(&r);
                record.used_at = None;
                Ok(Some(Spent::Fresh(record)))
            } else {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM refresh_tokens WHERE token_hash = $1")))
                .bind(hash)
                .fetch_optional(p)
                .await?;
            Ok(row.map(|r| -> StoreResult<Spent<RefreshRecord>> {
                let record = decode_refresh!(&r);
                Ok(if record.app_id != app_id { Spent::Foreign } else { Spent::Replayed(record) })
            }).transpose()?)
            }
        })
    }

    /// Revokes an access token (`jti`) or a whole family until `expires_at`.
    pub async fn revoke(&self, id: &str, kind: &str, expires_at: Millis) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("INSERT INTO revocations (id, kind, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                .bind(id)
                .bind(kind)
                .bind(expires_at)
                .execute(&mut *p.acquire().await?)
                .await?;
            if kind == "family" {
                sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE family_id = $1 AND used_at IS NULL")
                    .bind(id)
                    .bind(expires_at)
                    .execute(p)
                    .await?;
            }
        });
        Ok(())
    }

    /// Whether any of `ids` (a jti, a family) is revoked.
    pub async fn any_revoked(&self, ids: &[&str]) -> StoreResult<bool> {
        if ids.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT 1 AS one FROM revocations WHERE id IN ({}) LIMIT 1",
            super::placeholders(1, ids.len())
        );
        on_read!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(*id);
            }
            Ok(q.fetch_optional(p).await?.is_some())
        })
    }

    pub async fn record_login_failure(
        &self,
        login: &str,
        ip: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("INSERT INTO login_failures (login, ip_address, failed_at) VALUES ($1, $2, $3)")
                .bind(login)
                .bind(ip)
                .bind(now)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn login_failures_since(&self, login: &str, since: Millis) -> StoreResult<i64> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE login = $1 AND failed_at >= $2")
                .bind(login)
                .bind(since)
                .fetch_one(p)
                .await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }

    /// A user for signing in: (id, org, kind, permissions, password hash), by id or exact name.
    pub async fn user_for_login(
        &self,
        login: &str,
    ) -> StoreResult<Option<(String, String, Vec<Scope>, String)>> {
        on_read!(self, p => {
            let row = sqlx::query(
                "SELECT id, org_id, permissions, password_hash FROM users \
                 WHERE (id = $1 OR email = $2) AND kind = 'human' AND password_hash IS NOT NULL",
            )
            .bind(login)
            .bind(login.trim().to_lowercase())
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => Ok(Some((
                    r.try_get("id")?,
                    r.try_get("org_id")?,
                    from_json_text(&r.try_get::<String, _>("permissions")?, "permissions")?,
                    r.try_get("password_hash")?,
                ))),
                None => Ok(None),
            }
        })
    }

    /// A user's current permissions (for narrowing tokens).
    pub async fn user_permissions(
        &self,
        user_id: &str,
    ) -> StoreResult<Option<(String, Vec<Scope>)>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT org_id, permissions FROM users WHERE id = $1 AND kind <> 'deleted'")
                .bind(user_id)
                .fetch_optional(p)
                .await?;
            match row {
                Some(r) => Ok(Some((r.try_get("org_id")?, from_json_text(&r.try_get::<String, _>("permissions")?, "permissions")?))),
                None => Ok(None),
            }
        })
    }
}
