//! The local peer's books: payments, refunds, bills and fault knobs.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};

use super::bill::{china, rfc3339_china};
use super::peer::{PEER_APPID, PEER_MCHID};
use super::wire;
use crate::pay::{StatementKind, StatementLine};

/// The reserved payment code that fails for lack of funds (`NOTENOUGH`).
pub const INSUFFICIENT_FUNDS_CODE: &str = "134000000000000000";

/// Misbehaviour on demand; counters count down as they are used.
#[derive(Clone, Debug, Default)]
pub(super) struct Faults {
    pub fail_creates: u32,
    pub delay_responses: u32,
    pub response_delay: Duration,
    pub corrupt_signatures: u32,
    pub notify_twice: bool,
    pub drop_notifications: bool,
}

#[derive(Default)]
pub(super) struct Ledger {
    /// By out_trade_no: the peer keeps them unique across its sub-merchants.
    pub payments: HashMap<String, PaymentRecord>,
    /// prepay_id → out_trade_no.
    pub prepays: HashMap<String, String>,
    pub refunds: HashMap<String, RefundRecord>,
    pub sub_mchids: BTreeSet<String>,
    pub faults: Faults,
    /// Lines no request produced, with their sub-merchant.
    pub planted: Vec<(StatementLine, Option<String>)>,
    /// Download token → bill file.
    pub bill_files: HashMap<String, String>,
}

impl Ledger {
    /// The bill of `date` (China time) for the direct merchant (`sub` `None`) or one
    /// sub-merchant: (line, openid, description), in time order.
    pub fn bill_lines(&self, date: NaiveDate, sub: Option<&str>) -> Vec<(StatementLine, String, String)> {
        let on_day = |t: DateTime<Utc>| t.with_timezone(&china()).date_naive() == date;
        let mut lines = Vec::new();
        for p in self.payments.values() {
            let (Some(at), Some(transaction_id)) = (p.success_time, &p.transaction_id) else { continue };
            if p.request.sub_mchid.as_deref() != sub || !on_day(at) {
                continue;
            }
            let line = StatementLine {
                kind: StatementKind::Payment,
                out_trade_no: p.request.out_trade_no.clone(),
                transaction_id: transaction_id.clone(),
                out_refund_no: None,
                refund_id: None,
                amount_fen: p.request.amount.total,
                at,
            };
            lines.push((line, p.openid(), p.request.description.clone()));
        }
        for r in self.refunds.values() {
            let Some(at) = r.success_time else { continue };
            if r.request.sub_mchid.as_deref() != sub || !on_day(at) {
                continue;
            }
            let line = StatementLine {
                kind: StatementKind::Refund,
                out_trade_no: r.request.out_trade_no.clone(),
                transaction_id: r.wire.transaction_id.clone(),
                out_refund_no: Some(r.request.out_refund_no.clone()),
                refund_id: Some(r.wire.refund_id.clone()),
                amount_fen: r.request.amount.refund,
                at,
            };
            let payment = self.payments.get(&r.request.out_trade_no);
            let (openid, description) =
                payment.map(|p| (p.openid(), p.request.description.clone())).unwrap_or_default();
            lines.push((line, openid, description));
        }
        for (line, line_sub) in &self.planted {
            if line_sub.as_deref() == sub && on_day(line.at) {
                lines.push((line.clone(), String::new(), "planted".into()));
            }
        }
        lines.sort_by(|a, b| (a.0.at, &a.0.out_trade_no).cmp(&(b.0.at, &b.0.out_trade_no)));
        lines
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Jsapi,
    Codepay,
}

pub(super) struct PaymentRecord {
    /// As first received: a repeated create must match it.
    pub request: wire::TransactionBody,
    pub kind: Kind,
    pub prepay_id: Option<String>,
    pub trade_state: &'static str,
    pub trade_state_desc: String,
    pub transaction_id: Option<String>,
    pub success_time: Option<DateTime<Utc>>,
    pub time_expire: Option<DateTime<Utc>>,
}

impl PaymentRecord {
    pub fn new(request: wire::TransactionBody, kind: Kind, time_expire: Option<DateTime<Utc>>) -> Self {
        Self {
            request,
            kind,
            prepay_id: None,
            trade_state: "NOTPAY",
            trade_state_desc: "订单未支付".into(),
            transaction_id: None,
            success_time: None,
            time_expire,
        }
    }

    /// Paid: `SUCCESS`, or `REFUND` once a refund went through.
    pub fn is_paid(&self) -> bool {
        matches!(self.trade_state, "SUCCESS" | "REFUND")
    }

    /// Unpaid past `time_expire` → closed, checked whenever the payment is read.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        if self.trade_state == "NOTPAY" && self.time_expire.is_some_and(|t| now >= t) {
            self.trade_state = "CLOSED";
            self.trade_state_desc = "订单已关闭".into();
        }
    }

    pub fn pay(&mut self, now: DateTime<Utc>) {
        self.trade_state = "SUCCESS";
        self.trade_state_desc = "支付成功".into();
        self.transaction_id = Some(format!("4200{}{}", now.format("%Y%m%d"), random_digits(16)));
        self.success_time = Some(now);
    }

    fn openid(&self) -> String {
        let p = &self.request.payer;
        p.sub_openid.clone().or_else(|| p.sp_openid.clone()).or_else(|| p.openid.clone()).unwrap_or_else(|| {
            // A payment code names no payer; WeChat reports the payer's openid in the app.
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned()
        })
    }

    /// As the query answers it (and `TRANSACTION.SUCCESS` carries it).
    pub fn to_wire(&self) -> wire::Transaction {
        let r = &self.request;
        let paid = self.is_paid();
        let payer = match (&r.sub_mchid, paid || self.kind == Kind::Jsapi) {
            (_, false) => None,
            (None, true) => Some(wire::Payer { openid: Some(self.openid()), ..Default::default() }),
            (Some(_), true) => Some(wire::Payer {
                sp_openid: r.payer.sp_openid.clone(),
                sub_openid: r.payer.sub_openid.clone().or_else(|| r.payer.auth_code.as_ref().map(|_| self.openid())),
                ..Default::default()
            }),
        };
        wire::Transaction {
            appid: r.sub_mchid.is_none().then(|| PEER_APPID.to_owned()),
            mchid: r.sub_mchid.is_none().then(|| PEER_MCHID.to_owned()),
            sp_appid: r.sub_mchid.as_ref().map(|_| PEER_APPID.to_owned()),
            sp_mchid: r.sub_mchid.as_ref().map(|_| PEER_MCHID.to_owned()),
            sub_appid: r.sub_appid.clone(),
            sub_mchid: r.sub_mchid.clone(),
            out_trade_no: r.out_trade_no.clone(),
            transaction_id: self.transaction_id.clone(),
            trade_type: Some(if self.kind == Kind::Jsapi { "JSAPI" } else { "MICROPAY" }.to_owned()),
            trade_state: self.trade_state.to_owned(),
            trade_state_desc: self.trade_state_desc.clone(),
            bank_type: paid.then(|| "OTHERS".to_owned()),
            success_time: self.success_time.map(rfc3339_china),
            payer,
            amount: wire::Amount {
                total: r.amount.total,
                currency: Some("CNY".into()),
                payer_total: paid.then_some(r.amount.total),
                payer_currency: paid.then(|| "CNY".to_owned()),
            },
        }
    }
}

pub(super) struct RefundRecord {
    pub request: wire::RefundBody,
    pub wire: wire::Refund,
    /// The notification's resource.
    pub resource: wire::RefundResource,
    pub success_time: Option<DateTime<Utc>>,
}

impl RefundRecord {
    pub fn new(request: wire::RefundBody, transaction_id: String, now: DateTime<Utc>) -> Self {
        let amount = wire::RefundAmount {
            refund: request.amount.refund,
            total: request.amount.total,
            currency: Some("CNY".into()),
            payer_total: Some(request.amount.total),
            payer_refund: Some(request.amount.refund),
        };
        let refund_id = format!("5030{}", random_digits(25));
        let wire = wire::Refund {
            refund_id: refund_id.clone(),
            out_refund_no: request.out_refund_no.clone(),
            transaction_id: transaction_id.clone(),
            out_trade_no: request.out_trade_no.clone(),
            channel: Some("ORIGINAL".into()),
            status: "PROCESSING".into(),
            success_time: None,
            create_time: Some(rfc3339_china(now)),
            amount: amount.clone(),
        };
        let partner = request.sub_mchid.is_some();
        let resource = wire::RefundResource {
            mchid: (!partner).then(|| PEER_MCHID.to_owned()),
            sp_mchid: partner.then(|| PEER_MCHID.to_owned()),
            sub_mchid: request.sub_mchid.clone(),
            out_trade_no: request.out_trade_no.clone(),
            transaction_id,
            out_refund_no: request.out_refund_no.clone(),
            refund_id,
            refund_status: "PROCESSING".into(),
            success_time: None,
            amount,
        };
        Self { request, wire, resource, success_time: None }
    }

    pub fn settle(&mut self, now: DateTime<Utc>) {
        self.success_time = Some(now);
        self.wire.status = "SUCCESS".into();
        self.wire.success_time = Some(rfc3339_china(now));
        self.resource.refund_status = "SUCCESS".into();
        self.resource.success_time = Some(rfc3339_china(now));
    }
}

/// A refusal: HTTP status and `{code, message}`.
pub(super) struct Fail(pub StatusCode, pub wire::ErrorBody);

impl Fail {
    pub fn new(status: StatusCode, code: &str, message: &str) -> Self {
        Self(status, wire::ErrorBody::new(code, message))
    }

    pub fn order_not_exist() -> Self {
        Self::new(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")
    }
}

pub(super) enum CodeKind {
    PaysNow,
    PaysLater,
    Insufficient,
    Invalid,
}

/// WeChat payment codes: 18 digits starting `10`..`15`.
pub(super) fn classify_code(code: &str) -> CodeKind {
    let wechat = code.len() == 18
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(&code[..2], "10" | "11" | "12" | "13" | "14" | "15");
    if code == INSUFFICIENT_FUNDS_CODE {
        CodeKind::Insufficient
    } else if !wechat {
        CodeKind::Invalid
    } else if code.ends_with('9') {
        CodeKind::PaysLater
    } else {
        CodeKind::PaysNow
    }
}

fn random_digits(n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rand::random_range(0..10u8))).collect()
}

/// A panic while holding the lock leaves plain data behind, still usable.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_codes_are_classified() {
        assert!(matches!(classify_code("134567890123456780"), CodeKind::PaysNow));
        assert!(matches!(classify_code("104567890123456780"), CodeKind::PaysNow));
        assert!(matches!(classify_code("154567890123456789"), CodeKind::PaysLater));
        assert!(matches!(classify_code(INSUFFICIENT_FUNDS_CODE), CodeKind::Insufficient));
        assert!(matches!(classify_code("164567890123456780"), CodeKind::Invalid));
        assert!(matches!(classify_code("13456789012345678"), CodeKind::Invalid));
        assert!(matches!(classify_code("1345678901234567a0"), CodeKind::Invalid));
    }
}
