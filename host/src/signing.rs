//! Delivery signatures, in two schemes. ScaiDrive's own,
//! `X-ScaiDrive-Signature: sha256=<hex>`: HMAC-SHA256 over the exact body
//! bytes, keyed by the whole secret string. Standard Webhooks',
//! `webhook-signature: v1,<base64>`: HMAC-SHA256 over `id.timestamp.body`,
//! keyed by the bytes the `whsec_` secret encodes in base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` for one secret.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("hmac accepts keys of any length");
    mac.update(body);
    let mut text = [0u8; 7 + 64];
    text[..7].copy_from_slice(b"sha256=");
    hex::encode_to_slice(mac.finalize().into_bytes(), &mut text[7..])
        .expect("a SHA-256 tag is 32 bytes, 64 hex digits");
    String::from_utf8(text.to_vec()).expect("ascii")
}

/// The header value: the current secret's signature, then the previous
/// secret's while it is still within its grace period.
pub fn signature_header(current: &[u8], previous: Option<&[u8]>, body: &[u8]) -> String {
    match previous {
        Some(old) => format!("{},{}", sign(current, body), sign(old, body)),
        None => sign(current, body),
    }
}

/// The prefix of a webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The key a `whsec_<base64>` secret stands for in the Standard Webhooks
/// scheme; `None` when the secret is not of that form or its key is not
/// 24 to 64 bytes long.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

/// `v1,<base64>` for one key.
pub fn sign_standard(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac accepts keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` value: the current key's signature, then the
/// previous key's while it is within its grace period, space-separated.
pub fn standard_header(
    current: &[u8],
    previous: Option<&[u8]>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let now = sign_standard(current, msg_id, timestamp, body);
    match previous {
        Some(old) => format!("{now} {}", sign_standard(old, msg_id, timestamp, body)),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaidrive_signature_is_the_hex_hmac_of_the_body() {
        // Computed apart, with Python's hmac module.
        let tag = "sha256=51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5";
        assert_eq!(sign(b"whsec_test", br#"{"a":1}"#), tag);
        assert_eq!(
            signature_header(b"whsec_test", Some(b"whsec_test"), br#"{"a":1}"#),
            format!("{tag},{tag}")
        );
    }

    #[test]
    fn standard_signature_matches_the_specifications_example() {
        // The example of the Standard Webhooks reference libraries' tests.
        let key = standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign_standard(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn standard_keys_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_some());
        assert!(
            standard_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none(),
            "no prefix"
        );
        assert!(standard_key("whsec_not*base64").is_none());
        assert!(
            standard_key(&format!("whsec_{}", STANDARD.encode([7u8; 16]))).is_none(),
            "short"
        );
        assert!(
            standard_key(&format!("whsec_{}", STANDARD.encode([7u8; 65]))).is_none(),
            "long"
        );
    }

    #[test]
    fn standard_header_lists_new_then_old_space_separated() {
        let (new, old) = ([1u8; 32], [2u8; 32]);
        assert_eq!(
            standard_header(&new, Some(&old), "dlv_1", 5, b"{}"),
            format!(
                "{} {}",
                sign_standard(&new, "dlv_1", 5, b"{}"),
                sign_standard(&old, "dlv_1", 5, b"{}")
            )
        );
    }

    #[test]
    fn matches_rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn header_lists_new_then_old_signature() {
        let header = signature_header(b"new", Some(b"old"), b"{}");
        assert_eq!(
            header,
            format!("{},{}", sign(b"new", b"{}"), sign(b"old", b"{}"))
        );
    }
}
