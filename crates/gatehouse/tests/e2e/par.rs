//! Pushed authorization requests (RFC 9126) end to end: the push (§2), the authorization
//! request naming the pushed `request_uri` (§4), single use, expiry, binding to the client,
//! PAR required per client (§6) and globally (§5; refused as §4 says), discovery (§5), and a user who must sign in (and
//! consent) before the code is issued.

use reqwest::StatusCode;
use serde_json::Value;

use crate::console::{admin_browser, csrf_of, get_page, post_form};
use crate::helpers::{Backend, TestApp, browser};
use crate::oauth::{
    REDIRECT, authorize_as, authorize_url, create_client, location, pkce, query_of, setup, token_request,
};
use crate::on_both_backends;

on_both_backends!(
    confidential_client_pushes_then_gets_a_code_and_tokens,
    public_client_pushes_with_pkce,
    a_request_uri_is_single_use,
    an_expired_request_uri_is_refused,
    another_clients_request_uri_is_refused,
    bad_pushes_are_refused_at_the_push,
    par_required_for_one_client,
    par_required_globally,
    discovery_advertises_par,
    console_client_form_sets_require_par,
    admin_api_sets_require_par,
);

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
const PUSHED_STATE: &str = "pushed-st&=ä";

/// POSTs `form` to `/oauth2/par`, authenticated as at the token endpoint (RFC 9126 §2:
/// `client_secret_basic` for confidential clients, `client_id` for public ones).
async fn push(app: &TestApp, client: &Value, form: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(app.url("/oauth2/par"));
    let id = client["client_id"].as_str().unwrap();
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match client["client_secret"].as_str() {
        Some(secret) => req = req.basic_auth(id, Some(secret)),
        None => form.push(("client_id", id)),
    }
    req.form(&form).send().await.unwrap()
}

/// The parameters of an authorization request (RFC 6749 §4.1.1) with S256 PKCE.
fn request_params(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "openid profile".into()),
        ("state", PUSHED_STATE.into()),
        ("nonce", "n-PAR".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

/// Pushes a valid request; returns its `request_uri` and the PKCE verifier.
async fn pushed(app: &TestApp, client: &Value) -> (String, String) {
    let (verifier, challenge) = pkce();
    let params = request_params(&challenge);
    let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = push(app, client, &form).await;
    // §2.2: 201 Created, JSON with request_uri and expires_in, not cached.
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with(PREFIX) && uri.len() > PREFIX.len() + 20, "{uri}");
    (uri, verifier)
}

/// §4: the authorization request carries only `client_id` and `request_uri` (plus, here, a
/// `state` and `scope` that must be ignored).
fn par_url(app: &TestApp, client_id: &str, request_uri: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .append_pair("state", "not-the-pushed-one")
        .append_pair("scope", "openid email offline_access");
    app.url(&format!("/oauth2/authorize?{}", q.finish()))
}

async fn redeem(app: &TestApp, client: &Value, callback: &str, verifier: &str) -> Value {
    let q = query_of(callback);
    assert_eq!(q["state"], PUSHED_STATE, "§4 with RFC 9101 §6.3: only the pushed parameters are used");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let r = token_request(app, client, &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn confidential_client_pushes_then_gets_a_code_and_tokens(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let (uri, verifier) = pushed(&app, &client).await;
    // A fresh browser: the user signs in and consents first; the flow returns to the pushed
    // request, whose request_uri was already used.
    let callback = authorize_as(&app, &browser(), &par_url(&app, id, &uri), "ada@example.com", "allow").await;
    assert!(callback.starts_with(REDIRECT), "{callback}");
    let tokens = redeem(&app, &client, &callback, &verifier).await;
    // The pushed scope, not the one in the URL.
    assert_eq!(tokens["scope"], "openid profile");
    assert!(tokens["id_token"].is_string());

    // Exactly as at the token endpoint: only the registered method (client_secret_basic here)
    // authenticates; the same secret in the body (client_secret_post) does not.
    let (_, challenge) = pkce();
    let params = request_params(&challenge);
    let mut form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let secret = client["client_secret"].as_str().unwrap();
    form.extend([("client_id", id), ("client_secret", secret)]);
    let r = reqwest::Client::new().post(app.url("/oauth2/par")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn public_client_pushes_with_pkce(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--public"]).await;
    assert!(client["client_secret"].is_null());
    let id = client["client_id"].as_str().unwrap();
    // A public client must use PKCE (RFC 9700 §2.1.1), at the push as at /oauth2/authorize.
    let form = [("response_type", "code"), ("redirect_uri", REDIRECT), ("scope", "openid")];
    let r = push(&app, &client, &form).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let (uri, verifier) = pushed(&app, &client).await;
    let callback = authorize_as(&app, &browser(), &par_url(&app, id, &uri), "ada@example.com", "allow").await;
    let tokens = redeem(&app, &client, &callback, &verifier).await;
    assert!(tokens["access_token"].is_string());
}

async fn a_request_uri_is_single_use(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let (uri, verifier) = pushed(&app, &client).await;
    let url = par_url(&app, id, &uri);
    let callback = authorize_as(&app, &browser(), &url, "ada@example.com", "allow").await;
    // §4 ("SHOULD treat request_uri values as one-time use"): a second use, even by the same browser, is refused and shown, never
    // redirected.
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expired or was already used"));
    redeem(&app, &client, &callback, &verifier).await;
}

async fn an_expired_request_uri_is_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let (uri, _) = pushed(&app, &client).await;
    // §2.2 expires_in = 60.
    app.clock.advance(61);
    let r = browser().get(par_url(&app, id, &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("invalid_request_uri"));
    // A garbled request_uri is the same error.
    let r = browser().get(par_url(&app, id, "urn:example:nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn another_clients_request_uri_is_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let other = create_client(&app, &["--redirect-uri", REDIRECT, "--scope", "openid", "--scope", "profile"]).await;
    let (uri, _) = pushed(&app, &client).await;
    // §4: the request_uri is bound to the client that pushed it.
    let r = browser().get(par_url(&app, other["client_id"].as_str().unwrap(), &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Without a client_id at all: refused too (RFC 9101 §5: client_id is REQUIRED).
    let no_id = app.url(&format!(
        "/oauth2/authorize?request_uri={}",
        url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    ));
    assert_eq!(browser().get(no_id).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    // Left untouched for its own client: the user is sent to sign in.
    let r = browser().get(par_url(&app, client["client_id"].as_str().unwrap(), &uri)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login?"), "{}", location(&r));
}

async fn bad_pushes_are_refused_at_the_push(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let (_, challenge) = pkce();
    let base = request_params(&challenge);
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> =
            base.iter().filter(|(k, _)| *k != name).map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        p.push((name.to_owned(), value.to_owned()));
        p
    };
    // §2.3: errors as at the token endpoint (RFC 6749 §5.2), JSON, never a redirect.
    for (form, error) in [
        (with("redirect_uri", "https://evil.test/cb"), "invalid_request"),
        (with("scope", "openid admin:everything"), "invalid_scope"),
        (with("response_type", "token"), "unsupported_response_type"),
        // §2.1: request_uri MUST NOT be pushed.
        (with("request_uri", "urn:ietf:params:oauth:request_uri:abc"), "invalid_request"),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = push(&app, &client, &form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], error, "{form:?}");
    }
    let form: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Wrong secret: 401 invalid_client (§2.3, RFC 6749 §5.2).
    let id = client["client_id"].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(app.url("/oauth2/par"))
        .basic_auth(id, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // A confidential client that only names itself is not authenticated.
    let mut named = form.clone();
    named.push(("client_id", id));
    let r = reqwest::Client::new().post(app.url("/oauth2/par")).form(&named).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A client_id in the body that is not the authenticated client.
    let mut mismatched = form.clone();
    mismatched.push(("client_id", "someone-else"));
    let r = push(&app, &client, &mismatched).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // GET is not the push.
    let r = reqwest::Client::new().get(app.url("/oauth2/par")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// A plain request is refused with `invalid_request` at the registered redirect URI (§4: "the
/// authorization server will refuse, using the invalid_request error code").
async fn assert_plain_refused(app: &TestApp, client_id: &str) {
    let (_, challenge) = pkce();
    let r = browser().get(authorize_url(app, client_id, Some(&challenge), &[])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(query_of(&to)["error"], "invalid_request");
}

async fn par_required_for_one_client(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--require-par"]).await;
    assert_eq!(client["require_pushed_authorization_requests"], true);
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert_plain_refused(&app, &id).await;
    // Pushed: the user signs in and consents first, and the returns to the (parked) pushed
    // request still count as pushed.
    let (uri, verifier) = pushed(&app, &client).await;
    let callback = authorize_as(&app, &browser(), &par_url(&app, &id, &uri), "ada@example.com", "allow").await;
    redeem(&app, &client, &callback, &verifier).await;
    // Other clients are not affected.
    let free = crate::oauth::web_client(&app, &[]).await;
    let (_, challenge) = pkce();
    let r = browser()
        .get(authorize_url(&app, free["client_id"].as_str().unwrap(), Some(&challenge), &[]))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login?"), "{}", location(&r));
    // Switched off (CLI), plain requests work again.
    let out = app.cli(&["clients", "update", &id, "--require-par", "false", "--json"], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["require_pushed_authorization_requests"], false);
    // Another process's change reaches the server's client cache within CLIENT_CACHE_TTL.
    app.clock.advance(gatehouse_core::oauth::CLIENT_CACHE_TTL);
    let (_, challenge) = pkce();
    let r = browser().get(authorize_url(&app, &id, Some(&challenge), &[])).send().await.unwrap();
    assert!(location(&r).starts_with("/login?"), "{}", location(&r));
    // A machine client cannot require PAR (it makes no authorization requests).
    let out = app
        .cli(
            &["clients", "create", "--name", "M", "--grant-type", "client_credentials", "--require-par", "--json"],
            None,
        )
        .await;
    assert!(!out.status.success());
}

async fn par_required_globally(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.oauth.require_pushed_authorization_requests = true).await else {
        return;
    };
    let client = setup(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    assert_plain_refused(&app, &id).await;
    let meta: Value =
        app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    let (uri, verifier) = pushed(&app, &client).await;
    let callback = authorize_as(&app, &browser(), &par_url(&app, &id, &uri), "ada@example.com", "allow").await;
    redeem(&app, &client, &callback, &verifier).await;
}

async fn discovery_advertises_par(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let meta: Value = app.client.get(app.url(path)).send().await.unwrap().json().await.unwrap();
        // RFC 9126 §5.
        assert_eq!(meta["pushed_authorization_request_endpoint"], app.url("/oauth2/par"));
        assert_eq!(meta["require_pushed_authorization_requests"], false);
    }
}

async fn console_client_form_sets_require_par(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let (status, form) = get_page(&app, &admin, "/admin/clients/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"<label><input type="checkbox" name="require_par">"#), "a labelled checkbox");
    let csrf = csrf_of(&app, &admin, "/admin/clients/new").await;
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("name", "PAR app"),
        ("auth_method", "none"),
        ("grant_authorization_code", "on"),
        ("redirect_uris", REDIRECT),
        ("scopes", "openid"),
        ("require_par", "on"),
    ];
    let r = post_form(&app, &admin, "/admin/clients/new", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    let (_, page) = get_page(&app, &admin, &to).await;
    assert!(page.contains(r#"name="require_par" checked"#), "the edit form shows it set");
    let out = app.cli(&["clients", "list", "--json"], None).await;
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let made = all.as_array().unwrap().iter().find(|c| c["name"] == "PAR app").unwrap();
    assert_eq!(made["require_pushed_authorization_requests"], true);
}

async fn admin_api_sets_require_par(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("root@example.com", crate::helpers::PASSWORD).await;
    crate::admin::cli_ok(&app, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    let admin = crate::admin::token(&app, "root@example.com").await;
    let post = reqwest::Method::POST;
    let body = serde_json::json!({ "name": "API-made", "redirect_uris": [REDIRECT], "require_pushed_authorization_requests": true });
    let r = crate::admin::call(&app, Some(&admin), post.clone(), "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["require_pushed_authorization_requests"], true);
    let id = made["client_id"].as_str().unwrap();
    // A machine client cannot require PAR: 422, nothing created.
    let body = serde_json::json!({ "name": "M", "grant_types": ["client_credentials"], "require_pushed_authorization_requests": true });
    let r = crate::admin::call(&app, Some(&admin), post, "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // PATCH switches it off, and the audit event names the setting that changed.
    let off = serde_json::json!({ "require_pushed_authorization_requests": false });
    let path = format!("/admin/v1/clients/{id}");
    let r = crate::admin::call(&app, Some(&admin), reqwest::Method::PATCH, &path, Some(&off)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["require_pushed_authorization_requests"], false);
    let events = app.audit_events().await;
    let updated = events.iter().find(|e| e.0 == "client.updated").expect("client.updated");
    assert!(updated.3.contains("require_pushed_authorization_requests"), "{updated:?}");
    let openapi = crate::admin::get_json(&app, &admin, "/admin/v1/openapi.json").await.to_string();
    assert!(openapi.contains("require_pushed_authorization_requests"));
}
