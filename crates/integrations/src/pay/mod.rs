//! Payment channels: taking money for an order, refunding it, and believing the
//! channel's notifications only after checking their signature.
//!
//! The app holds an `Arc<dyn PaymentChannel>`. This issue ships one channel, the
//! *sandbox*: a separate local peer ([`sandbox`]) with its own keys, reached over HTTP by
//! [`SandboxChannel`] exactly as WeChat Pay v3 or Alipay will be reached by their
//! adapters. The trait is shaped after what those two have in common: amounts in fen
//! (`i64`), merchant order numbers (`out_trade_no`, `out_refund_no`) of 1–32 characters
//! `[A-Za-z0-9_-]` chosen by us and unique per merchant, an asynchronous result for app
//! payments (a notification, plus a query to fall back on), and a synchronous-or-pending
//! result for payment codes (付款码) scanned at the counter.
//!
//! # What the app must do with the answers
//! - [`ChannelError::is_unknown_outcome`] (timeout, transport, unreadable answer): the
//!   request may or may not have been applied by the channel. The order stays awaiting
//!   payment and a job [`PaymentChannel::query`]s it later; retrying `create` with the
//!   *same* `out_trade_no` and the same request is safe (the peer answers the existing
//!   payment), a different request under that number is refused (`out_trade_no_used`).
//! - A notification is applied only after [`PaymentChannel::verify_notification`]
//!   accepted it, then its amount and currency are checked against the order, and the
//!   status only ever moves forward (ARCHITECTURE.md, money path rule 4). Channels
//!   notify at least once and sometimes twice; answer any duplicate with a 2xx.
//! - Closing a payment that was paid in the meantime answers
//!   [`codes::ALREADY_PAID`]: query it and record the payment instead.
//!
//! # Error codes
//! [`ChannelError::Refused`] carries the channel's code. Lower-case codes in [`codes`]
//! are channel-independent: every adapter maps its provider's equivalent onto them (WeChat
//! `ORDERPAID` → `already_paid`, and so on), so the app may branch on them. Upper-case
//! codes (`SYSTEM_ERROR`, `NOTENOUGH`, `AUTH_CODE_INVALID`, ...) are the provider's own,
//! passed through for logs and support.
//!
//! # The sandbox protocol (what [`SandboxChannel`] speaks)
//! JSON over HTTP, WeChat Pay v3 in shape. Every merchant API request carries
//! `X-Sandbox-Mchid`, `X-Sandbox-Timestamp` (unix seconds), `X-Sandbox-Nonce` and
//! `X-Sandbox-Signature` = hex HMAC-SHA256 with the merchant API key over
//! `METHOD\npath\ntimestamp\nnonce\nbody\n` (path with its query, body empty for GET);
//! a bad signature, unknown merchant or a timestamp more than 5 minutes off answers 401
//! `{code, message}`. Errors are non-2xx `{code, message}`.
//!
//! | Endpoint | Body → answer |
//! |---|---|
//! | `POST /v1/payments` | [`wire::CreateBody`] → [`wire::Payment`] (+ `pay_params`) |
//! | `GET /v1/payments/{out_trade_no}` | → [`wire::Payment`], 404 `ORDER_NOT_EXIST` |
//! | `POST /v1/payments/{out_trade_no}/close` | → 204; 400 `already_paid` |
//! | `POST /v1/refunds` | [`wire::RefundBody`] → [`wire::Refund`]; 400 `refund_exceeds` |
//! | `GET /v1/refunds/{out_refund_no}` | → [`wire::Refund`], 404 `REFUND_NOT_EXIST` |
//!
//! Notifications are POSTed as JSON ([`wire::Event`]) to the request's `notify_url`, signed
//! with the separate *notification* key over `timestamp\nnonce\nbody\n` in the same
//! headers (the message WeChat Pay v3 signs), and retried until answered with a 2xx.
//! The signature covers neither the URL nor the `X-Sandbox-Mchid` header, so the merchant
//! is read from the signed body. The payer side of the sandbox (cashier page, payment
//! codes, fault knobs) is described in [`sandbox`].

pub mod alipay;
mod client;
mod error;
pub mod rsa;
pub mod sandbox;
pub mod sign;
pub mod wechat;
pub mod wire;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

pub use client::{SandboxChannel, SandboxChannelConfig};
pub use error::{ChannelError, NotifyError};
pub use sandbox::{PayFaults, PaySandboxConfig, PaySandboxHandle, spawn_pay_sandbox};

/// Channel-independent refusal codes ([`ChannelError::Refused::code`]) the app may branch on.
pub mod codes {
    /// Close refused: the payment succeeded in the meantime. Query and record it.
    pub const ALREADY_PAID: &str = "already_paid";
    /// Refund refused: it exceeds what is left of the payment after earlier refunds.
    pub const REFUND_EXCEEDS: &str = "refund_exceeds";
    /// The out_trade_no was already used for a different request.
    pub const OUT_TRADE_NO_USED: &str = "out_trade_no_used";
    /// Refund refused: the payment is not (or not yet) paid.
    pub const NOT_PAID: &str = "not_paid";
    /// The request itself is wrong (a bad out_trade_no, a non-positive amount, ...): a bug
    /// on our side, never worth retrying as is.
    pub const INVALID_REQUEST: &str = "invalid_request";
}

/// The only currency of the chain's channels.
pub const CURRENCY: &str = "CNY";

/// Whether `s` can be an `out_trade_no` / `out_refund_no`: 1–32 of `[A-Za-z0-9_-]`, the
/// subset WeChat Pay and Alipay both accept. It also goes into URL paths unescaped.
pub fn is_valid_out_no(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What the app needs from a payment channel. Object-safe: the app holds
/// `Arc<dyn PaymentChannel>` and does not know which channel is behind it.
#[async_trait]
pub trait PaymentChannel: Send + Sync {
    /// Short stable name for logs, metrics and the order record (`"sandbox"`, later
    /// `"wechat"`, `"alipay"`).
    fn name(&self) -> &'static str;

    /// Opens a payment. An app payment answers `Pending` with `pay_params` for the client;
    /// a payment code answers at once: `Succeeded`, `Pending` (the payer is confirming on
    /// the phone: query until it settles) or `Failed` (e.g. `NOTENOUGH`).
    async fn create(&self, req: CreatePayment) -> Result<Created, ChannelError>;

    /// The payment's state now, at the channel.
    async fn query(&self, out_trade_no: &str) -> Result<PaymentState, ChannelError>;

    /// Closes an unpaid payment so it can no longer be paid. Closing a closed payment is
    /// fine; closing a paid one answers [`codes::ALREADY_PAID`].
    async fn close(&self, out_trade_no: &str) -> Result<(), ChannelError>;

    /// Refunds part or all of a paid payment. Idempotent per `out_refund_no`: repeating it
    /// answers the same refund, never a second one.
    async fn refund(&self, req: RefundRequest) -> Result<RefundState, ChannelError>;

    /// The refund's state now, at the channel.
    /// The refund's state now, at the channel. Both numbers: Alipay's refund query
    /// needs the payment's too.
    async fn query_refund(&self, out_trade_no: &str, out_refund_no: &str) -> Result<RefundState, ChannelError>;

    /// Checks a notification's signature and freshness, then parses it. Pure: no I/O,
    /// `now` given so the 5-minute window can be tested. A notification signed with a key
    /// this instance does not hold (another serial, another app id) is
    /// [`NotifyError::UnknownKey`], so the app can try the chain's other instances.
    fn verify_notification(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotifyError>;

    /// The merchant that receives the money: the merchant id in direct mode, the
    /// sub-merchant (`sub_mchid`) in service-provider mode, the Alipay app's seller.
    /// The app compares a notification's `merchant_id` with the instance the payment
    /// was made through.
    fn merchant_id(&self) -> &str;

    /// How to answer the channel's notification POST: `handled` = verified and applied
    /// (or a harmless duplicate). Anything but the success answer makes the channel
    /// retry. WeChat Pay wants 200/204 or an error JSON; Alipay the text `success`.
    fn notification_answer(&self, handled: bool) -> NotifyAnswer {
        if handled {
            NotifyAnswer { status: 204, content_type: "application/json", body: String::new() }
        } else {
            NotifyAnswer {
                status: 500,
                content_type: "application/json",
                body: r#"{"code":"FAIL","message":"失败"}"#.to_owned(),
            }
        }
    }

    /// The channel's statement of `date` (China time, the channels' business day):
    /// every payment and refund the channel settled that day, for the daily
    /// reconciliation (WeChat's trade bill, Alipay's 业务明细). A day with nothing is
    /// an empty list; a day whose bill is not ready yet is an error.
    async fn statement(&self, date: NaiveDate) -> Result<Vec<StatementLine>, ChannelError>;
}

/// The HTTP answer to a channel's notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// One line of a channel's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub kind: StatementKind,
    pub out_trade_no: String,
    /// The channel's id of the payment.
    pub transaction_id: String,
    /// Refund lines only.
    pub out_refund_no: Option<String>,
    pub refund_id: Option<String>,
    /// Positive for both kinds: what was paid, or what was refunded.
    pub amount_fen: i64,
    /// When the channel settled it.
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementKind {
    Payment,
    Refund,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePayment {
    /// Ours, unique per merchant; see [`is_valid_out_no`].
    pub out_trade_no: String,
    /// Positive.
    pub amount_fen: i64,
    /// What the payer sees on the receipt, e.g. "加油 92# 300.00元".
    pub description: String,
    /// Where the channel POSTs the result.
    pub notify_url: String,
    pub payer: Payer,
    /// After this the payment can no longer be paid and reads as `Closed`.
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payer {
    /// The driver pays in the mini-program or app; `openid` when the channel needs to know
    /// who (WeChat JSAPI does). The answer carries `pay_params` for the client.
    App { openid: Option<String> },
    /// The cashier scans the driver's payment code (付款码).
    PaymentCode { auth_code: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub status: PaymentState,
    /// For [`Payer::App`]: what the client needs to start paying (for the sandbox,
    /// `{"cashier_url", "confirm_url"}`). `None` for payment codes.
    pub pay_params: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentState {
    /// The channel has never seen this out_trade_no (e.g. a create that timed out before
    /// reaching it): the order can be failed or created again.
    NotFound,
    /// Created, not paid yet (or the payer is still confirming a payment code).
    Pending,
    Succeeded {
        transaction_id: String,
        amount_fen: i64,
        paid_at: DateTime<Utc>,
    },
    /// Closed by us or expired unpaid; it will never be paid.
    Closed,
    /// The payer's payment failed (e.g. `NOTENOUGH`); it will never be paid.
    Failed {
        code: String,
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// Ours, unique per merchant; the idempotency key of the refund.
    pub out_refund_no: String,
    /// Positive, at most what is left of the payment.
    pub refund_fen: i64,
    /// The payment's amount, which the channels check against their record.
    pub total_fen: i64,
    pub reason: String,
    pub notify_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundState {
    Pending,
    Succeeded { refund_id: String },
    Failed { code: String, message: String },
}

/// A verified notification. `state` uses the same types as the queries, so the app
/// applies a notification and a query result through one code path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    Payment {
        out_trade_no: String,
        transaction_id: String,
        /// Check against the order before applying (money path rule 4).
        amount_fen: i64,
        currency: String,
        merchant_id: String,
        state: PaymentState,
    },
    Refund {
        out_trade_no: String,
        out_refund_no: String,
        refund_id: String,
        refund_fen: i64,
        state: RefundState,
    },
}
