//! Gatehouse's HTTP layer: one axum router per area, each with its route policy (CORS, rate
//! limit, Origin check on state-changing requests: [`policy`]), merged by [`app`] with the
//! middleware every route shares (client resolution behind trusted proxies, security headers,
//! input limits, 5xx logging, body limit).
//!
//! Handlers parse input, call one `gatehouse-core` service function and map the result; no SQL
//! and no crypto here. Errors are mapped to responses once, in [`error`], and 5xx are logged
//! once, by [`error::log_server_errors`].

pub mod backchannel;
mod bearer;
mod client_origins;
mod cookies;
pub mod cors;
pub mod error;
mod extract;
pub mod limits;
mod mfa_gate;
mod middleware;
mod pages;
mod policy;
pub mod proxy;
mod qr;
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
    /// Redis reachability and the shared-state counters, rendered on `/metrics`.
    pub shared_state: Arc<gatehouse_core::scale_out::SharedStateHealth>,
    pub accounts: Arc<AccountService>,
    /// Invitations: the admin API (with the admin capability) and the accept page.
    pub invitations: Arc<gatehouse_core::invitation::InvitationService>,
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
    /// Checks DPoP proofs (RFC 9449) at the token endpoint and with DPoP-bound tokens.
    pub dpop: Arc<gatehouse_core::oauth::DpopVerifier>,
    /// Max-Age of the refresh-token cookie (the refresh family's absolute lifetime).
    pub refresh_lifetime: i64,
    pub health: Arc<dyn HealthCheck>,
    pub settings: Arc<HttpSettings>,
    /// Renders `/metrics`; `None` answers 404 there.
    pub metrics: Option<PrometheusHandle>,
    /// Origins allowed to call the JSON API cross-origin (configuration plus pluggable sources).
    pub cors: Arc<CorsPolicy>,
    /// The allow-list of the OAuth endpoints a browser app calls ([`cors::CorsList::OAuth`]):
    /// the configured origins plus those registered by public clients.
    pub oauth_cors: Arc<CorsPolicy>,
    /// GCRA rate limits (per IP here; per account inside `accounts`, which shares them).
    pub rate_limits: Arc<RateLimits>,
    /// Sign-in through upstream providers; `None` when none is configured.
    pub federation: Option<Arc<upstream::Federation>>,
    /// Dynamic client registration (RFC 7591/7592); `None` when `[oauth.registration]` is
    /// disabled (the endpoints are not mounted, discovery omits `registration_endpoint`).
    pub registration: Option<Arc<gatehouse_core::oauth::DynamicRegistration>>,
    /// Client ID Metadata Documents are resolved (discovery says so).
    pub client_id_metadata_documents: bool,
}

/// The whole application: every area's routes, each with its own policy (CORS, rate limit,
/// Origin check: see [`policy`]), merged, with the shared layers.
pub fn app(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    let areas = [
        routes::health::router(&state),
        routes::session::router(&state),
        routes::federation::router(&state),
        routes::account::router(&state),
        routes::invitation::router(&state),
        routes::mfa::router(&state),
        routes::passkeys::router(&state),
        routes::reset::router(&state),
        routes::self_service::router(&state),
        routes::account_email::router(&state),
        routes::verify::router(&state),
        routes::token::router(&state),
        routes::oauth::router(&state),
        routes::par::router(&state),
        routes::registration::router(&state),
        routes::oidc::router(&state),
        routes::device::router(&state),
        routes::admin::router(&state),
        routes::console::router(&state),
        routes::authzen::router(&state),
        routes::assets::router(&state),
    ];
    let routes = areas.into_iter().fold(Router::new(), |app, area| app.merge(area.into_router()));
    // Unknown paths: a 404, behind the Origin check like every route.
    let not_found =
        policy::Routes::new(&state, policy::Policy::same_origin(), Router::new().fallback(routes::not_found));
    routes
        .merge(not_found.into_router())
        .layer(DefaultBodyLimit::max(body_limit))
        // Inside `limits::enforce`, whose own timeouts log themselves.
        .layer(axum::middleware::from_fn(error::log_server_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::enforce))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::security_headers))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::dpop_nonce))
        // Outermost: every layer inside (rate limits included) sees the resolved `ClientIp`.
        .layer(axum::middleware::from_fn_with_state(state.clone(), proxy::resolve_client))
        .with_state(state)
}
