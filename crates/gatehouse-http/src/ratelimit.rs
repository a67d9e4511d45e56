//! Per-client-IP rate limits (GCRA, `gatehouse_core::abuse`) on the endpoints worth guessing
//! at or flooding: password logins, registration, refresh-token exchange and the admin API.
//! The per-account login limit and the lockout live in core (`AccountService::authenticate`),
//! because only there is the email known.
//!
//! A refused request answers 429 with `Retry-After` (RFC 6585 §4) before its body is read, as
//! JSON `{"error": "rate_limited", …}` or, for the HTML form routes, as an error page.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_core::RequestContext;
use gatehouse_core::abuse::{LimitKind, ip_key};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Client;

/// Prefix of the admin API and console; limited as a whole, whatever routes exist under it.
const ADMIN_PREFIX: &str = "/admin";
/// Prefix of the decision API (AuthZEN `/access/v1/…`).
const DECISION_PREFIX: &str = "/access/";

/// The limit a request counts against, and whether it is an HTML form route.
fn rule(method: &Method, path: &str) -> Option<(LimitKind, bool)> {
    if path == ADMIN_PREFIX || path.strip_prefix(ADMIN_PREFIX).is_some_and(|rest| rest.starts_with('/')) {
        return Some((LimitKind::AdminIp, false));
    }
    if path.starts_with(DECISION_PREFIX) {
        return Some((LimitKind::DecisionIp, false));
    }
    // Starting a federated login writes a login state: counted like a login attempt.
    if method == Method::GET && path.strip_prefix("/login/").is_some_and(|p| !p.is_empty() && !p.contains('/')) {
        return Some((LimitKind::LoginIp, true));
    }
    if method != Method::POST {
        return None;
    }
    // Linking an upstream identity with the local password is a password attempt.
    if path.starts_with("/login/") && path.ends_with("/link") {
        return Some((LimitKind::LoginIp, true));
    }
    match path {
        "/login" => Some((LimitKind::LoginIp, true)),
        "/api/v1/auth/login" | "/api/v1/auth/token" => Some((LimitKind::LoginIp, false)),
        "/register" => Some((LimitKind::RegisterIp, true)),
        "/api/v1/auth/register" => Some((LimitKind::RegisterIp, false)),
        "/api/v1/auth/refresh" => Some((LimitKind::RefreshIp, false)),
        _ => None,
    }
}

/// The one place a client becomes a rate-limit key: its IP after trusted-proxy resolution (as
/// [`Client`] reports it), never a forwarding header a client could set itself.
pub fn client_key(ctx: &RequestContext) -> String {
    ip_key(ctx.ip.as_deref())
}

/// The rate-limit layer.
pub async fn limit(State(state): State<AppState>, Client(ctx): Client, req: Request, next: Next) -> Response {
    if let Some((kind, form)) = rule(req.method(), req.uri().path())
        && let Err(limited) = state.rate_limits.check(kind, &client_key(&ctx), &ctx).await
    {
        let error = ApiError::rate_limited(&limited);
        return if form { error.into_page() } else { error.into_response() };
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let post = Method::POST;
        assert_eq!(rule(&post, "/login"), Some((LimitKind::LoginIp, true)));
        assert_eq!(rule(&Method::GET, "/login"), None, "showing the form is not an attempt");
        assert_eq!(rule(&Method::GET, "/login/google"), Some((LimitKind::LoginIp, true)), "a federated login starts");
        assert_eq!(rule(&Method::GET, "/login/google/callback"), None);
        assert_eq!(rule(&post, "/login/google/link"), Some((LimitKind::LoginIp, true)));
        assert_eq!(rule(&post, "/api/v1/auth/login"), Some((LimitKind::LoginIp, false)));
        assert_eq!(rule(&post, "/api/v1/auth/token"), Some((LimitKind::LoginIp, false)));
        assert_eq!(rule(&post, "/register"), Some((LimitKind::RegisterIp, true)));
        assert_eq!(rule(&post, "/api/v1/auth/register"), Some((LimitKind::RegisterIp, false)));
        assert_eq!(rule(&post, "/api/v1/auth/refresh"), Some((LimitKind::RefreshIp, false)));
        assert_eq!(rule(&Method::GET, "/admin/v1/users"), Some((LimitKind::AdminIp, false)));
        assert_eq!(rule(&Method::DELETE, "/admin"), Some((LimitKind::AdminIp, false)));
        assert_eq!(rule(&Method::GET, "/administrator"), None);
        assert_eq!(rule(&post, "/api/v1/auth/logout"), None);
        assert_eq!(rule(&post, "/access/v1/evaluation"), Some((LimitKind::DecisionIp, false)));
        assert_eq!(rule(&post, "/access/v1/evaluations"), Some((LimitKind::DecisionIp, false)));
    }

    #[test]
    fn the_key_is_the_resolved_client_ip() {
        let ctx = |ip: Option<&str>| RequestContext { ip: ip.map(str::to_owned), user_agent: None };
        assert_eq!(client_key(&ctx(Some("203.0.113.9"))), "ip4:203.0.113.9");
        assert_eq!(client_key(&ctx(Some("2001:db8::1"))), "ip6:2001:db8:0:0::/64");
        assert_eq!(client_key(&ctx(None)), "ip:unknown");
    }
}
