//! Request extractors that turn every parsing failure into a problem naming the field:
//! axum's own rejections are plain text and do not say which field was wrong.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use jiayou_domain::{FieldError, FieldErrorKind};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Syntax errors give 400 `malformed_json`; type errors, missing and
/// unknown fields give 422 naming the JSON path of the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_) => ApiError::PayloadTooLarge,
            _ => ApiError::MalformedJson(e.body_text()),
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return ApiError::MalformedJson(inner.to_string());
        }
        ApiError::from(field_error(e.path().to_string(), &inner.to_string()))
    })?;
    // Trailing characters after the value are a syntax error too.
    de.end().map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// Query parameters, parsed with the same field-naming errors as [`ApiJson`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| ApiError::from(field_error(e.path().to_string(), &e.inner().to_string())))
    }
}

/// Path parameters; a malformed id can never name an existing resource, so 404.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // The parser's message quotes the raw value; say only that the path is invalid.
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_: PathRejection| ApiError::BadPath)
    }
}

/// Turns a serde message into a field error. serde reports missing and unknown fields
/// at the parent path, with the name in backticks; take it from there.
fn field_error(path: String, msg: &str) -> FieldError {
    let path = if path == "." { String::new() } else { path };
    let join = |name: &str| if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    if let Some(name) = backticked(msg, "missing field `") {
        return FieldError::new(join(name), FieldErrorKind::Required);
    }
    if let Some(name) = backticked(msg, "unknown field `") {
        // serde_path_to_error already includes the unknown key in the path.
        let field = if path == name || path.ends_with(&format!(".{name}")) { path.clone() } else { join(name) };
        return FieldError::new(field, FieldErrorKind::Conflict { reason: "不允许的字段（接口中不存在）".into() });
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let allowed: Vec<String> = rest
            .split_once("expected ")
            .map(|(_, list)| {
                list.split(", ")
                    .map(|s| {
                        s.trim_matches(|c| c == '`' || c == ' ')
                            .trim_start_matches("one of ")
                            .trim_matches('`')
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        return FieldError::new(path, FieldErrorKind::UnknownValue { allowed });
    }
    // Say what was expected, never echo the value (it may be personal data).
    let expected = if let Some(e) = msg.split("expected ").nth(1) {
        format!("类型 {e}")
    } else if msg.contains("float") || msg.contains("digit") || msg.contains("integer") || msg.contains("number") {
        "数字".into()
    } else if msg.contains("bool") {
        "true 或 false".into()
    } else {
        "正确的值".into()
    };
    FieldError::new(
        if path.is_empty() { "body".into() } else { path },
        FieldErrorKind::InvalidFormat { expected: expected.into() },
    )
}

fn backticked<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    msg.find(prefix).and_then(|i| msg[i + prefix.len()..].split('`').next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        lat: f64,
    }

    fn field_of(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::App(jiayou_app::AppError::Invalid(e))) => e[0].field.to_string(),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_offending_field() {
        assert_eq!(field_of(r#"{}"#), "name");
        assert_eq!(field_of(r#"{"name": 1}"#), "name");
        assert_eq!(field_of(r#"{"name": "a", "inner": {"lat": "x"}}"#), "inner.lat");
        assert_eq!(field_of(r#"{"name": "a", "inner": {}}"#), "inner.lat");
        assert_eq!(field_of(r#"{"name": "a", "nmae": 1}"#), "nmae");
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(parse_json::<Body>(b"{\"name\": "), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse_json::<Body>(b"{\"name\": \"a\"} x"), Err(ApiError::MalformedJson(_))));
    }
}
