//! guarded-api against a real Gatehouse: the server runs in-process on 127.0.0.1:0 with a fresh
//! SQLite database, issues a token through its first-party API, and the example API — guarded
//! by `gatehouse-guard` fetching the real JWKS — accepts or refuses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gatehouse::config::Settings;
use gatehouse::secrets::Secrets;
use gatehouse_core::SystemClock;
use gatehouse_core::keys::MasterKey;
use gatehouse_guard::Guard;
use serde_json::{Value, json};

const AUDIENCE: &str = "posts-api";

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// Starts Gatehouse with tokens for `posts-api` and returns its issuer URL and a user's token.
async fn gatehouse() -> (String, String, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = Settings { issuer: issuer.clone(), data_dir: dir.path.clone(), ..Settings::default() };
    settings.tokens.audience = AUDIENCE.into();
    settings.password.pool_size = 1;
    let secrets = Secrets { master_key: MasterKey::generate().unwrap().0, hs256: None };
    tokio::spawn(gatehouse::server::run(settings, secrets, Arc::new(SystemClock), listener, std::future::pending()));
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{issuer}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let password = "correct horse battery staple";
    let r = client
        .post(format!("{issuer}/api/v1/auth/register"))
        .json(&json!({"email": "ada@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .post(format!("{issuer}/api/v1/auth/token"))
        .json(&json!({"email": "ada@example.com", "password": password, "token_delivery": "body"}))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    (issuer, token, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_routes_accept_real_gatehouse_tokens() {
    let (issuer, token, _dir) = gatehouse().await;
    let api = serve(guarded_api::app(Guard::for_issuer(&issuer, AUDIENCE).unwrap())).await;
    let client = reqwest::Client::new();

    assert_eq!(client.get(format!("{api}/")).send().await.unwrap().status(), 200, "public route");
    let r = client.get(format!("{api}/posts")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"api\"");

    let r = client.get(format!("{api}/posts")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["posts"].as_array().unwrap().len(), 2);

    // First-party tokens carry no scope: the write route answers 403 insufficient_scope.
    let r = client.delete(format!("{api}/posts/1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));

    // A tampered token is refused.
    let mut forged = token.clone();
    forged.insert(forged.len() - 10, 'x');
    let r = client.get(format!("{api}/posts")).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_another_issuer_or_for_another_audience_are_refused() {
    let (issuer_a, token_a, _a) = gatehouse().await;
    let (issuer_b, _, _b) = gatehouse().await;
    let client = reqwest::Client::new();
    // A guard for issuer B: B's JWKS does not hold A's key, and `iss` is A.
    let api_b = serve(guarded_api::app(Guard::for_issuer(&issuer_b, AUDIENCE).unwrap())).await;
    let r = client.get(format!("{api_b}/posts")).bearer_auth(&token_a).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A guard for issuer A but another audience.
    let other = serve(guarded_api::app(Guard::for_issuer(&issuer_a, "billing-api").unwrap())).await;
    let r = client.get(format!("{other}/posts")).bearer_auth(&token_a).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

mod tempdir {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static N: AtomicUsize = AtomicUsize::new(0);

    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new() -> Self {
            let n = N.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir().join(format!("guarded-api-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
