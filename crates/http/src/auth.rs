//! Who is calling: the bearer token of a staff session, or the configured admin token of
//! the platform operator. Handlers take a [`Caller`]; the use-cases check permissions.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jiayou_app::Caller;
use jiayou_app::auth::{Authenticated, ClientInfo};
use jiayou_domain::access::Access;

use crate::AppState;
use crate::error::ApiError;

/// An authenticated caller of the admin API.
pub struct Auth(pub Caller);

/// A staff member signed in with a session (not the admin token): for the session
/// endpoints, which only make sense for a person.
pub struct StaffSession(pub Authenticated);

/// Where a sign-in comes from: the address as [`crate::auth::client_ip`] sees it (so a
/// trusted-proxy rule added there applies here too) and the user agent.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Client(ClientInfo { ip: client_ip(parts, state), user_agent }))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The client's address: the TCP peer, or — when the server sits behind a proxy it
/// trusts (`trust_forwarded_for`) — the last address of `X-Forwarded-For`, which is the
/// one that proxy appended. Anything earlier in that header was written by the client
/// and is not trusted.
pub fn client_ip(parts: &Parts, state: &AppState) -> Option<String> {
    if state.config.trust_forwarded_for
        && let Some(ip) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| v.parse::<std::net::IpAddr>().is_ok())
    {
        return Some(ip.to_owned());
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Result<Authenticated, Caller>, ApiError> {
    let token = bearer(parts).filter(|t| !t.is_empty()).ok_or(ApiError::Unauthorized)?;
    let ip = client_ip(parts, state);
    if let Some(admin) = state.config.admin_token.as_deref()
        && constant_time_eq(token.as_bytes(), admin.as_bytes())
    {
        return Ok(Err(Caller { access: Access::Platform, label: "admin-token".into(), ip }));
    }
    Ok(Ok(state.app.authenticate(token, ip).await?))
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Auth(match resolve(parts, state).await? {
            Ok(session) => session.caller,
            Err(platform) => platform,
        }))
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match resolve(parts, state).await? {
            Ok(session) => Ok(StaffSession(session)),
            // The admin token is not a session: there is nothing to list or sign out.
            Err(_) => Err(ApiError::Unauthorized),
        }
    }
}

/// Compares without an early exit, so response time does not reveal how much of the
/// token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
        assert!(!super::constant_time_eq(b"", b"a"));
    }
}
