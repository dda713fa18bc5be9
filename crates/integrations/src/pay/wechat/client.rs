//! [`PaymentChannel`] over WeChat Pay API v3 (see the [module docs](super)).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;
use url::Url;

use super::bill::{self, rfc3339_china};
use super::mapping::{UNKNOWN_OUTCOME_CODES, map_code, refund_state, trade_state};
use super::wire::{self, AUTH_SCHEME, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_SKEW_SECS};
use crate::http::{DEFAULT_TIMEOUT, client, describe_json_error, endpoint, parse_base, transport_reason};
use crate::pay::rsa::{PrivateKey, PublicKey, aead_decrypt, wechat_message};
use crate::pay::{
    CURRENCY, ChannelError, CreatePayment, Created, Notification, NotifyError, Payer, PaymentChannel, PaymentState,
    RefundRequest, RefundState, StatementLine, codes, is_valid_out_no,
};

/// WeChat Pay's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";
const USER_AGENT: &str = concat!("jiayou/", env!("CARGO_PKG_VERSION"), " (WeChatPay-APIv3)");

/// Where and as whom to reach WeChat Pay. One instance per merchant, or per
/// sub-merchant (station) in service-provider mode.
#[derive(Clone)]
pub struct WechatPayConfig {
    /// [`DEFAULT_BASE_URL`], or the local peer's.
    pub base_url: String,
    /// Direct mode: the merchant (商户号). Service-provider mode: `sp_mchid`.
    pub mchid: String,
    /// Direct: the mini-program's appid. Service-provider: `sp_appid`.
    pub appid: String,
    /// `Some` = service-provider (partner) mode, this station as 特约商户.
    pub sub_mchid: Option<String>,
    /// Partner mode: the sub-merchant's own mini-program, when payers pay in it.
    pub sub_appid: Option<String>,
    /// The APIv3 key (32 ASCII bytes): decrypts notification resources.
    pub apiv3_key: String,
    /// Serial number of the merchant API certificate (`serial_no` of requests).
    pub merchant_serial: String,
    /// `apiclient_key.pem`: signs requests and `paySign`.
    pub merchant_key: PrivateKey,
    /// The 微信支付公钥 id (`PUB_KEY_ID_...`): the only `Wechatpay-Serial` we accept.
    pub platform_key_id: String,
    /// `pub_key.pem`: verifies answers and notifications.
    pub platform_key: PublicKey,
    /// Per call, connect included; past it the call is [`ChannelError::Timeout`].
    pub timeout: Duration,
    /// Demo only: the local peer's payer page; when set, `pay_params` carry
    /// `sandbox_pay_url` = this + `/{prepay_id}`.
    pub payer_page_url: Option<String>,
}

impl fmt::Debug for WechatPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPayConfig")
            .field("base_url", &self.base_url)
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("sub_mchid", &self.sub_mchid)
            .field("sub_appid", &self.sub_appid)
            .field("apiv3_key", &"<redacted>")
            .field("merchant_serial", &self.merchant_serial)
            .field("platform_key_id", &self.platform_key_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl WechatPayConfig {
    /// Direct mode with the default host and timeout.
    #[allow(clippy::too_many_arguments)]
    pub fn direct(
        mchid: impl Into<String>,
        appid: impl Into<String>,
        apiv3_key: impl Into<String>,
        merchant_serial: impl Into<String>,
        merchant_key: PrivateKey,
        platform_key_id: impl Into<String>,
        platform_key: PublicKey,
    ) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            mchid: mchid.into(),
            appid: appid.into(),
            sub_mchid: None,
            sub_appid: None,
            apiv3_key: apiv3_key.into(),
            merchant_serial: merchant_serial.into(),
            merchant_key,
            platform_key_id: platform_key_id.into(),
            platform_key,
            timeout: DEFAULT_TIMEOUT,
            payer_page_url: None,
        }
    }

    fn validate(&self) -> Result<Url, WechatConfigError> {
        let bad = |m: String| Err(WechatConfigError(m));
        let base = parse_base(&self.base_url).map_err(|e| WechatConfigError(e.to_string()))?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&self.mchid) {
            return bad("mchid must be the merchant number (digits)".into());
        }
        if self.appid.trim().is_empty() {
            return bad("appid must not be empty".into());
        }
        if let Some(sub) = &self.sub_mchid
            && !digits(sub)
        {
            return bad("sub_mchid must be the sub-merchant number (digits)".into());
        }
        if self.sub_appid.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return bad("sub_appid, when set, must not be empty".into());
        }
        if self.sub_appid.is_some() && self.sub_mchid.is_none() {
            return bad("sub_appid needs sub_mchid (service-provider mode)".into());
        }
        if self.apiv3_key.len() != 32 {
            return bad(format!("the APIv3 key must be 32 bytes, not {}", self.apiv3_key.len()));
        }
        if self.merchant_serial.trim().is_empty() || self.platform_key_id.trim().is_empty() {
            return bad("merchant_serial and platform_key_id must not be empty".into());
        }
        if self.timeout.is_zero() {
            return bad("timeout must be positive".into());
        }
        Ok(base)
    }
}

/// A [`WechatPayConfig`] that cannot work; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid WeChat Pay configuration: {0}")]
pub struct WechatConfigError(pub String);

/// WeChat Pay API v3, direct or service-provider mode.
pub struct WechatPayChannel {
    base: Url,
    config: WechatPayConfig,
    client: reqwest::Client,
}

impl fmt::Debug for WechatPayChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPayChannel")
            .field("base", &self.base.as_str())
            .field("mchid", &self.config.mchid)
            .field("sub_mchid", &self.config.sub_mchid)
            .finish_non_exhaustive()
    }
}

/// A non-2xx answer with WeChat's `{code, message}`.
struct Refusal {
    status: StatusCode,
    error: wire::ErrorBody,
}

/// A 2xx answer, signature checked.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl WechatPayChannel {
    pub fn new(config: WechatPayConfig) -> Result<Self, WechatConfigError> {
        let base = config.validate()?;
        Ok(Self { base, client: client(config.timeout), config })
    }

    pub fn config(&self) -> &WechatPayConfig {
        &self.config
    }

    fn partner(&self) -> Option<&str> {
        self.config.sub_mchid.as_deref()
    }

    /// `Authorization` for `method path_and_query body`.
    fn authorization(&self, method: &str, path_and_query: &str, body: &str) -> String {
        let timestamp = Utc::now().timestamp().to_string();
        let nonce = nonce_str(32);
        let message = wechat_message(&[method, path_and_query, &timestamp, &nonce, body]);
        let signature = self.config.merchant_key.sign(message.as_bytes());
        format!(
            r#"{AUTH_SCHEME} mchid="{}",nonce_str="{nonce}",signature="{signature}",timestamp="{timestamp}",serial_no="{}""#,
            self.config.mchid, self.config.merchant_serial
        )
    }

    /// Checks an answer's `Wechatpay-*` signature.
    fn verify_answer(
        &self,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        api: &'static str,
    ) -> Result<(), ChannelError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let bad = |why: &str| {
            tracing::error!(api, why, "WeChat Pay answer failed signature verification: outcome unknown");
            Err(ChannelError::BadResponse(format!("{api}: {why}")))
        };
        if header(HEADER_SERIAL) != self.config.platform_key_id {
            return bad("answer signed with another Wechatpay-Serial");
        }
        let (timestamp, nonce, signature) = (header(HEADER_TIMESTAMP), header(HEADER_NONCE), header(HEADER_SIGNATURE));
        let Ok(body) = std::str::from_utf8(body) else { return bad("answer body is not UTF-8") };
        if !self.config.platform_key.verify(wechat_message(&[timestamp, nonce, body]).as_bytes(), signature) {
            return bad("answer signature does not verify");
        }
        match timestamp.parse::<i64>() {
            Ok(t) if (Utc::now().timestamp() - t).abs() <= MAX_SKEW_SECS => Ok(()),
            _ => bad("answer timestamp outside the 5-minute window"),
        }
    }

    /// Signs and sends one request; checks the answer's signature. `Ok(Err(_))` is
    /// WeChat's refusal (4xx). A 5xx, or a non-2xx without WeChat's JSON (a proxy's
    /// 502), is a transport failure: the request may have been applied.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<String>,
        api: &'static str,
    ) -> Result<Result<Answer, Refusal>, ChannelError> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut url = endpoint(&self.base, path);
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        self.send_to(method, url, body, api, true).await
    }

    async fn send_to(
        &self,
        method: Method,
        url: Url,
        body: Option<String>,
        api: &'static str,
        signed_answer: bool,
    ) -> Result<Result<Answer, Refusal>, ChannelError> {
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body_text = body.clone().unwrap_or_default();
        let authorization = self.authorization(method.as_str(), &signed_path, &body_text);
        let mut request = self
            .client
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, USER_AGENT)
            .header(HEADER_SERIAL, &self.config.platform_key_id);
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| transport(api, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| transport(api, &e))?.to_vec();
        if status.is_server_error() {
            let code = serde_json::from_slice::<wire::ErrorBody>(&bytes).map(|e| e.code).unwrap_or_default();
            tracing::warn!(api, status = status.as_u16(), code, "WeChat Pay server error: outcome unknown");
            return Err(ChannelError::Transport(format!("HTTP {} {code}", status.as_u16()).trim_end().to_owned()));
        }
        let error = (!status.is_success()).then(|| serde_json::from_slice::<wire::ErrorBody>(&bytes));
        if let Some(Err(_)) = error {
            tracing::warn!(api, status = status.as_u16(), "WeChat Pay answered a non-JSON HTTP error");
            return Err(ChannelError::Transport(format!("HTTP {}", status.as_u16())));
        }
        if signed_answer {
            self.verify_answer(&headers, &bytes, api)?;
        }
        match error {
            // WeChat's "we failed internally" codes say nothing of whether the request
            // was applied, whatever the HTTP status: query before acting on it.
            Some(Ok(error)) if UNKNOWN_OUTCOME_CODES.contains(&error.code.as_str()) => {
                tracing::warn!(api, status = status.as_u16(), code = %error.code, "WeChat Pay system error: outcome unknown");
                Err(ChannelError::Transport(format!("HTTP {} {}", status.as_u16(), error.code)))
            }
            Some(Ok(error)) => {
                if status == StatusCode::UNAUTHORIZED {
                    // Our keys, serial or clock are wrong: every payment fails until an operator acts.
                    tracing::error!(api, code = %error.code, "WeChat Pay refused our signature");
                } else {
                    tracing::warn!(api, status = status.as_u16(), code = %error.code, "WeChat Pay refused");
                }
                Ok(Err(Refusal { status, error }))
            }
            _ => Ok(Ok(Answer { status, body: bytes })),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        api: &'static str,
    ) -> Result<Result<T, Refusal>, ChannelError> {
        match self.send(method, path, body, api).await? {
            Ok(answer) => parse(&answer.body, api).map(Ok),
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    /// `wx.requestPayment`'s parameters for a prepay id, `paySign` with our key.
    fn pay_params(&self, prepay_id: &str) -> serde_json::Value {
        let app_id = self.config.sub_appid.as_deref().unwrap_or(&self.config.appid);
        let time_stamp = Utc::now().timestamp().to_string();
        let nonce = nonce_str(32);
        let package = format!("prepay_id={prepay_id}");
        let pay_sign =
            self.config.merchant_key.sign(wechat_message(&[app_id, &time_stamp, &nonce, &package]).as_bytes());
        let mut params = json!({
            "appId": app_id, "timeStamp": time_stamp, "nonceStr": nonce,
            "package": package, "signType": "RSA", "paySign": pay_sign,
        });
        if let Some(page) = &self.config.payer_page_url {
            params["sandbox_pay_url"] = json!(format!("{}/{prepay_id}", page.trim_end_matches('/')));
        }
        params
    }

    fn transaction_body(&self, req: &CreatePayment) -> wire::TransactionBody {
        let c = &self.config;
        let mut body = wire::TransactionBody {
            description: req.description.clone(),
            out_trade_no: req.out_trade_no.clone(),
            amount: wire::Amount { total: req.amount_fen, currency: Some(CURRENCY.to_owned()), ..Default::default() },
            ..Default::default()
        };
        match self.partner() {
            None => {
                body.appid = Some(c.appid.clone());
                body.mchid = Some(c.mchid.clone());
            }
            Some(sub) => {
                body.sp_appid = Some(c.appid.clone());
                body.sp_mchid = Some(c.mchid.clone());
                body.sub_mchid = Some(sub.to_owned());
                body.sub_appid = c.sub_appid.clone();
            }
        }
        body
    }

    /// `?mchid=` or `?sp_mchid=&sub_mchid=`, and the path prefix of the mode.
    fn trade_path(&self, out_trade_no: &str, suffix: &str) -> String {
        match self.partner() {
            None => format!("/v3/pay/transactions/out-trade-no/{out_trade_no}{suffix}"),
            Some(_) => format!("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}{suffix}"),
        }
    }

    fn merchant_query(&self) -> String {
        match self.partner() {
            None => format!("mchid={}", self.config.mchid),
            Some(sub) => format!("sp_mchid={}&sub_mchid={sub}", self.config.mchid),
        }
    }

    async fn create_jsapi(&self, req: &CreatePayment, openid: Option<String>) -> Result<Created, ChannelError> {
        let mut body = self.transaction_body(req);
        body.time_expire = Some(rfc3339_china(req.expires_at));
        body.notify_url = Some(req.notify_url.clone());
        let Some(openid) = openid.filter(|o| !o.is_empty()) else {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "WeChat JSAPI payments need the payer's openid"));
        };
        // With a sub_appid the openid is the payer's in the sub-merchant's app.
        body.payer = match (self.partner(), &self.config.sub_appid) {
            (None, _) => wire::Payer { openid: Some(openid), ..Default::default() },
            (Some(_), Some(_)) => wire::Payer { sub_openid: Some(openid), ..Default::default() },
            (Some(_), None) => wire::Payer { sp_openid: Some(openid), ..Default::default() },
        };
        let path =
            if self.partner().is_some() { "/v3/pay/partner/transactions/jsapi" } else { "/v3/pay/transactions/jsapi" };
        match self.call::<wire::Prepay>(Method::POST, path, Some(json_body(&body)), "create").await? {
            Ok(prepay) => {
                Ok(Created { status: PaymentState::Pending, pay_params: Some(self.pay_params(&prepay.prepay_id)) })
            }
            // Paid in the meantime (a retried create): what the app wants is the payment.
            Err(r) if r.error.code == "ORDERPAID" => {
                Ok(Created { status: self.query(&req.out_trade_no).await?, pay_params: None })
            }
            Err(r) => Err(refused(r)),
        }
    }

    async fn create_codepay(&self, req: &CreatePayment, auth_code: String) -> Result<Created, ChannelError> {
        let mut body = self.transaction_body(req);
        body.payer = wire::Payer { auth_code: Some(auth_code), ..Default::default() };
        body.scene_info = Some(wire::SceneInfo {
            device_id: None,
            // The trait knows no store or device: the merchant receiving the money
            // (the station in partner mode) stands for the store.
            store_info: Some(wire::StoreInfo { out_id: Some(self.merchant_id().to_owned()) }),
        });
        let path = if self.partner().is_some() {
            "/v3/pay/partner/transactions/codepay"
        } else {
            "/v3/pay/transactions/codepay"
        };
        match self.send(Method::POST, path, Some(json_body(&body)), "create").await? {
            Ok(answer) => {
                // 202 {code: USERPAYING}: the payer confirms on the phone; query until settled.
                if let Ok(error) = serde_json::from_slice::<wire::ErrorBody>(&answer.body)
                    && (error.code == "USERPAYING" || answer.status == StatusCode::ACCEPTED)
                {
                    return Ok(Created { status: PaymentState::Pending, pay_params: None });
                }
                let transaction: wire::Transaction = parse(&answer.body, "create")?;
                Ok(Created { status: trade_state(&transaction).map_err(ChannelError::BadResponse)?, pay_params: None })
            }
            Err(r) if r.error.code == "USERPAYING" => Ok(Created { status: PaymentState::Pending, pay_params: None }),
            // A retried payment code that went through meanwhile.
            Err(r) if r.error.code == "ORDERPAID" => {
                Ok(Created { status: self.query(&req.out_trade_no).await?, pay_params: None })
            }
            // The payer's side failed: a definite answer, the payment will never be paid.
            Err(r) if matches!(r.error.code.as_str(), "NOTENOUGH" | "PAYERROR" | "BUYER_MISMATCH") => Ok(Created {
                status: PaymentState::Failed { code: r.error.code, message: r.error.message },
                pay_params: None,
            }),
            Err(r) => Err(refused(r)),
        }
    }
}

fn refused(r: Refusal) -> ChannelError {
    ChannelError::Refused { code: map_code(&r.error.code), message: r.error.message }
}

fn parse<T: DeserializeOwned>(bytes: &[u8], api: &'static str) -> Result<T, ChannelError> {
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::warn!(api, error = %describe_json_error(&e), "WeChat Pay answered something unexpected");
        ChannelError::BadResponse(format!("{api}: {}", describe_json_error(&e)))
    })
}

fn transport(api: &'static str, err: &reqwest::Error) -> ChannelError {
    if err.is_timeout() {
        tracing::warn!(api, "WeChat Pay timed out: outcome unknown");
        return ChannelError::Timeout;
    }
    let reason = transport_reason(err);
    tracing::warn!(api, reason, "WeChat Pay unreachable");
    ChannelError::Transport(reason.to_owned())
}

fn check_out_no(what: &str, s: &str) -> Result<(), ChannelError> {
    if is_valid_out_no(s) {
        Ok(())
    } else {
        Err(ChannelError::refused(codes::INVALID_REQUEST, format!("{what} must be 1-32 of [A-Za-z0-9_-]")))
    }
}

fn json_body<T: serde::Serialize>(value: &T) -> String {
    // Invariant: the wire structs hold only strings, numbers and options.
    serde_json::to_string(value).expect("wire bodies of strings and numbers serialise")
}

/// `n` random characters of `[A-Za-z0-9]`.
pub(crate) fn nonce_str(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n).map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())])).collect()
}

#[async_trait]
impl PaymentChannel for WechatPayChannel {
    fn name(&self) -> &'static str {
        "wechat"
    }

    async fn create(&self, req: CreatePayment) -> Result<Created, ChannelError> {
        check_out_no("out_trade_no", &req.out_trade_no)?;
        if req.amount_fen <= 0 {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "amount must be positive"));
        }
        match req.payer.clone() {
            Payer::App { openid } => self.create_jsapi(&req, openid).await,
            Payer::PaymentCode { auth_code } => self.create_codepay(&req, auth_code).await,
        }
    }

    async fn query(&self, out_trade_no: &str) -> Result<PaymentState, ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        let path = format!("{}?{}", self.trade_path(out_trade_no, ""), self.merchant_query());
        match self.call::<wire::Transaction>(Method::GET, &path, None, "query").await? {
            Ok(t) => trade_state(&t).map_err(ChannelError::BadResponse),
            Err(r) if r.status == StatusCode::NOT_FOUND && r.error.code == "ORDER_NOT_EXIST" => {
                Ok(PaymentState::NotFound)
            }
            Err(r) => Err(refused(r)),
        }
    }

    async fn close(&self, out_trade_no: &str) -> Result<(), ChannelError> {
        check_out_no("out_trade_no", out_trade_no)?;
        let body = match self.partner() {
            None => wire::CloseBody { mchid: Some(self.config.mchid.clone()), ..Default::default() },
            Some(sub) => wire::CloseBody {
                sp_mchid: Some(self.config.mchid.clone()),
                sub_mchid: Some(sub.to_owned()),
                ..Default::default()
            },
        };
        let path = self.trade_path(out_trade_no, "/close");
        self.send(Method::POST, &path, Some(json_body(&body)), "close").await?.map(drop).map_err(refused)
    }

    async fn refund(&self, req: RefundRequest) -> Result<RefundState, ChannelError> {
        check_out_no("out_trade_no", &req.out_trade_no)?;
        check_out_no("out_refund_no", &req.out_refund_no)?;
        if req.refund_fen <= 0 || req.total_fen <= 0 {
            return Err(ChannelError::refused(codes::INVALID_REQUEST, "amounts must be positive"));
        }
        let body = wire::RefundBody {
            sub_mchid: self.config.sub_mchid.clone(),
            out_trade_no: req.out_trade_no,
            out_refund_no: req.out_refund_no,
            reason: Some(req.reason).filter(|r| !r.is_empty()),
            notify_url: Some(req.notify_url),
            amount: wire::RefundAmount {
                refund: req.refund_fen,
                total: req.total_fen,
                currency: Some(CURRENCY.to_owned()),
                ..Default::default()
            },
        };
        match self
            .call::<wire::Refund>(Method::POST, "/v3/refund/domestic/refunds", Some(json_body(&body)), "refund")
            .await?
        {
            Ok(refund) => refund_state(&refund.status, &refund.refund_id).map_err(ChannelError::BadResponse),
            // WeChat refuses a refund beyond what is left as INVALID_REQUEST and says so
            // only in the message ("申请退款金额超过订单可退金额").
            Err(r) if r.error.code == "INVALID_REQUEST" && r.error.message.contains("可退金额") => {
                Err(ChannelError::refused(codes::REFUND_EXCEEDS, r.error.message))
            }
            Err(r) => Err(refused(r)),
        }
    }

    async fn query_refund(&self, _out_trade_no: &str, out_refund_no: &str) -> Result<RefundState, ChannelError> {
        check_out_no("out_refund_no", out_refund_no)?;
        let mut path = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        if let Some(sub) = self.partner() {
            path.push_str(&format!("?sub_mchid={sub}"));
        }
        let refund: wire::Refund = self.call(Method::GET, &path, None, "query_refund").await?.map_err(refused)?;
        refund_state(&refund.status, &refund.refund_id).map_err(ChannelError::BadResponse)
    }

    fn merchant_id(&self) -> &str {
        self.partner().unwrap_or(&self.config.mchid)
    }

    async fn statement(&self, date: NaiveDate) -> Result<Vec<StatementLine>, ChannelError> {
        let mut path = format!("/v3/bill/tradebill?bill_date={}&bill_type=ALL", date.format("%Y-%m-%d"));
        if let Some(sub) = self.partner() {
            path.push_str(&format!("&sub_mchid={sub}"));
        }
        let link: wire::BillLink = match self.call(Method::GET, &path, None, "statement").await? {
            Ok(link) => link,
            // No trade that day: WeChat makes no bill.
            Err(r) if r.error.code == "NO_STATEMENT_EXIST" => return Ok(Vec::new()),
            Err(r) => return Err(refused(r)),
        };
        // The download goes to WeChat's own host only: our signed request must not leak elsewhere.
        let url = Url::parse(&link.download_url)
            .ok()
            .filter(|u| u.origin() == self.base.origin())
            .ok_or_else(|| ChannelError::BadResponse("statement: download_url is not on the API host".into()))?;
        // The file itself is not signed; its SHA1 from the signed answer vouches for it.
        let file = match self.send_to(Method::GET, url, None, "statement_download", false).await? {
            Ok(answer) => answer.body,
            Err(r) => return Err(refused(r)),
        };
        if !link.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(ChannelError::BadResponse(format!("statement: unsupported hash_type {:?}", link.hash_type)));
        }
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &file);
        if !hex::encode(digest.as_ref()).eq_ignore_ascii_case(link.hash_value.trim()) {
            tracing::error!("WeChat Pay bill does not match its SHA1");
            return Err(ChannelError::BadResponse("statement: the bill does not match its SHA1".into()));
        }
        let text =
            std::str::from_utf8(&file).map_err(|_| ChannelError::BadResponse("statement: bill is not UTF-8".into()))?;
        bill::parse_bill(text).map_err(|e| ChannelError::BadResponse(format!("statement: {e}")))
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
        let serial = header(HEADER_SERIAL)?;
        if serial != self.config.platform_key_id {
            return Err(NotifyError::UnknownKey(serial.to_owned()));
        }
        let signature = header(HEADER_SIGNATURE)?;
        let nonce = header(HEADER_NONCE)?;
        let timestamp_text = header(HEADER_TIMESTAMP)?;
        let timestamp: i64 = timestamp_text.parse().map_err(|_| NotifyError::MissingHeader(HEADER_TIMESTAMP))?;
        // Signature first: nothing of an unauthenticated body is looked at.
        let text = std::str::from_utf8(body).map_err(|_| NotifyError::BadSignature)?;
        if !self.config.platform_key.verify(wechat_message(&[timestamp_text, nonce, text]).as_bytes(), signature) {
            return Err(NotifyError::BadSignature);
        }
        if (now.timestamp() - timestamp).abs() > MAX_SKEW_SECS {
            return Err(NotifyError::StaleTimestamp { timestamp });
        }
        let malformed = |e: serde_json::Error| NotifyError::MalformedBody(describe_json_error(&e));
        let envelope: wire::Envelope = serde_json::from_slice(body).map_err(malformed)?;
        let r = &envelope.resource;
        if r.algorithm != "AEAD_AES_256_GCM" {
            return Err(NotifyError::MalformedBody(format!("unknown resource algorithm {:?}", r.algorithm)));
        }
        // Signed by WeChat yet not decryptable: our APIv3 key is wrong (or was reset).
        // The body is authentic, so this is not BadSignature; the notification is
        // unusable until an operator fixes the key, and WeChat keeps retrying meanwhile.
        let plain = aead_decrypt(
            self.config.apiv3_key.as_bytes(),
            r.nonce.as_bytes(),
            r.associated_data.as_bytes(),
            &r.ciphertext,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "WeChat Pay notification does not decrypt: check the APIv3 key");
            NotifyError::MalformedBody(e)
        })?;
        let check_merchant = |direct: &Option<String>, sp: &Option<String>| {
            let theirs = if self.partner().is_some() { sp } else { direct };
            match theirs.as_deref() {
                Some(m) if m == self.config.mchid => Ok(()),
                other => {
                    tracing::error!(mchid = ?other, "signed notification names another merchant: configuration mix-up");
                    Err(NotifyError::WrongMerchant(other.unwrap_or_default().to_owned()))
                }
            }
        };
        match envelope.event_type.as_str() {
            "TRANSACTION.SUCCESS" => {
                let t: wire::Transaction = serde_json::from_slice(&plain).map_err(malformed)?;
                check_merchant(&t.mchid, &t.sp_mchid)?;
                let merchant_id = if self.partner().is_some() { t.sub_mchid.clone() } else { t.mchid.clone() };
                let state = trade_state(&t).map_err(NotifyError::MalformedBody)?;
                Ok(Notification::Payment {
                    out_trade_no: t.out_trade_no,
                    transaction_id: t.transaction_id.unwrap_or_default(),
                    amount_fen: t.amount.total,
                    currency: t
                        .amount
                        .currency
                        .ok_or_else(|| NotifyError::MalformedBody("amount.currency missing".into()))?,
                    merchant_id: merchant_id.unwrap_or_default(),
                    state,
                })
            }
            "REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED" => {
                let r: wire::RefundResource = serde_json::from_slice(&plain).map_err(malformed)?;
                check_merchant(&r.mchid, &r.sp_mchid)?;
                let state = refund_state(&r.refund_status, &r.refund_id).map_err(NotifyError::MalformedBody)?;
                Ok(Notification::Refund {
                    out_trade_no: r.out_trade_no,
                    out_refund_no: r.out_refund_no,
                    refund_id: r.refund_id,
                    refund_fen: r.amount.refund,
                    state,
                })
            }
            other => Err(NotifyError::MalformedBody(format!("unknown event_type {other:?}"))),
        }
    }
}
