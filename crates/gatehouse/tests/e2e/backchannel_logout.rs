//! OpenID Connect Back-Channel Logout 1.0 end to end: a small receiver on loopback stands in
//! for a client's `backchannel_logout_uri`; sessions end through RP-initiated logout and the
//! admin API; the receiver checks each logout token against our JWKS as an RP would (§2.6).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, client_token};
use crate::helpers::{Backend, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, create_client, pkce, query_of, token_request, web_client};
use crate::on_both_backends;
use crate::tokens::{decode_part, jwks};

on_both_backends!(
    rp_initiated_logout_sends_one_verifiable_logout_token,
    refused_deliveries_are_retried_then_given_up,
    admin_revoking_sessions_tells_the_clients,
    backchannel_logout_uri_is_checked_at_registration,
);

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A client's back-channel logout endpoint: records every `logout_token` POSTed to it and
/// answers 500 to the first `fail_first` requests (`usize::MAX`: always), 200 after that.
struct Receiver {
    uri: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct ReceiverState {
    tokens: Arc<Mutex<Vec<String>>>,
    fail_first: Arc<AtomicUsize>,
}

async fn receive(
    State(s): State<ReceiverState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    // §2.5: an application/x-www-form-urlencoded POST with the single parameter logout_token.
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(form.len(), 1, "{form:?}");
    s.tokens.lock().unwrap().push(form["logout_token"].clone());
    let left = s.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        if left != usize::MAX {
            s.fail_first.store(left - 1, Ordering::SeqCst);
        }
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

async fn receiver(fail_first: usize) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let state = ReceiverState { tokens: tokens.clone(), fail_first: Arc::new(AtomicUsize::new(fail_first)) };
    let app = axum::Router::new().route("/backchannel", axum::routing::post(receive)).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { uri: format!("http://{addr}/backchannel"), tokens }
}

impl Receiver {
    fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    /// Waits until `n` tokens arrived (the sender is asynchronous), then a little longer to
    /// see that no more come.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..300 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.received()
    }
}

/// §2.6 as an RP does it: RS256 signature by a key of our JWKS, `typ` `logout+jwt`, then the
/// claims. Returns `(header, claims)`.
async fn verify_logout_token(app: &TestApp, token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_part(parts[0]);
    let claims = decode_part(parts[1]);
    assert_eq!(header["alg"], "RS256", "the ID token algorithm (§2.4)");
    assert_eq!(header["typ"], "logout+jwt", "explicit typing (§2.4, §4.1)");
    let keys = jwks(app).await;
    let jwk = keys["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("kid in the JWKS");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    PublicKeyComponents { n, e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
        .expect("signature verifies with our JWKS");
    assert_eq!(claims["iss"], app.base.as_str());
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 120, "short-lived: {claims}");
    assert!((iat - app.clock_now()).abs() < 60, "issued now: {claims}");
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    assert_eq!(claims["events"], json!({ EVENT: {} }), "§2.4 events");
    assert!(claims.get("nonce").is_none(), "§2.4: a logout token MUST NOT contain nonce");
    (header, claims)
}

/// Signs in (through `user`'s session) to `client` and returns its ID token's claims.
async fn sign_in(app: &TestApp, user: &reqwest::Client, client: &Value) -> (String, Value) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(app, user, &url, "ada@example.com", "allow").await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens: Value = token_request(app, client, &form).await.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let claims = decode_part(id_token.split('.').nth(1).unwrap());
    (id_token, claims)
}

async fn rp_initiated_logout(app: &TestApp, user: &reqwest::Client, id_token: &str) {
    let r = user.get(app.url(&format!("/oauth2/logout?id_token_hint={id_token}"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(app.me(user).await.status(), 401, "signed out");
}

fn fast_retries(s: &mut gatehouse::config::Settings) {
    s.backchannel_logout.retry_initial_delay = 1;
    s.backchannel_logout.retry_max_delay = 1;
    s.backchannel_logout.poll_interval = 1;
}

/// §2.4, §2.5, §2.8: RP-initiated logout ends the session; the client that signed in with a
/// `backchannel_logout_uri` gets exactly one logout token, verifiable with our JWKS, whose `sid`
/// and `sub` are its ID token's; a client of the same session without the URI gets nothing.
async fn rp_initiated_logout_sends_one_verifiable_logout_token(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let rp = receiver(0).await;
    let with_uri = web_client_for(&app, &["--skip-consent", "--backchannel-logout-uri", &rp.uri]).await;
    let without = web_client(&app, &["--skip-consent"]).await;
    let user = browser();
    let (id_token, id_claims) = sign_in(&app, &user, &with_uri).await;
    sign_in(&app, &user, &without).await;
    assert!(id_claims["sid"].is_string(), "the ID token carries sid");
    assert!(rp.received().is_empty(), "nothing before the session ends");
    rp_initiated_logout(&app, &user, &id_token).await;
    let got = rp.wait_for(1).await;
    assert_eq!(got.len(), 1, "exactly one logout token: {got:?}");
    let (_, claims) = verify_logout_token(&app, &got[0]).await;
    assert_eq!(claims["aud"], with_uri["client_id"]);
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["sub"], id_claims["sub"]);
    let delivered: Vec<_> =
        app.audit_events().await.into_iter().filter(|e| e.0 == "logout.backchannel_delivered").collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].3.contains(with_uri["client_id"].as_str().unwrap()));
}

async fn web_client_for(app: &TestApp, extra: &[&str]) -> Value {
    assert_eq!(app.register("ada@example.com", crate::helpers::PASSWORD).await.status(), 202);
    web_client(app, extra).await
}

/// §2.8: any answer but 200/204 is retried with a fresh logout token (new `jti`, same `sid`);
/// a client that keeps refusing is given up after the configured attempts and audited.
async fn refused_deliveries_are_retried_then_given_up(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        fast_retries(s);
        s.backchannel_logout.max_attempts = 3;
    })
    .await
    else {
        return;
    };
    let flaky = receiver(1).await;
    let broken = receiver(usize::MAX).await;
    let a = web_client_for(&app, &["--skip-consent", "--backchannel-logout-uri", &flaky.uri]).await;
    let c = web_client(&app, &["--skip-consent", "--backchannel-logout-uri", &broken.uri]).await;
    let user = browser();
    let (id_token, id_claims) = sign_in(&app, &user, &a).await;
    sign_in(&app, &user, &c).await;
    rp_initiated_logout(&app, &user, &id_token).await;
    let got = flaky.wait_for(2).await;
    assert_eq!(got.len(), 2, "refused once, then accepted: {got:?}");
    let (_, first) = verify_logout_token(&app, &got[0]).await;
    let (_, second) = verify_logout_token(&app, &got[1]).await;
    assert_ne!(first["jti"], second["jti"], "a retry is a new token");
    assert_eq!(first["sid"], id_claims["sid"]);
    assert_eq!(second["sid"], id_claims["sid"]);
    assert_eq!(broken.wait_for(3).await.len(), 3, "max_attempts = 3");
    let mut failed = Vec::new();
    for _ in 0..100 {
        failed = app.audit_events().await.into_iter().filter(|e| e.0 == "logout.backchannel_failed").collect();
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].1, "failure");
    assert!(failed[0].3.contains("HTTP 500") && failed[0].3.contains(c["client_id"].as_str().unwrap()), "{failed:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(broken.received().len(), 3, "nothing after giving up");
    assert_eq!(flaky.received().len(), 2, "nothing after success");
}

/// An admin ending a user's sessions (`DELETE /admin/v1/users/{id}/sessions`) tells the
/// clients of those sessions (Back-Channel Logout 1.0 §2.3, §2.5).
async fn admin_revoking_sessions_tells_the_clients(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let rp = receiver(0).await;
    let client = web_client_for(&app, &["--skip-consent", "--backchannel-logout-uri", &rp.uri]).await;
    let user = browser();
    let (_, id_claims) = sign_in(&app, &user, &client).await;
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let sub = id_claims["sub"].as_str().unwrap();
    let r = call(&app, Some(&admin), Method::DELETE, &format!("/admin/v1/users/{sub}/sessions"), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.me(&user).await.status(), 401);
    let got = rp.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let (_, claims) = verify_logout_token(&app, &got[0]).await;
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["aud"], client["client_id"]);
}

/// §2.2: `backchannel_logout_uri` is an absolute URL without a fragment; Gatehouse accepts
/// http only on loopback. Refused through the CLI and the admin API (422, no change); set,
/// shown and removed through the admin API.
async fn backchannel_logout_uri_is_checked_at_registration(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    for bad in ["http://rp.example.com/logout", "https://rp.example.com/logout#frag", "/logout"] {
        let out = app
            .cli(
                &["clients", "create", "--name", "Bad", "--redirect-uri", REDIRECT, "--backchannel-logout-uri", bad],
                None,
            )
            .await;
        assert!(!out.status.success(), "{bad} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("backchannel_logout_uri"), "{bad}");
    }
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    for bad in ["http://rp.example.com/bc", "https://rp.example.com/bc#", "https://rp.example.com/b c"] {
        let body = json!({ "name": "RP", "redirect_uris": [REDIRECT], "backchannel_logout_uri": bad });
        let r = call(&app, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await;
        assert_eq!(r.status(), 422, "{bad:?}");
        let err: Value = r.json().await.unwrap();
        assert!(err["error_description"].as_str().unwrap().contains("backchannel_logout_uri"), "{err}");
        assert!(!err.to_string().contains("rp.example.com"), "the input is not echoed: {err}");
    }
    // A NUL byte is refused at the edge, before any rule (400, the JSON extractor's check).
    let body = json!({ "name": "RP", "redirect_uris": [REDIRECT], "backchannel_logout_uri": "https://rp.example.com/b\u{0}c" });
    assert_eq!(call(&app, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await.status(), 400);
    let body = json!({
        "name": "RP",
        "redirect_uris": [REDIRECT],
        "backchannel_logout_uri": "https://rp.example.com/bc",
        "backchannel_logout_session_required": true,
    });
    let r = call(&app, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["backchannel_logout_uri"], "https://rp.example.com/bc");
    assert_eq!(created["backchannel_logout_session_required"], true);
    let path = format!("/admin/v1/clients/{}", created["client_id"].as_str().unwrap());
    let bad = json!({ "backchannel_logout_uri": "https://rp.example.com/bc#x" });
    assert_eq!(call(&app, Some(&admin), Method::PATCH, &path, Some(&bad)).await.status(), 422);
    let cleared = json!({ "backchannel_logout_uri": null });
    let r = call(&app, Some(&admin), Method::PATCH, &path, Some(&cleared)).await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["backchannel_logout_uri"], Value::Null);
    let shown =
        create_client(&app, &["--redirect-uri", REDIRECT, "--backchannel-logout-uri", "http://127.0.0.1:9/bc"]).await;
    assert_eq!(shown["backchannel_logout_uri"], "http://127.0.0.1:9/bc");
}
