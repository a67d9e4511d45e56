//! The defects an outside black-box run found (issue #18), one test each; every test here failed
//! before its fix. Redirect-URI rules (RFC 8252 §7.3, RFC 6749 §4.1.2, RFC 9207 §2), look-alike
//! addresses, lockout timing, and the other items the run listed.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, client_token, get_json};
use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::{authorize_as, authorize_url, create_client, location, pkce, query_of, setup};
use crate::on_both_backends;

on_both_backends!(
    loopback_ports_are_exact_except_for_native_apps,
    redirect_uris_with_response_parameters_are_refused,
    look_alike_addresses_do_not_register,
    a_locked_key_answers_as_slowly_as_a_failure,
    error_descriptions_stay_in_the_rfc6749_set_and_never_reflect_input,
    nul_and_broken_text_are_refused_at_the_edge,
    introspection_is_inactive_from_exp_without_leeway,
    token_logins_are_sign_ins_that_end_with_the_others,
    revoked_client_credentials_tokens_are_inactive_whatever_the_hint,
    a_long_authorization_request_survives_sign_in,
    consents_and_code_replays_are_audited_and_admin_scope_stays_first_party,
    a_decision_in_the_request_never_answers_the_consent_page,
);

/// `/oauth2/authorize` for `client_id` with `redirect_uri`, not signed in.
async fn authorize(app: &TestApp, client_id: &str, redirect_uri: &str) -> reqwest::Response {
    let (_, challenge) = pkce();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    browser().get(app.url(&format!("/oauth2/authorize?{}", q.finish()))).send().await.unwrap()
}

/// RFC 8252 §7.3: the any-port rule for loopback redirect URIs is for native apps; a confidential
/// web client that registered a port gets an exact match (the Keycloak CVE-2024-8883 class).
async fn loopback_ports_are_exact_except_for_native_apps(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let web = ["--grant-type", "authorization_code", "--redirect-uri", "http://127.0.0.1:9996/cb", "--scope", "openid"];
    let web = create_client(&app, &web).await;
    let web = web["client_id"].as_str().unwrap();
    let r = authorize(&app, web, "http://127.0.0.1:9996/cb").await;
    assert_eq!(r.status(), 303, "the registered URI itself is fine");
    for other in ["http://127.0.0.1:12345/cb", "http://127.0.0.1/cb", "http://[::1]:9996/cb"] {
        let r = authorize(&app, web, other).await;
        assert_eq!(r.status(), 400, "{other}");
        assert!(r.headers().get("location").is_none(), "{other} redirected");
    }
    let native = ["--public", "--grant-type", "authorization_code", "--redirect-uri", "http://127.0.0.1/cb"];
    let native = create_client(&app, &native).await;
    let native = native["client_id"].as_str().unwrap();
    let r = authorize(&app, native, "http://127.0.0.1:51234/cb").await;
    assert_eq!(r.status(), 303, "a native app picks its port at run time");
    assert_eq!(authorize(&app, native, "http://127.0.0.1:51234/other").await.status(), 400);
}

/// RFC 6749 §4.1.2 / RFC 9207 §2: the server appends `code`, `state`, `iss` (and the error
/// parameters); a registered URI carrying one would reach the client twice. Refused by the CLI
/// and the admin API alike.
async fn redirect_uris_with_response_parameters_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    for uri in
        ["https://app.example.com/cb?code=x", "https://app.example.com/cb?state=1", "https://app.example.com/cb?iss=x"]
    {
        let args = ["clients", "create", "--name", "Polluted", "--redirect-uri", uri, "--json"];
        let out = app.cli(&args, None).await;
        assert!(!out.status.success(), "{uri} accepted by the CLI");
        assert!(String::from_utf8_lossy(&out.stderr).contains("query parameters"), "{uri}");
        let body = json!({ "name": "Polluted", "redirect_uris": [uri] });
        let r = call(&app, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await;
        assert_eq!(r.status(), 422, "{uri} accepted by the admin API");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{v}");
    }
    let body = json!({ "name": "Fine", "redirect_uris": ["https://app.example.com/cb?tenant=a"] });
    assert_eq!(call(&app, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await.status(), 201);
}

/// UTS #39 §5: an address with an invisible character or a mixed-script part is refused with a
/// clear 422 (like any invalid address), not registered beside the account it imitates (and not answered with 409).
async fn look_alike_addresses_do_not_register(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    assert_eq!(app.register("alice@example.com", PASSWORD).await.status(), 202);
    for look_alike in ["alice\u{200b}@example.com", "\u{0430}lice@example.com", "alice@ex\u{0430}mple.com"] {
        let r = app.register(look_alike, PASSWORD).await;
        assert_eq!(r.status(), 422, "{look_alike:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_email", "{v}");
        assert!(v["error_description"].as_str().unwrap().contains("invisible characters"), "{v}");
    }
    assert_eq!(app.register("\u{0430}\u{043b}\u{0438}\u{0441}\u{0430}@example.com", PASSWORD).await.status(), 202);
}

/// A locked key must not answer faster than an open one (issue #18 item 10): it waits the delay
/// the next failure would wait and verifies a dummy hash, so the answer and its timing do not
/// tell that a lock exists. Lower bounds only: a slow machine cannot make this fail.
async fn a_locked_key_answers_as_slowly_as_a_failure(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        s.lockout.max_failures = 5;
        s.lockout.free_failures = 3;
        s.lockout.delay_base_ms = 100;
        s.lockout.delay_max_ms = 400;
    })
    .await
    else {
        return;
    };
    assert_eq!(app.register("ivy@example.com", PASSWORD).await.status(), 202);
    for _ in 0..5 {
        assert_eq!(app.login("ivy@example.com", "a wrong password").await.status(), 401);
    }
    // Locked now. Each refusal waits what a sixth failure would (min(100 ms × 2², 400 ms)), even
    // with the right password, and verifies a (dummy) password like any failure.
    for (email, password) in [("ivy@example.com", PASSWORD), ("ivy@example.com", "a wrong password")] {
        let started = Instant::now();
        assert_eq!(app.login(email, password).await.status(), 401);
        assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    }
    let refusals = app.audit_events().await.into_iter().filter(|e| e.0 == "login.failed" && e.3.contains("locked"));
    assert_eq!(refusals.count(), 2, "each locked refusal is audited");
}

/// RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ).
fn in_rfc6749_set(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// RFC 6749 §4.1.2.1 and §5.2 limit `error_description` to printable ASCII without `"` and `\`:
/// no "§" in our texts, and the request's own scope is never echoed.
async fn error_descriptions_stay_in_the_rfc6749_set_and_never_reflect_input(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "api:read"]).await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let bad_scope = "api:read zq\"x\\ \u{e4}\u{e4}";
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", bad_scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_scope");
    let d = v["error_description"].as_str().unwrap();
    assert!(in_rfc6749_set(d) && !d.contains("zq"), "{d:?}");

    // The authorization endpoint's redirected errors too: a repeated parameter (RFC 6749 §3.1).
    let web = setup(&app, &[]).await;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &app,
        web["client_id"].as_str().unwrap(),
        Some(&challenge),
        &[("prompt", "none"), ("prompt", "login")],
    );
    let r = browser().get(url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "invalid_request", "{q:?}");
    assert!(in_rfc6749_set(&q["error_description"]), "{q:?}");
}

/// NUL bytes and invalid UTF-8 never reach SQL (PostgreSQL answered 500; SQLite matched every
/// user for `?q=%00`): 400 with our JSON / OAuth error body on both backends, whatever the route.
async fn nul_and_broken_text_are_refused_at_the_edge(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let c = browser();
    let check = |r: reqwest::Response, what: &'static str| async move {
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{what}: {v}");
    };
    for path in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        let body = "grant_type=client_credentials&client_id=x%00&client_secret=s&token=t";
        let r = c
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        check(r, path).await;
    }
    let r = c
        .get(
            app.url("/oauth2/authorize?response_type=code&client_id=x&redirect_uri=https%3A%2F%2Fa.example&nonce=n%00"),
        )
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("location").is_none(), "never sent to the client as server_error");
    check(r, "authorize nonce").await;
    for path in [
        "/admin/v1/users?q=%00",
        "/admin/v1/audit-events?actor=%00",
        "/admin/v1/audit-events?type=a%00",
        "/admin/v1/audit-events?subject=%00",
        "/admin/v1/clients/a%00",
        "/admin/v1/users?q=%FF",
    ] {
        check(call(&app, Some(&admin), Method::GET, path, None).await, "admin filter").await;
    }
    let r = c
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"email":"nul\u0000@example.com","password":"a long enough password"}"#)
        .send()
        .await
        .unwrap();
    check(r, "JSON with \\u0000").await;
    let body = json!({ "name": "nul\u{0}client", "grant_types": ["client_credentials"] });
    check(call(&app, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await, "admin JSON").await;
    // The server is fine afterwards, and nothing was written.
    let users = call(&app, Some(&admin), Method::GET, "/admin/v1/users", None).await;
    assert_eq!(users.status(), 200);
}

/// `active: true` only while the token is valid by the issuer's own clock (RFC 7662 §2.2): the
/// 30 s leeway is for other verifiers' clocks, not for introspection.
async fn introspection_is_inactive_from_exp_without_leeway(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "api:read"]).await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let token = |form: Vec<(&'static str, String)>, path: &'static str| {
        browser().post(app.url(path)).basic_auth(id, Some(secret)).form(&form).send()
    };
    let r = token(vec![("grant_type", "client_credentials".into())], "/oauth2/token").await.unwrap();
    let v: Value = r.json().await.unwrap();
    let access = v["access_token"].as_str().unwrap().to_owned();
    let lifetime = v["expires_in"].as_i64().unwrap();
    let introspect = || async {
        let r = token(vec![("token", access.clone())], "/oauth2/introspect").await.unwrap();
        r.json::<Value>().await.unwrap()["active"].as_bool().unwrap()
    };
    assert!(introspect().await);
    app.clock.advance(lifetime + 5);
    assert!(!introspect().await, "expired 5 s ago, within the verification leeway");
}

/// A first-party token login, as `/api/v1/auth/token` with the refresh token in the body.
async fn token_login(app: &TestApp, email: &str) -> (String, String) {
    let r = browser()
        .post(app.url("/api/v1/auth/token"))
        .header("user-agent", "regression-app/1.0")
        .json(&json!({ "email": email, "password": PASSWORD, "token_delivery": "body" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (v["access_token"].as_str().unwrap().to_owned(), v["refresh_token"].as_str().unwrap().to_owned())
}

async fn refresh_status(app: &TestApp, refresh: &str) -> u16 {
    let r = browser().post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": refresh })).send().await;
    r.unwrap().status().as_u16()
}

async fn me_status(app: &TestApp, access: &str) -> u16 {
    browser().get(app.url("/api/v1/me")).bearer_auth(access).send().await.unwrap().status().as_u16()
}

/// Issue #18 item 1: a first-party token login is listed with the user's sessions (kind, client,
/// time, address), can be ended on its own, and "end all sessions" ends it too — its access
/// token stops working at `/api/v1/me` and its refresh token no longer rotates.
async fn token_logins_are_sign_ins_that_end_with_the_others(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let user = app.register_user("tess@example.com", PASSWORD).await["id"].as_str().unwrap().to_owned();
    let (access_a, refresh_a) = token_login(&app, "tess@example.com").await;
    let (access_b, refresh_b) = token_login(&app, "tess@example.com").await;

    let list = get_json(&app, &admin, &format!("/admin/v1/users/{user}/sessions")).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    let tokens: Vec<&Value> = items.iter().filter(|i| i["kind"] == "token").collect();
    assert_eq!(tokens.len(), 2, "{list}");
    for t in &tokens {
        assert_eq!(t["client_id"], "gatehouse");
        assert_eq!(t["ip"], "127.0.0.1");
        assert_eq!(t["user_agent"], "regression-app/1.0");
        assert!(t["created_at"].as_i64().unwrap() > 0 && t["expires_at"].as_i64() > t["created_at"].as_i64());
    }
    assert_eq!(items.iter().filter(|i| i["kind"] == "browser").count(), 1);

    // Ending one token login ends just that one: its id is the `sid` of its access tokens.
    let b_id = crate::claims::claims_of(&access_b)["sid"].as_str().unwrap().to_owned();
    assert!(tokens.iter().any(|t| t["id"] == b_id.as_str()), "{list}");
    let r = call(&app, Some(&admin), Method::DELETE, &format!("/admin/v1/users/{user}/sessions/{b_id}"), None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&app, &access_b).await, 401);
    assert_eq!(refresh_status(&app, &refresh_b).await, 401);
    assert_eq!(me_status(&app, &access_a).await, 200, "the other token login is untouched");

    // "End all" ends every kind.
    let r = call(&app, Some(&admin), Method::DELETE, &format!("/admin/v1/users/{user}/sessions"), None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["sessions_ended"].as_u64(), v["refresh_families_revoked"].as_u64()), (Some(1), Some(1)), "{v}");
    assert_eq!(me_status(&app, &access_a).await, 401, "the access token of the token login is dead");
    assert_eq!(refresh_status(&app, &refresh_a).await, 401, "and its refresh token does not rotate");
    let list = get_json(&app, &admin, &format!("/admin/v1/users/{user}/sessions")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
}

/// RFC 7009 §2.1 / RFC 7662 §2.2: a revoked client-credentials access token is inactive at
/// introspection and refused by our APIs, whatever `token_type_hint` said.
async fn revoked_client_credentials_tokens_are_inactive_whatever_the_hint(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "gatehouse:admin"]).await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        browser().post(app.url(path)).basic_auth(id, Some(secret)).form(&form).send()
    };
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let r = post("/oauth2/token", vec![("grant_type", "client_credentials".into())]).await.unwrap();
        tokens.push(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned());
    }
    let active = |t: String| async move {
        let r = post("/oauth2/introspect", vec![("token", t)]).await.unwrap();
        r.json::<Value>().await.unwrap()["active"].as_bool().unwrap()
    };
    for (token, hint) in tokens.iter().zip(["access_token", "refresh_token"]) {
        assert!(active(token.clone()).await);
        assert_eq!(call(&app, Some(token), Method::GET, "/admin/v1/users", None).await.status(), 200);
        let r = post("/oauth2/revoke", vec![("token", token.clone()), ("token_type_hint", hint.into())]).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(!active(token.clone()).await, "revoked with hint {hint}");
        assert_eq!(call(&app, Some(token), Method::GET, "/admin/v1/users", None).await.status(), 401, "{hint}");
    }
}

/// Issue #18 item 6: a long authorization request (a 2,000-character `state` with non-ASCII
/// characters) used to travel double-encoded in the login URL and hit 414. It is parked
/// server-side; the login URL carries a short reference, and the state comes back intact.
async fn a_long_authorization_request_survives_sign_in(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let state: String = "\u{e4}x".repeat(1000);
    let (_, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let url = url.replace(
        "state=st%26%3D%C3%A4",
        &format!("state={}", url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()),
    );
    assert!(url.len() > 6000 && url.len() < 8192, "{}", url.len());
    let user = browser();
    let r = user.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let login = location(&r);
    assert!(login.starts_with("/login?") && login.len() < 200, "{login}");
    assert_eq!(user.get(app.url(&login)).send().await.unwrap().status(), 200);
    let callback = authorize_as(&app, &user, &url, "ada@example.com", "allow").await;
    let q = query_of(&callback);
    assert!(q.contains_key("code"), "{q:?}");
    assert_eq!(q["state"], state, "the state comes back unchanged");
    // A reference that does not exist (or expired) is a clear error page, not a redirect.
    let r = user.get(app.url("/oauth2/authorize?gatehouse_parked=nope")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("expired"));
}

/// The details of the audit events of `kind`.
async fn events_of(app: &TestApp, kind: &str) -> Vec<String> {
    app.audit_events().await.into_iter().filter(|e| e.0 == kind).map(|e| e.3).collect()
}

/// Issue #18 item 12: consents given and withdrawn and replayed codes are audit events; the
/// admin scope is refused to third-party clients (RFC 6749 §3.3 `invalid_scope`) and flagged on
/// the consent page of a first-party one that asks for consent.
async fn consents_and_code_replays_are_audited_and_admin_scope_stays_first_party(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--scope", "gatehouse:admin"]).await;
    let id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let user = browser();
    let url = authorize_url(&app, id, Some(&challenge), &[]);
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let granted = events_of(&app, "consent.granted").await;
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert!(granted[0].contains(id), "{granted:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", crate::oauth::REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    assert_eq!(crate::oauth::token_request(&app, &client, &form).await.status(), 200);
    assert_eq!(crate::oauth::token_request(&app, &client, &form).await.status(), 400);
    let replayed = events_of(&app, "authorization_code.replayed").await;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let details: Value = serde_json::from_str(&replayed[0]).unwrap();
    assert_eq!(details["grant_revoked"], true, "{details}");

    // Withdrawing the consent on the account page is audited too.
    let page = user.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let r = user
        .post(app.url(&format!("/account/consents/{id}/revoke")))
        .form(&[("csrf_token", crate::helpers::csrf_from(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(events_of(&app, "consent.revoked").await.len(), 1);

    // The admin scope: refused to this third-party client …
    let (_, challenge) = pkce();
    let url = authorize_url(&app, id, Some(&challenge), &[("scope", "openid gatehouse:admin")])
        .replace("scope=openid+profile+email+offline_access&", "");
    let r = user.get(&url).send().await.unwrap();
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "invalid_scope", "{q:?}");
    // … and flagged on the consent page of a first-party client asked with prompt=consent.
    let first_party = crate::oauth::web_client(&app, &["--skip-consent", "--scope", "gatehouse:admin"]).await;
    let url =
        authorize_url(&app, first_party["client_id"].as_str().unwrap(), Some(&challenge), &[("prompt", "consent")])
            .replace("scope=openid+profile+email+offline_access", "scope=openid+gatehouse%3Aadmin");
    let page = user.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("administrator access"), "{page}");
}

/// A `decision=allow` smuggled into the authorization request must not become a hidden field of
/// the consent page, where it would turn the user's "Deny" into an allow.
async fn a_decision_in_the_request_never_answers_the_consent_page(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let (_, challenge) = pkce();
    let extra = [("decision", "allow"), ("csrf_token", "x")];
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &extra);
    let user = browser();
    let callback = authorize_as(&app, &user, &url, "ada@example.com", "deny").await;
    let q = query_of(&callback);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"), "{q:?}");
    assert!(!q.contains_key("code"), "{q:?}");
    assert!(events_of(&app, "consent.granted").await.is_empty());
}
