#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The guard against a tiny in-process issuer: a JWKS endpoint that counts its fetches, and the
//! guarded routes of a resource server, both on 127.0.0.1:0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_guard::{Authenticated, Guard, JwksCacheConfig, RequireScope, define_scope};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://posts.example.test";

define_scope!(PostsWrite = "posts:write");

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An ES256 signing key, as the issuer holds it.
struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        Self { kid: kid.into(), pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap() }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
               "kid": self.kid, "alg": "ES256", "use": "sig"})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn token(&self, issuer: &str, scope: &str) -> String {
        self.token_with_kid(&self.kid, issuer, scope)
    }

    fn token_with_kid(&self, kid: &str, issuer: &str, scope: &str) -> String {
        let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid});
        let now = now();
        let claims = json!({"iss": issuer, "sub": "user-1", "aud": AUDIENCE, "exp": now + 900, "iat": now,
                            "jti": "j1", "client_id": "spa", "scope": scope});
        self.sign(&header, &claims)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    Fail,
    Huge,
    Redirect,
}

/// The issuer's side: the published keys, a fetch counter and a failure switch.
#[derive(Clone)]
struct Issuer {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    max_age: u64,
}

async fn jwks(State(issuer): State<Issuer>) -> Response {
    issuer.fetches.fetch_add(1, Ordering::SeqCst);
    let mode = *issuer.mode.lock().unwrap();
    let cache_control = format!("public, max-age={}", issuer.max_age);
    match mode {
        Mode::Serve => {
            let doc = json!({"keys": *issuer.keys.lock().unwrap()});
            ([(header::CACHE_CONTROL, cache_control)], Json(doc)).into_response()
        }
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Huge => {
            let filler = "x".repeat(100 * 1024);
            Json(json!({"keys": *issuer.keys.lock().unwrap(), "filler": filler})).into_response()
        }
        Mode::Redirect => (StatusCode::FOUND, [(header::LOCATION, "/elsewhere/jwks")]).into_response(),
    }
}

async fn list_posts(Authenticated(claims): Authenticated) -> Json<Value> {
    Json(json!({"posts": [{"id": 1, "title": "hello"}], "viewer": claims.sub}))
}

async fn delete_post(auth: RequireScope<PostsWrite>, Path(id): Path<u64>) -> Json<Value> {
    Json(json!({"deleted": id, "by": auth.sub}))
}

struct TestApp {
    base: String,
    issuer: Issuer,
    guard: Guard,
    client: reqwest::Client,
    key: SigningKey,
}

impl TestApp {
    /// One server plays both parts; the issuer URL is known once the listener is bound.
    async fn spawn(config: JwksCacheConfig, max_age: u64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let key = SigningKey::new("key-1");
        let issuer = Issuer {
            keys: Arc::new(Mutex::new(vec![key.jwk()])),
            fetches: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Serve)),
            max_age,
        };
        let guard = Guard::builder(&base).audience(AUDIENCE).realm("posts").cache_config(config).build().unwrap();
        let elsewhere = json!({"keys": [key.jwk()]});
        let app = Router::new()
            .route("/oauth2/jwks", get(jwks))
            .route("/elsewhere/jwks", get(move || async move { Json(elsewhere) }))
            .with_state(issuer.clone())
            .merge(
                Router::new()
                    .route("/posts", get(list_posts))
                    .route("/posts/{id}", delete(delete_post))
                    .with_state(guard.clone()),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, issuer, guard, client: reqwest::Client::new(), key }
    }

    async fn default() -> Self {
        Self::spawn(JwksCacheConfig::default(), 600).await
    }

    fn fetches(&self) -> usize {
        self.issuer.fetches.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: Mode) {
        *self.issuer.mode.lock().unwrap() = mode;
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> (StatusCode, HeaderMap, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in resp.headers() {
            headers
                .append(name.as_str().parse::<header::HeaderName>().unwrap(), value.to_str().unwrap().parse().unwrap());
        }
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn get_posts(&self, token: Option<&str>) -> (StatusCode, HeaderMap, Value) {
        self.call(reqwest::Method::GET, "/posts", token).await
    }
}

fn challenge(headers: &HeaderMap) -> &str {
    headers.get(header::WWW_AUTHENTICATE).expect("WWW-Authenticate").to_str().unwrap()
}

fn random_kid() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    b64(bytes)
}

#[tokio::test]
async fn responses_follow_rfc_6750() {
    let app = TestApp::default().await;
    let reader = app.key.token(&app.base, "posts:read");
    let writer = app.key.token(&app.base, "posts:read posts:write");

    // §3.1: no credentials, no error code.
    let (status, headers, body) = app.get_posts(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&headers), r#"Bearer realm="posts""#);
    assert_eq!(body["error"], "unauthenticated");

    let (status, headers, body) = app.get_posts(Some("eyJ.not.valid")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&headers).starts_with(r#"Bearer realm="posts", error="invalid_token""#));
    assert_eq!(body, json!({"error": "invalid_token", "error_description": "The access token is invalid"}));

    let (status, _, body) = app.get_posts(Some(&reader)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["viewer"], "user-1");

    let (status, headers, body) = app.call(reqwest::Method::DELETE, "/posts/7", Some(&reader)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge(&headers), r#"Bearer error="insufficient_scope", scope="posts:write""#);
    assert_eq!(body["error"], "insufficient_scope");

    let (status, _, body) = app.call(reqwest::Method::DELETE, "/posts/7", Some(&writer)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"deleted": 7, "by": "user-1"}));

    // An invalid token on a scoped route is still a 401, not a 403.
    let (status, _, _) = app.call(reqwest::Method::DELETE, "/posts/7", Some("a.b.c")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_of_another_issuer_are_refused() {
    let app = TestApp::default().await;
    let foreign = app.key.token("https://other-issuer.example.test", "posts:read");
    let (status, headers, _) = app.get_posts(Some(&foreign)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&headers).contains(r#"error="invalid_token""#));
}

#[tokio::test]
async fn a_cache_hit_makes_no_fetch() {
    let app = TestApp::default().await;
    let token = app.key.token(&app.base, "posts:read");
    assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), 1);
    for _ in 0..20 {
        assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    }
    assert_eq!(app.fetches(), 1);
    assert_eq!(app.guard.jwks_cache().unwrap().fetch_count(), 1);
}

#[tokio::test]
async fn concurrent_cold_misses_share_one_fetch() {
    let app = Arc::new(TestApp::default().await);
    let token = Arc::new(app.key.token(&app.base, "posts:read"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, token) = (Arc::clone(&app), Arc::clone(&token));
        tasks.spawn(async move { app.get_posts(Some(&token)).await.0 });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(app.fetches(), 1);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_refetches_at_most_once() {
    let app = Arc::new(TestApp::default().await);
    app.guard.warm_up().await.unwrap();
    assert_eq!(app.fetches(), 1);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let app = Arc::clone(&app);
        tasks.spawn(async move {
            let token = app.key.token_with_kid(&random_kid(), &app.base, "posts:read");
            app.get_posts(Some(&token)).await.0
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert!(app.fetches() <= 2, "{} fetches", app.fetches());
    // The genuine key still works, from the cache.
    let before = app.fetches();
    assert_eq!(app.get_posts(Some(&app.key.token(&app.base, "posts:read"))).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), before);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_token() {
    let app = TestApp::default().await;
    let old = app.key.token(&app.base, "posts:read");
    assert_eq!(app.get_posts(Some(&old)).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), 1);

    let next = SigningKey::new("key-2");
    app.issuer.keys.lock().unwrap().push(next.jwk());
    let (status, _, body) = app.get_posts(Some(&next.token(&app.base, "posts:read"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.fetches(), 2);
    // Tokens of the retiring key still verify while it is published.
    assert_eq!(app.get_posts(Some(&old)).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), 2);
}

#[tokio::test]
async fn the_refetch_window_reopens() {
    let config = JwksCacheConfig { refetch_interval: Duration::from_secs(1), ..Default::default() };
    let app = TestApp::spawn(config, 600).await;
    app.guard.warm_up().await.unwrap();
    let bogus = app.key.token_with_kid("bogus", &app.base, "posts:read");
    assert_eq!(app.get_posts(Some(&bogus)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.fetches(), 2);
    // Within the window a new key is not fetched...
    let next = SigningKey::new("key-2");
    app.issuer.keys.lock().unwrap().push(next.jwk());
    let token = next.token(&app.base, "posts:read");
    assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.fetches(), 2);
    // ...and after it, it is.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), 3);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    // max-age=0 with min_ttl 0: every request finds the cache stale and refreshes.
    let config = JwksCacheConfig { min_ttl: Duration::ZERO, ..Default::default() };
    let app = TestApp::spawn(config, 0).await;
    let token = app.key.token(&app.base, "posts:read");
    assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), 2);
    app.set_mode(Mode::Fail);
    assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    assert_eq!(app.fetches(), 3);
    // After a failure the issuer is left alone for refetch_interval.
    for _ in 0..5 {
        assert_eq!(app.get_posts(Some(&token)).await.0, StatusCode::OK);
    }
    assert_eq!(app.fetches(), 3);
}

#[tokio::test]
async fn without_any_keys_the_answer_is_503_not_invalid_token() {
    for mode in [Mode::Fail, Mode::Huge, Mode::Redirect] {
        let app = TestApp::default().await;
        app.set_mode(mode);
        let (status, headers, body) = app.get_posts(Some(&app.key.token(&app.base, "posts:read"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body["error"], "temporarily_unavailable");
        // One attempt; a followed redirect would have found keys at /elsewhere and answered 200.
        assert_eq!(app.fetches(), 1);
        // A token that is bad whatever the keys is still invalid_token.
        let (status, headers, _) = app.get_posts(Some("a.b.c")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge(&headers).contains(r#"error="invalid_token""#));
    }
}

#[tokio::test]
async fn urls_in_a_token_header_are_never_fetched() {
    let app = TestApp::default().await;
    app.guard.warm_up().await.unwrap();
    let now = now();
    let claims = json!({"iss": app.base, "sub": "u", "aud": AUDIENCE, "exp": now + 900, "iat": now,
                        "jti": "j", "client_id": "c"});
    let jwks_url = format!("{}/oauth2/jwks", app.base);
    for (name, value) in [("jku", json!(jwks_url)), ("x5u", json!(jwks_url)), ("jwk", app.key.jwk())] {
        let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": random_kid(), name: value});
        let (status, _, _) = app.get_posts(Some(&app.key.sign(&header, &claims))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
    assert_eq!(app.fetches(), 1);
}
