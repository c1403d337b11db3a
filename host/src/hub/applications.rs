//! OAuth applications: create (client secret shown once), edit, delete,
//! rotate the secret with a grace period, and authenticate clients.

use serde::Deserialize;
use serde_json::json;

use super::principals::Principal;
use super::{Hub, HubError, HubResult};
use crate::clock::Millis;
use crate::crypto::{self, constant_time_eq};
use crate::domain::scope::parse_list;
use crate::domain::{Category, FieldError};
use crate::ids::{IdKind, new_id};
use crate::storage::applications::ApplicationRecord;
use crate::storage::orgs::UserRecord;

/// The page's default, and the longest a token may live.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 3600;
const MIN_TOKEN_LIFETIME_SECS: i64 = 60;

/// `POST /applications` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// 60–3600; default 3600 (tokens may only be made shorter-lived).
    #[serde(default)]
    pub token_lifetime_secs: Option<i64>,
}

/// `PATCH /applications/{id}` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub token_lifetime_secs: Option<i64>,
}

fn validate_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(FieldError::new("name", "must be 1-200 characters"));
    }
    Ok(name.to_string())
}

fn validate_description(text: &str) -> Result<String, FieldError> {
    if text.chars().count() > 2000 {
        return Err(FieldError::new(
            "description",
            "must be at most 2000 characters",
        ));
    }
    Ok(text.to_string())
}

/// Redirect URIs: absolute, no fragment; https, or http to a loopback host
/// (native apps, RFC 8252 §7.3).
fn validate_redirect_uris(uris: &[String]) -> Result<Vec<String>, FieldError> {
    if uris.len() > 20 {
        return Err(FieldError::new("redirect_uris", "at most 20"));
    }
    uris.iter()
        .enumerate()
        .map(|(i, text)| {
            let field = format!("redirect_uris[{i}]");
            let url = url::Url::parse(text)
                .map_err(|e| FieldError::new(&field, format!("is not an absolute URL ({e})")))?;
            if url.fragment().is_some() {
                return Err(FieldError::new(&field, "must not have a fragment"));
            }
            let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            match url.scheme() {
                "https" => {}
                "http" if loopback => {}
                _ => {
                    return Err(FieldError::new(
                        &field,
                        "must use https (http only to localhost)",
                    ));
                }
            }
            Ok(text.clone())
        })
        .collect()
}

fn validate_lifetime(secs: Option<i64>) -> Result<i64, FieldError> {
    match secs {
        None => Ok(MAX_TOKEN_LIFETIME_SECS),
        Some(s) if (MIN_TOKEN_LIFETIME_SECS..=MAX_TOKEN_LIFETIME_SECS).contains(&s) => Ok(s),
        Some(_) => Err(FieldError::new(
            "token_lifetime_secs",
            "must be 60-3600 (the default, 1 h, may only be shortened)",
        )),
    }
}

impl Hub {
    /// Creates an application and its service account; answers the client secret once.
    pub async fn create_application(
        &self,
        org_id: &str,
        by: &Principal,
        input: NewApplication,
    ) -> HubResult<(ApplicationRecord, String)> {
        let name = validate_name(&input.name)?;
        let description = validate_description(&input.description)?;
        let redirect_uris = validate_redirect_uris(&input.redirect_uris)?;
        let scopes = parse_list("scopes", &input.scopes)?;
        if let Some(extra) = scopes.iter().find(|s| !by.has(**s)) {
            return Err(FieldError::new(
                "scopes",
                format!("you cannot grant {}, which you do not hold", extra.as_str()),
            )
            .into());
        }
        let token_lifetime_secs = validate_lifetime(input.token_lifetime_secs)?;
        let now = self.now();
        let account = UserRecord {
            id: new_id(IdKind::User),
            org_id: org_id.to_string(),
            name: format!("application: {name}"),
            kind: "service".into(),
            permissions: scopes.clone(),
            email: None,
            created_at: now,
        };
        self.store.insert_user(&account, None).await?;
        let secret = crypto::new_secret("scs_");
        let app = ApplicationRecord {
            id: new_id(IdKind::Application),
            org_id: org_id.to_string(),
            name,
            description,
            redirect_uris,
            scopes,
            token_lifetime_secs,
            service_account_id: account.id,
            secret_hash: crypto::hash_token(&secret),
            prev_secret_hash: None,
            prev_secret_expires_at: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_application(&app).await?;
        self.audit_app(org_id, by, "application.created", &app, json!({}))
            .await?;
        Ok((app, secret))
    }

    pub async fn update_application(
        &self,
        org_id: &str,
        by: &Principal,
        id: &str,
        patch: ApplicationPatch,
    ) -> HubResult<ApplicationRecord> {
        let mut app = self
            .store
            .get_application(Some(org_id), id)
            .await?
            .ok_or(HubError::NotFound("application"))?;
        if let Some(n) = patch.name {
            app.name = validate_name(&n)?;
        }
        if let Some(d) = patch.description {
            app.description = validate_description(&d)?;
        }
        if let Some(u) = patch.redirect_uris {
            app.redirect_uris = validate_redirect_uris(&u)?;
        }
        if let Some(s) = patch.scopes {
            let scopes = parse_list("scopes", &s)?;
            if let Some(extra) = scopes.iter().find(|s| !by.has(**s)) {
                return Err(FieldError::new(
                    "scopes",
                    format!("you cannot grant {}, which you do not hold", extra.as_str()),
                )
                .into());
            }
            app.scopes = scopes;
        }
        if let Some(t) = patch.token_lifetime_secs {
            app.token_lifetime_secs = validate_lifetime(Some(t))?;
        }
        app.updated_at = self.now();
        if !self.store.update_application(&app).await? {
            return Err(HubError::NotFound("application"));
        }
        if let Some(mut account) = self.store.get_user(org_id, &app.service_account_id).await? {
            account.permissions = app.scopes.clone();
            self.store.update_user(&account, app.updated_at).await?;
        }
        self.audit_app(
            org_id,
            by,
            "application.updated",
            &app,
            json!({"scopes": app.scopes}),
        )
        .await?;
        Ok(app)
    }

    /// Deletes an application: its tokens stop working at once.
    pub async fn delete_application(
        &self,
        org_id: &str,
        by: &Principal,
        id: &str,
    ) -> HubResult<()> {
        let app = self
            .store
            .get_application(Some(org_id), id)
            .await?
            .ok_or(HubError::NotFound("application"))?;
        self.store
            .delete_application(org_id, id, self.now())
            .await?;
        self.store
            .delete_user(org_id, &app.service_account_id, self.now())
            .await?;
        self.audit_app(org_id, by, "application.deleted", &app, json!({}))
            .await
    }

    /// A new client secret; the old one keeps working for the grace period.
    pub async fn rotate_application_secret(
        &self,
        org_id: &str,
        by: &Principal,
        id: &str,
    ) -> HubResult<(String, Millis)> {
        let mut app = self
            .store
            .get_application(Some(org_id), id)
            .await?
            .ok_or(HubError::NotFound("application"))?;
        let secret = crypto::new_secret("scs_");
        let now = self.now();
        let expires = now + self.settings.secret_grace.as_millis() as Millis;
        app.prev_secret_hash = Some(std::mem::replace(
            &mut app.secret_hash,
            crypto::hash_token(&secret),
        ));
        app.prev_secret_expires_at = Some(expires);
        app.updated_at = now;
        if !self.store.update_application(&app).await? {
            return Err(HubError::NotFound("application"));
        }
        self.audit_app(
            org_id,
            by,
            "application.secret_rotated",
            &app,
            json!({"previous_secret_expires_at": crate::clock::rfc3339(expires)}),
        )
        .await?;
        Ok((secret, expires))
    }

    /// The application whose id and secret these are (current secret, or the
    /// previous one within its grace period).
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> HubResult<Option<ApplicationRecord>> {
        let Some(app) = self.store.get_application(None, client_id).await? else {
            return Ok(None);
        };
        let given = crypto::hash_token(secret);
        let current = constant_time_eq(&given, &app.secret_hash);
        let previous = match (&app.prev_secret_hash, app.prev_secret_expires_at) {
            (Some(h), Some(until)) if until > self.now() => constant_time_eq(&given, h),
            _ => false,
        };
        Ok((current || previous).then_some(app))
    }

    async fn audit_app(
        &self,
        org_id: &str,
        by: &Principal,
        action: &str,
        app: &ApplicationRecord,
        extra: serde_json::Value,
    ) -> HubResult<()> {
        let mut payload = json!({"application_id": app.id, "name": app.name});
        if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let event = self.own_event(Category::Admin, action, &by.actor(), &app.id, payload);
        let mut tx = self.store.begin().await?;
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(())
    }
}
