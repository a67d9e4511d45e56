//! OpenID Connect endpoints: discovery (OpenID Connect Discovery 1.0 §4, RFC 8414 §3),
//! UserInfo (Core §5.3) and RP-initiated logout (RP-Initiated Logout 1.0 §2-3).

use axum::Router;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use gatehouse_core::acr::ACR_VALUES_SUPPORTED;
use gatehouse_core::oauth::{
    ASSERTION_ALGORITHMS, DEVICE_CODE_GRANT, FromParams, LogoutDecision, LogoutError, LogoutParams,
    TOKEN_EXCHANGE_GRANT,
};
use serde_json::{Value, json};

use super::oauth::token_claims;
use super::see_other;
use crate::AppState;
use crate::bearer::invalid_token;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, FormBody};
use crate::pages::{self, LogoutPage};
use crate::policy::{Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let discovery_routes = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/oauth-authorization-server", get(discovery));
    let bearer = Policy::cookieless("authenticated by the bearer token in the request");
    // RP-Initiated Logout §2: relying parties may POST cross-site; a logout without a matching
    // `id_token_hint` needs the same-site confirmation form with its CSRF token.
    let logout = Policy::cookieless("signs out only with a matching id_token_hint or the same-site form");
    Routes::new(state, Policy::same_origin().oauth_cors(), discovery_routes)
        .merge(Routes::new(
            state,
            bearer.oauth_cors(),
            Router::new().route("/oauth2/userinfo", get(userinfo).post(userinfo)),
        ))
        .merge(Routes::new(state, logout, Router::new().route("/oauth2/logout", get(logout_get).post(logout_post))))
}

/// The provider metadata: exactly what works, nothing more.
pub fn metadata(issuer: &str, require_par: bool) -> Value {
    let e = |path: &str| format!("{issuer}{path}");
    json!({
        "issuer": issuer,
        "authorization_endpoint": e("/oauth2/authorize"),
        "token_endpoint": e("/oauth2/token"),
        "jwks_uri": e("/oauth2/jwks"),
        "userinfo_endpoint": e("/oauth2/userinfo"),
        "revocation_endpoint": e("/oauth2/revoke"),
        "introspection_endpoint": e("/oauth2/introspect"),
        // RFC 8628 §4.
        "device_authorization_endpoint": e("/oauth2/device_authorization"),
        "end_session_endpoint": e("/oauth2/logout"),
        // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry `sid` (and `sub`).
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": e("/oauth2/par"),
        "require_pushed_authorization_requests": require_par,
        "scopes_supported": ["openid", "profile", "email", "offline_access", "roles", "permissions"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        // OpenID Connect Discovery §3 and RFC 8414 §2: listing private_key_jwt makes the
        // matching `*_auth_signing_alg_values_supported` mandatory.
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1: DPoP proofs are accepted with these algorithms.
        "dpop_signing_alg_values_supported": gatehouse_guard::DPOP_ALGORITHMS.map(|a| a.as_str()),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "acr", "sid", "email", "email_verified", "name", "updated_at"],
        "prompt_values_supported": ["none", "login", "consent"],
        // Discovery 1.0 §3: exactly the classes Gatehouse asserts in `acr` (README, "Step-up").
        "acr_values_supported": ACR_VALUES_SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        // Request objects by reference (OpenID Connect Core §6.2) are not fetched; the only
        // `request_uri`s accepted are those of pushed requests (RFC 9126 §4).
        "request_uri_parameter_supported": false,
    })
}

/// RFC 8414 §2 `registration_endpoint` (RFC 7591) and the Client ID Metadata Document draft's
/// `client_id_metadata_document_supported`: present only when enabled.
fn self_registration_metadata(state: &AppState, doc: &mut Value) {
    let Some(obj) = doc.as_object_mut() else { return };
    if state.registration.is_some() {
        obj.insert("registration_endpoint".into(), json!(format!("{}/oauth2/register", state.oauth.settings().issuer)));
    }
    if state.client_id_metadata_documents {
        obj.insert("client_id_metadata_document_supported".into(), json!(true));
    }
}

async fn discovery(State(state): State<AppState>) -> Response {
    let mut doc =
        metadata(&state.oauth.settings().issuer, state.oauth.settings().require_pushed_authorization_requests);
    self_registration_metadata(&state, &mut doc);
    let mut resp = axum::Json(doc).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}

/// Core §5.3.1: a bearer access token with the `openid` scope; claims filtered by scope.
/// A DPoP-bound token needs the `DPoP` scheme and a proof (RFC 9449 §7.1).
async fn userinfo(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let now = state.oauth.now();
    let uri = format!("{}/oauth2/userinfo", state.oauth.settings().issuer);
    let presented = state.bearer.from_request(&state.dpop, &parts.headers, parts.method.as_str(), &uri, now).await;
    let claims = match presented {
        Some(c) => c?,
        None => return Err(ApiError::unauthenticated()),
    };
    let claims = token_claims(claims);
    if !claims.scope.as_deref().unwrap_or_default().split(' ').any(|s| s == "openid") {
        let mut resp =
            ApiError::forbidden("insufficient_scope", "the access token lacks the openid scope").into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"openid\""),
        );
        return Ok(resp);
    }
    match state.oauth.userinfo(&claims).await {
        Ok(Some(body)) => Ok(axum::Json(body).into_response()),
        Ok(None) => Err(invalid_token("the token has been revoked")),
        Err(e) => Err(ApiError::internal_cause(e)),
    }
}

type Pairs = Vec<(String, String)>;

async fn logout_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    RawQuery(raw): RawQuery,
) -> Response {
    logout(state, jar, ctx, super::oauth::query_pairs(raw), false).await
}

async fn logout_post(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    let FormBody(pairs) = match form {
        Ok(f) => f,
        Err(e) => return e.into_page(),
    };
    // Our confirmation form: its CSRF token proves it was answered on our page.
    let fields = LogoutParams::from_pairs(pairs.iter().cloned());
    let confirmed = fields.confirm.first() == Some("yes");
    if confirmed
        && let Err(e) = cookies::check_form_token(&jar, &state.settings, fields.csrf_token.first().unwrap_or_default())
    {
        return e.into_page();
    }
    logout(state, jar, ctx, pairs, confirmed).await
}

/// RP-Initiated Logout 1.0 §2-3 (the rules are `OAuthService::parse_logout` and
/// `LogoutRequest::decide`): the confirmation page, or sign out and redirect.
async fn logout(
    state: AppState,
    jar: CookieJar,
    ctx: gatehouse_core::RequestContext,
    pairs: Pairs,
    confirmed: bool,
) -> Response {
    let request = match state.oauth.parse_logout(&LogoutParams::from_pairs(pairs.iter().cloned())).await {
        Ok(r) => r,
        Err(LogoutError::Invalid(message)) => return ApiError::bad_request(message).into_page(),
        Err(LogoutError::Server(e)) => return ApiError::internal_cause(e).into_page(),
    };
    let session = super::signed_in(&state, &jar).await.ok();
    if request.decide(session.as_ref().map(|(_, u, _)| u.id), confirmed) == LogoutDecision::Confirm {
        let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
            Ok(v) => v,
            Err(e) => return e.into_page(),
        };
        let hidden: Pairs = pairs.into_iter().filter(|(k, _)| k != "csrf_token" && k != "confirm").collect();
        return (jar, Html(pages::render(&LogoutPage { csrf_token: &csrf_token, hidden }))).into_response();
    }
    if let Some((_, _, token)) = &session
        && let Err(e) = state.accounts.logout(token, &ctx).await
    {
        return ApiError::internal_cause(e).into_page();
    }
    let jar = cookies::clear_session(jar, &state.settings);
    (jar, see_other(request.redirect().unwrap_or("/login?notice=signed_out"))).into_response()
}
