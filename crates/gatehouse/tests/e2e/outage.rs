//! PostgreSQL unreachable (issue #17, item 2): the server reaches PostgreSQL through a
//! forwarder the test cuts (`support/forwarder.rs`). While it is cut, `/readyz` answers 503
//! and requests that need the database answer 503 with `Retry-After` and a JSON (or OAuth)
//! error body within about the pool's acquire timeout — never a hang, never a 500. When it is
//! restored the node reconnects by itself: the same session works again, no restart.
//! PostgreSQL only (SQLite is a file: there is no connection to lose).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::forwarder::Forwarder;
use crate::helpers::{Backend, PASSWORD, TestApp, browser, postgres_url};

/// Generous against a loaded CI machine; the pool gives up after 1.5 s.
const FAST: Duration = Duration::from_secs(4);

async fn timed(req: reqwest::RequestBuilder) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let r = req.timeout(Duration::from_secs(30)).send().await.expect("an answer, not a hang");
    (r, started.elapsed())
}

async fn assert_503(req: reqwest::RequestBuilder, what: &str) -> Value {
    let (r, took) = timed(req).await;
    assert_eq!(r.status(), 503, "{what}");
    assert!(took < FAST, "{what} answered in {took:?}");
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("2"), "{what}");
    let body: Value = r.json().await.expect("a JSON body");
    eprintln!("{what}: 503 in {took:?}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_answers_503_fast_and_the_node_reconnects() {
    let Some(admin) = postgres_url() else { return };
    let pg = url::Url::parse(&admin).unwrap();
    let target = format!("{}:{}", pg.host_str().unwrap(), pg.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let mut forwarder = Forwarder::start(target).await;
    let port = forwarder.addr.port();
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |s| {
        let mut url = url::Url::parse(&s.database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        s.database_url = url.to_string();
    })
    .await
    else {
        return;
    };
    let out = app.cli(&["users", "create", "--email", "ada@example.com", "--password-stdin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b = browser();
    assert_eq!(app.login_with(&b, "ada@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.me(&b).await.status(), 200);

    forwarder.cut().await;
    for round in 0..2 {
        let r = assert_503(app.client.get(app.url("/readyz")), "readyz").await;
        assert_eq!(r["status"], "unavailable");
        let body = assert_503(b.get(app.url("/api/v1/me")), "GET /api/v1/me").await;
        assert_eq!(body["error"], "temporarily_unavailable", "round {round}: {body}");
        let login = serde_json::json!({ "email": "ada@example.com", "password": PASSWORD });
        let body =
            assert_503(browser().post(app.url("/api/v1/auth/login")).json(&login), "POST /api/v1/auth/login").await;
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        let form = [("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", "none")];
        let body = assert_503(browser().post(app.url("/oauth2/token")).form(&form), "POST /oauth2/token").await;
        assert_eq!(body["error"], "temporarily_unavailable", "OAuth error body: {body}");
    }
    // Cheap routes that need no database keep answering.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);

    forwarder.restore().await;
    let started = Instant::now();
    loop {
        let r = app.client.get(app.url("/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the node never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("ready again {:?} after the database came back", started.elapsed());
    let r = app.me(&b).await;
    assert_eq!(r.status(), 200, "the session from before the outage still works");
    assert_eq!(app.login_with(&browser(), "ada@example.com", PASSWORD).await.status(), 200);
}
