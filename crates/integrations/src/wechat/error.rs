/// Why a WeChat sign-in or phone binding failed. Each variant has a stable machine code
/// for the API ([`Self::code`]) and a message a member can act on ([`Self::user_message`]).
///
/// Error codes: code2Session doc (40029, 45011, 40226, -1) and the 40163 "code been used"
/// answer WeChat gives a replayed code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WxLoginError {
    #[error("WeChat rejected the code (40029 invalid or expired)")]
    CodeInvalid,
    #[error("WeChat API minute-quota reached (45011)")]
    RateLimited,
    #[error("WeChat blocked a high-risk user (40226)")]
    UserBlocked,
    #[error("WeChat system busy (-1)")]
    Busy,
    #[error("WeChat code already used (40163)")]
    CodeUsed,
    #[error("WeChat error {errcode}: {errmsg}")]
    Other { errcode: i64, errmsg: String },
    #[error("the phone number's watermark names another app")]
    WatermarkMismatch,
    #[error("WeChat unreachable: {0}")]
    Unreachable(&'static str),
    #[error("malformed WeChat response: {0}")]
    BadResponse(String),
}

impl WxLoginError {
    pub(crate) fn from_errcode(errcode: i64, errmsg: String) -> Self {
        match errcode {
            40029 => Self::CodeInvalid,
            45011 => Self::RateLimited,
            40226 => Self::UserBlocked,
            -1 => Self::Busy,
            40163 => Self::CodeUsed,
            _ => Self::Other { errcode, errmsg },
        }
    }

    /// Stable machine-readable code for API answers and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CodeInvalid => "wechat_code_invalid",
            Self::RateLimited => "wechat_rate_limited",
            Self::UserBlocked => "wechat_user_blocked",
            Self::Busy => "wechat_busy",
            Self::CodeUsed => "wechat_code_used",
            Self::Other { .. } => "wechat_error",
            Self::WatermarkMismatch => "wechat_watermark_mismatch",
            Self::Unreachable(_) => "wechat_unreachable",
            Self::BadResponse(_) => "wechat_bad_response",
        }
    }

    /// What the member reads (zh-CN).
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::CodeInvalid => "登录凭证无效或已过期，请重新进入小程序后再试",
            Self::RateLimited => "登录请求过于频繁，请一分钟后再试",
            Self::UserBlocked => "微信判定当前账号存在安全风险，暂时无法登录",
            Self::Busy => "微信系统繁忙，请稍后再试",
            Self::CodeUsed => "登录凭证已被使用，请重新登录",
            Self::Other { .. } => "微信登录失败，请稍后再试",
            Self::WatermarkMismatch => "手机号信息校验失败，请重新授权",
            Self::Unreachable(_) => "暂时无法连接微信服务，请稍后再试",
            Self::BadResponse(_) => "微信服务返回异常，请稍后再试",
        }
    }

    /// WeChat's errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::CodeInvalid => Some(40029),
            Self::RateLimited => Some(45011),
            Self::UserBlocked => Some(40226),
            Self::Busy => Some(-1),
            Self::CodeUsed => Some(40163),
            Self::Other { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// Whether trying again later may succeed; an invalid, used or blocked code never will.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited | Self::Busy | Self::Unreachable(_) | Self::BadResponse(_))
    }
}
