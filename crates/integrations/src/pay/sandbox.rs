//! A local payment channel peer for tests and the demo: an axum server with its own
//! merchant and keys, speaking the protocol of the [module docs](super). Point
//! [`super::SandboxChannel`] at it with [`PaySandboxHandle::channel_config`].
//!
//! # The payer side
//! - **App payments** answer `NOTPAY` with `pay_params`
//!   `{"cashier_url": "<base>/cashier/{out_trade_no}", "confirm_url": "<base>/v1/payments/{out_trade_no}/confirm"}`.
//!   `POST confirm_url` (no signature: it plays the driver's phone) pays it and notifies;
//!   repeating it is harmless. `GET cashier_url` is a zh-CN page with the amount and a
//!   确认支付 button that posts to `confirm_url`, for the demo.
//! - **Payment codes** (付款码): 18 digits starting `13` pay at once (and notify); such a
//!   code ending in `9` answers `USERPAYING` first and pays
//!   [`PaySandboxConfig::user_paying_for`] later (the counter must query); the code
//!   `err-insufficient` answers a failed payment (`PAYERROR`, `NOTENOUGH`) that stays
//!   recorded; anything else is refused (400 `AUTH_CODE_INVALID`) and not recorded.
//! - A payment not paid by its `time_expire` reads as `CLOSED`.
//! - **Refunds** answer `PROCESSING` and succeed [`PaySandboxConfig::refund_settles_after`]
//!   later (at once when zero), then notify.
//! - Creating again with the same `out_trade_no` and the same request answers the
//!   payment as it is now (a client retrying after a timeout); a different request under
//!   that number is refused `out_trade_no_used`. A refund repeated under the same
//!   `out_refund_no` answers the first refund; with a different request, `invalid_request`.
//!
//! # Notifications
//! POSTed to the request's `notify_url`, signed with the notification key, retried after
//! [`PaySandboxConfig::notify_backoff`] (0.2 s, 0.5 s, 1 s, 2 s, 5 s, then it gives up)
//! until a 2xx. Each attempt is signed afresh (new timestamp and nonce); the body, and
//! its event id, stay the same.
//!
//! # Fault knobs
//! [`PayFaults`], set on the handle in tests or by `POST /control` with any subset of its
//! fields as JSON (`GET /control` reads them) for the demo and end-to-end runs:
//! `{"fail_creates": 1, "delay_responses": 1, "response_delay_ms": 3000,
//! "notify_twice": true, "notify_delay_ms": 2000, "drop_notifications": true}`.
//! `/control` is unauthenticated: the sandbox listens on 127.0.0.1 and holds no money.
//! A delayed response is delayed *after* the operation is applied, so a client that
//! times out leaves the payment created: the "unknown outcome" case.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

use super::client::{DEFAULT_API_KEY, DEFAULT_MCHID, DEFAULT_NOTIFY_KEY};
use super::sign::{self, HEADER_MCHID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_SKEW_SECS};
use super::wire::{self, ErrorBody};
use super::{CURRENCY, PaymentState, RefundState, SandboxChannelConfig, codes, is_valid_out_no};
use crate::http::DEFAULT_TIMEOUT;

/// The reserved payment code that fails for lack of funds.
pub const INSUFFICIENT_FUNDS_CODE: &str = "err-insufficient";

#[derive(Clone, Debug)]
pub struct PaySandboxConfig {
    /// `127.0.0.1:0` (a free port) unless a demo wants a fixed one.
    pub listen: SocketAddr,
    pub mchid: String,
    /// Authenticates our requests.
    pub api_key: String,
    /// Signs the peer's notifications.
    pub notify_key: String,
    /// How long a payment code ending in 9 stays `USERPAYING`.
    pub user_paying_for: Duration,
    /// How long a refund stays `PROCESSING`; zero answers `SUCCESS` at once.
    pub refund_settles_after: Duration,
    /// Waits before the 2nd, 3rd, ... delivery attempt of a notification.
    pub notify_backoff: Vec<Duration>,
}

impl Default for PaySandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mchid: DEFAULT_MCHID.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            notify_key: DEFAULT_NOTIFY_KEY.to_owned(),
            user_paying_for: Duration::from_millis(300),
            refund_settles_after: Duration::from_millis(300),
            notify_backoff: [200, 500, 1000, 2000, 5000].into_iter().map(Duration::from_millis).collect(),
        }
    }
}

/// Misbehaviour on demand. Counters (`fail_creates`, `delay_responses`) count down as
/// they are used; the rest stay until changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayFaults {
    /// The next N creates are refused `SYSTEM_ERROR` (HTTP 500) and create nothing.
    pub fail_creates: u32,
    /// The next N signed API answers wait `response_delay_ms` after doing their work.
    pub delay_responses: u32,
    pub response_delay_ms: u64,
    /// Every notification is delivered twice, concurrently.
    pub notify_twice: bool,
    /// Every notification waits this long before its first attempt.
    pub notify_delay_ms: u64,
    /// No notification is sent at all (the app's settle job must query).
    pub drop_notifications: bool,
}

/// `POST /control`: the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsPatch {
    fail_creates: Option<u32>,
    delay_responses: Option<u32>,
    response_delay_ms: Option<u64>,
    notify_twice: Option<bool>,
    notify_delay_ms: Option<u64>,
    drop_notifications: Option<bool>,
}

/// Controls a running sandbox. Clones share it; the server stops (and stops notifying)
/// on [`Self::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct PaySandboxHandle {
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

impl PaySandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.inner.peer.base_url.clone()
    }

    /// What [`super::SandboxChannel::new`] needs to talk to this peer.
    pub fn channel_config(&self) -> SandboxChannelConfig {
        let config = &self.inner.peer.config;
        SandboxChannelConfig {
            base_url: self.base_url(),
            mchid: config.mchid.clone(),
            api_key: config.api_key.clone(),
            notify_key: config.notify_key.clone(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The payment as the peer sees it now (`NotFound` when it never arrived).
    pub fn payment(&self, out_trade_no: &str) -> PaymentState {
        let peer = &self.inner.peer;
        let mut ledger = lock(&peer.ledger);
        match ledger.payments.get_mut(out_trade_no) {
            Some(p) => {
                p.expire(Utc::now());
                p.to_wire(&peer.config.mchid).state().unwrap_or(PaymentState::NotFound)
            }
            None => PaymentState::NotFound,
        }
    }

    pub fn refund(&self, out_refund_no: &str) -> Option<RefundState> {
        lock(&self.inner.peer.ledger).refunds.get(out_refund_no).and_then(|r| r.wire.state().ok())
    }

    /// Pays an app payment as the driver's confirm would. `Err` is the refusal's code.
    pub fn confirm(&self, out_trade_no: &str) -> Result<PaymentState, String> {
        let payment = self.inner.peer.confirm(out_trade_no).map_err(|Fail(_, e)| e.code)?;
        payment.state().map_err(|e| e.to_string())
    }

    pub fn faults(&self) -> PayFaults {
        lock(&self.inner.peer.ledger).faults.clone()
    }

    pub fn set_faults(&self, faults: PayFaults) {
        lock(&self.inner.peer.ledger).faults = faults;
    }

    pub fn fail_next_creates(&self, n: u32) {
        lock(&self.inner.peer.ledger).faults.fail_creates = n;
    }

    /// The next `n` signed API answers come `by` late, after the work is done.
    pub fn delay_next_responses(&self, n: u32, by: Duration) {
        let faults = &mut lock(&self.inner.peer.ledger).faults;
        faults.delay_responses = n;
        faults.response_delay_ms = millis(by);
    }

    pub fn notify_twice(&self, on: bool) {
        lock(&self.inner.peer.ledger).faults.notify_twice = on;
    }

    pub fn delay_notifications(&self, by: Duration) {
        lock(&self.inner.peer.ledger).faults.notify_delay_ms = millis(by);
    }

    pub fn drop_notifications(&self, on: bool) {
        lock(&self.inner.peer.ledger).faults.drop_notifications = on;
    }

    /// Notification POSTs made, retries and duplicates included.
    pub fn notifications_sent(&self) -> usize {
        self.inner.peer.sent.load(Ordering::SeqCst)
    }

    /// Notification POSTs answered with a 2xx.
    pub fn notifications_delivered(&self) -> usize {
        self.inner.peer.delivered.load(Ordering::SeqCst)
    }

    /// Requests refused with 401 (signature, merchant or timestamp).
    pub fn auth_failures(&self) -> usize {
        self.inner.peer.auth_failures.load(Ordering::SeqCst)
    }

    /// Adds a line to the peer's bills that no request produced: a payment the channel
    /// says it took although we never heard of it, for reconciliation tests.
    pub fn plant_bill_line(&self, line: wire::BillLine) {
        lock(&self.inner.peer.ledger).extra_bill_lines.push(line);
    }

    pub fn shutdown(&self) {
        self.inner.stop();
    }
}

/// Starts the sandbox on [`PaySandboxConfig::listen`].
pub async fn spawn_pay_sandbox(config: PaySandboxConfig) -> std::io::Result<PaySandboxHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let peer = Arc::new(Peer {
        base_url: format!("http://{addr}"),
        config,
        ledger: Mutex::default(),
        http: crate::http::client(DEFAULT_TIMEOUT),
        sent: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
        auth_failures: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
    });
    let router = Router::new()
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/{out_trade_no}", get(get_payment))
        .route("/v1/payments/{out_trade_no}/close", post(close_payment))
        .route("/v1/payments/{out_trade_no}/confirm", post(confirm_payment))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/refunds/{out_refund_no}", get(get_refund))
        .route("/v1/bills/{date}", get(get_bill))
        .route("/cashier/{out_trade_no}", get(cashier))
        .route("/control", get(read_control).post(control))
        .with_state(peer.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "payment sandbox stopped");
        }
    });
    tracing::info!(%addr, "payment sandbox listening");
    let inner = Inner { addr, peer, shutdown: Mutex::new(Some(tx)) };
    Ok(PaySandboxHandle { inner: Arc::new(inner) })
}

struct Peer {
    config: PaySandboxConfig,
    base_url: String,
    ledger: Mutex<Ledger>,
    /// Delivers notifications.
    http: reqwest::Client,
    sent: AtomicUsize,
    delivered: AtomicUsize,
    auth_failures: AtomicUsize,
    stopped: AtomicBool,
}

#[derive(Default)]
struct Ledger {
    payments: HashMap<String, PaymentRecord>,
    refunds: HashMap<String, RefundRecord>,
    faults: PayFaults,
    /// Lines a test planted in the bill that match no payment (see
    /// [`PaySandboxHandle::plant_bill_line`]).
    extra_bill_lines: Vec<wire::BillLine>,
}

struct PaymentRecord {
    /// As first received: a repeated create must match it.
    request: wire::CreateBody,
    trade_state: &'static str,
    transaction_id: Option<String>,
    success_time: Option<DateTime<Utc>>,
    error: Option<ErrorBody>,
}

impl PaymentRecord {
    /// Unpaid past `time_expire` → closed, checked whenever the payment is read.
    fn expire(&mut self, now: DateTime<Utc>) {
        if self.trade_state == "NOTPAY" && now >= self.request.time_expire {
            self.trade_state = "CLOSED";
        }
    }

    fn pay(&mut self, now: DateTime<Utc>) {
        self.trade_state = "SUCCESS";
        self.transaction_id = Some(format!("4200{}{}", now.format("%Y%m%d"), random_digits(12)));
        self.success_time = Some(now);
    }

    /// Without `pay_params`, which need the base URL: see [`Peer::payment_view`].
    fn to_wire(&self, mchid: &str) -> wire::Payment {
        wire::Payment {
            mchid: mchid.to_owned(),
            out_trade_no: self.request.out_trade_no.clone(),
            trade_state: self.trade_state.to_owned(),
            amount: self.request.amount.clone(),
            transaction_id: self.transaction_id.clone(),
            success_time: self.success_time,
            error: self.error.clone(),
            pay_params: None,
        }
    }
}

struct RefundRecord {
    request: wire::RefundBody,
    wire: wire::Refund,
}

/// A refusal: HTTP status and `{code, message}`.
struct Fail(StatusCode, ErrorBody);

impl Fail {
    fn new(status: StatusCode, code: &str, message: &str) -> Self {
        Self(status, ErrorBody::new(code, message))
    }

    fn invalid(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn answer<T: Serialize>(result: Result<T, Fail>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(fail) => fail.into_response(),
    }
}

impl Peer {
    /// Checks the merchant API signature over what actually arrived.
    fn authenticate(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), Fail> {
        let unauthorized = |code: &str, message: &str| Fail::new(StatusCode::UNAUTHORIZED, code, message);
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
        let (Some(mchid), Some(timestamp), Some(nonce), Some(signature)) =
            (header(HEADER_MCHID), header(HEADER_TIMESTAMP), header(HEADER_NONCE), header(HEADER_SIGNATURE))
        else {
            return Err(unauthorized("SIGN_ERROR", "missing X-Sandbox-Mchid/-Timestamp/-Nonce/-Signature"));
        };
        if mchid != self.config.mchid {
            return Err(unauthorized("MCH_NOT_EXISTS", "unknown merchant"));
        }
        let Ok(timestamp) = timestamp.parse::<i64>() else {
            return Err(unauthorized("SIGN_ERROR", "X-Sandbox-Timestamp is not unix seconds"));
        };
        if (Utc::now().timestamp() - timestamp).abs() > MAX_SKEW_SECS {
            return Err(unauthorized("SIGN_ERROR", "timestamp more than 5 minutes off"));
        }
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let message = sign::request_message(method.as_str(), path, timestamp, nonce, body);
        if !sign::verify(&self.config.api_key, &message, signature) {
            return Err(unauthorized("SIGN_ERROR", "signature does not match"));
        }
        Ok(())
    }

    /// The wire view of a payment, with `pay_params` for an unpaid app payment.
    fn payment_view(&self, record: &PaymentRecord) -> wire::Payment {
        let mut payment = record.to_wire(&self.config.mchid);
        if matches!(record.request.payer, wire::PayerBody::App { .. }) && record.trade_state == "NOTPAY" {
            let no = &record.request.out_trade_no;
            payment.pay_params = Some(json!({
                "cashier_url": format!("{}/cashier/{no}", self.base_url),
                "confirm_url": format!("{}/v1/payments/{no}/confirm", self.base_url),
            }));
        }
        payment
    }

    fn create(self: &Arc<Self>, body: &[u8]) -> Result<wire::Payment, Fail> {
        let mut ledger = lock(&self.ledger);
        if ledger.faults.fail_creates > 0 {
            ledger.faults.fail_creates -= 1;
            return Err(Fail::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "injected failure"));
        }
        let req: wire::CreateBody = serde_json::from_slice(body).map_err(|_| Fail::invalid("body is not a payment"))?;
        let now = Utc::now();
        if req.mchid != self.config.mchid {
            return Err(Fail::invalid("mchid differs from the signing merchant"));
        }
        if !is_valid_out_no(&req.out_trade_no) {
            return Err(Fail::invalid("out_trade_no must be 1-32 of [A-Za-z0-9_-]"));
        }
        if req.amount.total <= 0 || req.amount.currency != CURRENCY {
            return Err(Fail::invalid("amount must be a positive number of CNY fen"));
        }
        if let Some(existing) = ledger.payments.get_mut(&req.out_trade_no) {
            if existing.request != req {
                return Err(Fail::new(StatusCode::BAD_REQUEST, codes::OUT_TRADE_NO_USED, "another request used it"));
            }
            existing.expire(now);
            return Ok(self.payment_view(existing));
        }
        if req.time_expire <= now {
            return Err(Fail::invalid("time_expire is in the past"));
        }
        let mut record = PaymentRecord {
            request: req,
            trade_state: "NOTPAY",
            transaction_id: None,
            success_time: None,
            error: None,
        };
        let mut notify = false;
        if let wire::PayerBody::PaymentCode { auth_code } = &record.request.payer {
            match classify_code(auth_code) {
                CodeKind::PaysNow => {
                    record.pay(now);
                    notify = true;
                }
                CodeKind::PaysLater => {
                    record.trade_state = "USERPAYING";
                    self.settle_user_paying(record.request.out_trade_no.clone());
                }
                CodeKind::Insufficient => {
                    record.trade_state = "PAYERROR";
                    record.error = Some(ErrorBody::new("NOTENOUGH", "用户余额不足"));
                }
                CodeKind::Invalid => {
                    return Err(Fail::new(StatusCode::BAD_REQUEST, "AUTH_CODE_INVALID", "not a payment code"));
                }
            }
        }
        let view = self.payment_view(&record);
        if notify {
            self.notify(&ledger.faults, &record.request.notify_url, "TRANSACTION.SUCCESS", &view);
        }
        tracing::info!(out_trade_no = %view.out_trade_no, trade_state = %view.trade_state, "payment sandbox: payment created");
        ledger.payments.insert(record.request.out_trade_no.clone(), record);
        Ok(view)
    }

    /// A payment code ending in 9: the payer "confirms on the phone" for a while.
    fn settle_user_paying(self: &Arc<Self>, out_trade_no: String) {
        let peer = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(peer.config.user_paying_for).await;
            let mut ledger = lock(&peer.ledger);
            let Ledger { payments, faults, .. } = &mut *ledger;
            if let Some(record) = payments.get_mut(&out_trade_no).filter(|r| r.trade_state == "USERPAYING") {
                record.pay(Utc::now());
                peer.notify(faults, &record.request.notify_url, "TRANSACTION.SUCCESS", &peer.payment_view(record));
            }
        });
    }

    fn get_payment(&self, out_trade_no: &str) -> Result<wire::Payment, Fail> {
        let mut ledger = lock(&self.ledger);
        let record = ledger.payments.get_mut(out_trade_no).ok_or_else(not_found)?;
        record.expire(Utc::now());
        Ok(self.payment_view(record))
    }

    fn close(&self, out_trade_no: &str) -> Result<(), Fail> {
        let mut ledger = lock(&self.ledger);
        let record = ledger.payments.get_mut(out_trade_no).ok_or_else(not_found)?;
        match record.trade_state {
            "SUCCESS" => Err(Fail::new(StatusCode::BAD_REQUEST, codes::ALREADY_PAID, "the payment is paid")),
            "NOTPAY" | "USERPAYING" => {
                record.trade_state = "CLOSED";
                Ok(())
            }
            _ => Ok(()), // closed or failed already: nothing can pay it any more
        }
    }

    /// The driver pays an app payment. Repeating it is harmless and does not notify again.
    fn confirm(self: &Arc<Self>, out_trade_no: &str) -> Result<wire::Payment, Fail> {
        let mut ledger = lock(&self.ledger);
        let Ledger { payments, faults, .. } = &mut *ledger;
        let record = payments.get_mut(out_trade_no).ok_or_else(not_found)?;
        if !matches!(record.request.payer, wire::PayerBody::App { .. }) {
            return Err(Fail::invalid("only app payments are confirmed by the payer"));
        }
        let now = Utc::now();
        record.expire(now);
        match record.trade_state {
            "SUCCESS" => Ok(self.payment_view(record)),
            "NOTPAY" => {
                record.pay(now);
                let view = self.payment_view(record);
                self.notify(faults, &record.request.notify_url, "TRANSACTION.SUCCESS", &view);
                tracing::info!(out_trade_no, "payment sandbox: the payer confirmed");
                Ok(view)
            }
            _ => Err(Fail::new(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "the payment is closed")),
        }
    }

    fn create_refund(self: &Arc<Self>, body: &[u8]) -> Result<wire::Refund, Fail> {
        let req: wire::RefundBody = serde_json::from_slice(body).map_err(|_| Fail::invalid("body is not a refund"))?;
        if !is_valid_out_no(&req.out_trade_no) || !is_valid_out_no(&req.out_refund_no) {
            return Err(Fail::invalid("out_trade_no and out_refund_no must be 1-32 of [A-Za-z0-9_-]"));
        }
        if req.amount.refund <= 0 || req.amount.currency != CURRENCY {
            return Err(Fail::invalid("refund must be a positive number of CNY fen"));
        }
        let mut ledger = lock(&self.ledger);
        let Ledger { payments, refunds, faults, .. } = &mut *ledger;
        if let Some(existing) = refunds.get(&req.out_refund_no) {
            return if existing.request == req {
                Ok(existing.wire.clone())
            } else {
                Err(Fail::invalid("out_refund_no was used for another refund"))
            };
        }
        let payment = payments.get_mut(&req.out_trade_no).ok_or_else(not_found)?;
        payment.expire(Utc::now());
        if payment.trade_state != "SUCCESS" {
            return Err(Fail::new(StatusCode::BAD_REQUEST, codes::NOT_PAID, "the payment is not paid"));
        }
        if req.amount.total != payment.request.amount.total {
            return Err(Fail::invalid("amount.total differs from the payment"));
        }
        let refunded: i64 = refunds
            .values()
            .filter(|r| r.request.out_trade_no == req.out_trade_no && r.wire.status != "ABNORMAL")
            .map(|r| r.request.amount.refund)
            .sum();
        if refunded + req.amount.refund > req.amount.total {
            return Err(Fail::new(StatusCode::BAD_REQUEST, codes::REFUND_EXCEEDS, "more than what is left"));
        }
        let mut refund = wire::Refund {
            mchid: self.config.mchid.clone(),
            out_trade_no: req.out_trade_no.clone(),
            out_refund_no: req.out_refund_no.clone(),
            refund_id: format!("5030{}", random_digits(16)),
            status: "PROCESSING".into(),
            amount: req.amount.clone(),
            success_time: None,
            error: None,
        };
        if self.config.refund_settles_after.is_zero() {
            refund.status = "SUCCESS".into();
            refund.success_time = Some(Utc::now());
            self.notify(faults, &req.notify_url, "REFUND.SUCCESS", &refund);
        } else {
            self.settle_refund(req.out_refund_no.clone());
        }
        refunds.insert(req.out_refund_no.clone(), RefundRecord { request: req, wire: refund.clone() });
        Ok(refund)
    }

    fn settle_refund(self: &Arc<Self>, out_refund_no: String) {
        let peer = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(peer.config.refund_settles_after).await;
            let mut ledger = lock(&peer.ledger);
            let Ledger { refunds, faults, .. } = &mut *ledger;
            if let Some(record) = refunds.get_mut(&out_refund_no).filter(|r| r.wire.status == "PROCESSING") {
                record.wire.status = "SUCCESS".into();
                record.wire.success_time = Some(Utc::now());
                peer.notify(faults, &record.request.notify_url, "REFUND.SUCCESS", &record.wire);
            }
        });
    }

    /// Everything settled on `date` in China time (UTC+8), as the channels cut their bills.
    fn bill(&self, date: &str) -> Result<wire::Bill, Fail> {
        let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| Fail::invalid("the bill date must be YYYY-MM-DD"))?;
        let on_day = |t: Option<DateTime<Utc>>| {
            t.is_some_and(|t| {
                t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")).date_naive() == date
            })
        };
        let ledger = lock(&self.ledger);
        let mut lines: Vec<wire::BillLine> = ledger
            .payments
            .values()
            .filter(|p| p.trade_state != "NOTPAY" && on_day(p.success_time))
            .map(|p| wire::BillLine {
                kind: "payment".into(),
                out_trade_no: p.request.out_trade_no.clone(),
                transaction_id: p.transaction_id.clone().unwrap_or_default(),
                out_refund_no: None,
                refund_id: None,
                amount: p.request.amount.total,
                time: p.success_time.unwrap_or_default(),
            })
            .collect();
        lines.extend(
            ledger.refunds.values().filter(|r| r.wire.status == "SUCCESS" && on_day(r.wire.success_time)).map(|r| {
                wire::BillLine {
                    kind: "refund".into(),
                    out_trade_no: r.wire.out_trade_no.clone(),
                    transaction_id: ledger
                        .payments
                        .get(&r.wire.out_trade_no)
                        .and_then(|p| p.transaction_id.clone())
                        .unwrap_or_default(),
                    out_refund_no: Some(r.wire.out_refund_no.clone()),
                    refund_id: Some(r.wire.refund_id.clone()),
                    amount: r.wire.amount.refund,
                    time: r.wire.success_time.unwrap_or_default(),
                }
            }),
        );
        lines.extend(ledger.extra_bill_lines.iter().filter(|l| on_day(Some(l.time))).cloned());
        lines.sort_by(|a, b| (a.time, &a.out_trade_no).cmp(&(b.time, &b.out_trade_no)));
        Ok(wire::Bill { lines })
    }

    fn get_refund(&self, out_refund_no: &str) -> Result<wire::Refund, Fail> {
        let ledger = lock(&self.ledger);
        let record = ledger
            .refunds
            .get(out_refund_no)
            .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "REFUND_NOT_EXIST", "no such refund"))?;
        Ok(record.wire.clone())
    }

    /// Schedules the delivery of one event, as the fault knobs say.
    fn notify<T: Serialize>(self: &Arc<Self>, faults: &PayFaults, url: &str, event_type: &str, resource: &T) {
        if faults.drop_notifications {
            tracing::info!(event_type, "payment sandbox: notification dropped (fault knob)");
            return;
        }
        let mut resource = serde_json::to_value(resource).expect("wire bodies serialise");
        if let Some(object) = resource.as_object_mut() {
            object.remove("pay_params");
        }
        let event = wire::Event {
            id: format!("EV-{}", hex::encode(rand::random::<[u8; 12]>())),
            create_time: Utc::now(),
            event_type: event_type.to_owned(),
            resource,
        };
        let body = Bytes::from(serde_json::to_vec(&event).expect("events serialise"));
        let delay = Duration::from_millis(faults.notify_delay_ms);
        let copies = if faults.notify_twice { 2 } else { 1 };
        for _ in 0..copies {
            tokio::spawn(self.clone().deliver(url.to_owned(), body.clone(), delay));
        }
    }

    /// POSTs one notification until a 2xx, each attempt freshly signed.
    async fn deliver(self: Arc<Self>, url: String, body: Bytes, delay: Duration) {
        let waits = std::iter::once(delay).chain(self.config.notify_backoff.clone());
        for wait in waits {
            tokio::time::sleep(wait).await;
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let timestamp = Utc::now().timestamp();
            let nonce = sign::nonce();
            let signature = sign::sign(&self.config.notify_key, &sign::notification_message(timestamp, &nonce, &body));
            self.sent.fetch_add(1, Ordering::SeqCst);
            let attempt = self
                .http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header(HEADER_MCHID, &self.config.mchid)
                .header(HEADER_TIMESTAMP, timestamp.to_string())
                .header(HEADER_NONCE, nonce)
                .header(HEADER_SIGNATURE, signature)
                .body(body.clone())
                .send()
                .await;
            match attempt {
                Ok(response) if response.status().is_success() => {
                    self.delivered.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(response) => {
                    tracing::info!(status = response.status().as_u16(), "payment sandbox: notification refused")
                }
                Err(e) => {
                    tracing::info!(reason = crate::http::transport_reason(&e), "payment sandbox: notification failed")
                }
            }
        }
        tracing::warn!("payment sandbox: gave up on a notification");
    }

    /// The delay owed by the next signed answer, if any.
    fn take_response_delay(&self) -> Option<Duration> {
        let faults = &mut lock(&self.ledger).faults;
        (faults.delay_responses > 0).then(|| {
            faults.delay_responses -= 1;
            Duration::from_millis(faults.response_delay_ms)
        })
    }
}

fn not_found() -> Fail {
    Fail::new(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "no such payment")
}

enum CodeKind {
    PaysNow,
    PaysLater,
    Insufficient,
    Invalid,
}

fn classify_code(code: &str) -> CodeKind {
    if code == INSUFFICIENT_FUNDS_CODE {
        CodeKind::Insufficient
    } else if code.len() == 18 && code.starts_with("13") && code.bytes().all(|b| b.is_ascii_digit()) {
        if code.ends_with('9') { CodeKind::PaysLater } else { CodeKind::PaysNow }
    } else {
        CodeKind::Invalid
    }
}

/// The shape of every signed endpoint: authenticate, do the work synchronously (so it
/// is applied even if the client gives up), then owe any injected delay.
async fn signed(
    peer: &Arc<Peer>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    work: impl FnOnce(&Arc<Peer>) -> Response,
) -> Response {
    if let Err(fail) = peer.authenticate(method, uri, headers, body) {
        peer.auth_failures.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(code = %fail.1.code, "payment sandbox refused a request");
        return fail.into_response();
    }
    let response = work(peer);
    if let Some(delay) = peer.take_response_delay() {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn create_payment(
    State(peer): State<Arc<Peer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(&peer, &method, &uri, &headers, &body, |p| answer(p.create(&body))).await
}

async fn get_payment(
    State(peer): State<Arc<Peer>>,
    Path(no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(&peer, &method, &uri, &headers, &body, |p| answer(p.get_payment(&no))).await
}

async fn close_payment(
    State(peer): State<Arc<Peer>>,
    Path(no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(&peer, &method, &uri, &headers, &body, |p| match p.close(&no) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(fail) => fail.into_response(),
    })
    .await
}

async fn create_refund(
    State(peer): State<Arc<Peer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(&peer, &method, &uri, &headers, &body, |p| answer(p.create_refund(&body))).await
}

async fn get_refund(
    State(peer): State<Arc<Peer>>,
    Path(no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(&peer, &method, &uri, &headers, &body, |p| answer(p.get_refund(&no))).await
}

async fn get_bill(
    State(peer): State<Arc<Peer>>,
    Path(date): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    signed(&peer, &method, &uri, &headers, &body, |p| answer(p.bill(&date))).await
}

async fn confirm_payment(State(peer): State<Arc<Peer>>, Path(no): Path<String>) -> Response {
    answer(peer.confirm(&no))
}

async fn cashier(State(peer): State<Arc<Peer>>, Path(no): Path<String>) -> Response {
    let Ok(payment) = peer.get_payment(&no) else {
        return (StatusCode::NOT_FOUND, Html("<!doctype html><meta charset=utf-8><p>订单不存在</p>")).into_response();
    };
    let description = lock(&peer.ledger).payments.get(&no).map(|r| r.request.description.clone()).unwrap_or_default();
    let status = match payment.trade_state.as_str() {
        "NOTPAY" => "待支付",
        "SUCCESS" => "已支付",
        _ => "已关闭",
    };
    let button = if payment.trade_state == "NOTPAY" { "<button id=pay>确认支付</button>" } else { "" };
    Html(format!(
        r#"<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content="width=device-width">
<title>沙箱收银台</title><body style="font-family:sans-serif;text-align:center;padding:2em">
<h1>沙箱收银台</h1><p>{description}</p><p style="font-size:2em">¥{amount}</p>
<p id=status>{status}</p>{button}
<script>
const b = document.getElementById('pay');
if (b) b.onclick = async () => {{
  const r = await fetch('/v1/payments/{no}/confirm', {{method: 'POST'}});
  document.getElementById('status').textContent = r.ok ? '支付成功' : '支付失败';
  b.remove();
}};
</script></body></html>"#,
        description = escape_html(&description),
        amount = yuan(payment.amount.total),
        no = escape_html(&no),
    ))
    .into_response()
}

async fn read_control(State(peer): State<Arc<Peer>>) -> Json<PayFaults> {
    Json(lock(&peer.ledger).faults.clone())
}

async fn control(State(peer): State<Arc<Peer>>, body: Bytes) -> Response {
    let patch: FaultsPatch = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(_) => return Fail::invalid("expected a JSON object of PayFaults fields").into_response(),
    };
    let faults = &mut lock(&peer.ledger).faults;
    let FaultsPatch {
        fail_creates,
        delay_responses,
        response_delay_ms,
        notify_twice,
        notify_delay_ms,
        drop_notifications,
    } = patch;
    faults.fail_creates = fail_creates.unwrap_or(faults.fail_creates);
    faults.delay_responses = delay_responses.unwrap_or(faults.delay_responses);
    faults.response_delay_ms = response_delay_ms.unwrap_or(faults.response_delay_ms);
    faults.notify_twice = notify_twice.unwrap_or(faults.notify_twice);
    faults.notify_delay_ms = notify_delay_ms.unwrap_or(faults.notify_delay_ms);
    faults.drop_notifications = drop_notifications.unwrap_or(faults.drop_notifications);
    tracing::info!(?faults, "payment sandbox: fault knobs changed");
    Json(faults.clone()).into_response()
}

/// 1234 → "12.34".
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn random_digits(n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rand::random_range(0..10u8))).collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A panic while holding the lock leaves plain data behind, still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_codes_are_classified() {
        assert!(matches!(classify_code("134567890123456780"), CodeKind::PaysNow));
        assert!(matches!(classify_code("134567890123456789"), CodeKind::PaysLater));
        assert!(matches!(classify_code("err-insufficient"), CodeKind::Insufficient));
        assert!(matches!(classify_code("12456789012345678"), CodeKind::Invalid));
        assert!(matches!(classify_code("1345678901234567a0"), CodeKind::Invalid));
        assert!(matches!(classify_code("1345678901234567800"), CodeKind::Invalid));
    }

    #[test]
    fn amounts_read_as_yuan() {
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-150), "-1.50");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html(r#"<b>"92#" & 'x'</b>"#), "&lt;b&gt;&quot;92#&quot; &amp; &#39;x&#39;&lt;/b&gt;");
    }
}
