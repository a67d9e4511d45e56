//! Passkeys (issue #15): registration on the account page, a passkey as the second factor of
//! a page sign-in and of the JSON APIs, passwordless sign-in with a discoverable credential,
//! removal — answered by a software authenticator (`soft_passkey.rs`) that signs what a real
//! one would. The refusals W3C WebAuthn L3 §7.1/§7.2 require: a wrong origin (§7.2 step 13), a
//! wrong RP id hash (step 15), no user verification where it is required (step 17), a
//! replayed challenge (step 12: the ceremony is single use), a counter that went backwards
//! (step 22, a possible clone), a credential registered already (§7.1 step 25).

use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from, set_cookies};
use crate::on_both_backends;
use crate::soft_passkey::{Answer, SoftPasskey};

on_both_backends!(
    register_then_second_factor_and_passwordless_sign_in,
    forged_and_replayed_answers_are_refused,
    the_json_api_takes_a_passkey_as_second_factor,
    a_second_step_takes_only_the_users_own_current_passkey,
);

const ADA: &str = "ada@example.com";

/// A server whose issuer is `http://localhost:<port>` (WebAuthn relying-party ids are domain
/// names; browsers refuse IP addresses).
async fn spawn(b: Backend) -> Option<(TestApp, String)> {
    let app = TestApp::spawn_with(b, |s| s.issuer = s.issuer.replace("127.0.0.1", "localhost")).await?;
    let origin = app.base.replace("127.0.0.1", "localhost");
    Some((app, origin))
}

async fn post(app: &TestApp, b: &reqwest::Client, path: &str, csrf: &str, body: Value) -> reqwest::Response {
    b.post(app.url(path)).header("X-Gatehouse-CSRF", csrf).json(&body).send().await.unwrap()
}

async fn page_csrf(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    csrf_from(&b.get(app.url(path)).send().await.unwrap().text().await.unwrap())
}

/// Registers a passkey named `name` for the browser's user; returns it and the answer.
async fn register(app: &TestApp, b: &reqwest::Client, origin: &str, name: &str) -> (SoftPasskey, Value) {
    let csrf = page_csrf(app, b, "/account/mfa").await;
    let r =
        post(app, b, "/account/passkeys/register/start", &csrf, json!({ "name": name, "password": PASSWORD })).await;
    assert_eq!(r.status(), 200);
    let start: Value = r.json().await.unwrap();
    let (key, credential) = SoftPasskey::register(&start["options"], &Answer::from(origin));
    let body = json!({ "ceremony": start["ceremony"], "name": name, "credential": credential });
    let r = post(app, b, "/account/passkeys/register/finish", &csrf, body).await;
    assert_eq!(r.status(), 201);
    (key, r.json().await.unwrap())
}

pub(crate) async fn session_amrs(app: &TestApp) -> Vec<String> {
    let sql = "SELECT amr FROM sessions ORDER BY created_at";
    if app.database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
    }
}

/// The sign-in page's password step: answers 303 to `/login/mfa`.
async fn password_step(app: &TestApp, b: &reqwest::Client) {
    let csrf = page_csrf(app, b, "/login").await;
    let form = [("csrf_token", csrf.as_str()), ("email", ADA), ("password", PASSWORD)];
    let r = b.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/mfa");
}

async fn register_then_second_factor_and_passwordless_sign_in(b: Backend) {
    let Some((app, origin)) = spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let ada = browser();
    assert_eq!(app.login_with(&ada, ADA, PASSWORD).await.status(), 200);

    // Registration: re-authentication first; the options ask for user verification, a
    // discoverable credential if possible, and no attestation.
    let csrf = page_csrf(&app, &ada, "/account/mfa").await;
    let start = |name: &str, password: &str| json!({ "name": name, "password": password });
    let r = post(&app, &ada, "/account/passkeys/register/start", &csrf, start("Laptop", "wrong")).await;
    assert_eq!(r.status(), 403);
    let r = post(&app, &ada, "/account/passkeys/register/start", "not-the-token", start("Laptop", PASSWORD)).await;
    assert_eq!(r.status(), 403, "the page's CSRF token is required");
    let r = post(&app, &ada, "/account/passkeys/register/start", &csrf, start("evil\u{202e}gnp", PASSWORD)).await;
    assert_eq!(r.status(), 422, "the name is checked before the authenticator makes a credential");
    let r = post(&app, &ada, "/account/passkeys/register/start", &csrf, start("Laptop", PASSWORD)).await;
    let start: Value = r.json().await.unwrap();
    let pk = &start["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(pk["attestation"], "none");
    let (mut key, credential) = SoftPasskey::register(&start["options"], &Answer::from(&origin));
    let finish = json!({ "ceremony": start["ceremony"], "name": "Laptop", "credential": credential });
    let r = post(&app, &ada, "/account/passkeys/register/finish", &csrf, finish.clone()).await;
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["passkey"]["name"], "Laptop");
    assert_eq!(added["passkey"]["discoverable"], true);
    assert_eq!(added["recovery_codes"].as_array().unwrap().len(), 10, "the first second factor brings codes");
    let r = post(&app, &ada, "/account/passkeys/register/finish", &csrf, finish).await;
    assert_eq!(r.status(), 400, "a ceremony finishes once");
    let page = ada.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<strong>Laptop</strong>") && page.contains("last used never"), "{page}");
    assert!(page.contains("Recovery codes left: <strong>10</strong>"), "{page}");
    assert!(page.contains("<script src=\"/static/passkey.js\""));
    let mail = app.wait_for_mail(ADA, 2).await;
    assert!(mail.header("subject").unwrap_or_default().contains("A passkey was added"), "the owner is told");

    // Second factor of a page sign-in: the password alone opens no session.
    let b2 = browser();
    password_step(&app, &b2).await;
    let csrf2 = page_csrf(&app, &b2, "/login/mfa").await;
    let r = post(&app, &b2, "/login/mfa/passkey/start", &csrf2, json!({})).await;
    assert_eq!(r.status(), 200);
    let start: Value = r.json().await.unwrap();
    let allowed = start["options"]["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "the user's passkeys only");
    let body =
        json!({ "ceremony": start["ceremony"], "credential": key.assert(&start["options"], &Answer::from(&origin)) });
    let r = post(&app, &b2, "/login/mfa/passkey/finish", &csrf2, body).await;
    assert_eq!(r.status(), 200);
    assert!(set_cookies(&r).iter().any(|c| c.starts_with("gatehouse_session=")));
    assert_eq!(r.json::<Value>().await.unwrap()["redirect"], "/account");
    assert_eq!(app.me(&b2).await.status(), 200);
    assert!(session_amrs(&app).await.contains(&"pwd pop mfa".to_owned()), "RFC 8176: password, key, two factors");

    // Passwordless: no email, no password; the authenticator names the user.
    let b3 = browser();
    let login = b3.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Sign in with a passkey") && login.contains("autocomplete=\"username webauthn\""));
    let csrf3 = csrf_from(&login);
    let start: Value = post(&app, &b3, "/login/passkey/start", &csrf3, json!({})).await.json().await.unwrap();
    assert!(start["options"]["publicKey"]["allowCredentials"].as_array().is_none_or(|a| a.is_empty()));
    assert_eq!(start["options"]["mediation"], "conditional", "offered as autofill");
    let next = "/oauth2/authorize?client_id=x";
    let body = json!({
        "ceremony": start["ceremony"],
        "credential": key.assert(&start["options"], &Answer::from(&origin)),
        "next": next,
    });
    let r = post(&app, &b3, "/login/passkey/finish", &csrf3, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["redirect"], next, "the parked authorization request goes on");
    let me: Value = app.me(&b3).await.json().await.unwrap();
    assert_eq!(me["email"], ADA);
    assert!(session_amrs(&app).await.contains(&"pop mfa".to_owned()));
    let page = ada.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("last used never"), "the last use is shown: {page}");

    // Removal: re-authentication; with the last second factor gone, the codes go too.
    let id = added["passkey"]["id"].as_str().unwrap();
    let csrf = page_csrf(&app, &ada, "/account/mfa").await;
    let path = format!("/account/passkeys/{id}/delete");
    let r =
        ada.post(app.url(&path)).form(&[("csrf_token", csrf.as_str()), ("password", "wrong")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r =
        ada.post(app.url(&path)).form(&[("csrf_token", csrf.as_str()), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let page = ada.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("No passkey is registered") && !page.contains("Recovery codes left"), "{page}");
    let b4 = browser();
    assert_eq!(app.login_with(&b4, ADA, PASSWORD).await.status(), 200, "no second step any more");
}

async fn forged_and_replayed_answers_are_refused(b: Backend) {
    let Some((app, origin)) = spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let ada = browser();
    assert_eq!(app.login_with(&ada, ADA, PASSWORD).await.status(), 200);

    // Registration from another origin, for another RP id, or without user verification.
    for (what, answer) in [
        ("origin", Answer { origin: "http://evil.example".into(), ..Answer::from(&origin) }),
        ("rp id", Answer { rp_id: Some("example.org".into()), ..Answer::from(&origin) }),
        ("user verification", Answer { user_verified: false, ..Answer::from(&origin) }),
    ] {
        let csrf = page_csrf(&app, &ada, "/account/mfa").await;
        let start: Value = post(
            &app,
            &ada,
            "/account/passkeys/register/start",
            &csrf,
            json!({ "name": "Forged", "password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
        let (_, credential) = SoftPasskey::register(&start["options"], &answer);
        let body = json!({ "ceremony": start["ceremony"], "name": "Forged", "credential": credential });
        let r = post(&app, &ada, "/account/passkeys/register/finish", &csrf, body).await;
        assert_eq!(r.status(), 401, "registration with a wrong {what}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "passkey_refused");
    }
    let (mut key, _) = register(&app, &ada, &origin, "Phone").await;

    // Passwordless sign-in: each forgery is refused and opens no session.
    let b2 = browser();
    let csrf = page_csrf(&app, &b2, "/login").await;
    for (what, answer) in [
        ("origin", Answer { origin: "http://evil.example".into(), ..Answer::from(&origin) }),
        ("rp id", Answer { rp_id: Some("example.org".into()), ..Answer::from(&origin) }),
        ("user verification", Answer { user_verified: false, ..Answer::from(&origin) }),
    ] {
        let start: Value = post(&app, &b2, "/login/passkey/start", &csrf, json!({})).await.json().await.unwrap();
        let body = json!({ "ceremony": start["ceremony"], "credential": key.assert(&start["options"], &answer) });
        let r = post(&app, &b2, "/login/passkey/finish", &csrf, body).await;
        assert_eq!(r.status(), 401, "sign-in with a wrong {what}");
        assert!(set_cookies(&r).iter().all(|c| !c.starts_with("gatehouse_session=")));
    }
    // A right answer works once: replayed, its challenge is gone.
    let start: Value = post(&app, &b2, "/login/passkey/start", &csrf, json!({})).await.json().await.unwrap();
    let body =
        json!({ "ceremony": start["ceremony"], "credential": key.assert(&start["options"], &Answer::from(&origin)) });
    assert_eq!(post(&app, &b2, "/login/passkey/finish", &csrf, body.clone()).await.status(), 200);
    let b3 = browser();
    let csrf3 = page_csrf(&app, &b3, "/login").await;
    let r = post(&app, &b3, "/login/passkey/finish", &csrf3, body).await;
    assert_eq!(r.status(), 401, "a replayed answer");
    // No login CSRF: without the page's token another site cannot sign this browser in.
    let start: Value = post(&app, &b3, "/login/passkey/start", &csrf3, json!({})).await.json().await.unwrap();
    let body =
        json!({ "ceremony": start["ceremony"], "credential": key.assert(&start["options"], &Answer::from(&origin)) });
    assert_eq!(post(&app, &b3, "/login/passkey/finish", "forged", body).await.status(), 403);
    // A counter that goes backwards is a possible clone.
    key.counter = 0;
    let start: Value = post(&app, &b3, "/login/passkey/start", &csrf3, json!({})).await.json().await.unwrap();
    let body =
        json!({ "ceremony": start["ceremony"], "credential": key.assert(&start["options"], &Answer::from(&origin)) });
    assert_eq!(post(&app, &b3, "/login/passkey/finish", &csrf3, body).await.status(), 401, "a cloned authenticator");
    let refused = app.audit_events().await.into_iter().filter(|e| e.0 == "login.failed" && e.3.contains("passkey"));
    assert!(refused.count() >= 5, "every refusal is audited");
    // Passkeys need the issuer's host name: on an IP-address issuer they are "not supported".
    let Some(plain) = TestApp::spawn(b).await else { return };
    let r = plain.client.post(plain.url("/login/passkey/start")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 501);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "passkeys_unsupported");
    let login = plain.client.get(plain.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(!login.contains("passkey"), "no button where passkeys cannot work");
}

async fn the_json_api_takes_a_passkey_as_second_factor(b: Backend) {
    let Some((app, origin)) = spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let ada = browser();
    assert_eq!(app.login_with(&ada, ADA, PASSWORD).await.status(), 200);
    let (mut key, _) = register(&app, &ada, &origin, "Laptop").await;

    let api = browser();
    let body = json!({ "email": ADA, "password": PASSWORD, "token_delivery": "body" });
    let r = api.post(app.url("/api/v1/auth/token")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["error"], "mfa_required");
    assert_eq!(pending["methods"], json!(["passkey", "recovery_code"]));
    let r = api.post(app.url("/api/v1/auth/mfa/passkey")).json(&json!({ "mfa_token": "nope" })).send().await.unwrap();
    assert_eq!(r.status(), 401, "an unknown mfa_token");
    let r = api.post(app.url("/api/v1/auth/mfa/passkey")).json(&json!({ "mfa_token": pending["mfa_token"] })).send();
    let start: Value = r.await.unwrap().json().await.unwrap();
    let answer =
        json!({ "ceremony": start["ceremony"], "credential": key.assert(&start["options"], &Answer::from(&origin)) });
    let both = json!({ "mfa_token": pending["mfa_token"], "code": "123456", "passkey": answer });
    let r = api.post(app.url("/api/v1/auth/mfa")).json(&both).send().await.unwrap();
    assert_eq!(r.status(), 422, "a code or a passkey, not both");
    let body = json!({ "mfa_token": pending["mfa_token"], "passkey": answer, "token_delivery": "body" });
    let r = api.post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string());
    let issued = app
        .audit_events()
        .await
        .into_iter()
        .any(|e| serde_json::from_str::<Value>(&e.3).is_ok_and(|d| d["amr"] == "pwd pop mfa"));
    assert!(issued, "the token login records amr pwd pop mfa");
    // The step is single use.
    let r = api.post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// `/api/v1/auth/token` up to its pending second step; the `mfa_token`.
async fn pending_step(app: &TestApp, email: &str) -> String {
    let body = json!({ "email": email, "password": PASSWORD, "token_delivery": "body" });
    let r = browser().post(app.url("/api/v1/auth/token")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    r.json::<Value>().await.unwrap()["mfa_token"].as_str().unwrap().to_owned()
}

async fn passkey_ceremony(app: &TestApp, mfa_token: &str) -> Value {
    let r = browser().post(app.url("/api/v1/auth/mfa/passkey")).json(&json!({ "mfa_token": mfa_token })).send();
    r.await.unwrap().json().await.unwrap()
}

async fn answer_step(app: &TestApp, mfa_token: &str, start: &Value, credential: Value) -> reqwest::Response {
    let body =
        json!({ "mfa_token": mfa_token, "passkey": { "ceremony": start["ceremony"], "credential": credential } });
    browser().post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap()
}

async fn a_second_step_takes_only_the_users_own_current_passkey(b: Backend) {
    let Some((app, origin)) = spawn(b).await else { return };
    const BOB: &str = "bob@example.com";
    let mut keys = Vec::new();
    for email in [ADA, BOB] {
        app.register_user(email, PASSWORD).await;
        let browser = browser();
        assert_eq!(app.login_with(&browser, email, PASSWORD).await.status(), 200);
        keys.push(register(&app, &browser, &origin, "Key").await.0);
    }
    let (mut ada_key, mut bob_key) = (keys.remove(0), keys.remove(0));
    let right = Answer::from(&origin);

    // Bob's passkey does not complete Ada's step, nor does an answer from another origin.
    let step = pending_step(&app, ADA).await;
    let start = passkey_ceremony(&app, &step).await;
    let r = answer_step(&app, &step, &start, bob_key.assert(&start["options"], &right)).await;
    assert_eq!(r.status(), 401, "another user's passkey");
    let start = passkey_ceremony(&app, &step).await;
    let evil = Answer { origin: "http://evil.example".into(), ..right.clone() };
    let r = answer_step(&app, &step, &start, ada_key.assert(&start["options"], &evil)).await;
    assert_eq!(r.status(), 401, "another origin");
    // A ceremony belongs to its step: Ada's ceremony does not complete Bob's step.
    let bob_step = pending_step(&app, BOB).await;
    let start = passkey_ceremony(&app, &step).await;
    let r = answer_step(&app, &bob_step, &start, bob_key.assert(&start["options"], &right)).await;
    assert_eq!(r.status(), 401, "a ceremony of another step");

    // The counter is checked against the stored one, not the ceremony's older copy: a clone
    // answering a ceremony begun before the owner's last use is refused.
    let stale = passkey_ceremony(&app, &step).await;
    let before = ada_key.counter;
    let b2 = browser();
    let csrf = page_csrf(&app, &b2, "/login").await;
    let start: Value = post(&app, &b2, "/login/passkey/start", &csrf, json!({})).await.json().await.unwrap();
    let body = json!({ "ceremony": start["ceremony"], "credential": ada_key.assert(&start["options"], &right) });
    assert_eq!(post(&app, &b2, "/login/passkey/finish", &csrf, body).await.status(), 200, "the owner signs in");
    ada_key.counter = before; // the clone's counter: the same as the owner's last use
    let r = answer_step(&app, &step, &stale, ada_key.assert(&stale["options"], &right)).await;
    assert_eq!(r.status(), 401, "a cloned authenticator");

    let reasons: Vec<String> = app
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e.0 == "mfa.failed")
        .filter_map(|e| serde_json::from_str::<Value>(&e.3).ok())
        .map(|d| d["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["unknown_passkey", "passkey_refused", "passkey_ceremony_invalid", "counter_not_increased"],
        "each refusal audited with its reason"
    );
    // The step still works with a right, fresh answer (failures so far are under the lock).
    ada_key.counter += 1;
    let start = passkey_ceremony(&app, &step).await;
    let r = answer_step(&app, &step, &start, ada_key.assert(&start["options"], &right)).await;
    assert_eq!(r.status(), 200);
}
