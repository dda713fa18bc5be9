//! How a pump controller ("device", F1) proves who it is on every request: HMAC-SHA256
//! under the device's own secret over a canonical form of the request.
//!
//! Headers of a signed request:
//!
//! | header        | value                                                          |
//! |---------------|----------------------------------------------------------------|
//! | `X-Device-Id` | the device code, 1–64 of `[A-Za-z0-9_-]`                       |
//! | `X-Timestamp` | unix seconds, decimal, no sign, no leading zero                |
//! | `X-Nonce`     | 16–64 of `[A-Za-z0-9_-]`, fresh for every request (and retry)  |
//! | `X-Signature` | lowercase hex of HMAC-SHA256(secret, canonical request)        |
//!
//! The canonical request ([`canonical_request`]) is
//!
//! ```text
//! METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nHEX(SHA256(body))\n
//! ```
//!
//! with the method in upper case and the path exactly as sent on the request line,
//! query string included (`/api/v1/device/config`, `/api/v1/x?a=1`). An empty body hashes
//! to `e3b0c442…b855`. The secret is used as the bytes it is given (the device secret as
//! issued, not decoded from hex or base64).
//!
//! A request is accepted when its timestamp is within [`MAX_SKEW_S`] of the server's
//! clock and the signature matches ([`verify`], constant-time). **Replays are the
//! server's job**: this module is pure, so the server must also remember every
//! (device, nonce) it accepted for at least [`NONCE_RETENTION_S`] (= 2 × `MAX_SKEW_S`: a
//! timestamp may lie `MAX_SKEW_S` in the future of one clock and `MAX_SKEW_S` in the past
//! of another) and refuse a nonce seen again, *after* verifying the signature (so that a
//! forger cannot burn a device's nonces).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const MAX_SKEW_S: i64 = 300;

/// How long the server must remember an accepted nonce, in seconds.
pub const NONCE_RETENTION_S: i64 = 2 * MAX_SKEW_S;

pub const HEADER_DEVICE_ID: &str = "X-Device-Id";
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
pub const HEADER_NONCE: &str = "X-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Signature";

/// Why a device request was refused. Each variant has a stable code ([`Self::code`]) and a
/// zh-CN message ([`Self::message_zh`]); the payload names the header concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    #[error("timestamp outside the allowed clock skew")]
    StaleTimestamp,
    #[error("signature does not match")]
    BadSignature,
}

impl DeviceAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "device_auth_missing",
            Self::MalformedHeader(_) => "device_auth_malformed",
            Self::StaleTimestamp => "device_timestamp_stale",
            Self::BadSignature => "device_signature_invalid",
        }
    }

    pub fn message_zh(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "设备请求缺少签名请求头",
            Self::MalformedHeader(_) => "设备请求的签名请求头格式不正确",
            Self::StaleTimestamp => "设备请求的时间戳与服务器时间相差超过 5 分钟，请校准设备时钟",
            Self::BadSignature => "设备请求签名校验失败",
        }
    }

    /// The header concerned, when there is one.
    pub fn header(&self) -> Option<&'static str> {
        match self {
            Self::MissingHeader(h) | Self::MalformedHeader(h) => Some(h),
            Self::StaleTimestamp => Some(HEADER_TIMESTAMP),
            Self::BadSignature => Some(HEADER_SIGNATURE),
        }
    }
}

/// The string that is signed; see the module documentation.
pub fn canonical_request(method: &str, path_and_query: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!("{}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_hash}\n", method.to_ascii_uppercase())
}

fn mac(secret: &[u8], canonical: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(canonical.as_bytes());
    mac
}

/// Lowercase hex of HMAC-SHA256(secret, canonical).
pub fn sign(secret: &[u8], canonical: &str) -> String {
    hex::encode(mac(secret, canonical).finalize().into_bytes())
}

/// A device code: 1–64 of `[A-Za-z0-9_-]`.
pub fn is_valid_device_code(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(is_token_byte)
}

/// A nonce: 16–64 of `[A-Za-z0-9_-]`.
pub fn is_valid_nonce(s: &str) -> bool {
    (16..=64).contains(&s.len()) && s.bytes().all(is_token_byte)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Unix seconds, decimal digits only, no leading zero (so the canonical form, which
/// prints the number, is exactly what the device sent). At most 12 digits.
fn parse_timestamp(s: &str) -> Option<i64> {
    let ok = (1..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

/// The four signature headers of a request, each checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub device_code: String,
    pub timestamp: i64,
    pub nonce: String,
    /// 64 lowercase hex digits.
    pub signature: String,
}

impl SignedHeaders {
    /// Reads and checks the headers; `get_header` looks a header up by name (as written
    /// in the `HEADER_*` constants; HTTP header names are case-insensitive, so a header
    /// map lookup does). A missing header is reported before a malformed one, in the
    /// order device id, timestamp, nonce, signature.
    pub fn parse<'h>(get_header: impl Fn(&str) -> Option<&'h str>) -> Result<SignedHeaders, DeviceAuthError> {
        let get = |name: &'static str| get_header(name).ok_or(DeviceAuthError::MissingHeader(name));
        let (device_code, timestamp, nonce, signature) =
            (get(HEADER_DEVICE_ID)?, get(HEADER_TIMESTAMP)?, get(HEADER_NONCE)?, get(HEADER_SIGNATURE)?);
        if !is_valid_device_code(device_code) {
            return Err(DeviceAuthError::MalformedHeader(HEADER_DEVICE_ID));
        }
        let timestamp = parse_timestamp(timestamp).ok_or(DeviceAuthError::MalformedHeader(HEADER_TIMESTAMP))?;
        if !is_valid_nonce(nonce) {
            return Err(DeviceAuthError::MalformedHeader(HEADER_NONCE));
        }
        let hex_ok = signature.len() == 64 && signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok {
            return Err(DeviceAuthError::MalformedHeader(HEADER_SIGNATURE));
        }
        Ok(SignedHeaders {
            device_code: device_code.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature: signature.to_owned(),
        })
    }
}

/// Checks a parsed request against the device's secret: the timestamp first
/// (|now − timestamp| ≤ [`MAX_SKEW_S`]), then the signature, compared in constant time.
/// The caller still has to refuse a replayed nonce (see the module documentation).
pub fn verify(
    secret: &[u8],
    headers: &SignedHeaders,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), DeviceAuthError> {
    if now_unix.abs_diff(headers.timestamp) > MAX_SKEW_S.unsigned_abs() {
        return Err(DeviceAuthError::StaleTimestamp);
    }
    let given = hex::decode(&headers.signature).map_err(|_| DeviceAuthError::MalformedHeader(HEADER_SIGNATURE))?;
    let canonical = canonical_request(method, path_and_query, headers.timestamp, &headers.nonce, body);
    // `verify_slice` compares in constant time (hmac's `CtOutput`).
    mac(secret, &canonical).verify_slice(&given).map_err(|_| DeviceAuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"sale_id":"S1","amount_fen":31560}"#;
    const TS: i64 = 1_767_225_600;
    const NONCE: &str = "n0nce-0123456789abcdef";

    /// Computed independently with Python's standard library:
    ///
    /// ```sh
    /// python3 -c 'import hmac,hashlib; body=b"{\"sale_id\":\"S1\",\"amount_fen\":31560}"
    /// c="POST\n/api/v1/device/sales?x=1\n1767225600\nn0nce-0123456789abcdef\n"+hashlib.sha256(body).hexdigest()+"\n"
    /// print(hashlib.sha256(body).hexdigest()); print(hmac.new(b"device-secret-0001",c.encode(),hashlib.sha256).hexdigest())'
    /// ```
    const BODY_SHA256: &str = "e897b64b0312ffe08a55c2141b70f2d5e1962d6d0be7b733117e36f900975eb3";
    const EXPECTED: &str = "9dd4d1331c7293a912ec9d561c9f70dea038979858d4bad4b8df33ef771bce68";

    fn headers(signature: &str) -> SignedHeaders {
        SignedHeaders { device_code: "KM01-P1".into(), timestamp: TS, nonce: NONCE.into(), signature: signature.into() }
    }

    #[test]
    fn fixed_vector_from_python() {
        let c = canonical_request("post", "/api/v1/device/sales?x=1", TS, NONCE, BODY);
        assert_eq!(c, format!("POST\n/api/v1/device/sales?x=1\n1767225600\n{NONCE}\n{BODY_SHA256}\n"));
        assert_eq!(sign(b"device-secret-0001", &c), EXPECTED);
    }

    #[test]
    fn empty_body_vector_from_python() {
        // python3 -c 'import hmac,hashlib; c="GET\n/api/v1/device/config\n1767225600\nAAAAAAAAAAAAAAAA\n"
        //   +hashlib.sha256(b"").hexdigest()+"\n"; print(hmac.new(b"k",c.encode(),hashlib.sha256).hexdigest())'
        let c = canonical_request("GET", "/api/v1/device/config", TS, "AAAAAAAAAAAAAAAA", b"");
        assert!(c.contains("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"));
        assert_eq!(sign(b"k", &c), "baeb73db2efe8dbf53da192c85d8b7bd7c86f3f0e20bf2d296a8490d755f085e");
    }

    #[test]
    fn verify_accepts_the_vector_and_rejects_any_change() {
        let secret = b"device-secret-0001";
        let h = headers(EXPECTED);
        let path = "/api/v1/device/sales?x=1";
        assert_eq!(verify(secret, &h, "POST", path, BODY, TS), Ok(()));
        assert_eq!(verify(secret, &h, "POST", path, BODY, TS + MAX_SKEW_S), Ok(()));
        assert_eq!(verify(secret, &h, "POST", path, BODY, TS - MAX_SKEW_S), Ok(()));
        let bad = Err(DeviceAuthError::BadSignature);
        assert_eq!(verify(b"device-secret-0002", &h, "POST", path, BODY, TS), bad);
        assert_eq!(verify(secret, &h, "PUT", path, BODY, TS), bad);
        assert_eq!(verify(secret, &h, "POST", "/api/v1/device/sales", BODY, TS), bad);
        assert_eq!(verify(secret, &h, "POST", "/api/v1/device/sales?x=2", BODY, TS), bad);
        assert_eq!(verify(secret, &h, "POST", path, br#"{"sale_id":"S1","amount_fen":31561}"#, TS), bad);
        let other_nonce = SignedHeaders { nonce: "n0nce-0123456789abcdeF".into(), ..h.clone() };
        assert_eq!(verify(secret, &other_nonce, "POST", path, BODY, TS), bad);
        let other_ts = SignedHeaders { timestamp: TS + 1, ..h.clone() };
        assert_eq!(verify(secret, &other_ts, "POST", path, BODY, TS), bad);
        let flipped = format!("{}{}", &EXPECTED[..63], if EXPECTED.ends_with('8') { '9' } else { '8' });
        assert_eq!(verify(secret, &headers(&flipped), "POST", path, BODY, TS), bad);
    }

    #[test]
    fn stale_timestamps_are_refused_before_the_signature_is_checked() {
        let h = headers(EXPECTED);
        let path = "/api/v1/device/sales?x=1";
        let stale = Err(DeviceAuthError::StaleTimestamp);
        assert_eq!(verify(b"device-secret-0001", &h, "POST", path, BODY, TS + MAX_SKEW_S + 1), stale);
        assert_eq!(verify(b"device-secret-0001", &h, "POST", path, BODY, TS - MAX_SKEW_S - 1), stale);
        assert_eq!(verify(b"wrong", &h, "POST", path, BODY, i64::MIN), stale);
        assert_eq!(verify(b"wrong", &h, "POST", path, BODY, i64::MAX), stale);
    }

    fn parse(pairs: &[(&'static str, &'static str)]) -> Result<SignedHeaders, DeviceAuthError> {
        SignedHeaders::parse(|name| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v))
    }

    const GOOD: [(&str, &str); 4] =
        [("x-device-id", "KM01-P1"), ("x-timestamp", "1767225600"), ("x-nonce", NONCE), ("x-signature", EXPECTED)];

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        GOOD.iter().map(|&(k, v)| if k.eq_ignore_ascii_case(name) { (k, value) } else { (k, v) }).collect()
    }

    #[test]
    fn parse_reads_and_checks_each_header() {
        assert_eq!(parse(&GOOD), Ok(headers(EXPECTED)));
        for (i, name) in [HEADER_DEVICE_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE].into_iter().enumerate() {
            let mut missing = GOOD.to_vec();
            missing.remove(i);
            assert_eq!(parse(&missing), Err(DeviceAuthError::MissingHeader(name)));
        }
        let malformed = |name: &'static str, value: &'static str| {
            assert_eq!(parse(&with(name, value)), Err(DeviceAuthError::MalformedHeader(name)), "{name}: {value:?}");
        };
        malformed(HEADER_DEVICE_ID, "");
        malformed(HEADER_DEVICE_ID, "KM01 P1");
        malformed(HEADER_DEVICE_ID, "站01");
        malformed(HEADER_DEVICE_ID, "a".repeat(65).leak());
        malformed(HEADER_TIMESTAMP, "");
        malformed(HEADER_TIMESTAMP, "-1767225600");
        malformed(HEADER_TIMESTAMP, "+1767225600");
        malformed(HEADER_TIMESTAMP, "01767225600");
        malformed(HEADER_TIMESTAMP, "1767225600.5");
        malformed(HEADER_TIMESTAMP, "9999999999999");
        malformed(HEADER_NONCE, "short-nonce");
        malformed(HEADER_NONCE, "n0nce-0123456789abcde/");
        malformed(HEADER_NONCE, "a".repeat(65).leak());
        malformed(HEADER_SIGNATURE, &EXPECTED[..62]);
        malformed(HEADER_SIGNATURE, "9DD4D1331C7293A912EC9D561C9F70DEA038979858D4BAD4B8DF33EF771BCE68");
        malformed(HEADER_SIGNATURE, "zz".repeat(32).leak());
        // The edges of the allowed shapes.
        assert!(parse(&with(HEADER_DEVICE_ID, "a".repeat(64).leak())).is_ok());
        assert!(parse(&with(HEADER_DEVICE_ID, "_")).is_ok());
        assert!(parse(&with(HEADER_NONCE, "A-_0A-_0A-_0A-_0")).is_ok());
        assert_eq!(parse(&with(HEADER_TIMESTAMP, "0")).unwrap().timestamp, 0);
    }

    #[test]
    fn codes_and_messages_are_stable() {
        let all = [
            DeviceAuthError::MissingHeader(HEADER_NONCE),
            DeviceAuthError::MalformedHeader(HEADER_NONCE),
            DeviceAuthError::StaleTimestamp,
            DeviceAuthError::BadSignature,
        ];
        let codes: Vec<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            ["device_auth_missing", "device_auth_malformed", "device_timestamp_stale", "device_signature_invalid"]
        );
        assert!(all.iter().all(|e| !e.message_zh().is_empty()));
        assert_eq!(all[0].header(), Some("X-Nonce"));
    }

    #[test]
    fn a_signature_made_here_verifies_here() {
        let body = br#"{"status":"lifted","totalizer":123456789}"#;
        let path = "/api/v1/device/nozzles/7/status";
        let c = canonical_request("POST", path, 1_700_000_000, "0123456789abcdefXYZ", body);
        let sig = sign(b"s3cret", &c);
        let h = SignedHeaders {
            device_code: "D1".into(),
            timestamp: 1_700_000_000,
            nonce: "0123456789abcdefXYZ".into(),
            signature: sig,
        };
        assert_eq!(verify(b"s3cret", &h, "POST", path, body, 1_700_000_123), Ok(()));
    }
}
