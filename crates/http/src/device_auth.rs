//! Who is calling the device API: a pump controller signing each request with its own
//! key (HMAC-SHA256 over the method, the path and query as sent, the timestamp, the
//! nonce and the exact body bytes; see [`jiayou_domain::device_auth`]).
//!
//! [`DeviceAuthenticated`] authenticates a request whose body is not needed (GET);
//! [`SignedDevice<T>`] authenticates and then parses the JSON body with the same
//! field-naming errors as [`crate::extract::ApiJson`]. Authentication comes first: a
//! caller without a valid signature learns nothing about the body's problems.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiayou_app::AppError;
use jiayou_app::devices::DeviceAuth;
use jiayou_domain::device_auth::SignedHeaders;
use jiayou_domain::{FieldError, FieldErrorKind};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::parse_json;

/// The `WWW-Authenticate` challenge of a refused device request.
pub const CHALLENGE: &str =
    "HMAC-SHA256 realm=\"jiayou-device\", headers=\"X-Device-Id X-Timestamp X-Nonce X-Signature\"";

/// Name of the OpenAPI security scheme of device routes.
pub const SECURITY_SCHEME: &str = "device_hmac";

/// An authenticated device; the body (usually empty) was covered by the signature.
pub struct DeviceAuthenticated(pub DeviceAuth);

/// An authenticated device and its JSON body. An empty body reads as JSON `null`, so
/// `SignedDevice<()>` (or `Option<_>`) serves a GET; a body that must be there and is
/// not is a 422 naming `body`.
pub struct SignedDevice<T = ()> {
    pub device: DeviceAuth,
    pub body: T,
}

/// Why a device request was refused: an [`ApiError`] whose 401 challenges for the
/// device signature rather than a bearer token.
#[derive(Debug)]
pub struct DeviceRejection(pub ApiError);

impl From<ApiError> for DeviceRejection {
    fn from(e: ApiError) -> Self {
        DeviceRejection(e)
    }
}

impl From<AppError> for DeviceRejection {
    fn from(e: AppError) -> Self {
        DeviceRejection(e.into())
    }
}

impl IntoResponse for DeviceRejection {
    fn into_response(self) -> Response {
        let mut res = self.0.into_response();
        if res.status() == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
        }
        res
    }
}

/// Reads the body, checks the signature and the nonce; gives the device and the body.
async fn authenticate(req: Request, state: &AppState) -> Result<(DeviceAuth, Bytes, bool), DeviceRejection> {
    let headers = SignedHeaders::parse(|name| req.headers().get(name).and_then(|v| v.to_str().ok()))
        .map_err(jiayou_app::devices::auth_error)?;
    let method = req.method().as_str().to_owned();
    // The request target exactly as sent on the request line (origin form).
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
        });
    // The global body limit applies: a longer body fails to buffer.
    let body = Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::PayloadTooLarge,
        _ => ApiError::MalformedJson(e.body_text()),
    })?;
    let device =
        state.app.authenticate_device(headers, &method, &path_and_query, &body, jiayou_store::now_us()).await?;
    Ok((device, body, is_json))
}

impl FromRequest<AppState> for DeviceAuthenticated {
    type Rejection = DeviceRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, DeviceRejection> {
        let (device, _, _) = authenticate(req, state).await?;
        Ok(DeviceAuthenticated(device))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedDevice<T> {
    type Rejection = DeviceRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, DeviceRejection> {
        let (device, body, is_json) = authenticate(req, state).await?;
        if body.is_empty() {
            let body =
                parse_json(b"null").map_err(|_| ApiError::from(FieldError::new("body", FieldErrorKind::Required)))?;
            return Ok(SignedDevice { device, body });
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType.into());
        }
        Ok(SignedDevice { device, body: parse_json(&body)? })
    }
}
