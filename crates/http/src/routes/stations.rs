//! Stations (B9). Admin only; the public finder is in `finder`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::paging::{Page, PageRequest};
use jiayou_app::stations::{NewStation, StationChange, StationFilter, StationView};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// Create a station.
#[utoipa::path(post, path = "/api/v1/stations", tag = "stations", request_body = NewStation,
    security(("bearer" = [])),
    responses((status = 201, body = StationView), (status = 409, description = "code exists in the chain"), (status = 422)))]
pub async fn create(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiJson(cmd): ApiJson<NewStation>,
) -> ApiResult<(StatusCode, Json<StationView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_station(&c, cmd).await?)))
}

/// List stations; filter by chain, status and text, sort and paginate.
#[utoipa::path(get, path = "/api/v1/stations", tag = "stations", params(StationFilter, PageRequest),
    security(("bearer" = [])), responses((status = 200, body = Page<StationView>), (status = 422)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<StationFilter>,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<StationView>>> {
    Ok(Json(s.app.list_stations(&c, &f, &p).await?))
}

/// One station.
#[utoipa::path(get, path = "/api/v1/stations/{id}", tag = "stations", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = StationView), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<StationView>> {
    Ok(Json(s.app.get_station(&c, id).await?))
}

/// Edit a station; absent fields keep their value.
#[utoipa::path(patch, path = "/api/v1/stations/{id}", tag = "stations", params(("id" = i64, Path)), request_body = StationChange,
    security(("bearer" = [])), responses((status = 200, body = StationView), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<StationChange>,
) -> ApiResult<Json<StationView>> {
    Ok(Json(s.app.update_station(&c, id, cmd).await?))
}

/// Retire a station: hidden from drivers, history kept. Idempotent.
#[utoipa::path(post, path = "/api/v1/stations/{id}/retire", tag = "stations", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = StationView), (status = 404)))]
pub async fn retire(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<StationView>> {
    Ok(Json(s.app.retire_station(&c, id).await?))
}
