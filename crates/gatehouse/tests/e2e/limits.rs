//! Input limits: every violated limit gets a fitting 4xx or a closed connection, never a hang or
//! a 500 — a missing, repeated or invalid Host (400, RFC 9112 §3.2), URL length (414), header count and size (431), JSON nesting depth (400), form field
//! count (413), slow request bodies (408), slow or silent clients (closed), and connections
//! beyond the cap (closed at once). The server keeps serving afterwards.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, PASSWORD, TestApp, browser};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// What the server sends until it closes the connection or `wait` passes; `None` if the
/// connection is still open then (the server is still waiting for us).
async fn read_until_closed(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + wait;
    loop {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline.into(), s.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&buf).into_owned()),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One keep-alive request on a raw connection; the status line, or `None` if the server
/// closed the connection without answering.
async fn exchange(s: &mut TcpStream) -> Option<String> {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n").await.ok()?;
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&chunk[..n]).lines().next()?.to_owned()),
        _ => None,
    }
}

async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_input_gets_the_fitting_4xx() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.register("lim@example.com", PASSWORD).await;
    let c = browser();

    // URL longer than 8 KiB: 414 in our format.
    let r = c.get(app.url(&format!("/login?q={}", "a".repeat(9000)))).send().await.unwrap();
    assert_eq!(error_code(r).await, (414, "uri_too_long".into()));
    assert_eq!(c.get(app.url(&format!("/login?q={}", "a".repeat(7000)))).send().await.unwrap().status(), 200);

    // More than 64 header fields, or a head over 16 KiB: 431.
    let mut many = c.get(app.url("/healthz"));
    for i in 0..70 {
        many = many.header(format!("x-filler-{i}"), "1");
    }
    assert_eq!(many.send().await.unwrap().status(), 431);
    let r = c.get(app.url("/healthz")).header("x-big", "b".repeat(20 * 1024)).send().await.unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(c.get(app.url("/healthz")).header("x-big", "b".repeat(4 * 1024)).send().await.unwrap().status(), 200);

    // JSON nested deeper than 32 levels: 400 before any parsing (serde_json alone allows 128).
    let deep = |n: usize| format!("{{\"email\": {}\"x\"{}, \"password\": \"p\"}}", "[".repeat(n), "]".repeat(n));
    let post_json = |body: String| {
        c.post(app.url("/api/v1/auth/login")).header("content-type", "application/json").body(body).send()
    };
    let r = post_json(deep(40)).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error_description"].as_str().unwrap().contains("nested"));
    assert_eq!(post_json(deep(200)).await.unwrap().status(), 400);
    assert_eq!(post_json(deep(10)).await.unwrap().status(), 422, "shallow input reaches the parser");

    // A form with more than 64 fields: 413.
    let page = c.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let mut form: Vec<(String, String)> = vec![
        ("csrf_token".into(), crate::helpers::csrf_from(&page)),
        ("email".into(), "lim@example.com".into()),
        ("password".into(), PASSWORD.into()),
    ];
    form.extend((0..100).map(|i| (format!("f{i}"), "x".to_owned())));
    assert_eq!(c.post(app.url("/login")).form(&form).send().await.unwrap().status(), 413);
    form.truncate(3);
    assert_eq!(c.post(app.url("/login")).form(&form).send().await.unwrap().status(), 303, "a normal form works");

    assert_eq!(c.get(app.url("/healthz")).send().await.unwrap().status(), 200, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_clients_are_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.header_read_timeout = 1;
        s.limits.request_timeout = 1;
    })
    .await
    .unwrap();
    let wait = Duration::from_secs(5);

    // A client that connects and says nothing.
    let mut silent = connect(&app).await;
    let started = Instant::now();
    assert!(read_until_closed(&mut silent, wait).await.is_some(), "a silent connection is closed");
    assert!(started.elapsed() < Duration::from_secs(4));

    // Slowloris: a request head that never ends, on a fresh connection and on a kept-alive one.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nX-Slow: 1\r\n").await.unwrap();
    assert!(read_until_closed(&mut slow, wait).await.is_some(), "an unfinished head is cut off");
    let mut kept = connect(&app).await;
    assert!(exchange(&mut kept).await.unwrap().contains("200"));
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n").await.unwrap();
    assert!(read_until_closed(&mut kept, wait).await.is_some(), "the second, unfinished head is cut off too");

    // A body that trickles: 408 in our format, and the connection is closed.
    let mut trickle = connect(&app).await;
    trickle
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\"",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut trickle, wait).await.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout") && answer.to_ascii_lowercase().contains("x-content-type-options"));

    assert_eq!(browser().get(app.url("/healthz")).send().await.unwrap().status(), 200, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.limits.max_connections = 3).await.unwrap();
    // The harness's own client may still hold one idle connection, so two or three of ours fit.
    let mut open = Vec::new();
    let mut refused = None;
    for i in 0..4 {
        let mut s = connect(&app).await;
        match exchange(&mut s).await {
            Some(status) => {
                assert!(status.contains("200"), "{status}");
                open.push(s);
            }
            None => {
                refused = Some(i);
                break;
            }
        }
    }
    let refused = refused.expect("a connection over the cap is refused");
    assert!(refused >= 2, "only {refused} connections fitted under a cap of 3");
    // Another one is closed straight away, not left waiting.
    let started = Instant::now();
    let mut extra = connect(&app).await;
    assert_eq!(exchange(&mut extra).await, None);
    assert!(started.elapsed() < Duration::from_secs(3));
    // When a connection closes, its slot is free again.
    drop(open.pop());
    let mut admitted = false;
    for _ in 0..50 {
        let mut s = connect(&app).await;
        if exchange(&mut s).await.is_some_and(|l| l.contains("200")) {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "a freed slot is reused");
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
/// request message that lacks a Host header field and to any request message that contains more
/// than one Host header field line or a Host header field with an invalid field value."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_is_required_once_and_valid() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for (head, expected) in [
        ("GET /healthz HTTP/1.1\r\n", "400"),
        ("GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n", "400"),
        ("GET /healthz HTTP/1.1\r\nHost: user@a.example\r\n", "400"),
        ("GET /healthz HTTP/1.1\r\nHost: a.example:80:80\r\n", "400"),
        ("GET /healthz HTTP/1.0\r\nHost: a.example\r\nHost: b.example\r\n", "400"),
        ("GET /healthz HTTP/1.1\r\nHost: a.example:8080\r\n", "200"),
        ("GET /healthz HTTP/1.0\r\n", "200"),
    ] {
        let mut s = connect(&app).await;
        s.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut s, Duration::from_secs(5)).await.unwrap();
        let status = answer.lines().next().unwrap_or_default();
        assert!(status.split(' ').nth(1) == Some(expected), "{head:?} → {status}");
        if expected == "400" {
            assert!(answer.contains("invalid_request"), "our JSON error: {answer}");
            assert!(answer.to_ascii_lowercase().contains("x-content-type-options: nosniff"), "{answer}");
        }
    }
}
