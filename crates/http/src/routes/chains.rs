//! Chains (tenants). Admin only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::chains::{ChainView, NewChain};
use jiayou_app::paging::{Page, PageRequest};

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// Create a chain.
#[utoipa::path(post, path = "/api/v1/chains", tag = "chains", request_body = NewChain,
    security(("admin_token" = [])),
    responses((status = 201, body = ChainView), (status = 409, description = "code exists"), (status = 422, description = "invalid")))]
pub async fn create(
    _: Admin,
    State(s): State<AppState>,
    ApiJson(cmd): ApiJson<NewChain>,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_chain(cmd).await?)))
}

/// List chains.
#[utoipa::path(get, path = "/api/v1/chains", tag = "chains", params(PageRequest),
    security(("admin_token" = [])), responses((status = 200, body = Page<ChainView>)))]
pub async fn list(
    _: Admin,
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<ChainView>>> {
    Ok(Json(s.app.list_chains(&p).await?))
}

/// One chain.
#[utoipa::path(get, path = "/api/v1/chains/{id}", tag = "chains", params(("id" = i64, Path)),
    security(("admin_token" = [])), responses((status = 200, body = ChainView), (status = 404)))]
pub async fn get(_: Admin, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<ChainView>> {
    Ok(Json(s.app.get_chain(id).await?))
}
