//! Plugin versions: upload (check, store, compile once in the background
//! — see `compiler.rs`), list, delete when unattached, test on a sample
//! event; and what webhooks may attach (only `ready` versions).

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use super::principals::Principal;
use super::{Hub, HubError, HubResult};
use crate::domain::webhook::{PluginRef, WebhookSettings};
use crate::domain::{Category, Event, FieldError};
use crate::ids::{IdKind, new_id};
use crate::plugin::runtime::Loaded;
use crate::plugin::{CallError, CallReport, OutgoingRequest, PluginEvent, PluginKind, UploadError};
use crate::storage::plugins::{NewPlugin, PluginRecord, status};

/// Filters one webhook may attach.
pub const MAX_FILTER_PLUGINS: usize = 10;

/// The result of `POST /plugins/{id}/test`.
pub enum TestOutcome {
    Verdict(bool),
    Request(OutgoingRequest),
    Error(CallError),
}

/// Plugin names: what `cargo new` would accept, roughly.
pub(super) fn validate_name(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("name", "must be 1-64 of [a-z0-9._-]"))
    }
}

/// Why a version cannot be run or attached yet, if it cannot.
fn not_ready(p: &PluginRecord) -> Option<String> {
    match p.status.as_str() {
        status::READY => None,
        status::COMPILING => Some(format!("plugin {} is still compiling", p.id)),
        _ => Some(format!(
            "plugin {} failed to compile: {}",
            p.id,
            p.status_reason
                .as_deref()
                .unwrap_or("no reason was recorded")
        )),
    }
}

impl Hub {
    /// The organisation and its ancestors: where its webhooks may find plugins.
    pub async fn plugin_scope(&self, org_id: &str) -> HubResult<Vec<String>> {
        let mut orgs = vec![org_id.to_string()];
        orgs.extend(self.store.org_ancestors(org_id).await?);
        Ok(orgs)
    }

    /// Stores an upload as a new version and queues its compile. The cheap
    /// checks fail the upload at once; then it waits up to
    /// `plugin_upload_wait` for the compile, so a small component answers
    /// `ready` (or its compile error) and a large one `compiling`. A
    /// compile that fails within the wait removes the version again: the
    /// upload is refused as before. One that fails later stays `failed`
    /// with its reason.
    pub async fn upload_plugin(
        &self,
        org_id: &str,
        by: &Principal,
        name: &str,
        kind: &str,
        wasm: Vec<u8>,
    ) -> HubResult<PluginRecord> {
        validate_name(name)?;
        let kind = PluginKind::parse(kind)
            .ok_or_else(|| FieldError::new("kind", "must be filter or transform"))?;
        let runtime = self.plugins.clone();
        // Validating a large component takes some milliseconds of CPU:
        // off the async workers.
        let wasm = tokio::task::spawn_blocking(move || runtime.inspect(&wasm, kind).map(|_| wasm))
            .await
            .map_err(|e| HubError::Conflict(format!("checking the upload failed: {e}")))?
            .map_err(|e| match e {
                UploadError::WrongKind { .. } => FieldError::new("kind", e.to_string()),
                other => FieldError::new("body", other.to_string()),
            })?;
        let sha256 = hex::encode(Sha256::digest(wasm.as_slice()));
        let id = new_id(IdKind::Plugin);
        let mut record = self
            .store
            .insert_plugin(&NewPlugin {
                id: &id,
                org_id,
                name,
                kind: kind.as_str(),
                sha256: &sha256,
                wasm: &wasm,
                created_by: Some(&by.user_id),
                created_at: self.now(),
            })
            .await?
            .map_err(|existing| {
                FieldError::new(
                    "kind",
                    format!("{name} is a {existing} plugin; its new versions must be too"),
                )
            })?;
        drop(wasm);
        let mut done = self.compiler.subscribe();
        self.compiler.submit(org_id, &record.id);
        let heard = tokio::time::timeout(self.settings.plugin_upload_wait, async {
            loop {
                match done.recv().await {
                    Ok(d) if d.plugin_id == record.id => return Some(d.outcome),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        let refused = match heard {
            Some(Err(failure)) => Some(FieldError::new(failure.field, failure.reason)),
            Some(Ok(())) => {
                record.status = status::READY.to_string();
                None
            }
            // Still compiling, or finished unheard: the row says which.
            None => match self.store.get_plugin(&[org_id.to_string()], &id).await? {
                Some(now) if now.status == status::FAILED => Some(FieldError::new(
                    "body",
                    now.status_reason.unwrap_or_default(),
                )),
                Some(now) => {
                    record = now;
                    None
                }
                None => None,
            },
        };
        if let Some(refused) = refused {
            // Answered within the wait: refused as an upload, nothing kept.
            self.store.delete_plugin(org_id, &record.id).await?;
            return Err(refused.into());
        }
        let event = self.own_event(
            Category::Admin,
            "plugin.uploaded",
            &by.actor(),
            &record.id,
            json!({"plugin_id": record.id, "name": record.name, "version": record.version, "kind": record.kind, "sha256": record.sha256, "size": record.size, "status": record.status}),
        );
        let mut tx = self.store.begin().await?;
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(record)
    }

    pub async fn delete_plugin(&self, org_id: &str, by: &Principal, id: &str) -> HubResult<()> {
        let record = self
            .store
            .get_plugin(&[org_id.to_string()], id)
            .await?
            .ok_or(HubError::NotFound("plugin"))?;
        // Decided under the version's lock, which an attach in flight holds
        // until it commits (see `Tx::keep_plugins`).
        let mut tx = self.store.begin().await?;
        if !tx.take_plugin(org_id, id).await? {
            return Err(HubError::NotFound("plugin"));
        }
        let users = tx.webhooks_naming_plugin(id).await?;
        if !users.is_empty() {
            return Err(HubError::Conflict(format!(
                "plugin is attached to {} webhook(s): {}; detach it first",
                users.len(),
                users.join(", ")
            )));
        }
        tx.delete_plugin(org_id, id).await?;
        let event = self.own_event(
            Category::Admin,
            "plugin.deleted",
            &by.actor(),
            id,
            json!({"plugin_id": id, "name": record.name, "version": record.version}),
        );
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(())
    }

    /// Keeps the versions a webhook's settings name from being deleted
    /// until `tx` ends, and refuses, by field, one deleted since they were
    /// checked (`check_attached_plugins`).
    pub(crate) async fn keep_attached_plugins(
        &self,
        tx: &mut crate::storage::Tx,
        org_id: &str,
        s: &WebhookSettings,
    ) -> HubResult<()> {
        let named: Vec<(String, String)> = s
            .filter_plugins
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    format!("filter_plugins[{i}].plugin_id"),
                    r.plugin_id.clone(),
                )
            })
            .chain(s.transform_plugin.iter().map(|t| {
                (
                    "transform_plugin.plugin_id".to_string(),
                    t.plugin_id.clone(),
                )
            }))
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        let scope = self.plugin_scope(org_id).await?;
        let ids: Vec<String> = named.iter().map(|(_, id)| id.clone()).collect();
        let kept = tx.keep_plugins(&scope, &ids).await?;
        match named.iter().find(|(_, id)| !kept.contains(id)) {
            Some((field, id)) => Err(FieldError::new(
                field.as_str(),
                format!("plugin {id} was deleted while this change was being made"),
            )
            .into()),
            None => Ok(()),
        }
    }

    /// A compiled plugin by id, from the runtime's cache or our store.
    pub async fn loaded_plugin(&self, id: &str) -> Result<Arc<Loaded>, CallError> {
        if let Some(l) = self.plugins.cached(id) {
            return Ok(l);
        }
        // Whoever waited here may find it loaded by the one before.
        let _one = self.plugin_loads.lock().await;
        if let Some(l) = self.plugins.cached(id) {
            return Ok(l);
        }
        if let Some(l) = self.loaded_script(id).await? {
            return Ok(l);
        }
        let (kind, artifact) = self
            .store
            .plugin_artifact(id)
            .await
            .map_err(|e| CallError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                CallError::Unavailable(format!("plugin {id} is not ready or no longer exists"))
            })?;
        let kind = PluginKind::parse(&kind)
            .ok_or_else(|| CallError::Unavailable("unknown plugin kind".into()))?;
        self.metrics.plugin_loads.inc();
        self.plugins.load(id, kind, &artifact)
    }

    /// Runs a plugin version on a sample event.
    pub async fn test_plugin(
        &self,
        org_id: &str,
        id: &str,
        event: &Value,
        config: &Value,
    ) -> HubResult<(TestOutcome, CallReport)> {
        let scope = self.plugin_scope(org_id).await?;
        let plugin = self
            .store
            .get_plugin(&scope, id)
            .await?
            .ok_or(HubError::NotFound("plugin"))?;
        if let Some(why) = not_ready(&plugin) {
            return Err(HubError::Conflict(why));
        }
        let event = Event::from_json(event, "event")?;
        let loaded = match self.loaded_plugin(id).await {
            Ok(l) => l,
            Err(e) => return Ok((TestOutcome::Error(e), CallReport::default())),
        };
        let config = config.to_string();
        let plugin_event = PluginEvent::from_event(&event);
        Ok(match loaded.kind() {
            PluginKind::Filter => {
                let (result, report) = self
                    .plugins
                    .filter(org_id, loaded, &plugin_event, &config, None)
                    .await;
                (
                    result
                        .map(TestOutcome::Verdict)
                        .unwrap_or_else(TestOutcome::Error),
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
                    result
                        .map(TestOutcome::Request)
                        .unwrap_or_else(TestOutcome::Error),
                    report,
                )
            }
        })
    }

    /// Checks that every attached plugin exists in the webhook's organisation
    /// or an ancestor (its MSP), and has the right kind.
    pub(crate) async fn check_attached_plugins(
        &self,
        org_id: &str,
        s: &WebhookSettings,
    ) -> HubResult<()> {
        if s.filter_plugins.len() > MAX_FILTER_PLUGINS {
            return Err(FieldError::new(
                "filter_plugins",
                format!("at most {MAX_FILTER_PLUGINS} filters"),
            )
            .into());
        }
        let scope = self.plugin_scope(org_id).await?;
        let check = |field: String, r: &PluginRef, want: PluginKind| {
            let scope = scope.clone();
            let id = r.plugin_id.clone();
            async move {
                let found = self.store.get_plugin(&scope, &id).await?;
                match found {
                    None => Err(HubError::from(FieldError::new(
                        field,
                        format!("no plugin {id} in this organisation or its MSP"),
                    ))),
                    Some(p) if p.kind != want.as_str() => Err(FieldError::new(
                        field,
                        format!("{id} is a {} plugin, not a {}", p.kind, want.as_str()),
                    )
                    .into()),
                    Some(p) => match not_ready(&p) {
                        Some(why) => Err(FieldError::new(field, why).into()),
                        None => Ok(()),
                    },
                }
            }
        };
        for (i, r) in s.filter_plugins.iter().enumerate() {
            check(
                format!("filter_plugins[{i}].plugin_id"),
                r,
                PluginKind::Filter,
            )
            .await?;
        }
        if let Some(t) = &s.transform_plugin {
            check(
                "transform_plugin.plugin_id".into(),
                t,
                PluginKind::Transform,
            )
            .await?;
        }
        Ok(())
    }
}
