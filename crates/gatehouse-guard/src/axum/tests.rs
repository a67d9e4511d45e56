//! The extractors and RFC 6750 responses, with a fixed key set and no socket.

use ::axum::Router;
use ::axum::body::{Body, to_bytes};
use ::axum::http::{Request, StatusCode};
use ::axum::response::IntoResponse as _;
use ::axum::routing::get;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::WELL_KNOWN_PATH;
use crate::test_support::*;

crate::define_scope!(PostsWrite = "posts:write");
crate::define_scope!(Admin = "admin");

fn clock() -> i64 {
    NOW
}

fn guard(key: &TestKey) -> Guard {
    Guard::builder(ISSUER).audience(AUDIENCE).realm("posts").key_set(key_set(&[key])).clock(clock).build().unwrap()
}

fn app(guard: Guard) -> Router {
    Router::new()
        .route("/me", get(|Authenticated(c): Authenticated| async move { c.sub }))
        .route("/write", get(|a: RequireScope<PostsWrite>| async move { a.sub.clone() }))
        .route("/admin", get(|a: RequireScope<Admin>| async move { a.claims.sub }))
        .route(
            "/maybe",
            get(|a: Option<Authenticated>| async move { a.map_or("anonymous".to_owned(), |Authenticated(c)| c.sub) }),
        )
        .with_state(guard)
}

async fn call(app: &Router, path: &str, auth: &[&str]) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::get(path);
    for a in auth {
        req = req.header(header::AUTHORIZATION, *a);
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let challenge = resp.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let bytes = to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, challenge, body)
}

#[tokio::test]
async fn a_valid_token_passes() {
    let key = TestKey::es256("k");
    let app = app(guard(&key));
    let bearer = format!("Bearer {}", key.token(&claims(NOW)));
    assert_eq!(call(&app, "/me", &[&bearer]).await, (StatusCode::OK, None, json!("user-1")));
    assert_eq!(call(&app, "/write", &[&bearer]).await.0, StatusCode::OK);
    assert_eq!(call(&app, "/maybe", &[&bearer]).await.2, json!("user-1"));
}

#[tokio::test]
async fn missing_or_foreign_credentials_get_a_bare_challenge() {
    let key = TestKey::es256("k");
    let app = app(guard(&key));
    for auth in [&[][..], &["Basic dXNlcjpwYXNz"], &["Bearer"]] {
        let (status, challenge, body) = call(&app, "/me", auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="posts""#));
        assert_eq!(body["error"], "unauthenticated");
    }
    assert_eq!(call(&app, "/maybe", &[]).await.2, json!("anonymous"));
}

#[tokio::test]
async fn invalid_tokens_get_invalid_token() {
    let key = TestKey::es256("k");
    let app = app(guard(&key));
    let expired = format!("Bearer {}", key.token(&claims(NOW - 1000)));
    let (status, challenge, body) = call(&app, "/me", &[&expired]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="posts", error="invalid_token", error_description="The access token expired""#)
    );
    assert_eq!(body, json!({"error": "invalid_token", "error_description": "The access token expired"}));
    for bad in ["Bearer a.b.c", "Bearer not a token", "Bearer tok\u{e9}n"] {
        let (status, challenge, body) = call(&app, "/write", &[bad]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
        assert_eq!(body["error_description"], "The access token is invalid");
    }
    // Option<Authenticated> still refuses a bad token.
    assert_eq!(call(&app, "/maybe", &[&expired]).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let key = TestKey::es256("k");
    let app = app(guard(&key));
    let bearer = format!("Bearer {}", key.token(&claims(NOW)));
    let (status, challenge, body) = call(&app, "/me", &[&bearer, &bearer]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="posts", error="invalid_request""#));
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_missing_scope_is_forbidden() {
    let key = TestKey::ed25519("k");
    let app = app(guard(&key));
    let bearer = format!("Bearer {}", key.token(&claims(NOW)));
    let (status, challenge, body) = call(&app, "/admin", &[&bearer]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="insufficient_scope", scope="admin""#));
    assert_eq!(
        body,
        json!({"error": "insufficient_scope", "error_description": "The access token lacks the scope admin"})
    );
}

#[test]
fn require_scope_in_a_handler_body() {
    let c: AccessClaims = serde_json::from_value(claims(NOW)).unwrap();
    assert!(require_scope(&c, "posts:read").is_ok());
    let err = require_scope(&c, "posts:delete").unwrap_err();
    assert_eq!(err.scope(), "posts:delete");
    let resp = err.into_response();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A scope that is not a valid scope-token is left out of the header rather than mis-quoted.
    let resp = InsufficientScope::new("bad \"scope\"").into_response();
    assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], r#"Bearer error="insufficient_scope""#);
}

#[test]
fn the_builder_refuses_bad_settings() {
    let keys = || KeySet::new();
    let b = || Guard::builder(ISSUER).audience(AUDIENCE).key_set(keys());
    assert!(b().build().is_ok());
    assert_eq!(Guard::builder("").audience("a").key_set(keys()).build().unwrap_err(), GuardConfigError::Issuer);
    let trailing = Guard::builder(format!("{ISSUER}/")).audience("a").key_set(keys()).build();
    assert_eq!(trailing.unwrap_err(), GuardConfigError::Issuer);
    assert_eq!(Guard::builder(ISSUER).key_set(keys()).build().unwrap_err(), GuardConfigError::NoAudience);
    for realm in ["", "a\"b", "a\\b", "r\u{e9}alm", "line\nbreak"] {
        assert_eq!(b().realm(realm).build().unwrap_err(), GuardConfigError::Realm, "{realm:?}");
    }
    let g = b().leeway_secs(600).build().unwrap();
    assert_eq!(g.validation().leeway_secs, 60);
    assert_eq!(g.realm(), "api");
}

#[cfg(feature = "remote")]
#[test]
fn a_guard_from_an_issuer_url_fetches_its_jwks() {
    let g = Guard::for_issuer("https://id.example.com", "https://api.example.com").unwrap();
    assert_eq!(g.jwks_cache().unwrap().url(), "https://id.example.com/oauth2/jwks");
    assert_eq!(g.validation().issuer, "https://id.example.com");
    assert_eq!(g.validation().audiences, ["https://api.example.com"]);
    let plain = Guard::for_issuer("http://id.example.com", "api").unwrap_err();
    assert!(matches!(plain, GuardConfigError::Jwks(FetchError::InsecureUrl(_))));
}

#[tokio::test]
async fn hs256_first_party_setup() {
    let secret = b"a shared secret of 32 bytes or more!";
    let keys = KeySet::from_keys([crate::VerificationKey::hs256("fp", secret).unwrap()]).unwrap();
    let g = Guard::builder(ISSUER).audience(AUDIENCE).key_set(keys).clock(clock).build().unwrap();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "fp"});
    assert!(g.verify(&hs256_token(&header, &claims(NOW), secret)).await.is_ok());
    let err = g.verify(&hs256_token(&header, &claims(NOW), b"another secret of 32 bytes or more")).await.unwrap_err();
    assert_eq!(err.kind(), &RejectionKind::InvalidToken(VerifyError::BadSignature));
}

#[tokio::test]
async fn a_controllable_clock_decides_expiry() {
    let key = TestKey::es256("k");
    let now = Arc::new(std::sync::atomic::AtomicI64::new(NOW));
    let clock = Arc::clone(&now);
    let g = Guard::builder(ISSUER)
        .audience(AUDIENCE)
        .key_set(key_set(&[&key]))
        .clock(move || clock.load(std::sync::atomic::Ordering::SeqCst))
        .build()
        .unwrap();
    let token = key.token(&claims(NOW)); // exp = NOW + 900
    assert!(g.verify(&token).await.is_ok());
    now.store(NOW + 930, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(g.verify(&token).await.unwrap_err().kind(), &RejectionKind::InvalidToken(VerifyError::Expired));
}

crate::define_permission!(PostsDelete = "posts:delete");
crate::define_role!(Editor = "editor");

fn grants_app(guard: Guard) -> Router {
    Router::new()
        .route("/delete", get(|a: RequirePermission<PostsDelete>| async move { a.sub.clone() }))
        .route("/edit", get(|a: RequireRole<Editor>| async move { a.claims.sub }))
        .with_state(guard)
}

/// RFC 9068 §2.2.3.1 `roles` and Gatehouse's `permissions` claim decide, exactly compared.
#[tokio::test]
async fn require_permission_and_role_follow_the_claims() {
    let key = TestKey::es256("k");
    let app = grants_app(guard(&key));
    let mut with = claims(NOW);
    with["roles"] = json!(["editor", "viewer"]);
    with["permissions"] = json!(["posts:delete", "posts:read"]);
    let granted = format!("Bearer {}", key.token(&with));
    assert_eq!(call(&app, "/delete", &[&granted]).await, (StatusCode::OK, None, json!("user-1")));
    assert_eq!(call(&app, "/edit", &[&granted]).await, (StatusCode::OK, None, json!("user-1")));

    // Near misses and a token without the claims at all are refused with 403 and a JSON error.
    let mut near = claims(NOW);
    near["roles"] = json!(["Editor", "editors"]);
    near["permissions"] = json!(["posts:Delete", "posts:delete:all", "posts"]);
    for token in [key.token(&near), key.token(&claims(NOW))] {
        let bearer = format!("Bearer {token}");
        let (status, challenge, body) = call(&app, "/delete", &[&bearer]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(challenge, None, "RFC 6750 defines no challenge for a missing permission");
        assert_eq!(
            body,
            json!({"error": "insufficient_permission",
                   "error_description": "The access token lacks the permission posts:delete"})
        );
        let (status, _, body) = call(&app, "/edit", &[&bearer]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "insufficient_role");
        assert_eq!(body["error_description"], "The access token lacks the role editor");
    }
}

#[tokio::test]
async fn require_permission_and_role_need_a_valid_token_first() {
    let key = TestKey::es256("k");
    let app = grants_app(guard(&key));
    let (status, challenge, body) = call(&app, "/delete", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="posts""#));
    assert_eq!(body["error"], "unauthenticated");
    // An expired token that would carry the grant is still 401, not 403 and not 200.
    let mut old = claims(NOW - 1000);
    old["permissions"] = json!(["posts:delete"]);
    old["roles"] = json!(["editor"]);
    let expired = format!("Bearer {}", key.token(&old));
    for path in ["/delete", "/edit"] {
        let (status, challenge, _) = call(&app, path, &[&expired]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    }
    // A token signed by another key does not get a grant either.
    let stranger = TestKey::es256("k");
    let forged = format!("Bearer {}", stranger.token(&old));
    assert_eq!(call(&app, "/edit", &[&forged]).await.0, StatusCode::UNAUTHORIZED);
}

#[test]
fn require_permission_and_role_in_a_handler_body() {
    let mut v = claims(NOW);
    v["permissions"] = json!(["posts:read"]);
    v["roles"] = json!(["viewer"]);
    let c: AccessClaims = serde_json::from_value(v).unwrap();
    assert!(require_permission(&c, "posts:read").is_ok());
    assert!(require_role(&c, "viewer").is_ok());
    let err = require_permission(&c, "posts:write").unwrap_err();
    assert_eq!(err, MissingGrant::Permission("posts:write".into()));
    assert_eq!(err.to_string(), "the permission posts:write is required");
    assert_eq!(err.into_response().status(), StatusCode::FORBIDDEN);
    let err = require_role(&c, "admin").unwrap_err();
    assert_eq!(err.error_code(), "insufficient_role");
    let rejection = AuthRejection::new(RejectionKind::MissingGrant(err), "api".into());
    assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
}

/// A resource server described by RFC 9728 metadata, its guard pinned to the resource.
fn described(key: &TestKey, resource: &str) -> Router {
    let metadata = crate::ProtectedResourceMetadata::new(resource, ISSUER).unwrap().scopes(["posts:write"]);
    let guard = Guard::builder(ISSUER)
        .audience(resource)
        .realm("posts")
        .resource_metadata(metadata.metadata_url())
        .key_set(key_set(&[key]))
        .clock(clock)
        .build()
        .unwrap();
    app(guard).merge(metadata.router())
}

#[tokio::test]
async fn rfc9728_s5_1_a_401_names_the_resource_metadata() {
    let key = TestKey::es256("k");
    let app = described(&key, "https://api.example.com/v1");
    let url = "https://api.example.com/.well-known/oauth-protected-resource/v1";
    let (status, challenge, _) = call(&app, "/me", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(format!(r#"Bearer realm="posts", resource_metadata="{url}""#).as_str()));
    let mut old = claims(NOW - 1000);
    old["aud"] = json!("https://api.example.com/v1");
    let expired = format!("Bearer {}", key.token(&old));
    let (status, challenge, _) = call(&app, "/me", &[&expired]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#) && challenge.ends_with(&format!(r#"resource_metadata="{url}""#))
    );
    // 403 (a valid token lacking a scope) is not a discovery prompt: no metadata.
    let mut c = claims(NOW);
    c["aud"] = json!("https://api.example.com/v1");
    c["scope"] = json!("other");
    let (status, challenge, _) = call(&app, "/write", &[&format!("Bearer {}", key.token(&c))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!challenge.unwrap_or_default().contains("resource_metadata"));
    assert!(
        Guard::builder(ISSUER).audience("a").key_set(key_set(&[&key])).resource_metadata("x\"y").build().is_err(),
        "a metadata URL that would break the header is refused"
    );
}

#[tokio::test]
async fn rfc9728_s3_the_metadata_is_served_at_the_suffixed_path_only() {
    let key = TestKey::es256("k");
    let app = described(&key, "https://api.example.com/v1");
    // §3.3: the `resource` of a document MUST be the identifier whose well-known URL it was
    // fetched from; at the bare path it would describe `https://api.example.com`, which it is not.
    let bare = app.clone().oneshot(Request::get(WELL_KNOWN_PATH).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(bare.status(), StatusCode::NOT_FOUND);
    for path in ["/.well-known/oauth-protected-resource/v1"] {
        let resp = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body: Value = serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 16).await.unwrap()).unwrap();
        // RFC 9728 §3.3: `resource` is exactly the identifier the suffix was inserted into.
        assert_eq!(body["resource"], "https://api.example.com/v1");
        assert_eq!(body["authorization_servers"], json!([ISSUER]));
        assert_eq!(body["scopes_supported"], json!(["posts:write"]));
        assert_eq!(body["bearer_methods_supported"], json!(["header"]));
    }
    let bare = crate::ProtectedResourceMetadata::new("https://api.example.com/v1", ISSUER).unwrap().unauthorized();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        bare.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1""#
    );
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    // RFC 8707: Gatehouse minted this token for resource A; the guard of resource B refuses it.
    let key = TestKey::es256("k");
    let app = described(&key, "https://b.example.com/");
    let mut for_a = claims(NOW);
    for_a["aud"] = json!("https://a.example.com/");
    let (status, challenge, body) = call(&app, "/me", &[&format!("Bearer {}", key.token(&for_a))]).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::UNAUTHORIZED, json!("invalid_token")));
    assert!(challenge.unwrap().contains("resource_metadata="));
    let mut for_b = claims(NOW);
    for_b["aud"] = json!("https://b.example.com/");
    assert_eq!(call(&app, "/me", &[&format!("Bearer {}", key.token(&for_b))]).await.0, StatusCode::OK);
}

/// A DPoP proof by `key` for `method` `url`, with `ath` for `token`.
fn dpop_proof(key: &TestKey, method: &str, url: &str, token: &str, jti: &str) -> String {
    let mut jwk = key.jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    let header = json!({"typ": "dpop+jwt", "alg": key.alg.as_str(), "jwk": jwk});
    let claims = json!({"jti": jti, "htm": method, "htu": url, "iat": NOW, "ath": crate::access_token_hash(token)});
    key.token_with(&header, &claims)
}

async fn call_dpop(app: &Router, path: &str, auth: &str, proofs: &[&str]) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::get(path).header(header::AUTHORIZATION, auth);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let resp = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let challenge = resp.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let bytes = to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    (status, challenge, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn rfc9449_s7_2_a_bound_token_is_never_accepted_as_a_bearer_token() {
    let key = TestKey::es256("k");
    let holder = TestKey::es256("holder");
    let mut c = claims(NOW);
    c["cnf"] = json!({"jkt": crate::jwk_thumbprint(&holder.jwk())});
    let bound = key.token(&c);
    for guard in [
        guard(&key),
        Guard::builder(ISSUER)
            .audience(AUDIENCE)
            .key_set(key_set(&[&key]))
            .clock(clock)
            .dpop("https://api.example.test")
            .build()
            .unwrap(),
    ] {
        let (status, _, body) = call(&app(guard), "/me", &[&format!("Bearer {bound}")]).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    }
    // Without DPoP enabled, the DPoP scheme is no credentials at all.
    let (status, _, body) = call(&app(guard(&key)), "/me", &[&format!("DPoP {bound}")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
}

#[tokio::test]
async fn rfc9449_s7_1_with_dpop_enabled_a_bound_token_needs_a_fresh_proof_by_its_key() {
    let key = TestKey::es256("k");
    let holder = TestKey::es256("holder");
    let thief = TestKey::ed25519("thief");
    let mut c = claims(NOW);
    let mut holder_jwk = holder.jwk();
    holder_jwk.as_object_mut().unwrap().remove("kid");
    c["cnf"] = json!({"jkt": crate::jwk_thumbprint(&holder_jwk)});
    let bound = key.token(&c);
    let guard = Guard::builder(ISSUER)
        .audience(AUDIENCE)
        .key_set(key_set(&[&key]))
        .clock(clock)
        .dpop("https://api.example.test")
        .build()
        .unwrap();
    let app = app(guard);
    let auth = format!("DPoP {bound}");
    let url = "https://api.example.test/me";
    let good = dpop_proof(&holder, "GET", url, &bound, "j-1");
    assert_eq!(call_dpop(&app, "/me", &auth, &[&good]).await.0, StatusCode::OK);
    // §11.1: once.
    let (status, challenge, body) = call_dpop(&app, "/me", &auth, &[&good]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof")));
    assert!(
        challenge.unwrap().starts_with("DPoP realm=\"api\", error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA RS256\"")
    );
    for (what, proofs) in [
        ("no proof", vec![]),
        ("thief's key", vec![dpop_proof(&thief, "GET", url, &bound, "j-2")]),
        ("wrong method", vec![dpop_proof(&holder, "POST", url, &bound, "j-3")]),
        ("wrong path", vec![dpop_proof(&holder, "GET", "https://api.example.test/write", &bound, "j-4")]),
        ("other token", vec![dpop_proof(&holder, "GET", url, "another", "j-5")]),
        (
            "two proofs",
            vec![dpop_proof(&holder, "GET", url, &bound, "j-6"), dpop_proof(&holder, "GET", url, &bound, "j-7")],
        ),
    ] {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, _, body) = call_dpop(&app, "/me", &auth, &proofs).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof")), "{what}");
    }
    // An unbound token with the DPoP scheme.
    let plain = key.token(&claims(NOW));
    let proof = dpop_proof(&holder, "GET", url, &plain, "j-8");
    let (status, _, body) = call_dpop(&app, "/me", &format!("DPoP {plain}"), &[&proof]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    // Bad origins are refused at build time.
    for origin in ["api.example.test", "https://api.example.test/", "https://api.example.test/v1", "ftp://x"] {
        let built = Guard::builder(ISSUER).audience(AUDIENCE).key_set(key_set(&[&key])).dpop(origin).build();
        assert_eq!(built.unwrap_err(), GuardConfigError::DpopOrigin, "{origin}");
    }
}
