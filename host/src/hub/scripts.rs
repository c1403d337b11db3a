//! Script plugins: a version made from JavaScript source (checked by the
//! engine first), a run of unsaved source on a sample event (the editor's
//! Run), a version's source (to edit as a new version), and the loading
//! of a script version for calls. Everything after loading is the plugin
//! path every component takes: same table, ids, attach, caps and slots.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::plugins::{TestOutcome, validate_name};
use super::principals::Principal;
use super::{Hub, HubError, HubResult};
use crate::domain::{Category, Event, FieldError};
use crate::ids::{IdKind, new_id};
use crate::plugin::runtime::{Interpreter, Loaded};
use crate::plugin::script::{self, script_checker, script_plugin};
use crate::plugin::{CallError, CallReport, OutgoingRequest, PluginEvent, PluginKind};
use crate::storage::plugins::{NewPlugin, PluginRecord};
use crate::storage::scripts::ScriptSource;

/// The event a source is checked with (its functions are not called).
const CHECK_EVENT: &str = r#"{"event_id":"evt_check","timestamp":"2026-01-01T00:00:00Z","category":"ADMIN","action":"script.check","payload":{}}"#;

/// At start, loads the script engine in the background when any
/// organisation has a script plugin, so their first delivery does not wait
/// for it (a deserialise, or a compile when the store has no artifact for
/// this build).
pub async fn warm_up(hub: Arc<Hub>) {
    if script::unavailable_reason().is_some() {
        return;
    }
    if let Ok(true) = hub.store.any_script_plugin().await
        && let Err(e) = hub.script_engine().await
    {
        tracing::warn!(error = %e, "the script engine could not be loaded");
    }
}

fn parse_kind(kind: &str) -> Result<PluginKind, FieldError> {
    PluginKind::parse(kind).ok_or_else(|| FieldError::new("kind", "must be filter or transform"))
}

fn validate_source(source: &str) -> Result<(), FieldError> {
    if source.trim().is_empty() {
        return Err(FieldError::new("source", "is required"));
    }
    if source.len() > script::MAX_SOURCE_BYTES {
        return Err(FieldError::new(
            "source",
            format!(
                "is {} bytes; the limit is {}",
                source.len(),
                script::MAX_SOURCE_BYTES
            ),
        ));
    }
    Ok(())
}

fn unavailable(e: CallError) -> HubError {
    match e {
        CallError::Unavailable(m) => HubError::Conflict(m),
        other => HubError::Conflict(other.to_string()),
    }
}

impl Hub {
    /// This runtime's script engine: loaded once, from the artifact the
    /// store or this process kept, else compiled (seconds, on a blocking
    /// thread); the store keeps it, so a restart only deserialises it.
    pub async fn script_engine(&self) -> Result<Arc<Interpreter>, CallError> {
        self.plugins
            .script_engine_slot()
            .get_or_try_init(|| self.load_script_engine())
            .await
            .cloned()
    }

    async fn load_script_engine(&self) -> Result<Arc<Interpreter>, CallError> {
        if let Some(reason) = script::unavailable_reason() {
            return Err(CallError::Unavailable(format!(
                "script plugins are not available in this build: {reason}"
            )));
        }
        let sha256 = script::engine_sha256();
        let stored = self.store.script_engine_artifact(sha256).await;
        let stored = stored.ok().flatten().map(Arc::new);
        let in_process = self.plugins.compiled_script_engine();
        for (artifact, from_store) in [(stored, true), (in_process, false)] {
            let Some(artifact) = artifact else { continue };
            let rt = self.plugins.clone();
            let kept = artifact.clone();
            let engine = tokio::task::spawn_blocking(move || rt.script_engine_from(&kept)).await;
            if let Ok(Some(engine)) = engine {
                if !from_store {
                    self.keep_script_engine(sha256, &artifact).await;
                }
                return Ok(Arc::new(engine));
            }
        }
        let rt = self.plugins.clone();
        let started = std::time::Instant::now();
        let (engine, artifact) = tokio::task::spawn_blocking(move || rt.compile_script_engine())
            .await
            .map_err(|e| CallError::Unavailable(format!("script engine: {e}")))??;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            bytes = artifact.len(),
            "script engine compiled"
        );
        self.keep_script_engine(sha256, &artifact).await;
        Ok(Arc::new(engine))
    }

    /// Keeps the engine's artifact in the store; a failure only costs the
    /// next process a compile.
    async fn keep_script_engine(&self, sha256: &str, artifact: &[u8]) {
        if let Err(e) = self
            .store
            .save_script_engine_artifact(sha256, artifact, self.now())
            .await
        {
            tracing::warn!(error = %e, "the script engine's artifact was not kept");
        }
    }

    /// A script version ready to call (and cached like any plugin), or
    /// `None` when `id` is not a script.
    pub(crate) async fn loaded_script(&self, id: &str) -> Result<Option<Arc<Loaded>>, CallError> {
        let found = self
            .store
            .script_of_plugin(id)
            .await
            .map_err(|e| CallError::Unavailable(e.to_string()))?;
        let Some((kind, source)) = found else {
            return Ok(None);
        };
        let kind = PluginKind::parse(&kind)
            .ok_or_else(|| CallError::Unavailable("unknown plugin kind".into()))?;
        let engine = self.script_engine().await?;
        let loaded = Arc::new(script_plugin(engine, kind, &source));
        self.plugins.keep_loaded(id, loaded.clone());
        Ok(Some(loaded))
    }

    /// Compiles `source` in the engine and checks it defines the function
    /// `kind` needs; a syntax error (or a top level that throws or runs
    /// out of fuel) is an error of the field `source`, with its line.
    async fn check_script(&self, org_id: &str, kind: PluginKind, source: &str) -> HubResult<()> {
        let engine = self.script_engine().await.map_err(unavailable)?;
        let checker = Arc::new(script_checker(engine, kind, source));
        let event = PluginEvent::from_body(CHECK_EVENT).expect("the check event is an event");
        match self
            .plugins
            .filter(org_id, checker, &event, "", None)
            .await
            .0
        {
            Ok(_) => Ok(()),
            Err(CallError::Plugin(m)) => {
                let m = m.strip_prefix("failed: ").unwrap_or(m.as_str());
                Err(FieldError::new("source", m).into())
            }
            Err(CallError::Unavailable(m)) => Err(HubError::Conflict(m)),
            Err(e) => Err(FieldError::new("source", format!("its top level {e}")).into()),
        }
    }

    /// Saves `source` as the next version of the script plugin `name`.
    pub async fn create_script_plugin(
        &self,
        org_id: &str,
        by: &Principal,
        name: &str,
        kind: &str,
        source: &str,
    ) -> HubResult<PluginRecord> {
        validate_name(name)?;
        let kind = parse_kind(kind)?;
        validate_source(source)?;
        self.check_script(org_id, kind, source).await?;
        let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
        let id = new_id(IdKind::Plugin);
        let record = self
            .store
            .insert_script_plugin(
                &NewPlugin {
                    id: &id,
                    org_id,
                    name,
                    kind: kind.as_str(),
                    sha256: &sha256,
                    wasm: source.as_bytes(),
                    created_by: Some(&by.user_id),
                    created_at: self.now(),
                },
                source,
            )
            .await?
            .map_err(|existing| {
                FieldError::new(
                    "kind",
                    format!("{name} is a {existing} plugin; its new versions must be too"),
                )
            })?;
        let event = self.own_event(
            Category::Admin,
            "plugin.uploaded",
            &by.actor(),
            &record.id,
            json!({"plugin_id": record.id, "name": record.name, "version": record.version, "kind": record.kind, "sha256": record.sha256, "size": record.size, "language": "javascript"}),
        );
        let mut tx = self.store.begin().await?;
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(record)
    }

    /// Runs unsaved source on a sample event, as the saved version would run.
    pub async fn run_script(
        &self,
        org_id: &str,
        kind: &str,
        source: &str,
        event: &Value,
        config: &Value,
    ) -> HubResult<(TestOutcome, CallReport)> {
        let kind = parse_kind(kind)?;
        validate_source(source)?;
        let event = Event::from_json(event, "event")?;
        let engine = self.script_engine().await.map_err(unavailable)?;
        let loaded = Arc::new(script_plugin(engine, kind, source));
        let config = config.to_string();
        let plugin_event = PluginEvent::from_event(&event);
        Ok(match kind {
            PluginKind::Filter => {
                let (result, report) = self
                    .plugins
                    .filter(org_id, loaded, &plugin_event, &config, None)
                    .await;
                (
                    result.map_or_else(TestOutcome::Error, TestOutcome::Verdict),
                    report,
                )
            }
            PluginKind::Transform => {
                let request = OutgoingRequest {
                    body: event.to_body().into_bytes(),
                    headers: Vec::new(),
                    content_type: "application/json".into(),
                };
                let (result, report) = self
                    .plugins
                    .transform(org_id, loaded, &plugin_event, request, &config, None)
                    .await;
                (
                    result.map_or_else(TestOutcome::Error, TestOutcome::Request),
                    report,
                )
            }
        })
    }

    /// The source of a script version of this organisation or its MSP.
    pub async fn script_source(&self, org_id: &str, id: &str) -> HubResult<ScriptSource> {
        let scope = self.plugin_scope(org_id).await?;
        self.store
            .script_source(&scope, id)
            .await?
            .ok_or(HubError::NotFound("script plugin"))
    }
}
