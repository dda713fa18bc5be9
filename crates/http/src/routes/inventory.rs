//! Inventory (B4) and the sales-vs-dispensed reconciliation (S3): tank levels,
//! deliveries, dips and gauge readings, the 进销存 reports.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::inventory::report::{DayQuery, DispenseReport, MonthQuery, StockDayReport, StockMonthReport};
use jiayou_app::inventory::{DeliveryView, NewDelivery, NewReading, ReadingView, TankLevel};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tank_levels))
        .routes(routes!(record_delivery))
        .routes(routes!(record_reading))
        .routes(routes!(daily_report))
        .routes(routes!(monthly_report))
        .routes(routes!(dispense_report))
}

/// The station's tanks now: book stock, latest measured stock, share of capacity, free
/// capacity and state (ok, low, overstock). `inventory.manage` or `sales.read`.
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/inventory/tanks", tag = "inventory",
    params(("station_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<TankLevel>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn tank_levels(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<TankLevel>>> {
    Ok(Json(s.app.tank_levels(&c, station_id).await?))
}

/// Record a delivery (卸油, `inventory.manage`): the book stock takes its 20 °C volume.
/// 422 `delivery_exceeds_capacity` when it does not fit the tank's free capacity; nothing
/// is written then. 409 `duplicate` on a delivery note number already recorded. Audited.
#[utoipa::path(post, path = "/api/v1/stations/{station_id}/inventory/deliveries", tag = "inventory",
    params(("station_id" = i64, Path)), request_body = NewDelivery, security(("bearer" = [])),
    responses((status = 201, body = DeliveryView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn record_delivery(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<NewDelivery>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    Ok((StatusCode::CREATED, Json(s.app.record_delivery(&c, station_id, cmd).await?)))
}

/// Record a dip or tank-gauge reading (`inventory.manage`): the measured stock at 20 °C.
/// Audited.
#[utoipa::path(post, path = "/api/v1/stations/{station_id}/inventory/readings", tag = "inventory",
    params(("station_id" = i64, Path)), request_body = NewReading, security(("bearer" = [])),
    responses((status = 201, body = ReadingView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn record_reading(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<NewReading>,
) -> ApiResult<(StatusCode, Json<ReadingView>)> {
    Ok((StatusCode::CREATED, Json(s.app.record_reading(&c, station_id, cmd).await?)))
}

/// The daily 进销存 per tank: opening, deliveries, sales, adjustments, closing book,
/// measured, loss = book − measured and variance (`inventory.manage` or `sales.read`).
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/inventory/daily", tag = "inventory",
    params(("station_id" = i64, Path), DayQuery), security(("bearer" = [])),
    responses((status = 200, body = StockDayReport), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn daily_report(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> ApiResult<Json<StockDayReport>> {
    Ok(Json(s.app.stock_day_report(&c, station_id, q.date).await?))
}

/// The monthly 进销存 per tank, with each day up to today (`inventory.manage` or
/// `sales.read`).
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/inventory/monthly", tag = "inventory",
    params(("station_id" = i64, Path), MonthQuery), security(("bearer" = [])),
    responses((status = 200, body = StockMonthReport), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn monthly_report(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> ApiResult<Json<StockMonthReport>> {
    Ok(Json(s.app.stock_month_report(&c, station_id, &q.month).await?))
}

/// S3: per nozzle for one day, quantity in orders vs totalizer difference vs tank
/// movements, with the mismatches beyond 10 mL per sale and their size
/// (`inventory.manage` or `sales.read`).
#[utoipa::path(get, path = "/api/v1/stations/{station_id}/inventory/dispensed", tag = "inventory",
    params(("station_id" = i64, Path), DayQuery), security(("bearer" = [])),
    responses((status = 200, body = DispenseReport), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn dispense_report(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(station_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> ApiResult<Json<DispenseReport>> {
    Ok(Json(s.app.dispense_report(&c, station_id, q.date).await?))
}
