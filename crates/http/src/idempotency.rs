//! The `Idempotency-Key` header and the helper handlers use to honour it (Stripe's
//! semantics; see [`jiayou_app::idempotency`] for the rules and why the use-case stores
//! its answer in its own transaction).
//!
//! A handler of a state-changing call does:
//!
//! ```ignore
//! pub async fn create(Auth(c): Auth, State(s): State<AppState>, IdempotencyKey(key): IdempotencyKey,
//!                     ApiJson(cmd): ApiJson<NewThing>) -> ApiResult<IdemReply> {
//!     let fp = fingerprint("POST", "/api/v1/things", &cmd);
//!     idempotent(&s, caller_scope(&c), key, fp, StatusCode::CREATED, |idem| async move {
//!         s.app.create_thing(&c, cmd, idem.as_ref()).await
//!     }).await
//! }
//! ```
//!
//! and the use-case calls [`jiayou_app::App::idem_finish_in`] inside its transaction.

use std::future::Future;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiayou_app::Caller;
use jiayou_app::devices::DeviceAuth;
use jiayou_app::idempotency::{HEADER, IdemRequest, IdemStart, is_valid_key};
use jiayou_domain::access::Access;
use jiayou_domain::{FieldError, FieldErrorKind};
use serde::Serialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Set to `true` on an answer that replays a stored one.
pub static REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header, when sent: 1–128 printable ASCII characters, else 422
/// naming the field `Idempotency-Key`.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKey(None));
        };
        let invalid = || {
            ApiError::from(FieldError::new(
                HEADER,
                FieldErrorKind::InvalidFormat {
                    expected: "1 至 128 个可打印 ASCII 字符（每个请求一个）".into()
                },
            ))
        };
        if values.next().is_some() {
            return Err(invalid());
        }
        match value.to_str() {
            Ok(key) if is_valid_key(key) => Ok(IdempotencyKey(Some(key.to_owned()))),
            _ => Err(invalid()),
        }
    }
}

/// Whose keys a staff call's key is among: `staff:<id>`, or `admin` for the admin token.
pub fn caller_scope(c: &Caller) -> String {
    match c.access {
        Access::Staff { staff_id, .. } => format!("staff:{staff_id}"),
        Access::Platform => "admin".into(),
    }
}

/// The scope of a member's keys.
pub fn member_scope(member_id: i64) -> String {
    format!("member:{member_id}")
}

/// The scope of a device's keys.
pub fn device_scope(d: &DeviceAuth) -> String {
    format!("device:{}", d.device_id)
}

/// SHA-256 (hex) of the method, the path and the canonical JSON of the body: what makes
/// two requests under one key "the same request".
pub fn fingerprint(method: &str, path: &str, body: &impl Serialize) -> String {
    let body = serde_json::to_value(body).unwrap_or(serde_json::Value::Null);
    jiayou_app::idempotency::fingerprint(method, path, &body)
}

/// The answer of an idempotent call: fresh, or the stored one replayed (with the header
/// `Idempotent-Replayed: true`).
#[derive(Debug)]
pub struct IdemReply {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub replayed: bool,
}

/// For handlers declared to answer `(StatusCode, Json<Value>)`: the same answer without
/// the `Idempotent-Replayed` header. Prefer [`IdemReply`].
impl From<IdemReply> for (StatusCode, Json<serde_json::Value>) {
    fn from(r: IdemReply) -> Self {
        (r.status, Json(r.body))
    }
}

impl IntoResponse for IdemReply {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        if self.replayed {
            res.headers_mut().insert(REPLAYED_HEADER.clone(), HeaderValue::from_static("true"));
        }
        res
    }
}

/// Runs `run` under the idempotency key, if there is one:
///
/// - no key: `run(None)`;
/// - the key was used before for this request: the stored answer, replayed;
/// - for another request: 422 `idempotency_key_reused`; still in flight: 409
///   `idempotency_in_progress`;
/// - otherwise `run(Some(request))`, which stores its answer in its own transaction
///   ([`jiayou_app::App::idem_finish_in`]). When it fails, the claim is released so the
///   client may retry with the same key; when it succeeds without storing its answer
///   (a read-only path), the answer is stored here.
///
/// The answer is an [`IdemReply`] (or, losing the replay header, a
/// `(StatusCode, Json<Value>)`): whatever the handler declares.
pub async fn idempotent<T, E, F, Fut, R>(
    s: &AppState,
    scope: String,
    key: Option<String>,
    fingerprint: String,
    ok_status: StatusCode,
    run: F,
) -> ApiResult<R>
where
    F: FnOnce(Option<IdemRequest>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<ApiError>,
    T: Serialize,
    R: From<IdemReply>,
{
    run_idempotent(s, scope, key, fingerprint, ok_status, run).await.map(R::from)
}

async fn run_idempotent<T, E, F, Fut>(
    s: &AppState,
    scope: String,
    key: Option<String>,
    fingerprint: String,
    ok_status: StatusCode,
    run: F,
) -> ApiResult<IdemReply>
where
    F: FnOnce(Option<IdemRequest>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<ApiError>,
    T: Serialize,
{
    let to_body = |v: &T| {
        serde_json::to_value(v).map_err(|e| {
            tracing::error!(error = %e, "answer does not serialise");
            ApiError::Internal
        })
    };
    let Some(key) = key else {
        let v = run(None).await.map_err(Into::into)?;
        return Ok(IdemReply { status: ok_status, body: to_body(&v)?, replayed: false });
    };
    let req = IdemRequest { scope, key, fingerprint };
    if let IdemStart::Replay { status, body } = s.app.idem_start(&req).await? {
        let status = StatusCode::from_u16(status).map_err(|_| ApiError::Internal)?;
        return Ok(IdemReply { status, body, replayed: true });
    }
    match run(Some(req.clone())).await {
        Ok(v) => {
            let body = to_body(&v)?;
            // Nothing to do when the use-case stored it in its transaction (the usual case).
            // The change is done either way: a failure here must not turn it into an error.
            if let Err(e) = s.app.idem_finish(&req, ok_status.as_u16(), &body).await {
                tracing::warn!(error = %e, "storing an idempotent answer failed");
            }
            Ok(IdemReply { status: ok_status, body, replayed: false })
        }
        Err(e) => {
            if let Err(a) = s.app.idem_abandon(&req).await {
                tracing::warn!(error = %a, "releasing an idempotency key failed; it stays claimed for 60 s");
            }
            Err(e.into())
        }
    }
}
