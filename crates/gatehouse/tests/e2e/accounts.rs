//! Registration, JSON login, sessions and their expiry, identical failures, bcrypt import,
//! concurrency of the hashing pool, literal storage of hostile input.

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, set_cookies};
use crate::on_both_backends;

on_both_backends!(
    register_login_me_logout,
    session_cookie_is_renewed_on_login_with_right_attributes,
    secure_issuer_uses_host_prefixed_secure_cookie,
    idle_timeout_ends_session,
    absolute_timeout_ends_session,
    login_failures_are_indistinguishable,
    bcrypt_import_is_upgraded_to_argon2id,
    fifty_concurrent_logins_stay_within_the_hashing_pool,
    a_burst_beyond_the_hashing_queue_is_refused_with_503,
    hostile_input_is_stored_and_matched_literally,
    duplicate_and_lookalike_registration_is_refused,
    weak_passwords_are_refused,
    registration_can_be_switched_off,
    audit_events_are_written,
);

async fn register_login_me_logout(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let r = app.register("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "check_email");
    assert!(body.get("id").is_none() && body.get("email").is_none(), "{body}");
    // A verification link went out, built from the issuer.
    let mail = app.wait_for_mail("alice@example.com", 1).await;
    assert!(mail.subject.starts_with("Confirm your email address"), "{mail:?}");
    assert!(mail.link().unwrap().starts_with(&app.url("/verify-email?token=")), "{mail:?}");
    assert_eq!(mail.token().unwrap().len(), 43);

    let r = app.login("ALICE@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert!(body["user"].get("password_hash").is_none());

    let r = app.me(&app.client).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["email"], "alice@example.com");

    let r = app.client.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = app.me(&app.client).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthenticated");
}

async fn session_cookie_is_renewed_on_login_with_right_attributes(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("bob@example.com", PASSWORD).await;
    let first = set_cookies(&app.login("bob@example.com", PASSWORD).await);
    let second = set_cookies(&app.login("bob@example.com", PASSWORD).await);
    let value = |c: &[String]| c.iter().find(|c| c.starts_with("gatehouse_session=")).cloned().expect("session cookie");
    let (first, second) = (value(&first), value(&second));
    assert_ne!(first.split(';').next(), second.split(';').next(), "a new id on every login");
    let token = first.split(';').next().unwrap().trim_start_matches("gatehouse_session=");
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(second.contains(attr), "{attr} missing in {second}");
    }
    // Loopback http issuer: browsers refuse Secure and __Host- over http, so neither is set.
    assert!(!second.contains("Secure"));
    assert!(!second.contains("Domain"));
    // The session of the first login was ended by the second (anti-fixation).
    let old = reqwest::Client::new();
    let r = old.get(app.url("/api/v1/me")).header("cookie", first.split(';').next().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

async fn secure_issuer_uses_host_prefixed_secure_cookie(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.issuer = "https://id.example.test".into()).await else { return };
    app.register("carol@example.com", PASSWORD).await;
    let cookies = set_cookies(&app.login("carol@example.com", PASSWORD).await);
    let c = cookies.iter().find(|c| c.starts_with("__Host-gatehouse_session=")).expect("__Host- cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
}

async fn idle_timeout_ends_session(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("idle@example.com", PASSWORD).await;
    assert_eq!(app.login("idle@example.com", PASSWORD).await.status(), 200);
    // Activity keeps the session alive past the 30-minute idle timeout...
    for _ in 0..3 {
        app.clock.advance(25 * 60);
        assert_eq!(app.me(&app.client).await.status(), 200);
    }
    // ...and 30 minutes without a request ends it.
    app.clock.advance(30 * 60);
    assert_eq!(app.me(&app.client).await.status(), 401);
    // Gone for good, not only until the clock is turned back.
    app.clock.advance(-30 * 60);
    assert_eq!(app.me(&app.client).await.status(), 401);
}

async fn absolute_timeout_ends_session(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("abs@example.com", PASSWORD).await;
    assert_eq!(app.login("abs@example.com", PASSWORD).await.status(), 200);
    let mut elapsed = 0;
    while elapsed + 20 * 60 < 24 * 3600 {
        app.clock.advance(20 * 60);
        elapsed += 20 * 60;
        assert_eq!(app.me(&app.client).await.status(), 200, "after {elapsed}s");
    }
    app.clock.advance(24 * 3600 - elapsed);
    assert_eq!(app.me(&app.client).await.status(), 401, "24 hours after sign-in, activity or not");
}

async fn login_failures_are_indistinguishable(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("dave@example.com", PASSWORD).await;
    app.register("erin@example.com", PASSWORD).await;
    let out = app.cli(&["users", "disable", "erin@example.com"], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut answers = Vec::new();
    for (email, password) in [
        ("dave@example.com", "wrong password here"),
        ("nobody@example.com", PASSWORD),
        ("erin@example.com", PASSWORD),
        ("not-an-email", PASSWORD),
    ] {
        let r = app.login(email, password).await;
        let status = r.status();
        let www = r.headers().get("www-authenticate").cloned();
        let body = r.text().await.unwrap();
        answers.push((status, www, body));
    }
    assert_eq!(answers[0].0, 401);
    assert!(answers[0].1.is_some());
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    assert_eq!(serde_json::from_str::<Value>(&answers[0].2).unwrap()["error"], "invalid_credentials");
}

async fn bcrypt_import_is_upgraded_to_argon2id(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    // $2b$ hash of "legacy password 1" (cost 4), as another system would have stored it.
    let hash = bcrypt::hash("legacy password 1", 4).unwrap();
    let out = app
        .cli(&["users", "create", "--email", "old@example.com", "--password-hash-stdin", "--json"], Some(&hash))
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(app.stored_password_hash("old@example.com").await.starts_with("$2b$"));
    assert_eq!(app.login("old@example.com", "wrong").await.status(), 401);
    assert!(app.stored_password_hash("old@example.com").await.starts_with("$2b$"), "no upgrade on failure");
    assert_eq!(app.login("old@example.com", "legacy password 1").await.status(), 200);
    let upgraded = app.stored_password_hash("old@example.com").await;
    assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{upgraded}");
    // The upgraded hash verifies the same password.
    let again = browser();
    assert_eq!(app.login_with(&again, "old@example.com", "legacy password 1").await.status(), 200);
}

async fn fifty_concurrent_logins_stay_within_the_hashing_pool(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("busy@example.com", PASSWORD).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = app.url("/api/v1/auth/login");
        tasks.push(tokio::spawn(async move {
            let password = if i % 5 == 0 { "a wrong password" } else { PASSWORD };
            let r = reqwest::Client::new()
                .post(url)
                .json(&json!({ "email": "busy@example.com", "password": password }))
                .send()
                .await
                .unwrap();
            (i, r.status().as_u16())
        }));
    }
    for t in tasks {
        let (i, status) = t.await.unwrap();
        assert_eq!(status, if i % 5 == 0 { 401 } else { 200 });
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    assert_eq!(gauge("gatehouse_password_hash_pool_size"), 2.0);
    let peak = gauge("gatehouse_password_hash_peak_in_flight");
    assert!((1.0..=2.0).contains(&peak), "peak in flight {peak}");
}

/// Overload (issue #19): with every hashing slot busy and the queue full, a sign-in is refused
/// at once with 503, `Retry-After` and an error body, never a 500, and nothing is half done;
/// the admitted ones succeed, and once the burst is over sign-ins work again.
async fn a_burst_beyond_the_hashing_queue_is_refused_with_503(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.password.pool_size = 1;
        s.password.queue_size = 2;
    })
    .await
    else {
        return;
    };
    app.register("burst@example.com", PASSWORD).await;
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let url = app.url("/api/v1/auth/login");
        tasks.push(tokio::spawn(async move {
            let body = json!({ "email": "burst@example.com", "password": PASSWORD });
            let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (status, retry_after, r.json::<Value>().await.unwrap())
        }));
    }
    let (mut admitted, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (200, _, _) => admitted += 1,
            (503, retry_after, body) => {
                refused += 1;
                assert_eq!(retry_after.as_deref(), Some("1"));
                assert_eq!(body["error"], "temporarily_unavailable", "{body}");
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // One hashing and two waiting at most at any moment: of 24 at once, most are refused.
    assert!(admitted >= 3 && refused >= 1, "admitted {admitted}, refused {refused}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatehouse_password_hash_queue_size 2"), "{metrics}");
    let refused_total = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_password_hash_refused_total "))
        .and_then(|v| v.parse::<f64>().ok());
    // At least ours: under `cargo test` the recorder is shared with tests running beside this one.
    assert!(refused_total.is_some_and(|n| n >= f64::from(refused)), "{refused_total:?}");
    // A refused sign-in counted no failure against the account: it still signs in.
    assert_eq!(app.login("burst@example.com", PASSWORD).await.status(), 200);
}

async fn hostile_input_is_stored_and_matched_literally(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let email = "o'brien\";--%_\\@exämple.com";
    let password = "p'; DROP TABLE users;-- ü€😀";
    assert_eq!(app.register(email, password).await.status(), 202);
    for (e, p) in [
        ("' OR '1'='1", "' OR '1'='1"),
        ("o'brien\";--%_\\@exämple.com' --", password),
        ("o'brien\";--__\\@exämple.com", password),
        (email, "p'; DROP TABLE users;-- ü€"),
    ] {
        assert_eq!(app.login(e, p).await.status(), 401, "{e} / {p}");
    }
    assert_eq!(app.login(email, password).await.status(), 200);
    assert_eq!(app.me(&app.client).await.json::<Value>().await.unwrap()["email"], email);
}

/// Issue #14: a taken address gets the same status and body as a new one (nothing tells an
/// outsider who has an account); the owner is told by mail instead.
async fn duplicate_and_lookalike_registration_is_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let first = app.register("frank@example.com", PASSWORD).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "check_email");
    let dups = ["frank@example.com", "FRANK@Example.com", "\u{ff46}rank@example.com", " frank@example.com "];
    for dup in dups {
        let r = app.register(dup, "another good password").await;
        assert_eq!(r.status(), 202, "{dup}");
        assert_eq!(r.json::<Value>().await.unwrap(), first, "{dup}");
    }
    // The verification link of the first registration, then one warning per attempt.
    let newest = app.wait_for_mail("frank@example.com", dups.len() + 1).await;
    assert_eq!(newest.header("from"), Some("Gatehouse <noreply@localhost>"));
    let mails = app.mails_to("frank@example.com");
    let attempts: Vec<_> = mails.iter().filter(|m| m.subject.starts_with("Someone tried to register")).collect();
    assert_eq!(attempts.len(), dups.len(), "{mails:?}");
    assert_eq!(attempts[0].link().unwrap(), app.url("/forgot-password"));
    assert_eq!(attempts[0].token(), None);
    assert!(attempts[0].html.contains("Someone tried to create"), "{}", attempts[0].html);
    let duplicates = app.audit_events().await.into_iter().filter(|e| e.0 == "user.registration_duplicate").count();
    assert_eq!(duplicates, dups.len());
    // The first account is untouched: its password still works, the second one does not.
    assert_eq!(app.login("frank@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.login("frank@example.com", "another good password").await.status(), 401);
}

async fn weak_passwords_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    for (password, fragment) in [
        ("short", "at least 8"),
        ("password1", "too common"),
        ("grace@example.com", "email"),
        (&*"x".repeat(129), "at most 128"),
    ] {
        let r = app.register("grace@example.com", password).await;
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "weak_password");
        assert!(body["error_description"].as_str().unwrap().contains(fragment), "{body}");
    }
    // Nothing was stored by the refused attempts.
    assert_eq!(app.register("grace@example.com", PASSWORD).await.status(), 202);
}

async fn registration_can_be_switched_off(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.registration_enabled = false).await else { return };
    let r = app.register("henry@example.com", PASSWORD).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "registration_disabled");
    assert_eq!(app.client.get(app.url("/register")).send().await.unwrap().status(), 403);
    // Operators can still create accounts.
    let out = app.cli(&["users", "create", "--email", "henry@example.com", "--password-stdin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.login("henry@example.com", PASSWORD).await.status(), 200);
}

async fn audit_events_are_written(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("ivy@example.com", PASSWORD).await;
    app.login("ivy@example.com", "wrong password!").await;
    app.login("ivy@example.com", PASSWORD).await;
    app.client.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    let events: Vec<_> = app.audit_events().await.into_iter().filter(|e| !e.0.starts_with("key.")).collect();
    let types: Vec<&str> = events.iter().map(|(t, _, _, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["user.registered", "email.verification_sent", "login.failed", "login.succeeded", "session.logout"]
    );
    assert_eq!(events[2].1, "failure");
    assert!(events.iter().all(|(_, _, ip, _)| ip.as_deref() == Some("127.0.0.1")));
    assert!(events[2].3.contains("wrong_password"), "{}", events[2].3);
    // No secret reaches the audit log.
    let dump = format!("{events:?}");
    assert!(!dump.contains(PASSWORD) && !dump.contains("wrong password!"));
}
