//! Sign in with an upstream provider (issue #8): `GET /login/{provider}` starts the OAuth 2.0
//! authorization code flow as a client (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) with `state`,
//! `nonce` and PKCE S256; `GET /login/{provider}/callback` finishes it (RFC 6749 §4.1.2,
//! §4.1.2.1 errors; RFC 9207 `iss`; OIDC Core §3.1.3 code exchange and ID token validation).
//! The account page links and unlinks providers (`/account/providers/{provider}/…`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::federation::{
    Callback, CallbackOutcome, FederatedSignIn, FederationError, ProviderKind, Refusal, ReturnTo,
};
use gatehouse_core::oauth::{CallbackParams, FromParams};
use serde::Deserialize;

use super::{see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, FormBody};
use crate::pages::{self, FederationErrorPage, ProviderButton};
use crate::policy::{Answer, Methods, Policy, Routes};
use crate::upstream::{Federation, Upstream};

pub fn router(state: &AppState) -> Routes {
    // Starting a federated login writes a login state: counted like a login attempt; so is
    // linking an upstream identity with the local password.
    let start_policy = Policy::same_origin().limit(LimitKind::LoginIp, Methods::Get, Answer::Page);
    let password = Policy::same_origin().limit(LimitKind::LoginIp, Methods::Post, Answer::Page);
    let pages = Router::new()
        .route("/login/{provider}/callback", get(callback))
        .route("/account/providers/{provider}/link", post(link))
        .route("/account/providers/{provider}/unlink", post(unlink));
    Routes::new(state, start_policy, Router::new().route("/login/{provider}", get(start)))
        .merge(Routes::new(state, password, Router::new().route("/login/{provider}/link", post(link_with_password))))
        .merge(Routes::new(state, Policy::same_origin(), pages))
}

/// The login page's "Sign in with …" links, carrying where to continue and `prompt=login`.
pub(super) fn buttons(state: &AppState, next: Option<&str>, prompt_login: bool) -> Vec<ProviderButton> {
    let Some(fed) = &state.federation else { return Vec::new() };
    fed.upstreams
        .buttons()
        .into_iter()
        .map(|(id, name)| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(next) = next {
                q.append_pair("return_to", next);
            }
            if prompt_login {
                q.append_pair("prompt", "login");
            }
            let query = q.finish();
            let href = if query.is_empty() { format!("/login/{id}") } else { format!("/login/{id}?{query}") };
            ProviderButton { name, href }
        })
        .collect()
}

fn page(status: StatusCode, provider: &str, message: &str, detail: Option<&str>) -> Response {
    let p = FederationErrorPage { provider, message, upstream_detail: detail, password_link: None };
    (status, Html(pages::render(&p))).into_response()
}

/// The federation and the named provider; `Err` is the 404 page to answer.
fn lookup(state: &AppState, provider: &str) -> Result<(Arc<Federation>, Arc<Upstream>), Box<Response>> {
    let not_found = || Box::new(ApiError::not_found().into_page());
    let fed = state.federation.clone().ok_or_else(not_found)?;
    let upstream = fed.upstreams.get(provider).ok_or_else(not_found)?;
    Ok((fed, upstream))
}

/// What every form posted to a provider route checks first: the provider exists, the body
/// parses, and the form's CSRF token matches.
fn posted_form<F>(
    state: &AppState,
    jar: &CookieJar,
    provider: &str,
    form: Result<FormBody<F>, ApiError>,
    csrf_token: impl FnOnce(&F) -> &str,
) -> Result<(Arc<Federation>, Arc<Upstream>, F), Box<Response>> {
    let (fed, upstream) = lookup(state, provider)?;
    let FormBody(form) = form.map_err(|e| Box::new(e.into_page()))?;
    cookies::check_form_token(jar, &state.settings, csrf_token(&form)).map_err(|e| Box::new(e.into_page()))?;
    Ok((fed, upstream, form))
}

#[derive(Deserialize)]
struct StartQuery {
    return_to: Option<String>,
    prompt: Option<String>,
}

/// RFC 6749 §4.1.1 / OIDC Core §3.1.2.1: redirect to the provider's authorization endpoint.
async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(provider): Path<String>,
    Query(q): Query<StartQuery>,
) -> Response {
    let (fed, upstream) = match lookup(&state, &provider) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    // Only a path on our own origin; anything else is dropped, never followed.
    let return_to = q.return_to.as_deref().and_then(ReturnTo::parse);
    let force_login = q.prompt.as_deref().is_some_and(|p| p.split(' ').any(|p| p == "login"));
    redirect_upstream(&state, jar, &fed, &upstream, return_to, None, force_login).await
}

async fn redirect_upstream(
    state: &AppState,
    jar: CookieJar,
    fed: &Federation,
    upstream: &Upstream,
    return_to: Option<String>,
    link_user: Option<gatehouse_core::UserId>,
    force_login: bool,
) -> Response {
    let name = upstream.config.display_name.as_str();
    if force_login && upstream.config.kind == ProviderKind::GitHub {
        let msg = "This application asked for a fresh sign-in, which GitHub cannot guarantee. Sign in with a password or another provider.";
        return page(StatusCode::BAD_REQUEST, name, msg, None);
    }
    let (jar, binding) = match cookies::federation_binding(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let secrets = match fed.service.begin(&upstream.config.id, &binding, return_to, link_user, force_login).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_page(),
    };
    match upstream.authorization_url(&secrets, force_login).await {
        Ok(url) => (jar, see_other(&url)).into_response(),
        Err(e) => unavailable(name, &e),
    }
}

fn unavailable(name: &str, e: &dyn std::fmt::Display) -> Response {
    let resp =
        page(StatusCode::BAD_GATEWAY, name, &format!("{name} cannot be reached right now. Try again later."), None);
    crate::error::with_cause(resp, Some(format!("upstream provider {name} unavailable: {e}")))
}

/// The redirection endpoint (RFC 6749 §3.1.2, §4.1.2): the order of its checks is core's.
async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(provider): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (fed, upstream) = match lookup(&state, &provider) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let params = CallbackParams::from_pairs(super::oauth::query_pairs(raw));
    let binding = cookies::federation_cookie(&jar, &state.settings);
    let session_user = signed_in(&state, &jar).await.ok().map(|(_, user, _)| user.id);
    let previous = cookies::session_token(&jar, &state.settings);
    let cb = Callback { params: &params, binding: binding.as_ref(), session_user, previous: previous.as_ref() };
    let outcome = fed.service.callback(cb, upstream.as_ref(), &ctx).await;
    let name = upstream.config.display_name.as_str();
    match outcome {
        Ok(CallbackOutcome::SignedIn { signed_in, return_to }) => {
            let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
            (jar, see_other(return_to.as_deref().unwrap_or("/account"))).into_response()
        }
        Ok(CallbackOutcome::Linked) => see_other("/account?notice=provider_linked"),
        Ok(CallbackOutcome::MfaRequired { pending }) => {
            (jar.add(cookies::mfa_cookie(&pending.handle, &state.settings)), see_other("/login/mfa")).into_response()
        }
        Ok(CallbackOutcome::PasswordNeeded { token }) => password_page(&state, jar, &provider, name, &token),
        Ok(CallbackOutcome::Refused(why)) => page(StatusCode::FORBIDDEN, name, &refusal_text(why, name), None),
        Ok(CallbackOutcome::InvalidState) => {
            let msg = "This sign-in attempt is invalid or has expired. Start again from the sign-in page.";
            page(StatusCode::BAD_REQUEST, name, msg, None)
        }
        Ok(CallbackOutcome::UpstreamRefused { code, description }) => {
            let msg = if code == "access_denied" {
                format!("Signing in with {name} was cancelled or refused.")
            } else {
                format!("{name} could not sign you in ({code}).")
            };
            page(StatusCode::FORBIDDEN, name, &msg, description.as_deref())
        }
        Ok(CallbackOutcome::MissingCode) => {
            page(StatusCode::BAD_REQUEST, name, &format!("{name} did not send an authorization code."), None)
        }
        Ok(CallbackOutcome::Rejected) => {
            let msg = format!("The answer from {name} did not pass our security checks, so you were not signed in.");
            page(StatusCode::BAD_REQUEST, name, &msg, None)
        }
        Ok(CallbackOutcome::Unavailable { cause }) => unavailable(name, &cause),
        Err(e) => internal(e),
    }
}

/// The refusal, with a form to prove the local account by its password (same words as every
/// refusal; the form appears only for an email the upstream verified).
fn password_page(state: &AppState, jar: CookieJar, provider_id: &str, name: &str, token: &str) -> Response {
    let jar = cookies::refresh_federation_binding(jar, &state.settings);
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let message = refusal_text(Refusal::LinkRequiresSignIn, name);
    let link = pages::PasswordLink { provider_id, csrf_token: &csrf_token, token };
    let p = FederationErrorPage { provider: name, message: &message, upstream_detail: None, password_link: Some(link) };
    (StatusCode::FORBIDDEN, jar, Html(pages::render(&p))).into_response()
}

#[derive(Deserialize)]
struct PasswordLinkForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    pending: String,
    password: gatehouse_core::Password,
}

/// Links a verified upstream identity to the local account with its email, once the browser
/// that brought it proves the account's password; then signs in.
async fn link_with_password(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(provider): Path<String>,
    form: Result<FormBody<PasswordLinkForm>, ApiError>,
) -> Response {
    let (fed, upstream, form) = match posted_form(&state, &jar, &provider, form, |f| &f.csrf_token) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let name = upstream.config.display_name.as_str();
    let binding = cookies::federation_cookie(&jar, &state.settings);
    let (login, pending) = match fed.service.take_pending(&provider, Some(&form.pending), binding.as_ref()).await {
        Ok(v) => v,
        Err(FederationError::InvalidState) => {
            let msg = format!("This form has expired or was already used. Sign in with {name} again.");
            return page(StatusCode::BAD_REQUEST, name, &msg, None);
        }
        Err(e) => return internal(e),
    };
    let previous = cookies::session_token(&jar, &state.settings);
    match fed.service.complete_with_password(&login, pending, &form.password, previous.as_ref(), &ctx).await {
        Ok(FederatedSignIn::SignedIn { signed_in, .. }) => {
            let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
            (jar, see_other(login.return_to.as_deref().unwrap_or("/account"))).into_response()
        }
        Ok(FederatedSignIn::Linked { .. }) => see_other("/account?notice=provider_linked"),
        Ok(FederatedSignIn::MfaRequired { pending }) => {
            (jar.add(cookies::mfa_cookie(&pending.handle, &state.settings)), see_other("/login/mfa")).into_response()
        }
        Err(FederationError::Account(gatehouse_core::AccountError::InvalidCredentials)) => {
            let msg = format!("That password is not right. Sign in with {name} again to retry.");
            page(StatusCode::UNAUTHORIZED, name, &msg, None)
        }
        Err(FederationError::Account(e)) => ApiError::from(e).into_page(),
        Err(FederationError::Refused(why)) => page(StatusCode::FORBIDDEN, name, &refusal_text(why, name), None),
        Err(e) => internal(e),
    }
}

fn refusal_text(why: Refusal, name: &str) -> String {
    match why {
        // Same words whether or not a local account has the email (no account enumeration).
        Refusal::LinkRequiresSignIn | Refusal::EmailNotVerified => format!(
            "We could not sign you in with {name}. If you already have an account here, sign in with your password \
             first, then connect {name} from your account page."
        ),
        Refusal::NoEmail => format!("{name} did not share a verified email address, which a new account needs."),
        Refusal::ProvisioningClosed | Refusal::DomainNotAllowed => {
            format!("New accounts cannot be created with {name} here. Ask an administrator for an invitation.")
        }
        Refusal::LinkedToOtherAccount => format!("This {name} account is already connected to another account."),
        Refusal::AccountDisabled => format!("We could not sign you in with {name}."),
    }
}

/// Any other failure is the server's: a bare 500 page, the cause for the log only.
fn internal(e: FederationError) -> Response {
    ApiError::internal_cause(e).into_page()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// Connects a provider to the signed-in account: the same flow, remembering who asked.
async fn link(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(provider): Path<String>,
    form: Result<FormBody<CsrfForm>, ApiError>,
) -> Response {
    let (fed, upstream, _) = match posted_form(&state, &jar, &provider, form, |f| &f.csrf_token) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Ok((_, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    redirect_upstream(&state, jar, &fed, &upstream, Some("/account".into()), Some(user.id), false).await
}

/// Disconnects a provider, unless it is the account's last way to sign in.
async fn unlink(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(provider): Path<String>,
    form: Result<FormBody<CsrfForm>, ApiError>,
) -> Response {
    let (fed, upstream, _) = match posted_form(&state, &jar, &provider, form, |f| &f.csrf_token) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Ok((_, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let name = upstream.config.display_name.as_str();
    match fed.service.unlink(user.id, &provider, &ctx).await {
        Ok(()) => see_other("/account?notice=provider_unlinked"),
        Err(FederationError::LastSignInMethod) => {
            let msg = format!("{name} is the only way to sign in to this account, so it cannot be disconnected.");
            page(StatusCode::CONFLICT, name, &msg, None)
        }
        Err(FederationError::NotLinked) => ApiError::not_found().into_page(),
        Err(e) => internal(e),
    }
}
