//! Pump controllers (F1): registering them and their keys (staff, `device.manage`), and
//! the first route of the device API, which devices call with signed requests.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::devices::{DeviceView, IssuedDevice, NewDevice};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::device_auth::DeviceAuthenticated;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::idempotency::{IdemReply, IdempotencyKey, caller_scope, fingerprint, idempotent};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(get))
        .routes(routes!(rotate_secret))
        .routes(routes!(retire))
        .routes(routes!(ping))
}

/// Register a pump controller at a station. The answer holds its secret, shown only
/// this once. With an `Idempotency-Key`, a retry gets the same answer (the same device
/// and secret) for 24 hours.
#[utoipa::path(post, path = "/api/v1/stations/{station_id}/devices", tag = "devices",
    params(("station_id" = i64, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1–128 个可打印 ASCII 字符；重试时带同一个键，得到同一个结果")),
    request_body = NewDevice, security(("bearer" = [])),
    responses((status = 201, body = IssuedDevice, headers(("Idempotent-Replayed" = String, description = "true：重放的已存结果"))),
        (status = 403), (status = 404), (status = 409, description = "duplicate（code）或 idempotency_in_progress"),
        (status = 422, description = "validation_failed 或 idempotency_key_reused")))]
pub async fn register(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(cmd): ApiJson<NewDevice>,
) -> ApiResult<IdemReply> {
    let fp = fingerprint("POST", &format!("/api/v1/stations/{station_id}/devices"), &cmd);
    let app = s.app.clone();
    idempotent(&s, caller_scope(&c), key, fp, StatusCode::CREATED, |idem| async move {
        app.register_device(&c, station_id, cmd, idem.as_ref()).await
    })
    .await
}

/// A station's devices, retired ones included. No secrets.
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/devices", tag = "devices", params(("station_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<DeviceView>), (status = 403), (status = 404)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<DeviceView>>> {
    Ok(Json(s.app.list_devices(&c, station_id).await?))
}

#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = DeviceView), (status = 403), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<DeviceView>> {
    Ok(Json(s.app.get_device(&c, id).await?))
}

/// Issue a new secret, shown only this once; the old secret stops working at once.
#[utoipa::path(post, path = "/api/v1/devices/{id}/secret", tag = "devices", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = IssuedDevice), (status = 403), (status = 404), (status = 409, description = "device_retired")))]
pub async fn rotate_secret(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<IssuedDevice>> {
    Ok(Json(s.app.rotate_device_secret(&c, id).await?))
}

/// Retire a device: its requests are refused from now on.
#[utoipa::path(post, path = "/api/v1/devices/{id}/retire", tag = "devices", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = DeviceView), (status = 403), (status = 404)))]
pub async fn retire(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<DeviceView>> {
    Ok(Json(s.app.retire_device(&c, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pong {
    pub device_id: i64,
    pub station_id: i64,
    /// The server's clock in unix seconds, the unit of `X-Timestamp`: a device whose
    /// clock is more than 300 s off is refused (`device_timestamp_stale`).
    pub server_time: i64,
}

/// For a device to check its key and its clock: answers who it is and the server time.
#[utoipa::path(get, path = "/api/v1/device/ping", tag = "devices", security(("device_hmac" = [])),
    responses((status = 200, body = Pong),
        (status = 401, description = "device_unknown, device_auth_missing, device_auth_malformed, device_timestamp_stale, device_signature_invalid, device_nonce_replayed")))]
pub async fn ping(DeviceAuthenticated(d): DeviceAuthenticated) -> Json<Pong> {
    Json(Pong { device_id: d.device_id, station_id: d.station_id, server_time: chrono::Utc::now().timestamp() })
}
