//! The WeChat server API over HTTPS.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::token::TokenCache;
use super::{SessionKey, WechatLogin, WxLoginError, WxPhone, WxSession};
use crate::http::{
    DEFAULT_TIMEOUT, InvalidBaseUrl, client, describe_json_error, endpoint, parse_base, transport_reason,
};

/// Where and as whom to call WeChat.
#[derive(Clone)]
pub struct WechatConfig {
    /// `https://api.weixin.qq.com` in production; the sandbox's URL in tests and the demo.
    pub base_url: String,
    pub appid: String,
    pub secret: String,
    /// Per call, connect included.
    pub timeout: Duration,
}

impl WechatConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.weixin.qq.com";

    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            appid: appid.into(),
            secret: secret.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

impl fmt::Debug for WechatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatConfig")
            .field("base_url", &self.base_url)
            .field("appid", &self.appid)
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// [`WechatLogin`] over HTTP. One per process: it holds the cached access token.
pub struct WechatHttp {
    base: Url,
    appid: String,
    secret: String,
    client: reqwest::Client,
    token: TokenCache,
}

impl fmt::Debug for WechatHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatHttp")
            .field("base", &self.base.as_str())
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// errcodes that mean "this access token is no good": 40001 invalid credential,
/// 40014 invalid access_token, 42001 access_token expired.
const STALE_TOKEN: [i64; 3] = [40001, 40014, 42001];

/// Longest code we pass on; wx.login codes are 32 characters. Longer input is not a code.
const MAX_CODE_LEN: usize = 256;

impl WechatHttp {
    pub fn new(config: WechatConfig) -> Result<Self, InvalidBaseUrl> {
        Ok(Self {
            base: parse_base(&config.base_url)?,
            appid: config.appid,
            secret: config.secret,
            client: client(config.timeout),
            token: TokenCache::default(),
        })
    }

    /// Sends one request and reads WeChat's answer: JSON whatever the Content-Type says
    /// (jscode2session answers `text/plain`), errors as HTTP 200 with a non-zero errcode.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        api: &'static str,
    ) -> Result<T, WxLoginError> {
        let response = request.send().await.map_err(|e| unreachable(api, &e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| unreachable(api, &e))?;
        let value: Value = match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) if !status.is_success() => {
                tracing::warn!(api, status = status.as_u16(), "WeChat answered a non-JSON HTTP error");
                return Err(WxLoginError::Unreachable("HTTP error from WeChat"));
            }
            Err(e) => {
                tracing::warn!(api, error = %describe_json_error(&e), "WeChat answered something that is not JSON");
                return Err(WxLoginError::BadResponse(describe_json_error(&e)));
            }
        };
        let errcode = value.get("errcode").and_then(Value::as_i64).unwrap_or(0);
        if errcode != 0 {
            let errmsg = value.get("errmsg").and_then(Value::as_str).unwrap_or_default().to_owned();
            tracing::warn!(api, errcode, errmsg = %errmsg, "WeChat answered an error");
            return Err(WxLoginError::from_errcode(errcode, errmsg));
        }
        if !status.is_success() {
            tracing::warn!(api, status = status.as_u16(), "WeChat answered an HTTP error without errcode");
            return Err(WxLoginError::Unreachable("HTTP error from WeChat"));
        }
        serde_json::from_value(value).map_err(|e| {
            tracing::warn!(api, error = %describe_json_error(&e), "WeChat reply lacks expected fields");
            WxLoginError::BadResponse(format!("{api}: {}", describe_json_error(&e)))
        })
    }

    async fn fetch_token(&self) -> Result<(String, u64), WxLoginError> {
        let mut url = endpoint(&self.base, "/cgi-bin/token");
        url.query_pairs_mut()
            .append_pair("grant_type", "client_credential")
            .append_pair("appid", &self.appid)
            .append_pair("secret", &self.secret);
        let reply: TokenReply = self.call(self.client.get(url), "token").await?;
        if reply.access_token.is_empty() {
            return Err(WxLoginError::BadResponse("token: empty access_token".into()));
        }
        tracing::debug!(expires_in = reply.expires_in, "fetched a WeChat access token");
        Ok((reply.access_token, reply.expires_in))
    }

    async fn phone_once(&self, code: &str, token: &str) -> Result<WxPhone, WxLoginError> {
        let mut url = endpoint(&self.base, "/wxa/business/getuserphonenumber");
        url.query_pairs_mut().append_pair("access_token", token);
        let request = self.client.post(url).json(&serde_json::json!({ "code": code }));
        let reply: PhoneReply = self.call(request, "getuserphonenumber").await?;
        let info = reply.phone_info;
        // The watermark says which app the number was released to; a number minted for
        // another mini-program must not bind to an account here.
        if info.watermark.appid != self.appid {
            tracing::warn!("phone number watermark names another appid; refused");
            return Err(WxLoginError::WatermarkMismatch);
        }
        let country_code = match info.country_code {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err(WxLoginError::BadResponse("getuserphonenumber: countryCode".into())),
        };
        if info.pure_phone_number.is_empty() {
            return Err(WxLoginError::BadResponse("getuserphonenumber: empty purePhoneNumber".into()));
        }
        Ok(WxPhone {
            phone_number: info.phone_number,
            pure_phone_number: info.pure_phone_number,
            country_code,
            timestamp: info.watermark.timestamp,
        })
    }
}

fn unreachable(api: &'static str, err: &reqwest::Error) -> WxLoginError {
    let reason = transport_reason(err);
    tracing::warn!(api, reason, "WeChat unreachable");
    WxLoginError::Unreachable(reason)
}

fn checked_code(code: &str) -> Result<&str, WxLoginError> {
    let code = code.trim();
    if code.is_empty() || code.len() > MAX_CODE_LEN {
        return Err(WxLoginError::CodeInvalid);
    }
    Ok(code)
}

#[async_trait]
impl WechatLogin for WechatHttp {
    async fn code_to_session(&self, js_code: &str) -> Result<WxSession, WxLoginError> {
        let js_code = checked_code(js_code)?;
        // GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
        // → {openid, session_key, unionid?} or {errcode, errmsg} (code2Session doc).
        let mut url = endpoint(&self.base, "/sns/jscode2session");
        url.query_pairs_mut()
            .append_pair("appid", &self.appid)
            .append_pair("secret", &self.secret)
            .append_pair("js_code", js_code)
            .append_pair("grant_type", "authorization_code");
        let reply: SessionReply = self.call(self.client.get(url), "jscode2session").await?;
        if reply.openid.is_empty() || reply.session_key.is_empty() {
            return Err(WxLoginError::BadResponse("jscode2session: missing openid or session_key".into()));
        }
        let unionid = reply.unionid.filter(|u| !u.is_empty());
        tracing::debug!(has_unionid = unionid.is_some(), "WeChat code exchanged");
        Ok(WxSession { openid: reply.openid, unionid, session_key: SessionKey::new(reply.session_key) })
    }

    async fn phone_number(&self, code: &str) -> Result<WxPhone, WxLoginError> {
        let code = checked_code(code)?;
        // POST /wxa/business/getuserphonenumber?access_token= with {"code"} → phone_info
        // (getPhoneNumber doc). A token WeChat calls stale is dropped and fetched again once.
        let mut retried = false;
        loop {
            let token = self.token.get_or_fetch(|| self.fetch_token()).await?;
            match self.phone_once(code, &token).await {
                Err(WxLoginError::Other { errcode, .. }) if STALE_TOKEN.contains(&errcode) && !retried => {
                    tracing::info!(errcode, "WeChat access token went stale; fetching a new one");
                    self.token.invalidate(&token).await;
                    retried = true;
                }
                other => return other,
            }
        }
    }
}

#[derive(Deserialize)]
struct SessionReply {
    #[serde(default)]
    openid: String,
    #[serde(default)]
    session_key: String,
    #[serde(default)]
    unionid: Option<String>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct PhoneReply {
    phone_info: PhoneInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    phone_number: String,
    pure_phone_number: String,
    /// The doc's example sends a number (86); SDKs and answers seen in the wild a string.
    country_code: Value,
    watermark: Watermark,
}

#[derive(Deserialize)]
struct Watermark {
    appid: String,
    #[serde(default)]
    timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_phone_reply_parses_with_a_numeric_country_code() {
        // The "返回示例" of the getPhoneNumber doc, with digits filled in.
        let reply: PhoneReply = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000",
                "countryCode":86,"watermark":{"timestamp":1637744274,"appid":"wx123"}}}"#,
        )
        .unwrap();
        assert_eq!(reply.phone_info.country_code, Value::from(86));
        assert_eq!(reply.phone_info.watermark.appid, "wx123");
    }

    #[test]
    fn config_debug_hides_the_secret() {
        let config = WechatConfig::new("wx1", "very-secret");
        assert!(!format!("{config:?}").contains("very-secret"));
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.base_url, "https://api.weixin.qq.com");
    }
}
