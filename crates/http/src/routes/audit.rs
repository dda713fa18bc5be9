//! The audit trail for the console (S6): search and CSV export, read-only. Nothing in
//! the product can change or delete an audit row.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use jiayou_app::audit::{AuditFilter, AuditView};
use jiayou_app::paging::{Page, PageRequest};

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::ApiQuery;

/// Search the audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditFilter, PageRequest), security(("bearer" = [])),
    responses((status = 200, body = Page<AuditView>), (status = 403)))]
pub async fn search(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<AuditFilter>,
    ApiQuery(p): ApiQuery<PageRequest>,
) -> ApiResult<Json<Page<AuditView>>> {
    Ok(Json(s.app.search_audit_as(&c, &f, &p).await?))
}

/// Export the same filter as CSV (UTF-8 with BOM).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditFilter), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403)))]
pub async fn export(
    Auth(c): Auth,
    State(s): State<AppState>,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> ApiResult<impl IntoResponse> {
    let csv = s.app.export_audit_csv_as(&c, &f).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        csv,
    ))
}
