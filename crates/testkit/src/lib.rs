//! Test harness: [`spawn_app`] starts the real HTTP server on port 0 over a fresh
//! database of the chosen backend, and [`TestApp`] talks to it over HTTP like a client.
//!
//! Backends: SQLite always; PostgreSQL when `JIAYOU_TEST_POSTGRES_URL` is set and MariaDB/
//! MySQL when `JIAYOU_TEST_MYSQL_URL` is set (each a server URL whose user may create
//! databases). Fresh databases are cheap on each engine (ARCHITECTURE.md, "Testing"):
//! SQLite copies a migrated template file, PostgreSQL clones a migrated template
//! database, MariaDB — whose DDL is slow — migrates one shared database per schema
//! version and tests isolate themselves by creating their own chain.

mod databases;
pub mod fixtures;

use std::net::SocketAddr;
use std::sync::Arc;

use jiayou_app::App;
use jiayou_app::channels::{ChannelEntry, PayChannels};
use jiayou_integrations::pay::alipay::{AlipayChannel, AlipayPeerConfig, AlipayPeerHandle, spawn_alipay_peer};
use jiayou_integrations::pay::wechat::{WechatPayChannel, WechatPeerConfig, WechatPeerHandle, spawn_wechat_peer};
use jiayou_integrations::pay::{PaySandboxConfig, PaySandboxHandle, SandboxChannel, spawn_pay_sandbox};
use jiayou_integrations::sms::{SmsConfig, SmsSandboxConfig, SmsSandboxHandle, TencentSms, spawn_sms_sandbox};
use jiayou_integrations::wechat::{
    WechatConfig, WechatHttp, WechatSandboxConfig, WechatSandboxHandle, spawn_wechat_sandbox,
};
use jiayou_store::crypto::KeyRing;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use databases::{Backend, TestDatabase};
#[doc(hidden)]
pub use jiayou_store::Db;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running server over its own database. Clones share the server, so concurrent
/// tests can move one into each spawned task.
#[derive(Clone)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub backend: Backend,
    /// The same application the server runs, for tests that check state directly.
    pub app: App,
    /// The local WeChat peer the app's WeChat adapter talks to (mint login codes with
    /// `issue_code`; phone codes are `phone-<digits>`).
    pub wechat: WechatSandboxHandle,
    /// The local Tencent SMS peer the app's SMS adapter talks to (`last_code(phone)`).
    pub sms: SmsSandboxHandle,
    /// The local payment channel peer (confirm payments, inject faults).
    pub pay: PaySandboxHandle,
    /// With [`spawn_app_with_channels`]: the local WeChat Pay v3 and Alipay peers, whose
    /// channels come before the sandbox's (WeChat is the default for app payments).
    pub wxpay: Option<WechatPeerHandle>,
    pub alipay: Option<AlipayPeerHandle>,
    client: reqwest::Client,
    _db: std::sync::Arc<TestDatabase>,
}

/// A response: status, parsed JSON body (Null when empty or not JSON), content type.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The problem `code`, for error assertions.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The problem's offending `field`.
    pub fn field(&self) -> &str {
        self.body["field"].as_str().unwrap_or("")
    }

    /// A response header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Starts the server on `backend`, or `None` when that backend is not configured. The
/// app's WeChat and SMS adapters are the real HTTP clients, pointed at local sandboxes
/// started for this server (two more listeners on port 0: cheap).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    Box::pin(spawn(backend, false, false)).await
}

/// Like [`spawn_app`], with the WeChat Pay v3 and Alipay channels too, each talking to
/// its own local peer (real signatures, real notification formats).
pub async fn spawn_app_with_channels(backend: Backend) -> Option<TestApp> {
    Box::pin(spawn(backend, false, true)).await
}

/// Like [`spawn_app`], configured as if behind a trusted reverse proxy
/// (`trust_forwarded_for`): client addresses come from `X-Forwarded-For`.
pub async fn spawn_app_behind_proxy(backend: Backend) -> Option<TestApp> {
    Box::pin(spawn(backend, true, false)).await
}

async fn spawn(backend: Backend, trust_forwarded_for: bool, channels: bool) -> Option<TestApp> {
    let db = TestDatabase::create(backend).await?;
    let store = jiayou_store::Db::connect(db.url()).await.expect("connect to test database");
    let localhost: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let wx_conf = WechatSandboxConfig::default();
    let (_, wechat) = spawn_wechat_sandbox(localhost, wx_conf.clone()).await.expect("WeChat sandbox");
    let sms_conf = SmsSandboxConfig::default();
    let (_, sms) = spawn_sms_sandbox(localhost, sms_conf.clone()).await.expect("SMS sandbox");
    let wechat_client =
        WechatHttp::new(WechatConfig::new(wx_conf.appid, wx_conf.secret).with_base_url(wechat.base_url()))
            .expect("sandbox URL is valid");
    let sms_client = TencentSms::new(
        SmsConfig::new(sms_conf.secret_id, sms_conf.secret_key, sms_conf.sdk_app_id, "加油站", "1110")
            .with_base_url(sms.base_url()),
    )
    .expect("sandbox URL is valid");
    // The payment channel is a separate local peer with its own keys; it notifies this
    // server, so the listener is bound first to know the callback address.
    let pay = spawn_pay_sandbox(PaySandboxConfig::default()).await.expect("payment sandbox");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    // A short client timeout, so tests of the "unknown outcome" path stay quick.
    let mut channel_config = pay.channel_config();
    channel_config.timeout = std::time::Duration::from_secs(2);
    let channel = SandboxChannel::new(channel_config).expect("sandbox URL is valid");
    let mut registry = PayChannels::new(format!("http://{addr}"));
    let (mut wxpay, mut alipay) = (None, None);
    if channels {
        let wx = spawn_wechat_peer(WechatPeerConfig::default()).await.expect("WeChat Pay peer");
        let mut c = wx.channel_config();
        c.timeout = std::time::Duration::from_secs(2);
        let wx_channel = WechatPayChannel::new(c).expect("peer config is valid");
        registry.add(ChannelEntry { chain: None, station: None, channel: Arc::new(wx_channel) });
        let ali = spawn_alipay_peer(AlipayPeerConfig::default()).await.expect("Alipay peer");
        let mut c = ali.channel_config();
        c.timeout = std::time::Duration::from_secs(2);
        let ali_channel = AlipayChannel::new(c).expect("peer config is valid");
        registry.add(ChannelEntry { chain: None, station: None, channel: Arc::new(ali_channel) });
        (wxpay, alipay) = (Some(wx), Some(ali));
    }
    registry.add(ChannelEntry { chain: None, station: None, channel: Arc::new(channel) });
    let app = App::new(store, KeyRing::generate().0)
        .with_wechat(Arc::new(wechat_client))
        .with_sms(Arc::new(sms_client))
        .with_pay_channels(registry);
    let router = jiayou_http::router(
        app.clone(),
        jiayou_http::HttpConfig { admin_token: Some(ADMIN_TOKEN.to_owned()), trust_forwarded_for },
    );
    tokio::spawn(jiayou_http::serve(listener, router, std::future::pending()));
    Some(TestApp {
        addr,
        base_url: format!("http://{addr}"),
        backend,
        app,
        wechat,
        sms,
        pay,
        wxpay,
        alipay,
        client: reqwest::Client::new(),
        _db: db.into(),
    })
}

impl TestApp {
    /// Sends a request as the admin; `body` is sent as JSON when given.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.send(self.client.request(method, format!("{}{path}", self.base_url)).bearer_auth(ADMIN_TOKEN), body).await
    }

    /// Sends a request without credentials.
    pub async fn call_anonymous(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.send(self.client.request(method, format!("{}{path}", self.base_url)), body).await
    }

    /// Sends a request with a bearer token of the caller's choosing (a staff session).
    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.send(self.client.request(method, format!("{}{path}", self.base_url)).bearer_auth(token), body).await
    }

    /// Signs a staff member in and returns the session token.
    pub async fn login(&self, chain_code: &str, username: &str, password: &str) -> String {
        let r = self
            .call_anonymous(
                Method::POST,
                "/api/v1/auth/login",
                Some(&serde_json::json!({"chain": chain_code, "username": username, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {}", r.text);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a raw body with the given content type, as the admin.
    pub async fn call_raw(&self, method: Method, path: &str, content_type: &str, body: &str) -> Reply {
        let req = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body.to_owned());
        self.send(req, None).await
    }

    async fn send(&self, mut req: reqwest::RequestBuilder, body: Option<&Value>) -> Reply {
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request reaches the test server");
        let status = res.status();
        let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let headers = res.headers().clone();
        let text = res.text().await.expect("read body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, content_type, text, headers }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(&body)).await
    }

    /// POSTs and asserts 201, returning the created resource.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {path} on {:?}: {}", self.backend, r.text);
        r.body
    }

    /// The SQLite database file of this server (`None` on the other backends).
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        let url = self._db.url();
        let path = url.strip_prefix("sqlite://")?;
        Some(path.split('?').next().unwrap_or(path).into())
    }

    /// A new chain with a unique code; returns (id, code).
    pub async fn new_chain_with_code(&self) -> (i64, String) {
        let id = self.new_chain().await;
        let code =
            self.get(&format!("/api/v1/chains/{id}")).await.body["code"].as_str().expect("chain code").to_owned();
        (id, code)
    }

    /// Signs a member in through the WeChat sandbox (`name` picks the openid:
    /// `o_sandbox_<name>`) and returns the member session token.
    pub async fn member_login(&self, chain_code: &str, name: &str) -> String {
        let code = self.wechat.issue_code(name, false);
        let r = self
            .call_anonymous(
                Method::POST,
                "/api/v1/member/login/wechat",
                Some(&serde_json::json!({"chain": chain_code, "code": code})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "member login {name}: {}", r.text);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// A new chain with a unique code, for tests that share a database (MariaDB).
    pub async fn new_chain(&self) -> i64 {
        let code = format!("T{}", unique_suffix());
        self.create("/api/v1/chains", serde_json::json!({"code": code, "name": "测试连锁"})).await["id"]
            .as_i64()
            .expect("chain id")
    }

    /// Sends a request signed as device `code` with `secret` (the device API, F1): the
    /// current time, a fresh nonce, `body` as JSON when given.
    pub async fn call_device(
        &self,
        code: &str,
        secret: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        use jiayou_domain::device_auth::{canonical_request, sign};
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
        let nonce = format!("{:016x}{:08x}", now.as_nanos() as u64, N.fetch_add(1, Ordering::Relaxed));
        let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON")).unwrap_or_default();
        let ts = now.as_secs() as i64;
        let signature = sign(secret.as_bytes(), &canonical_request(method.as_str(), path, ts, &nonce, &bytes));
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .header("X-Device-Id", code)
            .header("X-Timestamp", ts.to_string())
            .header("X-Nonce", nonce)
            .header("X-Signature", signature);
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        self.send(req, None).await
    }
}

/// A short suffix unique across concurrently running test processes.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}{}{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 10_000)
}

/// Runs `$body` (an async block using `app: TestApp`) on every backend, one
/// `#[tokio::test]` per backend so failures name the engine. A backend that is not
/// configured prints a note and passes; `.ci/run` refuses to run with one missing.
#[macro_export]
macro_rules! on_each_backend {
    ($(async fn $name:ident($app:ident) $body:block)+) => {
        $crate::on_each_backend!(spawn_app; $(async fn $name($app) $body)+);
    };
    // `spawn_app_with_channels; async fn ...`: the same, over a server with the WeChat
    // Pay and Alipay channels too.
    ($spawn:ident; $(async fn $name:ident($app:ident) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($app: $crate::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::$spawn($crate::Backend::Sqlite).await.expect("SQLite is always available")).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match $crate::$spawn($crate::Backend::Postgres).await {
                        Some(app) => run(app).await,
                        None => eprintln!("JIAYOU_TEST_POSTGRES_URL unset: PostgreSQL not tested"),
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    match $crate::$spawn($crate::Backend::MySql).await {
                        Some(app) => run(app).await,
                        None => eprintln!("JIAYOU_TEST_MYSQL_URL unset: MariaDB/MySQL not tested"),
                    }
                }
            }
        )+
    };
}

/// For store-level tests: runs each body (`async fn name(db, backend)`) over a fresh
/// database (no server) once per backend, one `#[tokio::test]`
/// each, so a failure names the engine; an unconfigured server backend is skipped with
/// a note, as `on_each_backend!` does.
#[macro_export]
macro_rules! on_each_engine {
    ($(async fn $name:ident($db:ident, $b:ident) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($db: &$crate::Db, $b: $crate::Backend) $body

                async fn on(backend: $crate::Backend) {
                    let Some(tdb) = $crate::TestDatabase::create(backend).await else {
                        eprintln!("{backend:?} not configured (JIAYOU_TEST_*_URL unset): not tested");
                        return;
                    };
                    let db = $crate::Db::connect(tdb.url()).await.expect("connect to test database");
                    run(&db, backend).await;
                    db.close().await.expect("close");
                    drop(tdb);
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    on($crate::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    on($crate::Backend::Postgres).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    on($crate::Backend::MySql).await
                }
            }
        )+
    };
}
