//! guarded-api against a real Gatehouse: the server runs in-process on 127.0.0.1:0 with a fresh
//! SQLite database, issues a token through its first-party API, and the example API — guarded
//! by `gatehouse-guard` fetching the real JWKS — accepts or refuses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gatehouse::cli::RolesCommand;
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

fn settings(issuer: &str, dir: &tempdir::Dir) -> Settings {
    let mut settings = Settings { issuer: issuer.to_owned(), data_dir: dir.path.clone(), ..Settings::default() };
    settings.tokens.audience = AUDIENCE.into();
    settings.password.pool_size = 1;
    settings
}

/// Starts Gatehouse with tokens for `posts-api` and returns its issuer URL and a user's token.
async fn gatehouse() -> (String, String, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let settings = settings(&issuer, &dir);
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
    assert_eq!(r.status(), 202);
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

/// `RequirePermission` / `RequireRole` with real Gatehouse tokens: a client holding the role
/// `editor` (which has `posts:publish`) asks for the scopes `roles` / `permissions` (RFC 9068
/// §2.2.3.1 claims); set up through the admin API by a user made admin with the CLI command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_and_role_routes_with_real_gatehouse_tokens() {
    let (issuer, admin, dir) = gatehouse().await;
    let grant =
        RolesCommand::Grant { role: "admin".into(), user: Some("ada@example.com".into()), client: None, json: false };
    gatehouse::commands::roles::run_roles(&settings(&issuer, &dir), grant).await.unwrap();
    let http = reqwest::Client::new();
    let admin_call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{issuer}/admin/v1/{path}")).bearer_auth(&admin);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };
    use reqwest::Method;
    assert_eq!(admin_call(Method::POST, "roles", Some(json!({"name": "editor"}))).await.unwrap().status(), 201);
    let r = admin_call(Method::POST, "permissions", Some(json!({"name": "posts:publish"}))).await.unwrap();
    assert_eq!(r.status(), 201);
    let r = admin_call(Method::PUT, "roles/editor/permissions/posts:publish", None).await.unwrap();
    assert_eq!(r.status(), 201);
    let client: Value = admin_call(
        Method::POST,
        "clients",
        Some(json!({"name": "publisher", "grant_types": ["client_credentials"], "scopes": ["roles", "permissions"]})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    assert_eq!(admin_call(Method::PUT, &format!("clients/{id}/roles/editor"), None).await.unwrap().status(), 201);
    let token = |scope: &'static str| {
        let http = http.clone();
        let url = format!("{issuer}/oauth2/token");
        async move {
            let r = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let both = token("roles permissions").await;
    let roles_only = token("roles").await;

    let api = serve(guarded_api::app(Guard::for_issuer(&issuer, AUDIENCE).unwrap())).await;
    let publish = |t: String| http.post(format!("{api}/posts/1/publish")).bearer_auth(t).send();
    let stats = |t: String| http.get(format!("{api}/stats")).bearer_auth(t).send();
    let r = publish(both.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["published"], true);
    assert_eq!(stats(both).await.unwrap().status(), 200);
    // Without the `permissions` scope the token carries no permissions: 403 with a JSON error.
    let r = publish(roles_only.clone()).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "insufficient_permission");
    assert_eq!(stats(roles_only).await.unwrap().status(), 200);
    // The first-party user token has neither claim.
    let r = stats(admin.clone()).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "insufficient_role");
    // Claims are read at issuance: after the permission is taken from the role, the next token
    // no longer passes.
    let r = admin_call(Method::DELETE, "roles/editor/permissions/posts:publish", None).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(publish(token("roles permissions").await).await.unwrap().status(), 403);
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
