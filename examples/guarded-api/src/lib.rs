//! guarded-api: a small resource server whose routes are protected by `gatehouse-guard`.
//!
//! `GET /` is public, `GET /posts` needs a valid Gatehouse access token (RFC 6750 §2.1 bearer),
//! `DELETE /posts/{id}` also needs the scope `posts:write`, `POST /posts/{id}/publish` the
//! permission `posts:publish` and `GET /stats` the role `editor` (the `permissions` and `roles`
//! claims, RFC 9068 §2.2.3.1). Configured by `GATEHOUSE_ISSUER`, `GUARD_AUDIENCE` and `BIND`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_guard::{
    Authenticated, Guard, RequirePermission, RequireRole, RequireScope, define_permission, define_role, define_scope,
};
use serde::Serialize;
use serde_json::{Value, json};

define_scope!(
    /// Needed to change posts.
    PostsWrite = "posts:write"
);

define_permission!(
    /// Needed to publish a post (an RBAC permission, granted to a role in Gatehouse).
    PostsPublish = "posts:publish"
);

define_role!(
    /// Needed to read the statistics.
    Editor = "editor"
);

#[derive(Debug, Clone, Serialize)]
struct Post {
    id: u64,
    title: String,
    published: bool,
}

type Posts = Arc<Mutex<BTreeMap<u64, Post>>>;

#[derive(Clone)]
struct AppState {
    guard: Guard,
    posts: Posts,
}

// The extractors find the guard through this.
impl FromRef<AppState> for Guard {
    fn from_ref(state: &AppState) -> Guard {
        state.guard.clone()
    }
}

fn sample_posts() -> Posts {
    let posts = [(1, "Hello from a guarded API"), (2, "Tokens are checked against the JWKS")]
        .map(|(id, title)| (id, Post { id, title: title.into(), published: false }));
    Arc::new(Mutex::new(posts.into()))
}

/// The API's routes, guarded by `guard`.
pub fn app(guard: Guard) -> Router {
    let state = AppState { guard, posts: sample_posts() };
    Router::new()
        .route("/", get(index))
        .route("/posts", get(list_posts))
        .route("/posts/{id}", delete(delete_post))
        .route("/posts/{id}/publish", post(publish_post))
        .route("/stats", get(stats))
        .with_state(state)
}

/// Public.
async fn index(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"service": "guarded-api", "issuer": state.guard.validation().issuer}))
}

/// Any valid access token.
async fn list_posts(State(state): State<AppState>, Authenticated(claims): Authenticated) -> Json<Value> {
    let posts: Vec<Post> = state.posts.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
    Json(json!({"viewer": claims.sub, "posts": posts}))
}

/// A valid access token with the scope `posts:write`.
async fn delete_post(State(state): State<AppState>, auth: RequireScope<PostsWrite>, Path(id): Path<u64>) -> StatusCode {
    match state.posts.lock().unwrap_or_else(PoisonError::into_inner).remove(&id) {
        Some(_) => {
            tracing::info!(post = id, sub = %auth.sub, client_id = %auth.client_id, "post deleted");
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// A valid access token whose `permissions` claim holds `posts:publish`.
async fn publish_post(
    State(state): State<AppState>,
    auth: RequirePermission<PostsPublish>,
    Path(id): Path<u64>,
) -> Result<Json<Post>, StatusCode> {
    let mut posts = state.posts.lock().unwrap_or_else(PoisonError::into_inner);
    let post = posts.get_mut(&id).ok_or(StatusCode::NOT_FOUND)?;
    post.published = true;
    tracing::info!(post = id, sub = %auth.sub, "post published");
    Ok(Json(post.clone()))
}

/// A valid access token whose `roles` claim holds `editor`.
async fn stats(State(state): State<AppState>, auth: RequireRole<Editor>) -> Json<Value> {
    let posts = state.posts.lock().unwrap_or_else(PoisonError::into_inner);
    let published = posts.values().filter(|p| p.published).count();
    Json(json!({"viewer": auth.sub, "posts": posts.len(), "published": published}))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hmac;
    use axum::body::Body;
    use axum::http::{Method, Request, header};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use gatehouse_guard::{KeySet, VerificationKey};
    use tower::ServiceExt as _;

    use super::*;

    const SECRET: &[u8] = b"example secret, at least 32 bytes long";
    const ISSUER: &str = "https://id.example.test";

    fn guard() -> Guard {
        let keys = KeySet::from_keys([VerificationKey::hs256("k1", SECRET).unwrap()]).unwrap();
        Guard::builder(ISSUER).audience("posts-api").key_set(keys).build().unwrap()
    }

    fn token(scope: &str) -> String {
        token_with(scope, &[], &[])
    }

    fn token_with(scope: &str, roles: &[&str], permissions: &[&str]) -> String {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
        let claims = json!({"iss": ISSUER, "sub": "u1", "aud": "posts-api", "exp": now + 60, "iat": now,
                            "jti": "j", "client_id": "c", "scope": scope, "roles": roles,
                            "permissions": permissions});
        let input = format!("{}.{}", b64(header), b64(claims));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    async fn status(app: &Router, method: Method, path: &str, token: Option<&str>) -> StatusCode {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap().status()
    }

    #[tokio::test]
    async fn routes_are_guarded() {
        let app = app(guard());
        assert_eq!(status(&app, Method::GET, "/", None).await, StatusCode::OK);
        assert_eq!(status(&app, Method::GET, "/posts", None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&app, Method::GET, "/posts", Some(&token("posts:read"))).await, StatusCode::OK);
        let reader = token("posts:read");
        assert_eq!(status(&app, Method::DELETE, "/posts/1", Some(&reader)).await, StatusCode::FORBIDDEN);
        let writer = token("posts:read posts:write");
        assert_eq!(status(&app, Method::DELETE, "/posts/1", Some(&writer)).await, StatusCode::NO_CONTENT);
        assert_eq!(status(&app, Method::DELETE, "/posts/1", Some(&writer)).await, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn permission_and_role_routes_read_the_claims() {
        let app = app(guard());
        assert_eq!(status(&app, Method::POST, "/posts/2/publish", None).await, StatusCode::UNAUTHORIZED);
        let plain = token("posts:read posts:write");
        assert_eq!(status(&app, Method::POST, "/posts/2/publish", Some(&plain)).await, StatusCode::FORBIDDEN);
        assert_eq!(status(&app, Method::GET, "/stats", Some(&plain)).await, StatusCode::FORBIDDEN);
        let editor = token_with("permissions roles", &["editor"], &["posts:publish"]);
        assert_eq!(status(&app, Method::POST, "/posts/2/publish", Some(&editor)).await, StatusCode::OK);
        assert_eq!(status(&app, Method::GET, "/stats", Some(&editor)).await, StatusCode::OK);
        assert_eq!(status(&app, Method::POST, "/posts/9/publish", Some(&editor)).await, StatusCode::NOT_FOUND);
    }
}
