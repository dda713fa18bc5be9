//! [`PaymentChannel`] over the Alipay OpenAPI gateway (see the [module docs](super)).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use url::Url;

use super::bill::{self, refund_id};
use super::wire::{
    self, Answer, CHARSET, CODE_PAYING, CODE_SYSTEM_ERROR, FORMAT, Params, SIGN_TYPE, VERSION, fen_to_yuan,
    format_time, param, parse_time, yuan_to_fen,
};
use crate::http::{DEFAULT_TIMEOUT, InvalidBaseUrl, client, parse_base, transport_reason};
use crate::pay::rsa::{PrivateKey, PublicKey};
use crate::pay::{
    CURRENCY, ChannelError, CreatePayment, Created, Notification, NotifyAnswer, NotifyError, Payer, PaymentChannel,
    PaymentState, RefundRequest, RefundState, StatementLine, codes, is_valid_out_no,
};

pub const DEFAULT_GATEWAY_URL: &str = "https://openapi.alipay.com/gateway.do";

/// Where and as whom to reach Alipay.
#[derive(Clone)]
pub struct AlipayConfig {
    pub gateway_url: String,
    pub app_id: String,
    /// 应用私钥: signs our requests.
    pub app_private_key: PrivateKey,
    /// 支付宝公钥: verifies answers and notifications.
    pub alipay_public_key: PublicKey,
    /// The merchant's PID (`2088` + 12 digits). When set, notifications for another
    /// seller are refused. Required with `app_auth_token`.
    pub seller_id: Option<String>,
    /// Service-provider mode: the authorising merchant's token, sent with every request.
    pub app_auth_token: Option<String>,
    /// Where the H5 cashier sends the payer back after paying (`return_url`), if anywhere.
    pub return_url: Option<String>,
    /// Per call, connect included; past it the call is [`ChannelError::Timeout`].
    pub timeout: Duration,
}

impl AlipayConfig {
    pub fn new(app_id: impl Into<String>, app_private_key: PrivateKey, alipay_public_key: PublicKey) -> Self {
        Self {
            gateway_url: DEFAULT_GATEWAY_URL.to_owned(),
            app_id: app_id.into(),
            app_private_key,
            alipay_public_key,
            seller_id: None,
            app_auth_token: None,
            return_url: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayConfig")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .field("seller_id", &self.seller_id)
            .field("app_auth_token", &self.app_auth_token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an [`AlipayConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlipayConfigError {
    #[error(transparent)]
    Gateway(#[from] InvalidBaseUrl),
    #[error("invalid Alipay setting {0}: {1}")]
    Setting(&'static str, &'static str),
}

/// The Alipay payment channel.
pub struct AlipayChannel {
    gateway: Url,
    config: AlipayConfig,
    client: reqwest::Client,
}

impl fmt::Debug for AlipayChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Payer-side failures of `alipay.trade.pay`: the payment failed, nothing to retry as is.
const PAYER_FAILURES: [&str; 4] = [
    "ACQ.BUYER_BALANCE_NOT_ENOUGH",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
    "ACQ.PAYMENT_FAIL",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR",
];

impl AlipayChannel {
    pub fn new(config: AlipayConfig) -> Result<Self, AlipayConfigError> {
        let gateway = parse_base(&config.gateway_url)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !(8..=32).contains(&config.app_id.len()) || !config.app_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AlipayConfigError::Setting("app_id", "expected the app's digits, e.g. 2021…"));
        }
        if let Some(seller) = &config.seller_id
            && !(seller.starts_with("2088") && digits(seller, 16))
        {
            return Err(AlipayConfigError::Setting("seller_id", "expected the 16-digit PID 2088…"));
        }
        if let Some(token) = &config.app_auth_token {
            if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(AlipayConfigError::Setting("app_auth_token", "expected the token Alipay issued"));
            }
            if config.seller_id.is_none() {
                return Err(AlipayConfigError::Setting(
                    "seller_id",
                    "required with app_auth_token: it tells the merchants' notifications apart",
                ));
            }
        }
        if config.timeout.is_zero() {
            return Err(AlipayConfigError::Setting("timeout", "must be positive"));
        }
        Ok(Self { gateway, client: client(config.timeout), config })
    }

    /// The signed parameters of a call of `method`.
    fn params(&self, method: &str, biz: &Value, notify_url: Option<&str>, return_url: Option<&str>) -> Params {
        let mut params: Params = [
            ("app_id", self.config.app_id.as_str()),
            ("method", method),
            ("format", FORMAT),
            ("charset", CHARSET),
            ("sign_type", SIGN_TYPE),
            ("version", VERSION),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        params.push(("timestamp".into(), format_time(Utc::now())));
        if let Some(url) = notify_url.filter(|u| !u.is_empty()) {
            params.push(("notify_url".into(), url.to_owned()));
        }
        if let Some(url) = return_url {
            params.push(("return_url".into(), url.to_owned()));
        }
        if let Some(token) = &self.config.app_auth_token {
            params.push(("app_auth_token".into(), token.clone()));
        }
        params.push(("biz_content".into(), biz.to_string()));
        wire::sign_request(&mut params, &self.config.app_private_key);
        params
    }

    /// One call: `Ok(answer)` has a verified signature and may be a refusal (see
    /// [`Answer::is_success`]); system errors are already turned into unknown outcomes.
    async fn call(&self, method: &'static str, biz: Value, notify_url: Option<&str>) -> Result<Answer, ChannelError> {
        let body = wire::form_encode(&self.params(method, &biz, notify_url, None));
        let response = self
            .client
            .post(self.gateway.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded;charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| transport(method, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(method, &e))?;
        if !status.is_success() {
            tracing::warn!(method, status = status.as_u16(), "Alipay answered an HTTP error");
            return Err(ChannelError::Transport(format!("HTTP {}", status.as_u16())));
        }
        let text =
            std::str::from_utf8(&bytes).map_err(|_| ChannelError::BadResponse(format!("{method}: not UTF-8")))?;
        let answer = wire::read_answer(text, method, &self.config.alipay_public_key).map_err(|reason| {
            tracing::warn!(method, reason, "Alipay answer refused: outcome unknown");
            ChannelError::BadResponse(format!("{method}: {reason}"))
        })?;
        if answer.common.code == CODE_SYSTEM_ERROR || answer.sub_code().ends_with("SYSTEM_ERROR") {
            tracing::warn!(method, sub_code = answer.sub_code(), "Alipay system error: outcome unknown");
            return Err(ChannelError::Transport(format!("{method}: Alipay system error {}", answer.sub_code())));
        }
        if !answer.is_success() && answer.common.code != CODE_PAYING {
            tracing::info!(method, code = %answer.common.code, sub_code = answer.sub_code(), "Alipay refused");
        }
        Ok(answer)
    }

    fn wap_pay_url(&self, req: &CreatePayment) -> String {
        let mut biz = json!({
            "out_trade_no": req.out_trade_no,
            "total_amount": fen_to_yuan(req.amount_fen),
            "subject": req.description,
            "product_code": "QUICK_WAP_WAY",
            "time_expire": format_time(req.expires_at),
        });
        if let Some(url) = &self.config.return_url {
            biz["quit_url"] = json!(url);
        }
        let params =
            self.params("alipay.trade.wap.pay", &biz, Some(&req.notify_url), self.config.return_url.as_deref());
        format!("{}?{}", self.gateway, wire::form_encode(&params))
    }

    /// `alipay.trade.fastpay.refund.query`, which needs both numbers.
    async fn query_refund_of(&self, out_trade_no: &str, out_refund_no: &str) -> Result<RefundState, ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        check_out_no("out_refund_no", out_refund_no)?;
        let biz =
            json!({"out_trade_no": out_trade_no, "out_request_no": out_refund_no, "query_options": ["gmt_refund_pay"]});
        let answer = self.call("alipay.trade.fastpay.refund.query", biz, None).await?;
        if !answer.is_success() {
            return Err(match answer.sub_code() {
                "ACQ.TRADE_NOT_EXIST" => ChannelError::refused("REFUND_NOT_EXIST", "no such payment"),
                _ => refusal(&answer, Context::Other),
            });
        }
        if answer.str("refund_amount").is_none() {
            // Alipay answers success with no refund data when it never saw the request.
            return Err(ChannelError::refused("REFUND_NOT_EXIST", "no such refund"));
        }
        let trade_no =
            answer.str("trade_no").ok_or_else(|| missing("alipay.trade.fastpay.refund.query", "trade_no"))?;
        match answer.str("refund_status") {
            None | Some("REFUND_SUCCESS") => {
                Ok(RefundState::Succeeded { refund_id: refund_id(trade_no, out_refund_no) })
            }
            Some(_) => Ok(RefundState::Pending),
        }
    }
}

fn transport(method: &'static str, err: &reqwest::Error) -> ChannelError {
    if err.is_timeout() {
        tracing::warn!(method, "Alipay timed out: outcome unknown");
        return ChannelError::Timeout;
    }
    let reason = transport_reason(err);
    tracing::warn!(method, reason, "Alipay unreachable");
    ChannelError::Transport(reason.to_owned())
}

fn missing(method: &str, field: &str) -> ChannelError {
    ChannelError::BadResponse(format!("{method}: the answer has no {field}"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Refund,
    Other,
}

/// A refusal, its `sub_code` mapped onto [`codes`] where one fits.
fn refusal(answer: &Answer, context: Context) -> ChannelError {
    let sub = answer.sub_code();
    let code = match sub {
        "ACQ.TRADE_HAS_SUCCESS" => codes::ALREADY_PAID,
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" | "ACQ.REFUND_FEE_ERROR" => codes::REFUND_EXCEEDS,
        "ACQ.CONTEXT_INCONSISTENT" => codes::OUT_TRADE_NO_USED,
        "ACQ.INVALID_PARAMETER" | "ACQ.DISCORDANT_REPEAT_REQUEST" => codes::INVALID_REQUEST,
        "ACQ.TRADE_STATUS_ERROR" | "ACQ.TRADE_NOT_EXIST" if context == Context::Refund => codes::NOT_PAID,
        "" => answer.common.code.as_str(),
        other => other,
    };
    let message = answer.common.sub_msg.clone().unwrap_or_else(|| answer.common.msg.clone());
    ChannelError::Refused { code: code.to_owned(), message }
}

fn check_out_no(what: &str, s: &str) -> Result<(), ChannelError> {
    if is_valid_out_no(s) {
        Ok(())
    } else {
        Err(ChannelError::refused(codes::INVALID_REQUEST, format!("{what} must be 1-32 of [A-Za-z0-9_-]")))
    }
}

fn amount(answer: &Answer, method: &str, field: &str) -> Result<i64, ChannelError> {
    answer.str(field).and_then(yuan_to_fen).ok_or_else(|| missing(method, field))
}

/// A paid trade from a query or pay answer.
fn succeeded(answer: &Answer, method: &str, time_field: &str) -> Result<PaymentState, ChannelError> {
    Ok(PaymentState::Succeeded {
        transaction_id: answer.str("trade_no").ok_or_else(|| missing(method, "trade_no"))?.to_owned(),
        amount_fen: amount(answer, method, "total_amount")?,
        paid_at: answer
            .str(time_field)
            .or_else(|| answer.str("gmt_payment"))
            .and_then(parse_time)
            .ok_or_else(|| missing(method, time_field))?,
    })
}

#[async_trait]
impl PaymentChannel for AlipayChannel {
    fn name(&self) -> &'static str {
        "alipay"
    }

    async fn create(&self, req: CreatePayment) -> Result<Created, ChannelError> {
        check_out_no("out_trade_no", &req.out_trade_no)?;
        if req.amount_fen <= 0 {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "amount must be positive"));
        }
        let mut biz = json!({
            "out_trade_no": req.out_trade_no,
            "total_amount": fen_to_yuan(req.amount_fen),
            "subject": req.description,
            "time_expire": format_time(req.expires_at),
        });
        let (method, answer) = match &req.payer {
            Payer::App { openid: None } => {
                let pay_url = self.wap_pay_url(&req);
                return Ok(Created { status: PaymentState::Pending, pay_params: Some(json!({ "pay_url": pay_url })) });
            }
            Payer::App { openid: Some(buyer) } => {
                biz["product_code"] = json!("JSAPI_PAY");
                let is_user_id =
                    buyer.len() == 16 && buyer.starts_with("2088") && buyer.bytes().all(|b| b.is_ascii_digit());
                biz[if is_user_id { "buyer_id" } else { "buyer_open_id" }] = json!(buyer);
                ("alipay.trade.create", self.call("alipay.trade.create", biz, Some(&req.notify_url)).await?)
            }
            Payer::PaymentCode { auth_code } => {
                biz["scene"] = json!("bar_code");
                biz["auth_code"] = json!(auth_code);
                biz["product_code"] = json!("FACE_TO_FACE_PAYMENT");
                ("alipay.trade.pay", self.call("alipay.trade.pay", biz, Some(&req.notify_url)).await?)
            }
        };
        if answer.sub_code() == "ACQ.TRADE_HAS_SUCCESS" {
            // A retried create of a payment that went through: answer it as it is now.
            return Ok(Created { status: self.query(&req.out_trade_no).await?, pay_params: None });
        }
        match (method, answer.common.code.as_str()) {
            ("alipay.trade.create", wire::CODE_SUCCESS) => {
                let trade_no = answer.str("trade_no").ok_or_else(|| missing(method, "trade_no"))?;
                Ok(Created { status: PaymentState::Pending, pay_params: Some(json!({ "tradeNO": trade_no })) })
            }
            (_, wire::CODE_SUCCESS) => {
                Ok(Created { status: succeeded(&answer, method, "gmt_payment")?, pay_params: None })
            }
            (_, CODE_PAYING) => Ok(Created { status: PaymentState::Pending, pay_params: None }),
            _ if PAYER_FAILURES.contains(&answer.sub_code()) => Ok(Created {
                status: PaymentState::Failed {
                    code: answer.sub_code().to_owned(),
                    message: answer.common.sub_msg.clone().unwrap_or_default(),
                },
                pay_params: None,
            }),
            _ => Err(refusal(&answer, Context::Other)),
        }
    }

    async fn query(&self, out_trade_no: &str) -> Result<PaymentState, ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        const METHOD: &str = "alipay.trade.query";
        let answer = self.call(METHOD, json!({ "out_trade_no": out_trade_no }), None).await?;
        if !answer.is_success() {
            return match answer.sub_code() {
                "ACQ.TRADE_NOT_EXIST" => Ok(PaymentState::NotFound),
                _ => Err(refusal(&answer, Context::Other)),
            };
        }
        match answer.str("trade_status") {
            Some("WAIT_BUYER_PAY") => Ok(PaymentState::Pending),
            Some("TRADE_SUCCESS" | "TRADE_FINISHED") => succeeded(&answer, METHOD, "send_pay_date"),
            Some("TRADE_CLOSED") => Ok(PaymentState::Closed),
            other => Err(ChannelError::BadResponse(format!("{METHOD}: unknown trade_status {other:?}"))),
        }
    }

    async fn close(&self, out_trade_no: &str) -> Result<(), ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        let answer = self.call("alipay.trade.close", json!({ "out_trade_no": out_trade_no }), None).await?;
        if answer.is_success() {
            return Ok(());
        }
        match answer.sub_code() {
            // Never created (an H5 payment the payer never opened, a create that never
            // arrived): nothing can pay it through this number until it is created.
            "ACQ.TRADE_NOT_EXIST" => Ok(()),
            // Not waiting for payment: paid, or already closed. Ask which.
            "ACQ.TRADE_STATUS_ERROR" | "ACQ.TRADE_HAS_SUCCESS" | "ACQ.TRADE_HAS_CLOSE" => {
                match self.query(out_trade_no).await? {
                    PaymentState::Succeeded { .. } => {
                        Err(ChannelError::refused(codes::ALREADY_PAID, "the payment is paid"))
                    }
                    PaymentState::Closed | PaymentState::NotFound | PaymentState::Failed { .. } => Ok(()),
                    PaymentState::Pending => Err(refusal(&answer, Context::Other)),
                }
            }
            _ => Err(refusal(&answer, Context::Other)),
        }
    }

    async fn refund(&self, req: RefundRequest) -> Result<RefundState, ChannelError> {
        check_out_no("out_trade_no", &req.out_trade_no)?;
        check_out_no("out_refund_no", &req.out_refund_no)?;
        if req.refund_fen <= 0 || req.total_fen <= 0 || req.refund_fen > req.total_fen {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "amounts must be positive, refund ≤ total"));
        }
        const METHOD: &str = "alipay.trade.refund";
        let biz = json!({
            "out_trade_no": req.out_trade_no,
            "refund_amount": fen_to_yuan(req.refund_fen),
            "out_request_no": req.out_refund_no,
            "refund_reason": req.reason,
        });
        // Alipay's refund notification goes to the payment's notify_url; req.notify_url is unused.
        let answer = self.call(METHOD, biz, None).await?;
        if !answer.is_success() {
            return Err(refusal(&answer, Context::Refund));
        }
        let trade_no = answer.str("trade_no").ok_or_else(|| missing(METHOD, "trade_no"))?;
        match answer.str("fund_change") {
            Some("Y") => Ok(RefundState::Succeeded { refund_id: refund_id(trade_no, &req.out_refund_no) }),
            // "N": this call moved no money (a repeat, or still processing): ask the refund query.
            _ => match self.query_refund_of(&req.out_trade_no, &req.out_refund_no).await {
                // Accepted but not visible yet: query again later.
                Err(ChannelError::Refused { code, .. }) if code == "REFUND_NOT_EXIST" => Ok(RefundState::Pending),
                other => other,
            },
        }
    }

    async fn query_refund(&self, out_trade_no: &str, out_refund_no: &str) -> Result<RefundState, ChannelError> {
        self.query_refund_of(out_trade_no, out_refund_no).await
    }

    fn merchant_id(&self) -> &str {
        self.config.seller_id.as_deref().unwrap_or(&self.config.app_id)
    }

    fn notification_answer(&self, handled: bool) -> NotifyAnswer {
        let body = if handled { "success" } else { "fail" };
        NotifyAnswer { status: 200, content_type: "text/plain; charset=utf-8", body: body.to_owned() }
    }

    async fn statement(&self, date: NaiveDate) -> Result<Vec<StatementLine>, ChannelError> {
        const METHOD: &str = "alipay.data.dataservice.bill.downloadurl.query";
        let biz = json!({"bill_type": "trade", "bill_date": date.format("%Y-%m-%d").to_string()});
        let answer = self.call(METHOD, biz, None).await?;
        if !answer.is_success() {
            if answer.sub_code().to_ascii_lowercase().ends_with("bill_not_exist") {
                return Ok(Vec::new()); // no trade that day
            }
            return Err(refusal(&answer, Context::Other));
        }
        let url = answer.str("bill_download_url").ok_or_else(|| missing(METHOD, "bill_download_url"))?;
        let url = Url::parse(url).map_err(|_| ChannelError::BadResponse(format!("{METHOD}: bad bill_download_url")))?;
        let response = self.client.get(url).send().await.map_err(|e| transport("bill download", &e))?;
        if !response.status().is_success() {
            return Err(ChannelError::Transport(format!("bill download: HTTP {}", response.status().as_u16())));
        }
        let zip = response.bytes().await.map_err(|e| transport("bill download", &e))?;
        bill::parse_bill_zip(&zip).map_err(ChannelError::BadResponse)
    }

    fn verify_notification(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<Notification, NotifyError> {
        let params = wire::form_decode(body);
        // Signature first: nothing of an unauthenticated body is looked at.
        match wire::verify_params(&params, &self.config.alipay_public_key, true) {
            None => return Err(NotifyError::MissingHeader("sign")),
            Some(false) => return Err(NotifyError::BadSignature),
            Some(true) => {}
        }
        let field = |name: &'static str| param(&params, name).ok_or(NotifyError::MalformedBody(format!("no {name}")));
        if let Some(charset) = param(&params, "charset")
            && !charset.eq_ignore_ascii_case(CHARSET)
        {
            return Err(NotifyError::MalformedBody(format!("charset {charset}, expected utf-8")));
        }
        let app_id = field("app_id")?;
        if app_id != self.config.app_id {
            return Err(NotifyError::UnknownKey(format!("app_id {app_id}")));
        }
        let seller = param(&params, "seller_id").unwrap_or_default();
        if let Some(ours) = &self.config.seller_id
            && seller != ours
        {
            if self.config.app_auth_token.is_some() {
                // Another merchant that authorised the same app: the app's other instance.
                return Err(NotifyError::UnknownKey(format!("seller_id {seller}")));
            }
            tracing::error!(seller, "signed Alipay notification names another seller: configuration mix-up");
            return Err(NotifyError::WrongMerchant(seller.to_owned()));
        }
        let out_trade_no = field("out_trade_no")?.to_owned();
        let trade_no = field("trade_no")?.to_owned();
        let yuan = |name: &'static str| {
            field(name).and_then(|v| yuan_to_fen(v).ok_or(NotifyError::MalformedBody(format!("unreadable {name}"))))
        };
        if let Some(out_biz_no) = param(&params, "out_biz_no")
            && (param(&params, "refund_fee").is_some() || param(&params, "gmt_refund").is_some())
        {
            return Ok(Notification::Refund {
                refund_id: refund_id(&trade_no, out_biz_no),
                out_refund_no: out_biz_no.to_owned(),
                out_trade_no,
                // The trade's total refunded so far, as Alipay notifies it.
                refund_fen: yuan("refund_fee")?,
                state: RefundState::Succeeded { refund_id: refund_id(&trade_no, out_biz_no) },
            });
        }
        let state = match field("trade_status")? {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => PaymentState::Succeeded {
                transaction_id: trade_no.clone(),
                amount_fen: yuan("total_amount")?,
                paid_at: param(&params, "gmt_payment")
                    .or(param(&params, "notify_time"))
                    .and_then(parse_time)
                    .ok_or(NotifyError::MalformedBody("unreadable gmt_payment".into()))?,
            },
            "TRADE_CLOSED" => PaymentState::Closed,
            "WAIT_BUYER_PAY" => PaymentState::Pending,
            other => return Err(NotifyError::MalformedBody(format!("unknown trade_status {other:?}"))),
        };
        Ok(Notification::Payment {
            out_trade_no,
            transaction_id: trade_no,
            amount_fen: yuan("total_amount")?,
            currency: CURRENCY.to_owned(),
            merchant_id: if self.config.seller_id.is_some() { seller.to_owned() } else { app_id.to_owned() },
            state,
        })
    }
}
