//! Signing keys: one active Ed25519 key signs; every key that may still
//! have live tokens verifies. Private halves are sealed with the master key.

use std::collections::HashMap;
use std::sync::RwLock;

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::clock::Millis;
use crate::crypto::{self, MasterKey};
use crate::storage::applications::SigningKeyRecord;
use crate::storage::{Store, StoreError};

/// The keys this process signs and verifies with.
pub struct KeyRing {
    inner: RwLock<Keys>,
}

struct Keys {
    active: Option<(String, SigningKey)>,
    verifying: HashMap<String, VerifyingKey>,
}

/// How long a retired key keeps verifying: longer than any token lives.
pub const RETIRED_KEY_GRACE_MS: Millis = 2 * 3600 * 1000;

impl Default for KeyRing {
    fn default() -> Self {
        KeyRing {
            inner: RwLock::new(Keys {
                active: None,
                verifying: HashMap::new(),
            }),
        }
    }
}

impl KeyRing {
    /// Loads the keys from the store, creating the first one if there is none.
    pub async fn load(
        &self,
        store: &Store,
        master: &MasterKey,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut records = store.signing_keys().await?;
        if records.iter().all(|r| r.retired_at.is_some()) {
            records.push(Self::create(store, master, now).await?);
        }
        let mut keys = Keys {
            active: None,
            verifying: HashMap::new(),
        };
        for r in records {
            let public: [u8; 32] = r
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("signing key".into()))?;
            let verifying = VerifyingKey::from_bytes(&public)
                .map_err(|_| StoreError::Corrupt("signing key".into()))?;
            match r.retired_at {
                None => {
                    let private = master
                        .open(&r.private_enc, &r.kid)
                        .map_err(|_| StoreError::Corrupt("sealed signing key".into()))?;
                    let private: [u8; 32] = private
                        .as_slice()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("signing key".into()))?;
                    keys.active = Some((r.kid.clone(), SigningKey::from_bytes(&private)));
                    keys.verifying.insert(r.kid, verifying);
                }
                Some(retired) if retired + RETIRED_KEY_GRACE_MS > now => {
                    keys.verifying.insert(r.kid, verifying);
                }
                Some(_) => {}
            }
        }
        *self.inner.write().expect("key ring lock") = keys;
        Ok(())
    }

    /// Makes a new key the active one; the previous keeps verifying.
    pub async fn rotate(
        &self,
        store: &Store,
        master: &MasterKey,
        now: Millis,
    ) -> Result<String, StoreError> {
        let record = Self::create(store, master, now).await?;
        self.load(store, master, now).await?;
        Ok(record.kid)
    }

    async fn create(
        store: &Store,
        master: &MasterKey,
        now: Millis,
    ) -> Result<SigningKeyRecord, StoreError> {
        let secret = crypto::random_bytes::<32>();
        let key = SigningKey::from_bytes(&secret);
        let kid = format!(
            "k{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crypto::random_bytes::<9>())
        );
        let record = SigningKeyRecord {
            private_enc: master.seal(&secret, &kid),
            public_key: key.verifying_key().to_bytes().to_vec(),
            kid,
            created_at: now,
            retired_at: None,
        };
        store.insert_signing_key(&record).await?;
        Ok(record)
    }

    pub fn active(&self) -> Option<(String, SigningKey)> {
        self.inner.read().expect("key ring lock").active.clone()
    }

    pub fn verifying(&self, kid: &str) -> Option<VerifyingKey> {
        self.inner
            .read()
            .expect("key ring lock")
            .verifying
            .get(kid)
            .copied()
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.inner.read().expect("key ring lock");
        let mut list: Vec<_> = keys
            .verifying
            .iter()
            .map(|(kid, k)| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                    "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.to_bytes()),
                })
            })
            .collect();
        list.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
        serde_json::json!({ "keys": list })
    }
}
