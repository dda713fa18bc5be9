//! Grades of a chain. Admin only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::grades::{GradeChange, GradeFilter, GradeView, NewGrade};
use jiayou_app::paging::{Page, PageRequest};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// Create a grade (油品).
#[utoipa::path(post, path = "/api/v1/grades", tag = "grades", request_body = NewGrade,
    security(("bearer" = [])),
    responses((status = 201, body = GradeView), (status = 409, description = "code exists in the chain"), (status = 422)))]
pub async fn create(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiJson(cmd): ApiJson<NewGrade>,
) -> ApiResult<(StatusCode, Json<GradeView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_grade(&c, cmd).await?)))
}

/// List grades.
#[utoipa::path(get, path = "/api/v1/grades", tag = "grades", params(GradeFilter, PageRequest),
    security(("bearer" = [])), responses((status = 200, body = Page<GradeView>)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<GradeFilter>,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<GradeView>>> {
    Ok(Json(s.app.list_grades(&c, &f, &p).await?))
}

/// One grade.
#[utoipa::path(get, path = "/api/v1/grades/{id}", tag = "grades", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = GradeView), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<GradeView>> {
    Ok(Json(s.app.get_grade(&c, id).await?))
}

/// Rename a grade.
#[utoipa::path(patch, path = "/api/v1/grades/{id}", tag = "grades", params(("id" = i64, Path)), request_body = GradeChange,
    security(("bearer" = [])), responses((status = 200, body = GradeView), (status = 404), (status = 422)))]
pub async fn update(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(cmd): ApiJson<GradeChange>,
) -> ApiResult<Json<GradeView>> {
    Ok(Json(s.app.update_grade(&c, id, cmd).await?))
}

/// Retire a grade: kept on history, no longer assignable.
#[utoipa::path(post, path = "/api/v1/grades/{id}/retire", tag = "grades", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = GradeView), (status = 404)))]
pub async fn retire(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<GradeView>> {
    Ok(Json(s.app.retire_grade(&c, id).await?))
}
