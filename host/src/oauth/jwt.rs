//! Access tokens as JWTs (RFC 9068): `typ: at+jwt`, EdDSA. Encoding is the
//! compact JWS form over `ed25519-dalek`, which signs about twice as fast
//! as a general JWT crate that re-derives the key each time.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The `act` claim (RFC 8693 §4.1): who acts, and on whose behalf before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Act>>,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The organisation the subject acts in.
    pub org: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    /// The grant family (a code's or refresh chain's), for revoking it whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// Signs the claims into a compact JWT.
pub fn encode(claims: &Claims, kid: &str, key: &SigningKey) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        typ: "at+jwt".into(),
        kid: kid.into(),
    };
    let mut out = B64.encode(serde_json::to_vec(&header).expect("header serialises"));
    out.push('.');
    out.push_str(&B64.encode(serde_json::to_vec(claims).expect("claims serialise")));
    let signature = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&B64.encode(signature.to_bytes()));
    out
}

/// Whether a bearer token has the shape of a JWT (as opposed to an API key).
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2 && token.starts_with("ey")
}

/// Why a token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
}

/// The key id of a token, read before verifying (to pick the key).
pub fn kid(token: &str) -> Result<String, JwtError> {
    let header = token.split('.').next().ok_or(JwtError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&B64.decode(header).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
    if header.alg != "EdDSA" || header.typ != "at+jwt" {
        return Err(JwtError::Malformed);
    }
    Ok(header.kid)
}

/// Verifies the signature and returns the claims (expiry etc. are the caller's).
pub fn decode(token: &str, key: &VerifyingKey) -> Result<Claims, JwtError> {
    let (signed, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let signature = B64.decode(signature).map_err(|_| JwtError::Malformed)?;
    let signature =
        ed25519_dalek::Signature::from_slice(&signature).map_err(|_| JwtError::Malformed)?;
    key.verify(signed.as_bytes(), &signature)
        .map_err(|_| JwtError::Signature)?;
    let payload = signed.split_once('.').ok_or(JwtError::Malformed)?.1;
    serde_json::from_slice(&B64.decode(payload).map_err(|_| JwtError::Malformed)?)
        .map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "http://issuer".into(),
            sub: "usr_1".into(),
            aud: "http://issuer/v1".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            client_id: "app_1".into(),
            scope: "files:read".into(),
            org: "org_1".into(),
            act: Some(Act {
                sub: "usr_svc".into(),
                act: None,
            }),
            fam: None,
        }
    }

    #[test]
    fn round_trips_and_detects_tampering() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let token = encode(&claims(), "k1", &key);
        assert!(looks_like_jwt(&token));
        assert_eq!(kid(&token).unwrap(), "k1");
        assert_eq!(decode(&token, &key.verifying_key()).unwrap(), claims());
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut other = claims();
        other.scope = "admin:write".into();
        parts[1] = B64.encode(serde_json::to_vec(&other).unwrap());
        assert_eq!(
            decode(&parts.join("."), &key.verifying_key()),
            Err(JwtError::Signature)
        );
        let stranger = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            decode(&token, &stranger.verifying_key()),
            Err(JwtError::Signature)
        );
    }
}
