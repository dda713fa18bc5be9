//! Staff accounts, their grants and nozzle assignments (B5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::staff::{GrantsChange, NewStaff, NozzlesChange, StaffChange, StaffFilter, StaffView};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// Create a staff account.
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = NewStaff, security(("bearer" = [])),
    responses((status = 201, body = StaffView), (status = 403), (status = 409, description = "username taken"), (status = 422)))]
pub async fn create(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiJson(cmd): ApiJson<NewStaff>,
) -> ApiResult<(StatusCode, Json<StaffView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_staff(&c, cmd).await?)))
}

/// Staff of the caller's chain (a station manager sees their stations' staff).
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(StaffFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<StaffView>), (status = 403)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<StaffFilter>,
) -> ApiResult<Json<Vec<StaffView>>> {
    Ok(Json(s.app.list_staff(&c, &f).await?))
}

/// One staff account.
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = StaffView), (status = 403), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<StaffView>> {
    Ok(Json(s.app.get_staff(&c, id).await?))
}

/// Edit, disable or reset the password of a staff account.
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = i64, Path)), request_body = StaffChange,
    security(("bearer" = [])), responses((status = 200, body = StaffView), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<StaffChange>,
) -> ApiResult<Json<StaffView>> {
    Ok(Json(s.app.update_staff(&c, id, cmd).await?))
}

/// Replace a staff member's role grants (per station or chain-wide).
#[utoipa::path(put, path = "/api/v1/staff/{id}/grants", tag = "staff", params(("id" = i64, Path)), request_body = GrantsChange,
    security(("bearer" = [])), responses((status = 200, body = StaffView), (status = 403), (status = 404), (status = 422)))]
pub async fn grants(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<GrantsChange>,
) -> ApiResult<Json<StaffView>> {
    Ok(Json(s.app.set_grants(&c, id, cmd).await?))
}

/// Replace the nozzles assigned to an attendant.
#[utoipa::path(put, path = "/api/v1/staff/{id}/nozzles", tag = "staff", params(("id" = i64, Path)), request_body = NozzlesChange,
    security(("bearer" = [])), responses((status = 200, body = StaffView), (status = 403), (status = 404), (status = 422)))]
pub async fn nozzles(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<NozzlesChange>,
) -> ApiResult<Json<StaffView>> {
    Ok(Json(s.app.set_nozzles(&c, id, cmd).await?))
}
