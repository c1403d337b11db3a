//! Organisations and principals: bootstrap, API-key authentication, the
//! parent/child (MSP) relation that decides who may see what.

use serde_json::json;

use super::{Actor, Hub, HubResult};
use crate::crypto;
use crate::domain::{Category, FieldError, Scope};
use crate::ids::{IdKind, new_id};
use crate::storage::orgs::{NewKey, OrgRecord, UserRecord};

/// Someone calling the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: String,
    pub org_id: String,
    /// `service` or `human`.
    pub kind: String,
    pub scopes: Vec<Scope>,
    /// Set when the token carried an `act` claim (OAuth token exchange).
    pub service_account: Option<String>,
    pub key_id: Option<String>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id.clone()),
            service_account: self.service_account.clone(),
            ip_address: None,
        }
    }
}

/// API keys' principals by key hash, for ingest (see
/// [`Hub::authenticate_key_cached`]). A key revoked or a user deleted on
/// this process empties it at once; on another process of a cluster the
/// ingest transaction's check of the key row refuses the request and
/// empties it there.
#[derive(Default)]
pub struct PrincipalCache {
    entries: std::sync::Mutex<std::collections::HashMap<Vec<u8>, CachedKey>>,
}

#[derive(Clone)]
struct CachedKey {
    principal: Principal,
    expires_at: Option<crate::clock::Millis>,
}

/// Enough for every key of a busy cluster; past it the cache starts over.
const CACHED_KEYS: usize = 10_000;

impl PrincipalCache {
    fn get(&self, hash: &[u8]) -> Option<CachedKey> {
        self.entries
            .lock()
            .expect("principal cache lock")
            .get(hash)
            .cloned()
    }

    fn put(&self, hash: Vec<u8>, key: CachedKey) {
        let mut entries = self.entries.lock().expect("principal cache lock");
        if entries.len() >= CACHED_KEYS {
            entries.clear();
        }
        entries.insert(hash, key);
    }

    /// Forgets every key (a key or user was revoked or deleted somewhere).
    pub fn forget_all(&self) {
        self.entries.lock().expect("principal cache lock").clear();
    }
}

/// What first start created.
pub struct Bootstrap {
    pub org_id: String,
    pub user_id: String,
    /// Only when it was generated, so it can be printed once.
    pub generated_key: Option<String>,
}

impl Hub {
    /// On an empty store: one organisation, one admin service account and
    /// its API key (`admin_key` if given, else a random one).
    pub async fn bootstrap(&self, admin_key: Option<&str>) -> HubResult<Option<Bootstrap>> {
        if self.store.count_orgs().await? > 0 {
            return Ok(None);
        }
        if let Some(key) = admin_key
            && key.len() < 24
        {
            return Err(
                FieldError::new("SCAIHUB_ADMIN_KEY", "must be at least 24 characters").into(),
            );
        }
        let now = self.now();
        let org = OrgRecord {
            id: new_id(IdKind::Org),
            name: "Default organisation".into(),
            parent_id: None,
            created_at: now,
        };
        self.store.insert_org(&org).await?;
        let user = UserRecord {
            id: new_id(IdKind::User),
            org_id: org.id.clone(),
            name: "admin".into(),
            kind: "service".into(),
            permissions: Scope::ALL.to_vec(),
            email: None,
            created_at: now,
        };
        self.store.insert_user(&user, None).await?;
        let generated = admin_key.is_none().then(|| crypto::new_secret("shk_"));
        let key = admin_key
            .map(str::to_string)
            .or(generated.clone())
            .expect("one of them is set");
        let hash = crypto::hash_token(&key);
        let key_id = new_id(IdKind::Key);
        self.store
            .insert_api_key(
                &NewKey {
                    id: &key_id,
                    user_id: &user.id,
                    org_id: &org.id,
                    key_hash: &hash,
                    scopes: &Scope::ALL,
                    expires_at: None,
                },
                now,
            )
            .await?;
        Ok(Some(Bootstrap {
            org_id: org.id,
            user_id: user.id,
            generated_key: generated,
        }))
    }

    /// The principal behind an API key, if it is valid now.
    pub async fn authenticate_key(&self, key: &str) -> HubResult<Option<Principal>> {
        let hash = crypto::hash_token(key);
        Ok(self
            .lookup_key(&hash)
            .await?
            .filter(|k| k.expires_at.is_none_or(|t| t > self.now()))
            .map(|k| k.principal))
    }

    /// [`Hub::authenticate_key`] through the principal cache, for callers
    /// that check the key again where it matters: ingest reads the key row
    /// in the transaction that stores the events (`hub::group`), so a key
    /// revoked by any process is refused. A key's scopes never change, and
    /// its expiry is checked here against the clock on every use.
    pub async fn authenticate_key_cached(&self, key: &str) -> HubResult<Option<Principal>> {
        let hash = crypto::hash_token(key);
        let cached = match self.principal_cache.get(&hash) {
            Some(k) => Some(k),
            None => {
                let found = self.lookup_key(&hash).await?;
                if let Some(k) = &found {
                    self.principal_cache.put(hash, k.clone());
                }
                found
            }
        };
        Ok(cached
            .filter(|k| k.expires_at.is_none_or(|t| t > self.now()))
            .map(|k| k.principal))
    }

    async fn lookup_key(&self, hash: &[u8]) -> HubResult<Option<CachedKey>> {
        Ok(self.store.find_api_key(hash).await?.map(|found| CachedKey {
            principal: Principal {
                user_id: found.user_id,
                org_id: found.org_id,
                kind: found.user_kind,
                scopes: found.scopes,
                service_account: None,
                key_id: Some(found.key_id),
            },
            expires_at: found.expires_at,
        }))
    }

    /// Whether `principal` may act in `org_id`: its own organisation, or one
    /// whose chain of parents includes it (an MSP and its customers).
    pub async fn can_access_org(&self, principal: &Principal, org_id: &str) -> HubResult<bool> {
        if principal.org_id == org_id {
            return Ok(true);
        }
        Ok(self
            .store
            .org_ancestors(org_id)
            .await?
            .contains(&principal.org_id))
    }

    /// Creates a child organisation of the caller's.
    pub async fn create_child_org(
        &self,
        principal: &Principal,
        name: &str,
    ) -> HubResult<OrgRecord> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(FieldError::new("name", "must be 1-200 characters").into());
        }
        let org = OrgRecord {
            id: new_id(IdKind::Org),
            name: name.to_string(),
            parent_id: Some(principal.org_id.clone()),
            created_at: self.now(),
        };
        self.store.insert_org(&org).await?;
        let event = self.own_event(
            Category::Admin,
            "org.created",
            &principal.actor(),
            &org.id,
            json!({"org_id": org.id, "name": org.name, "parent_id": principal.org_id}),
        );
        let mut tx = self.store.begin().await?;
        let outcome = self
            .log_own_event(&mut tx, &principal.org_id, event)
            .await?;
        tx.commit().await?;
        self.after_commit(&outcome);
        Ok(org)
    }
}
