//! [`PaymentChannel`] over the sandbox protocol (see the [module docs](super)).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::sign::{self, HEADER_MCHID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_SKEW_SECS};
use super::wire::{self, ErrorBody};
use super::{
    CURRENCY, ChannelError, CreatePayment, Created, Notification, NotifyError, Payer, PaymentChannel, PaymentState,
    RefundRequest, RefundState, StatementKind, StatementLine, codes, is_valid_out_no,
};
use crate::http::{
    DEFAULT_TIMEOUT, InvalidBaseUrl, client, describe_json_error, endpoint, parse_base, transport_reason,
};

/// Merchant and keys the sandbox peer uses unless configured otherwise; also the
/// defaults of [`super::PaySandboxConfig`], so the two fit without configuration.
pub(crate) const DEFAULT_MCHID: &str = "1900000001";
pub(crate) const DEFAULT_API_KEY: &str = "sandbox-merchant-api-key";
pub(crate) const DEFAULT_NOTIFY_KEY: &str = "sandbox-notify-key";

/// Where and as whom to reach the sandbox channel.
#[derive(Clone)]
pub struct SandboxChannelConfig {
    /// The peer's URL ([`super::PaySandboxHandle::base_url`]).
    pub base_url: String,
    pub mchid: String,
    /// Signs our requests.
    pub api_key: String,
    /// Verifies the peer's notifications.
    pub notify_key: String,
    /// Per call, connect included; past it the call is [`ChannelError::Timeout`].
    pub timeout: Duration,
}

impl SandboxChannelConfig {
    /// The default merchant and keys, which a default [`super::PaySandboxConfig`] accepts.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            mchid: DEFAULT_MCHID.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            notify_key: DEFAULT_NOTIFY_KEY.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for SandboxChannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxChannelConfig")
            .field("base_url", &self.base_url)
            .field("mchid", &self.mchid)
            .field("api_key", &"<redacted>")
            .field("notify_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The sandbox payment channel, through its HTTP protocol.
pub struct SandboxChannel {
    base: Url,
    config: SandboxChannelConfig,
    client: reqwest::Client,
}

impl fmt::Debug for SandboxChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxChannel")
            .field("base", &self.base.as_str())
            .field("mchid", &self.config.mchid)
            .finish_non_exhaustive()
    }
}

/// A non-2xx answer with the peer's `{code, message}`.
struct Refusal {
    status: StatusCode,
    error: ErrorBody,
}

impl SandboxChannel {
    pub fn new(config: SandboxChannelConfig) -> Result<Self, InvalidBaseUrl> {
        Ok(Self { base: parse_base(&config.base_url)?, client: client(config.timeout), config })
    }

    /// Signs and sends one request. `Ok(Err(_))` is the peer's refusal; a non-2xx without
    /// the peer's JSON (a proxy's 502) is a transport failure: it proves nothing.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        api: &'static str,
    ) -> Result<Result<Bytes, Refusal>, ChannelError> {
        let url = endpoint(&self.base, path);
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let timestamp = Utc::now().timestamp();
        let nonce = sign::nonce();
        let message = sign::request_message(method.as_str(), &signed_path, timestamp, &nonce, &body);
        let mut request = self
            .client
            .request(method, url)
            .header(HEADER_MCHID, &self.config.mchid)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, &nonce)
            .header(HEADER_SIGNATURE, sign::sign(&self.config.api_key, &message));
        if !body.is_empty() {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| transport(api, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(api, &e))?;
        if status.is_success() {
            return Ok(Ok(bytes));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(error) => {
                if status == StatusCode::UNAUTHORIZED {
                    // Our keys or clock are wrong: every payment fails until an operator acts.
                    tracing::error!(api, code = %error.code, "payment channel refused our signature");
                } else {
                    tracing::warn!(api, status = status.as_u16(), code = %error.code, "payment channel refused");
                }
                Ok(Err(Refusal { status, error }))
            }
            Err(_) => {
                tracing::warn!(api, status = status.as_u16(), "payment channel answered a non-JSON HTTP error");
                Err(ChannelError::Transport(format!("HTTP {}", status.as_u16())))
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        api: &'static str,
    ) -> Result<Result<T, Refusal>, ChannelError> {
        match self.send(method, path, body, api).await? {
            Ok(bytes) => parse(&bytes, api).map(Ok),
            Err(refusal) => Ok(Err(refusal)),
        }
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8], api: &'static str) -> Result<T, ChannelError> {
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::warn!(api, error = %describe_json_error(&e), "payment channel answered something unexpected");
        ChannelError::BadResponse(format!("{api}: {}", describe_json_error(&e)))
    })
}

fn transport(api: &'static str, err: &reqwest::Error) -> ChannelError {
    if err.is_timeout() {
        tracing::warn!(api, "payment channel timed out: outcome unknown");
        return ChannelError::Timeout;
    }
    let reason = transport_reason(err);
    tracing::warn!(api, reason, "payment channel unreachable");
    ChannelError::Transport(reason.to_owned())
}

fn refused(refusal: Refusal) -> ChannelError {
    ChannelError::Refused { code: refusal.error.code, message: refusal.error.message }
}

/// Checked before the number goes into a URL path or a request.
fn check_out_no(what: &str, s: &str) -> Result<(), ChannelError> {
    if is_valid_out_no(s) {
        Ok(())
    } else {
        Err(ChannelError::refused(codes::INVALID_REQUEST, format!("{what} must be 1-32 of [A-Za-z0-9_-]")))
    }
}

fn json_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire bodies of strings and numbers serialise")
}

#[async_trait]
impl PaymentChannel for SandboxChannel {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create(&self, req: CreatePayment) -> Result<Created, ChannelError> {
        check_out_no("out_trade_no", &req.out_trade_no)?;
        if req.amount_fen <= 0 {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "amount must be positive"));
        }
        let body = wire::CreateBody {
            mchid: self.config.mchid.clone(),
            out_trade_no: req.out_trade_no,
            description: req.description,
            notify_url: req.notify_url,
            amount: wire::Amount { total: req.amount_fen, currency: CURRENCY.to_owned() },
            time_expire: req.expires_at,
            payer: match req.payer {
                Payer::App { openid } => wire::PayerBody::App { openid },
                Payer::PaymentCode { auth_code } => wire::PayerBody::PaymentCode { auth_code },
            },
        };
        let payment: wire::Payment =
            self.call(Method::POST, "/v1/payments", json_body(&body), "create").await?.map_err(refused)?;
        let status = payment.state().map_err(ChannelError::BadResponse)?;
        Ok(Created { status, pay_params: payment.pay_params })
    }

    async fn query(&self, out_trade_no: &str) -> Result<PaymentState, ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        let path = format!("/v1/payments/{out_trade_no}");
        match self.call::<wire::Payment>(Method::GET, &path, Vec::new(), "query").await? {
            Ok(payment) => payment.state().map_err(ChannelError::BadResponse),
            Err(r) if r.status == StatusCode::NOT_FOUND && r.error.code == "ORDER_NOT_EXIST" => {
                Ok(PaymentState::NotFound)
            }
            Err(r) => Err(refused(r)),
        }
    }

    async fn close(&self, out_trade_no: &str) -> Result<(), ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        let path = format!("/v1/payments/{out_trade_no}/close");
        self.send(Method::POST, &path, Vec::new(), "close").await?.map(drop).map_err(refused)
    }

    async fn refund(&self, req: RefundRequest) -> Result<RefundState, ChannelError> {
        check_out_no("out_trade_no", &req.out_trade_no)?;
        check_out_no("out_refund_no", &req.out_refund_no)?;
        if req.refund_fen <= 0 || req.total_fen <= 0 {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "amounts must be positive"));
        }
        let body = wire::RefundBody {
            out_trade_no: req.out_trade_no,
            out_refund_no: req.out_refund_no,
            reason: req.reason,
            notify_url: req.notify_url,
            amount: wire::RefundAmount { refund: req.refund_fen, total: req.total_fen, currency: CURRENCY.to_owned() },
        };
        let refund: wire::Refund =
            self.call(Method::POST, "/v1/refunds", json_body(&body), "refund").await?.map_err(refused)?;
        refund.state().map_err(ChannelError::BadResponse)
    }

    async fn query_refund(&self, _out_trade_no: &str, out_refund_no: &str) -> Result<RefundState, ChannelError> {
        check_out_no("out_refund_no", out_refund_no)?;
        let path = format!("/v1/refunds/{out_refund_no}");
        let refund: wire::Refund = self.call(Method::GET, &path, Vec::new(), "query_refund").await?.map_err(refused)?;
        refund.state().map_err(ChannelError::BadResponse)
    }

    fn merchant_id(&self) -> &str {
        &self.config.mchid
    }

    async fn statement(&self, date: NaiveDate) -> Result<Vec<StatementLine>, ChannelError> {
        let path = format!("/v1/bills/{}", date.format("%Y-%m-%d"));
        let bill: wire::Bill = self.call(Method::GET, &path, Vec::new(), "statement").await?.map_err(refused)?;
        bill.lines
            .into_iter()
            .map(|l| {
                let kind = match l.kind.as_str() {
                    "payment" => StatementKind::Payment,
                    "refund" => StatementKind::Refund,
                    other => return Err(ChannelError::BadResponse(format!("unknown bill line kind {other:?}"))),
                };
                Ok(StatementLine {
                    kind,
                    out_trade_no: l.out_trade_no,
                    transaction_id: l.transaction_id,
                    out_refund_no: l.out_refund_no,
                    refund_id: l.refund_id,
                    amount_fen: l.amount,
                    at: l.time,
                })
            })
            .collect()
    }

    fn verify_notification(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotifyError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .ok_or(NotifyError::MissingHeader(name))
        };
        let signature = header(HEADER_SIGNATURE)?;
        let nonce = header(HEADER_NONCE)?;
        let timestamp: i64 =
            header(HEADER_TIMESTAMP)?.parse().map_err(|_| NotifyError::MissingHeader(HEADER_TIMESTAMP))?;
        // Signature first: nothing of an unauthenticated body is looked at.
        if !sign::verify(&self.config.notify_key, &sign::notification_message(timestamp, nonce, body), signature) {
            return Err(NotifyError::BadSignature);
        }
        if (now.timestamp() - timestamp).abs() > MAX_SKEW_SECS {
            return Err(NotifyError::StaleTimestamp { timestamp });
        }
        let malformed = |e: serde_json::Error| NotifyError::MalformedBody(describe_json_error(&e));
        let event: wire::Event = serde_json::from_slice(body).map_err(malformed)?;
        let wrong_merchant = |mchid: &str| {
            (mchid != self.config.mchid).then(|| {
                tracing::error!(mchid, "signed notification names another merchant: configuration mix-up");
                NotifyError::WrongMerchant(mchid.to_owned())
            })
        };
        if event.event_type.starts_with("TRANSACTION.") {
            let payment: wire::Payment = serde_json::from_value(event.resource).map_err(malformed)?;
            if let Some(err) = wrong_merchant(&payment.mchid) {
                return Err(err);
            }
            let state = payment.state().map_err(NotifyError::MalformedBody)?;
            Ok(Notification::Payment {
                out_trade_no: payment.out_trade_no,
                transaction_id: payment.transaction_id.unwrap_or_default(),
                amount_fen: payment.amount.total,
                currency: payment.amount.currency,
                merchant_id: payment.mchid,
                state,
            })
        } else if event.event_type.starts_with("REFUND.") {
            let refund: wire::Refund = serde_json::from_value(event.resource).map_err(malformed)?;
            if let Some(err) = wrong_merchant(&refund.mchid) {
                return Err(err);
            }
            let state = refund.state().map_err(NotifyError::MalformedBody)?;
            Ok(Notification::Refund {
                out_trade_no: refund.out_trade_no,
                out_refund_no: refund.out_refund_no,
                refund_id: refund.refund_id,
                refund_fen: refund.amount.refund,
                state,
            })
        } else {
            Err(NotifyError::MalformedBody(format!("unknown event_type {:?}", event.event_type)))
        }
    }
}
