//! Two-step sign-in (TOTP, RFC 6238, with recovery codes): the second step of a page sign-in
//! (`/login/mfa`) and of the JSON APIs (`POST /api/v1/auth/mfa`), and the account pages that
//! set it up, make new recovery codes and turn it off (`/account/mfa…`, after
//! re-authentication). The pages are same-origin forms with CSRF tokens.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::account::{PasskeySummary, Proof, Reauth, TotpEnrolment};
use gatehouse_core::mfa::MfaChannel;
use gatehouse_core::mfa::passkey::PublicKeyCredential;
use gatehouse_core::token::MfaCompletion;
use gatehouse_core::{AccountError, Password};
use serde::Deserialize;

use super::session::{login_response, safe_next};
use super::token::Delivery;
use super::{see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PageForm};
use crate::pages::{self, format_time};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    // A code is an attempt like a password: the sign-in's per-IP limit applies.
    let step = Policy::same_origin().limit(LimitKind::LoginIp, Methods::Post, Answer::Page);
    let step_json = Policy::api().limit(LimitKind::LoginIp, Methods::Post, Answer::Json);
    let account = Router::new()
        .route("/account/mfa", get(account_mfa_page))
        .route("/account/mfa/totp", post(begin_totp))
        .route("/account/mfa/totp/confirm", post(confirm_totp))
        .route("/account/mfa/disable", post(disable_totp))
        .route("/account/mfa/recovery-codes", post(regenerate_codes));
    Routes::new(state, step, Router::new().route("/login/mfa", get(login_mfa_page).post(login_mfa_form)))
        .merge(Routes::new(state, step_json, Router::new().route("/api/v1/auth/mfa", post(mfa_json))))
        .merge(Routes::new(state, Policy::same_origin(), account))
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct LoginMfaPage<'a> {
    csrf_token: &'a str,
    error: Option<&'a str>,
    passkeys_enabled: bool,
}

#[derive(Template)]
#[template(path = "account_mfa.html")]
struct AccountMfaPage<'a> {
    csrf_token: &'a str,
    totp_since: Option<String>,
    totp_last_used: Option<String>,
    recovery_codes_left: usize,
    passkeys_enabled: bool,
    passkeys: Vec<PasskeyRow>,
    has_password: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// The authorization request to continue after setting up (the MFA policy sent the user here).
    next: Option<&'a str>,
}

/// A passkey as the two-step page lists it.
struct PasskeyRow {
    id: String,
    name: String,
    discoverable: bool,
    created: String,
    last_used: Option<String>,
}

impl From<PasskeySummary> for PasskeyRow {
    fn from(p: PasskeySummary) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            discoverable: p.discoverable,
            created: format_time(p.created_at),
            last_used: p.last_used_at.map(format_time),
        }
    }
}

#[derive(Template)]
#[template(path = "mfa_enrol.html")]
struct EnrolPage<'a> {
    csrf_token: &'a str,
    secret: &'a str,
    qr_svg: Option<String>,
    error: Option<&'a str>,
    next: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    heading: &'a str,
    codes: &'a [String],
    /// Where "Continue" leads: a parked authorization request, else the two-step page.
    next: Option<&'a str>,
}

fn login_mfa_render(jar: CookieJar, state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => {
            let page =
                LoginMfaPage { csrf_token: &csrf_token, error, passkeys_enabled: state.accounts.passkeys_enabled() };
            (status, jar, Html(pages::render(&page))).into_response()
        }
        Err(e) => e.into_page(),
    }
}

/// The second step's form; without a pending step, back to the sign-in page.
async fn login_mfa_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    if cookies::mfa_handle(&jar, &state.settings).is_none() {
        return see_other("/login");
    }
    login_mfa_render(jar, &state, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    code: String,
    /// Enrolment: the authorization request to continue afterwards.
    next: Option<String>,
}

/// Completes the page sign-in: a session only for the right second factor, then on to the
/// parked authorization request (if any) or the account page.
async fn login_mfa_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let Some(handle) = cookies::mfa_handle(&jar, &state.settings) else {
        return see_other("/login?notice=mfa_expired");
    };
    let previous = cookies::session_token(&jar, &state.settings);
    match state
        .accounts
        .complete_mfa_sign_in(&handle, &[MfaChannel::Page], Proof::Code(&form.code), previous.as_ref(), &ctx)
        .await
    {
        Ok((signed_in, next)) => {
            let jar = cookies::clear_mfa(jar, &state.settings);
            let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
            (jar, see_other(safe_next(next.as_deref()).unwrap_or("/account"))).into_response()
        }
        Err(AccountError::InvalidMfaCode) => {
            login_mfa_render(jar, &state, Some("The code is wrong or was used already."), StatusCode::UNAUTHORIZED)
        }
        Err(AccountError::MfaChallengeInvalid) => {
            (cookies::clear_mfa(jar, &state.settings), see_other("/login?notice=mfa_expired")).into_response()
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

#[derive(Deserialize)]
struct MfaRequest {
    mfa_token: String,
    /// A TOTP code or a recovery code…
    code: Option<String>,
    /// …or a passkey's answer to the ceremony of `POST /api/v1/auth/mfa/passkey`.
    passkey: Option<PasskeyAnswer>,
    #[serde(default)]
    token_delivery: Delivery,
}

#[derive(Deserialize)]
struct PasskeyAnswer {
    ceremony: String,
    credential: PublicKeyCredential,
}

/// Completes the second step of `/api/v1/auth/login` (a session cookie and the login answer)
/// or of `/api/v1/auth/token` (a token pair), whichever issued the `mfa_token`.
async fn mfa_json(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    JsonBody(req): JsonBody<MfaRequest>,
) -> Result<Response, ApiError> {
    let previous = cookies::session_token(&jar, &state.settings);
    let proof = match (&req.code, &req.passkey) {
        (Some(code), None) => Proof::Code(code),
        (None, Some(p)) => Proof::Passkey { ceremony: &p.ceremony, response: &p.credential },
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "give exactly one of code and passkey",
            ));
        }
    };
    match state.tokens.complete_mfa(&req.mfa_token, proof, previous.as_ref(), &ctx).await? {
        MfaCompletion::Session(signed_in) => Ok(login_response(&state, jar, &signed_in)),
        MfaCompletion::Tokens(pair) => Ok(super::token::respond(&state, jar, *pair, req.token_delivery)),
    }
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
    next: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        // The MFA policy's gate (`crate::mfa_gate`) sends users here.
        "required" => Some(
            "Your organisation requires two-step sign-in for your account. Set up an authenticator app \
             or a passkey to continue; until then you can only set one up or sign out.",
        ),
        "disabled" => Some("The authenticator app is no longer set up."),
        "passkey_removed" => Some("The passkey was removed."),
        "passkey_added" => Some("The passkey was added."),
        _ => None,
    }
}

async fn render_account_mfa(
    state: &AppState,
    jar: CookieJar,
    notice: Option<&str>,
    error: Option<&str>,
    next: Option<&str>,
    status: StatusCode,
) -> Response {
    let Ok((_, user, _)) = signed_in(state, &jar).await else { return see_other("/login") };
    let status_now = match state.accounts.mfa_status(user.id).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_page(),
    };
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let page = AccountMfaPage {
        csrf_token: &csrf_token,
        totp_since: status_now.totp_since.map(format_time),
        totp_last_used: status_now.totp_last_used.map(format_time),
        recovery_codes_left: status_now.recovery_codes_left,
        passkeys_enabled: state.accounts.passkeys_enabled(),
        passkeys: status_now.passkeys.into_iter().map(PasskeyRow::from).collect(),
        has_password: user.password_hash.is_some(),
        notice,
        error,
        next: safe_next(next),
    };
    (status, jar, Html(pages::render(&page))).into_response()
}

async fn account_mfa_page(State(state): State<AppState>, jar: CookieJar, Query(q): Query<NoticeQuery>) -> Response {
    render_account_mfa(&state, jar, notice_text(q.notice.as_deref()), None, q.next.as_deref(), StatusCode::OK).await
}

#[derive(Deserialize)]
struct ReauthForm {
    #[serde(default)]
    csrf_token: String,
    password: Option<Password>,
    /// Enrolment: the authorization request to continue afterwards.
    next: Option<String>,
}

/// Errors the person can act on are shown on the page again; the rest get the error page.
pub(super) async fn shown_or_page(state: &AppState, jar: CookieJar, e: AccountError) -> Response {
    let text = match &e {
        AccountError::WrongPassword => "The password is wrong.",
        AccountError::InvalidMfaCode => "The code is wrong. Check the time on your device and try again.",
        AccountError::InvalidInput(m) => m,
        AccountError::ReauthenticationRequired => "Sign in again (within the last 10 minutes) to make this change.",
        AccountError::RateLimited(_) => "Too many attempts; wait a moment and try again.",
        _ => return ApiError::from(e).into_page(),
    };
    let status = ApiError::from(e).status;
    render_account_mfa(state, jar, None, Some(text), None, status).await
}

fn enrol_page(
    jar: CookieJar,
    csrf_token: &str,
    enrolment: &TotpEnrolment,
    error: Option<&str>,
    next: Option<&str>,
) -> Response {
    let page = EnrolPage {
        csrf_token,
        secret: enrolment.secret_base32.as_str(),
        qr_svg: crate::qr::svg(enrolment.otpauth_uri.as_str()),
        error,
        next: safe_next(next),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut resp = (status, jar, Html(pages::render(&page))).into_response();
    // The secret is on this page: never cached.
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    resp
}

fn codes_page(heading: &str, codes: &[String], next: Option<&str>) -> Response {
    let page = RecoveryCodesPage { heading, codes, next: safe_next(next) };
    let mut resp = Html(pages::render(&page)).into_response();
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    resp
}

/// Starts enrolment after re-authentication: the QR code and the key for manual entry.
async fn begin_totp(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<ReauthForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let reauth = Reauth { password: form.password.as_ref(), auth_time: Some(session.auth_time) };
    match state.accounts.begin_totp_enrolment(&user, reauth, &ctx).await {
        Ok(enrolment) => enrol_page(jar, &form.csrf_token, &enrolment, None, form.next.as_deref()),
        Err(e) => shown_or_page(&state, jar, e).await,
    }
}

/// Completes enrolment with the first code; shows the recovery codes once.
async fn confirm_totp(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let Ok((_, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    match state.accounts.confirm_totp_enrolment(&user, &form.code, &ctx).await {
        Ok(codes) => codes_page("Two-step sign-in is on.", &codes, form.next.as_deref()),
        Err(AccountError::InvalidMfaCode) => match state.accounts.pending_totp_enrolment(&user).await {
            Ok(Some(enrolment)) => {
                let error = Some("The code is wrong; try again.");
                enrol_page(jar, &form.csrf_token, &enrolment, error, form.next.as_deref())
            }
            Ok(None) => shown_or_page(&state, jar, AccountError::InvalidMfaCode).await,
            Err(e) => ApiError::from(e).into_page(),
        },
        Err(e) => shown_or_page(&state, jar, e).await,
    }
}

async fn disable_totp(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<ReauthForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let reauth = Reauth { password: form.password.as_ref(), auth_time: Some(session.auth_time) };
    match state.accounts.disable_totp(&user, reauth, &ctx).await {
        Ok(()) => see_other("/account/mfa?notice=disabled"),
        Err(e) => shown_or_page(&state, jar, e).await,
    }
}

async fn regenerate_codes(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<ReauthForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let reauth = Reauth { password: form.password.as_ref(), auth_time: Some(session.auth_time) };
    match state.accounts.regenerate_recovery_codes(&user, reauth, &ctx).await {
        Ok(codes) => codes_page("New recovery codes; the old ones no longer work.", &codes, None),
        Err(e) => shown_or_page(&state, jar, e).await,
    }
}
