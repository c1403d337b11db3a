//! Recovery: after an outage, a receiver's admin asks for everything that
//! ended badly in a window to be sent again — the same deliveries (same
//! ids, so the receiver's deduplication holds), each with a new attempt.

use serde::Deserialize;
use serde_json::json;

use super::{Actor, Hub, HubError, HubResult};
use crate::clock::{Millis, parse_rfc3339, rfc3339};
use crate::domain::webhook::Ordering;
use crate::domain::{Category, FieldError};
use crate::storage::deliveries::DeliveryStatus;

/// The statuses a recovery may take back, and its default.
pub const RECOVERABLE: [DeliveryStatus; 3] = [
    DeliveryStatus::Dropped,
    DeliveryStatus::PluginFailed,
    DeliveryStatus::Overflowed,
];

/// `POST /webhooks/{id}/recover` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverInput {
    /// Start of the window (RFC 3339): deliveries created at or after it.
    pub since: String,
    /// End of the window (RFC 3339), exclusive; now when absent.
    #[serde(default)]
    pub until: Option<String>,
    /// Which ended deliveries to send again: any of `dropped`,
    /// `plugin_failed`, `overflowed`; all three when absent.
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
}

/// A validated recovery request.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub since: Millis,
    pub until: Millis,
    pub statuses: Vec<DeliveryStatus>,
}

impl RecoverInput {
    pub fn validate(self, now: Millis) -> Result<Recovery, FieldError> {
        let at = |text: &str, field: &str| {
            parse_rfc3339(text).ok_or_else(|| {
                FieldError::new(field, "must be an RFC 3339 time, e.g. 2026-12-06T08:00:00Z")
            })
        };
        let since = at(&self.since, "since")?;
        let until = match &self.until {
            Some(text) => at(text, "until")?,
            None => now + 1,
        };
        if until <= since {
            return Err(FieldError::new("until", "must be after since"));
        }
        let statuses = match self.statuses {
            None => RECOVERABLE.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(FieldError::new("statuses", "must name at least one status"));
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    DeliveryStatus::parse(text)
                        .filter(|s| RECOVERABLE.contains(s))
                        .ok_or_else(|| {
                            FieldError::new(
                                format!("statuses[{i}]"),
                                "must be dropped, plugin_failed or overflowed",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Recovery {
            since,
            until,
            statuses,
        })
    }
}

impl Hub {
    /// Sends again the webhook's deliveries of the window in those
    /// statuses; audited (ADMIN `webhook.deliveries_recovered`) in the
    /// same transaction. Answers how many.
    pub async fn recover_deliveries(
        &self,
        org_id: &str,
        webhook_id: &str,
        actor: &Actor,
        input: RecoverInput,
    ) -> HubResult<u64> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // An unknown webhook is the first thing to tell; a refused window
        // then ends the transaction with nothing written.
        let webhook = tx
            .get_webhook(org_id, webhook_id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        let r = input.validate(now)?;
        let recovered = tx
            .recover_deliveries(
                org_id,
                webhook_id,
                (r.since, r.until),
                &r.statuses,
                webhook.paused,
                webhook.settings.ordering == Ordering::Fifo,
                now,
            )
            .await?;
        // In a FIFO line they take their events' places: after the front
        // being tried now, ahead of newer events still waiting.
        tx.advance_lines(&super::webhooks::line_of(org_id, webhook_id), now)
            .await?;
        let event = self.own_event(
            Category::Admin,
            "webhook.deliveries_recovered",
            actor,
            webhook_id,
            json!({
                "webhook_id": webhook_id,
                "since": rfc3339(r.since),
                "until": rfc3339(r.until),
                "statuses": r.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "recovered": recovered,
                "queued_while_paused": webhook.paused,
            }),
        );
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        if recovered > 0 && !webhook.paused {
            self.work_due();
        }
        Ok(recovered)
    }
}
