//! Signing keys, JWKS, access tokens, the first-party token API and refresh-token rotation
//! with reuse detection (RFC 9068, RFC 7517, RFC 9700 §4.14.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, set_cookies};
use crate::on_both_backends;

on_both_backends!(
    token_api_issues_rfc9068_access_token_and_refresh_cookie,
    cookie_refresh_needs_csrf_header_and_rotates,
    reused_refresh_token_revokes_the_whole_family,
    concurrent_refreshes_of_one_token_let_exactly_one_win,
    body_delivery_for_mobile_clients,
    logout_revokes_the_refresh_family,
    refresh_lifetimes_follow_the_clock,
    disabling_or_password_change_revokes_refresh_tokens,
    jwks_publishes_public_keys_with_cache_headers,
    key_rotation_end_to_end,
    wrong_or_missing_master_key_stops_start_up,
    hs256_when_explicitly_configured,
);

pub fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

pub async fn jwks(app: &TestApp) -> Value {
    app.client.get(app.url("/oauth2/jwks")).send().await.unwrap().json().await.unwrap()
}

/// Verifies a token as a resource server would: with `gatehouse-guard` against our JWKS.
pub async fn verify(app: &TestApp, token: &str) -> Result<gatehouse_guard::AccessClaims, gatehouse_guard::VerifyError> {
    let body = app.client.get(app.url("/oauth2/jwks")).send().await.unwrap().bytes().await.unwrap();
    let keys = gatehouse_guard::KeySet::from_jwks(&body).expect("our JWKS parses");
    let validation = gatehouse_guard::Validation::new(app.base.clone(), vec![app.base.clone()]);
    gatehouse_guard::verify(token, &keys, &validation, app.clock_now())
}

async fn token_login(app: &TestApp, client: &reqwest::Client, email: &str, body_delivery: bool) -> reqwest::Response {
    let mut req = json!({ "email": email, "password": PASSWORD });
    if body_delivery {
        req["token_delivery"] = json!("body");
    }
    client.post(app.url("/api/v1/auth/token")).json(&req).send().await.unwrap()
}

async fn refresh_with_body(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

async fn user_with_tokens(app: &TestApp, email: &str) -> (Value, String) {
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    let r = token_login(app, &browser(), email, true).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    (body, refresh)
}

async fn token_api_issues_rfc9068_access_token_and_refresh_cookie(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let user: Value = app.register_user("tok@example.com", PASSWORD).await;
    let r = token_login(&app, &app.client, "tok@example.com", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&r);
    let cookie = cookies.iter().find(|c| c.starts_with("gatehouse_refresh=")).expect("refresh cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age=604800"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body.get("refresh_token").is_none(), "cookie delivery keeps it out of the body");
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header = decode_part(parts[0]);
    // RFC 9068 §2.1: typ at+jwt; ES256 by default; kid names a published key.
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks = jwks(&app).await;
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"]));
    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti.
    let claims = decode_part(parts[1]);
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], app.base.as_str());
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["client_id"], "gatehouse");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let verified = verify(&app, token).await.expect("the guard accepts our token");
    assert_eq!(verified.sub, user["id"].as_str().unwrap());
    // The same failure as the session login for wrong credentials.
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "tok@example.com", "password": "nope nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_credentials");
}

async fn cookie_refresh_needs_csrf_header_and_rotates(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("csrf@example.com", PASSWORD).await;
    let c = &app.client;
    let first = token_login(&app, c, "csrf@example.com", false).await;
    let first_cookie = set_cookies(&first).into_iter().find(|c| c.starts_with("gatehouse_refresh=")).unwrap();
    let r = c.post(app.url("/api/v1/auth/refresh")).send().await.unwrap();
    assert_eq!(r.status(), 403, "no X-Gatehouse-CSRF header");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_header_missing");
    let r = c
        .post(app.url("/api/v1/auth/refresh"))
        .header("x-gatehouse-csrf", "1")
        .header("origin", "https://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "foreign Origin");
    let r = c.post(app.url("/api/v1/auth/refresh")).header("x-gatehouse-csrf", "1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let second_cookie =
        set_cookies(&r).into_iter().find(|c| c.starts_with("gatehouse_refresh=")).expect("rotated cookie");
    assert_ne!(first_cookie.split(';').next(), second_cookie.split(';').next());
    let body: Value = r.json().await.unwrap();
    assert!(verify(&app, body["access_token"].as_str().unwrap()).await.is_ok());
    // And again with the rotated cookie.
    let r = c.post(app.url("/api/v1/auth/refresh")).header("x-gatehouse-csrf", "1").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn reused_refresh_token_revokes_the_whole_family(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, first) = user_with_tokens(&app, "reuse@example.com").await;
    let r = refresh_with_body(&app, &first).await;
    assert_eq!(r.status(), 200);
    let second = r.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();
    // An attacker replays the first token: refused, and the family is revoked ...
    let r = refresh_with_body(&app, &first).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // ... so the newest token, held by the legitimate client, stops working too.
    assert_eq!(refresh_with_body(&app, &second).await.status(), 401);
    let events = app.audit_events().await;
    let reuse = events.iter().find(|e| e.0 == "refresh_token.reuse_detected").expect("audit event");
    assert_eq!(reuse.1, "failure");
    assert!(
        !format!("{events:?}").contains(&first) && !format!("{events:?}").contains(&second),
        "no token in the audit log"
    );
    // Unknown tokens are simply invalid.
    assert_eq!(refresh_with_body(&app, "bm90LWEtdG9rZW4").await.status(), 401);
}

async fn concurrent_refreshes_of_one_token_let_exactly_one_win(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, token) = user_with_tokens(&app, "race@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (url, token) = (app.url("/api/v1/auth/refresh"), token.clone());
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({ "refresh_token": token }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
}

async fn body_delivery_for_mobile_clients(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (body, refresh) = user_with_tokens(&app, "mobile@example.com").await;
    assert_eq!(refresh.len(), 43, "256 random bits");
    assert!(verify(&app, body["access_token"].as_str().unwrap()).await.is_ok());
    let r = refresh_with_body(&app, &refresh).await;
    assert_eq!(r.status(), 200);
    assert!(set_cookies(&r).iter().all(|c| !c.starts_with("gatehouse_refresh=")), "no cookie for body delivery");
    let next: Value = r.json().await.unwrap();
    assert_ne!(next["refresh_token"], refresh.as_str());
    // Malformed bodies are 4xx, not a fall-back to the cookie.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn logout_revokes_the_refresh_family(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("out@example.com", PASSWORD).await;
    let c = &app.client;
    token_login(&app, c, "out@example.com", false).await;
    let r = c.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        set_cookies(&r).iter().any(|c| c.starts_with("gatehouse_refresh=;")
            || c.starts_with("gatehouse_refresh=\"\"")
            || (c.starts_with("gatehouse_refresh=") && c.contains("Max-Age=0"))),
        "refresh cookie cleared"
    );
    // A copy of the cookie kept by an attacker no longer works either.
    let (_, refresh) = user_with_tokens(&app, "out2@example.com").await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(refresh_with_body(&app, &refresh).await.status(), 401);
}

async fn refresh_lifetimes_follow_the_clock(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    // Idle: 3 days without use ends the token.
    let (_, idle) = user_with_tokens(&app, "idle-rt@example.com").await;
    app.clock.advance(3 * 86_400);
    assert_eq!(refresh_with_body(&app, &idle).await.status(), 401);
    // Absolute: used every two days, the family still ends 7 days after the login.
    let (_, mut token) = user_with_tokens(&app, "abs-rt@example.com").await;
    for day in [2, 4, 6] {
        app.clock.advance(2 * 86_400);
        let r = refresh_with_body(&app, &token).await;
        assert_eq!(r.status(), 200, "day {day}");
        let body: Value = r.json().await.unwrap();
        let claims = decode_part(body["access_token"].as_str().unwrap().split('.').nth(1).unwrap());
        assert_eq!(claims["iat"], app.clock_now(), "access tokens are stamped with the server's clock");
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    app.clock.advance(86_400);
    assert_eq!(refresh_with_body(&app, &token).await.status(), 401, "day 7");
}

async fn disabling_or_password_change_revokes_refresh_tokens(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, a) = user_with_tokens(&app, "dis@example.com").await;
    let (_, p) = user_with_tokens(&app, "pw@example.com").await;
    assert!(app.cli(&["users", "disable", "dis@example.com"], None).await.status.success());
    assert_eq!(refresh_with_body(&app, &a).await.status(), 401);
    let out = app
        .cli(&["users", "set-password", "pw@example.com", "--password-stdin"], Some("an entirely new passphrase"))
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(refresh_with_body(&app, &p).await.status(), 401);
}

async fn jwks_publishes_public_keys_with_cache_headers(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let r = app.client.get(app.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let max_age: i64 = cache.trim_start_matches("public, max-age=").parse().unwrap();
    assert!(max_age > 0 && max_age < 86_400, "cached for less than the publish delay");
    let body: Value = r.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    for k in keys {
        assert_eq!(k["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "private member {private} published");
        }
        assert_eq!(k["kid"].as_str().unwrap().len(), 43, "RFC 7638 SHA-256 thumbprint");
    }
}

async fn key_rotation_end_to_end(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let kid_of = |token: &str| decode_part(token.split('.').next().unwrap())["kid"].as_str().unwrap().to_owned();
    let (body, _) = user_with_tokens(&app, "rot@example.com").await;
    let t1 = body["access_token"].as_str().unwrap().to_owned();
    let k1 = kid_of(&t1);
    let rotate = |args: &'static [&'static str]| app.cli(args, None);

    // Emergency rotation: the new key signs at once; tokens of the old key keep verifying.
    let out = rotate(&["keys", "rotate", "--alg", "ES256", "--immediately", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k2 = serde_json::from_slice::<Value>(&out.stdout).unwrap()[0]["kid"].as_str().unwrap().to_owned();
    app.wait_for_signing_kid("rot@example.com", &k2).await;
    assert!(verify(&app, &t1).await.is_ok(), "a token signed before the rotation still verifies");
    assert!(jwks(&app).await.to_string().contains(&k1), "the retired key is still published");

    // Scheduled-style rotation: the next key is published before it signs.
    let out = rotate(&["keys", "rotate", "--alg", "ES256", "--json"]).await;
    let k3 = serde_json::from_slice::<Value>(&out.stdout).unwrap()[0]["kid"].as_str().unwrap().to_owned();
    app.wait_for_jwks(|k| k.contains(&k3)).await;
    let t2 = token_login(&app, &browser(), "rot@example.com", true).await.json::<Value>().await.unwrap();
    assert_eq!(kid_of(t2["access_token"].as_str().unwrap()), k2, "the next key does not sign before its publish delay");
    let listed: Value = serde_json::from_slice(&app.cli(&["keys", "list", "--json"], None).await.stdout).unwrap();
    let state = |kid: &str| listed.as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap()["state"].clone();
    assert_eq!((state(&k1), state(&k2), state(&k3)), (json!("retired"), json!("active"), json!("next")));

    // Once every token the retired key signed has expired — ID tokens live longest, 1 h — plus
    // the leeway, it is unpublished.
    app.clock.advance(3600 + 31);
    app.wait_for_jwks(|k| !k.contains(&k1)).await;
    assert!(verify(&app, &t1).await.is_err());
    // After the publish delay the next key takes over.
    app.clock.advance(86_400 - 3600);
    app.wait_for_signing_kid("rot@example.com", &k3).await;
    assert!(jwks(&app).await.to_string().contains(&k2), "k2 stays published while its tokens live");
}

async fn wrong_or_missing_master_key_stops_start_up(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let out = app
        .cli_with_env(&["keys", "list"], &[("GATEHOUSE_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")])
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master key is not the one"), "{stderr}");
    let out = app.cli_with_env(&["keys", "list"], &[("GATEHOUSE_MASTER_KEY", "too-short")]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 bytes"));
    // Production (https issuer) without any master key refuses to start.
    let out = app
        .cli_with_env(
            &["keys", "list"],
            &[("GATEHOUSE_MASTER_KEY_FILE", ""), ("GATEHOUSE_ISSUER", "https://id.example.com")],
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no master key"), "{}", String::from_utf8_lossy(&out.stderr));
    // The right key works.
    assert!(app.cli(&["keys", "list"], None).await.status.success());
}

/// Interop: PyJWT verifies our access tokens of every algorithm against our JWKS. Skipped with
/// a note when PyJWT is not installed, unless `GATEHOUSE_REQUIRE_SERVICES=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_our_access_tokens() {
    let has_pyjwt = std::process::Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pyjwt {
        assert!(
            std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "GATEHOUSE_REQUIRE_SERVICES=1 but PyJWT is missing: pip install pyjwt cryptography"
        );
        eprintln!("skipped: PyJWT not installed (pip install pyjwt cryptography)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/verify_pyjwt.py");
    for alg in ["ES256", "EdDSA", "RS256"] {
        let app = TestApp::spawn_with(Backend::Sqlite, |s| s.tokens.access_token_alg = alg.into()).await.unwrap();
        let (body, _) = user_with_tokens(&app, "py@example.com").await;
        let token = body["access_token"].as_str().unwrap();
        let out = tokio::process::Command::new("python3")
            .args([script, &app.url("/oauth2/jwks"), token, &app.base, &app.base])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{alg}: {}", String::from_utf8_lossy(&out.stderr));
        let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verified["alg"], alg);
        assert_eq!(verified["claims"]["client_id"], "gatehouse");
        // A tampered token is refused by PyJWT too.
        // Flip a character well inside the signature (the last one may only carry padding bits).
        let mut tampered: Vec<char> = token.chars().collect();
        let i = tampered.len() - 10;
        tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        let out = tokio::process::Command::new("python3")
            .args([script, &app.url("/oauth2/jwks"), &tampered, &app.base, &app.base])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{alg}: PyJWT accepted a tampered signature");
    }
}

async fn hs256_when_explicitly_configured(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.tokens.access_token_alg = "HS256".into()).await else { return };
    let (body, _) = user_with_tokens(&app, "hs@example.com").await;
    let token = body["access_token"].as_str().unwrap();
    let header = decode_part(token.split('.').next().unwrap());
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    // The shared secret never appears in the JWKS, and our API accepts the token.
    let jwks = jwks(&app).await.to_string();
    assert!(!jwks.contains("HS256") && !jwks.contains("\"oct\""));
    let r = reqwest::Client::new().get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // A token signed with another secret is refused.
    let (input, _) = token.rsplit_once('.').unwrap();
    let tag =
        aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7u8; 32]), input.as_bytes());
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let r = reqwest::Client::new().get(app.url("/api/v1/me")).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(r.status(), 401);
}
