//! Script plugins' rows: a version with its JavaScript source, and the
//! script engine's compiled artifact (a system row, not an organisation's).

use sqlx::Row;

use super::plugins::{NewPlugin, PluginRecord, status};
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
    /// The numbering is `insert_plugin`'s; the version is `ready` at once.
    pub async fn insert_script_plugin(
        &self,
        p: &NewPlugin<'_>,
        source: &str,
    ) -> StoreResult<Result<PluginRecord, String>> {
        // Nothing to compile: the engine runs the source as it is.
        self.insert_plugin_version(p, status::READY, Some(source))
            .await
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
