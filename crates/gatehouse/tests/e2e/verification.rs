//! Email verification and change of address (issue #14 parts 2 and 4): links that a GET shows
//! and only a POST consumes, once; resends (rate-limited) and the admin trigger; the verified
//! state in `/api/v1/me` and ID tokens; `accounts.require_verified_email`; the change of
//! address with its notifications; links built from the issuer only; hostile input.

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, location, pkce, query_of, token_request, web_client};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    verify_link_get_shows_post_confirms_once,
    old_expired_and_foreign_links_are_refused,
    resend_is_rate_limited,
    account_mail_is_limited_per_account,
    admin_sends_a_verification_email,
    require_verified_email_blocks_clients_until_verified,
    change_of_address_full_flow,
    links_come_from_the_issuer_not_the_request,
    hostile_input_gets_4xx_never_500,
);

const CSRF: (&str, &str) = ("x-gatehouse-csrf", "1");

/// Registers `email` and returns the token of its verification mail.
async fn registered(app: &TestApp, email: &str) -> String {
    assert_eq!(app.register(email, PASSWORD).await.status(), 202);
    app.wait_for_mail(email, 1).await.token().expect("a verification link")
}

/// A browser signed in as `email`.
async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let b = browser();
    assert_eq!(app.login_with(&b, email, PASSWORD).await.status(), 200);
    b
}

/// The confirm page of `token`, then its form POSTed from the same browser.
async fn confirm_by_page(app: &TestApp, b: &reqwest::Client, token: &str) -> reqwest::Response {
    let page = b.get(app.url(&format!("/verify-email?token={token}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_from(&page.text().await.unwrap());
    b.post(app.url("/verify-email")).form(&[("csrf_token", csrf.as_str()), ("token", token)]).send().await.unwrap()
}

async fn confirm_by_api(app: &TestApp, token: &str) -> reqwest::Response {
    browser().post(app.url("/api/v1/auth/verify-email")).json(&json!({ "token": token })).send().await.unwrap()
}

async fn me(app: &TestApp, b: &reqwest::Client) -> Value {
    app.me(b).await.json().await.unwrap()
}

/// The ID token's claims after a fresh authorization-code flow as `email`.
async fn id_token_claims(app: &TestApp, client: &Value, email: &str) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let callback = authorize_as(app, &browser(), &url, email, "allow").await;
    let code = query_of(&callback)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let r = token_request(app, client, &form).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    decode_part(body["id_token"].as_str().unwrap().split('.').nth(1).unwrap())
}

async fn verify_link_get_shows_post_confirms_once(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    let client = web_client(&app, &[]).await;
    let token = registered(&app, "ada@example.com").await;
    assert_eq!(id_token_claims(&app, &client, "ada@example.com").await["email_verified"], false);

    // Link scanners fetch the link: the GET shows the address and consumes nothing.
    let b = browser();
    for _ in 0..2 {
        let r = b.get(app.url(&format!("/verify-email?token={token}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("ada@example.com") && page.contains("action=\"/verify-email\""), "{page}");
    }
    let user = signed_in(&app, "ada@example.com").await;
    assert_eq!(me(&app, &user).await["email_verified"], false);

    let r = confirm_by_page(&app, &b, &token).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("is verified"));
    assert_eq!(me(&app, &user).await["email_verified"], true);
    assert_eq!(id_token_claims(&app, &client, "ada@example.com").await["email_verified"], true);

    // Used: the page, the form and the API all refuse it, with one generic message.
    let r = b.get(app.url(&format!("/verify-email?token={token}"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid or has expired"));
    let r = confirm_by_api(&app, &token).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_link");

    let events: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    assert_eq!(events.iter().filter(|e| *e == "email.verified").count(), 1, "{events:?}");
}

async fn old_expired_and_foreign_links_are_refused(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    let first = registered(&app, "bea@example.com").await;
    let bob = registered(&app, "bob@example.com").await;
    let bea = signed_in(&app, "bea@example.com").await;

    // A newer link kills the older one.
    let r = bea.post(app.url("/api/v1/account/verify-email")).header(CSRF.0, CSRF.1).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "sent");
    let second = app.wait_for_mail("bea@example.com", 2).await.token().unwrap();
    assert_ne!(first, second);
    assert_eq!(confirm_by_api(&app, &first).await.status(), 400);

    // Expired.
    let ttl = gatehouse_core::AccountSettings::default().verification_ttl;
    app.clock.advance(ttl + 1);
    assert_eq!(confirm_by_api(&app, &second).await.status(), 400);
    let bea = signed_in(&app, "bea@example.com").await;
    assert_eq!(me(&app, &bea).await["email_verified"], false);

    // Bob's link verifies Bob, not Bea (it was issued before the clock moved: ask again).
    assert_eq!(confirm_by_api(&app, &bob).await.status(), 400, "Bob's first link expired too");
    let bob_browser = signed_in(&app, "bob@example.com").await;
    let r = bob_browser.post(app.url("/api/v1/account/verify-email")).header(CSRF.0, CSRF.1).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let bob = app.wait_for_mail("bob@example.com", 2).await.token().unwrap();
    let r = confirm_by_api(&app, &bob).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({ "status": "verified", "purpose": "verify_email", "email": "bob@example.com" }));
    assert_eq!(me(&app, &bob_browser).await["email_verified"], true);
    assert_eq!(me(&app, &bea).await["email_verified"], false);

    // A first-party bearer token works too, without the cookie's CSRF header.
    let bearer = crate::admin::token(&app, "bea@example.com").await;
    let r = browser().post(app.url("/api/v1/account/verify-email")).bearer_auth(&bearer).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(app.wait_for_mail("bea@example.com", 3).await.token().map(|t| t.len()), Some(43));

    // A verified account asks for nothing more.
    let r = bob_browser.post(app.url("/api/v1/account/verify-email")).header(CSRF.0, CSRF.1).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "already_verified");
}

async fn resend_is_rate_limited(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.rate_limits.register_ip = gatehouse_core::abuse::Quota::new(5, 3600);
    })
    .await
    else {
        return;
    };
    registered(&app, "cy@example.com").await; // 1
    let cy = signed_in(&app, "cy@example.com").await;
    // A cookie-authenticated change needs the CSRF header, and never from another site.
    let r = cy.post(app.url("/api/v1/account/verify-email")).send().await.unwrap(); // 2
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_header_missing");
    let r = cy
        .post(app.url("/api/v1/account/verify-email"))
        .header(CSRF.0, CSRF.1)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap(); // 3
    assert_eq!(r.status(), 403);
    // The account page's button.
    let page = cy.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/account/verify-email/resend"), "{page}");
    let r = cy
        .post(app.url("/account/verify-email/resend"))
        .form(&[("csrf_token", csrf_from(&page).as_str())])
        .send()
        .await
        .unwrap(); // 4
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=verification_sent");
    let page = cy.get(app.url("/account?notice=verification_sent")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("new verification link"));
    let r = cy.post(app.url("/api/v1/account/verify-email")).header(CSRF.0, CSRF.1).send().await.unwrap(); // 5
    assert_eq!(r.status(), 202);
    let r = cy.post(app.url("/api/v1/account/verify-email")).header(CSRF.0, CSRF.1).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(app.wait_for_mail("cy@example.com", 3).await.token().map(|t| t.len()), Some(43));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.mails_to("cy@example.com").len(), 3, "registration + two resends");
}

/// `rate_limits.account_mail`: the mails one signed-in account asks for, whatever the IP.
async fn account_mail_is_limited_per_account(b: Backend) {
    let quota = gatehouse_core::abuse::Quota::new(2, 3600);
    let Some(app) = TestApp::spawn_with(b, |s| s.rate_limits.account_mail = quota).await else { return };
    registered(&app, "dee@example.com").await;
    let dee = signed_in(&app, "dee@example.com").await;
    let resend = || dee.post(app.url("/api/v1/account/verify-email")).header(CSRF.0, CSRF.1).send();
    assert_eq!(resend().await.unwrap().status(), 202);
    assert_eq!(resend().await.unwrap().status(), 202);
    let r = resend().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let limited: Vec<_> = app.audit_events().await.into_iter().filter(|e| e.0 == "rate_limit.exceeded").collect();
    assert!(limited.iter().any(|e| e.3.contains("account_mail") && e.3.contains("\"account\"")), "{limited:?}");
}

async fn admin_sends_a_verification_email(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    registered(&app, "dee@example.com").await;
    let id = signed_in(&app, "dee@example.com").await;
    let id = me(&app, &id).await["id"].as_str().unwrap().to_owned();
    let (_, admin) = crate::admin::client_token(&app, &["gatehouse:admin"]).await;
    let send = |id: String| {
        browser().post(app.url(&format!("/admin/v1/users/{id}/verification-email"))).bearer_auth(&admin).send()
    };
    let r = send(id.clone()).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "sent");
    let token = app.wait_for_mail("dee@example.com", 2).await.token().unwrap();
    assert_eq!(confirm_by_api(&app, &token).await.status(), 200);
    let r = send(id.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "already_verified");
    assert_eq!(send(uuid::Uuid::now_v7().to_string()).await.unwrap().status(), 404);
    let r = browser().post(app.url(&format!("/admin/v1/users/{id}/verification-email"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let events = app.audit_events().await;
    let sent: Vec<_> = events.iter().filter(|e| e.0 == "email.verification_sent").collect();
    assert_eq!(sent.len(), 2, "registration and the admin's");
}

async fn require_verified_email_blocks_clients_until_verified(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.accounts.require_verified_email = true).await else { return };
    let client = web_client(&app, &[]).await;
    let token = registered(&app, "eve@example.com").await;
    let client_id = client["client_id"].as_str().unwrap();

    // A browser session still works: the account page is where a new link is asked for.
    let eve = signed_in(&app, "eve@example.com").await;
    let (_, challenge) = pkce();
    let url = authorize_url(&app, client_id, Some(&challenge), &[]);
    let r = eve.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "no consent page, no code");
    let page = r.text().await.unwrap();
    assert!(page.contains("Verify your email address") && page.contains("/account/verify-email/resend"), "{page}");
    assert!(!page.contains("code="));
    // Silent authorization answers the client with an error instead.
    let r = eve.get(authorize_url(&app, client_id, Some(&challenge), &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let back = query_of(&location(&r));
    // (`consent_required` first here: nothing was consented to yet; never a code either way.)
    assert!(["access_denied", "consent_required"].contains(&back["error"].as_str()), "{back:?}");
    assert!(!back.contains_key("code"));
    // The first-party token API refuses, clearly.
    let token_api = || {
        browser()
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({ "email": "eve@example.com", "password": PASSWORD, "token_delivery": "body" }))
            .send()
    };
    let r = token_api().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "email_not_verified");
    // The page's resend button works.
    let r = eve.post(app.url("/account/verify-email/resend")).form(&[("csrf_token", csrf_from(&page))]).send();
    assert_eq!(r.await.unwrap().status(), 303);
    assert_ne!(app.wait_for_mail("eve@example.com", 2).await.token().unwrap(), token);
    let token = app.wait_for_mail("eve@example.com", 2).await.token().unwrap();

    assert_eq!(confirm_by_api(&app, &token).await.status(), 200);
    assert_eq!(token_api().await.unwrap().status(), 200);
    assert_eq!(id_token_claims(&app, &client, "eve@example.com").await["email_verified"], true);
}

/// Asks for a change of address through the API with a cookie session.
async fn change_by_api(app: &TestApp, b: &reqwest::Client, new_email: &str, password: &str) -> reqwest::Response {
    b.post(app.url("/api/v1/account/email"))
        .header(CSRF.0, CSRF.1)
        .json(&json!({ "new_email": new_email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn change_of_address_full_flow(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    registered(&app, "fay@example.com").await;
    registered(&app, "gus@example.com").await;
    let fay = signed_in(&app, "fay@example.com").await;

    // The account page's form.
    let page = fay.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("action=\"/account/email\"") && page.contains("Change email"), "{page}");
    let form =
        [("csrf_token", csrf_from(&page)), ("new_email", "fay.new@example.com".into()), ("password", PASSWORD.into())];
    let r = fay.post(app.url("/account/email")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account?notice=email_change_sent");
    let confirm = app.wait_for_mail("fay.new@example.com", 1).await;
    let requested = app.wait_for_mail("fay@example.com", 2).await;
    assert!(requested.token().is_none(), "the old address is told, with no link");
    // Nothing changes before the confirmation.
    assert_eq!(me(&app, &fay).await["email"], "fay@example.com");

    // The confirm page names the new address; the POST switches.
    let token = confirm.token().unwrap();
    let b2 = browser();
    let page = b2.get(app.url(&format!("/verify-email?token={token}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("fay.new@example.com") && page.contains("Change my address"), "{page}");
    let r = confirm_by_page(&app, &b2, &token).await;
    assert_eq!(r.status(), 200);
    let account = me(&app, &fay).await;
    assert_eq!(
        (account["email"].as_str(), account["email_verified"].as_bool()),
        (Some("fay.new@example.com"), Some(true))
    );
    let changed = app.wait_for_mail("fay@example.com", 3).await;
    assert!(changed.token().is_none());
    assert_eq!(app.mails_to("fay@example.com").len(), 3, "verification, change requested, changed");
    assert_eq!(app.login_with(&browser(), "fay@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login_with(&browser(), "fay.new@example.com", PASSWORD).await.status(), 200);
    assert_eq!(confirm_by_api(&app, &token).await.status(), 400, "used");

    // A taken address gets the answer a free one gets, and nothing happens.
    let free = change_by_api(&app, &fay, "fay.other@example.com", PASSWORD).await;
    let taken = change_by_api(&app, &fay, "gus@example.com", PASSWORD).await;
    assert_eq!((free.status().as_u16(), taken.status().as_u16()), (202, 202));
    assert_eq!(free.json::<Value>().await.unwrap(), taken.json::<Value>().await.unwrap());
    app.wait_for_mail("fay.other@example.com", 1).await;
    app.wait_for_mail("fay.new@example.com", 3).await; // two "change requested" notices
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.mails_to("gus@example.com").len(), 1, "only Gus's own verification");
    assert_eq!(me(&app, &fay).await["email"], "fay.new@example.com");

    // Refusals: wrong password, the current address, a malformed one, no CSRF header.
    let r = change_by_api(&app, &fay, "fay.x@example.com", "wrong password!").await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_password");
    assert_eq!(change_by_api(&app, &fay, "FAY.NEW@example.com", PASSWORD).await.status(), 422);
    assert_eq!(change_by_api(&app, &fay, "not an address", PASSWORD).await.status(), 422);
    let r =
        fay.post(app.url("/api/v1/account/email")).json(&json!({ "new_email": "z@example.com", "password": PASSWORD }));
    assert_eq!(r.send().await.unwrap().status(), 403);
    assert_eq!(
        browser()
            .post(app.url("/api/v1/account/email"))
            .header(CSRF.0, CSRF.1)
            .json(&json!({ "new_email": "z@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // The trail records the change without addresses.
    let events = app.audit_events().await;
    let changes: Vec<_> = events.iter().filter(|e| e.0.starts_with("email.change")).collect();
    assert_eq!(changes.iter().filter(|e| e.0 == "email.changed").count(), 1);
    assert_eq!(changes.iter().filter(|e| e.0 == "email.change_requested").count(), 3);
    assert!(changes.iter().all(|e| !e.3.contains('@')), "{changes:?}");
}

async fn links_come_from_the_issuer_not_the_request(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    let r = browser()
        .post(app.url("/api/v1/auth/register"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https")
        .json(&json!({ "email": "hal@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let hal = signed_in(&app, "hal@example.com").await;
    let r = hal
        .post(app.url("/api/v1/account/verify-email"))
        .header(CSRF.0, CSRF.1)
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = hal
        .post(app.url("/api/v1/account/email"))
        .header(CSRF.0, CSRF.1)
        .header("x-forwarded-host", "evil.example")
        .json(&json!({ "new_email": "hal.new@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.wait_for_mail("hal.new@example.com", 1).await;
    app.wait_for_mail("hal@example.com", 3).await;
    let mut mails = app.mails_to("hal@example.com");
    mails.extend(app.mails_to("hal.new@example.com"));
    assert_eq!(mails.iter().filter(|m| m.link().is_some()).count(), 3, "two verification links and a change");
    for mail in mails {
        assert!(!mail.text.contains("evil.example") && !mail.html.contains("evil.example"), "{}", mail.text);
        if let Some(link) = mail.link() {
            assert!(link.starts_with(&format!("{}/verify-email?token=", app.base)), "{link}");
        }
    }
}

async fn hostile_input_gets_4xx_never_500(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let token = registered(&app, "ida@example.com").await;
    let c = browser();
    let long = "a".repeat(4000);
    for query in
        ["", "?token=", "?token=%00", "?token=%FF%FE", "?token=a&token=b", "?tok%00en=x", &format!("?token={long}")]
    {
        let r = c.get(app.url(&format!("/verify-email{query}"))).send().await.unwrap();
        let status = r.status();
        let page = r.text().await.unwrap();
        assert_eq!(status, 400, "{query}: {page}");
        // NUL and invalid UTF-8 stop at the server-wide URL check (a JSON 400); the rest reach
        // the page, which gives its one generic answer.
        let malformed = query.contains("%00") || query.contains("%FF");
        assert!(malformed || page.contains("invalid or has expired"), "{query}: {page}");
        assert!(!page.contains("<script"), "{query}");
    }
    let raw = |body: &'static [u8], ct: &'static str| {
        c.post(app.url("/api/v1/auth/verify-email")).header("content-type", ct).body(body).send()
    };
    for (body, ct, status) in [
        (&b"{}"[..], "application/json", 422),
        (b"{\"token\": 5}", "application/json", 422),
        (b"{\"token\": \"a\\u0000b\"}", "application/json", 400),
        (b"{\"token\": \"\xff\xfe\"}", "application/json", 400),
        (b"{\"token\": \"<script>\"}", "application/json", 400),
        (b"token=x", "application/x-www-form-urlencoded", 415),
        (b"{", "application/json", 400),
    ] {
        let r = raw(body, ct).await.unwrap();
        assert_eq!(r.status(), status, "{}", String::from_utf8_lossy(body));
        let err: Value = r.json().await.unwrap();
        assert!(err["error"].is_string() && err["error_description"].is_string());
    }
    let r = c.post(app.url("/api/v1/auth/verify-email")).json(&json!({ "token": long })).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_link");

    // The form: CSRF required (missing, wrong, cross-site), bad bytes refused; the token survives.
    let page = c.get(app.url(&format!("/verify-email?token={token}"))).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let post = |form: Vec<(&'static str, String)>| c.post(app.url("/verify-email")).form(&form).send();
    assert_eq!(post(vec![("token", token.clone())]).await.unwrap().status(), 403);
    assert_eq!(post(vec![("csrf_token", "forged".into()), ("token", token.clone())]).await.unwrap().status(), 403);
    let r = c
        .post(app.url("/verify-email"))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", csrf.as_str()), ("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    for body in ["csrf_token=x&token=%00", "csrf_token=x&token=%FF"] {
        let r = c
            .post(app.url("/verify-email"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    let r = post(vec![("csrf_token", csrf.clone()), ("token", "not a token".into())]).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(vec![("csrf_token", csrf), ("token", token)]).await.unwrap();
    assert_eq!(r.status(), 200, "still usable after every refusal");
}
