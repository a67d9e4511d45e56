//! RFC 9126 §2: the pushed authorization request endpoint. The client authenticates exactly as
//! at the token endpoint (and is rate-limited the same way), pushes its authorization request,
//! and gets a `request_uri` to send the browser to `/oauth2/authorize` with (§4).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::oauth::{Pairs, authenticated, dpop_key};
use crate::AppState;
use crate::error::{ApiError, OAuthResponse, no_store};
use crate::extract::{Client, FormBody};
use crate::policy::{Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    // Like the token endpoint: client credentials in the request, never cookies; browser apps
    // (public clients) may push from their registered origins.
    let client_auth = Policy::cookieless("authenticated by client credentials in the request");
    Routes::new(state, client_auth.oauth_cors(), Router::new().route("/oauth2/par", post(par)))
}

/// RFC 9126 §2.1 request, §2.2 `201 Created` with `request_uri` and `expires_in`, §2.3 errors
/// as at the token endpoint (RFC 6749 §5.2).
async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    let pairs = match &form {
        Ok(FormBody(pairs)) => pairs.clone(),
        Err(_) => Vec::new(),
    };
    let (client, _) = match authenticated(&state, &headers, &ctx, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // RFC 9449 §10.1: a proof here binds the code to its key.
    let uri = format!("{}/oauth2/par", state.oauth.settings().issuer);
    let proof_jkt = match dpop_key(&state, &headers, &uri).await {
        Ok(jkt) => jkt,
        Err(e) => return OAuthResponse(e).into_response(),
    };
    match state.oauth.push_authorization(&client, pairs, proof_jkt.as_deref()).await {
        Ok(pushed) => no_store((StatusCode::CREATED, axum::Json(pushed)).into_response()),
        Err(e) => OAuthResponse(e).into_response(),
    }
}
