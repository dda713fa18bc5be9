//! A local Tencent Cloud SMS peer: accepts `SendSms` only with a valid TC3-HMAC-SHA256
//! signature, records each message, and logs the code with `tracing::info!` so a
//! developer can sign in on the demo. Point [`super::SmsConfig::base_url`] at
//! [`SmsSandboxHandle::base_url`].
//!
//! Errors come back the way Tencent sends them: HTTP 200 with `Response.Error` for
//! request-level failures (AuthFailure.SignatureFailure, AuthFailure.SignatureExpire,
//! AuthFailure.SecretIdNotFound, ...), or a per-number `SendStatusSet[].Code`. Two
//! reserved numbers fail per number: [`RATE_LIMITED_PHONE`] and [`BLOCKED_PHONE`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::tc3;
use super::tencent::{ACTION, SERVICE, VERSION};
use super::to_e164;
use crate::mask_phone;

/// Answers LimitExceeded.PhoneNumberOneHourLimit.
pub const RATE_LIMITED_PHONE: &str = "13900000045";
/// Answers FailedOperation.PhoneNumberInBlacklist.
pub const BLOCKED_PHONE: &str = "13900000099";

/// Tencent accepts a request whose timestamp is within 5 minutes of its clock.
const MAX_SKEW_SECS: i64 = 300;

#[derive(Clone, Debug)]
pub struct SmsSandboxConfig {
    pub secret_id: String,
    pub secret_key: String,
    pub sdk_app_id: String,
}

impl Default for SmsSandboxConfig {
    fn default() -> Self {
        Self {
            secret_id: "AKIDsandbox0000".into(),
            secret_key: "sandbox-secret-key".into(),
            sdk_app_id: "1400000000".into(),
        }
    }
}

/// A message the sandbox accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSms {
    /// E.164, as sent.
    pub phone: String,
    pub sign_name: String,
    pub template_id: String,
    pub params: Vec<String>,
}

/// Controls a running sandbox. Clones share it; the server stops on [`Self::shutdown`] or
/// when the last clone is dropped.
#[derive(Clone)]
pub struct SmsSandboxHandle {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    state: Arc<Peer>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tx) = lock(&self.shutdown).take() {
            let _ = tx.send(());
        }
    }
}

impl SmsSandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The first template parameter (the code) of the last message to `phone`, given as
    /// 13800138000 or +8613800138000.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        let e164 = to_e164(phone)?;
        lock(&self.inner.state.sent).iter().rev().find(|m| m.phone == e164).and_then(|m| m.params.first().cloned())
    }

    pub fn messages(&self) -> Vec<SentSms> {
        lock(&self.inner.state.sent).clone()
    }

    /// How many requests were refused for their signature or credentials.
    pub fn auth_failures(&self) -> usize {
        *lock(&self.inner.state.auth_failures)
    }

    pub fn shutdown(&self) {
        if let Some(tx) = lock(&self.inner.shutdown).take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the sandbox on `addr` (port 0 picks a free port) and returns where it listens.
pub async fn spawn_sms_sandbox(
    addr: SocketAddr,
    config: SmsSandboxConfig,
) -> std::io::Result<(SocketAddr, SmsSandboxHandle)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(Peer { config, sent: Mutex::default(), auth_failures: Mutex::default() });
    let router = Router::new().route("/", post(send_sms)).with_state(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "SMS sandbox stopped");
        }
    });
    tracing::info!(%addr, "SMS sandbox listening");
    let inner = Inner { addr, state, shutdown: Mutex::new(Some(tx)) };
    Ok((addr, SmsSandboxHandle { inner: Arc::new(inner) }))
}

struct Peer {
    config: SmsSandboxConfig,
    sent: Mutex<Vec<SentSms>>,
    auth_failures: Mutex<usize>,
}

impl Peer {
    /// Checks the TC3 signature over what actually arrived. `Err` is Tencent's error code.
    fn verify(&self, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<(), &'static str> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let auth =
            header("authorization").and_then(tc3::parse_authorization).ok_or("AuthFailure.InvalidAuthorization")?;
        if auth.secret_id != self.config.secret_id {
            return Err("AuthFailure.SecretIdNotFound");
        }
        let timestamp: i64 = header("x-tc-timestamp").and_then(|t| t.parse().ok()).ok_or("MissingParameter")?;
        if (chrono::Utc::now().timestamp() - timestamp).abs() > MAX_SKEW_SECS {
            return Err("AuthFailure.SignatureExpire");
        }
        if auth.date != tc3::utc_date(timestamp) || auth.service != SERVICE {
            return Err("AuthFailure.InvalidAuthorization");
        }
        // Content-Type and Host must be signed; any other header named must be present.
        if !["content-type", "host"].iter().all(|h| auth.signed_headers.iter().any(|s| s == h)) {
            return Err("AuthFailure.SignatureFailure");
        }
        let mut signed = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            signed.push((name.as_str(), header(name).ok_or("AuthFailure.SignatureFailure")?));
        }
        let request = tc3::Request {
            method: "POST",
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &signed,
            payload: body,
        };
        let (canonical, _) = tc3::canonical_request(&request);
        let expected = tc3::signature(
            &self.config.secret_key,
            &auth.date,
            SERVICE,
            &tc3::string_to_sign(timestamp, SERVICE, &canonical),
        );
        if !tc3::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Err("AuthFailure.SignatureFailure");
        }
        Ok(())
    }
}

async fn send_sms(State(peer): State<Arc<Peer>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if let Err(code) = peer.verify(&headers, &uri, &body) {
        *lock(&peer.auth_failures) += 1;
        tracing::warn!(code, "SMS sandbox refused a request");
        return api_error(code, "the request's signature or credentials were refused");
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if header("x-tc-action") != ACTION {
        return api_error("InvalidAction", "only SendSms is served here");
    }
    if header("x-tc-version") != VERSION {
        return api_error("NoSuchVersion", "only 2021-01-11 is served here");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return api_error("InvalidParameter", "the body is not JSON");
    };
    let strings = |key: &str| -> Vec<String> {
        request
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let field = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    if field("SmsSdkAppId") != peer.config.sdk_app_id {
        return api_error("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "unknown SmsSdkAppId");
    }
    let (phones, params) = (strings("PhoneNumberSet"), strings("TemplateParamSet"));
    if phones.is_empty() || field("TemplateId").is_empty() {
        return api_error("MissingParameter", "PhoneNumberSet and TemplateId are required");
    }
    let statuses: Vec<Value> =
        phones.iter().map(|phone| deliver(&peer, phone, &field("SignName"), &field("TemplateId"), &params)).collect();
    Json(json!({ "Response": { "SendStatusSet": statuses, "RequestId": request_id() } })).into_response()
}

/// Records one message and answers its SendStatus.
fn deliver(peer: &Peer, phone: &str, sign_name: &str, template_id: &str, params: &[String]) -> Value {
    let status = |code: &str, message: &str| json!({ "SerialNo": request_id(), "PhoneNumber": phone, "Fee": 1, "SessionContext": "", "Code": code, "Message": message, "IsoCode": "CN" });
    let Some(e164) = to_e164(phone) else {
        return status("InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number");
    };
    let national = e164.trim_start_matches("+86");
    if national == RATE_LIMITED_PHONE {
        return status("LimitExceeded.PhoneNumberOneHourLimit", "the number reached its hourly limit");
    }
    if national == BLOCKED_PHONE {
        return status("FailedOperation.PhoneNumberInBlacklist", "the number is blacklisted");
    }
    let code = params.first().map(String::as_str).unwrap_or_default();
    // The one place a sign-in code is logged on purpose: the demo's developer reads it
    // here. The number stays masked, like everywhere else.
    tracing::info!(phone = %mask_phone(&e164), code, sign_name, template_id, "SMS sandbox: sign-in code {code} for {}", mask_phone(&e164));
    lock(&peer.sent).push(SentSms {
        phone: e164,
        sign_name: sign_name.to_owned(),
        template_id: template_id.to_owned(),
        params: params.to_vec(),
    });
    status("Ok", "send success")
}

fn api_error(code: &str, message: &str) -> Response {
    Json(json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": request_id() } }))
        .into_response()
}

fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
