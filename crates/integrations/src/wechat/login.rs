use std::fmt;

use async_trait::async_trait;

use super::WxLoginError;

/// What member sign-in needs from WeChat. The HTTP implementation is [`super::WechatHttp`];
/// tests and the demo point it at [`super::sandbox`].
#[async_trait]
pub trait WechatLogin: Send + Sync {
    /// Exchanges the code from `wx.login` for the user's openid (and unionid when the
    /// mini-program is bound to an Open Platform account).
    async fn code_to_session(&self, js_code: &str) -> Result<WxSession, WxLoginError>;

    /// Exchanges the code from a `getPhoneNumber` button for the user's phone number.
    async fn phone_number(&self, code: &str) -> Result<WxPhone, WxLoginError>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WxSession {
    pub openid: String,
    pub unionid: Option<String>,
    pub session_key: SessionKey,
}

/// The key WeChat shares with us to decrypt `wx.getUserInfo`-style payloads. It must not
/// leave the server or reach a log, so `Debug` hides it and reading it is explicit.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// A phone number WeChat vouched for. `Debug` masks the digits: it is personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct WxPhone {
    /// With the country code for numbers outside mainland China, as WeChat gives it.
    pub phone_number: String,
    /// Without the country code.
    pub pure_phone_number: String,
    /// "86" for mainland China (WeChat sends it as a number or a string).
    pub country_code: String,
    /// When the user tapped the button (watermark.timestamp, unix seconds).
    pub timestamp: i64,
}

impl fmt::Debug for WxPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WxPhone")
            .field("phone_number", &crate::mask_phone(&self.phone_number))
            .field("country_code", &self.country_code)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}
