//! TencentCloud API 3.0 request signing, TC3-HMAC-SHA256.
//!
//! Steps (Tencent's "签名方法 v3" doc, <https://cloud.tencent.com/document/api/382/52072>):
//! 1. CanonicalRequest = method \n path \n query \n CanonicalHeaders \n SignedHeaders \n
//!    hex(sha256(payload)); CanonicalHeaders are `key:value\n` with key and value
//!    lower-cased and trimmed, sorted by key; SignedHeaders the keys joined by `;`.
//! 2. StringToSign = "TC3-HMAC-SHA256" \n timestamp \n date/service/tc3_request \n
//!    hex(sha256(CanonicalRequest)), date being the UTC date of the timestamp.
//! 3. key = HMAC(HMAC(HMAC("TC3"+SecretKey, date), service), "tc3_request");
//!    Signature = hex(HMAC(key, StringToSign)).
//! 4. Authorization: `TC3-HMAC-SHA256 Credential=id/date/service/tc3_request,
//!    SignedHeaders=..., Signature=...`.
//!
//! Checked against published vectors in the `vectors` module of `tests/sms.rs`. The SMS sandbox verifies
//! requests with these same functions, so the vectors are what make that check mean
//! something.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// One request to sign. `headers` are the signed headers (any case, any order).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// The canonical request and the `SignedHeaders` list.
pub fn canonical_request(req: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> =
        req.headers.iter().map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase())).collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        path,
        req.query,
        canonical_headers,
        signed_headers,
        sha256_hex(req.payload)
    );
    (canonical, signed_headers)
}

/// `YYYY-MM-DD` in UTC for a unix timestamp (the credential scope's date).
pub fn utc_date(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

pub fn string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{}/{service}/tc3_request\n{}",
        utc_date(timestamp),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex signature of `string_to_sign` with the key derived for (date, service).
pub fn signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// The whole `Authorization` header value for `req` sent at `timestamp` to `service`.
pub fn authorization(secret_id: &str, secret_key: &str, service: &str, timestamp: i64, req: &Request<'_>) -> String {
    let (canonical, signed_headers) = canonical_request(req);
    let date = utc_date(timestamp);
    let sig = signature(secret_key, &date, service, &string_to_sign(timestamp, service, &canonical));
    format!(
        "{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, SignedHeaders={signed_headers}, Signature={sig}"
    )
}

/// The parts of an `Authorization` header, for the receiving side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        match key {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed = Some(val),
            "Signature" => signature = Some(val),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let (secret_id, date, service, terminator) = (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    if terminator != "tc3_request" || scope.next().is_some() {
        return None;
    }
    Some(Authorization {
        secret_id: secret_id.to_owned(),
        date: date.to_owned(),
        service: service.to_owned(),
        signed_headers: signed?.split(';').map(str::to_owned).collect(),
        signature: signature?.to_owned(),
    })
}

/// Equality that takes the same time wherever the first difference is, so a peer checking
/// signatures does not tell an attacker how many leading characters were right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_round_trips() {
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[("Host", "h"), ("Content-Type", "a/b")],
            payload: b"{}",
        };
        let header = authorization("AKID1", "key", "sms", 1_640_995_200, &req);
        let parsed = parse_authorization(&header).unwrap();
        assert_eq!(parsed.secret_id, "AKID1");
        assert_eq!(parsed.date, "2022-01-01");
        assert_eq!(parsed.service, "sms");
        assert_eq!(parsed.signed_headers, ["content-type", "host"]);
        assert_eq!(parsed.signature.len(), 64);
    }

    #[test]
    fn malformed_authorization_is_refused() {
        assert!(parse_authorization("Bearer x").is_none());
        assert!(
            parse_authorization("TC3-HMAC-SHA256 Credential=a/b/c/other, SignedHeaders=host, Signature=00").is_none()
        );
        assert!(parse_authorization("TC3-HMAC-SHA256 Credential=a/b/c/tc3_request, SignedHeaders=host").is_none());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
