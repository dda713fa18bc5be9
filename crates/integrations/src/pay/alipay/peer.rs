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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::bill::{BillRow, bill_zip};
use super::wire::{self, Params, fen_to_yuan, format_time, param, parse_time, yuan_to_fen};
use super::{AlipayConfig, DEFAULT_GATEWAY_URL};
use crate::http::DEFAULT_TIMEOUT;
use crate::pay::rsa::{PrivateKey, PublicKey, generate_key_pair};
use crate::pay::{PaymentState, StatementKind};

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

fn seller_of_token(token: &str) -> Option<&'static str> {
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

struct Peer {
    config: AlipayPeerConfig,
    base_url: String,
    key: PrivateKey,
    app_key: PublicKey,
    ledger: Mutex<Ledger>,
    http: reqwest::Client,
    sent: AtomicUsize,
    delivered: AtomicUsize,
    bad_signs: AtomicUsize,
    stopped: AtomicBool,
}

#[derive(Default)]
struct Ledger {
    /// By (seller, out_trade_no).
    trades: HashMap<(String, String), Trade>,
    faults: AlipayFaults,
    planted: Vec<(String, BillRow)>,
}

impl Ledger {
    fn find(&mut self, out_trade_no: &str) -> Option<&mut Trade> {
        let trade = self.trades.values_mut().find(|t| t.out_trade_no == out_trade_no)?;
        trade.expire(Utc::now());
        Some(trade)
    }

    fn get(&mut self, seller: &str, out_trade_no: &str) -> Option<&mut Trade> {
        let trade = self.trades.get_mut(&(seller.to_owned(), out_trade_no.to_owned()))?;
        trade.expire(Utc::now());
        Some(trade)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Waiting,
    Paid,
    Closed,
}

struct Trade {
    seller: String,
    out_trade_no: String,
    trade_no: String,
    total_fen: i64,
    subject: String,
    notify_url: Option<String>,
    /// What a repeated create must match: method, amount, buyer or payment code.
    fingerprint: String,
    status: Status,
    created: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    refunds: Vec<PeerRefund>,
}

struct PeerRefund {
    out_request_no: String,
    fen: i64,
    at: DateTime<Utc>,
}

impl Trade {
    fn expire(&mut self, now: DateTime<Utc>) {
        if self.status == Status::Waiting && self.expires.is_some_and(|e| now >= e) {
            self.status = Status::Closed;
        }
    }

    fn trade_status(&self) -> &'static str {
        match self.status {
            Status::Waiting => "WAIT_BUYER_PAY",
            Status::Paid => "TRADE_SUCCESS",
            Status::Closed => "TRADE_CLOSED",
        }
    }

    fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.fen).sum()
    }

    fn state(&self) -> PaymentState {
        match (self.status, self.paid_at) {
            (Status::Waiting, _) => PaymentState::Pending,
            (_, Some(paid_at)) => {
                PaymentState::Succeeded { transaction_id: self.trade_no.clone(), amount_fen: self.total_fen, paid_at }
            }
            (_, None) => PaymentState::Closed,
        }
    }

    fn pay(&mut self) {
        self.status = Status::Paid;
        self.paid_at = Some(Utc::now());
    }

    fn summary(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("trade_no".into(), json!(self.trade_no));
        m.insert("out_trade_no".into(), json!(self.out_trade_no));
        m.insert("buyer_logon_id".into(), json!("159****0000"));
        m.insert("buyer_user_id".into(), json!("2088102100000001"));
        m.insert("total_amount".into(), json!(fen_to_yuan(self.total_fen)));
        m
    }
}

/// One answer of the gateway: its code fields plus the method's own.
struct Reply {
    fields: Map<String, Value>,
}

impl Reply {
    fn ok(fields: Map<String, Value>) -> Self {
        Self::with("10000", "Success", None, fields)
    }

    fn with(code: &str, msg: &str, sub: Option<(&str, &str)>, mut fields: Map<String, Value>) -> Self {
        fields.insert("code".into(), json!(code));
        fields.insert("msg".into(), json!(msg));
        if let Some((sub_code, sub_msg)) = sub {
            fields.insert("sub_code".into(), json!(sub_code));
            fields.insert("sub_msg".into(), json!(sub_msg));
        }
        Self { fields }
    }

    fn fail(sub_code: &str, sub_msg: &str) -> Self {
        Self::with("40004", "Business Failed", Some((sub_code, sub_msg)), Map::new())
    }

    fn invalid(sub_code: &str, sub_msg: &str) -> Self {
        Self::with("40002", "Invalid Arguments", Some((sub_code, sub_msg)), Map::new())
    }

    /// The inner object as Alipay writes it: `code` and `msg` first, then the rest, `/`
    /// escaped. Deliberately not serde's order, so a client that verifies a
    /// re-serialisation instead of the received text fails.
    fn text(&self) -> String {
        let mut parts = Vec::new();
        for key in ["code", "msg"] {
            if let Some(v) = self.fields.get(key) {
                parts.push(format!("{}:{v}", json!(key)));
            }
        }
        for (k, v) in self.fields.iter().filter(|(k, _)| *k != "code" && *k != "msg") {
            parts.push(format!("{}:{}", json!(k), v.to_string().replace('/', "\\/")));
        }
        format!("{{{}}}", parts.join(","))
    }
}

impl Peer {
    /// Signs an answer; with the tamper knob, alters it after signing.
    fn answer(&self, method: &str, reply: &Reply) -> Response {
        let key = wire::response_key(method);
        let inner = reply.text();
        let sign = self.key.sign(inner.as_bytes());
        let tamper = {
            let faults = &mut lock(&self.ledger).faults;
            let t = faults.tamper_responses > 0;
            faults.tamper_responses = faults.tamper_responses.saturating_sub(1);
            t
        };
        let inner = if tamper { inner.replacen("\"msg\":\"", "\"msg\":\"X", 1) } else { inner };
        let body = format!("{{{}:{inner},\"sign\":{}}}", json!(key), json!(sign));
        ([(CONTENT_TYPE, "text/html;charset=utf-8")], body).into_response()
    }

    /// Checks the request and runs the method.
    fn handle(self: &Arc<Self>, params: &Params) -> (String, Reply) {
        let method = param(params, "method").unwrap_or("").to_owned();
        if method.is_empty() {
            return ("error".into(), Reply::invalid("isv.missing-method", "缺少方法名参数"));
        }
        if param(params, "app_id") != Some(self.config.app_id.as_str()) {
            return (method, Reply::invalid("isv.invalid-app-id", "无效的AppID参数"));
        }
        if wire::verify_params(params, &self.app_key, false) != Some(true) {
            self.bad_signs.fetch_add(1, Ordering::SeqCst);
            return (
                method,
                Reply::invalid("isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"),
            );
        }
        if param(params, "sign_type") != Some(wire::SIGN_TYPE) || param(params, "timestamp").is_none() {
            return (method, Reply::invalid("isv.invalid-signature-type", "无效的签名类型或缺少时间戳"));
        }
        let seller = match param(params, "app_auth_token") {
            None => self.config.seller_id.clone(),
            Some(token) => match seller_of_token(token) {
                Some(seller) => seller.to_owned(),
                None => {
                    let sub = Some(("aop.invalid-app-auth-token", "无效的应用授权令牌"));
                    return (method, Reply::with("20001", "Insufficient Token Permissions", sub, Map::new()));
                }
            },
        };
        let Some(biz) = param(params, "biz_content").and_then(|b| serde_json::from_str::<Value>(b).ok()) else {
            return (method, Reply::fail("ACQ.INVALID_PARAMETER", "biz_content 无效"));
        };
        let notify_url = param(params, "notify_url").map(str::to_owned);
        let reply = match method.as_str() {
            "alipay.trade.create" | "alipay.trade.wap.pay" | "alipay.trade.pay" => {
                self.create(&method, &seller, &biz, notify_url)
            }
            "alipay.trade.query" => self.query(&seller, &biz),
            "alipay.trade.close" => self.close(&seller, &biz),
            "alipay.trade.refund" => self.refund(&seller, &biz),
            "alipay.trade.fastpay.refund.query" => self.refund_query(&seller, &biz),
            "alipay.data.dataservice.bill.downloadurl.query" => self.bill_url(&seller, &biz),
            _ => Reply::invalid("isv.invalid-method", "不存在的方法名"),
        };
        (method, reply)
    }

    fn create(self: &Arc<Self>, method: &str, seller: &str, biz: &Value, notify_url: Option<String>) -> Reply {
        let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("");
        let out_trade_no = s("out_trade_no");
        let Some(total_fen) = yuan_to_fen(s("total_amount")).filter(|f| *f > 0) else {
            return Reply::fail("ACQ.INVALID_PARAMETER", "total_amount 无效");
        };
        if !crate::pay::is_valid_out_no(out_trade_no) || s("subject").is_empty() {
            return Reply::fail("ACQ.INVALID_PARAMETER", "参数无效");
        }
        let auth_code = s("auth_code");
        let who = match method {
            "alipay.trade.pay" => auth_code.to_owned(),
            "alipay.trade.create" if s("buyer_id").is_empty() && s("buyer_open_id").is_empty() => {
                return Reply::fail("ACQ.INVALID_PARAMETER", "缺少 buyer_id 或 buyer_open_id");
            }
            _ => format!("{}{}", s("buyer_id"), s("buyer_open_id")),
        };
        let fingerprint = format!("{method}|{total_fen}|{who}");
        let mut ledger = lock(&self.ledger);
        if let Some(trade) = ledger.get(seller, out_trade_no) {
            if trade.fingerprint != fingerprint {
                return Reply::fail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
            }
            return match trade.status {
                Status::Paid => Reply::fail("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
                Status::Closed => Reply::fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
                Status::Waiting if method == "alipay.trade.pay" => {
                    Reply::with("10003", "Order success pay inprocess", None, trade.summary())
                }
                Status::Waiting => Reply::ok(trade.summary()),
            };
        }
        if ledger.faults.fail_creates > 0 {
            ledger.faults.fail_creates -= 1;
            return Reply::with(
                "20000",
                "Service Currently Unavailable",
                Some(("isp.unknow-error", "系统繁忙")),
                Map::new(),
            );
        }
        let code = classify_code(auth_code);
        if method == "alipay.trade.pay" && code == CodeKind::Invalid {
            return Reply::fail(
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
            );
        }
        let now = Utc::now();
        let mut trade = Trade {
            seller: seller.to_owned(),
            out_trade_no: out_trade_no.to_owned(),
            trade_no: format!("{}22001{}", now.format("%Y%m%d"), random_digits(15)),
            total_fen,
            subject: s("subject").to_owned(),
            notify_url,
            fingerprint,
            status: Status::Waiting,
            created: now,
            expires: parse_time(s("time_expire")),
            paid_at: None,
            refunds: Vec::new(),
        };
        let reply = match (method, code) {
            ("alipay.trade.pay", CodeKind::Insufficient) => {
                trade.status = Status::Closed;
                Reply::fail("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
            }
            ("alipay.trade.pay", CodeKind::PaysNow) => {
                trade.pay();
                let mut fields = trade.summary();
                fields.insert("receipt_amount".into(), json!(fen_to_yuan(total_fen)));
                fields.insert("gmt_payment".into(), json!(format_time(now)));
                self.notify(&ledger.faults, &trade, None);
                Reply::ok(fields)
            }
            ("alipay.trade.pay", _) => {
                self.pay_later(seller.to_owned(), out_trade_no.to_owned());
                Reply::with("10003", "Order success pay inprocess", None, trade.summary())
            }
            _ => Reply::ok(trade.summary()),
        };
        ledger.trades.insert((seller.to_owned(), out_trade_no.to_owned()), trade);
        reply
    }

    fn pay_later(self: &Arc<Self>, seller: String, out_trade_no: String) {
        let peer = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(peer.config.paying_for).await;
            let mut ledger = lock(&peer.ledger);
            let faults = ledger.faults.clone();
            if let Some(trade) = ledger.get(&seller, &out_trade_no).filter(|t| t.status == Status::Waiting) {
                trade.pay();
                peer.notify(&faults, trade, None);
            }
        });
    }

    fn pay_as_buyer(self: &Arc<Self>, out_trade_no: &str) -> Result<(), String> {
        let mut ledger = lock(&self.ledger);
        let faults = ledger.faults.clone();
        let trade = ledger.find(out_trade_no).ok_or("ACQ.TRADE_NOT_EXIST")?;
        match trade.status {
            Status::Paid => Ok(()),
            Status::Closed => Err("TRADE_CLOSED".into()),
            Status::Waiting => {
                trade.pay();
                self.notify(&faults, trade, None);
                Ok(())
            }
        }
    }

    fn query(&self, seller: &str, biz: &Value) -> Reply {
        let no = biz.get("out_trade_no").and_then(Value::as_str).unwrap_or("");
        let mut ledger = lock(&self.ledger);
        let Some(trade) = ledger.get(seller, no) else { return Reply::fail("ACQ.TRADE_NOT_EXIST", "交易不存在") };
        let mut fields = trade.summary();
        fields.insert("trade_status".into(), json!(trade.trade_status()));
        if let Some(paid_at) = trade.paid_at {
            fields.insert("receipt_amount".into(), json!(fen_to_yuan(trade.total_fen)));
            fields.insert("send_pay_date".into(), json!(format_time(paid_at)));
        }
        Reply::ok(fields)
    }

    fn close(self: &Arc<Self>, seller: &str, biz: &Value) -> Reply {
        let no = biz.get("out_trade_no").and_then(Value::as_str).unwrap_or("");
        let mut ledger = lock(&self.ledger);
        let faults = ledger.faults.clone();
        let Some(trade) = ledger.get(seller, no) else { return Reply::fail("ACQ.TRADE_NOT_EXIST", "交易不存在") };
        if trade.status != Status::Waiting {
            return Reply::fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
        }
        trade.status = Status::Closed;
        self.notify(&faults, trade, None);
        let mut fields = Map::new();
        fields.insert("trade_no".into(), json!(trade.trade_no));
        fields.insert("out_trade_no".into(), json!(trade.out_trade_no));
        Reply::ok(fields)
    }

    fn refund(self: &Arc<Self>, seller: &str, biz: &Value) -> Reply {
        let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("");
        let (no, request) = (s("out_trade_no"), s("out_request_no"));
        let Some(fen) = yuan_to_fen(s("refund_amount")).filter(|f| *f > 0) else {
            return Reply::fail("ACQ.INVALID_PARAMETER", "refund_amount 无效");
        };
        let mut ledger = lock(&self.ledger);
        let faults = ledger.faults.clone();
        let Some(trade) = ledger.get(seller, no) else { return Reply::fail("ACQ.TRADE_NOT_EXIST", "交易不存在") };
        let reply = |trade: &Trade, changed: bool, at: DateTime<Utc>| {
            let mut fields = trade.summary();
            fields.insert("fund_change".into(), json!(if changed { "Y" } else { "N" }));
            fields.insert("refund_fee".into(), json!(fen_to_yuan(trade.refunded())));
            fields.insert("gmt_refund_pay".into(), json!(format_time(at)));
            Reply::ok(fields)
        };
        if let Some(earlier) = trade.refunds.iter().find(|r| r.out_request_no == request) {
            if earlier.fen != fen {
                return Reply::fail("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求");
            }
            return reply(trade, false, earlier.at);
        }
        if trade.paid_at.is_none() {
            return Reply::fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
        }
        if trade.refunded() + fen > trade.total_fen {
            return Reply::fail("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
        }
        let now = Utc::now();
        trade.refunds.push(PeerRefund { out_request_no: request.to_owned(), fen, at: now });
        if trade.refunded() == trade.total_fen {
            trade.status = Status::Closed;
        }
        self.notify(&faults, trade, trade.refunds.last());
        reply(trade, true, now)
    }

    fn refund_query(&self, seller: &str, biz: &Value) -> Reply {
        let s = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("");
        let mut ledger = lock(&self.ledger);
        let Some(trade) = ledger.get(seller, s("out_trade_no")) else {
            return Reply::fail("ACQ.TRADE_NOT_EXIST", "交易不存在");
        };
        let mut fields = Map::new();
        if let Some(r) = trade.refunds.iter().find(|r| r.out_request_no == s("out_request_no")) {
            fields = trade.summary();
            fields.insert("out_request_no".into(), json!(r.out_request_no));
            fields.insert("refund_amount".into(), json!(fen_to_yuan(r.fen)));
            fields.insert("refund_status".into(), json!("REFUND_SUCCESS"));
            fields.insert("gmt_refund_pay".into(), json!(format_time(r.at)));
        }
        Reply::ok(fields)
    }

    /// The bill rows of `seller` settled on `date` (China time).
    fn bill_rows(&self, seller: &str, date: NaiveDate) -> Vec<BillRow> {
        let on_day = |t: DateTime<Utc>| t.with_timezone(&wire::china()).date_naive() == date;
        let ledger = lock(&self.ledger);
        let mut rows = Vec::new();
        for t in ledger.trades.values().filter(|t| t.seller == seller) {
            let row = |kind, finished, amount_fen, out_request_no| BillRow {
                trade_no: t.trade_no.clone(),
                out_trade_no: t.out_trade_no.clone(),
                kind,
                subject: t.subject.clone(),
                created: t.created,
                finished,
                amount_fen,
                out_request_no,
            };
            if let Some(paid_at) = t.paid_at.filter(|p| on_day(*p)) {
                rows.push(row(StatementKind::Payment, paid_at, t.total_fen, None));
            }
            for r in t.refunds.iter().filter(|r| on_day(r.at)) {
                rows.push(row(StatementKind::Refund, r.at, r.fen, Some(r.out_request_no.clone())));
            }
        }
        rows.extend(ledger.planted.iter().filter(|(s, r)| s == seller && on_day(r.finished)).map(|(_, r)| r.clone()));
        rows.sort_by(|a, b| (a.finished, &a.out_trade_no).cmp(&(b.finished, &b.out_trade_no)));
        rows
    }

    fn bill_url(&self, seller: &str, biz: &Value) -> Reply {
        let date = biz.get("bill_date").and_then(Value::as_str).unwrap_or("");
        let Ok(day) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
            return Reply::fail("isp.bill_date_error", "账单日期格式错误");
        };
        if biz.get("bill_type").and_then(Value::as_str) != Some("trade") {
            return Reply::fail("isv.invalid-bill-type", "账单类型不支持");
        }
        if self.bill_rows(seller, day).is_empty() {
            return Reply::fail("isp.bill_not_exist", "账单不存在");
        }
        let mut fields = Map::new();
        let url = format!(
            "{}/sandbox/bill?seller={seller}&date={date}&downloadFileName={seller}_{date}.csv.zip",
            self.base_url
        );
        fields.insert("bill_download_url".into(), json!(url));
        Reply::ok(fields)
    }

    /// The signed notification parameters of `trade` now (and of one of its refunds).
    fn notification(&self, trade: &Trade, refund: Option<&PeerRefund>) -> Params {
        let now = Utc::now();
        let mut p: Params = Vec::new();
        let mut add = |k: &str, v: String| p.push((k.to_owned(), v));
        add("notify_time", format_time(now));
        add("notify_type", "trade_status_sync".into());
        add("notify_id", format!("{}{}", now.format("%Y%m%d"), random_digits(20)));
        add("app_id", self.config.app_id.clone());
        add("auth_app_id", self.config.app_id.clone());
        add("charset", "utf-8".into());
        add("version", "1.0".into());
        add("sign_type", "RSA2".into());
        add("trade_no", trade.trade_no.clone());
        add("out_trade_no", trade.out_trade_no.clone());
        add("buyer_id", "2088102100000001".into());
        add("seller_id", trade.seller.clone());
        add("trade_status", trade.trade_status().into());
        add("total_amount", fen_to_yuan(trade.total_fen));
        add("subject", trade.subject.clone());
        add("gmt_create", format_time(trade.created));
        if let Some(paid_at) = trade.paid_at {
            add("receipt_amount", fen_to_yuan(trade.total_fen));
            add("buyer_pay_amount", fen_to_yuan(trade.total_fen));
            add("gmt_payment", format_time(paid_at));
        }
        if let Some(r) = refund {
            add("out_biz_no", r.out_request_no.clone());
            add("refund_fee", fen_to_yuan(trade.refunded()));
            add("gmt_refund", r.at.with_timezone(&wire::china()).format("%Y-%m-%d %H:%M:%S%.3f").to_string());
        }
        wire::sign_notification(&mut p, &self.key);
        p
    }

    fn notify(self: &Arc<Self>, faults: &AlipayFaults, trade: &Trade, refund: Option<&PeerRefund>) {
        let Some(url) = trade.notify_url.clone() else { return };
        if faults.drop_notifications {
            tracing::info!("Alipay peer: notification dropped (fault knob)");
            return;
        }
        let body = Bytes::from(wire::form_encode(&self.notification(trade, refund)));
        for _ in 0..if faults.notify_twice { 2 } else { 1 } {
            tokio::spawn(self.clone().deliver(url.clone(), body.clone()));
        }
    }

    /// POSTs a notification until the answer's body is exactly `success`.
    async fn deliver(self: Arc<Self>, url: String, body: Bytes) {
        for wait in std::iter::once(Duration::ZERO).chain(self.config.notify_backoff.clone()) {
            tokio::time::sleep(wait).await;
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            self.sent.fetch_add(1, Ordering::SeqCst);
            let attempt = self
                .http
                .post(&url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded;charset=utf-8")
                .body(body.clone())
                .send()
                .await;
            if let Ok(response) = attempt
                && response.bytes().await.is_ok_and(|b| b.as_ref() == b"success")
            {
                self.delivered.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
        tracing::warn!("Alipay peer: gave up on a notification");
    }

    fn take_response_delay(&self) -> Option<Duration> {
        let faults = &mut lock(&self.ledger).faults;
        (faults.delay_responses > 0).then(|| {
            faults.delay_responses -= 1;
            Duration::from_millis(faults.response_delay_ms)
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CodeKind {
    PaysNow,
    PaysLater,
    Insufficient,
    Invalid,
}

fn classify_code(code: &str) -> CodeKind {
    let prefix_ok = code.get(..2).and_then(|p| p.parse::<u8>().ok()).is_some_and(|p| (25..=30).contains(&p));
    if code == INSUFFICIENT_BALANCE_CODE {
        CodeKind::Insufficient
    } else if (16..=24).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) && prefix_ok {
        if code.ends_with('9') { CodeKind::PaysLater } else { CodeKind::PaysNow }
    } else {
        CodeKind::Invalid
    }
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

fn random_digits(n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rand::random_range(0..10u8))).collect()
}

/// A panic while holding the lock leaves plain data behind, still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn payment_codes_are_classified() {
        assert_eq!(classify_code("2812345678901234560"), CodeKind::PaysNow);
        assert_eq!(classify_code("301234567890123459"), CodeKind::PaysLater);
        assert_eq!(classify_code(INSUFFICIENT_BALANCE_CODE), CodeKind::Insufficient);
        assert_eq!(classify_code("241234567890123456"), CodeKind::Invalid, "prefix below 25");
        assert_eq!(classify_code("311234567890123456"), CodeKind::Invalid, "prefix above 30");
        assert_eq!(classify_code("251234567890123"), CodeKind::Invalid, "15 digits");
        assert_eq!(classify_code("2512345678901234567890123"), CodeKind::Invalid, "25 digits");
        assert_eq!(classify_code("25123456789012345a"), CodeKind::Invalid);
    }

    #[test]
    fn replies_put_code_first_and_escape_slashes() {
        let mut fields = Map::new();
        fields.insert("bill_download_url".into(), json!("http://x/y"));
        assert_eq!(Reply::ok(fields).text(), r#"{"code":"10000","msg":"Success","bill_download_url":"http:\/\/x\/y"}"#);
    }
}
