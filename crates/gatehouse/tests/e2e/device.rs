//! The device authorization grant (RFC 8628, issue #20 item 4), end to end: a public client
//! (a CLI) asks for codes, polls the token endpoint, and a signed-in user approves or denies on
//! `/device`. authlib has no device-flow client, so the device's calls are built by hand here,
//! exactly as RFC 8628 §3.1-3.5 describe them.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::admin::cli_ok;
use crate::console::{admin_browser, csrf_of, get_page, post_form, signed_in_browser};
use crate::helpers::{Backend, TestApp, browser, csrf_from};
use crate::oauth::{location, token_request, web_client};
use crate::on_both_backends;

on_both_backends!(
    a_cli_signs_in_through_the_device_page,
    polling_too_fast_is_told_to_slow_down_and_it_is_remembered,
    a_denied_device_gets_access_denied,
    an_expired_device_code_is_expired_token,
    wrong_user_codes_are_refused_and_guessing_is_limited,
    clients_without_the_grant_are_refused,
    the_decision_form_needs_its_csrf_token_and_our_origin,
    the_client_name_is_escaped_and_mfa_clients_need_a_second_factor,
    the_console_registers_device_clients,
);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";

/// A public client named `name` that may use the device grant (and refresh tokens).
async fn cli_client(app: &TestApp, name: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "clients",
        "create",
        "--name",
        name,
        "--json",
        "--public",
        "--grant-type",
        DEVICE_GRANT,
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid",
        "--scope",
        "email",
        "--scope",
        "offline_access",
    ];
    args.extend_from_slice(extra);
    let out = app.cli(&args, None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A well-formed user code that is not `code`.
fn other_code(code: &str) -> &'static str {
    if code == "BBBB-CCCC" { "CCCC-BBBB" } else { "BBBB-CCCC" }
}

/// RFC 8628 §3.1: the device authorization request of a public client (its `client_id`).
async fn device_authorization(app: &TestApp, client: &Value, scope: &str) -> reqwest::Response {
    let id = client["client_id"].as_str().unwrap();
    let mut req = reqwest::Client::new().post(app.url("/oauth2/device_authorization"));
    let mut form = vec![("scope", scope)];
    match client["client_secret"].as_str() {
        Some(secret) => req = req.basic_auth(id, Some(secret)),
        None => form.push(("client_id", id)),
    }
    req.form(&form).send().await.unwrap()
}

async fn start(app: &TestApp, client: &Value) -> Value {
    let r = device_authorization(app, client, "openid email offline_access").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

/// RFC 8628 §3.4: one poll of the token endpoint; status and body.
async fn poll(app: &TestApp, client: &Value, device_code: &str) -> (StatusCode, Value) {
    let r = token_request(app, client, &[("grant_type", DEVICE_GRANT), ("device_code", device_code)]).await;
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn assert_poll_error(app: &TestApp, client: &Value, device_code: &str, error: &str) {
    let (status, body) = poll(app, client, device_code).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{body}");
}

/// The user's side (§3.3): enter `code` on /device; the response (consent page or error).
async fn enter_code(app: &TestApp, b: &reqwest::Client, code: &str) -> reqwest::Response {
    let (status, html) = get_page(app, b, "/device").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    post_form(app, b, "/device", &[("csrf_token", &csrf_from(&html)), ("user_code", code)]).await
}

/// Enters `code` and answers `decision` on the consent page; the final page.
async fn decide(app: &TestApp, b: &reqwest::Client, code: &str, decision: &str) -> (StatusCode, String) {
    let r = enter_code(app, b, code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let csrf = csrf_from(&html);
    let fields = [("csrf_token", csrf.as_str()), ("user_code", code), ("decision", decision)];
    let r = post_form(app, b, "/device/decision", &fields).await;
    (r.status(), r.text().await.unwrap())
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn a_cli_signs_in_through_the_device_page(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = cli_client(&app, "Example CLI", &[]).await;
    let started = start(&app, &client).await;

    // §3.2: the response's members; §6.1: the user code is 8 letters of the consonant alphabet,
    // shown as XXXX-XXXX.
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9, "{started}");
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code.chars().filter(|c| *c != '-').all(|c| ALPHABET.contains(c)), "{user_code}");
    assert_eq!(started["verification_uri"], format!("{}/device", app.base));
    assert_eq!(started["verification_uri_complete"], format!("{}/device?user_code={user_code}", app.base));
    assert_eq!((started["expires_in"].as_i64(), started["interval"].as_i64()), (Some(600), Some(5)));
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    assert!(device_code.len() >= 43);

    // §3.5: nobody has approved yet.
    assert_poll_error(&app, &client, &device_code, "authorization_pending").await;

    // §3.3.1: the complete URI, opened signed out, goes to sign-in and comes back with the code.
    let complete = format!("/device?user_code={user_code}");
    let r = browser().get(app.url(&complete)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with("/login?next=%2Fdevice%3Fuser_code%3D"), "{to}");
    let (status, login) = get_page(&app, &browser(), &to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains(&format!("name=\"next\" value=\"/device?user_code={user_code}\"")), "{login}");

    // Signed in, the code is prefilled; typed sloppily (lower case, spaces) it still matches.
    let user = signed_in_browser(&app, "ada@example.com", false).await;
    let (status, html) = get_page(&app, &user, &complete).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("value=\"{user_code}\"")), "{html}");
    let sloppy = format!(" {} ", user_code.to_lowercase().replace('-', " "));
    let r = enter_code(&app, &user, &sloppy).await;
    assert_eq!(r.status(), StatusCode::OK);
    let consent = r.text().await.unwrap();
    assert!(consent.contains("Example CLI") && consent.contains(&user_code), "{consent}");
    assert!(consent.contains("Your email address"), "{consent}");

    let (status, done) = decide(&app, &user, &user_code, "allow").await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("Device signed in"), "{done}");

    // §3.5: approved: the tokens, as the code grant issues them.
    app.clock.advance(5);
    let (status, tokens) = poll(&app, &client, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string(), "offline_access and the refresh grant: {tokens}");
    let id = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], client["client_id"]);
    assert_eq!(id["email"], "ada@example.com");
    assert!(id["amr"].as_array().unwrap().iter().any(|a| a == "pwd"), "{id}");
    assert!(id["auth_time"].as_i64().is_some(), "{id}");
    let access = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], id["sub"]);
    assert_eq!(access["client_id"], client["client_id"]);
    let me = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // The refresh token works like any other.
    let r = token_request(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // §3.5 / RFC 6749 §10.5: single use: the same device code gives nothing more.
    app.clock.advance(5);
    assert_poll_error(&app, &client, &device_code, "invalid_grant").await;
    // Nor can the user code be entered again.
    let r = enter_code(&app, &user, &user_code).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e.0 == "device.approved" && e.3.contains("offline_access")), "{events:?}");
}

async fn polling_too_fast_is_told_to_slow_down_and_it_is_remembered(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = cli_client(&app, "Example App", &[]).await;
    let device_code = start(&app, &client).await["device_code"].as_str().unwrap().to_owned();
    assert_poll_error(&app, &client, &device_code, "authorization_pending").await;
    // §3.5 slow_down: at once again: the interval grows by 5 seconds, to 10 ...
    assert_poll_error(&app, &client, &device_code, "slow_down").await;
    // ... and is remembered: 5 seconds later is still too fast (now 15).
    app.clock.advance(5);
    assert_poll_error(&app, &client, &device_code, "slow_down").await;
    app.clock.advance(15);
    assert_poll_error(&app, &client, &device_code, "authorization_pending").await;
    // The server's clock is the wall clock plus the test's offset: margins of seconds, not one.
    app.clock.advance(10);
    assert_poll_error(&app, &client, &device_code, "slow_down").await;
}

async fn a_denied_device_gets_access_denied(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = cli_client(&app, "Example App", &[]).await;
    let started = start(&app, &client).await;
    let user = signed_in_browser(&app, "ada@example.com", false).await;
    let (status, done) = decide(&app, &user, started["user_code"].as_str().unwrap(), "deny").await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("Device access denied"), "{done}");
    // §3.5 access_denied, for every later poll too.
    let device_code = started["device_code"].as_str().unwrap();
    assert_poll_error(&app, &client, device_code, "access_denied").await;
    app.clock.advance(5);
    assert_poll_error(&app, &client, device_code, "access_denied").await;
    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e.0 == "device.denied" && e.1 == "failure"), "{events:?}");
}

async fn an_expired_device_code_is_expired_token(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = cli_client(&app, "Example App", &[]).await;
    let started = start(&app, &client).await;
    app.clock.advance(601);
    // §3.5 expired_token.
    assert_poll_error(&app, &client, started["device_code"].as_str().unwrap(), "expired_token").await;
    // The user code is gone too (§3.3): a clear error page, not a consent page.
    let user = signed_in_browser(&app, "ada@example.com", false).await;
    let r = enter_code(&app, &user, started["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not valid"));
}

async fn wrong_user_codes_are_refused_and_guessing_is_limited(b: Backend) {
    // §5.1: brute force of the user code is rate limited, per IP and per account.
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.rate_limits.user_code_account = gatehouse_core::abuse::Quota::new(3, 3600);
        s.rate_limits.user_code_ip = gatehouse_core::abuse::Quota::new(5, 3600);
    })
    .await
    else {
        return;
    };
    let client = cli_client(&app, "Example App", &[]).await;
    let started = start(&app, &client).await;
    let right = started["user_code"].as_str().unwrap().to_owned();
    let wrong = other_code(&right);

    let mallory = signed_in_browser(&app, "mallory@example.com", false).await;
    for code in [wrong, "hello", "AAAA-AAAA"] {
        let r = enter_code(&app, &mallory, code).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{code}");
        let html = r.text().await.unwrap();
        assert!(html.contains("not valid") && html.contains("role=\"alert\""), "{html}");
    }
    // The account's fourth guess: 429, even with the right code (a refusal says nothing).
    let r = enter_code(&app, &mallory, &right).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));

    // Another account from the same address: its first guess is the fifth from this IP, the
    // per-IP limit (5); the next is refused.
    let eve = signed_in_browser(&app, "eve@example.com", false).await;
    assert_eq!(enter_code(&app, &eve, wrong).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(enter_code(&app, &eve, wrong).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Nothing was approved: the device is still waiting.
    assert_poll_error(&app, &client, started["device_code"].as_str().unwrap(), "authorization_pending").await;
    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e.0 == "rate_limit.exceeded" && e.3.contains("user_code_account")), "{events:?}");
    assert!(events.iter().any(|e| e.0 == "rate_limit.exceeded" && e.3.contains("user_code_ip")), "{events:?}");
}

async fn clients_without_the_grant_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    // §3.1: a client not registered for the grant.
    let web = web_client(&app, &[]).await;
    let r = device_authorization(&app, &web, "openid").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    let r = token_request(&app, &web, &[("grant_type", DEVICE_GRANT), ("device_code", "x")]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized_client");

    // An unknown client, and a scope the client may not ask for (§3.2 / RFC 6749 §5.2).
    let unknown = serde_json::json!({ "client_id": "nobody" });
    assert_eq!(device_authorization(&app, &unknown, "openid").await.status(), StatusCode::UNAUTHORIZED);
    let cli = cli_client(&app, "Example App", &[]).await;
    let r = device_authorization(&app, &cli, "openid profile").await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");

    // A device code of one client is nothing to another (§3.4).
    let other = cli_client(&app, "Example App", &[]).await;
    let code = start(&app, &cli).await["device_code"].as_str().unwrap().to_owned();
    assert_poll_error(&app, &other, &code, "invalid_grant").await;
    assert_poll_error(&app, &cli, "made-up", "invalid_grant").await;
    assert_poll_error(&app, &cli, &code, "authorization_pending").await;
}

async fn the_decision_form_needs_its_csrf_token_and_our_origin(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = cli_client(&app, "Example App", &[]).await;
    let started = start(&app, &client).await;
    let code = started["user_code"].as_str().unwrap();
    let user = signed_in_browser(&app, "ada@example.com", false).await;
    let r = enter_code(&app, &user, code).await;
    let csrf = csrf_from(&r.text().await.unwrap());

    let no_token = post_form(&app, &user, "/device/decision", &[("user_code", code), ("decision", "allow")]).await;
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let wrong = [("csrf_token", "forged"), ("user_code", code), ("decision", "allow")];
    assert_eq!(post_form(&app, &user, "/device/decision", &wrong).await.status(), StatusCode::FORBIDDEN);
    let cross = user
        .post(app.url("/device/decision"))
        .header("origin", "https://evil.test")
        .form(&[("csrf_token", csrf.as_str()), ("user_code", code), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // The code entry form is protected the same way.
    let cross = user
        .post(app.url("/device"))
        .header("origin", "https://evil.test")
        .form(&[("csrf_token", csrf.as_str()), ("user_code", code)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // No decision, an unknown one, and a signed-out POST decide nothing.
    let odd = [("csrf_token", csrf.as_str()), ("user_code", code), ("decision", "maybe")];
    assert_eq!(post_form(&app, &user, "/device/decision", &odd).await.status(), StatusCode::BAD_REQUEST);
    let unknown = [("csrf_token", csrf.as_str()), ("user_code", other_code(code)), ("decision", "allow")];
    assert_eq!(post_form(&app, &user, "/device/decision", &unknown).await.status(), StatusCode::BAD_REQUEST);
    let anonymous = browser();
    let r = anonymous.post(app.url("/device/decision")).header("origin", &app.base).form(&odd).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no form token cookie");

    // State unchanged: the device is still waiting.
    assert_poll_error(&app, &client, started["device_code"].as_str().unwrap(), "authorization_pending").await;
    assert!(!app.audit_events().await.iter().any(|e| e.0.starts_with("device.")));
}

async fn the_client_name_is_escaped_and_mfa_clients_need_a_second_factor(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = cli_client(&app, "<script>x</script>", &[]).await;
    let started = start(&app, &client).await;
    let code = started["user_code"].as_str().unwrap();
    let user = signed_in_browser(&app, "ada@example.com", false).await;
    let html = enter_code(&app, &user, code).await.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") || html.contains("&#60;script&#62;"), "{html}");
    assert!(!html.contains("<script>x</script>"), "{html}");
    let (_, done) = decide(&app, &user, code, "allow").await;
    assert!(!done.contains("<script>x</script>"), "{done}");

    // A client that requires a second factor: a password-only session cannot approve.
    let strict = cli_client(&app, "Strict CLI", &["--require-mfa"]).await;
    let started = start(&app, &strict).await;
    let r = enter_code(&app, &user, started["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("two-step sign-in"));
    assert_poll_error(&app, &strict, started["device_code"].as_str().unwrap(), "authorization_pending").await;
}

async fn the_console_registers_device_clients(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let (_, form) = get_page(&app, &admin, "/admin/clients/new").await;
    assert!(form.contains(r#"name="grant_device_code""#), "{form}");
    let csrf = csrf_of(&app, &admin, "/admin/clients/new").await;
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("name", "Console CLI"),
        ("auth_method", "none"),
        ("grant_device_code", "on"),
        ("scopes", "openid"),
    ];
    let r = post_form(&app, &admin, "/admin/clients/new", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let id = to.trim_start_matches("/admin/clients/").split('?').next().unwrap().to_owned();
    let shown: Value = serde_json::from_str(&cli_ok(&app, &["clients", "show", &id, "--json"]).await).unwrap();
    assert_eq!(shown["grant_types"], serde_json::json!([DEVICE_GRANT]));
    // The edit page shows the box ticked, and the client can start the flow (RFC 8628 §3.1).
    let (_, page) = get_page(&app, &admin, &format!("/admin/clients/{id}")).await;
    assert!(page.contains(r#"name="grant_device_code" checked"#), "{page}");
    let client = serde_json::json!({ "client_id": id });
    assert_eq!(device_authorization(&app, &client, "openid").await.status(), StatusCode::OK);
}
