//! The OAuth 2.0 endpoints: authorization (RFC 6749 §4.1.1, with the consent page), token
//! (§3.2, §5), revocation (RFC 7009 §2) and introspection (RFC 7662 §2).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::acr::Acr;
use gatehouse_core::oauth::{
    AuthorizeError, AuthorizeOutcome, AuthorizeParams, AuthorizeRequest, ClientCredentials, ConsentParams,
    DpopRejection, ErrorCode, FromParams, OAuthError, Param, RegistrationKind, SignedInAs, TOKEN_EXCHANGE_GRANT,
    TokenClaims, TokenRequest, redirect_with,
};
use gatehouse_core::token::{PERMISSIONS_SCOPE, ROLES_SCOPE};
use gatehouse_core::{Session, SessionToken, User};
use gatehouse_guard::AccessClaims;

use super::{see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::{ApiError, OAuthResponse, no_store};
use crate::extract::{Client, FormBody, basic_credentials};
use crate::mfa_gate::EnrolmentRequired;
use crate::pages::{self, ConsentPage};
use crate::policy::{Policy, Routes};
use crate::ratelimit::{Answer, Methods, RateRule};
use axum::Extension;
use gatehouse_core::RequestContext;
use gatehouse_core::abuse::LimitKind;

pub fn router(state: &AppState) -> Routes {
    // Relying parties may POST authorization requests cross-site (OpenID Connect Core
    // §3.1.2.1); nothing changes without a same-site consent form with a CSRF token, and the
    // `SameSite=Lax` session cookie is not sent with a cross-site POST.
    let authorize = Policy::cookieless("changes nothing without the same-site consent form");
    // Client credentials in the request, never cookies; browser apps on other origins call
    // the token and revocation endpoints (CORS decides what they may read).
    let client_auth = Policy::cookieless("authenticated by client credentials in the request");
    Routes::new(state, authorize, Router::new().route("/oauth2/authorize", get(authorize_get).post(authorize_post)))
        .merge(Routes::new(state, Policy::same_origin(), Router::new().route("/oauth2/consent", post(consent))))
        .merge(Routes::new(
            state,
            client_auth.oauth_cors(),
            Router::new().route("/oauth2/token", post(token)).route("/oauth2/revoke", post(revoke)),
        ))
        .merge(Routes::new(state, client_auth, Router::new().route("/oauth2/introspect", post(introspect))))
}

pub(super) type Pairs = Vec<(String, String)>;

/// A query string as parameter pairs, in order, duplicates kept.
pub(super) fn query_pairs(raw: Option<String>) -> Pairs {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// RFC 6749 §4.1.1: GET with the query string.
async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    enrol: Option<Extension<EnrolmentRequired>>,
    RawQuery(raw): RawQuery,
) -> Response {
    authorize(state, jar, ctx, enrol.is_some(), query_pairs(raw)).await
}

/// OpenID Connect Core §3.1.2.1: POST with a form body is allowed too.
async fn authorize_post(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    enrol: Option<Extension<EnrolmentRequired>>,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    match form {
        Ok(FormBody(pairs)) => authorize(state, jar, ctx, enrol.is_some(), pairs).await,
        Err(e) => e.into_page(),
    }
}

/// The error redirect of RFC 6749 §4.1.2.1 with the RFC 9207 `iss` parameter.
fn error_redirect(state: &AppState, redirect_uri: &str, st: Option<&str>, error: &OAuthError) -> Response {
    let issuer = state.oauth.settings().issuer.clone();
    let mut params = vec![("error", error.code.as_str()), ("error_description", error.description.as_str())];
    if let Some(s) = st {
        params.push(("state", s));
    }
    params.push(("iss", &issuer));
    see_other(&redirect_with(redirect_uri, &params))
}

fn fail(state: &AppState, req: &AuthorizeRequest, error: &OAuthError) -> Response {
    error_redirect(state, &req.redirect_uri, req.state.as_deref(), error)
}

/// The query string to come back to after signing in; `prompt=login` is dropped so that the
/// fresh sign-in is not demanded again.
fn return_query(pairs: &Pairs) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if k == "prompt" {
            let rest: Vec<&str> = v.split(' ').filter(|p| *p != "login").collect();
            if !rest.is_empty() {
                ser.append_pair(k, &rest.join(" "));
            }
        } else {
            ser.append_pair(k, v);
        }
    }
    ser.finish()
}

/// The one parameter of a return to a parked authorization request (after signing in).
const PARKED: &str = "gatehouse_parked";

/// An authorization request's parameters, and what a return to it (after signing in, on the
/// consent form) carries.
struct Resolved {
    pairs: Pairs,
    back: Pairs,
    /// The parameters were pushed (RFC 9126): the return is always to a parked copy, never to
    /// parameters in the URL.
    pushed: bool,
}

/// The pairs of a parked request when `pairs` is a return to one; `Err` with the page to show
/// when it expired. Anything else is an ordinary authorization request.
async fn unpark(state: &AppState, pairs: Pairs) -> Result<Resolved, Response> {
    let plain = |pairs: Pairs| Resolved { back: pairs.clone(), pairs, pushed: false };
    let [(name, reference)] = pairs.as_slice() else { return Ok(plain(pairs)) };
    if name != PARKED {
        return Ok(plain(pairs));
    }
    match state.oauth.parked_request(reference).await {
        Ok(Some((query, false))) => Ok(plain(query_pairs(Some(query)))),
        Ok(Some((query, true))) => Ok(Resolved { pairs: query_pairs(Some(query)), back: pairs, pushed: true }),
        Ok(None) => Err(ApiError::bad_request(
            "this sign-in took too long and its request has expired; go back to the application and try again",
        )
        .into_page()),
        Err(_) => Err(ApiError::internal().into_page()),
    }
}

/// `must_enrol`: the MFA policy's gate (`crate::mfa_gate`) found that the signed-in user must
/// set up a second factor first.
/// RFC 9126 §4: a request naming a `request_uri` is the pushed request, taken (single use) and
/// parked at once, so that signing in, consent and step-up return to the pushed parameters
/// rather than to the used `request_uri`. Every other parameter of the request is ignored.
async fn resolve_pushed(state: &AppState, resolved: Resolved) -> Result<Resolved, Response> {
    let params = AuthorizeParams::from_pairs(resolved.pairs.iter().cloned());
    if resolved.pushed || params.request_uri == Param::Absent {
        return Ok(resolved);
    }
    let query = state.oauth.take_pushed_authorization(&params).await.map_err(authorize_error_page(state))?;
    let pairs = query_pairs(Some(query));
    let reference =
        state.oauth.park_request(&return_query(&pairs), true).await.map_err(|_| ApiError::internal().into_page())?;
    Ok(Resolved { pairs, back: vec![(PARKED.to_owned(), reference)], pushed: true })
}

fn authorize_error_page(state: &AppState) -> impl Fn(AuthorizeError) -> Response + '_ {
    move |e| match e {
        AuthorizeError::Fatal(message) => ApiError::bad_request(message).into_page(),
        AuthorizeError::Unavailable => ApiError::unavailable("the database is unreachable").into_page(),
        AuthorizeError::Redirect { redirect_uri, state: st, error } => {
            error_redirect(state, &redirect_uri, st.as_deref(), &error)
        }
    }
}

/// The request's signed-in session, if any. A database that cannot be reached is a 503 page,
/// not "signed out" (which would send a signed-in user to the sign-in page).
async fn session_of(state: &AppState, jar: &CookieJar) -> Result<Option<(Session, User, SessionToken)>, Response> {
    match signed_in(state, jar).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => Err(e.into_page()),
        Err(_) => Ok(None),
    }
}

/// The validated request, refused where PAR is required and it was not pushed (RFC 9126 §4).
async fn validated(state: &AppState, resolved: &Resolved) -> Result<AuthorizeRequest, Response> {
    let params = AuthorizeParams::from_pairs(resolved.pairs.iter().cloned());
    let req = state.oauth.parse_authorize(&params).await.map_err(authorize_error_page(state))?;
    state.oauth.check_pushed(&req, resolved.pushed).map_err(|e| fail(state, &req, &e))?;
    Ok(req)
}

async fn authorize(state: AppState, jar: CookieJar, ctx: RequestContext, must_enrol: bool, pairs: Pairs) -> Response {
    let resolved = match unpark(&state, pairs).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let resolved = match resolve_pushed(&state, resolved).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let req = match validated(&state, &resolved).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let pairs = resolved.back;
    let session = match session_of(&state, &jar).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let outcome = state.oauth.decide_authorize(&req, signed_in_as(session.as_ref())).await;
    if must_enrol && session.is_some() && matches!(outcome, AuthorizeOutcome::Consent | AuthorizeOutcome::IssueCode) {
        return enrol_first(&state, &ctx, &req, &pairs).await;
    }
    respond(&state, jar, &ctx, &req, &pairs, session, outcome).await
}

/// No code for a user the MFA policy holds back: to the enrolment page, which returns to this
/// request afterwards; `prompt=none` must show no page (OpenID Connect Core §3.1.2.1), so the
/// client is told `interaction_required` (§3.1.2.6).
async fn enrol_first(state: &AppState, ctx: &RequestContext, req: &AuthorizeRequest, pairs: &Pairs) -> Response {
    if req.prompt.none {
        let error =
            OAuthError::new(ErrorCode::InteractionRequired, "the user must set up two-step sign-in before signing in");
        return fail(state, req, &error);
    }
    match return_url(state, ctx, pairs).await {
        Ok(back) => {
            let mut to = url::form_urlencoded::Serializer::new(String::new());
            to.append_pair("next", &back);
            see_other(&format!("{}&{}", crate::mfa_gate::ENROL_PAGE, to.finish()))
        }
        Err(page) => page,
    }
}

type SignedIn = (Session, User, SessionToken);

fn signed_in_as(session: Option<&SignedIn>) -> Option<SignedInAs> {
    session.map(|(s, u, _)| SignedInAs { user: u.id, auth_time: s.auth_time, acr: Acr::from_amr(&s.amr) })
}

/// Renders core's decision: the login page, the consent page, or a redirect to the client.
async fn respond(
    state: &AppState,
    jar: CookieJar,
    ctx: &RequestContext,
    req: &AuthorizeRequest,
    pairs: &Pairs,
    session: Option<SignedIn>,
    outcome: AuthorizeOutcome,
) -> Response {
    match (outcome, session) {
        (AuthorizeOutcome::Refuse(error), _) => fail(state, req, &error),
        // `accounts.require_verified_email`: no consent and no code for an unverified address.
        (AuthorizeOutcome::Consent | AuthorizeOutcome::IssueCode, Some((_, u, _)))
            if !state.accounts.may_use_clients(&u) =>
        {
            if req.prompt.none {
                let error = OAuthError::new(ErrorCode::AccessDenied, "the user's email address is not verified");
                return fail(state, req, &error);
            }
            super::account_email::verify_required_page(state, jar, &u)
        }
        (AuthorizeOutcome::Consent, _) => consent_page(state, jar, req, pairs),
        // OIDC Core §5.5.1.1: the session is one-factor and the request needs two.
        (AuthorizeOutcome::StepUp, Some((s, u, _))) => super::step_up::begin(state, jar, ctx, pairs, &s, &u).await,
        (AuthorizeOutcome::SecondFactorMissing, _) => super::step_up::second_factor_missing(&req.client.name),
        (AuthorizeOutcome::IssueCode, Some((s, u, _))) => redirect_with_code(state, req, &u, &s).await,
        (AuthorizeOutcome::SignIn | AuthorizeOutcome::IssueCode | AuthorizeOutcome::StepUp, _) => {
            match login_redirect(state, ctx, req, pairs).await {
                Ok(to) => see_other(&to),
                Err(page) => page,
            }
        }
    }
}

/// Longest return URL passed inline to the login page; longer requests are parked.
const MAX_INLINE_RETURN: usize = 1024;

/// The login page, continuing with this authorization request afterwards.
async fn login_redirect(
    state: &AppState,
    ctx: &RequestContext,
    req: &AuthorizeRequest,
    pairs: &Pairs,
) -> Result<String, Response> {
    let back = return_url(state, ctx, pairs).await?;
    let mut to = url::form_urlencoded::Serializer::new(String::new());
    to.append_pair("next", &back);
    if let Some(hint) = &req.login_hint {
        to.append_pair("login_hint", hint);
    }
    // Passed on to an upstream provider, which is asked to authenticate again.
    if req.needs_fresh_sign_in() {
        to.append_pair("prompt", "login");
    }
    Ok(format!("/login?{}", to.finish()))
}

/// The URL to come back to this authorization request after signing in or stepping up. A long
/// request (a 2,000-character `state`) would travel double-encoded in the login URL and exceed
/// the URL limit: it is parked server-side and the URL carries a short reference. Parking
/// writes a row, so it counts against the per-IP sign-in limit.
pub(super) async fn return_url(state: &AppState, ctx: &RequestContext, pairs: &Pairs) -> Result<String, Response> {
    let query = return_query(pairs);
    let mut back = format!("/oauth2/authorize?{query}");
    if back.len() > MAX_INLINE_RETURN {
        let rule = RateRule { kind: LimitKind::LoginIp, methods: Methods::Any, answer: Answer::Page };
        crate::ratelimit::check(state, rule, ctx).await?;
        let reference = state.oauth.park_request(&query, false).await.map_err(|_| ApiError::internal().into_page())?;
        let mut parked = url::form_urlencoded::Serializer::new(String::new());
        parked.append_pair(PARKED, &reference);
        back = format!("/oauth2/authorize?{}", parked.finish());
    }
    Ok(back)
}

async fn redirect_with_code(
    state: &AppState,
    req: &AuthorizeRequest,
    user: &gatehouse_core::User,
    session: &Session,
) -> Response {
    match state.oauth.issue_code(req, user.id, session.id, session.auth_time, &session.amr).await {
        Ok(code) => {
            let issuer = state.oauth.settings().issuer.clone();
            let mut params = vec![("code", code.as_str())];
            if let Some(s) = &req.state {
                params.push(("state", s));
            }
            params.push(("iss", &issuer));
            see_other(&redirect_with(&req.redirect_uri, &params))
        }
        Err(_) => fail(state, req, &OAuthError::server_error()),
    }
}

fn consent_page(state: &AppState, jar: CookieJar, req: &AuthorizeRequest, pairs: &Pairs) -> Response {
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    // The consent form's own fields never come from the request: a request carrying
    // `decision=allow` must not turn the user's "Deny" into an allow.
    let hidden: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| !matches!(k.as_str(), "prompt" | "decision" | "csrf_token")).cloned().collect();
    let scopes: Vec<&str> = req.scope.iter().collect();
    let privileged = scopes.iter().any(|s| gatehouse_core::oauth::is_privileged(s));
    let resources: Vec<&str> = req.resources.iter().map(String::as_str).collect();
    let self_registered = req.client.lifecycle.registration.is_self_registered().then(|| pages::SelfRegisteredNotice {
        host: (req.client.lifecycle.registration == RegistrationKind::MetadataDocument)
            .then(|| url::Url::parse(&req.client.id).ok()?.host_str().map(str::to_owned))
            .flatten(),
    });
    let page = ConsentPage {
        csrf_token: &csrf_token,
        client_name: &req.client.name,
        scopes,
        privileged,
        resources,
        hidden,
        self_registered,
    };
    (jar, Html(pages::render(&page))).into_response()
}

/// The consent form's answer: allow issues a code, deny redirects with `access_denied`.
async fn consent(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    let FormBody(pairs) = match form {
        Ok(f) => f,
        Err(e) => return e.into_page(),
    };
    let form = ConsentParams::from_pairs(pairs.iter().cloned());
    if let Err(e) = cookies::check_form_token(&jar, &state.settings, form.csrf_token.first().unwrap_or_default()) {
        return e.into_page();
    }
    // Exactly one decision: a repeated one is a forged form, never an allow.
    let allow = form.decision.get().ok().flatten() == Some("allow");
    let params: Pairs = pairs.iter().filter(|(k, _)| k != "csrf_token" && k != "decision").cloned().collect();
    // A pushed request's consent form carries its parked reference, never its parameters.
    let resolved = match unpark(&state, params).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let req = match validated(&state, &resolved).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let params = resolved.back;
    let session = match session_of(&state, &jar).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let outcome = state.oauth.decide_consent(&req, signed_in_as(session.as_ref()), allow, &ctx).await;
    respond(&state, jar, &ctx, &req, &params, session, outcome).await
}

/// The request, read once from the form, and the client's credentials from it and from the
/// `Authorization` header; every failure is already an OAuth error.
fn token_request(
    headers: &HeaderMap,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Result<(ClientCredentials, TokenRequest), OAuthError> {
    let FormBody(pairs) = form.map_err(|e| OAuthError::invalid_request(e.description))?;
    let mut req = TokenRequest::from_pairs(pairs);
    let basic = basic_credentials(headers).map_err(|()| OAuthError::invalid_client())?;
    let creds = ClientCredentials::new(basic, std::mem::take(&mut req.client))?;
    Ok((creds, req))
}

/// Parses the request and authenticates the client; every failure is already an OAuth error.
pub(super) async fn authenticated(
    state: &AppState,
    headers: &HeaderMap,
    ctx: &gatehouse_core::RequestContext,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Result<(gatehouse_core::oauth::Client, TokenRequest), Response> {
    let (creds, req) = token_request(headers, form).map_err(|e| OAuthResponse(e).into_response())?;
    // Per client (issue: "per client on the token endpoint"), before the secret is checked.
    let presented = creds.claimed_id();
    // Keyed by the claimed client id *and* the caller's address: client ids are public, so a
    // key of the id alone would let anyone exhaust a victim client's budget.
    let key = presented.map(|id| format!("{id} {}", crate::ratelimit::client_key(ctx)));
    if let Some(key) = key
        && let Err(limited) = state.rate_limits.check(LimitKind::TokenClient, &key, ctx).await
    {
        return Err(ApiError::rate_limited(&limited).into_response());
    }
    let client = state.oauth.authenticate_client(&creds).await.map_err(|e| OAuthResponse(e).into_response())?;
    Ok((client, req))
}

/// RFC 6749 §3.2: the token endpoint.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    let (client, mut req) = match authenticated(&state, &headers, &ctx, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let uri = format!("{}/oauth2/token", state.oauth.settings().issuer);
    req.dpop_jkt = match dpop_key(&state, &headers, &uri).await {
        Ok(jkt) => jkt,
        Err(e) => return OAuthResponse(e).into_response(),
    };
    // RFC 8693 §2.1: the signatures of the tokens to exchange are checked here, at the edge,
    // like every other access token; core decides the rest.
    if matches!(req.grant_type.get(), Ok(Some(TOKEN_EXCHANGE_GRANT))) {
        let now = state.oauth.now();
        let verify = |p: &Param| match p.get() {
            Ok(Some(t)) => state.bearer.verify(t, now).map(token_claims),
            _ => None,
        };
        req.subject_claims = verify(&req.subject_token);
        req.actor_claims = verify(&req.actor_token);
    }
    match state.oauth.token(&req, &client, &ctx).await {
        Ok(body) => no_store(axum::Json(body).into_response()),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

/// RFC 9449 §5: the key of the DPoP proof of a POST to `uri` at the authorization server (the
/// token endpoint; PAR, §10.1), if it sent one; a bad proof is `invalid_dpop_proof`.
pub(super) async fn dpop_key(state: &AppState, headers: &HeaderMap, uri: &str) -> Result<Option<String>, OAuthError> {
    let refused = |why: &str| OAuthError::new(ErrorCode::InvalidDpopProof, why);
    let proofs = crate::bearer::dpop_headers(headers).map_err(|_| refused("the DPoP header is not a JWT"))?;
    match state.dpop.verify(&proofs, "POST", uri, None).await {
        Ok(proof) => Ok(proof.map(|p| p.jkt)),
        // Logged there; an unreachable database is 503 `temporarily_unavailable`.
        Err(DpopRejection::Store(e)) => Err(OAuthError::from(e)),
        Err(DpopRejection::Replayed) => Err(refused("the DPoP proof was used before")),
        // RFC 9449 §8: 400 `use_dpop_nonce`; `middleware::dpop_nonce` adds `DPoP-Nonce`.
        Err(DpopRejection::UseNonce) => {
            Err(OAuthError::new(ErrorCode::UseDpopNonce, "the DPoP proof must carry the server's nonce"))
        }
        Err(DpopRejection::Several) => Err(refused("send exactly one DPoP header")),
        Err(DpopRejection::Invalid(e)) => {
            tracing::debug!(error = %e, "DPoP proof refused at the token endpoint");
            Err(refused("the DPoP proof is invalid"))
        }
    }
}

/// RFC 7009 §2.1, RFC 7662 §2.1: the one `token` parameter.
fn token_param(req: &TokenRequest) -> Result<&str, OAuthError> {
    match req.token.get() {
        Ok(Some(t)) => Ok(t),
        _ => Err(OAuthError::invalid_request("exactly one token parameter is required")),
    }
}

/// The verified claims as core sees them. `roles` / `permissions` are present exactly when the
/// token's scope asked for them (the guard reads an absent claim as an empty list).
pub fn token_claims(c: AccessClaims) -> TokenClaims {
    let (want_roles, want_permissions) = (c.has_scope(ROLES_SCOPE), c.has_scope(PERMISSIONS_SCOPE));
    let dpop_jkt = c.dpop_jkt().map(str::to_owned);
    let act = c.act.as_ref().and_then(|a| serde_json::to_value(a).ok());
    let roles = want_roles.then_some(c.roles);
    let permissions = want_permissions.then_some(c.permissions);
    TokenClaims {
        iss: c.iss,
        sub: c.sub,
        aud: c.aud,
        client_id: c.client_id,
        scope: c.scope,
        exp: c.exp,
        iat: c.iat,
        jti: c.jti,
        sid: c.sid,
        roles,
        permissions,
        auth_time: c.auth_time,
        acr: c.acr,
        amr: c.amr,
        dpop_jkt,
        act,
    }
}

/// RFC 7009 §2.1: revocation. 200 for unknown tokens; never 200 when storage failed.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    let (client, req) = match authenticated(&state, &headers, &ctx, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = match token_param(&req) {
        Ok(t) => t,
        Err(e) => return OAuthResponse(e).into_response(),
    };
    let jwt = state.bearer.verify(token, state.oauth.now()).map(token_claims);
    match state.oauth.revoke(&client, token, jwt).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

/// RFC 7662 §2: introspection, for authenticated clients only.
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    // A public client proves nothing by sending its id: introspection is for confidential ones.
    let (client, req) = match authenticated(&state, &headers, &ctx, form).await {
        Ok((c, _)) if c.is_public() => return OAuthResponse(OAuthError::invalid_client()).into_response(),
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = match token_param(&req) {
        Ok(t) => t,
        Err(e) => return OAuthResponse(e).into_response(),
    };
    let jwt = state.bearer.verify(token, state.oauth.now()).map(token_claims);
    match state.oauth.introspect(&client, token, jwt).await {
        Ok(body) => no_store(axum::Json(body).into_response()),
        Err(e) => OAuthResponse(e).into_response(),
    }
}
