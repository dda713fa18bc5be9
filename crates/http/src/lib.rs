//! The HTTP surface of jiayou: axum routers for the customer, admin (and later device
//! and payment-callback) APIs, the problem+json error mapping, and the OpenAPI
//! document generated from the handlers.

pub mod auth;
pub mod device_auth;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod member_auth;
pub mod middleware;
pub mod openapi;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use jiayou_app::App;
use metrics_exporter_prometheus::PrometheusHandle;

pub use error::{ApiError, ApiResult, Problem};

/// Settings of the HTTP layer.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// Bearer token that unlocks the admin API until staff sign-in exists. `None`
    /// disables the admin API (every admin call answers 401).
    pub admin_token: Option<String>,
    /// Take the client address from the last `X-Forwarded-For` entry: set it only when
    /// every request comes through a proxy you run (otherwise clients could pick their
    /// address, and so dodge per-address limits and falsify the audit trail).
    pub trust_forwarded_for: bool,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<HttpConfig>,
    pub metrics: PrometheusHandle,
}

/// The whole application router, with middleware.
pub fn router(app: App, config: HttpConfig) -> Router {
    let state = AppState { app, config: Arc::new(config), metrics: middleware::metrics_handle() };
    let (api, doc) = openapi::api_router().split_for_parts();
    middleware::wrap(
        api.route("/api/openapi.json", axum::routing::get(openapi::serve_document))
            .layer(axum::Extension(Arc::new(openapi::finish(doc))))
            .fallback(|| async { ApiError::RouteNotFound })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .with_state(state),
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
