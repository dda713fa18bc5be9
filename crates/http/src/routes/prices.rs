//! Current prices and their history (the minimum of B1). Admin only for now.

use axum::Json;
use axum::extract::State;
use jiayou_app::prices::{PriceChange, PriceView};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};

/// Current prices of a station, one per grade.
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/prices", tag = "prices", params(("station_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<PriceView>), (status = 404)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<PriceView>>> {
    Ok(Json(s.app.list_prices(&c, station_id).await?))
}

/// Change a station's price for a grade now; the version increases by one.
#[utoipa::path(put, path = "/api/v1/stations/{station_id}/prices/{grade_id}", tag = "prices",
    params(("station_id" = i64, Path), ("grade_id" = i64, Path)), request_body = PriceChange,
    security(("bearer" = [])), responses((status = 200, body = PriceView), (status = 404), (status = 409), (status = 422)))]
pub async fn set(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath((station_id, grade_id)): ApiPath<(i64, i64)>,
    ApiJson(cmd): ApiJson<PriceChange>,
) -> ApiResult<Json<PriceView>> {
    Ok(Json(s.app.set_price(&c, station_id, grade_id, cmd).await?))
}

/// Every price version of a station and grade, newest first.
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/prices/{grade_id}/history", tag = "prices",
    params(("station_id" = i64, Path), ("grade_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<PriceView>), (status = 404)))]
pub async fn history(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath((station_id, grade_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<Vec<PriceView>>> {
    Ok(Json(s.app.price_history(&c, station_id, grade_id).await?))
}
