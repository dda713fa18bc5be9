//! Roles: the five built-in ones and custom permission sets (B5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::roles::{NewRole, RoleChange, RoleFilter, RoleView};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// Create a custom role from permission names.
#[utoipa::path(post, path = "/api/v1/roles", tag = "staff", request_body = NewRole, security(("bearer" = [])),
    responses((status = 201, body = RoleView), (status = 403), (status = 409), (status = 422, description = "unknown permission")))]
pub async fn create(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiJson(cmd): ApiJson<NewRole>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_role(&c, cmd).await?)))
}

/// The roles of the caller's chain.
#[utoipa::path(get, path = "/api/v1/roles", tag = "staff", params(RoleFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<RoleView>), (status = 403)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<RoleFilter>,
) -> ApiResult<Json<Vec<RoleView>>> {
    Ok(Json(s.app.list_roles(&c, &f).await?))
}

/// One role.
#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "staff", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = RoleView), (status = 403), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<RoleView>> {
    Ok(Json(s.app.get_role(&c, id).await?))
}

/// Edit a custom role (built-in roles are fixed).
#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "staff", params(("id" = i64, Path)), request_body = RoleChange,
    security(("bearer" = [])), responses((status = 200, body = RoleView), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<RoleChange>,
) -> ApiResult<Json<RoleView>> {
    Ok(Json(s.app.update_role(&c, id, cmd).await?))
}
