//! What a member-facing use-case can answer besides [`AppError`]: failures of the
//! WeChat and SMS providers, rate limits, and one-time codes that cannot be used.

use jiayou_domain::FieldError;
use jiayou_integrations::sms::SmsError;
use jiayou_integrations::wechat::WxLoginError;
use jiayou_store::StoreError;

use crate::AppError;

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error(transparent)]
    App(#[from] AppError),
    /// WeChat refused or failed; the variant carries a stable code and a zh-CN message.
    #[error("WeChat: {0}")]
    Wechat(WxLoginError),
    /// The SMS provider refused or failed.
    #[error("SMS: {0}")]
    Sms(SmsError),
    /// Too many requests for a phone number or an address; retry after `retry_after_s`.
    #[error("rate limited: {code}")]
    RateLimited { code: &'static str, retry_after_s: u64, message_zh: String },
    /// An SMS code that cannot sign in: wrong, expired, used, or out of attempts.
    #[error("SMS code refused: {code}")]
    SmsCode { code: &'static str, message_zh: String },
    /// The adapter (`wechat`, `sms`) is not configured in this deployment.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
}

pub type MemberResult<T> = Result<T, MemberError>;

impl From<FieldError> for MemberError {
    fn from(e: FieldError) -> Self {
        MemberError::App(e.into())
    }
}

impl From<StoreError> for MemberError {
    fn from(e: StoreError) -> Self {
        MemberError::App(e.into())
    }
}

impl From<sea_orm::DbErr> for MemberError {
    fn from(e: sea_orm::DbErr) -> Self {
        MemberError::App(e.into())
    }
}

impl MemberError {
    pub(crate) fn code(code: &'static str, message_zh: impl Into<String>) -> MemberError {
        MemberError::SmsCode { code, message_zh: message_zh.into() }
    }
}
