//! Tencent Cloud SMS `SendSms` over HTTPS.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use serde::Deserialize;
use url::Url;

use super::{SmsError, SmsSender, tc3, to_e164};
use crate::http::{
    DEFAULT_TIMEOUT, InvalidBaseUrl, client, describe_json_error, host_header, parse_base, transport_reason,
};
use crate::mask_phone;

pub(crate) const SERVICE: &str = "sms";
pub(crate) const ACTION: &str = "SendSms";
pub(crate) const VERSION: &str = "2021-01-11";
/// Sent and signed byte for byte: the doc warns that a Content-Type differing from the
/// signed one (e.g. a charset added by the HTTP library) fails verification.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Credentials and template for Tencent Cloud SMS.
#[derive(Clone)]
pub struct SmsConfig {
    /// `https://sms.tencentcloudapi.com` in production; the sandbox's URL in tests and the demo.
    pub base_url: String,
    pub secret_id: String,
    pub secret_key: String,
    /// The SMS application (SmsSdkAppId), e.g. 1400006666.
    pub sdk_app_id: String,
    /// Approved signature (SignName), e.g. 加油站.
    pub sign_name: String,
    /// Approved verification-code template (TemplateId) whose only parameter is the code.
    pub template_id: String,
    /// X-TC-Region, e.g. ap-guangzhou.
    pub region: String,
    pub timeout: Duration,
}

impl SmsConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://sms.tencentcloudapi.com";

    pub fn new(
        secret_id: impl Into<String>,
        secret_key: impl Into<String>,
        sdk_app_id: impl Into<String>,
        sign_name: impl Into<String>,
        template_id: impl Into<String>,
    ) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            sdk_app_id: sdk_app_id.into(),
            sign_name: sign_name.into(),
            template_id: template_id.into(),
            region: "ap-guangzhou".to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsConfig")
            .field("base_url", &self.base_url)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("sign_name", &self.sign_name)
            .field("template_id", &self.template_id)
            .field("region", &self.region)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// [`SmsSender`] through Tencent Cloud SMS.
pub struct TencentSms {
    url: Url,
    host: String,
    config: SmsConfig,
    client: reqwest::Client,
}

impl fmt::Debug for TencentSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TencentSms").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl TencentSms {
    pub fn new(config: SmsConfig) -> Result<Self, InvalidBaseUrl> {
        let url = parse_base(&config.base_url)?;
        Ok(Self { host: host_header(&url), client: client(config.timeout), url, config })
    }

    /// The signed request's headers and body, at `timestamp`. Split out so the signature
    /// covers exactly the bytes and header values that go on the wire.
    fn signed_parts(&self, e164: &str, code: &str, timestamp: i64) -> (Vec<(&'static str, String)>, Vec<u8>) {
        let body = serde_json::to_vec(&serde_json::json!({
            "PhoneNumberSet": [e164],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": self.config.template_id,
            "TemplateParamSet": [code],
        }))
        .expect("a JSON object of strings serialises");
        let signed = [("content-type", JSON_CONTENT_TYPE), ("host", self.host.as_str()), ("x-tc-action", ACTION)];
        let request =
            tc3::Request { method: "POST", path: self.url.path(), query: "", headers: &signed, payload: &body };
        let authorization =
            tc3::authorization(&self.config.secret_id, &self.config.secret_key, SERVICE, timestamp, &request);
        let headers = vec![
            (AUTHORIZATION.as_str(), authorization),
            (CONTENT_TYPE.as_str(), JSON_CONTENT_TYPE.to_owned()),
            (HOST.as_str(), self.host.clone()),
            ("x-tc-action", ACTION.to_owned()),
            ("x-tc-timestamp", timestamp.to_string()),
            ("x-tc-version", VERSION.to_owned()),
            ("x-tc-region", self.config.region.clone()),
        ];
        (headers, body)
    }
}

#[async_trait]
impl SmsSender for TencentSms {
    async fn send_code(&self, phone: &str, code: &str) -> Result<(), SmsError> {
        let masked = mask_phone(phone);
        let e164 = to_e164(phone).ok_or(SmsError::InvalidPhone)?;
        let (headers, body) = self.signed_parts(&e164, code, chrono::Utc::now().timestamp());
        let mut request = self.client.post(self.url.clone()).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| unreachable(&masked, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unreachable(&masked, &e))?;
        let reply: Envelope = match serde_json::from_slice(&bytes) {
            Ok(reply) => reply,
            Err(_) if !status.is_success() => {
                tracing::warn!(phone = %masked, status = status.as_u16(), "SMS provider answered an HTTP error");
                return Err(SmsError::Unreachable("HTTP error from the SMS provider"));
            }
            Err(e) => {
                tracing::warn!(phone = %masked, error = %describe_json_error(&e), "SMS provider answered something unexpected");
                return Err(SmsError::BadResponse(describe_json_error(&e)));
            }
        };
        let reply = reply.response;
        if let Some(error) = reply.error {
            let err = SmsError::from_provider_code(&error.code);
            log_refusal(&masked, &error.code, &reply.request_id, &err);
            return Err(err);
        }
        let Some(sent) = reply.send_status_set.into_iter().next() else {
            return Err(SmsError::BadResponse("no SendStatusSet entry".into()));
        };
        if sent.code != "Ok" {
            let err = match SmsError::from_provider_code(&sent.code) {
                SmsError::Provider(code) => SmsError::Rejected(code),
                other => other,
            };
            log_refusal(&masked, &sent.code, &reply.request_id, &err);
            return Err(err);
        }
        tracing::info!(phone = %masked, request_id = %reply.request_id, "SMS code sent");
        Ok(())
    }
}

fn log_refusal(masked: &str, code: &str, request_id: &str, err: &SmsError) {
    if matches!(err, SmsError::AuthFailed(_)) {
        // Our credentials or signing are wrong: every member is affected, operators must act.
        tracing::error!(phone = %masked, code, request_id, "SMS provider refused our credentials");
    } else {
        tracing::warn!(phone = %masked, code, request_id, "SMS provider refused the message");
    }
}

fn unreachable(masked: &str, err: &reqwest::Error) -> SmsError {
    let reason = transport_reason(err);
    tracing::warn!(phone = %masked, reason, "SMS provider unreachable");
    SmsError::Unreachable(reason)
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Reply,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reply {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    send_status_set: Vec<SendStatus>,
    #[serde(default)]
    request_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiError {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendStatus {
    code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_secret_key() {
        let config = SmsConfig::new("AKID", "top-secret-key", "1400006666", "加油", "1234");
        assert!(!format!("{config:?}").contains("top-secret-key"));
        assert_eq!(config.timeout, Duration::from_secs(5));
    }
}
