//! Gatehouse's HTTP layer: one axum router per area, merged by [`app`], with the middleware
//! every route shares (client resolution behind trusted proxies, security headers, input
//! limits, CORS, body limit, Origin check on state-changing requests).
//!
//! Handlers parse input, call one `gatehouse-core` service function and map the result; no SQL
//! and no crypto here. Errors are mapped to responses once, in [`error`], and 5xx are logged
//! once, by [`error::log_server_errors`].

mod bearer;
mod client_origins;
mod cookies;
pub mod cors;
pub mod error;
mod extract;
pub mod limits;
mod middleware;
mod pages;
pub mod proxy;
mod ratelimit;
mod redirect;
mod routes;
mod settings;
pub mod upstream;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use gatehouse_core::abuse::RateLimits;
use gatehouse_core::keys::KeyService;
use gatehouse_core::oauth::OAuthService;
use gatehouse_core::token::FirstPartyTokens;
use gatehouse_core::{AccountService, HealthCheck};
use metrics_exporter_prometheus::PrometheusHandle;

pub use bearer::BearerVerifier;
pub use client_origins::ClientOrigins;
pub use cors::{CorsPolicy, OriginSource};
pub use limits::InputLimits;
pub use proxy::{ClientIp, HttpsRequest, ProxyHeader, TrustedProxies};
pub use redirect::redirect_app;
pub use settings::HttpSettings;

/// Everything the handlers need, behind one `Arc`: every middleware layer and handler clones
/// the state per request, and one reference count is cheaper than a dozen (a profile showed
/// the clones and drops of the field-by-field state at about 3% of a token request).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct AppStateInner {
    pub accounts: Arc<AccountService>,
    pub keys: Arc<KeyService>,
    pub tokens: Arc<FirstPartyTokens>,
    pub oauth: Arc<OAuthService>,
    /// The admin API's service; its methods need the capability `routes::admin::Admin` extracts.
    pub admin: Arc<gatehouse_core::rbac::AdminService>,
    /// Cedar policies and decisions: the AuthZEN API (`routes::authzen`) and the admin
    /// policy routes (which pass the admin capability).
    pub policies: Arc<gatehouse_core::policy::PolicyService>,
    /// Verifies bearer access tokens presented to our own APIs.
    pub bearer: Arc<BearerVerifier>,
    /// Max-Age of the refresh-token cookie (the refresh family's absolute lifetime).
    pub refresh_lifetime: i64,
    pub health: Arc<dyn HealthCheck>,
    pub settings: Arc<HttpSettings>,
    /// Renders `/metrics`; `None` answers 404 there.
    pub metrics: Option<PrometheusHandle>,
    /// Origins allowed to call the JSON API cross-origin (configuration plus pluggable sources).
    pub cors: Arc<CorsPolicy>,
    /// The allow-list of the OAuth endpoints: the configured origins plus those registered by
    /// public clients ([`cors::OAUTH_CORS_PATHS`]).
    pub oauth_cors: Arc<CorsPolicy>,
    /// GCRA rate limits (per IP here; per account inside `accounts`, which shares them).
    pub rate_limits: Arc<RateLimits>,
    /// Sign-in through upstream providers; `None` when none is configured.
    pub federation: Option<Arc<upstream::Federation>>,
}

/// The whole application: every area's router, merged, with the shared layers.
pub fn app(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::session::router())
        .merge(routes::federation::router())
        .merge(routes::account::router())
        .merge(routes::token::router())
        .merge(routes::oauth::router())
        .merge(routes::oidc::router())
        .merge(routes::admin::router())
        .merge(routes::authzen::router())
        .merge(routes::assets::router())
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::origin_check))
        .layer(DefaultBodyLimit::max(body_limit))
        // Before any body is read; inside CORS so a cross-origin app can read its 429.
        .layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors::cors))
        // Inside `limits::enforce`, whose own timeouts log themselves.
        .layer(axum::middleware::from_fn(error::log_server_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::enforce))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::security_headers))
        // Outermost: every layer inside (rate limits included) sees the resolved `ClientIp`.
        .layer(axum::middleware::from_fn_with_state(state.clone(), proxy::resolve_client))
        .with_state(state)
}
