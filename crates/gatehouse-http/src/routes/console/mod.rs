//! The admin console at `/admin/` (issue #16): server-rendered pages over the same core services
//! as the admin API (`routes::admin`), signed in with the normal session cookie.
//!
//! The one door is the same as the API's: [`ConsoleAdmin`] asks `AdminService::authorize` for an
//! `AdminCapability`, with the session as a first-party principal (its `amr` decides the MFA
//! policy), and every console handler needs that capability to call the core. Forms carry the
//! page CSRF token (`extract::PageForm`, checked after the capability); state changes must come from our origin (route policy);
//! every request counts against the admin rate limit. Pages are askama templates (auto-escaped)
//! extending `console/layout.html`; the CSP stays `script-src 'self'`, no inline script or style.
//!
//! One module per area, each with its own `router()`: dashboard, users, clients, roles, policies,
//! audit, keys.

mod audit;
mod chart;
mod clients;
mod dashboard;
mod keys;
mod policies;
mod rbac;
mod user_actions;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::mfa::policy::MfaRefusal;
use gatehouse_core::rbac::{AdminCapability, Principal, RbacError};
use gatehouse_core::token::FIRST_PARTY_CLIENT;
use gatehouse_core::{RequestContext, Session, User};

use super::see_other;
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let policy = Policy::same_origin().limit(LimitKind::AdminIp, Methods::Any, Answer::Page);
    let pages = Router::new()
        .route("/admin", axum::routing::get(|| async { see_other("/admin/") }))
        .merge(dashboard::router())
        .merge(users::router())
        .merge(clients::router())
        .merge(rbac::router())
        .merge(policies::router())
        .merge(audit::router())
        .merge(keys::router())
        .route("/admin/{*rest}", axum::routing::any(not_found));
    Routes::new(state, policy, pages)
}

/// Unknown console paths: the door first (nobody learns which paths exist), then 404.
async fn not_found(_: ConsoleAdmin) -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such page").into_page()
}

/// The signed-in admin behind the session cookie, with the capability every console action
/// needs and the CSRF token for the page's forms.
///
/// - no session (or an expired one): 303 to `/login?next=<this page>`;
/// - a session whose user is not an admin (or is disabled): 403 page;
/// - an admin whom the MFA policy covers, signed in without the second factor: asked for it
///   (303 to `/login/mfa`, continuing here), or told to set one up when there is none.
pub struct ConsoleAdmin {
    pub cap: AdminCapability,
    pub user: User,
    /// The admin's own session (the user page marks it "this session").
    pub session: Session,
    /// The CSRF token for the forms of the page about to be rendered.
    pub csrf_token: String,
    /// The jar to send with the page (a form token may have added a cookie).
    pub jar: CookieJar,
    pub ctx: RequestContext,
}

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let ctx = crate::extract::request_context(&parts.extensions, &parts.headers);
        let Ok((session, user, _)) = super::signed_in(state, &jar).await else {
            return Err(to_login(parts));
        };
        let principal = Principal::User {
            id: user.id,
            client_id: FIRST_PARTY_CLIENT.to_owned(),
            scopes: Vec::new(),
            amr: session.amr.split_whitespace().map(str::to_owned).collect(),
        };
        let cap = match state.admin.authorize(&principal, &ctx).await {
            Ok(cap) => cap,
            Err(RbacError::Forbidden(_)) => {
                return Err(ApiError::forbidden("forbidden", "the console is for administrators").into_page());
            }
            // Signed in without the second factor the policy asks of admins: asked for it alone
            // (step-up, as at the authorization endpoint), then back to this page.
            Err(RbacError::MfaPolicy(MfaRefusal::MfaRequired)) => {
                return Err(super::step_up::begin_to(state, jar, &ctx, &here(parts), &session, &user).await);
            }
            Err(RbacError::MfaPolicy(MfaRefusal::EnrollmentRequired)) => {
                return Err(ApiError::forbidden(
                    "mfa_enrollment_required",
                    "the console needs two-step sign-in: set it up on your account page first",
                )
                .into_page());
            }
            Err(e) => return Err(ApiError::from(e).into_page()),
        };
        let (jar, csrf_token) = cookies::form_token(jar, &state.settings).map_err(ApiError::into_page)?;
        Ok(Self { cap, user, session, csrf_token, jar, ctx })
    }
}

/// This console page, to come back to after signing in (the dashboard for anything the
/// sign-in page would not accept as where to continue).
fn here(parts: &Parts) -> String {
    let here = parts.uri.path_and_query().map_or("/admin/", |p| p.as_str());
    if parts.method == axum::http::Method::GET && super::session::safe_next(Some(here)).is_some() {
        here.to_owned()
    } else {
        "/admin/".to_owned()
    }
}

/// 303 to the sign-in page, coming back to this console page afterwards.
fn to_login(parts: &Parts) -> Response {
    let query = serde_urlencoded::to_string([("next", here(parts))]).unwrap_or_default();
    see_other(&format!("/login?{query}"))
}

/// A rendered console page: `no-store` (admin data must not sit in caches), with the jar.
pub fn page(admin: &ConsoleAdmin, html: String) -> Response {
    let mut resp = (admin.jar.clone(), Html(html)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A failed console action, as a page with the status of the API's answer.
pub fn failed(e: impl Into<ApiError>) -> Response {
    e.into().into_page()
}

/// What the layout (`console/layout.html`) shows around every page: the menu with the current
/// area marked, who is signed in, and the sign-out form's CSRF token.
pub struct Nav {
    pub current: &'static str,
    pub email: String,
    pub csrf_token: String,
}

impl Nav {
    pub fn items(&self) -> impl Iterator<Item = (&'static str, &'static str, bool)> + '_ {
        NAV.iter().map(move |(href, label)| (*href, *label, *href == self.current))
    }
}

impl ConsoleAdmin {
    /// The layout's part of a page in the area whose menu entry is `current` (a path of [`NAV`]).
    pub fn nav(&self, current: &'static str) -> Nav {
        Nav { current, email: self.user.email.as_str().to_owned(), csrf_token: self.csrf_token.clone() }
    }
}

/// The console's menu, in order: (path, label).
pub const NAV: [(&str, &str); 7] = [
    ("/admin/", "Dashboard"),
    ("/admin/users", "Users"),
    ("/admin/clients", "Clients"),
    ("/admin/roles", "Roles"),
    ("/admin/policies", "Policies"),
    ("/admin/audit", "Audit log"),
    ("/admin/keys", "Keys"),
];
