//! The driver's station finder (C1). Public: no sign-in needed to look for fuel.

use axum::Json;
use axum::extract::State;
use jiayou_app::finder::{NearbyPage, NearbyQuery};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::ApiQuery;

/// Stations near a point, with distance, open-now, grades and current prices.
///
/// Coordinates in and out are in `coord` (wgs84 for browsers, gcj02 for WeChat and
/// Tencent/AMap maps, bd09 for Baidu).
#[utoipa::path(get, path = "/api/v1/stations/nearby", tag = "finder", params(NearbyQuery),
    responses((status = 200, body = NearbyPage), (status = 422, body = crate::Problem, content_type = "application/problem+json")))]
pub async fn nearby(State(s): State<AppState>, ApiQuery(q): ApiQuery<NearbyQuery>) -> ApiResult<Json<NearbyPage>> {
    Ok(Json(s.app.nearby(&q).await?))
}
