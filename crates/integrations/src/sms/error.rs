/// Why a code could not be sent. Each variant has a stable machine code ([`Self::code`])
/// and a zh-CN message for the member ([`Self::user_message`]). Provider messages are not
/// kept: they can echo the phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    #[error("not a phone number SMS can reach")]
    InvalidPhone,
    #[error("SMS frequency limit reached ({0})")]
    RateLimited(String),
    #[error("the provider refused this message ({0})")]
    Rejected(String),
    #[error("the provider refused our credentials or signature ({0})")]
    AuthFailed(String),
    #[error("SMS provider error {0}")]
    Provider(String),
    #[error("SMS provider unreachable: {0}")]
    Unreachable(&'static str),
    #[error("malformed SMS provider response: {0}")]
    BadResponse(String),
}

impl SmsError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPhone => "sms_invalid_phone",
            Self::RateLimited(_) => "sms_rate_limited",
            Self::Rejected(_) => "sms_rejected",
            Self::AuthFailed(_) => "sms_auth_failed",
            Self::Provider(_) => "sms_error",
            Self::Unreachable(_) => "sms_unreachable",
            Self::BadResponse(_) => "sms_bad_response",
        }
    }

    pub fn user_message(&self) -> &'static str {
        match self {
            Self::InvalidPhone => "手机号格式不正确",
            Self::RateLimited(_) => "验证码发送过于频繁，请稍后再试",
            Self::Rejected(_) => "短信发送失败，请确认手机号可以正常接收短信",
            Self::AuthFailed(_) | Self::Provider(_) | Self::BadResponse(_) => "短信服务暂不可用，请稍后再试",
            Self::Unreachable(_) => "短信服务暂时无法连接，请稍后再试",
        }
    }

    /// Maps a Tencent error code (request-level `Error.Code` or per-number status `Code`).
    /// Codes: the SendSms doc's error list (see the module doc of [`super`]).
    pub(crate) fn from_provider_code(code: &str) -> Self {
        let code = code.to_owned();
        if code.starts_with("AuthFailure") || code.starts_with("UnauthorizedOperation") {
            Self::AuthFailed(code)
        } else if code.starts_with("LimitExceeded") || code == "RequestLimitExceeded" {
            Self::RateLimited(code)
        } else if code == "InvalidParameterValue.IncorrectPhoneNumber" {
            Self::InvalidPhone
        } else if code.starts_with("FailedOperation.PhoneNumber")
            || code.starts_with("FailedOperation.ContainSensitiveWord")
        {
            Self::Rejected(code)
        } else {
            Self::Provider(code)
        }
    }
}
