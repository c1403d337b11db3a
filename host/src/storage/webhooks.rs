//! Webhook rows: settings, sealed secrets, pause state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Backend, Store, StoreResult, Tx, from_json_text, json_text, on_read, on_tx};
use crate::clock::Millis;
use crate::domain::Category;
use crate::domain::webhook::{
    Filters, OnPluginError, Ordering, PluginRef, SignatureScheme, WebhookSettings,
};
use crate::storage::health::HealthStatus;

/// A stored webhook. Secrets stay sealed here; the service opens them.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub id: String,
    pub org_id: String,
    pub settings: WebhookSettings,
    pub secret_enc: Vec<u8>,
    pub prev_secret_enc: Option<Vec<u8>>,
    pub prev_secret_expires_at: Option<Millis>,
    pub paused: bool,
    /// Why ScaiHub paused it itself (410 Gone); `None` for an admin's pause.
    pub paused_reason: Option<String>,
    /// Until then its receiver asked (`Retry-After`) to be left alone.
    /// Written only by [`Tx::hold_webhook`], never by `update_webhook`.
    pub held_until: Option<Millis>,
    pub overflow_count: i64,
    pub overflow_reported: bool,
    pub version: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The JSON `settings` column: everything not needed by SQL itself.
#[derive(Serialize, Deserialize)]
struct StoredSettings {
    events: Vec<Category>,
    actions: Vec<String>,
    filters: Filters,
    headers: BTreeMap<String, String>,
    #[serde(default)]
    filter_plugins: Vec<PluginRef>,
    #[serde(default)]
    transform_plugin: Option<PluginRef>,
    #[serde(default)]
    on_plugin_error: OnPluginError,
    #[serde(default)]
    signature_scheme: SignatureScheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<u32>,
}

fn settings_json(s: &WebhookSettings) -> String {
    json_text(&StoredSettings {
        events: s.events.clone(),
        actions: s.actions.clone(),
        filters: s.filters.clone(),
        headers: s.headers.clone(),
        filter_plugins: s.filter_plugins.clone(),
        transform_plugin: s.transform_plugin.clone(),
        on_plugin_error: s.on_plugin_error,
        signature_scheme: s.signature_scheme,
        rate_limit: s.rate_limit,
        max_in_flight: s.max_in_flight,
    })
}

pub(crate) const COLUMNS: &str = "id, org_id, name, url, settings, secret_enc, prev_secret_enc, prev_secret_expires_at, \
     paused, paused_reason, held_until, queue_limit, overflow_count, overflow_reported, version, created_at, updated_at, \
     ordering";

/// A webhook from a row: `decode!(row)` for sqlx's rows, `decode!(row, get)`
/// for rusqlite's (`storage::direct`).
macro_rules! decode {
    ($r:expr) => {
        decode!($r, try_get)
    };
    ($r:expr, $get:ident) => {{
        let r = $r;
        (|| -> StoreResult<WebhookRecord> {
            let settings: String = r.$get("settings")?;
            let stored: StoredSettings = from_json_text(&settings, "webhook settings")?;
            Ok(WebhookRecord {
                id: r.$get("id")?,
                org_id: r.$get("org_id")?,
                settings: WebhookSettings {
                    name: r.$get("name")?,
                    url: r.$get("url")?,
                    events: stored.events,
                    actions: stored.actions,
                    filters: stored.filters,
                    headers: stored.headers,
                    queue_limit: r.$get("queue_limit")?,
                    filter_plugins: stored.filter_plugins,
                    transform_plugin: stored.transform_plugin,
                    on_plugin_error: stored.on_plugin_error,
                    signature_scheme: stored.signature_scheme,
                    rate_limit: stored.rate_limit,
                    max_in_flight: stored.max_in_flight,
                    ordering: {
                        let text: String = r.$get("ordering")?;
                        Ordering::parse(&text).ok_or_else(|| {
                            super::StoreError::Corrupt(format!("webhook ordering {text:?}"))
                        })?
                    },
                },
                secret_enc: r.$get("secret_enc")?,
                prev_secret_enc: r.$get("prev_secret_enc")?,
                prev_secret_expires_at: r.$get("prev_secret_expires_at")?,
                paused: r.$get("paused")?,
                paused_reason: r.$get("paused_reason")?,
                held_until: r.$get("held_until")?,
                overflow_count: r.$get("overflow_count")?,
                overflow_reported: r.$get("overflow_reported")?,
                version: r.$get("version")?,
                created_at: r.$get("created_at")?,
                updated_at: r.$get("updated_at")?,
            })
        })()
    }};
}

impl Tx {
    pub async fn insert_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO webhooks (id, org_id, name, url, settings, secret_enc, prev_secret_enc, prev_secret_expires_at, \
                 paused, queue_limit, overflow_count, overflow_reported, version, created_at, updated_at, paused_reason, ordering) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(&w.id)
            .bind(&w.org_id)
            .bind(&w.settings.name)
            .bind(&w.settings.url)
            .bind(settings_json(&w.settings))
            .bind(&w.secret_enc)
            .bind(&w.prev_secret_enc)
            .bind(w.prev_secret_expires_at)
            .bind(w.paused)
            .bind(w.settings.queue_limit)
            .bind(w.overflow_count)
            .bind(w.overflow_reported)
            .bind(w.version)
            .bind(w.created_at)
            .bind(w.updated_at)
            .bind(&w.paused_reason)
            .bind(w.settings.ordering.as_str())
            .execute(c)
            .await?;
        });
        Ok(())
    }

    /// The webhook, locked for update where the backend supports it.
    pub async fn get_webhook(
        &mut self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookRecord>> {
        let lock = if matches!(self, Tx::Postgres(_)) {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND org_id = $2{lock}");
        on_tx!(self, c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(org_id).fetch_optional(c).await?;
            match row.as_ref() { Some(r) => Ok(Some(decode!(r)?)), None => Ok(None) }
        })
    }

    /// Holds the webhook's deliveries until `until` (a receiver's
    /// `Retry-After`); a later hold already stored stands.
    pub async fn hold_webhook(
        &mut self,
        org_id: &str,
        webhook_id: &str,
        until: Millis,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "UPDATE webhooks SET held_until = $3 \
                 WHERE org_id = $1 AND id = $2 AND (held_until IS NULL OR held_until < $3)",
            )
            .bind(org_id)
            .bind(webhook_id)
            .bind(until)
            .execute(c)
            .await?;
        });
        Ok(())
    }

    /// Writes back everything a webhook record holds, bumping its version.
    pub async fn update_webhook(&mut self, w: &WebhookRecord) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "UPDATE webhooks SET name = $3, url = $4, settings = $5, secret_enc = $6, prev_secret_enc = $7, \
                 prev_secret_expires_at = $8, paused = $9, queue_limit = $10, overflow_count = $11, \
                 overflow_reported = $12, version = version + 1, updated_at = $13, paused_reason = $14, \
                 ordering = $15 WHERE id = $1 AND org_id = $2",
            )
            .bind(&w.id)
            .bind(&w.org_id)
            .bind(&w.settings.name)
            .bind(&w.settings.url)
            .bind(settings_json(&w.settings))
            .bind(&w.secret_enc)
            .bind(&w.prev_secret_enc)
            .bind(w.prev_secret_expires_at)
            .bind(w.paused)
            .bind(w.settings.queue_limit)
            .bind(w.overflow_count)
            .bind(w.overflow_reported)
            .bind(w.updated_at)
            .bind(&w.paused_reason)
            .bind(w.settings.ordering.as_str())
            .execute(c)
            .await?;
        });
        Ok(())
    }

    pub async fn delete_webhook(&mut self, org_id: &str, id: &str) -> StoreResult<bool> {
        let backend = self.backend();
        on_tx!(self, c => {
            // Only the org's own webhook loses its deliveries.
            const OWNED: &str = super::WEBHOOK_OF_ORG;
            let tables: &[&str] = match backend {
                // The gate's rows (migration 0015) go with it.
                Backend::Postgres => &["delivery_queue", "deliveries", "webhook_sends", "webhook_gates"],
                // `delivery_queue` is a view of `deliveries` there.
                Backend::Sqlite => &["deliveries"],
            };
            for table in tables {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE webhook_id = $1 AND {OWNED}")))
                    .bind(id)
                    .bind(org_id)
                    .execute(&mut *c)
                    .await?;
            }
            let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND org_id = $2")
                .bind(id)
                .bind(org_id)
                .execute(&mut *c)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Every webhook of an organisation (for matching inside a transaction).
    pub async fn webhooks_of_org(&mut self, org_id: &str) -> StoreResult<Vec<WebhookRecord>> {
        let sql = webhooks_of_org_sql();
        on_tx!(self, c => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(c).await?;
            rows.iter().map(|r| decode!(r)).collect()
        })
    }

    /// Records that a paused webhook refused `count` more events, and marks
    /// the overflow as reported.
    pub async fn add_overflow(
        &mut self,
        org_id: &str,
        webhook_id: &str,
        count: i64,
        now: Millis,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(ADD_OVERFLOW)
            .bind(webhook_id)
            .bind(org_id)
            .bind(count)
            .bind(now)
            .execute(c)
            .await?;
        });
        Ok(())
    }
}

fn webhooks_of_org_sql() -> String {
    format!("SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 ORDER BY created_at, id")
}

const ADD_OVERFLOW: &str = "UPDATE webhooks SET overflow_count = overflow_count + $3, overflow_reported = TRUE, \
     updated_at = $4 WHERE id = $1 AND org_id = $2";

/// As [`Tx::webhooks_of_org`], on SQLite's writer handle.
pub(crate) fn webhooks_of_org_now(
    conn: &rusqlite::Connection,
    org_id: &str,
) -> StoreResult<Vec<WebhookRecord>> {
    let mut stmt = conn.prepare_cached(&webhooks_of_org_sql())?;
    let mut rows = stmt.query(rusqlite::named_params! { "$1": org_id })?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(decode!(r, get)?);
    }
    Ok(out)
}

/// As [`Tx::add_overflow`], on SQLite's writer handle.
pub(crate) fn add_overflow_now(
    conn: &rusqlite::Connection,
    org_id: &str,
    webhook_id: &str,
    count: i64,
    now: Millis,
) -> StoreResult<()> {
    conn.prepare_cached(ADD_OVERFLOW)?.execute(
        rusqlite::named_params! { "$1": webhook_id, "$2": org_id, "$3": count, "$4": now },
    )?;
    Ok(())
}

impl Store {
    /// PostgreSQL, for an ingest group written in one statement
    /// (`hub::group`): in one read, which of `keys` (organisation, key id)
    /// are unrevoked, and the webhooks of the organisations `orgs`, oldest
    /// first. Read outside a transaction: under READ COMMITTED each
    /// statement of a transaction reads a snapshot of its own, so this is
    /// what the group's transaction would have read.
    pub async fn ingest_context(
        conn: &mut sqlx::PgConnection,
        keys: &[(&str, &str)],
        orgs: &[&str],
    ) -> StoreResult<(Vec<String>, Vec<WebhookRecord>)> {
        // One row at least (the keys' answer), with a webhook's columns
        // when the organisations have any.
        let sql = format!(
            "SELECT ARRAY(SELECT k.id FROM api_keys k JOIN unnest($2::text[], $3::text[]) AS q (org_id, id) \
               ON k.id = q.id AND k.org_id = q.org_id WHERE k.revoked_at IS NULL) AS live_keys, w.* \
             FROM (SELECT 1) AS one LEFT JOIN (SELECT {COLUMNS} FROM webhooks WHERE org_id = ANY($1::text[])) AS w ON TRUE \
             ORDER BY w.created_at, w.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(orgs)
            .bind(keys.iter().map(|(org, _)| *org).collect::<Vec<_>>())
            .bind(keys.iter().map(|(_, key)| *key).collect::<Vec<_>>())
            .fetch_all(conn)
            .await?;
        let live: Vec<String> = match rows.first() {
            Some(r) => r.try_get("live_keys")?,
            None => Vec::new(),
        };
        let mut webhooks = Vec::with_capacity(rows.len());
        for r in &rows {
            if r.try_get::<Option<String>, _>("id")?.is_some() {
                webhooks.push(decode!(r)?);
            }
        }
        Ok((live, webhooks))
    }

    pub async fn get_webhook(&self, org_id: &str, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND org_id = $2");
        on_read!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(org_id).fetch_optional(p).await?;
            match row.as_ref() { Some(r) => Ok(Some(decode!(r)?)), None => Ok(None) }
        })
    }

    /// A webhook by id alone, for the delivery worker (which already knows
    /// the delivery's organisation from the same row).
    pub async fn get_webhook_by_id(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
        on_read!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?;
            match row.as_ref() { Some(r) => Ok(Some(decode!(r)?)), None => Ok(None) }
        })
    }

    /// A page of an organisation's webhooks, oldest first, after `after_id`.
    pub async fn list_webhooks(
        &self,
        org_id: &str,
        after_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        on_read!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(after_id.unwrap_or(""))
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| decode!(r)).collect()
        })
    }

    /// Like [`Store::list_webhooks`], only webhooks whose health is `status`
    /// as of `now` (see [`HealthStatus`]).
    pub async fn list_webhooks_by_health(
        &self,
        org_id: &str,
        status: HealthStatus,
        now: Millis,
        after_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookRecord>> {
        let condition = status.condition("$4");
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("w.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM webhooks w WHERE w.org_id = $1 AND w.id > $2 AND {condition} ORDER BY w.id LIMIT $3"
        );
        // Only the states that look at recent attempts use the window.
        let window = matches!(status, HealthStatus::Healthy | HealthStatus::Idle)
            .then(|| super::health::window_start(now));
        on_read!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(after_id.unwrap_or(""))
                .bind(limit);
            if let Some(w) = window {
                q = q.bind(w);
            }
            let rows = q.fetch_all(p).await?;
            rows.iter().map(|r| decode!(r)).collect()
        })
    }

    /// The number of deliveries a paused webhook holds.
    pub async fn queued_count(&self, org_id: &str, webhook_id: &str) -> StoreResult<i64> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM delivery_queue WHERE webhook_id = $1 AND status = 'queued' AND {}",
            super::WEBHOOK_OF_ORG
        );
        on_read!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(webhook_id)
                .bind(org_id)
                .fetch_one(p)
                .await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }
}
