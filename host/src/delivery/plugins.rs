//! Running a webhook's plugins on one delivery: every filter must deliver,
//! then the transform rewrites the request. What the host signs is what the
//! transform returned. The calls run on the delivering task's worker, each
//! handing it back at every epoch tick it runs through.

use axum::http::{HeaderName, HeaderValue};
use tracing::Instrument;

use super::sender::{Rewrite, Target};
use crate::domain::webhook::OnPluginError;
use crate::hub::Hub;
use crate::plugin::{CallError, ChainOutcome, OutgoingRequest, PluginEvent};

/// What the plugins decided.
pub enum PluginOutcome {
    /// Send the original request.
    Pass,
    /// Send the original request, though the transform failed (the
    /// webhook's policy); the error is recorded with the attempt.
    Original(String),
    /// Send this instead.
    Transformed { body: Vec<u8>, rewrite: Rewrite },
    /// A filter said skip (its plugin id).
    Filtered(String),
    /// A plugin failed and the policy says skip; the error for the log.
    Failed(String),
}

pub async fn run(hub: &Hub, target: &Target, stored_body: &str) -> PluginOutcome {
    let event = match PluginEvent::from_body(stored_body) {
        Ok(e) => e,
        Err(e) => return PluginOutcome::Failed(format!("stored event is not readable: {e}")),
    };
    let loaded = async {
        let mut filters = Vec::with_capacity(target.filters.len());
        for (id, config) in &target.filters {
            filters.push((
                id.clone(),
                hub.loaded_plugin(id).await.map_err(|e| (id.clone(), e))?,
                config.clone(),
            ));
        }
        let transform = match &target.transform {
            Some((id, config)) => Some(
                hub.loaded_plugin(id)
                    .await
                    .map(|loaded| (id.clone(), loaded, config.clone()))
                    .map_err(|e| (id.clone(), e)),
            ),
            None => None,
        };
        Ok::<_, (String, CallError)>((filters, transform))
    }
    .await;
    // A transform that cannot be loaded fails like one that fails to run
    // (after the filters have had their say): the webhook's policy decides.
    let (filters, transform, unavailable) = match loaded {
        Ok((filters, Some(Err(failed)))) => (filters, None, Some(failed)),
        Ok((filters, Some(Ok(t)))) => (filters, Some(t), None),
        Ok((filters, None)) => (filters, None, None),
        Err((id, e)) => return PluginOutcome::Failed(format!("plugin {id}: {e}")),
    };
    let content_type = target
        .headers
        .iter()
        .find(|(n, _)| n == axum::http::header::CONTENT_TYPE)
        .and_then(|(_, v)| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let request = OutgoingRequest {
        body: stored_body.as_bytes().to_vec(),
        headers: Vec::new(),
        content_type,
    };
    let (filter_count, has_transform) = (filters.len(), transform.is_some());
    let span = tracing::info_span!("plugins", filters = filter_count, transform = has_transform);
    let outcome = hub
        .plugins
        .chain(
            &target.org_id,
            &format!("{}@{}", target.webhook_id, target.version),
            filters,
            transform,
            &event,
            request,
        )
        .instrument(span)
        .await;
    let outcome = match (outcome, unavailable) {
        (ChainOutcome::Passed(None), Some((id, e))) => ChainOutcome::TransformFailed(id, e),
        (outcome, _) => outcome,
    };
    match &outcome {
        ChainOutcome::Passed(_) => {
            (0..filter_count).for_each(|_| hub.metrics.plugin_call("filter", true));
            if has_transform {
                hub.metrics.plugin_call("transform", true);
            }
        }
        ChainOutcome::Filtered(_) => hub.metrics.plugin_call("filter", true),
        ChainOutcome::Failed(..) => hub.metrics.plugin_call("filter", false),
        ChainOutcome::TransformFailed(..) => hub.metrics.plugin_call("transform", false),
    }
    match outcome {
        ChainOutcome::Passed(None) => PluginOutcome::Pass,
        ChainOutcome::Passed(Some(out)) => {
            // Checked by the runtime already; anything unparsable is dropped.
            let headers = out
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_bytes(k.as_bytes()).ok()?,
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect();
            let content_type = HeaderValue::from_str(&out.content_type).ok();
            PluginOutcome::Transformed {
                body: out.body,
                rewrite: Rewrite {
                    content_type,
                    headers,
                },
            }
        }
        ChainOutcome::Filtered(id) => PluginOutcome::Filtered(id),
        ChainOutcome::Failed(id, e) => PluginOutcome::Failed(format!("filter {id}: {e}")),
        ChainOutcome::TransformFailed(id, e) => match target.on_plugin_error {
            OnPluginError::Skip => PluginOutcome::Failed(format!("transform {id}: {e}")),
            OnPluginError::DeliverOriginal => {
                tracing::info!(error = %e, "transform failed; delivering the original");
                PluginOutcome::Original(format!("transform {id}: {e}"))
            }
        },
    }
}
