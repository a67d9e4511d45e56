//! Changes made through one node take effect on the others within one second (Redis
//! invalidation), not at cache expiry: a rotated client secret, a disabled user. Nodes B and C
//! have the old state cached (used just before) when node A changes it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{Cluster, Node, Options, PASSWORD};
use crate::load::{client_credentials_client, session_cookie};

const WITHIN: Duration = Duration::from_secs(1);

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

async fn client_credentials(node: &Node, id: &str, secret: &str) -> u16 {
    let r = http()
        .post(node.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

async fn sign_in(node: &Node, email: &str) -> reqwest::Response {
    http()
        .post(node.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
}

/// An access token (first-party token sign-in) for `email`, from `node`.
async fn access_token(node: &Node, email: &str) -> String {
    let body = json!({ "email": email, "password": PASSWORD, "token_delivery": "body" });
    let r = http().post(node.url("/api/v1/auth/token")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "token sign-in for {email}");
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Polls `probe` every 25 ms until it returns true; how long that took (at most 5 s is tried,
/// so that a failure says by how much it missed).
async fn time_until<F: std::future::Future<Output = bool>>(since: Instant, mut probe: impl FnMut() -> F) -> Duration {
    while since.elapsed() < Duration::from_secs(5) {
        if probe().await {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Duration::MAX
}

async fn register(cluster: &Cluster, email: &str) {
    let r = http()
        .post(cluster.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "register {email}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_node_reach_the_others_within_a_second() {
    let Some(cluster) = Cluster::start(Options::default()).await else { return };
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    register(&cluster, "admin@example.com").await;
    cluster.cli(&["roles", "grant", "admin", "--user", "admin@example.com"]).await;
    let admin = access_token(a, "admin@example.com").await;

    // A client secret rotated on A, with no overlap: B and C refuse the old one within 1 s.
    let (id, old) = client_credentials_client(&cluster, "openid").await;
    for node in [b, c] {
        for _ in 0..2 {
            assert_eq!(client_credentials(node, &id, &old).await, 200, "warm-up on node {}", node.index);
        }
    }
    let r = http()
        .post(a.url(&format!("/admin/v1/clients/{id}/secret")))
        .bearer_auth(&admin)
        .json(&json!({ "overlap_seconds": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "rotate the secret on node A");
    let rotated = Instant::now();
    let new = r.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_owned();
    let mut secret_times = Vec::new();
    for node in [b, c] {
        let took = time_until(rotated, || async {
            client_credentials(node, &id, &old).await == 401 && client_credentials(node, &id, &new).await == 200
        })
        .await;
        secret_times.push((node.index, took));
    }

    // A user disabled on A: B and C refuse the session, the access token and the password
    // within 1 s.
    register(&cluster, "victim@example.com").await;
    let token = access_token(a, "victim@example.com").await;
    let mut sessions = Vec::new();
    for node in [b, c] {
        let r = sign_in(node, "victim@example.com").await;
        assert_eq!(r.status(), 200);
        let cookie = session_cookie(&r).unwrap();
        for _ in 0..2 {
            let me = http().get(node.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(me.status(), 200, "warm-up session on node {}", node.index);
            let me = http().get(node.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
            assert_eq!(me.status(), 200, "warm-up token on node {}", node.index);
        }
        sessions.push(cookie);
    }
    let me: Value = http().get(a.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let user_id = me["id"].as_str().unwrap().to_owned();
    let r = http().post(a.url(&format!("/admin/v1/users/{user_id}/disable"))).bearer_auth(&admin).send().await.unwrap();
    assert!(r.status().is_success(), "disable on node A: {}", r.status());
    let disabled = Instant::now();
    let mut user_times = Vec::new();
    for (node, cookie) in [b, c].into_iter().zip(&sessions) {
        let took = time_until(disabled, || async {
            let session = http().get(node.url("/api/v1/me")).header("cookie", cookie).send().await.unwrap().status();
            let bearer = http().get(node.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status();
            session == 401 && bearer == 401
        })
        .await;
        let password = sign_in(node, "victim@example.com").await.status();
        user_times.push((node.index, took, password.as_u16()));
    }

    eprintln!(
        "invalidation: rotated secret refused (and the new one accepted) on (node, after) {secret_times:?}; \
         disabled user's session and token refused on (node, after, password sign-in status) {user_times:?}"
    );
    for (node, took) in secret_times {
        assert!(took <= WITHIN, "node {node}: the old client secret still worked {took:?} after the rotation");
    }
    for (node, took, password) in user_times {
        assert!(took <= WITHIN, "node {node}: the disabled user's session or token still worked after {took:?}");
        assert!(password != 200, "node {node}: the disabled user signed in");
    }
}
