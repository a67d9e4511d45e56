//! Strict verification of access tokens (RFC 8725, RFC 6750 §3.1): every forgery is refused
//! with 401 and `WWW-Authenticate: Bearer error="invalid_token"` by the server, and refused by
//! `gatehouse-guard`.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;
use crate::tokens::{decode_part, jwks, verify};

on_both_backends!(forged_tokens_are_refused_by_server_and_guard, bearer_tokens_authenticate_api_calls);

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

async fn real_token(app: &TestApp) -> String {
    app.register("victim@example.com", PASSWORD).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "victim@example.com", "password": PASSWORD, "token_delivery": "body" }))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn me_with(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap()
}

async fn bearer_tokens_authenticate_api_calls(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let token = real_token(&app).await;
    let r = me_with(&app, &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["email"], "victim@example.com");
    // No token at all: 401 with a bare challenge (RFC 6750 §3.1: no error code).
    let r = reqwest::Client::new().get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A disabled user's still-unexpired token no longer authenticates API calls.
    assert!(app.cli(&["users", "disable", "victim@example.com"], None).await.status.success());
    assert_eq!(me_with(&app, &token).await.status(), 401);
}

async fn forged_tokens_are_refused_by_server_and_guard(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let good = real_token(&app).await;
    let parts: Vec<&str> = good.split('.').collect();
    let header = decode_part(parts[0]);
    let claims = decode_part(parts[1]);
    let keys = jwks(&app).await;
    let es_key = keys["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap().clone();
    let rsa_key = keys["keys"].as_array().unwrap().iter().find(|k| k["alg"] == "RS256").unwrap().clone();
    let with_header = |extra: Value| {
        let mut h = header.clone();
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        format!("{}.{}.{}", b64(&h), parts[1], parts[2])
    };
    let with_claims = |extra: Value| {
        let mut c = claims.clone();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        format!("{}.{}.{}", parts[0], b64(&c), parts[2])
    };
    let mut forgeries: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] })), parts[1]),
        ),
        ("alg None", format!("{}.{}.", b64(&json!({ "alg": "None", "typ": "at+jwt" })), parts[1])),
        (
            "alg nOnE",
            format!("{}.{}.", b64(&json!({ "alg": "nOnE", "typ": "at+jwt", "kid": header["kid"] })), parts[1]),
        ),
        (
            "HS256 keyed with the EC public JWK",
            hs256(
                &json!({ "alg": "HS256", "typ": "at+jwt", "kid": header["kid"] }),
                &claims,
                es_key.to_string().as_bytes(),
            ),
        ),
        (
            "HS256 keyed with the RSA modulus",
            hs256(
                &json!({ "alg": "HS256", "typ": "at+jwt", "kid": rsa_key["kid"] }),
                &claims,
                &URL_SAFE_NO_PAD.decode(rsa_key["n"].as_str().unwrap()).unwrap(),
            ),
        ),
        ("unknown kid", with_header(json!({ "kid": "no-such-key" }))),
        ("jku header", with_header(json!({ "jku": "https://evil.test/jwks" }))),
        ("jwk header", with_header(json!({ "jwk": es_key.clone() }))),
        ("x5u header", with_header(json!({ "x5u": "https://evil.test/cert" }))),
        ("x5c header", with_header(json!({ "x5c": ["MIIB"] }))),
        ("typ JWT", with_header(json!({ "typ": "JWT" }))),
        ("alg switched to RS256", with_header(json!({ "alg": "RS256" }))),
        ("other issuer", with_claims(json!({ "iss": "https://evil.test" }))),
        ("other audience", with_claims(json!({ "aud": "https://other-api.test" }))),
        ("longer lifetime", with_claims(json!({ "exp": claims["exp"].as_i64().unwrap() + 3600 }))),
        ("not yet valid", with_claims(json!({ "nbf": app.clock_now() + 3600 }))),
        ("truncated", parts[..2].join(".")),
        ("garbage", "not.a.token".into()),
    ];
    forgeries.push(("extra part", format!("{good}.AAAA")));
    for (what, token) in &forgeries {
        let r = me_with(&app, token).await;
        assert_eq!(r.status(), 401, "server accepted: {what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
        assert!(verify(&app, token).await.is_err(), "guard accepted: {what}");
    }
    // Expiry: the genuine token stops working after 15 minutes plus the leeway.
    assert_eq!(me_with(&app, &good).await.status(), 200);
    app.clock.advance(900 + 31);
    assert_eq!(me_with(&app, &good).await.status(), 401, "expired");
    assert!(verify(&app, &good).await.is_err());
}
