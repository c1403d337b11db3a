//! Script plugins' rows: a version with its JavaScript source, and the
//! script engine's compiled artifact (a system row, not an organisation's).

use sqlx::Row;

use super::plugins::{NewPlugin, PluginRecord};
use super::{Store, StoreResult, on_read, on_write};
use crate::clock::Millis;

/// A script plugin version's source, as the editor opens it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSource {
    pub name: String,
    pub kind: String,
    pub version: i64,
    pub source: String,
}

impl Store {
    /// Stores the next version of `name` as a script plugin, its source in
    /// `source` (and as the `wasm` bytes, which `size` and `sha256` then
    /// describe); `Err(kind)` when the name's versions are of another kind.
    /// The numbering is `insert_plugin`'s, in one transaction with the row.
    pub async fn insert_script_plugin(
        &self,
        p: &NewPlugin<'_>,
        source: &str,
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
                "INSERT INTO plugins (id, org_id, name, version, kind, sha256, size, wasm, artifact, created_by, created_at, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(p.id)
            .bind(p.org_id)
            .bind(p.name)
            .bind(version)
            .bind(p.kind)
            .bind(p.sha256)
            .bind(p.wasm.len() as i64)
            .bind(p.wasm)
            .bind(p.artifact)
            .bind(p.created_by)
            .bind(p.created_at)
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
            }))
        })
    }

    /// The kind and source of a script plugin version, by id alone: `None`
    /// for a component (or no such version).
    pub async fn script_of_plugin(&self, id: &str) -> StoreResult<Option<(String, String)>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT kind, source FROM plugins WHERE id = $1 AND source IS NOT NULL")
                .bind(id)
                .fetch_optional(p)
                .await?;
            match row {
                Some(r) => Ok(Some((r.try_get("kind")?, r.try_get("source")?))),
                None => Ok(None),
            }
        })
    }

    /// A script plugin version of one of `org_ids`, with its source.
    pub async fn script_source(
        &self,
        org_ids: &[String],
        id: &str,
    ) -> StoreResult<Option<ScriptSource>> {
        if org_ids.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT name, kind, version, source FROM plugins WHERE id = $1 AND source IS NOT NULL AND org_id IN ({})",
            super::placeholders(2, org_ids.len())
        );
        on_read!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
            for o in org_ids {
                q = q.bind(o);
            }
            let row = q.fetch_optional(p).await?;
            match row {
                Some(r) => Ok(Some(ScriptSource {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    version: r.try_get("version")?,
                    source: r.try_get("source")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Whether any organisation has a script plugin version.
    pub async fn any_script_plugin(&self) -> StoreResult<bool> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT id FROM plugins WHERE source IS NOT NULL LIMIT 1")
                .fetch_optional(p)
                .await?;
            Ok(row.is_some())
        })
    }

    /// The script engine's artifact kept under the engine's hash.
    pub async fn script_engine_artifact(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        on_read!(self, p => {
            Ok(sqlx::query_scalar("SELECT artifact FROM script_engines WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(p)
                .await?)
        })
    }

    /// Keeps the script engine's artifact (replacing one that no longer
    /// fitted this host's wasmtime).
    pub async fn save_script_engine_artifact(
        &self,
        sha256: &str,
        artifact: &[u8],
        at: Millis,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO script_engines (sha256, artifact, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (sha256) DO UPDATE SET artifact = excluded.artifact, created_at = excluded.created_at",
            )
            .bind(sha256)
            .bind(artifact)
            .bind(at)
            .execute(p)
            .await?;
            Ok(())
        })
    }
}
