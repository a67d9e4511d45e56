//! GitHub as plain OAuth 2.0 (RFC 6749 §4.1, with PKCE S256 per RFC 7636): no ID token, so no
//! `nonce`; the identity is GitHub's numeric user id from `GET /user`, and the email is the
//! primary address from `GET /user/emails`, trusted as verified only when GitHub says so.

use gatehouse_core::federation::claims::github_identity;
use gatehouse_core::federation::{FlowSecrets, UpstreamIdentity};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::http::read_capped;
use super::{Upstream, UpstreamError};

pub(super) fn authorization_url(up: &Upstream, secrets: &FlowSecrets, _force_login: bool) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    url.append_pair("client_id", &up.config.client_id)
        .append_pair("redirect_uri", &up.redirect_uri)
        .append_pair("scope", &up.config.scopes.join(" "))
        .append_pair("state", &secrets.state)
        .append_pair("code_challenge", &secrets.pkce_challenge())
        .append_pair("code_challenge_method", "S256")
        .append_pair("allow_signup", "false");
    format!("{}/login/oauth/authorize?{}", up.config.issuer.trim_end_matches('/'), url.finish())
}

pub(super) async fn identity(
    up: &Upstream,
    code: &str,
    secrets: &FlowSecrets,
) -> Result<UpstreamIdentity, UpstreamError> {
    let token_url = format!("{}/login/oauth/access_token", up.config.issuer.trim_end_matches('/'));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", up.redirect_uri.as_str()),
        ("code_verifier", secrets.pkce_verifier.as_str()),
    ];
    let resp = up
        .http
        .0
        .post(&token_url)
        .basic_auth(&up.config.client_id, Some(up.secret.expose_secret()))
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|_| UpstreamError::Unavailable("GitHub token endpoint unreachable".into()))?;
    // Capped like every other upstream answer; a non-2xx is an outage (502 page), not an attack.
    let status = resp.status();
    let body =
        read_capped(resp).await.map_err(|e| UpstreamError::Unavailable(format!("GitHub token endpoint: {e}")))?;
    if !status.is_success() {
        return Err(UpstreamError::Unavailable(format!("GitHub token endpoint: HTTP {status}")));
    }
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| UpstreamError::rejected("token_response_invalid", "not JSON"))?;
    // GitHub answers errors with HTTP 200 and an `error` member.
    if let Some(error) = body.get("error").and_then(Value::as_str) {
        return Err(UpstreamError::rejected("token_exchange_failed", format!("the token endpoint answered {error}")));
    }
    let access_token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| UpstreamError::rejected("token_response_invalid", "no access_token"))?;
    let api = up.config.api_url.as_deref().unwrap_or("https://api.github.com").trim_end_matches('/');
    let user =
        up.http.get_json(&format!("{api}/user"), Some(access_token)).await.map_err(UpstreamError::Unavailable)?;
    let emails = up
        .http
        .get_json(&format!("{api}/user/emails"), Some(access_token))
        .await
        .map_err(UpstreamError::Unavailable)?;
    github_identity(&up.config.id, &user, &emails, &up.config.claims)
        .map_err(|e| UpstreamError::rejected("no_subject", e.to_string()))
}
