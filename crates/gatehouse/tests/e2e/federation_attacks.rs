//! Attacks that need a lying upstream: a tiny fake OpenID provider (axum on a random loopback
//! port: discovery, JWKS, and a token endpoint answering with an ID token the test crafted).
//! Each case starts a real login at Gatehouse, takes the `state` and `nonce` it sent, and calls
//! the callback as the upstream would. Every one must end in a 400 page, no session, and a
//! `federation.login_failed` audit event naming the check (OIDC Core §3.1.3.7 ID token
//! validation, RFC 9207 §2.4 `iss`, RFC 9700 §4.4 mix-up).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::keys::{Algorithm, KeyMaterial};
use serde_json::{Value, json};

use crate::federation_harness::{Browser, bind, downstream, failure_reasons, oidc_provider};
use crate::helpers::{Backend, TestApp};
use crate::oauth::{REDIRECT, authorize_url, pkce, query_of, token_request, web_client};
use crate::on_both_backends;

on_both_backends!(
    forged_id_tokens_and_mix_up_are_refused,
    jwks_is_refetched_for_an_unknown_kid,
    session_is_as_fresh_as_the_upstream_sign_in,
    binding_cookie_is_refreshed_when_a_login_starts,
);

const CLIENT_ID: &str = "fake-client";
const SECRET: &str = "fake-client-secret-0123456789-0123456789";

struct FakeState {
    issuer: String,
    keys: Mutex<Vec<Value>>,
    id_token: Mutex<String>,
    token_calls: AtomicUsize,
}

/// The fake upstream; its server stops with the test's runtime.
struct FakeOp {
    state: Arc<FakeState>,
    key: KeyMaterial,
}

impl FakeOp {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = KeyMaterial::generate(Algorithm::RS256).unwrap().0;
        let state = Arc::new(FakeState {
            issuer: issuer.clone(),
            keys: Mutex::new(vec![key.public_jwk()]),
            id_token: Mutex::new(String::new()),
            token_calls: AtomicUsize::new(0),
        });
        let (s1, s2, s3) = (state.clone(), state.clone(), state.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move {
                    let i = &s1.issuer;
                    Json(json!({
                        "issuer": i,
                        "authorization_endpoint": format!("{i}/authorize"),
                        "token_endpoint": format!("{i}/token"),
                        "jwks_uri": format!("{i}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                        "authorization_response_iss_parameter_supported": true,
                    }))
                }),
            )
            .route("/jwks", get(move || async move { Json(json!({ "keys": s2.keys.lock().unwrap().clone() })) }))
            .route(
                "/token",
                post(move || async move {
                    s3.token_calls.fetch_add(1, Ordering::SeqCst);
                    let id_token = s3.id_token.lock().unwrap().clone();
                    Json(
                        json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": id_token }),
                    )
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, key }
    }

    fn issuer(&self) -> &str {
        &self.state.issuer
    }

    fn token_calls(&self) -> usize {
        self.state.token_calls.load(Ordering::SeqCst)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Good claims for `nonce`, before a case spoils them.
fn claims(issuer: &str, nonce: &str, sub: &str) -> Value {
    json!({
        "iss": issuer, "sub": sub, "aud": CLIENT_ID, "azp": CLIENT_ID,
        "exp": now() + 300, "iat": now(), "nonce": nonce,
        "email": format!("{sub}@fake.example"), "email_verified": true,
    })
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// HS256 keyed with the client secret: what a client that accepts any `alg` would verify.
fn hs256_with_client_secret(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Starts a login; returns the browser, the `state` and the `nonce` Gatehouse sent upstream.
async fn start(app: &TestApp, fake: &FakeOp) -> (Browser, String, String) {
    let browser = Browser::new();
    let stopped = browser.walk(&app.url("/login/fake"), |_| false).await;
    assert!(stopped.url.starts_with(&format!("{}/authorize?", fake.issuer())), "{}", stopped.url);
    let q = query_of(&stopped.url);
    (browser, q["state"].clone(), q["nonce"].clone())
}

async fn callback(app: &TestApp, browser: &Browser, state: &str, iss: Option<&str>) -> (u16, String) {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("code", "upstream-code").append_pair("state", state);
    if let Some(iss) = iss {
        q.append_pair("iss", iss);
    }
    let r = browser.client.get(app.url(&format!("/login/fake/callback?{}", q.finish()))).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn with_fake(b: Backend) -> Option<(FakeOp, TestApp)> {
    let fake = FakeOp::start().await;
    let (listener, _) = bind().await;
    let app = downstream(b, listener, vec![oidc_provider("fake", fake.issuer(), CLIENT_ID, SECRET)], |_| {}).await?;
    Some((fake, app))
}

/// Builds a forged ID token for the nonce Gatehouse sent.
type Forge<'a> = Box<dyn Fn(&str) -> String + 'a>;

async fn forged_id_tokens_and_mix_up_are_refused(b: Backend) {
    let Some((fake, app)) = with_fake(b).await else { return };
    let issuer = fake.issuer().to_owned();
    let other_key = KeyMaterial::generate(Algorithm::RS256).unwrap().0;
    let sign = |k: &KeyMaterial, c: &Value| k.sign_jws("JWT", c).unwrap();
    // (name, expected audit reason, forged ID token for the nonce Gatehouse sent)
    let cases: Vec<(&str, &str, Forge)> = vec![
        (
            "wrong aud (§3.1.3.7 step 3)",
            "id_token_wrong_audience",
            Box::new(|n| {
                let mut c = claims(&issuer, n, "s1");
                c["aud"] = json!("another-client");
                c["azp"] = json!("another-client");
                sign(&fake.key, &c)
            }),
        ),
        (
            "extra untrusted aud with azp of another client (steps 3-5)",
            "id_token_wrong_audience",
            Box::new(|n| {
                let mut c = claims(&issuer, n, "s2");
                c["aud"] = json!([CLIENT_ID, "another-client"]);
                c["azp"] = json!("another-client");
                sign(&fake.key, &c)
            }),
        ),
        (
            "wrong iss (step 2)",
            "id_token_wrong_issuer",
            Box::new(|n| {
                let mut c = claims(&issuer, n, "s3");
                c["iss"] = json!("https://accounts.google.com");
                sign(&fake.key, &c)
            }),
        ),
        (
            "expired (step 9)",
            "id_token_expired",
            Box::new(|n| {
                let mut c = claims(&issuer, n, "s4");
                c["exp"] = json!(now() - 60);
                c["iat"] = json!(now() - 400);
                sign(&fake.key, &c)
            }),
        ),
        (
            "issued in the future (step 10)",
            "id_token_expired",
            Box::new(|n| {
                let mut c = claims(&issuer, n, "s5");
                c["iat"] = json!(now() + 3600);
                c["exp"] = json!(now() + 7200);
                sign(&fake.key, &c)
            }),
        ),
        (
            "signed by an unknown key (step 6)",
            "id_token_unknown_key",
            Box::new(|n| sign(&other_key, &claims(&issuer, n, "s6"))),
        ),
        ("alg none (step 6-7)", "id_token_bad_signature", Box::new(|n| unsigned(&claims(&issuer, n, "s7")))),
        (
            "HS256 keyed with the client secret (step 7-8)",
            "id_token_bad_signature",
            Box::new(|n| hs256_with_client_secret(&claims(&issuer, n, "s8"))),
        ),
        (
            "nonce mismatch (step 11, §3.1.2.1)",
            "id_token_nonce_mismatch",
            Box::new(|_| sign(&fake.key, &claims(&issuer, "a-nonce-from-another-login", "s9"))),
        ),
        (
            "tampered payload",
            "id_token_bad_signature",
            Box::new(|n| {
                let good = sign(&fake.key, &claims(&issuer, n, "s10"));
                let parts: Vec<&str> = good.split('.').collect();
                let evil = URL_SAFE_NO_PAD.encode(claims(&issuer, n, "victim").to_string());
                format!("{}.{evil}.{}", parts[0], parts[2])
            }),
        ),
    ];
    let mut expected = Vec::new();
    for (name, reason, forge) in &cases {
        let (browser, state, nonce) = start(&app, &fake).await;
        *fake.state.id_token.lock().unwrap() = forge(&nonce);
        let (status, body) = callback(&app, &browser, &state, Some(&issuer)).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(body.contains("did not pass our security checks"), "{name}: {body}");
        assert_eq!(browser.me(&app).await.0, 401, "{name}: not signed in");
        expected.push(*reason);
        assert_eq!(failure_reasons(&app).await, expected, "{name}");
    }

    // Mix-up (RFC 9207 §2.4, RFC 9700 §4.4): the response names another issuer. The code is
    // never sent anywhere: the token endpoint is not called.
    let calls = fake.token_calls();
    let (browser, state, nonce) = start(&app, &fake).await;
    *fake.state.id_token.lock().unwrap() = sign(&fake.key, &claims(&issuer, &nonce, "mixup"));
    let (status, _) = callback(&app, &browser, &state, Some("https://attacker.example")).await;
    assert_eq!(status, 400);
    assert_eq!(fake.token_calls(), calls, "the code went to no token endpoint");
    // A provider that advertises `authorization_response_iss_parameter_supported` must send it.
    let (browser, state, _) = start(&app, &fake).await;
    assert_eq!(callback(&app, &browser, &state, None).await.0, 400);
    assert_eq!(fake.token_calls(), calls);
    expected.extend(["issuer_mismatch", "issuer_missing"]);
    assert_eq!(failure_reasons(&app).await, expected);

    // RFC 9207 §2.4 holds for error responses too: an error naming another issuer (or none,
    // from a provider that advertises the parameter) is a mix-up, not the provider's answer.
    let error_callback = |state: String, iss: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("error", "access_denied").append_pair("state", &state);
        if let Some(iss) = iss {
            q.append_pair("iss", iss);
        }
        app.url(&format!("/login/fake/callback?{}", q.finish()))
    };
    for (iss, reason) in [(Some("https://attacker.example"), "issuer_mismatch"), (None, "issuer_missing")] {
        let (browser, state, _) = start(&app, &fake).await;
        let r = browser.client.get(error_callback(state, iss)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "error response with iss {iss:?}");
        expected.push(reason);
    }
    let (browser, state, _) = start(&app, &fake).await;
    let r = browser.client.get(error_callback(state, Some(&issuer))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "the provider's own error response");
    expected.push("upstream_error");
    assert_eq!(failure_reasons(&app).await, expected);

    // The control: the same fake upstream with honest answers signs in, with a JIT account.
    let (browser, state, nonce) = start(&app, &fake).await;
    *fake.state.id_token.lock().unwrap() = sign(&fake.key, &claims(&issuer, &nonce, "honest"));
    let (status, body) = callback(&app, &browser, &state, Some(&issuer)).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(browser.me(&app).await.1["email"], "honest@fake.example");
}

async fn jwks_is_refetched_for_an_unknown_kid(b: Backend) {
    let Some((fake, app)) = with_fake(b).await else { return };
    let issuer = fake.issuer().to_owned();
    // Discovery and JWKS are fetched (and cached) on the first login.
    let (browser, state, nonce) = start(&app, &fake).await;
    *fake.state.id_token.lock().unwrap() = fake.key.sign_jws("JWT", &claims(&issuer, &nonce, "rot")).unwrap();
    assert_eq!(callback(&app, &browser, &state, Some(&issuer)).await.0, 303);

    // The upstream rotates to a new key (OIDC Core §10.1.1).
    let next = KeyMaterial::generate(Algorithm::RS256).unwrap().0;
    fake.state.keys.lock().unwrap().push(next.public_jwk());
    // Within the refetch interval the cached JWKS answers: unknown kid, refused.
    let (browser, state, nonce) = start(&app, &fake).await;
    *fake.state.id_token.lock().unwrap() = next.sign_jws("JWT", &claims(&issuer, &nonce, "rot")).unwrap();
    assert_eq!(callback(&app, &browser, &state, Some(&issuer)).await.0, 400);
    // Later, the unknown kid makes Gatehouse fetch the JWKS again, and the new key verifies.
    app.clock.advance(11);
    let (browser, state, nonce) = start(&app, &fake).await;
    *fake.state.id_token.lock().unwrap() = next.sign_jws("JWT", &claims(&issuer, &nonce, "rot")).unwrap();
    let (status, body) = callback(&app, &browser, &state, Some(&issuer)).await;
    assert_eq!(status, 303, "{body}");
}

/// OIDC Core §3.1.2.1 `max_age` / §2 `auth_time` through federation: a session opened by an
/// upstream sign-in is as old as that sign-in, not as the callback. The browser can drop
/// `prompt=login` from `/login/{provider}`, and the upstream then reuses an old session.
async fn session_is_as_fresh_as_the_upstream_sign_in(b: Backend) {
    let Some((fake, app)) = with_fake(b).await else { return };
    let issuer = fake.issuer().to_owned();
    let client = web_client(&app, &["--skip-consent"]).await;
    let id = client["client_id"].as_str().unwrap();
    let sign_in = |sub: &'static str, auth_time: Option<i64>| {
        let (fake, app, issuer) = (&fake, &app, &issuer);
        async move {
            let (browser, state, nonce) = start(app, fake).await;
            let mut c = claims(issuer, &nonce, sub);
            if let Some(t) = auth_time {
                c["auth_time"] = json!(t);
            }
            *fake.state.id_token.lock().unwrap() = fake.key.sign_jws("JWT", &c).unwrap();
            let (status, body) = callback(app, &browser, &state, Some(issuer)).await;
            assert_eq!(status, 303, "{body}");
            browser
        }
    };
    // Where /oauth2/authorize sends the browser first: the login page, or the app with a code.
    async fn authorize(app: &TestApp, id: &str, browser: &Browser, extra: &[(&str, &str)]) -> (String, String) {
        let (verifier, challenge) = pkce();
        let landed = browser.walk(&authorize_url(app, id, Some(&challenge), extra), |_| false).await;
        (landed.url, verifier)
    }

    /// The code in `to` exchanged at the token endpoint; the ID token's claims.
    async fn redeem_for_id_token(app: &TestApp, client: &Value, to: &str, verifier: &str) -> Value {
        let code = query_of(to)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        let body: Value = token_request(app, client, &form).await.json().await.unwrap();
        let payload = body["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    // Upstream authenticated two hours ago: too old for max_age=600, whatever the callback time.
    let two_hours_ago = now() - 7200;
    let browser = sign_in("old-login", Some(two_hours_ago)).await;
    let (to, _) = authorize(&app, id, &browser, &[("max_age", "600")]).await;
    assert!(to.contains("/login?") && to.contains("prompt=login"), "{to}");
    // Without max_age a code is issued, and the ID token tells the app the real auth_time.
    let (to, verifier) = authorize(&app, id, &browser, &[]).await;
    assert!(to.starts_with(REDIRECT), "{to}");
    let id_token = redeem_for_id_token(&app, &client, &to, &verifier).await;
    assert_eq!(id_token["auth_time"], json!(two_hours_ago));

    // A recent upstream sign-in satisfies max_age.
    let browser = sign_in("recent-login", Some(now() - 5)).await;
    let (to, _) = authorize(&app, id, &browser, &[("max_age", "600")]).await;
    assert!(to.starts_with(REDIRECT), "{to}");

    // No auth_time from the upstream: never fresh enough for any max_age.
    let browser = sign_in("unknown-login", None).await;
    let (to, _) = authorize(&app, id, &browser, &[("max_age", "86400")]).await;
    assert!(to.contains("/login?"), "{to}");
    // Without max_age it gets a code, and the ID token leaves the unknown auth_time out
    // rather than claiming 1970 (Core §2: required only with max_age).
    let (to, verifier) = authorize(&app, id, &browser, &[]).await;
    assert!(to.starts_with(REDIRECT), "{to}");
    let id_token = redeem_for_id_token(&app, &client, &to, &verifier).await;
    assert!(id_token.get("auth_time").is_none(), "{id_token}");
    assert_eq!(id_token["amr"], json!(["fed"]));
}

/// The browser-binding cookie is sent again with a fresh Max-Age on every login start, keeping
/// its value (other tabs' logins stay valid): a cookie set 9 minutes ago must not expire in the
/// middle of a login started now.
async fn binding_cookie_is_refreshed_when_a_login_starts(b: Backend) {
    let Some((_fake, app)) = with_fake(b).await else { return };
    let browser = Browser::new();
    let binding = |r: &reqwest::Response| -> Option<String> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|h| h.to_str().ok())
            .find(|c| c.starts_with("gatehouse_federation="))
            .map(str::to_owned)
    };
    let first = browser.client.get(app.url("/login/fake")).send().await.unwrap();
    let first = binding(&first).expect("a binding cookie");
    let second = browser.client.get(app.url("/login/fake")).send().await.unwrap();
    let second = binding(&second).expect("the binding cookie sent again");
    assert!(second.contains("Max-Age=600"), "{second}");
    let value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_eq!(value(&first), value(&second), "the same binding");
}
