//! The GitHub kind (plain OAuth 2.0, RFC 6749 §4.1 with PKCE per RFC 7636; no ID token) against
//! a fake GitHub on loopback (`github_web_url` / `github_api_url`, as for GitHub Enterprise):
//! PKCE S256 verified by the fake token endpoint, the identity from `/user` and the primary
//! verified address from `/user/emails`, an unverified address never linking, a token error
//! becoming a page, and `prompt=login` refused because GitHub cannot honour it.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gatehouse::config::ProviderEntry;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::federation_harness::{Browser, bind, downstream, failure_reasons, secret_file};
use crate::helpers::{Backend, PASSWORD};
use crate::oauth::query_of;
use crate::on_both_backends;

on_both_backends!(github_kind_against_a_fake_github);

const CLIENT_ID: &str = "Iv1.fakegithubclient";
const SECRET: &str = "fake-github-secret-0123456789abcdef";

#[derive(Default)]
struct Fake {
    user_id: Mutex<u64>,
    emails: Mutex<Value>,
    verifier: Mutex<Option<String>>,
}

async fn start_fake() -> (String, Arc<Fake>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake::default());
    let (f1, f2, f3) = (fake.clone(), fake.clone(), fake.clone());
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{SECRET}")));
    let app = axum::Router::new()
        .route(
            "/login/oauth/access_token",
            post(move |headers: HeaderMap, form: axum::extract::Form<Vec<(String, String)>>| async move {
                let field = |k: &str| form.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                // GitHub answers errors with 200 and an `error` member.
                if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(basic.as_str())
                    || field("code").as_deref() == Some("bad")
                {
                    return Json(json!({ "error": "bad_verification_code" })).into_response();
                }
                match field("code").as_deref() {
                    // An outage, and an answer too large to buffer.
                    Some("down") => return (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response(),
                    Some("huge") => return Json(json!({ "access_token": "x".repeat(2 << 20) })).into_response(),
                    _ => {}
                }
                *f1.verifier.lock().unwrap() = field("code_verifier");
                Json(json!({ "access_token": "gho_fake", "token_type": "bearer", "scope": "read:user,user:email" }))
                    .into_response()
            }),
        )
        .route(
            "/user",
            get(move |headers: HeaderMap| async move {
                assert_eq!(headers["authorization"], "Bearer gho_fake");
                let id = *f3.user_id.lock().unwrap();
                Json(json!({ "login": "octocat", "id": id, "name": "The Octocat", "email": "profile@gh.example" }))
            }),
        )
        .route("/user/emails", get(move || async move { Json(f2.emails.lock().unwrap().clone()) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fake)
}

async fn github_kind_against_a_fake_github(b: Backend) {
    let (base, fake) = start_fake().await;
    let entry = ProviderEntry {
        id: "github".into(),
        kind: "github".into(),
        client_id: CLIENT_ID.into(),
        client_secret_file: Some(secret_file(SECRET)),
        github_web_url: Some(base.clone()),
        github_api_url: Some(base.clone()),
        ..ProviderEntry::default()
    };
    let (listener, _) = bind().await;
    let Some(app) = downstream(b, listener, vec![entry], |_| {}).await else { return };
    let login = |code: &'static str| {
        let app = &app;
        let base = base.clone();
        async move {
            let browser = Browser::new();
            let stopped = browser.walk(&app.url("/login/github"), |_| false).await;
            assert!(stopped.url.starts_with(&format!("{base}/login/oauth/authorize?")), "{}", stopped.url);
            let q = query_of(&stopped.url);
            assert_eq!(q["code_challenge_method"], "S256");
            assert_eq!(q["client_id"], CLIENT_ID);
            assert!(!q.contains_key("nonce"), "no ID token, no nonce");
            let cb = format!("/login/github/callback?code={code}&state={}", q["state"]);
            let r = browser.client.get(app.url(&cb)).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            (browser, q["code_challenge"].clone(), status, body)
        }
    };

    *fake.user_id.lock().unwrap() = 583231;
    *fake.emails.lock().unwrap() = json!([
        { "email": "other@gh.example", "verified": true, "primary": false },
        { "email": "octo@gh.example", "verified": true, "primary": true }
    ]);
    let (browser, challenge, status, body) = login("good").await;
    assert_eq!(status, 303, "{body}");
    let verifier = fake.verifier.lock().unwrap().clone().expect("the code_verifier reached the token endpoint");
    assert_eq!(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())), challenge, "RFC 7636 §4.6");
    let (_, me) = browser.me(&app).await;
    assert_eq!(me["email"], "octo@gh.example", "the primary verified address, not the profile's");

    // The same GitHub id with another (even unverified) address is the same account.
    *fake.emails.lock().unwrap() = json!([{ "email": "renamed@gh.example", "verified": false, "primary": true }]);
    let (browser, _, status, _) = login("good").await;
    assert_eq!(status, 303);
    assert_eq!(browser.me(&app).await.1["id"], me["id"]);

    // Another GitHub user whose unverified primary address names a local account: refused.
    assert_eq!(app.register("taken@example.com", PASSWORD).await.status(), 202);
    *fake.user_id.lock().unwrap() = 666;
    *fake.emails.lock().unwrap() = json!([{ "email": "taken@example.com", "verified": false, "primary": true }]);
    let (browser, _, status, _) = login("good").await;
    assert_eq!(status, 403);
    assert_eq!(browser.me(&app).await.0, 401);

    // A token endpoint error becomes a page and an audit reason.
    let (_, _, status, body) = login("bad").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(failure_reasons(&app).await, ["email_not_verified", "token_exchange_failed"]);
    // A token endpoint that is down, or answers more than 1 MiB: "unavailable" (502), not a
    // failed security check.
    for code in ["down", "huge"] {
        let (_, _, status, body) = login(code).await;
        assert_eq!(status, 502, "{code}: {body}");
    }
    let reasons = ["email_not_verified", "token_exchange_failed", "upstream_unavailable", "upstream_unavailable"];
    assert_eq!(failure_reasons(&app).await, reasons);

    // GitHub cannot promise a fresh sign-in: prompt=login is refused with a clear page.
    let r = Browser::new().client.get(app.url("/login/github?prompt=login")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("GitHub cannot guarantee"));
}
