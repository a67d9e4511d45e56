//! Bad input gets a clear 4xx in our JSON error format and changes nothing.

use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(malformed_requests_get_the_right_4xx, health_and_readiness, unknown_paths_are_json_404s);

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("JSON error body");
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned())
}

async fn malformed_requests_get_the_right_4xx(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let post = |path: &str, ct: &str, body: Vec<u8>| {
        app.client.post(app.url(path)).header("content-type", ct).body(body).send()
    };
    let register = "/api/v1/auth/register";
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (register, "application/json", b"{\"email\": ".to_vec(), 400, "invalid_request"),
        (register, "application/json", b"not json".to_vec(), 400, "invalid_request"),
        (
            register,
            "application/json",
            b"{\"email\":\"a@example.com\",\"password\":\"x\"} trailing".to_vec(),
            400,
            "invalid_request",
        ),
        (register, "application/json", b"{\"email\": 5, \"password\": []}".to_vec(), 422, "invalid_request"),
        (register, "application/json", b"{\"password\": \"long enough pw\"}".to_vec(), 422, "invalid_request"),
        (
            register,
            "text/plain",
            b"{\"email\":\"a@example.com\",\"password\":\"long enough pw\"}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            register,
            "application/x-www-form-urlencoded",
            b"email=a%40example.com".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            register,
            "application/json",
            b"{\"email\":\"a\xff\xfe@example.com\",\"password\":\"long enough pw\"}".to_vec(),
            400,
            "invalid_request",
        ),
        ("/api/v1/auth/login", "application/json", vec![b' '; 70 * 1024], 413, "payload_too_large"),
        (
            register,
            "application/json",
            format!("{{\"email\":\"big@example.com\",\"password\":\"{}\"}}", "x".repeat(65 * 1024)).into_bytes(),
            413,
            "payload_too_large",
        ),
    ];
    for (path, ct, body, status, code) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (got_status, got_code) = error_of(post(path, ct, body).await.unwrap()).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{path} {ct} {preview}");
    }
    // Form endpoints: invalid UTF-8 in a field is refused, not replaced.
    let page = app.client.get(app.url("/register")).send().await.unwrap().text().await.unwrap();
    let csrf = crate::helpers::csrf_from(&page);
    let body = format!("csrf_token={csrf}&email=x%FF%40example.com&password=long+enough+pw");
    let r = post("/register", "application/x-www-form-urlencoded", body.into_bytes()).await.unwrap();
    assert_eq!(r.status(), 400);
    // None of the refused requests created an account.
    assert_eq!(app.login("a@example.com", "long enough pw").await.status(), 401);
    assert_eq!(app.login("big@example.com", &"x".repeat(65 * 1024)).await.status(), 413);
    assert_eq!(app.register("a@example.com", PASSWORD).await.status(), 202);
}

async fn health_and_readiness(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
}

async fn unknown_paths_are_json_404s(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let r = app.client.get(app.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(error_of(r).await, (404, "not_found".to_owned()));
    let r = app.client.delete(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}
