//! The one error type of the HTTP API. Every failure leaves as RFC 9457
//! `application/problem+json` with a stable machine `code`, a zh-CN `title` and
//! `detail`, an English `title_en`, and the offending `field` where there is one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiayou_app::AppError;
use jiayou_domain::FieldError;
use jiayou_integrations::sms::SmsError;
use jiayou_integrations::wechat::WxLoginError;
use serde::Serialize;
use utoipa::ToSchema;

/// The problem+json body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `https://jiayou.dev/problems/{code}`: documentation of the code.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short zh-CN summary of the problem kind.
    pub title: String,
    /// The same in English.
    pub title_en: String,
    pub status: u16,
    /// Stable machine-readable code; clients branch on this, never on text.
    pub code: String,
    /// zh-CN explanation of this occurrence.
    pub detail: String,
    /// The first offending field (JSON path or query parameter), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every offending field, for forms that show errors beside each input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// For `forbidden`: the permission the caller lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    /// zh-CN.
    pub message: String,
    pub message_en: String,
}

impl From<&FieldError> for FieldProblem {
    fn from(e: &FieldError) -> Self {
        FieldProblem {
            field: e.field.to_string(),
            code: e.code().into(),
            message: e.message_zh(),
            message_en: e.message_en(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] AppError),
    /// The body is not JSON at all (syntax error, truncated).
    #[error("malformed json: {0}")]
    MalformedJson(String),
    /// Wrong or missing `Content-Type`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    /// A path parameter is not of the expected type (a non-numeric id).
    #[error("bad path parameter")]
    BadPath,
    /// The request took longer than the server allows.
    #[error("timeout")]
    Timeout,
    #[error("unauthorized")]
    Unauthorized,
    #[error("route not found")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug: details are in the log, never in the response.
    #[error("internal error")]
    Internal,
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::App(AppError::Invalid(vec![e]))
    }
}

impl ApiError {
    fn problem(&self) -> Problem {
        let (status, code, title, title_en, detail, errors): (
            StatusCode,
            String,
            &str,
            &str,
            String,
            Vec<FieldProblem>,
        ) = match self {
            ApiError::App(AppError::Invalid(errs)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed".into(),
                "请求参数有误",
                "Invalid request",
                errs.iter().map(FieldError::message_zh).collect::<Vec<_>>().join("；"),
                errs.iter().map(Into::into).collect(),
            ),
            ApiError::App(AppError::NotFound { entity }) => (
                StatusCode::NOT_FOUND,
                format!("{entity}_not_found"),
                "资源不存在",
                "Not found",
                format!("{}不存在", entity_zh(entity)),
                vec![],
            ),
            ApiError::App(AppError::Conflict { code, field, message_zh }) => (
                StatusCode::CONFLICT,
                (*code).into(),
                "与现有数据冲突",
                "Conflict",
                message_zh.clone(),
                field
                    .map(|f| {
                        vec![FieldProblem {
                            field: f.into(),
                            code: (*code).into(),
                            message: message_zh.clone(),
                            message_en: format!("{f} conflicts with existing data"),
                        }]
                    })
                    .unwrap_or_default(),
            ),
            ApiError::App(AppError::Unprocessable { code, field, message_zh }) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                (*code).into(),
                "请求无法处理",
                "Unprocessable request",
                message_zh.clone(),
                field
                    .map(|f| {
                        vec![FieldProblem {
                            field: f.into(),
                            code: (*code).into(),
                            message: message_zh.clone(),
                            message_en: format!("{f} cannot be used for this request"),
                        }]
                    })
                    .unwrap_or_default(),
            ),
            ApiError::App(AppError::Store(_)) | ApiError::Internal => {
                if let ApiError::App(AppError::Store(e)) = self {
                    // Details go to the log only: driver messages may contain values.
                    tracing::error!(error = %e, "storage error");
                }
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error".into(),
                    "服务器内部错误",
                    "Internal error",
                    "服务器处理请求时出错，请稍后重试".into(),
                    vec![],
                )
            }
            ApiError::App(AppError::Unauthenticated { code, message_zh }) => (
                StatusCode::UNAUTHORIZED,
                (*code).into(),
                "未登录或凭证无效",
                "Unauthorized",
                message_zh.clone(),
                vec![],
            ),
            ApiError::App(AppError::Forbidden { permission }) => (
                StatusCode::FORBIDDEN,
                "forbidden".into(),
                "没有权限",
                "Forbidden",
                format!("缺少权限 {}，请联系管理员授权", permission.as_str()),
                vec![],
            ),
            ApiError::App(AppError::Locked { until_us }) => (
                StatusCode::LOCKED,
                "account_locked".into(),
                "账号已锁定",
                "Account locked",
                format!(
                    "连续登录失败次数过多，账号已锁定至 {}（UTC），请稍后再试或联系管理员",
                    chrono::DateTime::from_timestamp_micros(*until_us).unwrap_or_default().format("%Y-%m-%d %H:%M:%S")
                ),
                vec![],
            ),
            ApiError::App(AppError::Channel { code, message_zh }) => (
                StatusCode::BAD_GATEWAY,
                "payment_refused".into(),
                "支付未成功",
                "Payment refused",
                format!("{message_zh}（{code}）"),
                vec![],
            ),
            ApiError::App(
                e @ (AppError::Wechat(_)
                | AppError::Sms(_)
                | AppError::RateLimited { .. }
                | AppError::CodeRefused { .. }
                | AppError::NotConfigured(_)),
            ) => {
                let a = outside_answer(e).expect("outside_answer covers these variants");
                let errors = a
                    .field
                    .map(|f| {
                        vec![FieldProblem {
                            field: f.into(),
                            code: a.code.into(),
                            message: a.detail.clone(),
                            message_en: a.title_en.into(),
                        }]
                    })
                    .unwrap_or_default();
                (a.status, a.code.into(), a.title, a.title_en, a.detail, errors)
            }
            ApiError::MalformedJson(msg) => (
                StatusCode::BAD_REQUEST,
                "malformed_json".into(),
                "请求体不是有效的 JSON",
                "Malformed JSON",
                format!("请求体无法解析为 JSON：{msg}"),
                vec![],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type".into(),
                "不支持的内容类型",
                "Unsupported media type",
                "请求体须为 JSON，并带有 Content-Type: application/json".into(),
                vec![],
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large".into(),
                "请求体过大",
                "Payload too large",
                "请求体超过允许的大小".into(),
                vec![],
            ),
            ApiError::BadPath => (
                StatusCode::NOT_FOUND,
                "invalid_path_parameter".into(),
                "资源不存在",
                "Not found",
                "路径中的编号无效：编号应为整数".into(),
                vec![],
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout".into(),
                "处理超时",
                "Request timed out",
                "服务器未能及时处理请求，请稍后重试".into(),
                vec![],
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized".into(),
                "未登录或凭证无效",
                "Unauthorized",
                "请先登录，并在请求头中提供令牌（Authorization: Bearer …）".into(),
                vec![],
            ),
            ApiError::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "route_not_found".into(),
                "接口不存在",
                "No such endpoint",
                "请求的接口不存在，请查看 /api/openapi.json".into(),
                vec![],
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed".into(),
                "不支持该请求方法",
                "Method not allowed",
                "该接口不支持此 HTTP 方法".into(),
                vec![],
            ),
            ApiError::Unavailable(what) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable".into(),
                "服务暂不可用",
                "Service unavailable",
                format!("{what} 暂不可用"),
                vec![],
            ),
        };
        let permission = match self {
            ApiError::App(AppError::Forbidden { permission }) => Some(permission.as_str().to_owned()),
            _ => None,
        };
        Problem {
            permission,
            type_: format!("https://jiayou.dev/problems/{code}"),
            title: title.into(),
            title_en: title_en.into(),
            status: status.as_u16(),
            field: errors.first().map(|e| e.field.clone()),
            code,
            detail,
            errors,
        }
    }
}

struct Answer {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    title_en: &'static str,
    detail: String,
    field: Option<&'static str>,
    retry_after: Option<u64>,
}

fn wechat_answer(e: &WxLoginError) -> Answer {
    use WxLoginError::*;
    let (status, field, retry_after) = match e {
        CodeInvalid | CodeUsed | WatermarkMismatch => (StatusCode::BAD_REQUEST, Some("code"), None),
        RateLimited => (StatusCode::TOO_MANY_REQUESTS, None, Some(60)),
        UserBlocked => (StatusCode::FORBIDDEN, None, None),
        Busy | Unreachable(_) => (StatusCode::SERVICE_UNAVAILABLE, None, Some(5)),
        Other { .. } | BadResponse(_) => (StatusCode::BAD_GATEWAY, None, None),
    };
    Answer {
        status,
        code: e.code(),
        title: "微信登录失败",
        title_en: "WeChat sign-in failed",
        detail: e.user_message().to_owned(),
        field,
        retry_after,
    }
}

fn sms_answer(e: &SmsError) -> Answer {
    use SmsError::*;
    let (status, field, retry_after) = match e {
        InvalidPhone => (StatusCode::UNPROCESSABLE_ENTITY, Some("phone"), None),
        RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, Some("phone"), Some(60)),
        Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, Some("phone"), None),
        Unreachable(_) => (StatusCode::SERVICE_UNAVAILABLE, None, Some(5)),
        AuthFailed(_) | Provider(_) | BadResponse(_) => (StatusCode::BAD_GATEWAY, None, None),
    };
    Answer {
        status,
        code: e.code(),
        title: "短信发送失败",
        title_en: "SMS not sent",
        detail: e.user_message().to_owned(),
        field,
        retry_after,
    }
}

/// The answer to a failure of an outside service or a refused one-time code.
fn outside_answer(e: &AppError) -> Option<Answer> {
    Some(match e {
        AppError::Wechat(e) => wechat_answer(e),
        AppError::Sms(e) => sms_answer(e),
        AppError::RateLimited { code, field, retry_after_s, message_zh } => Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            code,
            title: "请求过于频繁",
            title_en: "Too many requests",
            detail: message_zh.clone(),
            field: *field,
            retry_after: Some(*retry_after_s),
        },
        AppError::CodeRefused { code, message_zh } => Answer {
            status: StatusCode::BAD_REQUEST,
            code,
            title: "验证码无效",
            title_en: "Verification code refused",
            detail: message_zh.clone(),
            field: Some("code"),
            retry_after: None,
        },
        AppError::NotConfigured(what) => Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: match *what {
                "wechat" => "wechat_not_configured",
                "payment" => "payment_not_configured",
                _ => "sms_not_configured",
            },
            title: "服务暂不可用",
            title_en: "Service unavailable",
            detail: match *what {
                "wechat" => "本服务未配置微信登录，请联系管理员".into(),
                "payment" => "本服务未配置在线支付渠道，请使用余额或到收银台支付".into(),
                _ => "本服务未配置短信验证码登录，请联系管理员".into(),
            },
            field: None,
            retry_after: None,
        },
        _ => return None,
    })
}

fn entity_zh(entity: &str) -> &'static str {
    match entity {
        "chain" => "连锁",
        "station" => "油站",
        "grade" => "油品",
        "tank" => "油罐",
        "pump" => "加油机",
        "nozzle" => "油枪",
        "price" => "价格",
        "staff" => "员工",
        "role" => "角色",
        "session" => "会话",
        "member" => "会员",
        "vehicle" => "车辆",
        "order" => "订单",
        "device" => "设备",
        "topup_rule" => "充值赠送规则",
        _ => "该资源",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = self.problem();
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&p).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let ApiError::App(e) = &self
            && let Some(seconds) = outside_answer(e).and_then(|a| a.retry_after)
        {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::Unauthorized | ApiError::App(AppError::Unauthenticated { .. })) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
