//! Secrets: encryption at rest with the master key, hashing of bearer
//! credentials, and random secret generation.
//!
//! Webhook secrets must be recoverable (we sign with them), so they are
//! sealed with XChaCha20-Poly1305 under the master key. API keys and client
//! secrets are only ever compared, so only their SHA-256 is stored: they are
//! 256-bit random values, for which a slow password hash adds nothing.

use std::fmt;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Why a master key or a sealed value could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key must be 64 hex digits (32 bytes)")]
    BadMasterKey,
    #[error("sealed value is corrupt or was sealed under another master key")]
    Unseal,
}

/// The key that encrypts secrets at rest. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

const NONCE_LEN: usize = 24;

impl MasterKey {
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|_| CryptoError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(MasterKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// A fresh random key, with its hex form for storing.
    pub fn generate() -> (Self, String) {
        let key = random_bytes::<32>();
        let text = hex::encode(key);
        (
            MasterKey {
                cipher: XChaCha20Poly1305::new(&key.into()),
            },
            text,
        )
    }

    /// Encrypts `plain`; `context` (e.g. the owning row's id) is bound as
    /// associated data so a sealed value cannot be moved to another row.
    pub fn seal(&self, plain: &[u8], context: &str) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .expect("xchacha20poly1305 encryption cannot fail for in-memory buffers");
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`MasterKey::seal`] produced under the same context.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Unseal)
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// A new secret with a readable prefix, 256 random bits, URL-safe.
pub fn new_secret(prefix: &str) -> String {
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    format!("{prefix}{body}")
}

/// A new webhook secret: `whsec_` and 32 random bytes in standard base64,
/// so both signature schemes can use it as it is (ScaiDrive's keys the
/// HMAC with the string, Standard Webhooks' with the bytes it encodes).
pub fn new_webhook_secret() -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>());
    format!("{}{body}", crate::signing::SECRET_PREFIX)
}

/// The stored form of a bearer credential.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_same_key_and_context() {
        let (key, hex_key) = MasterKey::generate();
        let sealed = key.seal(b"whsec_abc", "whk_1");
        assert!(!sealed.windows(9).any(|w| w == b"whsec_abc"));
        assert_eq!(key.open(&sealed, "whk_1").unwrap(), b"whsec_abc");
        assert!(key.open(&sealed, "whk_2").is_err());
        let (other, _) = MasterKey::generate();
        assert!(other.open(&sealed, "whk_1").is_err());
        let again = MasterKey::from_hex(&hex_key).unwrap();
        assert_eq!(again.open(&sealed, "whk_1").unwrap(), b"whsec_abc");
    }

    #[test]
    fn bad_master_keys_are_refused() {
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn master_key_debug_is_redacted() {
        let (key, hex_key) = MasterKey::generate();
        assert!(!format!("{key:?}").contains(&hex_key));
    }
}
