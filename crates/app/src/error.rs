//! The errors a use-case can answer with. Each has a stable machine code; the HTTP
//! layer renders them as problem+json.

use jiayou_domain::FieldError;
use jiayou_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The command was understood but some fields are invalid. Never empty.
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The resource addressed by the path does not exist (or is not visible).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// The command conflicts with the current state (a retired station, a duplicate code).
    #[error("conflict: {code}")]
    Conflict { code: &'static str, field: Option<&'static str>, message_zh: String },
    /// Well-formed but cannot be processed as sent, with a code of its own (422), e.g.
    /// `idempotency_key_reused`: the key was used for a different request.
    #[error("unprocessable: {code}")]
    Unprocessable { code: &'static str, field: Option<&'static str>, message_zh: String },
    /// No valid credentials (missing, wrong, expired or revoked).
    #[error("unauthenticated: {code}")]
    Unauthenticated { code: &'static str, message_zh: String },
    /// Authenticated, but the caller lacks this permission for the target.
    #[error("forbidden: {permission:?}")]
    Forbidden { permission: jiayou_domain::access::Permission },
    /// Too many failed sign-ins; retry after the instant (µs since epoch).
    #[error("account locked")]
    Locked { until_us: i64 },
    /// WeChat refused or failed; the error carries a stable code and a zh-CN message.
    #[error("WeChat: {0}")]
    Wechat(jiayou_integrations::wechat::WxLoginError),
    /// The SMS provider refused or failed.
    #[error("SMS: {0}")]
    Sms(jiayou_integrations::sms::SmsError),
    /// Too many requests for a phone number or an address; retry after `retry_after_s`.
    #[error("rate limited: {code}")]
    RateLimited { code: &'static str, field: Option<&'static str>, retry_after_s: u64, message_zh: String },
    /// A one-time code that cannot be used: wrong, expired, used, or out of attempts.
    #[error("code refused: {code}")]
    CodeRefused { code: &'static str, message_zh: String },
    /// An outside service (`wechat`, `sms`) this call needs is not configured here.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    /// The payment channel refused or failed; nothing was charged by this call.
    #[error("payment channel: {code}")]
    Channel { code: String, message_zh: String },
    #[error(transparent)]
    Store(StoreError),
}

impl AppError {
    pub fn field(e: FieldError) -> AppError {
        AppError::Invalid(vec![e])
    }

    pub fn code_refused(code: &'static str, message_zh: impl Into<String>) -> AppError {
        AppError::CodeRefused { code, message_zh: message_zh.into() }
    }

    pub fn conflict(code: &'static str, field: Option<&'static str>, message_zh: impl Into<String>) -> AppError {
        AppError::Conflict { code, field, message_zh: message_zh.into() }
    }
}

/// An error that is the calling code's bug or a broken invariant, not the user's:
/// answered as a server error.
pub(crate) fn internal(message: impl Into<String>) -> AppError {
    AppError::Store(StoreError::Db(sea_orm::DbErr::Custom(message.into())))
}

/// A field refused for a reason of its own (zh-CN), beyond the generic kinds.
pub(crate) fn field_conflict(
    field: impl Into<std::borrow::Cow<'static, str>>,
    reason: impl Into<std::borrow::Cow<'static, str>>,
) -> FieldError {
    FieldError::new(field, jiayou_domain::FieldErrorKind::Conflict { reason: reason.into() })
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Invalid(vec![e])
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate { field } => AppError::Conflict {
                code: "duplicate",
                field: Some(field),
                message_zh: format!("{field} 已存在，不能重复"),
            },
            // The use-cases check references first; this is the rare race where a
            // referenced row changed in between. The client can retry.
            StoreError::Reference => AppError::Conflict {
                code: "reference_changed",
                field: None,
                message_zh: "引用的数据已被修改，请刷新后重试".into(),
            },
            other => AppError::Store(other),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        StoreError::from(e).into()
    }
}

/// Collects field errors so a client learns about every bad field in one round trip.
#[derive(Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// Records the error of `r`, if any, and gives back its value.
    pub fn check<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// `Err` with every collected problem, or `Ok` when there were none.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() { Ok(()) } else { Err(AppError::Invalid(self.0)) }
    }
}
