//! One-time sign-in codes by SMS, for members on the H5 page.
//!
//! The protocol is Tencent Cloud SMS `SendSms` (API 3.0, version 2021-01-11) signed with
//! TC3-HMAC-SHA256, chosen because its signature could be checked against published
//! vectors (see [`tc3`]) using only crates the workspace already builds (hmac, sha2).
//! Request and response shapes: <https://www.tencentcloud.com/document/product/382/40536>
//! (zh: <https://cloud.tencent.cn/document/product/409/55981>)
//! (PhoneNumberSet in E.164, SmsSdkAppId, SignName, TemplateId, TemplateParamSet →
//! `Response.SendStatusSet[].Code == "Ok"`, or `Response.Error{Code, Message}`).

mod error;
pub mod sandbox;
pub mod tc3;
mod tencent;

use async_trait::async_trait;

pub use error::SmsError;
pub use sandbox::{SentSms, SmsSandboxConfig, SmsSandboxHandle, spawn_sms_sandbox};
pub use tencent::{SmsConfig, TencentSms};

/// What member sign-in needs from an SMS provider.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends `code` to `phone` (11-digit mainland number, or E.164 `+...`) through the
    /// configured verification-code template.
    async fn send_code(&self, phone: &str, code: &str) -> Result<(), SmsError>;
}

/// The E.164 form Tencent expects: 13800138000 / 8613800138000 / 008613800138000 →
/// +8613800138000; `+<country><number>` is kept. Spaces and dashes are ignored.
pub(crate) fn to_e164(phone: &str) -> Option<String> {
    let compact: String = phone.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let (plus, digits) = match compact.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, compact.as_str()),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mainland = |n: &str| n.len() == 11 && n.starts_with('1');
    if plus {
        return (7..=15).contains(&digits.len()).then(|| format!("+{digits}"));
    }
    let national =
        digits.strip_prefix("0086").or_else(|| digits.strip_prefix("86").filter(|n| mainland(n))).unwrap_or(digits);
    mainland(national).then(|| format!("+86{national}"))
}

#[cfg(test)]
mod tests {
    use super::to_e164;

    #[test]
    fn phones_become_e164() {
        assert_eq!(to_e164("13800138000").as_deref(), Some("+8613800138000"));
        assert_eq!(to_e164("138-0013-8000").as_deref(), Some("+8613800138000"));
        assert_eq!(to_e164("8613800138000").as_deref(), Some("+8613800138000"));
        assert_eq!(to_e164("008613800138000").as_deref(), Some("+8613800138000"));
        assert_eq!(to_e164("+60198890000").as_deref(), Some("+60198890000"));
        assert_eq!(to_e164("23800138000"), None);
        assert_eq!(to_e164("1380013800"), None);
        assert_eq!(to_e164("abc"), None);
        assert_eq!(to_e164("+"), None);
    }
}
