//! Web defences over HTTP: security headers on every kind of response, HSTS only over HTTPS,
//! the CORS allow-list, and forwarding headers believed only from trusted proxies. (TLS and the
//! redirect listener are in `tls.rs`, input limits in `limits.rs`.)

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(forwarded_for_is_believed_only_from_trusted_proxies);

/// The headers every response carries, whatever its status.
pub fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP")).to_str().unwrap();
    for part in ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "script-src 'self'"] {
        assert!(csp.contains(part), "{what}: {csp}");
    }
    // Scripts only from our own files (the passkey script): never inline, never eval.
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{what}");
    assert!(!h.contains_key("server"), "{what}: no server banner");
}

/// Slow Argon2 (unknown-user logins verify a dummy hash with these parameters), one hashing
/// thread and a one-second deadline: a few parallel logins are bound to run out of time.
fn slow_hashing(s: &mut gatehouse::config::Settings) {
    s.password.iterations = 60;
    s.password.pool_size = 1;
    s.limits.request_timeout = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_every_kind_of_response() {
    let app = TestApp::spawn_with(Backend::Sqlite, slow_hashing).await.unwrap();
    let c = browser();
    let get = |path: &str| c.get(app.url(path)).send();
    let cases: Vec<(&str, reqwest::Response, u16)> = vec![
        ("page", get("/login").await.unwrap(), 200),
        ("redirect", get("/account").await.unwrap(), 303),
        ("json 401", get("/api/v1/me").await.unwrap(), 401),
        ("unknown path", get("/no/such/page").await.unwrap(), 404),
        ("wrong method", c.delete(app.url("/api/v1/me")).send().await.unwrap(), 405),
        (
            "malformed JSON",
            c.post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await
                .unwrap(),
            400,
        ),
        (
            "cross-site",
            c.post(app.url("/api/v1/auth/logout")).header("origin", "https://evil.test").send().await.unwrap(),
            403,
        ),
        ("URL too long", get(&format!("/login?q={}", "a".repeat(9000))).await.unwrap(), 414),
        ("static file", get("/static/style.css").await.unwrap(), 200),
    ];
    for (what, r, status) in &cases {
        assert_eq!(r.status(), *status, "{what}");
        assert_security_headers(r, what);
        assert!(!r.headers().contains_key("strict-transport-security"), "{what}: no HSTS over plain HTTP");
        let cache = r.headers()["cache-control"].to_str().unwrap();
        if *what == "static file" {
            assert!(cache.starts_with("public"), "{cache}");
        } else {
            assert_eq!(cache, "no-store", "{what}");
        }
    }
    // 5xx: logins that outlive the request deadline in the server answer 503 with the headers.
    let logins = (0..4).map(|i| {
        let (c, url) = (browser(), app.url("/api/v1/auth/login"));
        tokio::spawn(async move {
            c.post(url).json(&json!({ "email": format!("nobody{i}@example.com"), "password": PASSWORD })).send().await
        })
    });
    let mut unavailable = 0;
    for login in logins.collect::<Vec<_>>() {
        let r = login.await.unwrap().unwrap();
        if r.status() == 503 {
            unavailable += 1;
            assert_security_headers(&r, "503");
            assert_eq!(r.headers()["retry-after"], "5");
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
        } else {
            assert_eq!(r.status(), 401);
        }
    }
    assert!(unavailable > 0, "four 1 s+ hashes on one thread cannot all finish within 1 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_from_a_trusted_https_proxy_over_plain_http() {
    let behind_proxy = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.hsts_preload = true;
    })
    .await
    .unwrap();
    let hsts =
        |r: &reqwest::Response| r.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
    let c = browser();
    for path in ["/login", "/no/such/page", "/static/style.css"] {
        let r = c.get(behind_proxy.url(path)).header("x-forwarded-proto", "https").send().await.unwrap();
        assert_eq!(hsts(&r).as_deref(), Some("max-age=31536000; includeSubDomains; preload"), "{path}");
        let r = c.get(behind_proxy.url(path)).header("x-forwarded-proto", "http").send().await.unwrap();
        assert_eq!(hsts(&r), None, "{path}: the proxy says plain http");
        let r = c.get(behind_proxy.url(path)).send().await.unwrap();
        assert_eq!(hsts(&r), None, "{path}: no forwarding header, plain connection");
    }
    // The same header from a peer that is not a trusted proxy means nothing.
    let direct = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let r = c.get(direct.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert_eq!(hsts(&r), None);
    let r = c.get(direct.url("/login")).header("forwarded", "proto=https").send().await.unwrap();
    assert_eq!(hsts(&r), None);
}

async fn cors_refused_count(app: &TestApp) -> f64 {
    let text = browser().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("gatehouse_cors_refused_total ")?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_exactly_the_configured_origins() {
    const APP: &str = "https://app.example.com";
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.cors.allowed_origins = vec![APP.into()]).await.unwrap();
    app.register("cora@example.com", PASSWORD).await;
    let c = browser();
    let acao =
        |r: &reqwest::Response| r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
    let vary_origin = |r: &reqwest::Response| {
        r.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
    };

    // Allowed: the exact origin is echoed (never `*`), with credentials, and `Vary: Origin`.
    let r = c.get(app.url("/api/v1/me")).header("origin", APP).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(acao(&r).as_deref(), Some(APP));
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    assert!(vary_origin(&r));

    // Disallowed, `null`, look-alikes: no CORS headers at all, and each one is counted.
    for origin in [
        "https://evil.test",
        "null",
        "https://app.example.com.evil.test",
        "http://app.example.com",
        "https://app.example.com:8443",
    ] {
        let before = cors_refused_count(&app).await;
        let r = c.get(app.url("/api/v1/me")).header("origin", origin).send().await.unwrap();
        assert_eq!(acao(&r), None, "{origin}");
        assert!(!r.headers().contains_key("access-control-allow-credentials"), "{origin}");
        assert!(vary_origin(&r), "{origin}");
        assert!(cors_refused_count(&app).await > before, "{origin} is counted");
    }

    // Preflight: allowed origin, method and headers → our fixed lists.
    let preflight = |origin: &'static str, method: &'static str, headers: &'static str| {
        c.request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };
    let r = preflight(APP, "POST", "content-type,x-gatehouse-csrf").await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(acao(&r).as_deref(), Some(APP));
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    assert_eq!(r.headers()["access-control-allow-methods"], "GET, POST, PUT, PATCH, DELETE");
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type, authorization, x-gatehouse-csrf, dpop");
    assert!(vary_origin(&r));
    for (origin, method, headers) in [
        ("https://evil.test", "POST", "content-type"),
        ("null", "POST", "content-type"),
        ("https://app.example.com.evil.test", "POST", "content-type"),
        (APP, "TRACE", "content-type"),
        (APP, "POST", "content-type, x-evil"),
    ] {
        let r = preflight(origin, method, headers).await.unwrap();
        assert_eq!(r.status(), 403, "{origin} {method} {headers}");
        assert_eq!(acao(&r), None, "{origin} {method} {headers}");
        assert!(!r.headers().contains_key("access-control-allow-methods"));
    }

    // The allowed origin passes the Origin check on the JSON API (a browser also says
    // cross-site), and gets its session cookie; others are refused; forms stay same-origin.
    let spa = browser();
    let r = spa
        .post(app.url("/api/v1/auth/login"))
        .header("origin", APP)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({ "email": "cora@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(acao(&r).as_deref(), Some(APP));
    assert_eq!(app.me(&spa).await.status(), 200);
    let r = c
        .post(app.url("/api/v1/auth/login"))
        .header("origin", "https://app.example.com.evil.test")
        .json(&json!({ "email": "cora@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(acao(&r), None);
    let page = c.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", crate::helpers::csrf_from(&page)),
        ("email", "cora@example.com".into()),
        ("password", PASSWORD.into()),
    ];
    let r = c.post(app.url("/login")).header("origin", APP).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403, "HTML forms accept same-origin posts only");
    assert_eq!(acao(&r), None, "pages are not CORS resources");
}

async fn failed_login_ip(app: &TestApp, headers: &[(&str, &str)]) -> Option<String> {
    let mut req = browser()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "ivy@example.com", "password": "wrong password here" }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
    let events = app.audit_events().await;
    events.into_iter().rev().find(|e| e.0 == "login.failed").expect("a login.failed event").2
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(b: Backend) {
    // Directly connected clients cannot choose the address the audit log records.
    let Some(direct) = TestApp::spawn(b).await else { return };
    direct.register("ivy@example.com", PASSWORD).await;
    for spoof in
        [("x-forwarded-for", "203.0.113.7"), ("x-real-ip", "203.0.113.7"), ("forwarded", "for=203.0.113.7;proto=https")]
    {
        assert_eq!(failed_login_ip(&direct, &[spoof]).await.as_deref(), Some("127.0.0.1"), "{spoof:?}");
    }

    // Behind trusted proxies (the test client is 127.0.0.1; 10.0.0.0/8 is the inner tier), the
    // right-most address that is not a proxy is the client; what the client wrote left of it
    // is ignored.
    let Some(proxied) =
        TestApp::spawn_with(b, |s| s.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.0/8".into()]).await
    else {
        return;
    };
    proxied.register("ivy@example.com", PASSWORD).await;
    let proxied = &proxied;
    let ip = |h: &'static str| async move { failed_login_ip(proxied, &[("x-forwarded-for", h)]).await };
    assert_eq!(ip("203.0.113.7").await.as_deref(), Some("203.0.113.7"));
    assert_eq!(ip("6.6.6.6, 203.0.113.8, 10.1.2.3").await.as_deref(), Some("203.0.113.8"));
    assert_eq!(ip("not-an-ip, 10.1.2.3").await.as_deref(), Some("10.1.2.3"), "garbage is never believed");
    assert_eq!(
        failed_login_ip(proxied, &[("forwarded", "for=198.51.100.1")]).await.as_deref(),
        Some("127.0.0.1"),
        "only the configured header counts"
    );

    // The session list shows the resolved address too.
    let c = browser();
    let r = c
        .post(proxied.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({ "email": "ivy@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = c.get(proxied.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("198.51.100.23"), "the account page lists the client address");

    // RFC 7239 when configured so.
    let Some(rfc) = TestApp::spawn_with(b, |s| {
        s.trusted_proxies = vec!["127.0.0.1".into()];
        s.proxy_header = "forwarded".into();
    })
    .await
    else {
        return;
    };
    rfc.register("ivy@example.com", PASSWORD).await;
    let got = failed_login_ip(&rfc, &[("forwarded", "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https")]).await;
    assert_eq!(got.as_deref(), Some("2001:db8::7"));
    let got = failed_login_ip(&rfc, &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(got.as_deref(), Some("127.0.0.1"), "X-Forwarded-For is not believed in this mode");
}

/// Route policy (`gatehouse_http::policy`) where no route matches, and on refusals: an unknown
/// path refuses a cross-site POST like any route (the Origin check fails closed), an unknown
/// path under `/api/` answers a preflight from an allowed origin, and a 429 of the JSON API
/// carries the CORS headers an allowed origin needs to read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_policy_holds_on_unknown_paths_and_refusals() {
    const APP: &str = "https://app.example.com";
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.cors.allowed_origins = vec![APP.into()];
        s.rate_limits.login_ip = gatehouse_core::abuse::Quota::new(1, 60);
    })
    .await
    .unwrap();
    let c = browser();
    let r = c.post(app.url("/nowhere")).header("origin", "https://evil.test").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "cross_site_request");
    assert_eq!(c.post(app.url("/nowhere")).send().await.unwrap().status(), 404);

    let r = c
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/nowhere"))
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);

    let login = || {
        c.post(app.url("/api/v1/auth/login"))
            .header("origin", APP)
            .json(&json!({ "email": "nobody@example.com", "password": PASSWORD }))
            .send()
    };
    assert_eq!(login().await.unwrap().status(), 401);
    let r = login().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
    assert!(r.headers().contains_key("retry-after"));
}
