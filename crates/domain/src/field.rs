//! Field-level validation errors. The HTTP layer turns them into problem+json with a
//! stable code and a zh-CN message; the domain only says *what* is wrong *where*.

use std::borrow::Cow;

/// What is wrong with a field. Each kind maps to one stable machine code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    /// Longer than `max` characters.
    TooLong {
        max: usize,
    },
    /// Shorter than `min` characters.
    TooShort {
        min: usize,
    },
    /// Outside an allowed numeric range (rendered in the message).
    OutOfRange {
        min: String,
        max: String,
    },
    /// Not in the expected format; `expected` describes it (zh-CN).
    InvalidFormat {
        expected: Cow<'static, str>,
    },
    /// Not one of the allowed values.
    UnknownValue {
        allowed: Vec<String>,
    },
    /// Refers to something that does not exist (in this scope).
    NotFound,
    /// Contradicts another field or existing data; `reason` is zh-CN.
    Conflict {
        reason: Cow<'static, str>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {kind:?}")]
pub struct FieldError {
    pub field: Cow<'static, str>,
    pub kind: FieldErrorKind,
}

impl FieldError {
    pub fn new(field: impl Into<Cow<'static, str>>, kind: FieldErrorKind) -> Self {
        Self { field: field.into(), kind }
    }

    pub fn code(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required => "field_required",
            FieldErrorKind::TooLong { .. } => "field_too_long",
            FieldErrorKind::TooShort { .. } => "field_too_short",
            FieldErrorKind::OutOfRange { .. } => "field_out_of_range",
            FieldErrorKind::InvalidFormat { .. } => "field_invalid_format",
            FieldErrorKind::UnknownValue { .. } => "field_unknown_value",
            FieldErrorKind::NotFound => "field_reference_not_found",
            FieldErrorKind::Conflict { .. } => "field_conflict",
        }
    }

    /// Human message, zh-CN first (P4).
    pub fn message_zh(&self) -> String {
        let f = &self.field;
        match &self.kind {
            FieldErrorKind::Required => format!("字段 {f} 为必填项"),
            FieldErrorKind::TooLong { max } => format!("字段 {f} 过长，最多 {max} 个字符"),
            FieldErrorKind::TooShort { min } => format!("字段 {f} 过短，至少 {min} 个字符"),
            FieldErrorKind::OutOfRange { min, max } => format!("字段 {f} 超出范围，应在 {min} 至 {max} 之间"),
            FieldErrorKind::InvalidFormat { expected } => format!("字段 {f} 格式不正确，应为{expected}"),
            FieldErrorKind::UnknownValue { allowed } => {
                format!("字段 {f} 的取值无效，可选值：{}", allowed.join("、"))
            }
            FieldErrorKind::NotFound => format!("字段 {f} 引用的对象不存在"),
            FieldErrorKind::Conflict { reason } => format!("字段 {f} 冲突：{reason}"),
        }
    }

    /// English message (P4: English second).
    pub fn message_en(&self) -> String {
        let f = &self.field;
        match &self.kind {
            FieldErrorKind::Required => format!("{f} is required"),
            FieldErrorKind::TooLong { max } => format!("{f} is too long (at most {max} characters)"),
            FieldErrorKind::TooShort { min } => format!("{f} is too short (at least {min} characters)"),
            FieldErrorKind::OutOfRange { min, max } => format!("{f} must be between {min} and {max}"),
            FieldErrorKind::InvalidFormat { .. } => format!("{f} has an invalid format"),
            FieldErrorKind::UnknownValue { allowed } => {
                format!("{f} must be one of: {}", allowed.join(", "))
            }
            FieldErrorKind::NotFound => format!("{f} refers to something that does not exist"),
            FieldErrorKind::Conflict { .. } => format!("{f} conflicts with existing data"),
        }
    }
}

/// Checks a free-text field: trimmed, non-empty, at most `max` characters (not bytes:
/// Chinese names are 3 bytes a character in UTF-8).
pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(field, FieldErrorKind::Required));
    }
    if v.chars().count() > max {
        return Err(FieldError::new(field, FieldErrorKind::TooLong { max }));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(field, FieldErrorKind::InvalidFormat { expected: "不含控制字符的文本".into() }));
    }
    Ok(v.to_owned())
}

/// Like [`text`] but empty means "none".
pub fn optional_text(field: &'static str, value: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// A short machine code: 1–32 of `A-Z 0-9 - _`, unique within its scope (station
/// codes, grade codes). Kept ASCII so it is safe in URLs, file names and pump protocols,
/// and upper-cased so that uniqueness means the same on every database engine (MySQL's
/// usual collations ignore case, PostgreSQL's and SQLite's do not).
pub fn code(field: &'static str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(field, FieldErrorKind::Required));
    }
    if v.len() > 32 {
        return Err(FieldError::new(field, FieldErrorKind::TooLong { max: 32 }));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(FieldError::new(
            field,
            FieldErrorKind::InvalidFormat { expected: "1 至 32 位字母、数字、- 或 _".into() },
        ));
    }
    Ok(v.to_ascii_uppercase())
}

/// The error for a value outside a closed list of names.
pub fn unknown_value(field: impl Into<Cow<'static, str>>, allowed: &[&str]) -> FieldError {
    FieldError::new(field, FieldErrorKind::UnknownValue { allowed: allowed.iter().map(|s| s.to_string()).collect() })
}

/// An integer within an inclusive range.
pub fn int_range(field: &'static str, value: i64, min: i64, max: i64) -> Result<i64, FieldError> {
    if value < min || value > max {
        return Err(FieldError::new(field, FieldErrorKind::OutOfRange { min: min.to_string(), max: max.to_string() }));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_characters_not_bytes() {
        assert_eq!(text("name", "  昆明北站  ", 4).unwrap(), "昆明北站");
        assert_eq!(text("name", "昆明北京路站", 4).unwrap_err().kind, FieldErrorKind::TooLong { max: 4 });
        assert_eq!(text("name", "   ", 4).unwrap_err().kind, FieldErrorKind::Required);
        assert!(text("name", "a\u{0}b", 4).is_err());
    }

    #[test]
    fn code_rejects_non_ascii_and_spaces() {
        assert_eq!(code("code", "km-001").unwrap(), "KM-001");
        assert!(code("code", "KM 001").is_err());
        assert!(code("code", "昆明").is_err());
        assert!(code("code", &"x".repeat(33)).is_err());
    }

    #[test]
    fn every_kind_has_a_distinct_code_and_a_chinese_message() {
        let kinds = [
            FieldErrorKind::Required,
            FieldErrorKind::TooLong { max: 1 },
            FieldErrorKind::TooShort { min: 1 },
            FieldErrorKind::OutOfRange { min: "0".into(), max: "1".into() },
            FieldErrorKind::InvalidFormat { expected: "x".into() },
            FieldErrorKind::UnknownValue { allowed: vec!["a".into()] },
            FieldErrorKind::NotFound,
            FieldErrorKind::Conflict { reason: "x".into() },
        ];
        let codes: std::collections::HashSet<_> =
            kinds.iter().map(|k| FieldError::new("f", k.clone()).code()).collect();
        assert_eq!(codes.len(), kinds.len());
        for k in kinds {
            assert!(FieldError::new("f", k).message_zh().contains("字段 f"));
        }
    }
}
