//! Webhook management: every change is one transaction that also writes
//! the audit event describing it.

use std::collections::BTreeSet;

use serde_json::json;

use super::ingest::new_delivery;
use super::{Actor, Hub, HubError, HubResult};
use crate::crypto;
use crate::domain::webhook::{Ordering, WebhookInput, WebhookPatch};
use crate::domain::{Category, Event, FieldError};
use crate::ids::{IdKind, new_id};
use crate::storage::deliveries::{DeliveryRecord, DeliveryStatus};
use crate::storage::lines::LineKey;
use crate::storage::webhooks::WebhookRecord;

/// Why ScaiHub paused a webhook whose receiver answered 410.
pub const GONE_REASON: &str = "the receiver answered 410 Gone: it no longer wants these deliveries";

/// The one line a statement about a single webhook moves on.
pub(crate) fn line_of(org_id: &str, webhook_id: &str) -> BTreeSet<LineKey> {
    [(org_id.to_string(), webhook_id.to_string())].into()
}

/// A webhook secret as the API shows it once.
pub struct RotatedSecret {
    pub secret: String,
    pub previous_secret_expires_at: crate::clock::Millis,
}

impl Hub {
    /// The secret of a webhook, opened with the master key.
    pub fn webhook_secret(&self, w: &WebhookRecord) -> HubResult<String> {
        let plain = self.master_key.open(&w.secret_enc, &w.id)?;
        String::from_utf8(plain).map_err(|_| HubError::Crypto(crypto::CryptoError::Unseal))
    }

    /// The previous secret while it still signs.
    pub fn webhook_previous_secret(&self, w: &WebhookRecord) -> HubResult<Option<String>> {
        match (&w.prev_secret_enc, w.prev_secret_expires_at) {
            (Some(sealed), Some(until)) if until > self.now() => {
                let plain = self
                    .master_key
                    .open(sealed, &format!("{}:previous", w.id))?;
                Ok(Some(String::from_utf8(plain).map_err(|_| {
                    HubError::Crypto(crypto::CryptoError::Unseal)
                })?))
            }
            _ => Ok(None),
        }
    }

    async fn check_destination(&self, url: &str) -> HubResult<()> {
        let parsed = url::Url::parse(url).map_err(|e| FieldError::new("url", e.to_string()))?;
        self.destinations
            .check_url(&parsed)
            .await
            .map_err(|e| HubError::Invalid(FieldError::new("url", e.to_string())))
    }

    /// Creates a webhook; returns it with its secret in clear (shown once).
    pub async fn create_webhook(
        &self,
        org_id: &str,
        actor: &Actor,
        input: WebhookInput,
    ) -> HubResult<(WebhookRecord, String)> {
        let (settings, secret, paused) = input.validate()?;
        self.check_destination(&settings.url).await?;
        self.check_attached_plugins(org_id, &settings).await?;
        let secret = secret.unwrap_or_else(crypto::new_webhook_secret);
        let id = new_id(IdKind::Webhook);
        let now = self.now();
        let record = WebhookRecord {
            secret_enc: self.master_key.seal(secret.as_bytes(), &id),
            id,
            org_id: org_id.to_string(),
            settings,
            prev_secret_enc: None,
            prev_secret_expires_at: None,
            paused,
            paused_reason: None,
            held_until: None,
            overflow_count: 0,
            overflow_reported: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        self.keep_attached_plugins(&mut tx, org_id, &record.settings)
            .await?;
        tx.insert_webhook(&record).await?;
        let event = self.webhook_event("webhook.created", actor, &record);
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok((record, secret))
    }

    pub async fn update_webhook(
        &self,
        org_id: &str,
        id: &str,
        actor: &Actor,
        patch: WebhookPatch,
    ) -> HubResult<WebhookRecord> {
        let url_changed = patch.url.is_some();
        let mut tx = self.store.begin().await?;
        let mut record = tx
            .get_webhook(org_id, id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        let scheme_was = record.settings.signature_scheme;
        let ordering_was = record.settings.ordering;
        record.settings = patch.apply(&record.settings)?;
        if record.settings.signature_scheme != scheme_was {
            // Secrets made before the standard scheme existed may not be
            // of its form; the admin rotates first, and is told so.
            let secret = self.webhook_secret(&record)?;
            if crate::domain::webhook::validate_secret_for(
                record.settings.signature_scheme,
                &secret,
                "signature_scheme",
            )
            .is_err()
            {
                return Err(FieldError::new(
                    "signature_scheme",
                    "needs a secret of the form whsec_<base64 of 24-64 bytes>, which this webhook's is not; rotate the secret, then switch",
                )
                .into());
            }
        }
        if url_changed {
            self.check_destination(&record.settings.url).await?;
        }
        self.check_attached_plugins(org_id, &record.settings)
            .await?;
        self.keep_attached_plugins(&mut tx, org_id, &record.settings)
            .await?;
        record.updated_at = self.now();
        tx.update_webhook(&record).await?;
        let reordered = record.settings.ordering != ordering_was;
        if reordered {
            // To fifo: what is owed forms the line (what a worker already
            // holds finishes first); to unordered: the line is let go.
            let now = self.now();
            match record.settings.ordering {
                Ordering::Fifo => tx.form_line(org_id, id, now).await?,
                Ordering::Unordered => {
                    tx.advance_lines(&line_of(org_id, id), now).await?;
                }
            }
        }
        let event = self.webhook_event("webhook.updated", actor, &record);
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        if reordered {
            self.work_due();
        }
        record.version += 1;
        Ok(record)
    }

    pub async fn delete_webhook(&self, org_id: &str, id: &str, actor: &Actor) -> HubResult<()> {
        let mut tx = self.store.begin().await?;
        let record = tx
            .get_webhook(org_id, id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        tx.delete_webhook(org_id, id).await?;
        let event = self.webhook_event("webhook.deleted", actor, &record);
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(())
    }

    /// Pauses: nothing more is sent; new matching events queue up.
    pub async fn pause_webhook(
        &self,
        org_id: &str,
        id: &str,
        actor: &Actor,
    ) -> HubResult<WebhookRecord> {
        self.set_paused(org_id, id, actor, true).await
    }

    /// Resumes: the queue is released oldest first.
    pub async fn resume_webhook(
        &self,
        org_id: &str,
        id: &str,
        actor: &Actor,
    ) -> HubResult<WebhookRecord> {
        self.set_paused(org_id, id, actor, false).await
    }

    async fn set_paused(
        &self,
        org_id: &str,
        id: &str,
        actor: &Actor,
        paused: bool,
    ) -> HubResult<WebhookRecord> {
        let mut tx = self.store.begin().await?;
        let mut record = tx
            .get_webhook(org_id, id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        let changed = record.paused != paused;
        let released = if changed && !paused {
            record.overflow_reported = false;
            tx.release_queue(org_id, id, self.now()).await?
        } else {
            0
        };
        record.paused = paused;
        // An admin's pause has no reason of ScaiHub's; a resume clears one.
        if changed {
            record.paused_reason = None;
        }
        record.updated_at = self.now();
        let mut outcome = Default::default();
        if changed {
            tx.update_webhook(&record).await?;
            if !paused {
                // A FIFO line starts again where it stood.
                tx.advance_lines(&line_of(org_id, id), self.now()).await?;
            }
            record.version += 1;
            let action = if paused {
                "webhook.paused"
            } else {
                "webhook.resumed"
            };
            let mut event = self.webhook_event(action, actor, &record);
            if !paused {
                event.payload["released"] = json!(released);
            }
            outcome = self.log_own_event(&mut tx, org_id, event).await?;
        }
        tx.commit().await?;
        self.after_commit(&outcome);
        if released > 0 {
            self.work_due();
        }
        Ok(record)
    }

    /// Pauses a webhook whose receiver answered `410 Gone`, in the
    /// transaction that records that attempt, and logs why (an ADMIN
    /// event by ScaiHub itself). A webhook already paused is left as it
    /// is. Answers the audit event's outcome, to hand on after commit.
    pub(crate) async fn pause_gone_in_tx(
        &self,
        tx: &mut crate::storage::Tx,
        org_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> HubResult<Option<super::ingest::IngestOutcome>> {
        let Some(mut record) = tx.get_webhook(org_id, webhook_id).await? else {
            return Ok(None);
        };
        if record.paused {
            return Ok(None);
        }
        record.paused = true;
        record.paused_reason = Some(GONE_REASON.to_string());
        record.updated_at = self.now();
        tx.update_webhook(&record).await?;
        record.version += 1;
        let mut event = self.webhook_event("webhook.paused", &Actor::system(), &record);
        event.payload["reason"] = json!(GONE_REASON);
        event.payload["delivery_id"] = json!(delivery_id);
        Ok(Some(self.log_own_event(tx, org_id, event).await?))
    }

    /// A new secret that signs at once; the old one keeps signing beside it
    /// for the grace period.
    pub async fn rotate_webhook_secret(
        &self,
        org_id: &str,
        id: &str,
        actor: &Actor,
    ) -> HubResult<(WebhookRecord, RotatedSecret)> {
        let mut tx = self.store.begin().await?;
        let mut record = tx
            .get_webhook(org_id, id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        let old = self.webhook_secret(&record)?;
        let secret = crypto::new_webhook_secret();
        let now = self.now();
        let expires = now + self.settings.secret_grace.as_millis() as i64;
        record.prev_secret_enc = Some(
            self.master_key
                .seal(old.as_bytes(), &format!("{id}:previous")),
        );
        record.prev_secret_expires_at = Some(expires);
        record.secret_enc = self.master_key.seal(secret.as_bytes(), id);
        record.updated_at = now;
        tx.update_webhook(&record).await?;
        record.version += 1;
        let mut event = self.webhook_event("webhook.secret_rotated", actor, &record);
        event.payload["previous_secret_expires_at"] = json!(crate::clock::rfc3339(expires));
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok((
            record,
            RotatedSecret {
                secret,
                previous_secret_expires_at: expires,
            },
        ))
    }

    /// Sends a test event to this webhook alone.
    pub async fn send_test_event(
        &self,
        org_id: &str,
        id: &str,
        actor: &Actor,
    ) -> HubResult<DeliveryRecord> {
        let record = self
            .store
            .get_webhook(org_id, id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        let event = self.own_event(
            Category::Admin,
            "webhook.test",
            actor,
            id,
            json!({"message": "This is a test event from ScaiHub.", "webhook_id": id}),
        );
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let body = event.to_body();
        let seq = tx
            .insert_event(org_id, &event, &body, now)
            .await?
            .expect("fresh event id");
        let status = if record.paused {
            DeliveryStatus::Queued
        } else {
            DeliveryStatus::Pending
        };
        let delivery = new_delivery(org_id, id, seq, &event.event_id, status, now);
        let delivery = match record.settings.ordering {
            // At the end of the webhook's line, like any event.
            Ordering::Fifo => delivery.in_line(),
            Ordering::Unordered => delivery,
        };
        tx.insert_deliveries(std::slice::from_ref(&delivery))
            .await?;
        tx.advance_lines(&line_of(org_id, id), now).await?;
        tx.commit().await?;
        self.work_due();
        self.wait_for_first_attempt(org_id, &delivery.id).await
    }

    /// Sends an existing delivery's event again, as a new delivery.
    pub async fn redeliver(&self, org_id: &str, delivery_id: &str) -> HubResult<DeliveryRecord> {
        let (old, _) = self
            .store
            .get_delivery(org_id, delivery_id)
            .await?
            .ok_or(HubError::NotFound("delivery"))?;
        let webhook = self
            .store
            .get_webhook(org_id, &old.webhook_id)
            .await?
            .ok_or(HubError::NotFound("webhook"))?;
        let status = if webhook.paused {
            DeliveryStatus::Queued
        } else {
            DeliveryStatus::Pending
        };
        let delivery = new_delivery(
            org_id,
            &old.webhook_id,
            old.event_seq,
            &old.event_id,
            status,
            self.now(),
        );
        let delivery = match webhook.settings.ordering {
            // At its event's place in the line, as a recovery's are.
            Ordering::Fifo => delivery.in_line(),
            Ordering::Unordered => delivery,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_deliveries(std::slice::from_ref(&delivery))
            .await?;
        tx.advance_lines(&line_of(org_id, &old.webhook_id), self.now())
            .await?;
        tx.commit().await?;
        self.work_due();
        let (record, _) = self
            .store
            .get_delivery(org_id, &delivery.id)
            .await?
            .ok_or(HubError::NotFound("delivery"))?;
        Ok(record)
    }

    /// Polls (in real time) until the delivery's first attempt is recorded
    /// or the delivery timeout passes, then answers its current state.
    async fn wait_for_first_attempt(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> HubResult<DeliveryRecord> {
        let deadline = tokio::time::Instant::now()
            + self.settings.delivery_timeout
            + std::time::Duration::from_secs(2);
        loop {
            let (record, _) = self
                .store
                .get_delivery(org_id, delivery_id)
                .await?
                .ok_or(HubError::NotFound("delivery"))?;
            if record.attempt_count > 0
                || record.status == DeliveryStatus::Queued
                || tokio::time::Instant::now() >= deadline
            {
                return Ok(record);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    fn webhook_event(&self, action: &str, actor: &Actor, w: &WebhookRecord) -> Event {
        self.own_event(
            Category::Admin,
            action,
            actor,
            &w.id,
            json!({"webhook_id": w.id, "name": w.settings.name, "url": w.settings.url, "paused": w.paused}),
        )
    }
}
