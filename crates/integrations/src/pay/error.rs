use super::codes;

/// Why a call to a payment channel did not give an answer. Each variant has a stable
/// machine code ([`Self::code`]) and a zh-CN message for the cashier or driver
/// ([`Self::message_zh`]).
///
/// The split that matters is [`Self::is_unknown_outcome`]: after `Refused` the channel
/// did not apply the request; after anything else it may have, and only a later query
/// can tell. Failing an order on a timeout would refuse a driver whose money was taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("the payment channel did not answer in time")]
    Timeout,
    #[error("the payment channel refused the request: {code} ({message})")]
    Refused { code: String, message: String },
    #[error("the payment channel is unreachable: {0}")]
    Transport(String),
    #[error("malformed answer from the payment channel: {0}")]
    BadResponse(String),
}

impl ChannelError {
    pub(crate) fn refused(code: &str, message: impl Into<String>) -> Self {
        Self::Refused { code: code.to_owned(), message: message.into() }
    }

    /// Stable machine-readable code for API answers and metrics; the channel's own code
    /// of a refusal is [`Self::refused_code`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout => "pay_timeout",
            Self::Refused { .. } => "pay_refused",
            Self::Transport(_) => "pay_unreachable",
            Self::BadResponse(_) => "pay_bad_response",
        }
    }

    /// The channel's code when it refused (see [`super::codes`]).
    pub fn refused_code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when the request may have been applied: keep the order awaiting payment and
    /// query later instead of failing it.
    pub fn is_unknown_outcome(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }

    /// What the cashier or driver reads (zh-CN).
    pub fn message_zh(&self) -> &'static str {
        match self {
            Self::Timeout | Self::Transport(_) | Self::BadResponse(_) => {
                "支付结果确认中，请勿重复付款，稍后查看订单状态"
            }
            Self::Refused { code, .. } => match code.as_str() {
                codes::ALREADY_PAID => "订单已支付，无法关闭",
                codes::REFUND_EXCEEDS => "退款金额超过可退金额",
                codes::OUT_TRADE_NO_USED => "订单号已被使用",
                codes::NOT_PAID => "订单尚未支付，无法退款",
                codes::INVALID_REQUEST => "支付请求参数有误",
                "NOTENOUGH" => "余额不足，请更换付款方式",
                "AUTH_CODE_INVALID" => "付款码无效，请刷新付款码后重新扫码",
                "ORDER_CLOSED" => "订单已关闭",
                "SYSTEM_ERROR" => "支付渠道系统繁忙，请稍后再试",
                _ => "支付渠道拒绝了本次请求，请稍后再试",
            },
        }
    }
}

/// Why a notification was not believed. The app answers it with a non-2xx (the channel
/// will retry) and applies nothing. Stable codes ([`Self::code`]) for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Absent, or not readable as what it should be (a timestamp that is not a number).
    #[error("notification header {0} missing or unreadable")]
    MissingHeader(&'static str),
    #[error("notification signature does not match")]
    BadSignature,
    /// More than 5 minutes older or newer than our clock: a replay, or a wrong clock.
    #[error("notification timestamp {timestamp} is outside the 5-minute window")]
    StaleTimestamp { timestamp: i64 },
    /// Signed with our key yet for another merchant: a mix-up of configurations.
    #[error("notification for merchant {0}, not ours")]
    WrongMerchant(String),
    #[error("notification body unreadable: {0}")]
    MalformedBody(String),
    /// Signed with a key this instance does not hold: an unknown `Wechatpay-Serial`, or an
    /// Alipay `app_id` that is not ours.
    #[error("notification signed with an unknown key or for an unknown app: {0}")]
    UnknownKey(String),
}

impl NotifyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "notify_missing_header",
            Self::BadSignature => "notify_bad_signature",
            Self::StaleTimestamp { .. } => "notify_stale_timestamp",
            Self::WrongMerchant(_) => "notify_wrong_merchant",
            Self::MalformedBody(_) => "notify_malformed_body",
            Self::UnknownKey(_) => "notify_unknown_key",
        }
    }

    /// For the operator's console (zh-CN); nobody else sees these.
    pub fn message_zh(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "支付通知缺少签名信息",
            Self::BadSignature => "支付通知签名校验失败",
            Self::StaleTimestamp { .. } => "支付通知时间戳超出允许范围（5分钟）",
            Self::WrongMerchant(_) => "支付通知的商户号与本商户不符",
            Self::MalformedBody(_) => "支付通知内容无法解析",
            Self::UnknownKey(_) => "支付通知的证书序列号或应用ID未配置",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_have_a_known_outcome() {
        assert!(ChannelError::Timeout.is_unknown_outcome());
        assert!(ChannelError::Transport("x".into()).is_unknown_outcome());
        assert!(ChannelError::BadResponse("x".into()).is_unknown_outcome());
        let refused = ChannelError::refused(codes::ALREADY_PAID, "paid");
        assert!(!refused.is_unknown_outcome());
        assert_eq!((refused.code(), refused.refused_code()), ("pay_refused", Some("already_paid")));
        assert_eq!(refused.message_zh(), "订单已支付，无法关闭");
    }
}
