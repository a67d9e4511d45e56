//! An automated authorization-code login (RFC 6749 §4.1 with PKCE, RFC 7636), for the workloads
//! that need a token only a user's login gives: userinfo (OpenID Connect Core §5.3) and the
//! introspection of an opaque token the introspecting client owns.
//!
//! The signed-in browser is a session cookie from the first-party login; the client is a
//! first-party web application (consent skipped), so `/oauth2/authorize` answers with the
//! redirect at once. Nothing listens on the redirect URI: the harness reads the code from the
//! `Location` header.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::gatehouse::OAuthClient;
use crate::load::{Client, Req};

/// Registered for the bench's web application; never contacted.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/bench/callback";

/// What the token endpoint answered to the code exchange.
pub struct CodeTokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// The scopes of [`login`]: an ID token, user claims and a refresh token.
pub const LOGIN_SCOPE: &str = "openid%20profile%20email%20offline_access";

/// `GET /oauth2/authorize` as the signed-in user (`cookie`), then the code exchange at
/// `/oauth2/token` with `client_secret_basic` and the PKCE verifier.
pub async fn login(c: &mut Client, client: &OAuthClient, cookie: &str) -> anyhow::Result<CodeTokens> {
    let code = authorize(c, client, cookie, LOGIN_SCOPE).await?;
    let resp = c.send(&code.redemption(client)).await?;
    let json = resp.json().unwrap_or_default();
    let token = |k: &str| json[k].as_str().map(str::to_owned);
    match (token("access_token"), token("refresh_token")) {
        (Some(access_token), Some(refresh_token)) if resp.status.as_u16() == 200 => {
            Ok(CodeTokens { access_token, refresh_token })
        }
        _ => Err(anyhow::anyhow!("{}: {}", resp.status, String::from_utf8_lossy(&resp.body)))
            .context("the code exchange at /oauth2/token failed"),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An authorization code not yet redeemed, with its PKCE verifier (valid for 60 s).
pub struct Code {
    pub code: String,
    pub verifier: String,
}

impl Code {
    /// RFC 6749 §4.1.3: the code exchange at `/oauth2/token` (`client_secret_basic`, PKCE).
    pub fn redemption(&self, client: &OAuthClient) -> Req {
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            self.code,
            encode(REDIRECT_URI),
            self.verifier
        );
        Req::post_form("/oauth2/token", &body).header("authorization", &client.basic())
    }
}

/// `GET /oauth2/authorize` with PKCE S256 as the signed-in user (`cookie`) for `scope`
/// (URL-encoded); the code from the `Location` header.
pub async fn authorize(c: &mut Client, client: &OAuthClient, cookie: &str, scope: &str) -> anyhow::Result<Code> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    let path = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={scope}\
         &state=bench&code_challenge={challenge}&code_challenge_method=S256",
        client.id,
        encode(REDIRECT_URI),
    );
    let resp = c.send(&Req::get(&path).header("cookie", cookie)).await?;
    let location = resp.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(code) = location
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("code=")))
        .filter(|_| location.starts_with(REDIRECT_URI))
    else {
        bail!("/oauth2/authorize answered {} without a code (Location: {location:?})", resp.status);
    };
    Ok(Code { code: code.to_owned(), verifier })
}
