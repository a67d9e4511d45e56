//! The enrolment gate of the MFA policy (`[mfa]`, `gatehouse_core::mfa::policy`): a signed-in
//! user whom the policy covers and who has no second factor may do nothing but set one up.
//! One check in the route policy's middleware (`policy::enforce`, which every route has, after
//! the rate limit and the Origin check, inside CORS), so no handler can forget it:
//!
//! - pages (everything a browser shows, the admin console included) answer 303 to
//!   `/account/mfa?notice=required`;
//! - the first-party JSON API (`/api/v1/…`) answers 403 `{"error": "mfa_enrollment_required"}`;
//! - `/oauth2/authorize` is let through with [`EnrolmentRequired`] attached: the handler sends
//!   the browser to enrolment and back to the request afterwards, or, for `prompt=none`, which
//!   must show no page (OpenID Connect Core §3.1.2.1), answers `interaction_required`
//!   (§3.1.2.6) to the client.
//!
//! Left alone: the enrolment pages (an authenticator app or a passkey), signing out, the second step of a sign-in, static files,
//! the sign-in and registration calls of `/api/v1/auth/`, and the endpoints authenticated by
//! client credentials or guarded by their own door (`/oauth2/token` and friends, `/admin/v1/`,
//! `/access/`, discovery, health, metrics). With the policy off the gate reads nothing.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_core::AccountError;
use gatehouse_core::mfa::policy::MfaRefusal;
use gatehouse_core::user::UserId;

use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::request_context;

/// Where a user the policy holds back is sent.
pub const ENROL_PAGE: &str = "/account/mfa?notice=required";

/// Attached to an authorization request whose signed-in user must enrol first.
#[derive(Debug, Clone, Copy)]
pub struct EnrolmentRequired;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Page,
    Api,
    Authorize,
}

impl Area {
    /// The audit trail's `where`.
    fn name(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Api => "api",
            Self::Authorize => "authorize",
        }
    }
}

/// Paths the gate never holds back (prefix `p` matches `p` itself and `p/…`).
const OPEN: &[&str] = &[
    "/account/mfa",
    "/account/passkeys",
    "/login/mfa",
    "/login/passkey",
    "/logout",
    "/oauth2/logout",
    "/static",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known",
    "/oauth2/token",
    "/oauth2/device_authorization",
    "/oauth2/par",
    "/oauth2/revoke",
    "/oauth2/introspect",
    "/oauth2/jwks",
    "/oauth2/userinfo",
    "/admin/v1",
    "/access",
];

/// Calls of `/api/v1/auth/` that sign in, sign out or act without a signed-in user.
const OPEN_API: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/auth/mfa",
    "/api/v1/auth/token",
    "/api/v1/auth/register",
    "/api/v1/auth/password",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/invitations",
];

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn area(path: &str) -> Option<Area> {
    if path.starts_with("/api/") {
        return (!OPEN_API.iter().any(|p| under(path, p))).then_some(Area::Api);
    }
    if OPEN.iter().any(|p| under(path, p)) {
        return None;
    }
    Some(if path == "/oauth2/authorize" { Area::Authorize } else { Area::Page })
}

/// The user behind the request: a bearer token's subject on the API, else the session cookie.
/// Anything unverifiable is left to the route, which answers it as it always does.
async fn caller(state: &AppState, headers: &HeaderMap, area: Area) -> Option<UserId> {
    if area == Area::Api
        && let Some(claims) = state.bearer.from_headers(headers, state.accounts.clock().now())
    {
        return claims.ok().and_then(|c| UserId::parse(&c.sub));
    }
    let jar = CookieJar::from_headers(headers);
    let token = cookies::session_token(&jar, &state.settings)?;
    state.accounts.current_session(&token).await.ok().map(|(_, user)| user.id)
}

/// The gate: `Some(answer)` holds the request back; `None` lets it through (an authorization
/// request possibly marked with [`EnrolmentRequired`]).
pub async fn check(state: &AppState, req: &mut Request) -> Option<Response> {
    if state.accounts.mfa_policy().is_off() {
        return None;
    }
    let area = area(req.uri().path())?;
    let user = caller(state, req.headers(), area).await?;
    let ctx = request_context(req.extensions(), req.headers());
    match state.accounts.enforce_mfa_enrolment(user, area.name(), &ctx).await {
        Ok(()) => None,
        Err(AccountError::MfaPolicy(refusal)) => match area {
            Area::Authorize => {
                req.extensions_mut().insert(EnrolmentRequired);
                None
            }
            Area::Api => Some(refused(refusal).into_response()),
            Area::Page => Some(crate::routes::see_other(ENROL_PAGE)),
        },
        Err(e) if area == Area::Api => Some(ApiError::from(e).into_response()),
        Err(e) => Some(ApiError::from(e).into_page()),
    }
}

/// 403 with the refusal's code and what to do.
pub fn refused(refusal: MfaRefusal) -> ApiError {
    let description = match refusal {
        MfaRefusal::EnrollmentRequired => {
            "two-step sign-in is required for this account: set up an authenticator app at /account/mfa first"
        }
        MfaRefusal::MfaRequired => {
            "this needs a sign-in with a second factor: sign in again with your authenticator app (set one up at /account/mfa if you have none)"
        }
    };
    ApiError::new(StatusCode::FORBIDDEN, refusal.as_str(), description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas() {
        assert_eq!(area("/account"), Some(Area::Page));
        assert_eq!(area("/"), Some(Area::Page));
        assert_eq!(area("/account/password"), Some(Area::Page));
        assert_eq!(area("/oauth2/consent"), Some(Area::Page));
        assert_eq!(area("/oauth2/authorize"), Some(Area::Authorize));
        assert_eq!(area("/api/v1/me"), Some(Area::Api));
        assert_eq!(area("/api/v1/account/password"), Some(Area::Api));
        assert_eq!(area("/api/v1/auth/refresh"), Some(Area::Api));
        for open in [
            "/account/mfa",
            "/account/mfa/totp",
            "/account/mfa/totp/confirm",
            "/account/passkeys/register/start",
            "/login/passkey/start",
            "/logout",
            "/login/mfa",
            "/static/style.css",
            "/admin/v1/users",
            "/api/v1/auth/logout",
            "/api/v1/auth/token",
            "/api/v1/auth/password/forgot",
            "/.well-known/openid-configuration",
        ] {
            assert_eq!(area(open), None, "{open}");
        }
        assert_eq!(area("/account/mfax"), Some(Area::Page), "a prefix matches whole segments only");
        assert_eq!(area("/staticfoo"), Some(Area::Page));
    }
}
