//! The gateway's ledger and the Alipay methods of the local gateway ([`super::peer`]):
//! trades, refunds, notifications and the answers, signed as Alipay signs them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::bill::BillRow;
use super::peer::{AlipayFaults, AlipayPeerConfig, INSUFFICIENT_BALANCE_CODE, seller_of_token};
use super::wire::{self, Params, fen_to_yuan, format_time, param, parse_time, yuan_to_fen};
use crate::pay::rsa::{PrivateKey, PublicKey};
use crate::pay::{PaymentState, StatementKind};

pub(super) struct Peer {
    pub(super) config: AlipayPeerConfig,
    pub(super) base_url: String,
    pub(super) key: PrivateKey,
    pub(super) app_key: PublicKey,
    pub(super) ledger: Mutex<Ledger>,
    pub(super) http: reqwest::Client,
    pub(super) sent: AtomicUsize,
    pub(super) delivered: AtomicUsize,
    pub(super) bad_signs: AtomicUsize,
    pub(super) stopped: AtomicBool,
}

#[derive(Default)]
pub(super) struct Ledger {
    /// By (seller, out_trade_no).
    pub(super) trades: HashMap<(String, String), Trade>,
    pub(super) faults: AlipayFaults,
    pub(super) planted: Vec<(String, BillRow)>,
}

impl Ledger {
    pub(super) fn find(&mut self, out_trade_no: &str) -> Option<&mut Trade> {
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
pub(super) enum Status {
    Waiting,
    Paid,
    Closed,
}

pub(super) struct Trade {
    seller: String,
    out_trade_no: String,
    trade_no: String,
    pub(super) total_fen: i64,
    pub(super) subject: String,
    notify_url: Option<String>,
    /// What a repeated create must match: method, amount, buyer or payment code.
    fingerprint: String,
    pub(super) status: Status,
    created: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    refunds: Vec<PeerRefund>,
}

pub(super) struct PeerRefund {
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

    pub(super) fn state(&self) -> PaymentState {
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
pub(super) struct Reply {
    pub(super) fields: Map<String, Value>,
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
    pub(super) fn answer(&self, method: &str, reply: &Reply) -> Response {
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
    pub(super) fn handle(self: &Arc<Self>, params: &Params) -> (String, Reply) {
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

    pub(super) fn pay_as_buyer(self: &Arc<Self>, out_trade_no: &str) -> Result<(), String> {
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
    pub(super) fn bill_rows(&self, seller: &str, date: NaiveDate) -> Vec<BillRow> {
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
    pub(super) fn notification(&self, trade: &Trade, refund: Option<&PeerRefund>) -> Params {
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

    pub(super) fn take_response_delay(&self) -> Option<Duration> {
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

fn random_digits(n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rand::random_range(0..10u8))).collect()
}

/// A panic while holding the lock leaves plain data behind, still usable.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
