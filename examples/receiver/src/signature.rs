//! Checking the `X-ScaiDrive-Signature` header.
//!
//! This module holds [`verify`], the one function a receiver needs before
//! it believes anything in a request body: it decides whether the body was
//! signed by ScaiHub with one of the secrets this receiver knows. It does no
//! I/O and knows nothing about HTTP servers, so it can be copied on its own.
//!
//! # What ScaiHub sends
//!
//! ```text
//! X-ScaiDrive-Signature: sha256=<64 lowercase hex digits>
//! X-ScaiDrive-Signature: sha256=<new>,sha256=<old>      (24 h after a rotation)
//! ```
//!
//! Each hex value is HMAC-SHA256, keyed with the webhook secret (the whole
//! string, `whsec_` prefix included, as UTF-8 bytes), over the exact body
//! bytes that were sent. Verify those raw bytes: parsing the JSON and
//! serialising it again changes them.
//!
//! # Rules this parser applies
//!
//! - The header is a comma-separated list; spaces or tabs around an entry
//!   and empty entries are ignored (ordinary HTTP list syntax).
//! - Entries are `scheme=value`. Entries with a scheme other than `sha256`
//!   are skipped, so a future extra scheme does not break this receiver.
//! - A `sha256` value must be exactly 64 **lowercase** hex digits. Uppercase
//!   hex is rejected as malformed: ScaiHub always sends lowercase, and the
//!   Python and Node versions in the README compare hex strings, which would
//!   reject uppercase too — all three behave the same.
//! - At most [`MAX_SIGNATURES`] `sha256` entries; more is malformed.
//! - The request is genuine if **any** listed signature matches the HMAC of
//!   the body under **any** configured secret. Every comparison runs in
//!   constant time and none stops early, so timing reveals nothing about
//!   how close a forged signature came.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// The header's name, in the lower case that HTTP libraries normalise to.
pub const SIGNATURE_HEADER: &str = "x-scaidrive-signature";

/// The only signature scheme ScaiHub uses today.
const SCHEME: &str = "sha256";

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

/// Most `sha256=` entries accepted in one header. ScaiHub sends one, or two
/// during a rotation; the cap keeps a hostile header from costing much.
pub const MAX_SIGNATURES: usize = 8;

/// Why a request was not accepted as signed by ScaiHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header was absent or blank.
    #[error("missing X-ScaiDrive-Signature")]
    Missing,
    /// The header held no usable `sha256=<64 lowercase hex>` entry, or a
    /// `sha256` entry that is not one, or too many entries.
    #[error("malformed X-ScaiDrive-Signature")]
    Malformed,
    /// The header was well formed, but no signature matched any secret.
    #[error("signature does not match")]
    Mismatch,
    /// The receiver was given no secret to check against (a setup mistake).
    #[error("receiver has no webhook secret configured")]
    NoSecrets,
}

/// Checks `signature_header` (the raw `X-ScaiDrive-Signature` value; pass
/// `""` when the header is absent) against the exact `body` bytes.
///
/// `secrets` holds every secret currently accepted: normally one, two while
/// you move to a rotated secret. Returns `Ok(())` if any signature in the
/// header is the HMAC-SHA256 of `body` under any of them.
///
/// ```
/// use scaihub_example_receiver::{verify, VerifyError};
///
/// // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
/// let header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
/// let body = b"what do ya want for nothing?";
/// assert_eq!(verify(header, &[b"Jefe"], body), Ok(()));
/// assert_eq!(verify(header, &[b"Jeff"], body), Err(VerifyError::Mismatch));
/// ```
pub fn verify(signature_header: &str, secrets: &[&[u8]], body: &[u8]) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    let claimed = parse_header(signature_header)?;

    // One HMAC per secret (hashing the body is the costly part), then every
    // claimed tag against it. `|` on `Choice` never short-circuits.
    let mut matched = Choice::from(0);
    for secret in secrets {
        let expected = hmac_sha256(secret, body);
        for tag in &claimed {
            matched |= expected.as_slice().ct_eq(tag.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// `sha256=<lowercase hex>` for `body` under `secret` — what ScaiHub puts in
/// the header. Handy for tests and for sending yourself a signed request.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("{SCHEME}={}", hex::encode(hmac_sha256(secret, body)))
}

fn hmac_sha256(secret: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Splits the header into the decoded tags of its `sha256` entries.
fn parse_header(value: &str) -> Result<Vec<[u8; TAG_LEN]>, VerifyError> {
    if value.trim().is_empty() {
        return Err(VerifyError::Missing);
    }
    let mut tags = Vec::new();
    for entry in value.split(',') {
        let entry = entry.trim_matches([' ', '\t']);
        if entry.is_empty() {
            continue;
        }
        let (scheme, digits) = entry.split_once('=').ok_or(VerifyError::Malformed)?;
        if scheme != SCHEME {
            continue;
        }
        if tags.len() == MAX_SIGNATURES {
            return Err(VerifyError::Malformed);
        }
        tags.push(decode_lowercase_hex(digits).ok_or(VerifyError::Malformed)?);
    }
    if tags.is_empty() {
        return Err(VerifyError::Malformed);
    }
    Ok(tags)
}

/// Exactly 64 characters of `0-9a-f`, decoded; anything else is `None`.
/// (The value is what the sender claims, not a secret, so branching on it
/// leaks nothing.)
fn decode_lowercase_hex(digits: &str) -> Option<[u8; TAG_LEN]> {
    let lowercase_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if digits.len() != TAG_LEN * 2 || !digits.as_bytes().iter().all(lowercase_hex) {
        return None;
    }
    let mut tag = [0u8; TAG_LEN];
    hex::decode_to_slice(digits, &mut tag).ok()?;
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event_id":"evt_1","category":"SHARING","action":"share.created"}"#;
    const NEW: &[u8] = b"whsec_new";
    const OLD: &[u8] = b"whsec_old";

    #[test]
    fn matches_rfc4231_test_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn valid_signature_is_accepted() {
        assert_eq!(verify(&sign(NEW, BODY), &[NEW], BODY), Ok(()));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        assert_eq!(
            verify(&sign(b"whsec_other", BODY), &[NEW], BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let header = sign(NEW, BODY);
        let tampered = br#"{"event_id":"evt_1","category":"SHARING","action":"share.deleted"}"#;
        assert_eq!(
            verify(&header, &[NEW], tampered),
            Err(VerifyError::Mismatch)
        );
        // Even a change that leaves the JSON meaning intact breaks it.
        let mut spaced = BODY.to_vec();
        spaced.push(b'\n');
        assert_eq!(verify(&header, &[NEW], &spaced), Err(VerifyError::Mismatch));
    }

    #[test]
    fn rotation_header_matches_on_either_signature() {
        let header = format!("{},{}", sign(NEW, BODY), sign(OLD, BODY));
        // Receiver not yet updated: only the old secret is configured.
        assert_eq!(verify(&header, &[OLD], BODY), Ok(()));
        // Receiver already moved to the new secret.
        assert_eq!(verify(&header, &[NEW], BODY), Ok(()));
        // Receiver holding both during the overlap.
        assert_eq!(verify(&header, &[NEW, OLD], BODY), Ok(()));
        // Neither is ours.
        assert_eq!(
            verify(&header, &[b"whsec_x"], BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn one_of_several_configured_secrets_is_enough() {
        assert_eq!(verify(&sign(OLD, BODY), &[NEW, OLD], BODY), Ok(()));
    }

    #[test]
    fn whitespace_and_empty_entries_are_tolerated() {
        let header = format!(" {} ,\t{} ,", sign(NEW, BODY), sign(OLD, BODY));
        assert_eq!(verify(&header, &[OLD], BODY), Ok(()));
    }

    #[test]
    fn unknown_schemes_are_skipped() {
        let header = format!("sha512=abcd,{}", sign(NEW, BODY));
        assert_eq!(verify(&header, &[NEW], BODY), Ok(()));
        assert_eq!(
            verify("sha512=abcd", &[NEW], BODY),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn missing_header_is_reported_as_missing() {
        assert_eq!(verify("", &[NEW], BODY), Err(VerifyError::Missing));
        assert_eq!(verify("  ", &[NEW], BODY), Err(VerifyError::Missing));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let good_hex = &sign(NEW, BODY)["sha256=".len()..];
        for header in [
            "garbage".to_string(),
            ",".to_string(),
            "sha256=".to_string(),
            "sha256=xyz".to_string(),
            format!("sha256={}", &good_hex[..63]),
            format!("sha256={good_hex}0"),
            format!("sha256={}", &good_hex[..62]) + "zz",
            format!("sha256 = {good_hex}"),
            good_hex.to_string(),
            // A good signature does not excuse a broken one beside it.
            format!("sha256={good_hex},sha256=nothex"),
        ] {
            assert_eq!(
                verify(&header, &[NEW], BODY),
                Err(VerifyError::Malformed),
                "{header:?}"
            );
        }
    }

    #[test]
    fn uppercase_hex_is_rejected_as_malformed() {
        let upper = format!(
            "sha256={}",
            sign(NEW, BODY)["sha256=".len()..].to_uppercase()
        );
        assert_eq!(verify(&upper, &[NEW], BODY), Err(VerifyError::Malformed));
        // The scheme name is case-sensitive as well.
        let scheme = sign(NEW, BODY).replacen("sha256", "SHA256", 1);
        assert_eq!(verify(&scheme, &[NEW], BODY), Err(VerifyError::Malformed));
    }

    #[test]
    fn too_many_signatures_are_rejected() {
        let one = sign(NEW, BODY);
        let header = [one.as_str(); MAX_SIGNATURES + 1].join(",");
        assert_eq!(verify(&header, &[NEW], BODY), Err(VerifyError::Malformed));
        let header = [one.as_str(); MAX_SIGNATURES].join(",");
        assert_eq!(verify(&header, &[NEW], BODY), Ok(()));
    }

    #[test]
    fn no_secrets_is_a_configuration_error() {
        assert_eq!(
            verify(&sign(NEW, BODY), &[], BODY),
            Err(VerifyError::NoSecrets)
        );
    }

    #[test]
    fn empty_body_can_be_signed() {
        assert_eq!(verify(&sign(NEW, b""), &[NEW], b""), Ok(()));
    }
}
