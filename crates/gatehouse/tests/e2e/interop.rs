//! Interop: the authorization-code flow (RFC 6749 §4.1, PKCE per RFC 7636, OpenID Connect Core
//! §3.1) for a confidential client (consent page) and a public client (`--skip-consent`), each
//! driven by an independent client library that finds the server only through
//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4): Python's authlib and
//! Node's openid-client (the scripts in `tests/interop/`), and the Rust `openidconnect` crate
//! here. A missing Python or Node library skips with a note on stderr, unless
//! `GATEHOUSE_REQUIRE_SERVICES=1`. Nothing is downloaded here: `.ci/run` installs the libraries
//! (`npm ci --prefix crates/gatehouse/tests/interop`, `pip install 'authlib>=1.9,<2' requests`).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpClientError,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::{authorize_as, create_client};
use crate::on_both_backends;

on_both_backends!(authlib_code_flow, openid_client_code_flow, openidconnect_code_flow);

const EMAIL: &str = "interop@example.com";
/// Never contacted: the libraries are handed the redirect to it.
const REDIRECT: &str = "https://rp.example.com/callback";
pub(crate) const INTEROP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

/// A registered client as `gatehouse clients create --json` printed it.
struct Registered {
    id: String,
    secret: Option<String>,
    expect_consent_page: bool,
}

/// The user, a confidential client that asks for consent, and a public first-party client that
/// does not: between them both branches of the authorization endpoint are exercised.
async fn setup(app: &TestApp) -> (String, [Registered; 2]) {
    let user: Value = app.register_user(EMAIL, PASSWORD).await;
    let mut base =
        vec!["--grant-type", "authorization_code", "--grant-type", "refresh_token", "--redirect-uri", REDIRECT];
    for s in ["openid", "profile", "email", "offline_access"] {
        base.extend(["--scope", s]);
    }
    let confidential = create_client(app, &base).await;
    let public = create_client(app, &[base.as_slice(), &["--public", "--skip-consent"]].concat()).await;
    assert!(public.get("client_secret").is_none_or(Value::is_null), "public clients get no secret");
    let registered = |v: &Value, expect_consent_page| Registered {
        id: v["client_id"].as_str().unwrap().to_owned(),
        secret: v["client_secret"].as_str().map(str::to_owned),
        expect_consent_page,
    };
    (user["id"].as_str().unwrap().to_owned(), [registered(&confidential, true), registered(&public, false)])
}

/// Whether `program args…` (run in the interop folder) succeeds; otherwise skip with a note, or
/// fail when `GATEHOUSE_REQUIRE_SERVICES=1`.
pub(crate) fn available(program: &str, args: &[&str], what: &str, install: &str) -> bool {
    let ok = std::process::Command::new(program)
        .args(args)
        .current_dir(INTEROP_DIR)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "GATEHOUSE_REQUIRE_SERVICES=1 but {what} is missing: {install}"
        );
        eprintln!("skipped: {what} not installed ({install})");
    }
    ok
}

/// Runs an interop script for one client and returns its JSON summary, which must say `ok`.
async fn run_script(app: &TestApp, program: &str, script: &str, client: &Registered) -> Value {
    let script = Path::new(INTEROP_DIR).join(script);
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(&script).current_dir(INTEROP_DIR).kill_on_drop(true);
    // `--name=value`: a client id or secret may start with `-` (base64url), which an argument
    // parser would take for an option.
    cmd.args([
        &format!("--issuer={}", app.base),
        &format!("--client-id={}", client.id),
        &format!("--email={EMAIL}"),
        &format!("--redirect-uri={REDIRECT}"),
    ]);
    cmd.args(["--password", PASSWORD]);
    if let Some(secret) = &client.secret {
        cmd.arg(format!("--client-secret={secret}"));
    }
    let out =
        tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("script finished in 60 s").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} failed\nstdout: {stdout}\nstderr: {stderr}", script.display());
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["ok"], true, "{summary:#}");
    summary
}

/// What every library run must report, whatever the library.
fn assert_summary(summary: &Value, client: &Registered, user_id: &str) {
    let public = client.secret.is_none();
    assert_eq!(summary["public"], public);
    let pages: Vec<&str> = summary["pages"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(pages.contains(&"login page"), "{pages:?}");
    assert_eq!(pages.contains(&"consent page"), client.expect_consent_page, "{pages:?}");
    assert_eq!(summary["scope"], "openid profile email offline_access");
    let claims: Vec<&str> =
        summary["id_token"]["claims"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for c in ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp"] {
        assert!(claims.contains(&c), "ID token lacks {c}: {claims:?}");
    }
    assert_eq!(summary["id_token"]["sub"], user_id);
    assert_eq!(summary["userinfo"]["sub"], user_id);
    assert_eq!(summary["userinfo"]["email"], EMAIL);
    assert_eq!(summary["refreshed"], true);
    assert_eq!(summary["revoked"], true);
    if public {
        assert!(summary.get("introspection_after").is_none());
    } else {
        assert_eq!(summary["introspection_before"]["active"], true);
        assert_eq!(summary["introspection_before"]["client_id"], client.id.as_str());
        for kind in ["access_token", "refresh_token"] {
            assert_eq!(summary["introspection_after"][kind], serde_json::json!({ "active": false }), "{kind}");
        }
    }
}

/// Python authlib: `OAuth2Session` with S256, metadata checked by authlib's RFC 8414 and
/// Discovery models, ID token checked by its `CodeIDToken` claims.
async fn authlib_code_flow(b: Backend) {
    if !available(
        "python3",
        &["-c", "import authlib, joserfc, requests"],
        "Python authlib",
        "pip install 'authlib>=1.9,<2' requests",
    ) {
        return;
    }
    let Some(app) = TestApp::spawn(b).await else { return };
    let (user_id, clients) = setup(&app).await;
    for client in &clients {
        let summary = run_script(&app, "python3", "authlib_flow.py", client).await;
        assert_summary(&summary, client, &user_id);
        assert_eq!(summary["id_token"]["alg"], "RS256");
    }
}

/// Node openid-client v6: discovery, PKCE, state, nonce and RFC 9207 `iss` checks by the
/// library, on success and on error redirects (`prompt=none` without a session, consent denied).
async fn openid_client_code_flow(b: Backend) {
    let install = "npm ci --prefix crates/gatehouse/tests/interop";
    if !available(
        "node",
        &["--input-type=module", "-e", "await import('openid-client')"],
        "Node openid-client",
        install,
    ) {
        return;
    }
    let Some(app) = TestApp::spawn(b).await else { return };
    let (user_id, clients) = setup(&app).await;
    for client in &clients {
        let summary = run_script(&app, "node", "openid_client_flow.mjs", client).await;
        assert_summary(&summary, client, &user_id);
        // Error redirects passed the library's state and `iss` checks before it reported them.
        for error in ["login_required", "access_denied"] {
            assert_eq!(summary["error_responses"][error], "AuthorizationResponseError", "{summary:#}");
        }
    }
}

/// openidconnect's HTTP client: reqwest 0.13 (the crate's own `reqwest` feature would bring
/// reqwest 0.12 and ring). Redirects are never followed: none is expected from the discovery,
/// JWKS, token or UserInfo endpoints, and following them would invite SSRF.
struct Http(reqwest::Client);

impl Http {
    fn new() -> Self {
        Self(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap())
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let request = self.0.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
            let response = request.send().await.map_err(Box::new)?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(Box::new)?;
            Ok(builder.body(body.to_vec())?)
        })
    }
}

/// An error with its sources: openidconnect's top-level messages ("Failed to parse server
/// response") say little without them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The Rust `openidconnect` crate as a relying party: discovery (with the JWKS), PKCE, the code
/// exchange, the ID token verified by its verifier (signature, iss, aud, azp, exp, nonce) and
/// at_hash (Core §3.1.3.8), UserInfo with the subject check (Core §5.3.2), and a refresh.
/// Revocation is covered by the scripts: oauth2 5 refuses a non-https revocation URL.
async fn openidconnect_code_flow(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (user_id, clients) = setup(&app).await;
    let http = Http::new();
    for registered in &clients {
        let issuer = IssuerUrl::new(app.base.clone()).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .unwrap_or_else(|e| panic!("openidconnect discovery: {}", chain(&e)));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(registered.id.clone()),
            registered.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());

        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for s in ["profile", "email", "offline_access"] {
            request = request.add_scope(Scope::new(s.to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let callback = authorize_as(&app, &browser(), url.as_str(), EMAIL, "allow").await;
        assert!(callback.starts_with(REDIRECT), "{callback}");
        let query: HashMap<String, String> = url::Url::parse(&callback).unwrap().query_pairs().into_owned().collect();
        assert_eq!(query.get("state"), Some(state.secret()));
        // RFC 9207 §2.4: the library does not check `iss`; a relying party must.
        assert_eq!(query.get("iss"), Some(&app.base));

        let token = client
            .exchange_code(AuthorizationCode::new(query["code"].clone()))
            .unwrap()
            .set_pkce_verifier(pkce_verifier)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("openidconnect code exchange: {}", chain(&e)));
        let id_token = token.id_token().expect("an ID token for the openid scope");
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).unwrap_or_else(|e| panic!("ID token rejected: {}", chain(&e)));
        assert_eq!(claims.subject().as_str(), user_id);
        let alg = id_token.signing_alg().unwrap();
        assert_eq!(*alg, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
        let at_hash = AccessTokenHash::from_token(token.access_token(), alg, id_token.signing_key(&verifier).unwrap());
        assert_eq!(Some(&at_hash.unwrap()), claims.access_token_hash(), "at_hash");

        let info: CoreUserInfoClaims = client
            .user_info(token.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("openidconnect userinfo: {}", chain(&e)));
        assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));

        let refresh = token.refresh_token().expect("a refresh token for offline_access");
        let refreshed = client
            .exchange_refresh_token(refresh)
            .unwrap()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("openidconnect refresh: {}", chain(&e)));
        assert_ne!(refreshed.refresh_token().map(|r| r.secret()), Some(refresh.secret()), "rotated");
        assert_ne!(refreshed.access_token().secret(), token.access_token().secret());
    }
}
