//! Chains (tenants). Admin only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::chains::{ChainView, NewChain};
use jiayou_app::paging::{Page, PageRequest};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// Create a chain.
#[utoipa::path(post, path = "/api/v1/chains", tag = "chains", request_body = NewChain,
    security(("bearer" = [])),
    responses((status = 201, body = ChainView), (status = 409, description = "code exists"), (status = 422, description = "invalid")))]
pub async fn create(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiJson(cmd): ApiJson<NewChain>,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    Ok((StatusCode::CREATED, Json(s.app.create_chain(&c, cmd).await?)))
}

/// List chains.
#[utoipa::path(get, path = "/api/v1/chains", tag = "chains", params(PageRequest),
    security(("bearer" = [])), responses((status = 200, body = Page<ChainView>)))]
pub async fn list(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<ChainView>>> {
    Ok(Json(s.app.list_chains(&c, &p).await?))
}

/// One chain.
#[utoipa::path(get, path = "/api/v1/chains/{id}", tag = "chains", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = ChainView), (status = 404)))]
pub async fn get(Auth(c): Auth, State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<ChainView>> {
    Ok(Json(s.app.get_chain(&c, id).await?))
}
