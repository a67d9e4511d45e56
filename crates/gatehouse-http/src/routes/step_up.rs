//! Step-up at the authorization endpoint (OpenID Connect Core §3.1.2.1 `acr_values`, §5.5.1.1):
//! a browser signed in with one factor, for a request that needs two. A user with a second
//! factor is asked for it alone, on the sign-in's own second-factor page (`/login/mfa`), with
//! the authorization request to continue; completing it replaces the session with one whose
//! `amr` adds `otp mfa`. A user without one, for a client that requires it, gets a page that
//! says so and where to set one up; no code.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::mfa::MfaChannel;
use gatehouse_core::{RequestContext, Session, User};

use super::oauth::{Pairs, return_url};
use super::see_other;
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::pages;
use crate::ratelimit::{Answer, Methods, RateRule};

/// Starts a pending second step for the signed-in `user` on the page channel, continuing with
/// the authorization request afterwards (see [`begin_to`]).
pub(super) async fn begin(
    state: &AppState,
    jar: CookieJar,
    ctx: &RequestContext,
    pairs: &Pairs,
    session: &Session,
    user: &User,
) -> Response {
    match return_url(state, ctx, pairs).await {
        Ok(back) => begin_to(state, jar, ctx, &back, session, user).await,
        Err(page) => page,
    }
}

/// Starts a pending second step for the signed-in `user` on the page channel, bound to this
/// browser by the same HttpOnly cookie as a sign-in's, continuing at `back` (a path of ours)
/// afterwards. The first step is the session's own sign-in (its `amr`, `pwd` or `fed`). Each
/// start writes a row, so it counts against the per-IP sign-in limit, like the sign-in it
/// stands for.
pub(super) async fn begin_to(
    state: &AppState,
    jar: CookieJar,
    ctx: &RequestContext,
    back: &str,
    session: &Session,
    user: &User,
) -> Response {
    let rule = RateRule { kind: LimitKind::LoginIp, methods: Methods::Any, answer: Answer::Page };
    if let Err(limited) = crate::ratelimit::check(state, rule, ctx).await {
        return limited;
    }
    match state.accounts.begin_second_step(user, MfaChannel::Page, Some(back), &session.amr).await {
        Ok(pending) => {
            let jar = jar.add(cookies::mfa_cookie(&pending.handle, &state.settings));
            (jar, see_other("/login/mfa")).into_response()
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

#[derive(Template)]
#[template(path = "second_factor_missing.html")]
struct SecondFactorMissingPage<'a> {
    client_name: &'a str,
}

/// 403: the application requires two-step sign-in and the user has not set it up. The only
/// link is to the account page (never back to the request's redirect URI: no code, no open
/// redirect); the client's name is escaped by the template.
pub(super) fn second_factor_missing(client_name: &str) -> Response {
    let page = SecondFactorMissingPage { client_name };
    let mut resp = (StatusCode::FORBIDDEN, Html(pages::render(&page))).into_response();
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    resp
}
