//! A local Alipay gateway for tests and the demo: an axum server with its own key pair
//! (`generate_key_pair("alipay-gateway")`) that knows the app's public key
//! (`generate_key_pair("alipay-app")`), verifies every request's `sign` (a bad one answers
//! `40002 isv.invalid-signature`) and signs every answer over its exact text. Point
//! [`super::AlipayChannel`] at it with [`AlipayPeerHandle::channel_config`] (direct) or
//! [`AlipayPeerHandle::isv_channel_config`] (service provider, [`ISV_APP_AUTH_TOKEN`]).
//!
//! # Methods
//! `POST /gateway.do` (or GET): `alipay.trade.create`, `alipay.trade.pay`,
//! `alipay.trade.query`, `alipay.trade.close`, `alipay.trade.refund`,
//! `alipay.trade.fastpay.refund.query`, `alipay.data.dataservice.bill.downloadurl.query`;
//! `GET /gateway.do?method=alipay.trade.wap.pay&…` (the H5 URL the payer opens) creates the
//! trade and redirects to the payer page. The bill URL (`GET /sandbox/bill?…`) serves the
//! ZIP of GBK CSV files. A day without trades answers `40004 isp.bill_not_exist`.
//!
//! # The payer side
//! - `GET /sandbox/pay?out_trade_no=` is a zh-CN page with the amount and 确认付款, which
//!   posts to `POST /sandbox/pay/{out_trade_no}` (unsigned: it plays the payer's phone).
//! - Payment codes: 16–24 digits starting `25`–`30` pay at once; ending in `9` they answer
//!   `10003` and pay [`AlipayPeerConfig::paying_for`] later; [`INSUFFICIENT_BALANCE_CODE`]
//!   fails with `ACQ.BUYER_BALANCE_NOT_ENOUGH` (the trade reads `TRADE_CLOSED`); anything
//!   else is `ACQ.PAYMENT_AUTH_CODE_INVALID` and records nothing.
//! - Unpaid past `time_expire` reads `TRADE_CLOSED`. A full refund closes the trade.
//!
//! # Notifications
//! Form-encoded, signed, POSTed to the trade's `notify_url` on payment, close and every
//! refund (with `out_biz_no`, `refund_fee` = total refunded, `gmt_refund`), retried after
//! [`AlipayPeerConfig::notify_backoff`] (0.2 s, 0.5 s, 1 s, 2 s, 5 s, then it gives up)
//! until the body answered is exactly `success`.
//!
//! # Fault knobs
//! [`AlipayFaults`], on the handle or `POST /control` (JSON, any subset of fields).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::bill::{BillRow, bill_zip};
use super::gateway::{Peer, Status, lock};
use super::wire::{self, Params, fen_to_yuan, param};
use super::{AlipayConfig, DEFAULT_GATEWAY_URL};
use crate::http::DEFAULT_TIMEOUT;
use crate::pay::PaymentState;
use crate::pay::rsa::generate_key_pair;

pub const DEFAULT_APP_ID: &str = "2021000000000000";
pub const DEFAULT_SELLER_ID: &str = "2088000000000000";
/// The token of the one merchant that authorised the app on this gateway (ISV mode).
pub const ISV_APP_AUTH_TOKEN: &str = "202601BB0000000000000000000000000001";
/// That merchant's PID.
pub const ISV_SELLER_ID: &str = "2088000000000099";
/// The payment code that fails for lack of balance.
pub const INSUFFICIENT_BALANCE_CODE: &str = "280000000000000000";

#[derive(Clone, Debug)]
pub struct AlipayPeerConfig {
    pub listen: SocketAddr,
    pub app_id: String,
    /// The direct merchant's PID.
    pub seller_id: String,
    /// How long a payment code ending in 9 stays `10003` / `WAIT_BUYER_PAY`.
    pub paying_for: Duration,
    pub notify_backoff: Vec<Duration>,
}

impl Default for AlipayPeerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_id: DEFAULT_APP_ID.to_owned(),
            seller_id: DEFAULT_SELLER_ID.to_owned(),
            paying_for: Duration::from_millis(300),
            notify_backoff: [200, 500, 1000, 2000, 5000].into_iter().map(Duration::from_millis).collect(),
        }
    }
}

/// Misbehaviour on demand; counters count down as they are used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlipayFaults {
    /// The next N creates/pays answer `20000 isp.unknow-error` and create nothing.
    pub fail_creates: u32,
    /// The next N answers wait `response_delay_ms` after doing their work.
    pub delay_responses: u32,
    pub response_delay_ms: u64,
    /// The next N answers are altered after signing (their `sign` no longer matches).
    pub tamper_responses: u32,
    pub notify_twice: bool,
    pub drop_notifications: bool,
}

/// Controls a running gateway; it stops on [`Self::shutdown`] or when the last clone drops.
#[derive(Clone)]
pub struct AlipayPeerHandle {
    inner: Arc<Inner>,
}

struct Inner {
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

impl AlipayPeerHandle {
    /// `http://127.0.0.1:PORT/gateway.do`.
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway.do", self.inner.peer.base_url)
    }

    pub fn base_url(&self) -> String {
        self.inner.peer.base_url.clone()
    }

    /// Direct mode, as the chain's own merchant.
    pub fn channel_config(&self) -> AlipayConfig {
        let peer = &self.inner.peer;
        let mut config =
            AlipayConfig::new(peer.config.app_id.clone(), generate_key_pair("alipay-app").1, peer.key.public_key());
        config.gateway_url = self.gateway_url();
        config.seller_id = Some(peer.config.seller_id.clone());
        config
    }

    /// Service-provider mode for the merchant that gave `app_auth_token` (the gateway
    /// knows [`ISV_APP_AUTH_TOKEN`] → [`ISV_SELLER_ID`]).
    pub fn isv_channel_config(&self, app_auth_token: &str) -> AlipayConfig {
        let mut config = self.channel_config();
        config.app_auth_token = Some(app_auth_token.to_owned());
        config.seller_id = Some(seller_of_token(app_auth_token).unwrap_or(ISV_SELLER_ID).to_owned());
        config
    }

    /// The app's private key (PKCS#8 PEM), for the demo's key file.
    pub fn app_private_key_pem(&self) -> String {
        generate_key_pair("alipay-app").0
    }

    /// The gateway's public key (支付宝公钥), for the demo's key file.
    pub fn alipay_public_key_pem(&self) -> String {
        self.inner.peer.key.public_key().to_pem()
    }

    /// Pays an unpaid trade as the payer's phone would. `Err` is why not.
    pub fn pay(&self, out_trade_no: &str) -> Result<PaymentState, String> {
        self.inner.peer.pay_as_buyer(out_trade_no)?;
        Ok(self.payment(out_trade_no))
    }

    /// The trade as the gateway sees it now (`NotFound` when it never arrived).
    pub fn payment(&self, out_trade_no: &str) -> PaymentState {
        let mut ledger = lock(&self.inner.peer.ledger);
        match ledger.find(out_trade_no) {
            Some(t) => t.state(),
            None => PaymentState::NotFound,
        }
    }

    /// A freshly signed notification body for the trade's current state, for tests that
    /// deliver it themselves (repeatedly, concurrently, out of order).
    pub fn signed_notification(&self, out_trade_no: &str) -> Option<Vec<u8>> {
        let peer = &self.inner.peer;
        let mut ledger = lock(&peer.ledger);
        let trade = ledger.find(out_trade_no)?;
        Some(wire::form_encode(&peer.notification(trade, None)).into_bytes())
    }

    pub fn faults(&self) -> AlipayFaults {
        lock(&self.inner.peer.ledger).faults.clone()
    }

    pub fn set_faults(&self, faults: AlipayFaults) {
        lock(&self.inner.peer.ledger).faults = faults;
    }

    pub fn fail_next_creates(&self, n: u32) {
        lock(&self.inner.peer.ledger).faults.fail_creates = n;
    }

    pub fn delay_next_responses(&self, n: u32, by: Duration) {
        let faults = &mut lock(&self.inner.peer.ledger).faults;
        faults.delay_responses = n;
        faults.response_delay_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
    }

    pub fn tamper_next_responses(&self, n: u32) {
        lock(&self.inner.peer.ledger).faults.tamper_responses = n;
    }

    pub fn notify_twice(&self, on: bool) {
        lock(&self.inner.peer.ledger).faults.notify_twice = on;
    }

    pub fn drop_notifications(&self, on: bool) {
        lock(&self.inner.peer.ledger).faults.drop_notifications = on;
    }

    /// Notification POSTs made, retries and duplicates included.
    pub fn notifications_sent(&self) -> usize {
        self.inner.peer.sent.load(Ordering::SeqCst)
    }

    /// Notification POSTs answered `success`.
    pub fn notifications_delivered(&self) -> usize {
        self.inner.peer.delivered.load(Ordering::SeqCst)
    }

    /// Requests refused for their signature.
    pub fn signature_failures(&self) -> usize {
        self.inner.peer.bad_signs.load(Ordering::SeqCst)
    }

    /// Adds a row to the direct merchant's bill that no request produced.
    pub fn plant_bill_line(&self, row: BillRow) {
        let seller = self.inner.peer.config.seller_id.clone();
        lock(&self.inner.peer.ledger).planted.push((seller, row));
    }

    pub fn shutdown(&self) {
        self.inner.stop();
    }
}

pub(super) fn seller_of_token(token: &str) -> Option<&'static str> {
    (token == ISV_APP_AUTH_TOKEN).then_some(ISV_SELLER_ID)
}

/// Starts the gateway on [`AlipayPeerConfig::listen`].
pub async fn spawn_alipay_peer(config: AlipayPeerConfig) -> std::io::Result<AlipayPeerHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let peer = Arc::new(Peer {
        base_url: format!("http://{addr}"),
        key: generate_key_pair("alipay-gateway").1,
        app_key: generate_key_pair("alipay-app").1.public_key(),
        config,
        ledger: Mutex::default(),
        http: crate::http::client(DEFAULT_TIMEOUT),
        sent: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
        bad_signs: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
    });
    let router = Router::new()
        .route("/gateway.do", get(gateway_get).post(gateway_post))
        .route("/sandbox/pay", get(pay_page))
        .route("/sandbox/pay/{out_trade_no}", post(pay_post))
        .route("/sandbox/bill", get(bill_download))
        .route("/control", get(read_control).post(control))
        .with_state(peer.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "Alipay peer stopped");
        }
    });
    tracing::info!(%addr, "Alipay peer listening (default gateway is {DEFAULT_GATEWAY_URL})");
    Ok(AlipayPeerHandle { inner: Arc::new(Inner { peer, shutdown: Mutex::new(Some(tx)) }) })
}

async fn gateway(peer: Arc<Peer>, params: Params) -> Response {
    let (method, reply) = peer.handle(&params);
    if method == "alipay.trade.wap.pay" && reply.fields.get("code") == Some(&json!("10000")) {
        let no = param(&params, "biz_content")
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .and_then(|b| b.get("out_trade_no").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        return (StatusCode::FOUND, [(LOCATION, format!("/sandbox/pay?out_trade_no={no}"))]).into_response();
    }
    let response = peer.answer(&method, &reply);
    if let Some(delay) = peer.take_response_delay() {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn gateway_get(State(peer): State<Arc<Peer>>, uri: Uri) -> Response {
    gateway(peer, wire::form_decode(uri.query().unwrap_or("").as_bytes())).await
}

async fn gateway_post(State(peer): State<Arc<Peer>>, uri: Uri, body: Bytes) -> Response {
    let mut params = wire::form_decode(uri.query().unwrap_or("").as_bytes());
    params.extend(wire::form_decode(&body));
    gateway(peer, params).await
}

#[derive(Deserialize)]
struct PayPageQuery {
    out_trade_no: String,
}

async fn pay_page(State(peer): State<Arc<Peer>>, Query(q): Query<PayPageQuery>) -> Response {
    let found = lock(&peer.ledger).find(&q.out_trade_no).map(|t| (t.subject.clone(), t.total_fen, t.status));
    let Some((subject, fen, status)) = found else {
        return (StatusCode::NOT_FOUND, Html("<!doctype html><meta charset=utf-8><p>交易不存在</p>")).into_response();
    };
    let (label, button) = match status {
        Status::Waiting => ("等待付款", "<button id=pay>确认付款</button>"),
        Status::Paid => ("已付款", ""),
        Status::Closed => ("交易关闭", ""),
    };
    let no = escape_html(&q.out_trade_no);
    Html(format!(
        r#"<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content="width=device-width">
<title>支付宝（本地网关）</title><body style="font-family:sans-serif;text-align:center;padding:2em">
<h1>支付宝收银台</h1><p>{subject}</p><p style="font-size:2em">¥{amount}</p><p id=status>{label}</p>{button}
<script>
const b = document.getElementById('pay');
if (b) b.onclick = async () => {{
  const r = await fetch('/sandbox/pay/{no}', {{method: 'POST'}});
  document.getElementById('status').textContent = r.ok ? '付款成功' : '付款失败';
  b.remove();
}};
</script></body></html>"#,
        subject = escape_html(&subject),
        amount = fen_to_yuan(fen),
    ))
    .into_response()
}

async fn pay_post(State(peer): State<Arc<Peer>>, Path(no): Path<String>) -> Response {
    match peer.pay_as_buyer(&no) {
        Ok(()) => Json(json!({"out_trade_no": no, "trade_status": "TRADE_SUCCESS"})).into_response(),
        Err(e) if e == "ACQ.TRADE_NOT_EXIST" => (StatusCode::NOT_FOUND, Json(json!({"error": e}))).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({"error": e}))).into_response(),
    }
}

#[derive(Deserialize)]
struct BillQuery {
    seller: String,
    date: NaiveDate,
}

async fn bill_download(State(peer): State<Arc<Peer>>, Query(q): Query<BillQuery>) -> Response {
    let zip = bill_zip(&q.seller, q.date, &peer.bill_rows(&q.seller, q.date));
    ([(CONTENT_TYPE, "application/zip")], zip).into_response()
}

async fn read_control(State(peer): State<Arc<Peer>>) -> Json<AlipayFaults> {
    Json(lock(&peer.ledger).faults.clone())
}

async fn control(State(peer): State<Arc<Peer>>, body: Bytes) -> Response {
    let mut current = serde_json::to_value(lock(&peer.ledger).faults.clone()).unwrap_or_default();
    let patch = match serde_json::from_slice::<Map<String, Value>>(&body) {
        Ok(patch) => patch,
        Err(_) => return (StatusCode::BAD_REQUEST, "expected a JSON object of AlipayFaults fields").into_response(),
    };
    for (k, v) in patch {
        current[k] = v;
    }
    match serde_json::from_value::<AlipayFaults>(current) {
        Ok(faults) => {
            lock(&peer.ledger).faults = faults.clone();
            Json(faults).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, "unknown or mistyped AlipayFaults field").into_response(),
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
