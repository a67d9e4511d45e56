//! Route policy, declared beside the routes it governs: which CORS allow-list answers
//! cross-origin callers (Fetch Standard §3.2, see [`crate::cors`]), which GCRA rate limit a
//! request counts against (RFC 6585 §4 answers, see [`crate::ratelimit`]), and whether
//! state-changing requests must come from our own origin (the Origin / `Sec-Fetch-Site` check,
//! the first CSRF defence).
//!
//! Every area's `router()` wraps its routes in [`Routes::new`] with a [`Policy`], and
//! `crate::app` only accepts [`Routes`]: a route cannot be added without a policy, and the
//! Origin check is on unless a policy opts out with [`Policy::cookieless`] (fail closed).
//!
//! One middleware per request applies the whole policy, in the order the layers always had:
//! CORS outermost (preflights answered, and every answer — 403 and 429 included — carries the
//! CORS headers for an allowed origin), then the rate limit (before any body is read), then the
//! Origin check. It is a layer of the whole route (`Router::layer`), so preflights and 405s of
//! a route see it too; the rate limit alone is narrowed to the methods it names.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use gatehouse_core::abuse::LimitKind;

use crate::AppState;
use crate::cors::{self, CorsList};
use crate::error::ApiError;
use crate::extract::request_context;
use crate::middleware::same_origin;
use crate::ratelimit::{self, RateRule};
pub use crate::ratelimit::{Answer, Methods};

/// Whether state-changing requests must come from our origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// POST/PUT/PATCH/DELETE only from our origin (or, with a CORS allow-list, an allowed one).
    Checked,
    /// No check: the route authenticates with credentials in the request itself, never with
    /// cookies, so a cross-site request carries nothing ambient to abuse.
    Exempt,
}

/// What a group of routes allows; built with `const fn`s in each area's `router()`.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    cors: Option<CorsList>,
    rate: Option<RateRule>,
    origin: Origin,
}

impl Policy {
    /// Pages and forms: same-origin only, no CORS.
    pub const fn same_origin() -> Self {
        Self { cors: None, rate: None, origin: Origin::Checked }
    }

    /// The first-party JSON API: the configured CORS allow-list, whose origins also pass the
    /// Origin check.
    pub const fn api() -> Self {
        Self { cors: Some(CorsList::Api), rate: None, origin: Origin::Checked }
    }

    /// Endpoints that authenticate with client credentials or a bearer token in the request,
    /// never with cookies (the OAuth token, revocation, introspection and UserInfo endpoints),
    /// or that change nothing on their own (authorization and RP-initiated logout requests,
    /// which relying parties may POST cross-site: OpenID Connect Core §3.1.2.1, RP-Initiated
    /// Logout §2). `why` is for the reader: every exemption says why it is safe.
    pub const fn cookieless(why: &'static str) -> Self {
        let _ = why;
        Self { cors: None, rate: None, origin: Origin::Exempt }
    }

    /// Adds the OAuth CORS allow-list (configured origins plus public clients' registered ones)
    /// for endpoints a browser app calls directly.
    pub const fn oauth_cors(self) -> Self {
        Self { cors: Some(CorsList::OAuth), ..self }
    }

    /// Counts requests (those of `methods`) against `kind` per client IP; a refusal answers
    /// `answer`'s format.
    pub const fn limit(self, kind: LimitKind, methods: Methods, answer: Answer) -> Self {
        Self { rate: Some(RateRule { kind, methods, answer }), ..self }
    }
}

/// Routes with their policy attached; the only thing `crate::app` merges.
pub struct Routes(Router<AppState>);

impl Routes {
    pub fn new(state: &AppState, policy: Policy, router: Router<AppState>) -> Self {
        Self(router.layer(axum::middleware::from_fn_with_state((state.clone(), policy), enforce)))
    }

    pub fn merge(self, other: Self) -> Self {
        Self(self.0.merge(other.0))
    }

    pub(crate) fn into_router(self) -> Router<AppState> {
        self.0
    }
}

/// Every path under `prefix/` that no route of the area matches: the 404 of unknown paths,
/// answered under the area's policy (an unknown admin path is rate-limited and an unknown API
/// path answers CORS like a known one).
pub fn unknown_under(prefix: &str) -> Router<AppState> {
    let not_found = any(crate::routes::not_found);
    Router::new().route(&format!("{prefix}/"), not_found.clone()).route(&format!("{prefix}/{{*rest}}"), not_found)
}

/// The 404 of one path, answered under the area's policy (see [`unknown_under`]).
pub fn unknown_at(path: &str) -> Router<AppState> {
    Router::new().route(path, any(crate::routes::not_found))
}

async fn enforce(State((state, policy)): State<(AppState, Policy)>, req: Request, next: Next) -> Response {
    let Some(list) = policy.cors else {
        return guarded(&state, policy, None, req, next).await;
    };
    let allowed = cors::allowed_origin(list.of(&state), req.headers()).await;
    if cors::is_preflight(&req) {
        return cors::preflight(req.headers(), allowed);
    }
    let cross_origin = cross_origin(&state, req.headers());
    let resp = guarded(&state, policy, allowed.as_deref(), req, next).await;
    cors::add_headers(resp, allowed, cross_origin)
}

/// A request whose `Origin` is not ours (for the refused-CORS metric).
fn cross_origin(state: &AppState, headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_some_and(|o| o != state.settings.origin())
}

/// The rate limit, then the Origin check, then the MFA policy's enrolment gate
/// ([`crate::mfa_gate`]), then the route.
async fn guarded(state: &AppState, policy: Policy, allowed: Option<&str>, mut req: Request, next: Next) -> Response {
    if let Some(rule) = policy.rate
        && rule.applies(&req)
    {
        let ctx = request_context(req.extensions(), req.headers());
        if let Err(resp) = ratelimit::check(state, rule, &ctx).await {
            return resp;
        }
    }
    if policy.origin == Origin::Checked
        && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
        && allowed.is_none()
        && !same_origin(req.headers(), &state.settings.origin())
    {
        return ApiError::forbidden("cross_site_request", "cross-site request refused").into_response();
    }
    if let Some(held_back) = crate::mfa_gate::check(state, &mut req).await {
        return held_back;
    }
    next.run(req).await
}
