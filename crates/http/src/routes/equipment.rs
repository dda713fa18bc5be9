//! A station's equipment (B9): tanks, pumps, nozzles. The three resources have the same
//! five operations, so one macro writes their handlers; each invocation names the
//! paths, types and use-cases, which keeps the OpenAPI paths literal.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::equipment::*;

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

macro_rules! equipment {
    (
        mod $module:ident, tag = $tag:literal,
        collection = $collection:literal, item = $item:literal, retire_path = $retire_path:literal,
        $new:ty => $create:ident, $change:ty => $update:ident, $view:ty,
        $list:ident, $get:ident, $retire:ident, what = $what:literal
    ) => {
        pub mod $module {
            use super::*;

            #[doc = concat!("Add a ", $what, " to a station.")]
            #[utoipa::path(post, path = $collection, tag = $tag, params(("station_id" = i64, Path)), request_body = $new,
                security(("bearer" = [])),
                responses((status = 201, body = $view), (status = 404), (status = 409, description = "number in use or station retired"), (status = 422)))]
            pub async fn create(
                Auth(c): Auth,
                State(s): State<AppState>,
                ApiPath(station_id): ApiPath<i64>,
                ApiJson(cmd): ApiJson<$new>,
            ) -> ApiResult<(StatusCode, Json<$view>)> {
                Ok((StatusCode::CREATED, Json(s.app.$create(&c, station_id, cmd).await?)))
            }

            #[doc = concat!("A station's ", $what, "s, by number.")]
            #[utoipa::path(get, path = $collection, tag = $tag, params(("station_id" = i64, Path), EquipmentFilter),
                security(("bearer" = [])), responses((status = 200, body = Vec<$view>), (status = 404)))]
            pub async fn list(
                Auth(c): Auth,
                State(s): State<AppState>,
                ApiPath(station_id): ApiPath<i64>,
                ApiQuery(f): ApiQuery<EquipmentFilter>,
            ) -> ApiResult<Json<Vec<$view>>> {
                Ok(Json(s.app.$list(&c, station_id, &f).await?))
            }

            #[doc = concat!("One ", $what, ".")]
            #[utoipa::path(get, path = $item, tag = $tag, params(("id" = i64, Path)),
                security(("bearer" = [])), responses((status = 200, body = $view), (status = 404)))]
            pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<$view>> {
                Ok(Json(s.app.$get(&c, id).await?))
            }

            #[doc = concat!("Edit a ", $what, "; absent fields keep their value.")]
            #[utoipa::path(patch, path = $item, tag = $tag, params(("id" = i64, Path)), request_body = $change,
                security(("bearer" = [])), responses((status = 200, body = $view), (status = 404), (status = 409), (status = 422)))]
            pub async fn update(
                Auth(c): Auth,
                State(s): State<AppState>,
                ApiPath(id): ApiPath<i64>,
                ApiJson(cmd): ApiJson<$change>,
            ) -> ApiResult<Json<$view>> {
                Ok(Json(s.app.$update(&c, id, cmd).await?))
            }

            #[doc = concat!("Retire a ", $what, ": history kept, number freed. Idempotent.")]
            #[utoipa::path(post, path = $retire_path, tag = $tag, params(("id" = i64, Path)),
                security(("bearer" = [])), responses((status = 200, body = $view), (status = 404), (status = 409)))]
            pub async fn retire(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<$view>> {
                Ok(Json(s.app.$retire(&c, id).await?))
            }
        }
    };
}

equipment!(
    mod tanks, tag = "equipment",
    collection = "/api/v1/stations/{station_id}/tanks", item = "/api/v1/tanks/{id}", retire_path = "/api/v1/tanks/{id}/retire",
    NewTank => create_tank, TankChange => update_tank, TankView,
    list_tanks, get_tank, retire_tank, what = "tank (油罐)"
);

equipment!(
    mod pumps, tag = "equipment",
    collection = "/api/v1/stations/{station_id}/pumps", item = "/api/v1/pumps/{id}", retire_path = "/api/v1/pumps/{id}/retire",
    NewPump => create_pump, PumpChange => update_pump, PumpView,
    list_pumps, get_pump, retire_pump, what = "pump (加油机)"
);

equipment!(
    mod nozzles, tag = "equipment",
    collection = "/api/v1/stations/{station_id}/nozzles", item = "/api/v1/nozzles/{id}", retire_path = "/api/v1/nozzles/{id}/retire",
    NewNozzle => create_nozzle, NozzleChange => update_nozzle, NozzleView,
    list_nozzles, get_nozzle, retire_nozzle, what = "nozzle (油枪)"
);
