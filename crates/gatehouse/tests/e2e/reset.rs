//! Password reset by email (issue #14 part 3; OWASP Forgot Password Cheat Sheet): the same
//! answer for every address, single-use links that die when superseded, expired, used, or
//! made pointless by a sign-in; the policy checked before a link is used; everything of the
//! old password ended; bad input refused cleanly.

use std::time::{Duration, Instant};

use gatehouse_core::abuse::Quota;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::mailbox::ReceivedMail;
use crate::on_both_backends;

on_both_backends!(
    reset_happy_path_ends_every_session_and_refresh_family,
    every_address_gets_the_same_answer_and_only_active_accounts_mail,
    links_die_when_superseded_used_expired_or_after_sign_in,
    a_weak_password_does_not_burn_the_link,
    a_link_resets_only_its_own_account,
    reset_lifts_the_login_lock,
    rate_limits_per_address_and_per_ip,
    forged_host_headers_do_not_change_the_link,
    admin_can_send_a_reset_mail,
    bad_input_is_refused_cleanly,
);

const NEW_PASSWORD: &str = "a brand new passphrase";

/// `POST /api/v1/auth/password/forgot`.
pub(crate) async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.client.post(app.url("/api/v1/auth/password/forgot")).json(&json!({ "email": email })).send().await.unwrap()
}

/// Mails to `to` that carry a reset link.
fn reset_mails(app: &TestApp, to: &str) -> Vec<ReceivedMail> {
    app.mails_to(to).into_iter().filter(|m| m.link().is_some_and(|l| l.contains("/reset-password?"))).collect()
}

/// Waits for the `n`th reset mail to `to` and returns its token.
pub(crate) async fn reset_token(app: &TestApp, to: &str, n: usize) -> String {
    for _ in 0..300 {
        let mails = reset_mails(app, to);
        if mails.len() >= n {
            let mail = &mails[n - 1];
            assert!(mail.link().unwrap().starts_with(&app.url("/reset-password?token=")), "{mail:?}");
            return mail.token().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no reset mail #{n} to {to}");
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    let body = json!({ "token": token, "password": password });
    app.client.post(app.url("/api/v1/auth/password/reset")).json(&body).send().await.unwrap()
}

async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    app.audit_events()
        .await
        .into_iter()
        .filter(|(t, ..)| t == kind)
        .map(|(.., d)| serde_json::from_str(&d).unwrap())
        .collect()
}

/// The events of `kind` once there are at least `n` (forgot-password requests are processed
/// off the request path, so their audit rows land a moment after the answer).
async fn events_eventually(app: &TestApp, kind: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let found = events(app, kind).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} {kind} events");
}

async fn reset_happy_path_ends_every_session_and_refresh_family(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    app.register_user("alice@example.com", PASSWORD).await;
    // A browser session and a token login (refresh token in the body) of the old password.
    let other = browser();
    assert_eq!(app.login_with(&other, "alice@example.com", PASSWORD).await.status(), 200);
    let r = browser()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "alice@example.com", "password": PASSWORD, "token_delivery": "body" }))
        .send()
        .await
        .unwrap();
    let refresh = r.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();

    // The sign-in page links to the form; the form answers with the neutral message.
    let c = browser();
    let login = c.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("href=\"/forgot-password\""), "{login}");
    let page = c.get(app.url("/forgot-password")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let form = [("csrf_token", csrf.as_str()), ("email", "Alice@Example.com")];
    let r = c.post(app.url("/forgot-password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("If an account exists for this address"));
    let token = reset_token(&app, "alice@example.com", 1).await;
    assert_eq!(token.len(), 43, "256 bits, base64url");

    // GET shows the form and uses nothing up (a mail scanner may fetch it).
    let link = app.url(&format!("/reset-password?token={token}"));
    for _ in 0..2 {
        let r = c.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["referrer-policy"], "no-referrer", "the token must not leak by Referer");
    }
    let page = c.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("token", token.as_str()),
        ("password", NEW_PASSWORD),
        ("password_confirm", NEW_PASSWORD),
    ];
    let r = c.post(app.url("/reset-password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?notice=password_reset");
    let notice = c.get(app.url("/login?notice=password_reset")).send().await.unwrap().text().await.unwrap();
    assert!(notice.contains("Sign in with the new password"));

    // Everything of the old password has ended.
    assert_eq!(app.me(&other).await.status(), 401, "browser session ended");
    let r = browser().post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": refresh })).send().await;
    assert_eq!(r.unwrap().status(), 401, "refresh family revoked");
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("alice@example.com", NEW_PASSWORD).await.status(), 200);
    // Second use of the link: the one generic error.
    let r = c.post(app.url("/reset-password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("this link is invalid or has expired"));
    assert_eq!(c.get(&link).send().await.unwrap().status(), 400);

    let changed = app.mails_to("alice@example.com").into_iter().any(|m| m.subject.contains("password"));
    assert!(changed, "a notification of the change was mailed");
    let requested = events_eventually(&app, "password.reset_requested", 1).await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["known"], true);
    let done = events(&app, "password.reset").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["login_lock_cleared"], false);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn every_address_gets_the_same_answer_and_only_active_accounts_mail(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    app.register_user("alice@example.com", PASSWORD).await;
    app.register_user("dora@example.com", PASSWORD).await;
    assert!(app.cli(&["users", "disable", "dora@example.com"], None).await.status.success());

    // JSON: the same status and the same bytes.
    let mut answers = Vec::new();
    for email in ["alice@example.com", "nobody@example.com", "dora@example.com"] {
        let r = forgot(&app, email).await;
        answers.push((r.status(), r.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 202);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // The page: the same status and the same bytes too (the CSRF token is the one sent).
    let c = browser();
    let csrf = csrf_from(&c.get(app.url("/forgot-password")).send().await.unwrap().text().await.unwrap());
    let mut pages = Vec::new();
    for email in ["alice@example.com", "nobody@example.com", "dora@example.com"] {
        let form = [("csrf_token", csrf.as_str()), ("email", email)];
        let r = c.post(app.url("/forgot-password")).form(&form).send().await.unwrap();
        pages.push((r.status(), r.text().await.unwrap()));
    }
    assert_eq!(pages[0].0, 200);
    assert!(pages.iter().all(|p| *p == pages[0]), "the pages differ");

    reset_token(&app, "alice@example.com", 2).await;
    assert!(app.mails_to("nobody@example.com").is_empty());
    assert!(reset_mails(&app, "dora@example.com").is_empty(), "a disabled account gets no link");
    // The audit trail records the requests, never the address of an unknown one.
    let requested = events_eventually(&app, "password.reset_requested", 6).await;
    assert_eq!(requested.len(), 6);
    assert!(requested.iter().all(|d| !d.to_string().contains("nobody")), "{requested:?}");
    assert_eq!(requested.iter().filter(|d| d["known"] == false).count(), 2);

    // Timing: the answer waits for none of the address-dependent work (it happens off the
    // request path). Measured, with a bound generous enough never to flake on a shared
    // machine: it catches a known address costing a database write more, not jitter.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..7 {
        let t = Instant::now();
        forgot(&app, "alice@example.com").await;
        known.push(t.elapsed());
        let t = Instant::now();
        forgot(&app, &format!("nobody{i}@example.com")).await;
        unknown.push(t.elapsed());
    }
    let (k, u) = (median(known), median(unknown));
    eprintln!("forgot-password median: known {k:?}, unknown {u:?}");
    let slack = Duration::from_millis(50);
    assert!(k < u * 5 + slack && u < k * 5 + slack, "known {k:?} vs unknown {u:?}");
}

async fn links_die_when_superseded_used_expired_or_after_sign_in(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    app.register_user("bob@example.com", PASSWORD).await;
    // A newer request kills the older link.
    forgot(&app, "bob@example.com").await;
    let old = reset_token(&app, "bob@example.com", 1).await;
    forgot(&app, "bob@example.com").await;
    let new = reset_token(&app, "bob@example.com", 2).await;
    let r = reset(&app, &old, NEW_PASSWORD).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_link");
    // A successful sign-in kills the pending one.
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), 200);
    assert_eq!(reset(&app, &new, NEW_PASSWORD).await.status(), 400);
    // Expiry: 30 minutes.
    forgot(&app, "bob@example.com").await;
    let expiring = reset_token(&app, "bob@example.com", 3).await;
    app.clock.advance(30 * 60 + 1);
    assert_eq!(reset(&app, &expiring, NEW_PASSWORD).await.status(), 400);
    assert_eq!(
        app.client.get(app.url(&format!("/reset-password?token={expiring}"))).send().await.unwrap().status(),
        400
    );
    // Used once, then never again (JSON).
    forgot(&app, "bob@example.com").await;
    let fresh = reset_token(&app, "bob@example.com", 4).await;
    assert_eq!(reset(&app, &fresh, NEW_PASSWORD).await.status(), 204);
    assert_eq!(reset(&app, &fresh, "yet another passphrase").await.status(), 400);
    assert_eq!(app.login("bob@example.com", NEW_PASSWORD).await.status(), 200);
    // A password change kills a pending link too.
    forgot(&app, "bob@example.com").await;
    let pending = reset_token(&app, "bob@example.com", 5).await;
    let c = browser();
    assert_eq!(app.login_with(&c, "bob@example.com", NEW_PASSWORD).await.status(), 200);
    let body = json!({ "current_password": NEW_PASSWORD, "new_password": "third passphrase here" });
    let r = c.post(app.url("/api/v1/account/password")).header("x-gatehouse-csrf", "1").json(&body).send().await;
    assert_eq!(r.unwrap().status(), 204);
    assert_eq!(reset(&app, &pending, NEW_PASSWORD).await.status(), 400);
}

async fn a_weak_password_does_not_burn_the_link(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("carol@example.com", PASSWORD).await;
    forgot(&app, "carol@example.com").await;
    let token = reset_token(&app, "carol@example.com", 1).await;
    for weak in ["short", "password123", "carol@example.com"] {
        let r = reset(&app, &token, weak).await;
        assert_eq!(r.status(), 422, "{weak}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "weak_password");
    }
    // The page says so too, and keeps the form; two different entries are refused as well.
    let c = browser();
    let page = c.get(app.url(&format!("/reset-password?token={token}"))).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let form = [("csrf_token", csrf.as_str()), ("token", &token), ("password", "short"), ("password_confirm", "short")];
    let r = c.post(app.url("/reset-password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("name=\"password_confirm\""));
    let form =
        [("csrf_token", csrf.as_str()), ("token", &token), ("password", NEW_PASSWORD), ("password_confirm", "other")];
    assert_eq!(c.post(app.url("/reset-password")).form(&form).send().await.unwrap().status(), 422);
    assert_eq!(app.login("carol@example.com", PASSWORD).await.status(), 200, "nothing changed yet");
    // The link still works... but the successful sign-in above ended it, so ask again.
    forgot(&app, "carol@example.com").await;
    let token = reset_token(&app, "carol@example.com", 2).await;
    assert_eq!(reset(&app, &token, "short").await.status(), 422);
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204, "the link survived the weak attempt");
}

async fn a_link_resets_only_its_own_account(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    let a = app.register_user("a@example.com", PASSWORD).await;
    app.register_user("b@example.com", PASSWORD).await;
    forgot(&app, "a@example.com").await;
    let token = reset_token(&app, "a@example.com", 1).await;
    // There is no way to name another account: extra fields are ignored, the token decides.
    let body = json!({ "token": token, "password": NEW_PASSWORD, "email": "b@example.com", "user_id": "b" });
    let r = app.client.post(app.url("/api/v1/auth/password/reset")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.login("b@example.com", PASSWORD).await.status(), 200, "B is untouched");
    assert_eq!(app.login("b@example.com", NEW_PASSWORD).await.status(), 401);
    assert_eq!(app.login("a@example.com", NEW_PASSWORD).await.status(), 200);
    let done = app.audit_events().await.into_iter().filter(|(t, ..)| t == "password.reset").count();
    assert_eq!(done, 1);
    assert!(a["id"].is_string());
}

async fn reset_lifts_the_login_lock(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.lockout.max_failures = 3;
        s.lockout.free_failures = 3;
    })
    .await
    else {
        return;
    };
    app.register_user("erin@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.login("erin@example.com", "wrong password!").await.status(), 401);
    }
    assert_eq!(app.login("erin@example.com", PASSWORD).await.status(), 401, "locked");
    forgot(&app, "erin@example.com").await;
    let token = reset_token(&app, "erin@example.com", 1).await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    assert_eq!(app.login("erin@example.com", NEW_PASSWORD).await.status(), 200, "the lock was lifted");
    assert_eq!(events(&app, "password.reset").await[0]["login_lock_cleared"], true);
}

async fn rate_limits_per_address_and_per_ip(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.rate_limits.reset_account = Quota::new(2, 3600);
        s.rate_limits.reset_ip = Quota::new(5, 3600);
    })
    .await
    else {
        return;
    };
    app.register_user("fay@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        let r = forgot(&app, "FAY@example.com").await;
        answers.push((r.status(), r.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| *a == answers[0] && a.0 == 202), "over the limit: the same answer");
    reset_token(&app, "fay@example.com", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reset_mails(&app, "fay@example.com").len(), 2, "no mail over the per-address limit");
    // The requests are processed off the request path, in any order: wait for all three.
    let requested = events_eventually(&app, "password.reset_requested", 3).await;
    assert_eq!(requested.iter().filter(|e| e["rate_limited"] == true).count(), 1, "{requested:?}");
    // Per IP: whatever the address.
    assert_eq!(forgot(&app, "x@example.com").await.status(), 202);
    assert_eq!(forgot(&app, "y@example.com").await.status(), 202);
    let r = forgot(&app, "z@example.com").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

async fn forged_host_headers_do_not_change_the_link(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    app.register_user("gus@example.com", PASSWORD).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/password/forgot"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https")
        .json(&json!({ "email": "gus@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    reset_token(&app, "gus@example.com", 1).await;
    let mail = reset_mails(&app, "gus@example.com").pop().unwrap();
    assert!(mail.link().unwrap().starts_with(&app.url("/reset-password?token=")), "{mail:?}");
    assert!(!mail.text.contains("evil.example") && !mail.html.contains("evil.example"));
}

async fn admin_can_send_a_reset_mail(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("admin@example.com", PASSWORD).await;
    crate::admin::cli_ok(&app, &["roles", "grant", "admin", "--user", "admin@example.com"]).await;
    let admin = crate::admin::token(&app, "admin@example.com").await;
    let hal = app.register_user("hal@example.com", PASSWORD).await;
    let path = format!("/admin/v1/users/{}/password-reset", hal["id"].as_str().unwrap());
    let r = crate::admin::call(&app, Some(&admin), reqwest::Method::POST, &path, None).await;
    assert_eq!(r.status(), 202);
    let token = reset_token(&app, "hal@example.com", 1).await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), 204);
    let unknown = "/admin/v1/users/00000000-0000-7000-8000-000000000000/password-reset";
    let r = crate::admin::call(&app, Some(&admin), reqwest::Method::POST, unknown, None).await;
    assert_eq!(r.status(), 404);
    let r = crate::admin::call(&app, None, reqwest::Method::POST, &path, None).await;
    assert_eq!(r.status(), 401);
    let requested = events(&app, "password.reset_requested").await;
    assert_eq!(requested[0]["by"], "admin");
}

async fn bad_input_is_refused_cleanly(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let post_json = |path: &'static str, body: Vec<u8>| {
        app.client.post(app.url(path)).header("content-type", "application/json").body(body).send()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/api/v1/auth/password/forgot", br#"{"email":"a\u0000b@example.com"}"#.to_vec()),
        ("/api/v1/auth/password/forgot", b"{\"email\":\"\xff\xfe@example.com\"}".to_vec()),
        ("/api/v1/auth/password/forgot", b"{}".to_vec()),
        ("/api/v1/auth/password/forgot", b"not json".to_vec()),
        ("/api/v1/auth/password/reset", b"{}".to_vec()),
        ("/api/v1/auth/password/reset", br#"{"token":"x\u0000","password":"a brand new passphrase"}"#.to_vec()),
        ("/api/v1/auth/password/reset", b"{\"token\":\"\xff\",\"password\":\"p\"}".to_vec()),
    ];
    for (path, body) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let r = post_json(path, body).await.unwrap();
        assert!(r.status().is_client_error(), "{path} {shown}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string(), "{path} {shown}: {v}");
    }
    // Forms: CSRF first, then fields; hostile input is escaped, never echoed raw.
    let c = browser();
    let csrf = csrf_from(&c.get(app.url("/forgot-password")).send().await.unwrap().text().await.unwrap());
    let r = c.post(app.url("/forgot-password")).form(&[("email", "a@example.com")]).send().await.unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    let r = c
        .post(app.url("/forgot-password"))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", csrf.as_str()), ("email", "a@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "cross-site");
    let form = [("csrf_token", csrf.as_str()), ("email", "<script>alert(1)</script>")];
    let r = c.post(app.url("/forgot-password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>alert"), "escaped");
    let raw = |body: &'static [u8]| {
        c.post(app.url("/reset-password")).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    for body in [&b"token=%00&password=x&password_confirm=x"[..], b"token=%FF&password=x", b"csrf_token=x"] {
        let status = raw(body).await.unwrap().status();
        assert!(status.is_client_error(), "{}: {status}", String::from_utf8_lossy(body));
    }
    for query in ["", "?token=", "?token=%00", "?token=%FF%FE", "?token=nope", "?x=1&token=a&token=b"] {
        let r = c.get(app.url(&format!("/reset-password{query}"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
    }
}
