//! Checking a Standard Webhooks signature (a webhook whose
//! `signature_scheme` is `standard`).
//!
//! ```text
//! webhook-id: dlv_01J…                      (the delivery id; same on every retry)
//! webhook-timestamp: 1767225600             (seconds since 1970, of this attempt)
//! webhook-signature: v1,<base64>            (v1,<new> v1,<old> for a day after a rotation)
//! ```
//!
//! Each `v1` value is the standard base64 of HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the bytes the
//! `whsec_` secret encodes (the part after `whsec_`, base64-decoded). The
//! timestamp is signed, so a captured request replayed more than
//! [`TOLERANCE_SECS`] later is refused here; within that window, remember
//! the `webhook-id`s you accepted (the app does, see [`crate::dedup`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

/// How far a timestamp may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// Most `v1,` entries accepted in one header.
const MAX_SIGNATURES: usize = 8;

/// Why a request was not accepted as signed by ScaiHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StandardError {
    #[error("missing webhook-id, webhook-timestamp or webhook-signature")]
    Missing,
    #[error("malformed webhook-timestamp or webhook-signature")]
    Malformed,
    #[error("webhook-timestamp is more than 5 minutes from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
    #[error("a configured secret is not whsec_ followed by base64")]
    BadSecret,
}

/// The three headers, as received.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// Checks the headers against the exact `body` bytes and each of the
/// `secrets` (`whsec_…`; two while you move to a rotated one), with `now`
/// in seconds since 1970.
pub fn verify_standard(
    headers: StandardHeaders<'_>,
    secrets: &[&str],
    body: &[u8],
    now: i64,
) -> Result<(), StandardError> {
    if headers.id.is_empty() || headers.timestamp.is_empty() || headers.signature.is_empty() {
        return Err(StandardError::Missing);
    }
    let timestamp: i64 = headers
        .timestamp
        .parse()
        .map_err(|_| StandardError::Malformed)?;
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(StandardError::Stale);
    }
    let claimed: Vec<Vec<u8>> = headers
        .signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .map(|b64| STANDARD.decode(b64).map_err(|_| StandardError::Malformed))
        .collect::<Result<_, _>>()?;
    if claimed.is_empty() {
        return Err(StandardError::Malformed);
    }
    let mut matched = Choice::from(0);
    for secret in secrets {
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or(StandardError::BadSecret)?;
        let expected = sign(&key, headers.id, timestamp, body);
        for tag in &claimed {
            matched |= expected.as_slice().ct_eq(tag.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(StandardError::Mismatch)
    }
}

fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries' tests.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const TS: i64 = 1614265330;

    fn headers(signature: &str) -> StandardHeaders<'_> {
        StandardHeaders {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: "1614265330",
            signature,
        }
    }

    #[test]
    fn the_specifications_example_verifies() {
        assert_eq!(verify_standard(headers(SIG), &[SECRET], BODY, TS), Ok(()));
        let rotated = format!("v1,AAAA{} {SIG}", &SIG[7..]);
        assert_eq!(
            verify_standard(headers(&rotated), &[SECRET], BODY, TS + 60),
            Ok(())
        );
    }

    #[test]
    fn tampering_staleness_and_bad_headers_are_refused() {
        let other = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify_standard(headers(SIG), &[SECRET], other, TS),
            Err(StandardError::Mismatch)
        );
        assert_eq!(
            verify_standard(headers(SIG), &[SECRET], BODY, TS + TOLERANCE_SECS + 1),
            Err(StandardError::Stale)
        );
        assert_eq!(
            verify_standard(headers(""), &[SECRET], BODY, TS),
            Err(StandardError::Missing)
        );
        assert_eq!(
            verify_standard(headers("v1,***"), &[SECRET], BODY, TS),
            Err(StandardError::Malformed)
        );
        assert_eq!(
            verify_standard(headers(SIG), &["nope"], BODY, TS),
            Err(StandardError::BadSecret)
        );
    }
}
