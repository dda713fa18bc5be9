//! The sandbox channel's signatures: HMAC-SHA256, hex, over newline-terminated lines.
//!
//! Requests (merchant API key): `METHOD\npath\ntimestamp\nnonce\nbody\n`, the message
//! WeChat Pay v3 signs for merchant requests, with HMAC in place of the merchant's RSA key.
//! Notifications (notification key): `timestamp\nnonce\nbody\n`, the message WeChat Pay
//! v3 signs for its notifications and answers. Both keys are shared secrets between us
//! and the peer, and they differ: a leaked notification key cannot move money.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER_MCHID: &str = "x-sandbox-mchid";
pub const HEADER_TIMESTAMP: &str = "x-sandbox-timestamp";
pub const HEADER_NONCE: &str = "x-sandbox-nonce";
pub const HEADER_SIGNATURE: &str = "x-sandbox-signature";

/// A signed request or notification is accepted within this many seconds of the
/// receiver's clock, either way (WeChat Pay v3 uses 5 minutes too).
pub const MAX_SKEW_SECS: i64 = 300;

/// `METHOD\npath\ntimestamp\nnonce\nbody\n`; `path` includes the query, if any.
pub fn request_message(method: &str, path: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{method}\n{path}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// `timestamp\nnonce\nbody\n`.
pub fn notification_message(timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// Lower-case hex HMAC-SHA256 of `message` under `key`.
pub fn sign(key: &str, message: &[u8]) -> String {
    hex::encode(mac(key, message).finalize().into_bytes())
}

/// Whether `signature` (hex, either case) is `message`'s under `key`; constant time.
pub fn verify(key: &str, message: &[u8], signature: &str) -> bool {
    match hex::decode(signature) {
        Ok(bytes) => mac(key, message).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// A fresh 32-character nonce.
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn mac(key: &str, message: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed outside this crate with Python's standard library:
    // python3 -c "import hmac,hashlib; print(hmac.new(KEY, MESSAGE, hashlib.sha256).hexdigest())"
    // with the key and message bytes written out literally below.

    #[test]
    fn request_signature_matches_an_independent_vector() {
        let body = br#"{"amount":{"total":100}}"#;
        let message = request_message("POST", "/v1/payments", 1_700_000_000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", body);
        assert_eq!(
            message,
            b"POST\n/v1/payments\n1700000000\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n{\"amount\":{\"total\":100}}\n"
        );
        let expected = "7ab94436de6b255e5366468b3d4b5ff03553cac17ceb25add42d51dfa06cd67c";
        assert_eq!(sign("sandbox-api-key", &message), expected);
        assert!(verify("sandbox-api-key", &message, expected));
        assert!(verify("sandbox-api-key", &message, &expected.to_uppercase()));
        assert!(!verify("another-key", &message, expected));
        assert!(!verify("sandbox-api-key", &message, "zz"));

        // A GET signs an empty body: the message still ends with the body's line.
        let message = request_message("GET", "/v1/payments/JY20260101x1", 1_700_000_000, "n1", b"");
        assert_eq!(
            sign("sandbox-api-key", &message),
            "1ca7bee28f8fb131277ec6008088a4e990cac8aef856b83379031e88c3d8afd1"
        );
    }

    #[test]
    fn notification_signature_matches_an_independent_vector() {
        let message = notification_message(1_700_000_000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", br#"{"id":"EV-1"}"#);
        assert_eq!(
            sign("sandbox-notify-key", &message),
            "5313f87f560ae7d77bb53d4d8a6a4dedee1c872ca8494a282024f1af916985bd"
        );
    }

    #[test]
    fn nonces_differ() {
        assert_eq!(nonce().len(), 32);
        assert_ne!(nonce(), nonce());
    }
}
