//! The MFA policy of issue #15 (`[mfa] required`, `required_for_roles`): a covered user without
//! a second factor is sent to enrolment by every page, refused by the JSON API
//! (`mfa_enrollment_required`) and by the token API (no tokens), and `/oauth2/authorize`
//! continues after enrolment (or answers `interaction_required` to `prompt=none`, OpenID
//! Connect Core §3.1.2.1); the admin API needs `mfa` in the token's `amr` (RFC 8176 §2); a user
//! the policy does not cover is unaffected; Cedar's `principal.mfa` comes from the subject's
//! token, never from the request body. Codes are computed here (RFC 6238, `mfa::totp_at`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, client_token, user_with_token};
use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::mfa::{b32decode, between, enrol, fresh_code, totp_at};
use crate::oauth::{REDIRECT, authorize_url, location, pkce, query_of, setup, token_request};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    an_admin_must_enrol_and_then_sign_in_with_a_code_for_the_admin_api,
    a_user_without_the_role_is_unaffected_and_the_global_switch_covers_everyone,
    cedar_principal_mfa_comes_from_the_subject_token,
);

const ROOT: &str = "root@example.com";

fn admins_need_mfa(s: &mut gatehouse::config::Settings) {
    s.mfa.required_for_roles = vec!["admin".into()];
}

/// A page sign-in with the password (no second factor enrolled): the session opens.
async fn page_sign_in(app: &TestApp, email: &str) -> reqwest::Client {
    let b = browser();
    let page = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf_token", csrf_from(&page)), ("email", email.into()), ("password", PASSWORD.into())];
    let r = b.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    b
}

async fn token_api(app: &TestApp, email: &str) -> reqwest::Response {
    let body = json!({ "email": email, "password": PASSWORD, "token_delivery": "body" });
    browser().post(app.url("/api/v1/auth/token")).json(&body).send().await.unwrap()
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn refusals(app: &TestApp) -> Vec<Value> {
    let rows = app.audit_events().await.into_iter().filter(|e| e.0 == "mfa.policy_refused");
    rows.map(|e| serde_json::from_str(&e.3).unwrap()).collect()
}

async fn an_admin_must_enrol_and_then_sign_in_with_a_code_for_the_admin_api(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, admins_need_mfa).await else { return };
    // Consent skipped: with prompt=none, only the MFA policy stands between the user and a code.
    let client = setup(&app, &["--skip-consent"]).await;
    // A token from before the role: the admin door reads the role from the store.
    let (_, early) = user_with_token(&app, ROOT).await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", ROOT]).await;

    // The token API gives an admin without a second factor no tokens.
    let (status, err) = error_of(token_api(&app, ROOT).await).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("mfa_enrollment_required")), "{err}");
    assert!(err.get("access_token").is_none() && err["error_description"].as_str().unwrap().contains("/account/mfa"));
    // The admin API refuses the token from before.
    let (status, err) = error_of(call(&app, Some(&early), Method::GET, "/admin/v1/users", None).await).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("mfa_enrollment_required")), "{err}");
    // ... and the JSON API refuses it too.
    let r = browser().get(app.url("/api/v1/me")).bearer_auth(&early).send().await.unwrap();
    assert_eq!(error_of(r).await.1["error"], "mfa_enrollment_required");

    // The page sign-in opens a session, but every page leads to enrolment.
    let b = page_sign_in(&app, ROOT).await;
    for path in ["/account", "/", "/account/password"] {
        let r = b.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(location(&r), "/account/mfa?notice=required", "{path}");
    }
    let page = b.get(app.url("/account/mfa?notice=required")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("requires two-step sign-in"), "the page explains why");
    assert_eq!(b.get(app.url("/static/style.css")).send().await.unwrap().status(), 200);
    let (status, err) = error_of(b.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("mfa_enrollment_required")));

    // An authorization request issues no code: prompt=none is told, others go to enrolment.
    let client_id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let none = authorize_url(&app, client_id, Some(&challenge), &[("prompt", "none")]);
    let to = location(&b.get(&none).send().await.unwrap());
    let q = query_of(&to);
    assert_eq!(q.get("error").map(String::as_str), Some("interaction_required"), "{to}");
    assert!(!q.contains_key("code"));
    let url = authorize_url(&app, client_id, Some(&challenge), &[]);
    let to = location(&b.get(&url).send().await.unwrap());
    assert!(to.starts_with("/account/mfa?notice=required&next="), "{to}");
    let next = query_of(&app.url(&to))["next"].clone();
    assert!(next.starts_with("/oauth2/authorize?"), "{next}");

    // Enrolment (the pages stay open), then the parked request continues.
    let page = b.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"next\""), "the set-up carries the request along");
    let form = [("csrf_token", csrf_from(&page)), ("password", PASSWORD.into()), ("next", next.clone())];
    let page = b.post(app.url("/account/mfa/totp")).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("totp-secret") && page.contains("name=\"next\""), "and on to the code form");
    let secret = b32decode(between(&page, "<code id=\"totp-secret\">", "</code>"));
    let code = totp_at(&secret, app.clock_now());
    let form = [("csrf_token", csrf_from(&page)), ("code", code), ("next", next.clone())];
    let r = b.post(app.url("/account/mfa/totp/confirm")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Continue to the application"), "the recovery codes link back to the request");
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200, "enrolled: the pages open");
    let r = b.get(app.url(&next)).send().await.unwrap();
    let callback = location(&r);
    assert!(callback.starts_with(REDIRECT), "the authorization goes on: {callback}");
    // The code's access token carries the session's amr (RFC 8176 §2): a password sign-in.
    let code = query_of(&callback)["code"].clone();
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens: Value = token_request(&app, &client, &grant).await.json().await.unwrap();
    let claims = decode_part(tokens["access_token"].as_str().unwrap().split('.').nth(1).unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]), "{claims}");
    // Turning the factor off is refused while the policy covers the account.
    let page = b.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    let form = [("csrf_token", csrf_from(&page)), ("password", PASSWORD.into())];
    let r = b.post(app.url("/account/mfa/disable")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 422);

    // A password-only token still does not open the admin API: the sign-in lacks `mfa`.
    let (status, err) = error_of(call(&app, Some(&early), Method::GET, "/admin/v1/users", None).await).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("mfa_required")), "{err}");

    // Password + code: the access token carries amr with mfa, and the admin API opens.
    let (status, pending) = error_of(token_api(&app, ROOT).await).await;
    assert_eq!((status, pending["error"].as_str()), (401, Some("mfa_required")));
    let body =
        json!({ "mfa_token": pending["mfa_token"], "code": fresh_code(&app, &secret), "token_delivery": "body" });
    let r = browser().post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let claims = decode_part(access.split('.').nth(1).unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
    assert_eq!(call(&app, Some(access), Method::GET, "/admin/v1/users", None).await.status(), 200);

    // Every refusal is in the audit trail with its reason.
    let seen = refusals(&app).await;
    for (reason, area) in [
        ("mfa_enrollment_required", "token"),
        ("mfa_enrollment_required", "admin_api"),
        ("mfa_enrollment_required", "api"),
        ("mfa_enrollment_required", "page"),
        ("mfa_enrollment_required", "authorize"),
        ("mfa_required", "admin_api"),
    ] {
        assert!(seen.iter().any(|d| d["reason"] == reason && d["where"] == area), "{reason} {area}: {seen:?}");
    }
}

async fn a_user_without_the_role_is_unaffected_and_the_global_switch_covers_everyone(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, admins_need_mfa).await else { return };
    let (_, t) = user_with_token(&app, "ada@example.com").await;
    let b = page_sign_in(&app, "ada@example.com").await;
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200);
    assert_eq!(app.me(&b).await.status(), 200);
    let r = browser().get(app.url("/api/v1/me")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(refusals(&app).await.is_empty());
    drop(app);

    // The global switch: everyone, whatever their roles.
    let Some(app) = TestApp::spawn_with(backend, |s| s.mfa.required = true).await else { return };
    app.register_user("ada@example.com", PASSWORD).await;
    let (status, err) = error_of(token_api(&app, "ada@example.com").await).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("mfa_enrollment_required")));
    let b = page_sign_in(&app, "ada@example.com").await;
    let r = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/account/mfa?notice=required");
    assert_eq!(error_of(app.me(&b).await).await.1["error"], "mfa_enrollment_required");
    // Signing out stays possible.
    let page = b.get(app.url("/account/mfa")).send().await.unwrap().text().await.unwrap();
    let r = b.post(app.url("/logout")).form(&[("csrf_token", csrf_from(&page))]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(app.me(&b).await.status(), 401);
    // Enrolled: the pages open and the token API asks for the code.
    let b = page_sign_in(&app, "ada@example.com").await;
    enrol(&app, &b).await;
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200);
    let (status, err) = error_of(token_api(&app, "ada@example.com").await).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("mfa_required")));
}

/// `permit … when { principal.mfa }`: the subject's own access token decides, its `amr`
/// read by Gatehouse; the request body cannot claim it.
async fn cedar_principal_mfa_comes_from_the_subject_token(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = user_with_token(&app, ROOT).await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", ROOT]).await;
    let policy = "permit (principal, action == Gatehouse::Action::\"read\", resource) when { principal.mfa };";
    let body = json!({ "body": policy });
    let r = call(&app, Some(&admin), Method::PUT, "/admin/v1/policies/mfa-reads", Some(&body)).await;
    assert_eq!(r.status(), 201);
    let (_, ev) = client_token(&app, &["gatehouse:evaluate"]).await;

    let (ada, without) = user_with_token(&app, "ada@example.com").await;
    let b = page_sign_in(&app, "ada@example.com").await;
    let (secret, _) = enrol(&app, &b).await;
    let (_, pending) = error_of(token_api(&app, "ada@example.com").await).await;
    let body =
        json!({ "mfa_token": pending["mfa_token"], "code": fresh_code(&app, &secret), "token_delivery": "body" });
    let r = browser().post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap();
    let with: Value = r.json().await.unwrap();
    let with = with["access_token"].as_str().unwrap().to_owned();

    let ask = |properties: Value| {
        json!({ "subject": { "type": "user", "id": ada, "properties": properties },
                "action": { "name": "read" }, "resource": { "type": "document", "id": "d1" } })
    };
    let decide = |body: Value| {
        let (app, ev) = (&app, &ev);
        async move { call(app, Some(ev), Method::POST, "/access/v1/evaluation", Some(&body)).await }
    };
    let r = decide(ask(json!({ "token": without }))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["decision"], false, "a password-only token");
    let r = decide(ask(json!({ "token": with }))).await;
    assert_eq!(r.json::<Value>().await.unwrap()["decision"], true, "a token whose amr has mfa");
    assert_eq!(decide(ask(json!({}))).await.json::<Value>().await.unwrap()["decision"], false, "no evidence");
    // The body cannot claim it, neither alone nor beside a token.
    for props in [json!({ "mfa": true }), json!({ "mfa": true, "token": without })] {
        let (status, err) = error_of(decide(ask(props)).await).await;
        assert_eq!(status, 400, "{err}");
        assert!(err["error_description"].as_str().unwrap().contains("mfa"), "{err}");
    }
    // Someone else's token, or no valid token at all, is refused.
    for bad in [admin.as_str(), "not-a-token"] {
        let (status, err) = error_of(decide(ask(json!({ "token": bad }))).await).await;
        assert_eq!(status, 400, "{err}");
    }
    // The command line simulates the evidence with --mfa.
    let request = ask(json!({})).to_string();
    for (flag, expected) in [(None, "deny"), (Some("--mfa"), "allow")] {
        let mut args = vec!["policies", "test", "--json"];
        args.extend(flag);
        let out = app.cli(&args, Some(&request)).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["decision"], expected == "allow", "{flag:?}: {v}");
    }
    // A subject that is no Gatehouse account may still be attested by the caller.
    let outsider = json!({ "subject": { "type": "user", "id": "app-user-7", "properties": { "mfa": true } },
                           "action": { "name": "read" }, "resource": { "type": "document", "id": "d1" } });
    assert_eq!(decide(outsider).await.json::<Value>().await.unwrap()["decision"], true);
}
