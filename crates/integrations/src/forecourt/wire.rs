//! Plumbing shared by the device and API clients: URLs under the base, retries that reuse
//! the idempotency key, problem+json errors, random nonces and keys.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::ForecourtError;
use crate::http::{InvalidBaseUrl, client, describe_json_error, endpoint, parse_base, transport_reason};

/// Per attempt, connect included. The server's own request timeout is longer than a pump
/// would wait; a pump retries instead.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Further attempts after a transport failure or a 502/503/504.
pub(crate) const RETRIES: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
}

impl Verb {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
        }
    }

    fn method(self) -> reqwest::Method {
        match self {
            Verb::Get => reqwest::Method::GET,
            Verb::Post => reqwest::Method::POST,
            Verb::Put => reqwest::Method::PUT,
        }
    }
}

/// Extra headers for one attempt, given the method, the path-and-query as sent and the
/// body bytes (the device client signs these; a fresh nonce per attempt).
pub(crate) type HeaderFn<'a> = &'a (dyn Fn(Verb, &str, &[u8]) -> Vec<(&'static str, String)> + Send + Sync);

#[derive(Debug, Clone)]
pub(crate) struct Wire {
    base: Url,
    http: reqwest::Client,
    retries: u32,
}

/// What a successful call returned.
pub(crate) struct Answer {
    pub body: Vec<u8>,
}

impl Wire {
    pub(crate) fn new(base_url: &str) -> Result<Wire, InvalidBaseUrl> {
        Ok(Wire { base: parse_base(base_url)?, http: client(TIMEOUT), retries: RETRIES })
    }

    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Wire {
        self.http = client(timeout);
        self
    }

    pub(crate) fn with_retries(mut self, retries: u32) -> Wire {
        self.retries = retries;
        self
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `path` (which may carry a `?query`) under the base URL.
    pub(crate) fn url(&self, path: &str) -> Url {
        let (p, q) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = endpoint(&self.base, p);
        url.set_query(q);
        url
    }

    /// An absolute URL as given, or a path under the base.
    pub(crate) fn resolve(&self, url_or_path: &str) -> Url {
        match Url::parse(url_or_path) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => self.url(url_or_path),
        }
    }

    /// Sends with retries; a 2xx answer is returned, anything else is an error.
    pub(crate) async fn send(
        &self,
        verb: Verb,
        url: Url,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
        headers: HeaderFn<'_>,
    ) -> Result<Answer, ForecourtError> {
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let path = url.path().to_owned();
        let bytes = body.unwrap_or_default();
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(verb.method(), url.clone());
            for (name, value) in headers(verb, &path_and_query, &bytes) {
                req = req.header(name, value);
            }
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            if verb != Verb::Get {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes.clone());
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(b) => Ok((status, b.to_vec())),
                        Err(e) => Err(transport_reason(&e)),
                    }
                }
                Err(e) => Err(transport_reason(&e)),
            };
            let retryable = match &outcome {
                Err(_) => true,
                Ok((status, _)) => matches!(status, 502..=504),
            };
            if retryable && attempt < self.retries {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                continue;
            }
            return match outcome {
                Err(reason) => Err(ForecourtError::Transport { method: verb.as_str(), path, reason }),
                Ok((status, body)) if (200..300).contains(&status) => Ok(Answer { body }),
                Ok((status, body)) => Err(problem(verb, path, status, &body)),
            };
        }
    }
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(&self, verb: Verb, url: &Url) -> Result<T, ForecourtError> {
        serde_json::from_slice(&self.body).map_err(|e| ForecourtError::BadResponse {
            method: verb.as_str(),
            path: url.path().to_owned(),
            reason: describe_json_error(&e),
        })
    }
}

#[derive(Deserialize)]
struct ProblemBody {
    code: Option<String>,
    detail: Option<String>,
    title: Option<String>,
}

fn problem(verb: Verb, path: String, status: u16, body: &[u8]) -> ForecourtError {
    let parsed: Option<ProblemBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|p| p.code.clone()).unwrap_or_else(|| format!("http_{status}"));
    let detail = parsed.and_then(|p| p.detail.or(p.title)).unwrap_or_default();
    ForecourtError::Api { method: verb.as_str(), path, status, code, detail }
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh request nonce: 32 random letters and digits (from the OS-seeded thread RNG,
/// never the simulator's seeded one: nonces must not repeat across runs).
pub fn new_nonce() -> String {
    let mut rng = rand::rng();
    (0..32).map(|_| ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char).collect()
}

/// A random UUID-v4-shaped idempotency key.
pub fn new_idempotency_key() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Random lowercase hex of `bytes` bytes.
pub(crate) fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_and_keys_have_their_shapes() {
        let n = new_nonce();
        assert!(jiayou_domain::device_auth::is_valid_nonce(&n), "{n}");
        assert_ne!(n, new_nonce());
        let k = new_idempotency_key();
        assert_eq!(k.len(), 36);
        assert_eq!(&k[14..15], "4");
        assert_ne!(k, new_idempotency_key());
    }

    #[test]
    fn urls_keep_the_base_prefix_and_the_query() {
        let w = Wire::new("http://127.0.0.1:9/jiayou/").unwrap();
        assert_eq!(w.url("/api/v1/device/config").as_str(), "http://127.0.0.1:9/jiayou/api/v1/device/config");
        assert_eq!(w.url("/api/v1/x?a=1&b=2").as_str(), "http://127.0.0.1:9/jiayou/api/v1/x?a=1&b=2");
        assert_eq!(w.resolve("/pay/confirm?t=1").as_str(), "http://127.0.0.1:9/jiayou/pay/confirm?t=1");
        assert_eq!(w.resolve("http://10.0.0.1:7/c?t=1").as_str(), "http://10.0.0.1:7/c?t=1");
    }

    #[test]
    fn problems_keep_code_and_detail() {
        let e = problem(Verb::Post, "/p".into(), 409, br#"{"code":"nozzle_held","detail":"x","title":"t"}"#);
        assert_eq!(e.code(), "nozzle_held");
        assert_eq!(e.status(), Some(409));
        assert_eq!(problem(Verb::Get, "/p".into(), 500, b"oops").code(), "http_500");
    }
}
