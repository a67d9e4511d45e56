//! Abuse protection over HTTP: GCRA rate limits per client IP (login, registration, refresh,
//! admin) and per account, their 429 + `Retry-After` answers and audit events; the per-account
//! progressive delay and temporary lock, which treats unknown addresses exactly like real ones,
//! holds under 100 parallel attempts, expires, and is lifted by a password change; and
//! `X-Forwarded-For` from an untrusted peer, which must not move a client to another key.

use std::time::{Duration, Instant};

use gatehouse::config::Settings;
use gatehouse_core::abuse::Quota;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(
    lock_after_failures_refuses_the_right_password_until_it_expires,
    unknown_email_is_locked_exactly_like_a_real_one,
    hundred_parallel_wrong_passwords_stay_within_the_allowance,
    set_password_lifts_the_lock,
    failures_bring_a_growing_delay,
);

/// Tests of in-process limits: the database does not matter, SQLite is enough.
macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            }
        )*
    };
}

on_sqlite!(
    login_limit_per_ip_answers_429_and_recovers,
    registration_refresh_and_admin_limits_per_ip,
    login_limit_per_account_normalises_the_address,
    forwarded_for_from_an_untrusted_peer_does_not_change_the_key,
    behind_a_trusted_proxy_the_forwarded_client_is_the_key,
);

const WRONG: &str = "not the right password";

async fn spawn_with(b: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    TestApp::spawn_with(b, tweak).await
}

fn with_lock_after(max_failures: u32) -> impl FnOnce(&mut Settings) {
    move |s| s.lockout.max_failures = max_failures
}

async fn token(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    browser()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": email, "password": password, "token_delivery": "body" }))
        .send()
        .await
        .unwrap()
}

/// Status, `WWW-Authenticate` and body: everything a client can compare.
async fn answer(r: reqwest::Response) -> (u16, Option<String>, String) {
    let status = r.status().as_u16();
    let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, www, r.text().await.unwrap())
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

/// `login.failed` events of attempts verified against the account's real hash (not refusals of
/// a locked key, which verify a dummy hash only so that they take as long).
async fn verified_failures(app: &TestApp) -> usize {
    events(app, "login.failed").await.iter().filter(|(_, d)| d["reason"] != "locked").count()
}

async fn events(app: &TestApp, kind: &str) -> Vec<(Option<String>, Value)> {
    app.audit_events()
        .await
        .into_iter()
        .filter(|e| e.0 == kind)
        .map(|(_, _, ip, details)| (ip, serde_json::from_str(&details).unwrap()))
        .collect()
}

async fn login_limit_per_ip_answers_429_and_recovers(b: Backend) {
    let Some(app) = spawn_with(b, |s| s.rate_limits.login_ip = Quota::new(3, 60)).await else { return };
    app.register("alice@example.com", PASSWORD).await;
    // One budget for all three password endpoints.
    assert_eq!(app.login("alice@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(token(&app, "alice@example.com", PASSWORD).await.status(), 200);

    let r = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let wait = retry_after(&r);
    assert!((1..=20).contains(&wait), "one request comes back every 20 s, not {wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert!(body["error_description"].as_str().unwrap().contains("try again"), "{body}");
    assert_eq!(token(&app, "alice@example.com", PASSWORD).await.status(), 429);
    // The form route answers with a page; reading the form stays possible.
    let page = app
        .client
        .post(app.url("/login"))
        .form(&[("csrf_token", "x"), ("email", "alice@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(app.client.get(app.url("/login")).send().await.unwrap().status(), 200);
    // Other endpoints have budgets of their own.
    assert_eq!(app.me(&app.client).await.status(), 200);

    // Time refills the budget (server clock; GCRA: one request per 20 s, three at most).
    app.clock.advance(i64::try_from(wait).unwrap());
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 429);
    app.clock.advance(60);
    for _ in 0..3 {
        assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
    }
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 429);

    // Audited at most once a minute per limit and client (the first refusal and the last one,
    // 80 s later), never with a password.
    let exceeded = events(&app, "rate_limit.exceeded").await;
    assert_eq!(exceeded.len(), 2, "{exceeded:?}");
    for (ip, details) in &exceeded {
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(details["limit"], "login_ip");
        assert_eq!(details["key_kind"], "ip");
        assert!(details["retry_after"].as_u64().unwrap() >= 1);
    }
    let dump = format!("{:?}", app.audit_events().await);
    assert!(!dump.contains(PASSWORD) && !dump.contains(WRONG));
}

async fn registration_refresh_and_admin_limits_per_ip(b: Backend) {
    let Some(app) = spawn_with(b, |s| {
        s.rate_limits.register_ip = Quota::new(2, 3600);
        s.rate_limits.refresh_ip = Quota::new(2, 60);
        s.rate_limits.admin_ip = Quota::new(2, 60);
        s.rate_limits.decision_ip = Quota::new(2, 60);
    })
    .await
    else {
        return;
    };
    assert_eq!(app.register("a@example.com", PASSWORD).await.status(), 202);
    assert_eq!(app.register("b@example.com", PASSWORD).await.status(), 202);
    let r = app.register("c@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!((1..=1800).contains(&retry_after(&r)));
    let form = app.client.post(app.url("/register")).form(&[("email", "c@example.com")]).send().await.unwrap();
    assert_eq!(form.status(), 429);
    assert!(form.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    app.clock.advance(1800);
    assert_eq!(app.register("c@example.com", PASSWORD).await.status(), 202);

    let refresh = || app.client.post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": "nope" })).send();
    assert_eq!(refresh().await.unwrap().status(), 401);
    assert_eq!(refresh().await.unwrap().status(), 401);
    let r = refresh().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");

    // The admin prefix is limited as a whole, whatever exists under it (the API answers 401
    // without a token; unknown paths would answer 404).
    let admin = |path: &'static str| app.client.get(app.url(path)).send();
    assert_eq!(admin("/admin/v1/users").await.unwrap().status(), 401);
    assert_eq!(admin("/admin/v1/clients").await.unwrap().status(), 401);
    assert_eq!(admin("/admin/anything").await.unwrap().status(), 429);
    assert_eq!(admin("/administrators").await.unwrap().status(), 404, "only the /admin/ prefix");

    // The decision API (AuthZEN) per caller address, before the caller is authenticated.
    let decide = |path: &'static str| app.client.post(app.url(path)).json(&json!({})).send();
    assert_eq!(decide("/access/v1/evaluation").await.unwrap().status(), 401);
    assert_eq!(decide("/access/v1/evaluations").await.unwrap().status(), 401);
    let r = decide("/access/v1/evaluation").await.unwrap();
    assert_eq!(r.status(), 429);
    assert!((1..=30).contains(&retry_after(&r)));

    let limits: Vec<String> = events(&app, "rate_limit.exceeded")
        .await
        .into_iter()
        .map(|(_, d)| d["limit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(limits, ["register_ip", "refresh_ip", "admin_ip", "decision_ip"]);
}

async fn login_limit_per_account_normalises_the_address(b: Backend) {
    let Some(app) = spawn_with(b, |s| s.rate_limits.login_account = Quota::new(2, 60)).await else { return };
    app.register("carol@example.com", PASSWORD).await;
    assert_eq!(app.login("carol@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("Carol@Example.COM", PASSWORD).await.status(), 200);
    let r = app.login(" CAROL@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
    assert_eq!(token(&app, "carol@example.com", PASSWORD).await.status(), 429, "one budget per account");
    // Other accounts — and addresses without one — are counted separately and alike.
    assert_eq!(app.login("dave@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("dave@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("dave@example.com", WRONG).await.status(), 429);
    let exceeded = events(&app, "rate_limit.exceeded").await;
    assert_eq!(exceeded.len(), 2);
    assert_eq!(exceeded[0].1["key_kind"], "account");
    assert_eq!(exceeded[0].1["email"], "carol@example.com");
    app.clock.advance(30);
    assert_eq!(app.login("carol@example.com", PASSWORD).await.status(), 200);
}

async fn forwarded_for_from_an_untrusted_peer_does_not_change_the_key(b: Backend) {
    let Some(app) = spawn_with(b, |s| s.rate_limits.login_ip = Quota::new(2, 60)).await else { return };
    let attempt = |i: usize| {
        let spoof = format!("198.51.100.{i}");
        browser()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", spoof.clone())
            .header("x-real-ip", spoof.clone())
            .header("forwarded", format!("for={spoof}"))
            .json(&json!({ "email": format!("user{i}@example.com"), "password": WRONG }))
            .send()
    };
    assert_eq!(attempt(1).await.unwrap().status(), 401);
    assert_eq!(attempt(2).await.unwrap().status(), 401);
    assert_eq!(attempt(3).await.unwrap().status(), 429, "a new X-Forwarded-For is not a new client");
    // The audit trail names the TCP peer, not the claimed address.
    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e.0 == "rate_limit.exceeded"));
    assert!(events.iter().all(|e| e.2.as_deref().is_none_or(|ip| ip == "127.0.0.1")), "{events:?}");
}

async fn behind_a_trusted_proxy_the_forwarded_client_is_the_key(b: Backend) {
    let Some(app) = spawn_with(b, |s| {
        s.rate_limits.login_ip = Quota::new(2, 60);
        s.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await
    else {
        return;
    };
    let attempt = |client: &'static str| {
        browser()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", client)
            .json(&json!({ "email": "someone@example.com", "password": WRONG }))
            .send()
    };
    assert_eq!(attempt("198.51.100.1").await.unwrap().status(), 401);
    assert_eq!(attempt("198.51.100.1").await.unwrap().status(), 401);
    assert_eq!(attempt("198.51.100.1").await.unwrap().status(), 429);
    // Another client behind the same proxy has a budget of its own.
    assert_eq!(attempt("198.51.100.2").await.unwrap().status(), 401);
    let exceeded = events(&app, "rate_limit.exceeded").await;
    assert_eq!(exceeded.len(), 1);
    assert_eq!(exceeded[0].0.as_deref(), Some("198.51.100.1"));
}

async fn lock_after_failures_refuses_the_right_password_until_it_expires(b: Backend) {
    let Some(app) = spawn_with(b, with_lock_after(3)).await else { return };
    app.register("erin@example.com", PASSWORD).await;
    let wrong = answer(app.login("erin@example.com", WRONG).await).await;
    assert_eq!(wrong.0, 401);
    for _ in 0..2 {
        assert_eq!(answer(app.login("erin@example.com", WRONG).await).await, wrong);
    }
    // Locked: the right password gets the very answer a wrong one gets, on every endpoint.
    assert_eq!(answer(app.login("erin@example.com", PASSWORD).await).await, wrong);
    assert_eq!(token(&app, "erin@example.com", PASSWORD).await.status(), 401);
    let locked = events(&app, "account.locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0].1["email"], "erin@example.com");
    assert_eq!(locked[0].1["failures"], 3);
    let until = locked[0].1["locked_until"].as_i64().unwrap();
    assert!((app.clock_now() + 900 - until).abs() <= 2, "locked for 15 minutes");
    // Refused without checking the real hash: the two refusals are audited as `locked`.
    assert_eq!(verified_failures(&app).await, 3);
    assert_eq!(events(&app, "login.failed").await.len(), 5);

    // Temporary: 15 minutes by default.
    app.clock.advance(890);
    assert_eq!(app.login("erin@example.com", PASSWORD).await.status(), 401);
    app.clock.advance(10);
    assert_eq!(app.login("erin@example.com", PASSWORD).await.status(), 200);
    // A success resets the count: two failures do not lock again.
    assert_eq!(app.login("erin@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login("erin@example.com", WRONG).await.status(), 401);
    assert_eq!(app.login_with(&browser(), "erin@example.com", PASSWORD).await.status(), 200);
}

async fn unknown_email_is_locked_exactly_like_a_real_one(b: Backend) {
    let Some(app) = spawn_with(b, with_lock_after(3)).await else { return };
    app.register("frank@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for email in ["frank@example.com", "ghost@example.com"] {
        for _ in 0..3 {
            answers.push(answer(app.login(email, WRONG).await).await);
        }
    }
    let mut locked_answers = Vec::new();
    for (email, password) in [("frank@example.com", PASSWORD), ("ghost@example.com", PASSWORD)] {
        let started = Instant::now();
        let a = answer(app.login(email, password).await).await;
        locked_answers.push((a, started.elapsed()));
    }
    // Same status, header and body as any failed login, for the real and the unknown address.
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    assert_eq!(locked_answers[0].0, answers[0]);
    assert_eq!(locked_answers[1].0, answers[0]);
    // Same timing class for both: neither locked answer checked the real hash (six verified
    // failures), and each waited the delay a fourth failure would (250 ms), as
    // `regressions::a_locked_key_answers_as_slowly_as_a_failure` checks in detail.
    assert_eq!(verified_failures(&app).await, 6);
    for (_, took) in &locked_answers {
        assert!(*took >= Duration::from_millis(250) && *took < Duration::from_secs(2), "{took:?}");
    }
    // Both locks are audited for operators.
    let emails: Vec<Value> =
        events(&app, "account.locked").await.into_iter().map(|(_, d)| d["email"].clone()).collect();
    assert_eq!(emails, [json!("frank@example.com"), json!("ghost@example.com")]);
}

async fn hundred_parallel_wrong_passwords_stay_within_the_allowance(b: Backend) {
    // The default allowance: 10 failures lock for 15 minutes.
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("target@example.com", PASSWORD).await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let url = app.url(if i % 2 == 0 { "/api/v1/auth/login" } else { "/api/v1/auth/token" });
            tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .json(&json!({ "email": "target@example.com", "password": format!("wrong guess {i}") }))
                    .send()
                    .await
                    .unwrap();
                answer(r).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0] && a.0 == 401), "{answers:#?}");
    // At most the allowance was checked against the real hash; the rest were refused as locked.
    let verified = verified_failures(&app).await;
    assert_eq!(verified, 10, "{verified} attempts were verified");
    assert_eq!(events(&app, "account.locked").await.len(), 1);
    assert_eq!(app.login("target@example.com", PASSWORD).await.status(), 401, "locked");
    app.clock.advance(15 * 60);
    assert_eq!(app.login("target@example.com", PASSWORD).await.status(), 200);
}

async fn set_password_lifts_the_lock(b: Backend) {
    let Some(app) = spawn_with(b, with_lock_after(3)).await else { return };
    app.register("gina@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.login("gina@example.com", WRONG).await.status(), 401);
    }
    assert_eq!(app.login("gina@example.com", PASSWORD).await.status(), 401, "locked");
    let new_password = "a fresh and long passphrase";
    let out = app.cli(&["users", "set-password", "gina@example.com", "--password-stdin"], Some(new_password)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The CLI is another process: the lock lives in the database, so it is gone for the server.
    assert_eq!(app.login("gina@example.com", new_password).await.status(), 200);
    let changed = events(&app, "password.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].1["login_lock_cleared"], true);
}

async fn failures_bring_a_growing_delay(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("hank@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.login("hank@example.com", WRONG).await.status(), 401);
    }
    // Defaults: no delay for three failures, then 250 ms, 500 ms, … (for any address).
    for (email, at_least) in [("hank@example.com", 250), ("hank@example.com", 500)] {
        let started = Instant::now();
        assert_eq!(app.login(email, WRONG).await.status(), 401);
        assert!(started.elapsed() >= Duration::from_millis(at_least), "{:?} < {at_least} ms", started.elapsed());
    }
    let started = Instant::now();
    assert_eq!(app.login("hank@example.com", PASSWORD).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(1), "the delay comes before the verification");
}
