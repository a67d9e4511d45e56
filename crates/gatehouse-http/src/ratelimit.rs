//! Per-client-IP rate limits (GCRA, `gatehouse_core::abuse`) on the endpoints worth guessing
//! at or flooding: password logins, registration, refresh-token exchange, federated logins, and
//! the admin and decision APIs. Each area names its rule beside its routes (`crate::policy`).
//! The per-account login limit and the lockout live in core (`AccountService::authenticate`),
//! because only there is the email known.
//!
//! A refused request answers 429 with `Retry-After` (RFC 6585 §4) before its body is read, as
//! JSON `{"error": "rate_limited", …}` or, for the HTML form routes, as an error page.

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use gatehouse_core::RequestContext;
use gatehouse_core::abuse::{LimitKind, ip_key};

use crate::AppState;
use crate::error::ApiError;

/// Which requests of a route count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// Every request, whatever its method (a flood of 405s is still a flood).
    Any,
    /// `GET` only (starting a federated login).
    Get,
    /// `POST` only (showing a form is not an attempt; submitting it is).
    Post,
}

impl Methods {
    fn matches(self, method: &Method) -> bool {
        match self {
            Self::Any => true,
            Self::Get => method == Method::GET,
            Self::Post => method == Method::POST,
        }
    }
}

/// How a 429 is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Json,
    /// An HTML error page, for browser forms.
    Page,
}

/// One route's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    pub kind: LimitKind,
    pub methods: Methods,
    pub answer: Answer,
}

/// The one place a client becomes a rate-limit key: its IP after trusted-proxy resolution (as
/// `extract::Client` reports it), never a forwarding header a client could set itself.
pub fn client_key(ctx: &RequestContext) -> String {
    ip_key(ctx.ip.as_deref())
}

impl RateRule {
    /// Whether the request counts against this rule.
    pub fn applies(&self, req: &Request) -> bool {
        self.methods.matches(req.method())
    }
}

/// Counts a request of `ctx`'s client; `Err` is the 429 to answer.
pub async fn check(state: &AppState, rule: RateRule, ctx: &RequestContext) -> Result<(), Response> {
    match state.rate_limits.check(rule.kind, &client_key(ctx), ctx).await {
        Ok(_) => Ok(()),
        Err(limited) => {
            let error = ApiError::rate_limited(&limited);
            Err(match rule.answer {
                Answer::Page => error.into_page(),
                Answer::Json => error.into_response(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        assert!(Methods::Any.matches(&Method::DELETE));
        assert!(Methods::Post.matches(&Method::POST));
        assert!(!Methods::Post.matches(&Method::GET), "showing the form is not an attempt");
        assert!(Methods::Get.matches(&Method::GET));
        assert!(!Methods::Get.matches(&Method::HEAD));
    }

    #[test]
    fn the_key_is_the_resolved_client_ip() {
        let ctx = |ip: Option<&str>| RequestContext { ip: ip.map(str::to_owned), user_agent: None };
        assert_eq!(client_key(&ctx(Some("203.0.113.9"))), "ip4:203.0.113.9");
        assert_eq!(client_key(&ctx(Some("2001:db8::1"))), "ip6:2001:db8:0:0::/64");
        assert_eq!(client_key(&ctx(None)), "ip:unknown");
    }
}
