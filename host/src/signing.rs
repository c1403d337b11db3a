//! The `X-ScaiDrive-Signature` header: HMAC-SHA256 over the exact body bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` for one secret.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("hmac accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The header value: the current secret's signature, then the previous
/// secret's while it is still within its grace period.
pub fn signature_header(current: &[u8], previous: Option<&[u8]>, body: &[u8]) -> String {
    match previous {
        Some(old) => format!("{},{}", sign(current, body), sign(old, body)),
        None => sign(current, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
