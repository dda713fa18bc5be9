//! Who is calling the member (customer) API: the bearer token of a member session.
//! Staff tokens and the admin token are not member sessions (401), and a member token
//! is no staff session (the staff extractor answers 401 for it).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jiayou_app::members::MemberAuth;

use crate::AppState;
use crate::auth::client_ip;
use crate::error::ApiError;

/// A signed-in member.
pub struct MemberSession(pub MemberAuth);

impl FromRequestParts<AppState> for MemberSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        Ok(MemberSession(state.app.authenticate_member(token, client_ip(parts, state)).await?))
    }
}
