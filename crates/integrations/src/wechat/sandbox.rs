//! A local WeChat peer speaking the same HTTP protocol as `api.weixin.qq.com`, for tests
//! and the demo. Point [`super::WechatConfig::base_url`] at [`WechatSandboxHandle::base_url`].
//!
//! Login codes (`js_code`):
//! - `test-<name>` → openid `o_sandbox_<name>`: the same name always gives the same
//!   member, so a member can sign in again. `test-<name>-unionid` also returns unionid
//!   `u_sandbox_<name>`. A `.<anything>` suffix (`test-alice.7f3a`) is ignored for the
//!   openid and makes a fresh code, as each real `wx.login` does.
//! - Codes are single-use (a second use answers 40163) and valid 5 minutes from when the
//!   sandbox first sees them or [`WechatSandboxHandle::issue_code`] minted them (later:
//!   40029). Used codes are forgotten 10 minutes after issue.
//! - Reserved codes answer errors: `err-40029`, `err-45011`, `err-40226`, `err-busy` (-1),
//!   and `err-malformed` (a non-JSON body).
//! - A wrong appid answers 40013, a wrong secret 40125.
//!
//! Phone codes (getuserphonenumber): `phone-<digits>` → that number with our appid in the
//! watermark; `phone-otherapp-<digits>` → the watermark of another app; `phone-err-40029`,
//! `phone-err-45011`, `phone-err-busy` → errors. Single-use (reuse answers 40029), 5 minutes.
//! The access token endpoint issues tokens living `token_ttl`; a wrong or expired token
//! answers 40001 / 42001.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// WeChat: a login or phone code lives 5 minutes.
const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// How long a code is remembered (used or not) before the sandbox forgets it.
const CODE_MEMORY: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
pub struct WechatSandboxConfig {
    pub appid: String,
    pub secret: String,
    /// `expires_in` of issued access tokens (WeChat: 7200 s).
    pub token_ttl: Duration,
}

impl Default for WechatSandboxConfig {
    fn default() -> Self {
        Self {
            appid: "wx0000sandbox0000".into(),
            secret: "sandbox-app-secret".into(),
            token_ttl: Duration::from_secs(7200),
        }
    }
}

/// Controls a running sandbox. Clones share it; the server stops on [`Self::shutdown`] or
/// when the last clone is dropped.
#[derive(Clone)]
pub struct WechatSandboxHandle {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    state: Arc<Sandbox>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(tx) = lock(&self.shutdown).take() {
            let _ = tx.send(());
        }
    }
}

impl WechatSandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT`, for [`super::WechatConfig::base_url`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Mints a fresh login code for `name`, valid 5 minutes from now.
    pub fn issue_code(&self, name: &str, with_unionid: bool) -> String {
        let suffix = if with_unionid { "-unionid" } else { "" };
        let code = format!("test-{name}{suffix}.{}", random_hex(6));
        let now = self.inner.state.now();
        lock(&self.inner.state.codes).insert(code.clone(), CodeState { seen_at: now, used: false });
        code
    }

    /// Moves the sandbox's clock forward (code and token expiry) without waiting.
    pub fn advance(&self, by: Duration) {
        *lock(&self.inner.state.clock_offset) += by;
    }

    /// Invalidates every issued access token, as issuing one elsewhere eventually does.
    pub fn revoke_tokens(&self) {
        lock(&self.inner.state.tokens).clear();
    }

    /// How many times `/cgi-bin/token` was called.
    pub fn token_requests(&self) -> usize {
        self.inner.state.token_requests.load(Ordering::SeqCst)
    }

    /// How many times `/sns/jscode2session` was called.
    pub fn session_requests(&self) -> usize {
        self.inner.state.session_requests.load(Ordering::SeqCst)
    }

    pub fn shutdown(&self) {
        if let Some(tx) = lock(&self.inner.shutdown).take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the sandbox on `addr` (port 0 picks a free port) and returns where it listens.
pub async fn spawn_wechat_sandbox(
    addr: SocketAddr,
    config: WechatSandboxConfig,
) -> std::io::Result<(SocketAddr, WechatSandboxHandle)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(Sandbox {
        config,
        codes: Mutex::default(),
        tokens: Mutex::default(),
        token_requests: AtomicUsize::new(0),
        session_requests: AtomicUsize::new(0),
        clock_offset: Mutex::default(),
    });
    let router = Router::new()
        .route("/sns/jscode2session", get(jscode2session))
        .route("/cgi-bin/token", get(access_token))
        .route("/wxa/business/getuserphonenumber", post(phone_number))
        .with_state(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "WeChat sandbox stopped");
        }
    });
    tracing::info!(%addr, "WeChat sandbox listening");
    let inner = Inner { addr, state, shutdown: Mutex::new(Some(tx)) };
    Ok((addr, WechatSandboxHandle { inner: Arc::new(inner) }))
}

struct Sandbox {
    config: WechatSandboxConfig,
    codes: Mutex<HashMap<String, CodeState>>,
    tokens: Mutex<HashMap<String, Instant>>,
    token_requests: AtomicUsize,
    session_requests: AtomicUsize,
    clock_offset: Mutex<Duration>,
}

struct CodeState {
    seen_at: Instant,
    used: bool,
}

impl Sandbox {
    fn now(&self) -> Instant {
        Instant::now() + *lock(&self.clock_offset)
    }

    /// Marks `code` used. `Err(errcode)` when it was used before or has expired.
    fn consume(&self, code: &str, reuse_errcode: i64) -> Result<(), i64> {
        let now = self.now();
        let mut codes = lock(&self.codes);
        codes.retain(|_, c| now.duration_since(c.seen_at) < CODE_MEMORY);
        let state = codes.entry(code.to_owned()).or_insert(CodeState { seen_at: now, used: false });
        if state.used {
            return Err(reuse_errcode);
        }
        state.used = true;
        if now.duration_since(state.seen_at) > CODE_LIFETIME {
            return Err(40029);
        }
        Ok(())
    }

    /// The error answer for a wrong appid or secret, if either is wrong.
    fn app_error(&self, q: &HashMap<String, String>) -> Option<Response> {
        if q.get("appid").map(String::as_str) != Some(self.config.appid.as_str()) {
            return Some(wx_error(40013, "invalid appid"));
        }
        if q.get("secret").map(String::as_str) != Some(self.config.secret.as_str()) {
            return Some(wx_error(40125, "invalid appsecret"));
        }
        None
    }
}

async fn jscode2session(State(sb): State<Arc<Sandbox>>, Query(q): Query<HashMap<String, String>>) -> Response {
    sb.session_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(answer) = sb.app_error(&q) {
        return answer;
    }
    if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return wx_error(40002, "invalid grant_type");
    }
    let Some(js_code) = q.get("js_code").filter(|c| !c.is_empty()) else {
        return wx_error(41008, "missing code");
    };
    match js_code.as_str() {
        "err-40029" => return wx_error(40029, "invalid code"),
        "err-45011" => return wx_error(45011, "api minute-quota reach limit  mustslower  retry next minute"),
        "err-40226" => return wx_error(40226, "code blocked"),
        "err-busy" => return wx_error(-1, "system error"),
        "err-malformed" => {
            return ([(CONTENT_TYPE, "text/html")], "<html><body>502 Bad Gateway</body></html>").into_response();
        }
        _ => {}
    }
    let Some(login) = parse_login_code(js_code) else {
        return wx_error(40029, "invalid code");
    };
    match sb.consume(js_code, 40163) {
        Err(40163) => return wx_error(40163, "code been used"),
        Err(errcode) => return wx_error(errcode, "invalid code"),
        Ok(()) => {}
    }
    tracing::debug!(name = %login.name, "WeChat sandbox signed a member in");
    let mut body = json!({ "openid": format!("o_sandbox_{}", login.name), "session_key": random_hex(16) });
    if login.unionid {
        body["unionid"] = json!(format!("u_sandbox_{}", login.name));
    }
    // WeChat answers jscode2session as text/plain; the client must parse it regardless.
    text_json(&body)
}

async fn access_token(State(sb): State<Arc<Sandbox>>, Query(q): Query<HashMap<String, String>>) -> Response {
    sb.token_requests.fetch_add(1, Ordering::SeqCst);
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return wx_error(40002, "invalid grant_type");
    }
    if let Some(answer) = sb.app_error(&q) {
        return answer;
    }
    let token = random_hex(32);
    let ttl = sb.config.token_ttl;
    lock(&sb.tokens).insert(token.clone(), sb.now() + ttl);
    Json(json!({ "access_token": token, "expires_in": ttl.as_secs() })).into_response()
}

async fn phone_number(
    State(sb): State<Arc<Sandbox>>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    match lock(&sb.tokens).get(&token) {
        None => return wx_error(40001, "invalid credential, access_token is invalid or not latest"),
        Some(expires_at) if sb.now() >= *expires_at => return wx_error(42001, "access_token expired"),
        Some(_) => {}
    }
    let Some(code) =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("code")?.as_str().map(str::to_owned))
    else {
        return wx_error(47001, "data format error");
    };
    match code.as_str() {
        "phone-err-40029" => return wx_error(40029, "invalid code"),
        "phone-err-45011" => return wx_error(45011, "api minute-quota reach limit  mustslower  retry next minute"),
        "phone-err-busy" => return wx_error(-1, "system error"),
        _ => {}
    }
    let Some((digits, other_app)) = parse_phone_code(&code) else {
        return wx_error(40029, "invalid code");
    };
    if let Err(errcode) = sb.consume(&code, 40029) {
        return wx_error(errcode, "invalid code");
    }
    let appid = if other_app { "wx0000another0app" } else { sb.config.appid.as_str() };
    let timestamp = chrono::Utc::now().timestamp();
    Json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": digits,
            "purePhoneNumber": digits,
            "countryCode": "86",
            "watermark": { "timestamp": timestamp, "appid": appid }
        }
    }))
    .into_response()
}

struct LoginCode {
    name: String,
    unionid: bool,
}

/// `test-<name>[-unionid][.<nonce>]`, name of letters, digits, `_` and `-`.
fn parse_login_code(code: &str) -> Option<LoginCode> {
    let rest = code.strip_prefix("test-")?;
    let body = rest.split_once('.').map_or(rest, |(body, _nonce)| body);
    let (name, unionid) = match body.strip_suffix("-unionid") {
        Some(name) => (name, true),
        None => (body, false),
    };
    let valid =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| LoginCode { name: name.to_owned(), unionid })
}

/// `phone-[otherapp-]<5–15 digits>[.<nonce>]` → (digits, watermark of another app).
fn parse_phone_code(code: &str) -> Option<(String, bool)> {
    let rest = code.strip_prefix("phone-")?;
    let body = rest.split_once('.').map_or(rest, |(body, _nonce)| body);
    let (digits, other_app) = match body.strip_prefix("otherapp-") {
        Some(digits) => (digits, true),
        None => (body, false),
    };
    let valid = (5..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    valid.then(|| (digits.to_owned(), other_app))
}

/// WeChat's error shape: HTTP 200, `{errcode, errmsg}` with a request id hint.
fn wx_error(errcode: i64, errmsg: &str) -> Response {
    text_json(&json!({ "errcode": errcode, "errmsg": format!("{errmsg}, rid: sandbox-{}", random_hex(4)) }))
}

fn text_json(body: &Value) -> Response {
    ([(CONTENT_TYPE, "text/plain")], body.to_string()).into_response()
}

fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

/// A panic while holding one of these locks leaves plain data behind, still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_codes_name_the_member() {
        let c = parse_login_code("test-alice").unwrap();
        assert_eq!((c.name.as_str(), c.unionid), ("alice", false));
        let c = parse_login_code("test-bob-unionid.9f").unwrap();
        assert_eq!((c.name.as_str(), c.unionid), ("bob", true));
        let c = parse_login_code("test-li-lei.1").unwrap();
        assert_eq!(c.name, "li-lei");
        assert!(parse_login_code("test-").is_none());
        assert!(parse_login_code("test-a b").is_none());
        assert!(parse_login_code("alice").is_none());
    }

    #[test]
    fn phone_codes_carry_digits() {
        assert_eq!(parse_phone_code("phone-13800138000"), Some(("13800138000".into(), false)));
        assert_eq!(parse_phone_code("phone-otherapp-13800138000.2"), Some(("13800138000".into(), true)));
        assert_eq!(parse_phone_code("phone-12ab"), None);
    }
}
