//! Staff sign-in and sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiayou_app::auth::{LoginRequest, LoginResponse, PasswordChange, SessionView};

use crate::AppState;
use crate::auth::{Client, StaffSession};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};

/// Sign in with chain code, username and password. Five failures in a row lock the
/// account for 15 minutes (423).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong credentials"),
        (status = 423, description = "locked"), (status = 422)))]
pub async fn login(
    State(s): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(s.app.login(req, client).await?))
}

/// The caller's live sessions (devices signed in).
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>), (status = 401)))]
pub async fn sessions(State(s): State<AppState>, StaffSession(me): StaffSession) -> ApiResult<Json<Vec<SessionView>>> {
    Ok(Json(s.app.list_sessions(&me).await?))
}

/// Revoke one of the caller's sessions (sign out on that device).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 401), (status = 404)))]
pub async fn revoke(
    State(s): State<AppState>,
    StaffSession(me): StaffSession,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    s.app.revoke_session(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out: revoke the session this request was made with.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401)))]
pub async fn logout(State(s): State<AppState>, StaffSession(me): StaffSession) -> ApiResult<StatusCode> {
    s.app.revoke_session(&me, me.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change one's own password (the current one is required). Ends every other session.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange, security(("bearer" = [])),
    responses((status = 204), (status = 401), (status = 422, description = "wrong current password or weak new one")))]
pub async fn change_password(
    State(s): State<AppState>,
    StaffSession(me): StaffSession,
    ApiJson(cmd): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    s.app.change_own_password(&me, cmd).await?;
    Ok(StatusCode::NO_CONTENT)
}
