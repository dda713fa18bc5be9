//! A local WeChat Pay API v3 peer for tests and the demo: an axum server with its own
//! platform key pair, one merchant (who may also act as service provider for any
//! sub-merchant), speaking the endpoints of the [module docs](super). Point
//! [`super::WechatPayChannel`] at it with [`WechatPeerHandle::channel_config`] or
//! [`WechatPeerHandle::partner_channel_config`]. The payer side, codes and fault knobs
//! are described in the module docs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use tokio::sync::oneshot;

use super::bill::{format_yuan, rfc3339_china};
use super::client::{WechatPayConfig, nonce_str};
use super::mapping::trade_state;
use super::peer_ledger::{Fail, Kind, Ledger, lock};
use super::wire::{self, AUTH_SCHEME, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_SKEW_SECS};
use crate::http::DEFAULT_TIMEOUT;
use crate::pay::rsa::{PrivateKey, aead_encrypt, generate_key_pair, wechat_message};
use crate::pay::{PaymentState, RefundState, StatementLine};

/// The peer's merchant, appid, serials and APIv3 key (WeChat's documentation examples).
pub const PEER_MCHID: &str = "1900000109";
pub const PEER_APPID: &str = "wxd678efh567hg6787";
/// The sub-merchant's mini-program in [`WechatPeerHandle::partner_channel_config`].
pub const PEER_SUB_APPID: &str = "wx8888888888888888";
pub const PEER_APIV3_KEY: &str = "jiayouSandboxApiV3Key0123456789a";
pub const PEER_MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
pub const PEER_PLATFORM_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";

#[derive(Clone, Debug)]
pub struct WechatPeerConfig {
    /// `127.0.0.1:0` (a free port) unless a demo wants a fixed one.
    pub listen: SocketAddr,
    /// How long a payment code ending in 9 stays `USERPAYING`.
    pub user_paying_for: Duration,
    /// How long a refund stays `PROCESSING`; zero answers `SUCCESS` at once.
    pub refund_settles_after: Duration,
    /// Waits before the 2nd, 3rd, ... delivery attempt of a notification.
    pub notify_backoff: Vec<Duration>,
}

impl Default for WechatPeerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            user_paying_for: Duration::from_millis(300),
            refund_settles_after: Duration::from_millis(300),
            notify_backoff: [200, 500, 1000, 2000, 5000].into_iter().map(Duration::from_millis).collect(),
        }
    }
}

/// Controls a running peer. Clones share it; the server stops (and stops notifying)
/// on [`Self::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct WechatPeerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    peer: Arc<Peer>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl Inner {
    fn stop(&self) {
        self.peer.stopped.store(true, Ordering::SeqCst);
        if let Some(tx) = lock(&self.shutdown).take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl WechatPeerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.inner.peer.base_url.clone()
    }

    /// A direct-mode channel configuration for this peer's merchant.
    pub fn channel_config(&self) -> WechatPayConfig {
        let peer = &self.inner.peer;
        WechatPayConfig {
            base_url: self.base_url(),
            mchid: PEER_MCHID.to_owned(),
            appid: PEER_APPID.to_owned(),
            sub_mchid: None,
            sub_appid: None,
            apiv3_key: PEER_APIV3_KEY.to_owned(),
            merchant_serial: PEER_MERCHANT_SERIAL.to_owned(),
            merchant_key: peer.merchant_key.clone(),
            platform_key_id: PEER_PLATFORM_KEY_ID.to_owned(),
            platform_key: peer.platform_key.public_key(),
            timeout: DEFAULT_TIMEOUT,
            payer_page_url: Some(format!("{}/sandbox/pay", self.base_url())),
        }
    }

    /// Service-provider mode: this peer's merchant as `sp_mchid`, `sub_mchid` (10
    /// digits) as the station, [`PEER_SUB_APPID`] as its mini-program.
    pub fn partner_channel_config(&self, sub_mchid: &str) -> WechatPayConfig {
        WechatPayConfig {
            sub_mchid: Some(sub_mchid.to_owned()),
            sub_appid: Some(PEER_SUB_APPID.to_owned()),
            ..self.channel_config()
        }
    }

    /// `apiclient_key.pem` of the merchant (PKCS#8), as a real install keeps it.
    pub fn merchant_key_pem(&self) -> String {
        self.inner.peer.merchant_key_pem.clone()
    }

    /// `pub_key.pem`: the platform public key (微信支付公钥).
    pub fn platform_public_key_pem(&self) -> String {
        self.inner.peer.platform_key.public_key().to_pem()
    }

    /// Pays an app payment as the driver would. `Err` is WeChat's refusal code.
    pub fn pay(&self, out_trade_no: &str) -> Result<PaymentState, String> {
        let prepay_id = lock(&self.inner.peer.ledger)
            .payments
            .get(out_trade_no)
            .and_then(|p| p.prepay_id.clone())
            .ok_or_else(|| "ORDER_NOT_EXIST".to_owned())?;
        let t = self.inner.peer.pay_prepay(&prepay_id).map_err(|f| f.1.code)?;
        trade_state(&t).map_err(|e| e.to_string())
    }

    /// The payment as the peer sees it now (`NotFound` when it never arrived).
    pub fn payment(&self, out_trade_no: &str) -> PaymentState {
        self.inner
            .peer
            .transaction(out_trade_no)
            .ok()
            .and_then(|t| trade_state(&t).ok())
            .unwrap_or(PaymentState::NotFound)
    }

    pub fn refund(&self, out_refund_no: &str) -> Option<RefundState> {
        let ledger = lock(&self.inner.peer.ledger);
        let r = &ledger.refunds.get(out_refund_no)?.wire;
        match r.status.as_str() {
            "SUCCESS" => Some(RefundState::Succeeded { refund_id: r.refund_id.clone() }),
            "PROCESSING" => Some(RefundState::Pending),
            other => Some(RefundState::Failed { code: other.to_owned(), message: String::new() }),
        }
    }

    /// The `TRANSACTION.SUCCESS` notification of a paid payment, exactly as the peer
    /// would POST it now: headers freshly signed, body freshly encrypted. Deliver it as
    /// often, as concurrently and in whatever order a test likes. `None` if unpaid.
    pub fn signed_notification(&self, out_trade_no: &str) -> Option<(HeaderMap, Vec<u8>)> {
        let peer = &self.inner.peer;
        let mut t = peer.transaction(out_trade_no).ok().filter(|t| t.success_time.is_some())?;
        // The notification reports the payment, even when it was refunded since.
        t.trade_state = "SUCCESS".into();
        t.trade_state_desc = "支付成功".into();
        let body = peer.envelope("TRANSACTION.SUCCESS", "transaction", &t);
        Some((peer.notification_headers(&body), body))
    }

    /// The refund's notification (`REFUND.SUCCESS` once settled), freshly signed.
    pub fn signed_refund_notification(&self, out_refund_no: &str) -> Option<(HeaderMap, Vec<u8>)> {
        let peer = &self.inner.peer;
        let resource = lock(&peer.ledger).refunds.get(out_refund_no).map(|r| r.resource.clone())?;
        let event = format!("REFUND.{}", resource.refund_status);
        let body = peer.envelope(&event, "refund", &resource);
        Some((peer.notification_headers(&body), body))
    }

    /// Signs `body` as the peer signs notifications (for tests building their own).
    pub fn sign_notification(&self, body: &[u8]) -> HeaderMap {
        self.inner.peer.notification_headers(body)
    }

    /// Every notification is delivered twice, concurrently.
    pub fn notify_twice(&self, on: bool) {
        lock(&self.inner.peer.ledger).faults.notify_twice = on;
    }

    /// No notification is sent at all (the app's settle job must query).
    pub fn drop_notifications(&self, on: bool) {
        lock(&self.inner.peer.ledger).faults.drop_notifications = on;
    }

    /// The next `n` signed answers come `by` late, after the work is done.
    pub fn delay_next_responses(&self, n: u32, by: Duration) {
        let faults = &mut lock(&self.inner.peer.ledger).faults;
        faults.delay_responses = n;
        faults.response_delay = by;
    }

    /// The next `n` creates (JSAPI or codepay) answer 500 `SYSTEM_ERROR`, creating nothing.
    pub fn fail_next_creates(&self, n: u32) {
        lock(&self.inner.peer.ledger).faults.fail_creates = n;
    }

    /// The next `n` answers carry a signature that does not verify.
    pub fn corrupt_next_signatures(&self, n: u32) {
        lock(&self.inner.peer.ledger).faults.corrupt_signatures = n;
    }

    /// Notification POSTs made, retries and duplicates included.
    pub fn notifications_sent(&self) -> usize {
        self.inner.peer.sent.load(Ordering::SeqCst)
    }

    /// Notification POSTs answered with a 2xx.
    pub fn notifications_delivered(&self) -> usize {
        self.inner.peer.delivered.load(Ordering::SeqCst)
    }

    /// Requests refused with 401 `SIGN_ERROR`.
    pub fn auth_failures(&self) -> usize {
        self.inner.peer.auth_failures.load(Ordering::SeqCst)
    }

    /// Sub-merchants that made requests in partner mode.
    pub fn sub_merchants(&self) -> Vec<String> {
        lock(&self.inner.peer.ledger).sub_mchids.iter().cloned().collect()
    }

    /// Adds a line no request produced to the bills (for reconciliation tests), of the
    /// direct merchant (`sub_mchid` `None`) or of a sub-merchant.
    pub fn plant_bill_line(&self, line: StatementLine, sub_mchid: Option<&str>) {
        lock(&self.inner.peer.ledger).planted.push((line, sub_mchid.map(str::to_owned)));
    }

    pub fn shutdown(&self) {
        self.inner.stop();
    }
}

/// Starts the peer on [`WechatPeerConfig::listen`].
pub async fn spawn_wechat_peer(config: WechatPeerConfig) -> std::io::Result<WechatPeerHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (merchant_key_pem, merchant_key) = generate_key_pair("wechat-merchant");
    let (_, platform_key) = generate_key_pair("wechat-platform");
    let peer = Arc::new(Peer {
        base_url: format!("http://{addr}"),
        config,
        merchant_key_pem,
        merchant_key,
        platform_key,
        ledger: Mutex::default(),
        http: crate::http::client(DEFAULT_TIMEOUT),
        sent: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
        auth_failures: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
    });
    let router = Router::new()
        .route("/v3/pay/transactions/jsapi", post(api))
        .route("/v3/pay/partner/transactions/jsapi", post(api))
        .route("/v3/pay/transactions/codepay", post(api))
        .route("/v3/pay/partner/transactions/codepay", post(api))
        .route("/v3/pay/transactions/out-trade-no/{no}", get(api))
        .route("/v3/pay/partner/transactions/out-trade-no/{no}", get(api))
        .route("/v3/pay/transactions/out-trade-no/{no}/close", post(api))
        .route("/v3/pay/partner/transactions/out-trade-no/{no}/close", post(api))
        .route("/v3/refund/domestic/refunds", post(api))
        .route("/v3/refund/domestic/refunds/{no}", get(api))
        .route("/v3/bill/tradebill", get(api))
        .route("/v3/billdownload/file", get(api))
        .route("/sandbox/pay/{prepay_id}", get(payer_page).post(payer_pays))
        .with_state(peer.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "WeChat Pay peer stopped");
        }
    });
    tracing::info!(%addr, "WeChat Pay peer listening");
    let inner = Inner { addr, peer, shutdown: Mutex::new(Some(tx)) };
    Ok(WechatPeerHandle { inner: Arc::new(inner) })
}

pub(super) struct Peer {
    pub(super) config: WechatPeerConfig,
    pub(super) base_url: String,
    merchant_key_pem: String,
    merchant_key: PrivateKey,
    platform_key: PrivateKey,
    pub(super) ledger: Mutex<Ledger>,
    http: reqwest::Client,
    sent: AtomicUsize,
    delivered: AtomicUsize,
    auth_failures: AtomicUsize,
    stopped: AtomicBool,
}

impl Peer {
    /// Checks `Authorization` over what actually arrived.
    fn authenticate(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), Fail> {
        let unauthorized = |message: &str| Fail::new(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message);
        let value = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(params) = value.strip_prefix(AUTH_SCHEME).and_then(|r| r.strip_prefix(' ')) else {
            return Err(unauthorized("Authorization 缺失或认证类型错误"));
        };
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for part in params.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                fields.insert(k, v.trim_matches('"'));
            }
        }
        let field = |k: &str| fields.get(k).copied().unwrap_or_default();
        if field("mchid") != PEER_MCHID {
            return Err(unauthorized("商户号与签名不匹配"));
        }
        if field("serial_no") != PEER_MERCHANT_SERIAL {
            return Err(unauthorized("商户证书序列号错误"));
        }
        let timestamp = field("timestamp");
        match timestamp.parse::<i64>() {
            Ok(t) if (Utc::now().timestamp() - t).abs() <= MAX_SKEW_SECS => {}
            _ => return Err(unauthorized("时间戳超出允许范围")),
        }
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let body = std::str::from_utf8(body).map_err(|_| unauthorized("body is not UTF-8"))?;
        let message = wechat_message(&[method.as_str(), path, timestamp, field("nonce_str"), body]);
        if !self.merchant_key.public_key().verify(message.as_bytes(), field("signature")) {
            return Err(unauthorized("签名错误"));
        }
        Ok(())
    }

    /// Signs an answer with the platform key (or spoils it, as the fault knob says).
    fn sign_answer(&self, status: StatusCode, body: Vec<u8>, content_type: &str) -> Response {
        let mut headers = self.notification_headers(&body);
        let corrupt = {
            let faults = &mut lock(&self.ledger).faults;
            let on = faults.corrupt_signatures > 0;
            faults.corrupt_signatures = faults.corrupt_signatures.saturating_sub(1);
            on
        };
        if corrupt {
            let wrong = self.platform_key.sign(b"not this answer");
            headers.insert(HEADER_SIGNATURE, header_value(&wrong));
        }
        if !body.is_empty() {
            headers.insert(CONTENT_TYPE, header_value(content_type));
        }
        headers.insert("request-id", header_value(&format!("08{}", nonce_str(24))));
        (status, headers, body).into_response()
    }

    /// `Wechatpay-*` headers over `body`, fresh timestamp and nonce.
    pub(super) fn notification_headers(&self, body: &[u8]) -> HeaderMap {
        let timestamp = Utc::now().timestamp().to_string();
        let nonce = nonce_str(32);
        let text = String::from_utf8_lossy(body);
        let signature = self.platform_key.sign(wechat_message(&[&timestamp, &nonce, &text]).as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_TIMESTAMP, header_value(&timestamp));
        headers.insert(HEADER_NONCE, header_value(&nonce));
        headers.insert(HEADER_SIGNATURE, header_value(&signature));
        headers.insert(HEADER_SERIAL, header_value(PEER_PLATFORM_KEY_ID));
        headers.insert("wechatpay-signature-type", header_value(AUTH_SCHEME));
        headers
    }

    /// A notification body: `resource` encrypted under the APIv3 key.
    pub(super) fn envelope<T: serde::Serialize>(&self, event_type: &str, original_type: &str, resource: &T) -> Vec<u8> {
        // Invariant: the wire structs hold only strings, numbers and options.
        let plain = serde_json::to_vec(resource).expect("wire bodies serialise");
        let nonce = nonce_str(12);
        let ciphertext = aead_encrypt(PEER_APIV3_KEY.as_bytes(), nonce.as_bytes(), original_type.as_bytes(), &plain)
            .expect("a 32-byte key and a 12-byte nonce"); // invariant: both constants of the right length
        let envelope = wire::Envelope {
            id: format!("{}-{}", uuid_like(), nonce_str(6)),
            create_time: rfc3339_china(Utc::now()),
            event_type: event_type.to_owned(),
            resource_type: "encrypt-resource".into(),
            summary: if event_type.starts_with("TRANSACTION") { "支付成功" } else { "退款成功" }.into(),
            resource: wire::EncryptedResource {
                algorithm: "AEAD_AES_256_GCM".into(),
                ciphertext,
                associated_data: original_type.to_owned(),
                original_type: original_type.to_owned(),
                nonce,
            },
        };
        serde_json::to_vec(&envelope).expect("wire bodies serialise")
    }

    /// Schedules the delivery of one notification, as the fault knobs say.
    pub(super) fn notify(self: &Arc<Self>, ledger: &Ledger, url: &str, body: Vec<u8>) {
        if ledger.faults.drop_notifications {
            tracing::info!("WeChat Pay peer: notification dropped (fault knob)");
            return;
        }
        let copies = if ledger.faults.notify_twice { 2 } else { 1 };
        let body = Bytes::from(body);
        for _ in 0..copies {
            tokio::spawn(self.clone().deliver(url.to_owned(), body.clone()));
        }
    }

    /// POSTs one notification until a 2xx, each attempt freshly signed.
    async fn deliver(self: Arc<Self>, url: String, body: Bytes) {
        let waits = std::iter::once(Duration::ZERO).chain(self.config.notify_backoff.clone());
        for wait in waits {
            tokio::time::sleep(wait).await;
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let headers = self.notification_headers(&body);
            self.sent.fetch_add(1, Ordering::SeqCst);
            let attempt = self
                .http
                .post(&url)
                .headers(headers)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match attempt {
                Ok(response) if response.status().is_success() => {
                    self.delivered.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(response) => {
                    tracing::info!(status = response.status().as_u16(), "WeChat Pay peer: notification refused")
                }
                Err(e) => {
                    tracing::info!(reason = crate::http::transport_reason(&e), "WeChat Pay peer: notification failed")
                }
            }
        }
        tracing::warn!("WeChat Pay peer: gave up on a notification");
    }

    /// The transaction as queried, expiry applied.
    pub(super) fn transaction(&self, out_trade_no: &str) -> Result<wire::Transaction, Fail> {
        let mut ledger = lock(&self.ledger);
        let record = ledger.payments.get_mut(out_trade_no).ok_or_else(Fail::order_not_exist)?;
        record.expire(Utc::now());
        Ok(record.to_wire())
    }

    /// The payer pays a prepay (the phone's confirmation). Repeating it is harmless and
    /// does not notify again.
    pub(super) fn pay_prepay(self: &Arc<Self>, prepay_id: &str) -> Result<wire::Transaction, Fail> {
        let mut ledger = lock(&self.ledger);
        let no = ledger.prepays.get(prepay_id).cloned().ok_or_else(Fail::order_not_exist)?;
        let record = ledger.payments.get_mut(&no).ok_or_else(Fail::order_not_exist)?;
        let now = Utc::now();
        record.expire(now);
        match record.trade_state {
            "SUCCESS" | "REFUND" => Ok(record.to_wire()),
            "NOTPAY" => {
                record.pay(now);
                let t = record.to_wire();
                let url = record.request.notify_url.clone().unwrap_or_default();
                let body = self.envelope("TRANSACTION.SUCCESS", "transaction", &t);
                self.notify(&ledger, &url, body);
                tracing::info!(out_trade_no = %no, "WeChat Pay peer: the payer paid");
                Ok(t)
            }
            _ => Err(Fail::new(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
        }
    }

    /// One API request, authenticated; the work is done before any injected delay.
    async fn handle(self: &Arc<Self>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        if let Err(fail) = self.authenticate(&method, &uri, &headers, &body) {
            self.auth_failures.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(message = %fail.1.message, "WeChat Pay peer refused a request");
            return self.fail(fail);
        }
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
        let path = uri.path();
        let partner = path.contains("/partner/");
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let result = match (method.clone(), segments.as_slice()) {
            (Method::POST, [.., "jsapi"]) => self.create(&body, partner, Kind::Jsapi),
            (Method::POST, [.., "codepay"]) => self.create(&body, partner, Kind::Codepay),
            (Method::GET, [.., "out-trade-no", no]) => self.query(no, partner, &query),
            (Method::POST, [.., "out-trade-no", no, "close"]) => self.close(no, partner, &body),
            (Method::POST, ["v3", "refund", "domestic", "refunds"]) => self.create_refund(&body),
            (Method::GET, ["v3", "refund", "domestic", "refunds", no]) => self.get_refund(no, &query),
            (Method::GET, ["v3", "bill", "tradebill"]) => self.tradebill(&query),
            (Method::GET, ["v3", "billdownload", "file"]) => {
                // The file is not signed: its SHA1 came in the signed tradebill answer.
                let file = lock(&self.ledger).bill_files.get(query.get("token").map_or("", String::as_str)).cloned();
                return match file {
                    Some(file) => ([(CONTENT_TYPE, "text/plain;charset=utf-8")], file).into_response(),
                    None => self.fail(Fail::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "账单文件不存在")),
                };
            }
            _ => Err(Fail::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API")),
        };
        let delay = {
            let faults = &mut lock(&self.ledger).faults;
            (faults.delay_responses > 0).then(|| {
                faults.delay_responses -= 1;
                faults.response_delay
            })
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match result {
            Ok((status, Some(json))) => {
                let body = serde_json::to_vec(&json).unwrap_or_default();
                self.sign_answer(status, body, "application/json")
            }
            Ok((status, None)) => self.sign_answer(status, Vec::new(), ""),
            Err(fail) => self.fail(fail),
        }
    }

    fn fail(&self, fail: Fail) -> Response {
        let body = serde_json::to_vec(&fail.1).unwrap_or_default();
        self.sign_answer(fail.0, body, "application/json")
    }
}

/// Every signed API endpoint.
async fn api(State(peer): State<Arc<Peer>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    peer.handle(method, uri, headers, body).await
}

/// `POST /sandbox/pay/{prepay_id}`: the driver's phone pays (unsigned).
async fn payer_pays(State(peer): State<Arc<Peer>>, Path(prepay_id): Path<String>) -> Response {
    match peer.pay_prepay(&prepay_id) {
        Ok(t) => axum::Json(t).into_response(),
        Err(fail) => (fail.0, axum::Json(fail.1)).into_response(),
    }
}

/// `GET /sandbox/pay/{prepay_id}`: a zh-CN page with the amount and 确认支付.
async fn payer_page(State(peer): State<Arc<Peer>>, Path(prepay_id): Path<String>) -> Response {
    let found = {
        let mut ledger = lock(&peer.ledger);
        let no = ledger.prepays.get(&prepay_id).cloned().unwrap_or_default();
        ledger.payments.get_mut(&no).map(|r| {
            r.expire(Utc::now());
            (r.request.description.clone(), r.request.amount.total, r.trade_state)
        })
    };
    let Some((description, total, state)) = found else {
        return (StatusCode::NOT_FOUND, Html("<!doctype html><meta charset=utf-8><p>订单不存在</p>")).into_response();
    };
    let status = match state {
        "NOTPAY" => "待支付",
        "SUCCESS" => "已支付",
        _ => "已关闭",
    };
    let button = if state == "NOTPAY" { "<button id=pay>确认支付</button>" } else { "" };
    Html(format!(
        r#"<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content="width=device-width">
<title>微信支付（本地模拟）</title><body style="font-family:sans-serif;text-align:center;padding:2em">
<h1>微信支付</h1><p>{description}</p><p style="font-size:2em">¥{amount}</p>
<p id=status>{status}</p>{button}
<script>
const b = document.getElementById('pay');
if (b) b.onclick = async () => {{
  const r = await fetch(location.pathname, {{method: 'POST'}});
  document.getElementById('status').textContent = r.ok ? '支付成功' : '支付失败';
  b.remove();
}};
</script></body></html>"#,
        description = escape_html(&description),
        amount = format_yuan(total),
    ))
    .into_response()
}

fn header_value(s: &str) -> HeaderValue {
    // Invariant: every value here is ASCII (digits, base64, ids, constants).
    HeaderValue::from_str(s).expect("ASCII header value")
}

fn uuid_like() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
