//! Plugin versions.

use sqlx::Row;

use super::{Store, StoreResult, Tx, on_read, on_tx, on_write};
use crate::clock::Millis;

/// A plugin version as listed (without its bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRecord {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub version: i64,
    pub kind: String,
    pub sha256: String,
    pub size: i64,
    pub created_at: Millis,
    /// `compiling`, `ready` or `failed` (see [`status`]).
    pub status: String,
    /// Why it failed to compile.
    pub status_reason: Option<String>,
}

/// Where a version is on its way from upload to use. Only `ready`
/// versions have an artifact; only they may be attached or run.
pub mod status {
    pub const COMPILING: &str = "compiling";
    pub const READY: &str = "ready";
    pub const FAILED: &str = "failed";
}

/// A version to store.
pub struct NewPlugin<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub sha256: &'a str,
    pub wasm: &'a [u8],
    pub created_by: Option<&'a str>,
    pub created_at: Millis,
}

const COLUMNS: &str =
    "id, org_id, name, version, kind, sha256, size, created_at, status, status_reason";

macro_rules! decode {
    ($r:expr) => {{
        let r = $r;
        (|| -> StoreResult<PluginRecord> {
            Ok(PluginRecord {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                name: r.try_get("name")?,
                version: r.try_get("version")?,
                kind: r.try_get("kind")?,
                sha256: r.try_get("sha256")?,
                size: r.try_get("size")?,
                created_at: r.try_get("created_at")?,
                status: r.try_get("status")?,
                status_reason: r.try_get("status_reason")?,
            })
        })()
    }};
}

impl Store {
    /// Stores the next version of `name` in the organisation, `compiling`
    /// (its artifact to come from the compile queue), and returns it;
    /// `Err(kind)` when the name's versions are of another kind. A
    /// version number is never given twice, even after a delete.
    pub async fn insert_plugin(
        &self,
        p: &NewPlugin<'_>,
    ) -> StoreResult<Result<PluginRecord, String>> {
        self.insert_plugin_version(p, status::COMPILING, None).await
    }

    /// Stores the next version of `name` in `status`, with the script's
    /// `source` for a script plugin (see `storage/scripts.rs`).
    pub(crate) async fn insert_plugin_version(
        &self,
        p: &NewPlugin<'_>,
        initial: &str,
        source: Option<&str>,
    ) -> StoreResult<Result<PluginRecord, String>> {
        on_write!(self, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(
                "INSERT INTO plugin_names (org_id, name, kind, last_version) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (org_id, name) DO UPDATE SET last_version = plugin_names.last_version + 1 \
                 WHERE plugin_names.kind = excluded.kind \
                 RETURNING last_version",
            )
            .bind(p.org_id)
            .bind(p.name)
            .bind(p.kind)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                let kind: String = sqlx::query_scalar(
                    "SELECT kind FROM plugin_names WHERE org_id = $1 AND name = $2",
                )
                .bind(p.org_id)
                .bind(p.name)
                .fetch_one(&mut *tx)
                .await?;
                return Ok(Err(kind));
            };
            let version: i64 = row.try_get::<i64, _>("last_version")?;
            sqlx::query(
                "INSERT INTO plugins (id, org_id, name, version, kind, sha256, size, wasm, artifact, created_by, created_at, status, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(p.id)
            .bind(p.org_id)
            .bind(p.name)
            .bind(version)
            .bind(p.kind)
            .bind(p.sha256)
            .bind(p.wasm.len() as i64)
            .bind(p.wasm)
            .bind(&[] as &[u8])
            .bind(p.created_by)
            .bind(p.created_at)
            .bind(initial)
            .bind(source)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(PluginRecord {
                id: p.id.to_string(),
                org_id: p.org_id.to_string(),
                name: p.name.to_string(),
                version,
                kind: p.kind.to_string(),
                sha256: p.sha256.to_string(),
                size: p.wasm.len() as i64,
                created_at: p.created_at,
                status: initial.to_string(),
                status_reason: None,
            }))
        })
    }

    /// A plugin version of one of `org_ids`.
    pub async fn get_plugin(
        &self,
        org_ids: &[String],
        id: &str,
    ) -> StoreResult<Option<PluginRecord>> {
        if org_ids.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM plugins WHERE id = $1 AND org_id IN ({})",
            super::placeholders(2, org_ids.len())
        );
        on_read!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
            for o in org_ids {
                q = q.bind(o);
            }
            let row = q.fetch_optional(p).await?;
            match row.as_ref() {
                Some(r) => Ok(Some(decode!(r)?)),
                None => Ok(None),
            }
        })
    }

    /// The compiled artifact and kind of a plugin version, once it is
    /// `ready` (a version still compiling, or failed, has none).
    pub async fn plugin_artifact(&self, id: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT kind, artifact FROM plugins WHERE id = $1 AND status = 'ready'").bind(id).fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some((r.try_get("kind")?, r.try_get("artifact")?))),
                None => Ok(None),
            }
        })
    }

    /// An organisation's plugin versions, by name then version.
    pub async fn list_plugins(&self, org_id: &str) -> StoreResult<Vec<PluginRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM plugins WHERE org_id = $1 ORDER BY name, version");
        on_read!(self, p => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_all(p).await?;
            rows.iter().map(|r| decode!(r)).collect()
        })
    }

    pub async fn delete_plugin(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        on_write!(self, p => {
            let done = sqlx::query("DELETE FROM plugins WHERE id = $1 AND org_id = $2").bind(id).bind(org_id).execute(p).await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

/// Attaching and deleting decide under the same lock, so they cannot
/// interleave into a webhook attached to a deleted version: an attach
/// keeps the versions it names (PostgreSQL `FOR SHARE`) until its
/// transaction ends, and a delete takes its version (`FOR UPDATE`) before
/// it looks for webhooks using it. On SQLite both run in write
/// transactions, which its one writer already takes one at a time.
impl Tx {
    /// Of `ids`, those stored in one of `org_ids`, kept from deletion
    /// until this transaction ends.
    pub async fn keep_plugins(
        &mut self,
        org_ids: &[String],
        ids: &[String],
    ) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Tx::Sqlite(t, _) => {
                let rows = sqlx::query(
                    "SELECT id FROM plugins WHERE id IN (SELECT value FROM json_each($1)) \
                     AND org_id IN (SELECT value FROM json_each($2))",
                )
                .bind(serde_json::to_string(ids).expect("strings"))
                .bind(serde_json::to_string(org_ids).expect("strings"))
                .fetch_all(&mut **t)
                .await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }
            Tx::Postgres(t) => {
                let rows = sqlx::query(
                    "SELECT id FROM plugins WHERE id = ANY($1) AND org_id = ANY($2) FOR SHARE",
                )
                .bind(ids)
                .bind(org_ids)
                .fetch_all(&mut **t)
                .await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }
        }
    }

    /// Takes the organisation's version for deletion; `false` when it has
    /// no such version.
    pub async fn take_plugin(&mut self, org_id: &str, id: &str) -> StoreResult<bool> {
        let lock = if matches!(self, Tx::Postgres(_)) {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT id FROM plugins WHERE id = $1 AND org_id = $2{lock}");
        on_tx!(self, c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(org_id).fetch_optional(c).await?;
            Ok(row.is_some())
        })
    }

    /// The webhooks, of any organisation, that name the version (an MSP's
    /// version may be attached by its children), as the delete sees them
    /// once it holds the version.
    pub async fn webhooks_naming_plugin(&mut self, plugin_id: &str) -> StoreResult<Vec<String>> {
        on_tx!(self, c => {
            let rows = sqlx::query("SELECT id FROM webhooks WHERE settings LIKE $1")
                .bind(format!("%\"{plugin_id}\"%"))
                .fetch_all(c)
                .await?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    pub async fn delete_plugin(&mut self, org_id: &str, id: &str) -> StoreResult<bool> {
        on_tx!(self, c => {
            let done = sqlx::query("DELETE FROM plugins WHERE id = $1 AND org_id = $2").bind(id).bind(org_id).execute(c).await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
