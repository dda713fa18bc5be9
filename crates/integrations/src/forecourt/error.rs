//! What can go wrong talking to the jiayou API from a pump or a phone.

use crate::http::InvalidBaseUrl;

/// A failed call. `path` is the API path without its query string (a payment
/// confirmation URL may carry a token there); no header, token or body is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForecourtError {
    #[error(transparent)]
    InvalidBaseUrl(#[from] InvalidBaseUrl),
    /// A device code that the signature headers cannot carry.
    #[error("invalid device code {0:?}: expected 1–64 of A-Z a-z 0-9 _ -")]
    InvalidDeviceCode(String),
    /// The server was not reached or did not answer in time (after the retries).
    #[error("{method} {path}: {reason}")]
    Transport { method: &'static str, path: String, reason: &'static str },
    /// The server answered with an error (problem+json `code` and `detail` when given,
    /// `http_<status>` otherwise).
    #[error("{method} {path} answered {status} {code}: {detail}")]
    Api { method: &'static str, path: String, status: u16, code: String, detail: String },
    /// A success whose body is not what the contract says.
    #[error("{method} {path}: unexpected response: {reason}")]
    BadResponse { method: &'static str, path: String, reason: String },
}

impl ForecourtError {
    /// A stable short code: the server's problem code for [`Self::Api`], else the kind.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidBaseUrl(_) => "invalid_base_url",
            Self::InvalidDeviceCode(_) => "invalid_device_code",
            Self::Transport { .. } => "transport",
            Self::Api { code, .. } => code,
            Self::BadResponse { .. } => "bad_response",
        }
    }

    /// The HTTP status of an [`Self::Api`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
