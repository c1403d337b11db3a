//! Sign-in through an organisation's own OpenID Connect provider: its
//! settings (the client secret sealed), the email domains that lead to
//! it, and the sign-ins under way (by the SHA-256 of their `state`,
//! spent once).

use sqlx::Row;

use super::{Store, StoreResult, from_json_text, json_text, on_read, on_write};
use crate::clock::Millis;
use crate::domain::Scope;

/// An organisation's provider settings as stored.
#[derive(Clone, PartialEq)]
pub struct OidcRecord {
    pub org_id: String,
    /// What the sign-in button says: "Sign in with {display_name}".
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// Sealed under the master key, bound to the organisation's id.
    pub client_secret: Vec<u8>,
    /// Lower-case email domains whose people sign in here.
    pub allowed_domains: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl std::fmt::Debug for OidcRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcRecord")
            .field("org_id", &self.org_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<sealed>")
            .field("allowed_domains", &self.allowed_domains)
            .finish_non_exhaustive()
    }
}

/// A sign-in under way at a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcSignIn {
    pub org_id: String,
    pub nonce: String,
    /// The PKCE verifier, sealed under the master key.
    pub verifier: Vec<u8>,
    /// The `/oauth/authorize` query to return to; `None` for the console.
    pub authorize: Option<String>,
    pub expires_at: Millis,
}

const COLS: &str = "org_id, display_name, issuer, client_id, client_secret, allowed_domains, created_at, updated_at";

fn record(r: &impl RowLike) -> StoreResult<OidcRecord> {
    r.record()
}

/// Both backends' rows decode the same way.
trait RowLike {
    fn record(&self) -> StoreResult<OidcRecord>;
}

macro_rules! impl_row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn record(&self) -> StoreResult<OidcRecord> {
                Ok(OidcRecord {
                    org_id: self.try_get("org_id")?,
                    display_name: self.try_get("display_name")?,
                    issuer: self.try_get("issuer")?,
                    client_id: self.try_get("client_id")?,
                    client_secret: self.try_get("client_secret")?,
                    allowed_domains: from_json_text(
                        &self.try_get::<String, _>("allowed_domains")?,
                        "allowed_domains",
                    )?,
                    created_at: self.try_get("created_at")?,
                    updated_at: self.try_get("updated_at")?,
                })
            }
        }
    };
}
impl_row_like!(sqlx::sqlite::SqliteRow);
impl_row_like!(sqlx::postgres::PgRow);

impl Store {
    /// The organisation's provider settings, if it has any.
    pub async fn get_org_oidc(&self, org_id: &str) -> StoreResult<Option<OidcRecord>> {
        on_read!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLS} FROM org_oidc WHERE org_id = $1"
            )))
            .bind(org_id)
            .fetch_optional(p)
            .await?;
            row.as_ref().map(record).transpose()
        })
    }

    /// Creates or replaces the organisation's settings and the domains
    /// that lead to them, in one transaction; a domain another
    /// organisation holds is a unique violation and nothing changes.
    pub async fn put_org_oidc(&self, rec: &OidcRecord) -> StoreResult<()> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO org_oidc (org_id, display_name, issuer, client_id, client_secret, allowed_domains, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (org_id) DO UPDATE SET display_name = excluded.display_name, issuer = excluded.issuer, \
                 client_id = excluded.client_id, client_secret = excluded.client_secret, \
                 allowed_domains = excluded.allowed_domains, updated_at = excluded.updated_at",
            )
            .bind(&rec.org_id)
            .bind(&rec.display_name)
            .bind(&rec.issuer)
            .bind(&rec.client_id)
            .bind(&rec.client_secret)
            .bind(json_text(&rec.allowed_domains))
            .bind(rec.created_at)
            .bind(rec.updated_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM oidc_domains WHERE org_id = $1")
                .bind(&rec.org_id)
                .execute(&mut *tx)
                .await?;
            for domain in &rec.allowed_domains {
                sqlx::query("INSERT INTO oidc_domains (domain, org_id) VALUES ($1, $2)")
                    .bind(domain)
                    .bind(&rec.org_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes the organisation's settings and domains; whether there were any.
    pub async fn delete_org_oidc(&self, org_id: &str) -> StoreResult<bool> {
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM oidc_domains WHERE org_id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM org_oidc WHERE org_id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The organisation whose provider people of this email domain sign
    /// in through.
    pub async fn oidc_org_for_domain(&self, domain: &str) -> StoreResult<Option<String>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT org_id FROM oidc_domains WHERE domain = $1")
                .bind(domain)
                .fetch_optional(p)
                .await?;
            row.map(|r| r.try_get("org_id")).transpose().map_err(Into::into)
        })
    }

    /// Removes the sign-ins under way that ran out before `now`.
    pub async fn delete_expired_oidc_sign_ins(&self, now: Millis) -> StoreResult<u64> {
        on_write!(self, p => {
            let done = sqlx::query("DELETE FROM oidc_sign_ins WHERE expires_at <= $1")
                .bind(now)
                .execute(p)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Records a sign-in under way.
    pub async fn insert_oidc_sign_in(
        &self,
        state_hash: &[u8],
        browser_hash: &[u8],
        s: &OidcSignIn,
        now: Millis,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO oidc_sign_ins (state_hash, org_id, browser_hash, nonce, verifier, authorize, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(state_hash)
            .bind(&s.org_id)
            .bind(browser_hash)
            .bind(&s.nonce)
            .bind(&s.verifier)
            .bind(&s.authorize)
            .bind(now)
            .bind(s.expires_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Spends a sign-in under way: only once, only from the browser that
    /// began it, only before it runs out.
    pub async fn take_oidc_sign_in(
        &self,
        state_hash: &[u8],
        browser_hash: &[u8],
        now: Millis,
    ) -> StoreResult<Option<OidcSignIn>> {
        on_write!(self, p => {
            let row = sqlx::query(
                "UPDATE oidc_sign_ins SET used_at = $3 \
                 WHERE state_hash = $1 AND browser_hash = $2 AND used_at IS NULL AND expires_at > $3 \
                 RETURNING org_id, nonce, verifier, authorize, expires_at",
            )
            .bind(state_hash)
            .bind(browser_hash)
            .bind(now)
            .fetch_optional(p)
            .await?;
            // No early return: on SQLite the mark must be synced (on_write).
            match row {
                Some(r) => Ok(Some(OidcSignIn {
                    org_id: r.try_get("org_id")?,
                    nonce: r.try_get("nonce")?,
                    verifier: r.try_get("verifier")?,
                    authorize: r.try_get("authorize")?,
                    expires_at: r.try_get("expires_at")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The human user of this organisation with this (lower-case) email
    /// address, with their permissions.
    pub async fn human_by_email(
        &self,
        org_id: &str,
        email: &str,
    ) -> StoreResult<Option<(String, Vec<Scope>)>> {
        on_read!(self, p => {
            let row = sqlx::query(
                "SELECT id, permissions FROM users WHERE org_id = $1 AND email = $2 AND kind = 'human'",
            )
            .bind(org_id)
            .bind(email)
            .fetch_optional(p)
            .await?;
            match row {
                Some(r) => Ok(Some((
                    r.try_get("id")?,
                    from_json_text(&r.try_get::<String, _>("permissions")?, "permissions")?,
                ))),
                None => Ok(None),
            }
        })
    }
}
