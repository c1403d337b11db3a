//! Users (human and service accounts) and personal API keys.

use serde::Deserialize;
use serde_json::json;

use super::principals::Principal;
use super::{Hub, HubError, HubResult};
use crate::clock::{Millis, parse_rfc3339};
use crate::crypto;
use crate::domain::scope::parse_list;
use crate::domain::{Category, FieldError, Scope};
use crate::ids::{IdKind, new_id};
use crate::storage::orgs::{NewKey, UserRecord};

/// `POST /users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    /// `human` or `service`.
    pub kind: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Humans only: at least 12 characters; stored as an argon2id hash.
    #[serde(default)]
    pub password: Option<String>,
    /// What the person signs in with (kept in lower case); unique across
    /// ScaiHub, since signing in does not name the organisation.
    #[serde(default)]
    pub email: Option<String>,
}

/// `PATCH /users/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub name: Option<String>,
    pub permissions: Option<Vec<String>>,
    /// A new address; `null` removes it (the user then signs in by id).
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// An email address as stored: trimmed, lower case, one `@` with
/// something before it and a dotted domain after it, no spaces, at most
/// 254 characters (RFC 5321's path limit).
pub fn validate_email(text: &str) -> Result<String, FieldError> {
    let email = text.trim().to_lowercase();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if ok {
        Ok(email)
    } else {
        Err(FieldError::new(
            "email",
            "must be an email address such as ana@example.com",
        ))
    }
}

/// A unique index broken by an email makes a field error, not a 500.
fn email_taken(e: crate::storage::StoreError) -> HubError {
    if e.is_unique_violation() {
        FieldError::new("email", "is already used by another user").into()
    } else {
        e.into()
    }
}

/// `POST /users/{id}/api-keys` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// A subset of the user's permissions; all of them when absent.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// RFC 3339; never expires when absent.
    #[serde(default)]
    pub expires_at: Option<String>,
}

fn hash_password(password: &str) -> HubResult<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| FieldError::new("password", "cannot be hashed").into())
}

impl Hub {
    pub async fn create_user(
        &self,
        org_id: &str,
        by: &Principal,
        input: NewUser,
    ) -> HubResult<UserRecord> {
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(FieldError::new("name", "must be 1-200 characters").into());
        }
        if input.kind != "human" && input.kind != "service" {
            return Err(FieldError::new("kind", "must be human or service").into());
        }
        let permissions = parse_list("permissions", &input.permissions)?;
        // Nobody grants what they do not hold.
        if let Some(extra) = permissions.iter().find(|s| !by.has(**s)) {
            return Err(FieldError::new(
                "permissions",
                format!("you cannot grant {}, which you do not hold", extra.as_str()),
            )
            .into());
        }
        let password_hash = match (input.kind.as_str(), input.password.as_deref()) {
            ("human", Some(p)) if p.chars().count() >= 12 && p.len() <= 1024 => {
                Some(hash_password(p)?)
            }
            ("human", Some(_)) => {
                return Err(FieldError::new("password", "must be 12-1024 characters").into());
            }
            ("human", None) => {
                return Err(FieldError::new("password", "is required for a human user").into());
            }
            (_, Some(_)) => {
                return Err(FieldError::new(
                    "password",
                    "service accounts use API keys, not passwords",
                )
                .into());
            }
            _ => None,
        };
        let email = input.email.as_deref().map(validate_email).transpose()?;
        let user = UserRecord {
            id: new_id(IdKind::User),
            org_id: org_id.to_string(),
            name: name.to_string(),
            kind: input.kind,
            permissions,
            email,
            created_at: self.now(),
        };
        self.store
            .insert_user(&user, password_hash.as_deref())
            .await
            .map_err(email_taken)?;
        self.audit_admin(
            org_id,
            by,
            "user.created",
            &user.id,
            json!({"user_id": user.id, "kind": user.kind, "permissions": user.permissions, "email": user.email}),
        )
        .await?;
        Ok(user)
    }

    pub async fn update_user(
        &self,
        org_id: &str,
        by: &Principal,
        id: &str,
        patch: UserPatch,
    ) -> HubResult<UserRecord> {
        let mut user = self
            .store
            .get_user(org_id, id)
            .await?
            .ok_or(HubError::NotFound("user"))?;
        if let Some(name) = patch.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(FieldError::new("name", "must be 1-200 characters").into());
            }
            user.name = name.to_string();
        }
        if let Some(perms) = patch.permissions {
            let permissions = parse_list("permissions", &perms)?;
            if let Some(extra) = permissions.iter().find(|s| !by.has(**s)) {
                return Err(FieldError::new(
                    "permissions",
                    format!("you cannot grant {}, which you do not hold", extra.as_str()),
                )
                .into());
            }
            user.permissions = permissions;
        }
        if let Some(email) = patch.email {
            user.email = email.as_deref().map(validate_email).transpose()?;
        }
        if !self
            .store
            .update_user(&user, self.now())
            .await
            .map_err(email_taken)?
        {
            return Err(HubError::NotFound("user"));
        }
        self.audit_admin(
            org_id,
            by,
            "user.updated",
            &user.id,
            json!({"user_id": user.id, "permissions": user.permissions, "email": user.email}),
        )
        .await?;
        Ok(user)
    }

    pub async fn delete_user(&self, org_id: &str, by: &Principal, id: &str) -> HubResult<()> {
        if by.user_id == id {
            return Err(HubError::Conflict("you cannot delete yourself".into()));
        }
        if !self.store.delete_user(org_id, id, self.now()).await? {
            return Err(HubError::NotFound("user"));
        }
        // Its keys were revoked with it.
        self.principal_cache.forget_all();
        self.audit_admin(org_id, by, "user.deleted", id, json!({"user_id": id}))
            .await
    }

    /// A new personal API key for a service account; the key is returned once.
    pub async fn create_api_key(
        &self,
        org_id: &str,
        by: &Principal,
        user_id: &str,
        input: NewApiKey,
    ) -> HubResult<(String, String)> {
        let user = self
            .store
            .get_user(org_id, user_id)
            .await?
            .ok_or(HubError::NotFound("user"))?;
        if user.kind != "service" {
            return Err(FieldError::new(
                "user",
                "API keys are for service accounts; humans sign in",
            )
            .into());
        }
        let scopes = match input.scopes {
            Some(list) => parse_list("scopes", &list)?,
            None => user.permissions.clone(),
        };
        if let Some(extra) = scopes.iter().find(|s| !user.permissions.contains(s)) {
            return Err(FieldError::new(
                "scopes",
                format!("{} is not among the user's permissions", extra.as_str()),
            )
            .into());
        }
        let expires_at: Option<Millis> = match input.expires_at.as_deref() {
            Some(text) => {
                let t = parse_rfc3339(text).ok_or_else(|| {
                    FieldError::new("expires_at", "must be an RFC 3339 date-time")
                })?;
                if t <= self.now() {
                    return Err(FieldError::new("expires_at", "must be in the future").into());
                }
                Some(t)
            }
            None => None,
        };
        let key = crypto::new_secret("shk_");
        let id = new_id(IdKind::Key);
        let hash = crypto::hash_token(&key);
        let new = NewKey {
            id: &id,
            user_id,
            org_id,
            key_hash: &hash,
            scopes: &scopes,
            expires_at,
        };
        self.store.insert_api_key(&new, self.now()).await?;
        self.audit_admin(
            org_id,
            by,
            "api_key.created",
            user_id,
            json!({"user_id": user_id, "key_id": id, "scopes": scopes}),
        )
        .await?;
        Ok((id, key))
    }

    pub async fn revoke_api_key(
        &self,
        org_id: &str,
        by: &Principal,
        user_id: &str,
        key_id: &str,
    ) -> HubResult<()> {
        if !self
            .store
            .revoke_api_key(org_id, user_id, key_id, self.now())
            .await?
        {
            return Err(HubError::NotFound("api key"));
        }
        self.principal_cache.forget_all();
        self.audit_admin(
            org_id,
            by,
            "api_key.revoked",
            user_id,
            json!({"user_id": user_id, "key_id": key_id}),
        )
        .await
    }

    async fn audit_admin(
        &self,
        org_id: &str,
        by: &Principal,
        action: &str,
        resource: &str,
        payload: serde_json::Value,
    ) -> HubResult<()> {
        let event = self.own_event(Category::Admin, action, &by.actor(), resource, payload);
        let mut tx = self.store.begin().await?;
        let outcome = self.log_own_event(&mut tx, org_id, event).await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(())
    }
}

/// Scopes as stored, for views.
pub fn scope_names(scopes: &[Scope]) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}
