//! Running a webhook's plugins on one delivery: every filter must deliver,
//! then the transform rewrites the request. What the host signs is what the
//! transform returned.

use axum::http::{HeaderName, HeaderValue};
use tracing::Instrument;

use super::sender::{Rewrite, Target};
use crate::domain::Event;
use crate::domain::webhook::OnPluginError;
use crate::hub::Hub;
use crate::plugin::OutgoingRequest;

/// What the plugins decided.
pub enum PluginOutcome {
    /// Send the original request.
    Pass,
    /// Send this instead.
    Transformed { body: Vec<u8>, rewrite: Rewrite },
    /// A filter said skip (its plugin id).
    Filtered(String),
    /// A plugin failed and the policy says skip; the error for the log.
    Failed(String),
}

pub async fn run(hub: &Hub, target: &Target, stored_body: &str) -> PluginOutcome {
    let event: Event = match serde_json::from_str(stored_body) {
        Ok(e) => e,
        Err(e) => return PluginOutcome::Failed(format!("stored event is not readable: {e}")),
    };
    for (plugin_id, config) in &target.filters {
        let span = tracing::info_span!("plugin", plugin_id = %plugin_id, kind = "filter");
        let outcome = async {
            let loaded = hub.loaded_plugin(plugin_id).await?;
            let (result, report) = hub.plugins.filter(loaded, &event, config).await;
            tracing::debug!(
                duration_us = report.duration.as_micros() as u64,
                fuel = report.fuel_used,
                "filter ran"
            );
            result
        }
        .instrument(span)
        .await;
        hub.metrics.plugin_call("filter", outcome.is_ok());
        match outcome {
            Ok(true) => {}
            Ok(false) => return PluginOutcome::Filtered(plugin_id.clone()),
            // A filter that cannot decide never lets an event through.
            Err(e) => return PluginOutcome::Failed(format!("filter {plugin_id}: {e}")),
        }
    }
    let Some((plugin_id, config)) = &target.transform else {
        return PluginOutcome::Pass;
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
    let span = tracing::info_span!("plugin", plugin_id = %plugin_id, kind = "transform");
    let outcome = async {
        let loaded = hub.loaded_plugin(plugin_id).await?;
        let (result, report) = hub.plugins.transform(loaded, &event, request, config).await;
        tracing::debug!(
            duration_us = report.duration.as_micros() as u64,
            fuel = report.fuel_used,
            "transform ran"
        );
        result
    }
    .instrument(span)
    .await;
    hub.metrics.plugin_call("transform", outcome.is_ok());
    match outcome {
        Ok(out) => {
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
        Err(e) => match target.on_plugin_error {
            OnPluginError::Skip => PluginOutcome::Failed(format!("transform {plugin_id}: {e}")),
            OnPluginError::DeliverOriginal => {
                tracing::info!(error = %e, "transform failed; delivering the original");
                PluginOutcome::Pass
            }
        },
    }
}
