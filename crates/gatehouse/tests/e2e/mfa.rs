//! Two-step sign-in, first slice of issue #15: TOTP enrolment on the account page with codes
//! computed here from the secret (RFC 6238 with HMAC-SHA-1 from aws-lc-rs, not the server's
//! code), sign-in with a second factor on the page (continuing a parked authorization request,
//! `amr` in the ID token) and through the JSON APIs, replay refusal, the lockout, recovery
//! codes, disable, admin reset, and the pending step's expiry, single use and browser binding.

use aws_lc_rs::hmac;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from, set_cookies};
use crate::oauth::{REDIRECT, authorize_url, location, pkce, query_of, setup, token_request};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    enrolment_and_page_sign_in_continue_the_authorization_with_amr,
    api_sign_in_refuses_wrong_and_replayed_codes,
    wrong_codes_lock_the_second_step,
    recovery_codes_work_once_and_regenerate_disable_and_reset,
    the_pending_step_expires_is_single_use_and_bound_to_its_browser,
    forms_refuse_missing_or_foreign_csrf_tokens_and_cross_site_posts,
    a_provider_sign_in_still_asks_for_the_second_factor,
);

const ADA: &str = "ada@example.com";

pub(crate) fn b32decode(s: &str) -> Vec<u8> {
    let (mut bits, mut n, mut out) = (0u64, 0u32, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

/// RFC 6238 §4 with HMAC-SHA-1, 30-second steps, 6 digits (RFC 4226 §5.3 truncation).
pub(crate) fn totp_at(secret: &[u8], time: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &((time / 30) as u64).to_be_bytes());
    let d = tag.as_ref();
    let off = usize::from(d[19] & 0xf);
    let bin = (u32::from_be_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]]) & 0x7fff_ffff) % 1_000_000;
    format!("{bin:06}")
}

/// A code of the next time step (so that it was never used before).
pub(crate) fn fresh_code(app: &TestApp, secret: &[u8]) -> String {
    app.clock.advance(30);
    totp_at(secret, app.clock_now())
}

fn wrong_code(app: &TestApp, secret: &[u8]) -> String {
    let right: u32 = totp_at(secret, app.clock_now()).parse().unwrap();
    format!("{:06}", (right + 500_000) % 1_000_000)
}

pub(crate) fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page.find(start).unwrap_or_else(|| panic!("{start} in {page}")) + start.len();
    &page[from..from + page[from..].find(end).unwrap()]
}

fn recovery_codes(page: &str) -> Vec<String> {
    page.split("<li><code>").skip(1).map(|c| c.split_once("</code>").unwrap().0.to_owned()).collect()
}

/// A browser signed in as `email` (password only: no second factor yet).
pub(crate) async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let b = browser();
    assert_eq!(app.login_with(&b, email, PASSWORD).await.status(), 200);
    b
}

/// Sets TOTP up through the account pages; returns the secret and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, b: &reqwest::Client) -> (Vec<u8>, Vec<String>) {
    let page = b.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("No authenticator app is set up"), "{page}");
    let csrf = csrf_from(&page);
    let form = [("csrf_token", csrf.as_str()), ("password", "a wrong password")];
    let r = b.post(app.url("/account/mfa/totp")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403, "re-authentication");
    let form = [("csrf_token", csrf.as_str()), ("password", PASSWORD)];
    let r = b.post(app.url("/account/mfa/totp")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg ") && page.contains("<path d=\"M"), "QR code as inline SVG");
    assert!(!page.contains("style=") && !page.contains("<script"));
    let secret = b32decode(between(&page, "<code id=\"totp-secret\">", "</code>"));
    assert_eq!(secret.len(), 20);
    let wrong = wrong_code(app, &secret);
    let r = b.post(app.url("/account/mfa/totp/confirm")).form(&[("csrf_token", &csrf), ("code", &wrong)]).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("totp-secret"), "the same set-up, shown again");
    let code = totp_at(&secret, app.clock_now());
    let r = b.post(app.url("/account/mfa/totp/confirm")).form(&[("csrf_token", &csrf), ("code", &code)]).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), 200);
    let codes = recovery_codes(&r.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    let page = b.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Recovery codes left: <strong>10</strong>"), "{page}");
    (secret, codes)
}

async fn api_login(app: &TestApp, b: &reqwest::Client, path: &str) -> Value {
    let body = json!({ "email": ADA, "password": PASSWORD, "token_delivery": "body" });
    let r = b.post(app.url(path)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(set_cookies(&r).is_empty(), "no session before the second factor");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "mfa_required");
    assert_eq!(v["methods"], json!(["totp", "recovery_code"]));
    v
}

async fn mfa(app: &TestApp, b: &reqwest::Client, token: &Value, code: &str) -> reqwest::Response {
    let body = json!({ "mfa_token": token["mfa_token"], "code": code, "token_delivery": "body" });
    b.post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap()
}

/// The sign-in page up to the second step: `POST /login` answers 303 to `/login/mfa`.
async fn page_password_step(app: &TestApp, b: &reqwest::Client, next: Option<&str>) -> String {
    let page = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let mut form = vec![("csrf_token", csrf.as_str()), ("email", ADA), ("password", PASSWORD)];
    if let Some(n) = next {
        form.push(("next", n));
    }
    let r = b.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/mfa");
    assert!(set_cookies(&r).iter().all(|c| !c.contains("gatehouse_session=")), "no session yet");
    let page = b.get(app.url("/login/mfa")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    csrf_from(&page.text().await.unwrap())
}

pub(crate) async fn page_code(app: &TestApp, b: &reqwest::Client, csrf: &str, code: &str) -> reqwest::Response {
    b.post(app.url("/login/mfa")).form(&[("csrf_token", csrf), ("code", code)]).send().await.unwrap()
}

/// Waits (delivery is off the request path) for a mail to Ada whose subject has `subject`.
async fn wait_for_subject(app: &TestApp, subject: &str) {
    for _ in 0..200 {
        if app.mails_to(ADA).iter().any(|m| m.subject.contains(subject)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail {subject:?} to {ADA}");
}

async fn events(app: &TestApp, kind: &str) -> Vec<String> {
    app.audit_events().await.into_iter().filter(|e| e.0 == kind).map(|e| e.3).collect()
}

async fn enrolment_and_page_sign_in_continue_the_authorization_with_amr(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let (secret, _) = enrol(&app, &signed_in(&app, ADA).await).await;
    assert_eq!(events(&app, "mfa.enrolled").await.len(), 1);
    wait_for_subject(&app, "Two-step sign-in is on").await;

    let b = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let r = b.get(&url).send().await.unwrap();
    let next = query_of(&app.url(&location(&r)))["next"].clone();
    let csrf = page_password_step(&app, &b, Some(&next)).await;
    assert_eq!(app.me(&b).await.status(), 401, "a right password alone signs nobody in");
    let r = page_code(&app, &b, &csrf, &wrong_code(&app, &secret)).await;
    assert_eq!(r.status(), 401);
    assert!(set_cookies(&r).iter().all(|c| !c.contains("gatehouse_session=")));
    assert_eq!(app.me(&b).await.status(), 401, "a right password and a wrong code: no session");
    let r = page_code(&app, &b, &csrf, &fresh_code(&app, &secret)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), next, "the parked authorization request continues");
    assert_eq!(app.me(&b).await.status(), 200);

    let mut r = b.get(app.url(&next)).send().await.unwrap();
    if r.status() == 200 {
        let page = r.text().await.unwrap();
        let mut form: Vec<(String, String)> = Vec::new();
        for chunk in page.split("<input type=\"hidden\" name=\"").skip(1) {
            let (name, rest) = chunk.split_once('"').unwrap();
            let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
            form.push((name.to_owned(), value.replace("&#38;", "&").replace("&amp;", "&")));
        }
        form.push(("decision".into(), "allow".into()));
        r = b.post(app.url("/oauth2/consent")).form(&form).send().await.unwrap();
    }
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let code = query_of(&to)["code"].clone();
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens: Value = token_request(&app, &client, &grant).await.json().await.unwrap();
    let claims = decode_part(tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "RFC 8176 values of a TOTP sign-in");
    let verified = events(&app, "mfa.verified").await;
    assert!(verified.len() == 1 && verified[0].contains("totp"), "{verified:?}");
    assert_eq!(events(&app, "mfa.failed").await.len(), 1);
}

async fn api_sign_in_refuses_wrong_and_replayed_codes(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let (secret, _) = enrol(&app, &signed_in(&app, ADA).await).await;

    let b = browser();
    let pending = api_login(&app, &b, "/api/v1/auth/login").await;
    let r = mfa(&app, &b, &pending, &wrong_code(&app, &secret)).await;
    assert_eq!(r.status(), 401);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_mfa_code");
    let code = fresh_code(&app, &secret);
    let r = mfa(&app, &b, &pending, &code).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["user"]["email"], ADA);
    assert_eq!(app.me(&b).await.status(), 200);

    // The same code again, from a new sign-in: the step was used.
    let other = browser();
    let pending = api_login(&app, &other, "/api/v1/auth/login").await;
    let r = mfa(&app, &other, &pending, &code).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_mfa_code");
    assert_eq!(app.me(&other).await.status(), 401);
    assert!(events(&app, "mfa.failed").await.iter().any(|d| d.contains("replayed_code")));

    // The first-party token API: tokens only after the second factor.
    let pending = api_login(&app, &browser(), "/api/v1/auth/token").await;
    let r = mfa(&app, &browser(), &pending, &fresh_code(&app, &secret)).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string());
    let me = browser().get(app.url("/api/v1/me")).bearer_auth(tokens["access_token"].as_str().unwrap()).send();
    assert_eq!(me.await.unwrap().status(), 200);
}

async fn wrong_codes_lock_the_second_step(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.lockout.max_failures = 3;
        s.lockout.free_failures = 3;
    })
    .await
    else {
        return;
    };
    app.register_user(ADA, PASSWORD).await;
    let (secret, codes) = enrol(&app, &signed_in(&app, ADA).await).await;
    let b = browser();
    let pending = api_login(&app, &b, "/api/v1/auth/login").await;
    for _ in 0..3 {
        assert_eq!(mfa(&app, &b, &pending, &wrong_code(&app, &secret)).await.status(), 401);
    }
    // Locked: a right code and a recovery code are refused alike, and leave no session.
    let r = mfa(&app, &b, &pending, &fresh_code(&app, &secret)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_mfa_code");
    assert_eq!(mfa(&app, &b, &pending, &codes[0]).await.status(), 401);
    assert_eq!(app.me(&b).await.status(), 401);
    assert!(events(&app, "account.locked").await.iter().any(|d| d.contains("second_factor")));
    assert!(events(&app, "mfa.failed").await.iter().any(|d| d.contains("locked")));
    // The password step is not locked by code failures (counted apart, per account).
    app.clock.advance(900);
    let pending = api_login(&app, &b, "/api/v1/auth/login").await;
    assert_eq!(mfa(&app, &b, &pending, &fresh_code(&app, &secret)).await.status(), 200, "the lock ended");
}

async fn recovery_codes_work_once_and_regenerate_disable_and_reset(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let id = app.register_user(ADA, PASSWORD).await["id"].as_str().unwrap().to_owned();
    let account = signed_in(&app, ADA).await;
    let (secret, codes) = enrol(&app, &account).await;

    let b = browser();
    let csrf = page_password_step(&app, &b, None).await;
    let r = page_code(&app, &b, &csrf, &codes[0].to_uppercase()).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert_eq!(app.me(&b).await.status(), 200);
    let used = events(&app, "recovery_code.used").await;
    assert_eq!(used.len(), 1);
    assert_eq!(serde_json::from_str::<Value>(&used[0]).unwrap()["remaining"], 9);
    wait_for_subject(&app, "A recovery code was used").await;
    let pending = api_login(&app, &browser(), "/api/v1/auth/login").await;
    assert_eq!(mfa(&app, &browser(), &pending, &codes[0]).await.status(), 401, "single use");

    // New codes (after re-authentication): the old ones die.
    let page = account.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Recovery codes left: <strong>9</strong>"));
    let csrf = csrf_from(&page);
    let r = account.post(app.url("/account/mfa/recovery-codes")).form(&[("csrf_token", &csrf)]).send();
    assert_eq!(r.await.unwrap().status(), 422, "the password is required");
    let form = [("csrf_token", csrf.as_str()), ("password", PASSWORD)];
    let r = account.post(app.url("/account/mfa/recovery-codes")).form(&form).send().await.unwrap();
    let fresh = recovery_codes(&r.text().await.unwrap());
    assert_eq!(fresh.len(), 10);
    assert_eq!(events(&app, "recovery_codes.regenerated").await.len(), 1);
    assert_eq!(mfa(&app, &browser(), &pending, &codes[1]).await.status(), 401, "old codes die");
    assert_eq!(mfa(&app, &browser(), &pending, &fresh[1]).await.status(), 200);

    // Turn it off: the password alone signs in again.
    let r = account.post(app.url("/account/mfa/disable")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(events(&app, "mfa.disabled").await.len(), 1);
    assert_eq!(app.login_with(&browser(), ADA, PASSWORD).await.status(), 200);

    // Set up again; an admin resets it (API), then the CLI (nothing left to remove).
    let (_, _) = enrol(&app, &signed_in(&app, ADA).await).await;
    let _ = secret;
    app.register_user("root@example.com", PASSWORD).await;
    crate::admin::cli_ok(&app, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    let admin = crate::admin::token(&app, "root@example.com").await;
    let path = format!("/admin/v1/users/{id}/mfa/reset");
    let r = crate::admin::call(&app, None, Method::POST, &path, None).await;
    assert_eq!(r.status(), 401);
    let r = crate::admin::call(&app, Some(&admin), Method::POST, &path, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["removed"], true);
    let reset = events(&app, "mfa.reset").await;
    assert_eq!(reset.len(), 1);
    wait_for_subject(&app, "Two-step sign-in was reset").await;
    assert_eq!(app.login_with(&browser(), ADA, PASSWORD).await.status(), 200);
    let out = crate::admin::cli_ok(&app, &["users", "reset-mfa", ADA, "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["mfa_reset"], false);
}

async fn the_pending_step_expires_is_single_use_and_bound_to_its_browser(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let (secret, _) = enrol(&app, &signed_in(&app, ADA).await).await;

    // Another browser (no pending-step cookie) gets nowhere with a right code.
    let b = browser();
    let _ = page_password_step(&app, &b, None).await;
    let thief = browser();
    let page = thief.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let r = page_code(&app, &thief, &csrf_from(&page), &fresh_code(&app, &secret)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?notice=mfa_expired");
    assert_eq!(app.me(&thief).await.status(), 401);
    assert_eq!(thief.get(app.url("/login/mfa")).send().await.unwrap().status(), 303);

    // Expired after 5 minutes.
    let csrf = page_password_step(&app, &b, None).await;
    app.clock.advance(301);
    let r = page_code(&app, &b, &csrf, &totp_at(&secret, app.clock_now())).await;
    assert_eq!(location(&r), "/login?notice=mfa_expired");
    assert_eq!(app.me(&b).await.status(), 401);
    let pending = api_login(&app, &b, "/api/v1/auth/login").await;
    app.clock.advance(301);
    let r = mfa(&app, &b, &pending, &fresh_code(&app, &secret)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_mfa_token");

    // Single use: a completed step cannot open a second session.
    let pending = api_login(&app, &b, "/api/v1/auth/login").await;
    assert_eq!(mfa(&app, &b, &pending, &fresh_code(&app, &secret)).await.status(), 200);
    let other = browser();
    let r = mfa(&app, &other, &pending, &fresh_code(&app, &secret)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_mfa_token");
    assert_eq!(app.me(&other).await.status(), 401);
}

async fn forms_refuse_missing_or_foreign_csrf_tokens_and_cross_site_posts(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let account = signed_in(&app, ADA).await;
    let foreign = csrf_from(&browser().get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    for path in
        ["/account/mfa/totp", "/account/mfa/totp/confirm", "/account/mfa/disable", "/account/mfa/recovery-codes"]
    {
        for token in ["", foreign.as_str()] {
            let form = [("csrf_token", token), ("password", PASSWORD), ("code", "123456")];
            let r = account.post(app.url(path)).form(&form).send().await.unwrap();
            assert_eq!(r.status(), 403, "{path} with csrf {token:?}");
        }
        let own = csrf_from(&account.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap());
        let form = [("csrf_token", own.as_str()), ("password", PASSWORD)];
        let r = account.post(app.url(path)).header("origin", "https://evil.test").form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path} cross-site");
    }
    assert!(app.audit_events().await.iter().all(|e| !e.0.starts_with("mfa.")), "nothing changed");
    let (secret, _) = enrol(&app, &account).await;
    let b = browser();
    let _ = page_password_step(&app, &b, None).await;
    let code = fresh_code(&app, &secret);
    for token in ["", foreign.as_str()] {
        let r = page_code(&app, &b, token, &code).await;
        assert_eq!(r.status(), 403);
    }
    assert_eq!(app.me(&b).await.status(), 401);
}

/// An upstream provider replaces the password, not the second factor: the Node oidc-provider
/// signs Ada in, and Gatehouse still asks for her authenticator before any session.
async fn a_provider_sign_in_still_asks_for_the_second_factor(b: Backend) {
    use crate::federation_harness::{Browser, NodeOp, OP_CLIENT_ID, OP_CLIENT_SECRET, bind, downstream, oidc_provider};
    let (listener, base) = bind().await;
    let Some(op) = NodeOp::start(&format!("{base}/login/op/callback")).await else { return };
    let entry = oidc_provider("op", &op.issuer, OP_CLIENT_ID, OP_CLIENT_SECRET);
    let Some(app) = downstream(b, listener, vec![entry], |_| {}).await else { return };
    app.register_user(ADA, PASSWORD).await;
    op.set_user(json!({ "sub": "ada-upstream", "email": ADA, "email_verified": true })).await;
    // Link the upstream identity with the local password (the refusal page's form).
    let linking = Browser::new();
    let refused = linking.follow(&app.url("/login/op")).await;
    let pending = refused.body.split("name=\"pending\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let form =
        [("csrf_token", csrf_from(&refused.body)), ("pending", pending.to_owned()), ("password", PASSWORD.into())];
    let r = linking.client.post(app.url("/login/op/link")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let (secret, _) = enrol(&app, &signed_in(&app, ADA).await).await;

    let browser = Browser::new();
    let landed = browser.follow(&app.url("/login/op")).await;
    assert!(landed.url.ends_with("/login/mfa"), "{} {:?}", landed.url, landed.visited);
    assert_eq!(browser.me(&app).await.0, 401, "no session after the upstream alone");
    let csrf = csrf_from(&landed.body);
    let r = page_code(&app, &browser.client, &csrf, &wrong_code(&app, &secret)).await;
    assert_eq!(r.status(), 401);
    let r = page_code(&app, &browser.client, &csrf, &fresh_code(&app, &secret)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert_eq!(browser.me(&app).await.0, 200);
    let verified = events(&app, "mfa.verified").await;
    assert_eq!(verified.len(), 1);
}
