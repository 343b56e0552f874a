//! The webhook signature scheme: the one place it is defined.
//!
//! The Semarize documentation names HMAC-SHA256 and the header form `v1=<hex>`; the rest is
//! the contract choice recorded in the spec (the `runEvent` callback of `upsert_webhook`):
//!
//! - key: the whole secret string (including `whsec_`) as UTF-8 bytes;
//! - message: `<Semarize-Timestamp>.<raw body bytes>`;
//! - header: `v1=<lowercase hex>`, with several comma-separated `v1=` entries while a
//!   secret rotates; a receiver accepts the delivery when any entry matches.
//!
//! The emulator signs with these functions and the `semarize` crate verifies with them,
//! so sender and receiver cannot drift apart.
//!
//! ```
//! use semarize_api::webhook_signature::{signature_header, verify_entry};
//! let header = signature_header(&["whsec_new", "whsec_old"], "1700000000", b"{}");
//! let entries: Vec<&str> = header.split(',').collect();
//! assert_eq!(entries.len(), 2);
//! assert!(verify_entry("whsec_old", "1700000000", b"{}", entries[1]));
//! ```

use hmac::{KeyInit, Mac};

/// The signature scheme version written before each signature.
pub const SCHEME: &str = "v1";

/// Header carrying the event id, stable across retries.
pub const HEADER_EVENT_ID: &str = "Semarize-Event-Id";
/// Header carrying the delivery id, new for every attempt.
pub const HEADER_DELIVERY_ID: &str = "Semarize-Delivery-Id";
/// Header carrying the event type (`run.succeeded`, ...).
pub const HEADER_EVENT_TYPE: &str = "Semarize-Event-Type";
/// Header carrying the Unix timestamp (seconds) that is signed.
pub const HEADER_TIMESTAMP: &str = "Semarize-Timestamp";
/// Header carrying the signatures.
pub const HEADER_SIGNATURE: &str = "Semarize-Signature";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn keyed(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The raw HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn mac(secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    keyed(secret, timestamp, body)
        .finalize()
        .into_bytes()
        .into()
}

/// A secret's HMAC key schedule, computed once: a verifier that checks many deliveries
/// with the same secret then pays only for hashing each message.
#[derive(Clone)]
pub struct SigningKey(HmacSha256);

impl SigningKey {
    /// The key schedule of `secret` (the whole string, `whsec_` included).
    pub fn new(secret: &str) -> Self {
        SigningKey(
            HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length"),
        )
    }

    /// The raw HMAC-SHA256 of `<timestamp>.<body>`; equal to [`mac`] with the same secret.
    pub fn mac(&self, timestamp: &str, body: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// The `Semarize-Signature` value for a delivery: one `v1=<hex>` entry per secret, in the
/// order given (newest first during a rotation).
pub fn signature_header(secrets: &[&str], timestamp: &str, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| format!("{SCHEME}={}", hex::encode(mac(secret, timestamp, body))))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether one signature entry (`v1=<hex>`, surrounding spaces allowed) is the signature
/// of `<timestamp>.<body>` under `secret`. The comparison is constant-time.
pub fn verify_entry(secret: &str, timestamp: &str, body: &[u8], entry: &str) -> bool {
    let Some(hex_part) = entry
        .trim()
        .strip_prefix(SCHEME)
        .and_then(|rest| rest.strip_prefix('='))
    else {
        return false;
    };
    let mut expected = [0u8; 32];
    if hex::decode_to_slice(hex_part, &mut expected).is_err() {
        return false;
    }
    keyed(secret, timestamp, body)
        .verify_slice(&expected)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // HMAC-SHA256(key="whsec_test", msg="1700000000.{}") computed independently with
        // Python's hmac module.
        assert_eq!(
            signature_header(&["whsec_test"], "1700000000", b"{}"),
            "v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn a_precomputed_key_gives_the_same_mac() {
        assert_eq!(
            SigningKey::new("whsec_x").mac("12", b"body"),
            mac("whsec_x", "12", b"body")
        );
    }

    #[test]
    fn tampering_fails() {
        let header = signature_header(&["whsec_a"], "1", b"body");
        assert!(verify_entry("whsec_a", "1", b"body", &header));
        assert!(!verify_entry("whsec_a", "1", b"bodY", &header));
        assert!(!verify_entry("whsec_a", "2", b"body", &header));
        assert!(!verify_entry("whsec_b", "1", b"body", &header));
        assert!(!verify_entry("whsec_a", "1", b"body", "v2=00"));
        assert!(!verify_entry("whsec_a", "1", b"body", "v1=zz"));
    }
}
