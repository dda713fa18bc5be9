//! Abnormal-order alerts (B3): staff acknowledge and resolve them. The list is
//! `GET /api/v1/alerts` (with the orders).

use axum::Json;
use axum::extract::State;
use jiayou_app::alerts::AlertResolution;
use jiayou_app::orders::staff::AlertView;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(acknowledge)).routes(routes!(resolve))
}

/// Mark an open alert as seen (`alert.handle` at its station: station managers, chain
/// admins). 409 `alert_state` when it is not open. Audited.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "orders",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = AlertView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn acknowledge(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AlertView>> {
    Ok(Json(s.app.acknowledge_alert(&c, id).await?))
}

/// Close an open or acknowledged alert with an optional note (`alert.handle`). 409
/// `alert_state` when already resolved. Audited.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "orders",
    params(("id" = i64, Path)), request_body = AlertResolution, security(("bearer" = [])),
    responses((status = 200, body = AlertView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn resolve(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<AlertResolution>,
) -> ApiResult<Json<AlertView>> {
    Ok(Json(s.app.resolve_alert(&c, id, cmd).await?))
}
