//! The admin console's sessions: sign in with a user account (the same
//! rate-limited, audited check as the OAuth sign-in page), look up the
//! session behind a cookie, switch organisation (an MSP to its customers),
//! sign out; and each webhook's status at a glance.

use serde_json::json;

use super::principals::Principal;
use super::{Actor, Hub, HubError, HubResult};
use crate::clock::Millis;
use crate::crypto;
use crate::domain::Category;
use crate::storage::deliveries::DeliveryStatus;
use crate::storage::orgs::OrgRecord;
use crate::storage::sessions::SessionRecord;
use crate::storage::webhooks::WebhookRecord;

/// How long a console session lasts after sign-in.
pub const SESSION_LIFETIME_MS: Millis = 8 * 3600 * 1000;

/// How many recent deliveries decide a webhook's health.
const HEALTH_WINDOW: i64 = 10;

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The user, with their permissions as they are now.
    pub principal: Principal,
    /// The organisation being looked at: the user's own or one it manages.
    pub org_id: String,
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires_at: Millis,
    token_hash: Vec<u8>,
}

/// A webhook's status at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Paused,
    /// The most recent attempted delivery failed.
    Failing,
    Healthy,
    /// Nothing attempted yet.
    Idle,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Paused => "paused",
            Health::Failing => "failing",
            Health::Healthy => "healthy",
            Health::Idle => "no deliveries yet",
        }
    }
}

/// Health with the figures behind it.
#[derive(Debug, Clone)]
pub struct WebhookHealth {
    pub health: Health,
    /// Of the last attempted deliveries (at most ten), how many succeeded.
    pub succeeded: usize,
    pub attempted: usize,
    pub last_status_code: Option<i64>,
}

impl Hub {
    /// Checks the password (rate-limited, failures audited) and opens a
    /// session; answers the cookie token (shown to the browser only) or
    /// the message to show.
    pub async fn console_sign_in(
        &self,
        login: &str,
        password: &str,
        ip: Option<&str>,
    ) -> HubResult<Result<(String, ConsoleSession), &'static str>> {
        let (user_id, org_id, scopes) = match self.sign_in(login, password, ip).await? {
            Ok(found) => found,
            Err(message) => return Ok(Err(message)),
        };
        self.open_console_session(user_id, org_id, scopes, ip, "password")
            .await
            .map(Ok)
    }

    /// Opens a session for a person already identified (by password, or
    /// by their organisation's provider: `method`); audited as
    /// `auth.console_signed_in`.
    pub async fn open_console_session(
        &self,
        user_id: String,
        org_id: String,
        scopes: Vec<crate::domain::Scope>,
        ip: Option<&str>,
        method: &str,
    ) -> HubResult<(String, ConsoleSession)> {
        let now = self.now();
        self.store.delete_expired_console_sessions(now).await?;
        let token = crypto::new_secret("");
        let token_hash = crypto::hash_token(&token);
        let record = SessionRecord {
            user_id: user_id.clone(),
            org_id: org_id.clone(),
            csrf: crypto::new_secret(""),
            expires_at: now + SESSION_LIFETIME_MS,
        };
        self.store
            .insert_console_session(&token_hash, &record, now)
            .await?;
        let actor = Actor {
            user_id: Some(user_id.clone()),
            service_account: None,
            ip_address: ip.map(str::to_string),
        };
        let event = self.own_event(
            Category::Authentication,
            "auth.console_signed_in",
            &actor,
            &user_id,
            json!({"user_id": user_id, "method": method}),
        );
        self.log_batched(&org_id, event).await?;
        Ok((
            token,
            ConsoleSession {
                principal: human(user_id, org_id.clone(), scopes),
                org_id,
                csrf: record.csrf,
                expires_at: record.expires_at,
                token_hash,
            },
        ))
    }

    /// The live session behind a cookie token; the user's permissions are
    /// read afresh, so a change or a deletion applies at once.
    pub async fn console_session(&self, token: &str) -> HubResult<Option<ConsoleSession>> {
        let token_hash = crypto::hash_token(token);
        let Some(record) = self.store.console_session(&token_hash, self.now()).await? else {
            return Ok(None);
        };
        let Some((home, scopes)) = self.store.user_permissions(&record.user_id).await? else {
            self.store.delete_console_session(&token_hash).await?;
            return Ok(None);
        };
        let principal = human(record.user_id, home.clone(), scopes);
        // An organisation that left the user's tree falls back to the user's own.
        let org_id = if self.can_access_org(&principal, &record.org_id).await? {
            record.org_id
        } else {
            home
        };
        Ok(Some(ConsoleSession {
            principal,
            org_id,
            csrf: record.csrf,
            expires_at: record.expires_at,
            token_hash,
        }))
    }

    pub async fn console_sign_out(&self, session: &ConsoleSession) -> HubResult<()> {
        self.store
            .delete_console_session(&session.token_hash)
            .await?;
        Ok(())
    }

    /// Looks at another organisation: the user's own or one below it.
    pub async fn console_switch_org(
        &self,
        session: &ConsoleSession,
        org_id: &str,
    ) -> HubResult<()> {
        if !self.can_access_org(&session.principal, org_id).await? {
            return Err(HubError::NotFound("organisation"));
        }
        self.store
            .set_console_session_org(&session.token_hash, org_id)
            .await?;
        Ok(())
    }

    /// The organisations a principal may switch between: its own first,
    /// then those it manages.
    pub async fn managed_orgs(&self, principal: &Principal) -> HubResult<Vec<OrgRecord>> {
        let mut out = Vec::new();
        if let Some(own) = self.store.get_org(&principal.org_id).await? {
            out.push(own);
        }
        out.extend(self.store.org_descendants(&principal.org_id).await?);
        Ok(out)
    }

    /// Paused, failing (the latest attempted delivery failed) or healthy.
    pub async fn webhook_health(&self, w: &WebhookRecord) -> HubResult<WebhookHealth> {
        let recent = self
            .store
            .recent_outcomes(&w.org_id, &w.id, HEALTH_WINDOW)
            .await?;
        let succeeded = recent
            .iter()
            .filter(|o| o.status == DeliveryStatus::Succeeded)
            .count();
        let health = match recent.first() {
            _ if w.paused => Health::Paused,
            None => Health::Idle,
            Some(o) if o.status == DeliveryStatus::Succeeded => Health::Healthy,
            Some(_) => Health::Failing,
        };
        Ok(WebhookHealth {
            health,
            succeeded,
            attempted: recent.len(),
            last_status_code: recent.first().and_then(|o| o.last_status_code),
        })
    }
}

fn human(user_id: String, org_id: String, scopes: Vec<crate::domain::Scope>) -> Principal {
    Principal {
        user_id,
        org_id,
        kind: "human".into(),
        scopes,
        service_account: None,
        key_id: None,
    }
}
