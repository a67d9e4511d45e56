//! The client lifecycle through the admin API and `gatehouse clients`: a change checked by the
//! registration's rules (nothing changes when refused), secret rotation with an overlap window
//! on the server's clock, JWK Set replacement, disabling (no tokens, introspection inactive,
//! refresh refused; enabling restores) and deletion (refresh refused, consent gone).

use gatehouse_core::keys::Algorithm;
use gatehouse_core::oauth::CLIENT_CACHE_TTL;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, get_json, token, user_with_token};
use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, create_client, pkce, query_of, token_request, web_client};
use crate::on_both_backends;
use crate::private_key_jwt::{claims, client_credentials, jwks_of, key_client, new_key, sign};

on_both_backends!(
    patch_is_checked_like_a_registration,
    rotated_secrets_overlap_then_die,
    jwks_replacement,
    disabled_clients_get_nothing_until_enabled,
    deleting_a_client_ends_its_grants,
    cli_updates_rotates_disables_and_enables,
    a_scope_taken_off_a_client_is_not_issued_again,
    a_disabled_client_is_denied_as_a_decision_subject,
);

/// An admin's first-party token.
async fn admin(app: &TestApp) -> String {
    user_with_token(app, "root@example.com").await;
    cli_ok(app, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    token(app, "root@example.com").await
}

async fn send(app: &TestApp, admin: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let r = call(app, Some(admin), method, path, body.as_ref()).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn create(app: &TestApp, admin: &str, body: Value) -> Value {
    let (status, client) = send(app, admin, Method::POST, "/admin/v1/clients", Some(body)).await;
    assert_eq!(status, 201, "{client}");
    client
}

fn machine() -> Value {
    json!({ "name": "Machine", "grant_types": ["client_credentials"], "scopes": ["api:read"] })
}

pub(crate) async fn cc_status(app: &TestApp, id: &str, secret: &str) -> u16 {
    let client = json!({ "client_id": id, "client_secret": secret });
    token_request(app, &client, &[("grant_type", "client_credentials")]).await.status().as_u16()
}

/// A user's tokens from `client` (a web client with refresh), and the browser that consented.
async fn user_tokens(app: &TestApp, client: &Value) -> (Value, reqwest::Client) {
    app.register("ada@example.com", PASSWORD).await;
    let user = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let r = token_request(app, client, &form).await;
    assert_eq!(r.status(), 200);
    (r.json().await.unwrap(), user)
}

/// Whether `token` is active according to a resource server allowed to introspect any token.
async fn active(app: &TestApp, introspector: &Value, token: &str) -> bool {
    let r = crate::oauth::client_post(app, "/oauth2/introspect", introspector, &[("token", token)]).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["active"].as_bool().unwrap()
}

async fn refresh(app: &TestApp, client: &Value, refresh_token: &str) -> reqwest::Response {
    token_request(app, client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

async fn patch_is_checked_like_a_registration(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let web = json!({ "name": "Web", "redirect_uris": [REDIRECT], "scopes": ["openid"] });
    let client = create(&app, &admin, web).await;
    let path = format!("/admin/v1/clients/{}", client["client_id"].as_str().unwrap());
    let before = get_json(&app, &admin, &path).await;

    // Refused by the registration's rules: nothing changes, not even the name sent along.
    for (body, needle) in [
        (json!({ "name": "X", "redirect_uris": ["http://app.example.com/cb"] }), "redirect URI"),
        (json!({ "redirect_uris": ["https://app.example.com/cb#frag"] }), "redirect URI"),
        (json!({ "redirect_uris": [] }), "at least one redirect URI"),
        (json!({ "grant_types": ["implicit"] }), "grant type"),
        (json!({ "cors_origins": ["https://*.example.com"] }), "CORS origin"),
        (json!({ "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"] }), "public clients"),
        (json!({ "token_endpoint_auth_method": "private_key_jwt" }), "JWK Set"),
        (json!({ "access_token_lifetime": 5 }), "access_token_lifetime"),
        (json!({ "name": " " }), "name"),
    ] {
        let (status, err) = send(&app, &admin, Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert!(err["error_description"].as_str().unwrap().contains(needle), "{body}: {err}");
    }
    let (status, _) = send(&app, &admin, Method::PATCH, &path, Some(json!({ "secret": "x" }))).await;
    assert!((400..500).contains(&status), "unknown fields are refused: {status}");
    assert_eq!(get_json(&app, &admin, &path).await, before, "refused changes change nothing");
    let (status, _) = send(&app, &admin, Method::PATCH, "/admin/v1/clients/nope", Some(json!({ "name": "x" }))).await;
    assert_eq!(status, 404);

    // A good change: only what was sent changes, and it is audited (field names, no values).
    let body =
        json!({ "name": "Renamed", "redirect_uris": ["https://app.example.com/new"], "access_token_lifetime": 600 });
    let (status, after) = send(&app, &admin, Method::PATCH, &path, Some(body)).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!((after["name"].as_str(), after["access_token_lifetime"].as_i64()), (Some("Renamed"), Some(600)));
    assert_eq!(after["redirect_uris"], json!(["https://app.example.com/new"]));
    assert_eq!((&after["scopes"], &after["created_at"]), (&before["scopes"], &before["created_at"]));
    assert!(after.get("client_secret").is_none(), "no new secret: the client keeps its own");
    let (_, after) = send(&app, &admin, Method::PATCH, &path, Some(json!({ "access_token_lifetime": null }))).await;
    assert!(after["access_token_lifetime"].is_null(), "null: back to the server default");
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=client.updated").await;
    assert_eq!(audit["items"][1]["details"]["fields"], json!(["name", "redirect_uris", "access_token_lifetime"]));

    // From public to client_secret_basic: a secret is issued in that answer, and works.
    let spa = json!({ "name": "SPA", "public": true, "redirect_uris": [REDIRECT] });
    let spa = create(&app, &admin, spa).await;
    assert!(spa.get("client_secret").is_none());
    let spa_path = format!("/admin/v1/clients/{}", spa["client_id"].as_str().unwrap());
    let body = json!({ "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"], "redirect_uris": [] });
    let (status, changed) = send(&app, &admin, Method::PATCH, &spa_path, Some(body)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["public"].as_bool(), changed["token_endpoint_auth_method"].as_str()),
        (Some(false), Some("client_secret_basic"))
    );
    let secret = changed["client_secret"].as_str().expect("a secret, once");
    assert_eq!(cc_status(&app, spa["client_id"].as_str().unwrap(), secret).await, 200);
    assert!(get_json(&app, &admin, &spa_path).await.get("client_secret").is_none(), "shown once");

    // Every lifecycle operation is in the OpenAPI document.
    let doc: Value = browser().get(app.url("/admin/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (p, m) in [
        ("/admin/v1/clients/{id}", "patch"),
        ("/admin/v1/clients/{id}/secret", "post"),
        ("/admin/v1/clients/{id}/jwks", "put"),
        ("/admin/v1/clients/{id}/disable", "post"),
        ("/admin/v1/clients/{id}/enable", "post"),
    ] {
        assert!(doc["paths"][p][m].is_object(), "{m} {p} documented");
    }
    let patch = &doc["paths"]["/admin/v1/clients/{id}"]["patch"]["responses"];
    assert!(["200", "404", "409", "422"].iter().all(|s| patch[s].is_object()), "{patch}");
}

async fn rotated_secrets_overlap_then_die(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let client = create(&app, &admin, machine()).await;
    let id = client["client_id"].as_str().unwrap();
    let first = client["client_secret"].as_str().unwrap();
    let path = format!("/admin/v1/clients/{id}/secret");

    let now = app.clock_now();
    let (status, rotated) = send(&app, &admin, Method::POST, &path, Some(json!({ "overlap_seconds": 3600 }))).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["client_secret"].as_str().unwrap();
    assert_ne!(first, second);
    let until = rotated["previous_secret_expires_at"].as_i64().unwrap();
    assert!((now + 3600..=now + 3605).contains(&until), "{until} vs {now}");
    let shown = get_json(&app, &admin, &format!("/admin/v1/clients/{id}")).await;
    assert!(shown.get("client_secret").is_none());
    assert_eq!(shown["previous_secret_expires_at"], until);
    assert!(shown["secret_rotated_at"].as_i64().unwrap() >= now);

    // Inside the window both work; after it only the new one (the server's clock decides).
    assert_eq!((cc_status(&app, id, first).await, cc_status(&app, id, second).await), (200, 200));
    app.clock.advance(until - app.clock_now() - 1);
    assert_eq!(cc_status(&app, id, first).await, 200, "one second before the end");
    app.clock.advance(2);
    assert_eq!((cc_status(&app, id, first).await, cc_status(&app, id, second).await), (401, 200));

    // Overlap 0: the old secret dies at once. Default: one day.
    let admin = token(&app, "root@example.com").await; // the first one expired with the hour
    let (_, third) = send(&app, &admin, Method::POST, &path, Some(json!({ "overlap_seconds": 0 }))).await;
    assert!(third["previous_secret_expires_at"].is_null(), "{third}");
    let third = third["client_secret"].as_str().unwrap().to_owned();
    assert_eq!((cc_status(&app, id, second).await, cc_status(&app, id, &third).await), (401, 200));
    let now = app.clock_now();
    let (_, fourth) = send(&app, &admin, Method::POST, &path, Some(json!({}))).await;
    let until = fourth["previous_secret_expires_at"].as_i64().unwrap();
    assert!((now + 86_400..=now + 86_405).contains(&until));

    // Out of range, no secret to rotate, no such client.
    let (status, err) = send(&app, &admin, Method::POST, &path, Some(json!({ "overlap_seconds": 31 * 86_400 }))).await;
    assert_eq!(status, 422, "{err}");
    let (status, _) = send(&app, &admin, Method::POST, &path, Some(json!({ "overlap_seconds": -1 }))).await;
    assert_eq!(status, 422);
    let spa = create(&app, &admin, json!({ "name": "SPA", "public": true, "redirect_uris": [REDIRECT] })).await;
    let spa_path = format!("/admin/v1/clients/{}/secret", spa["client_id"].as_str().unwrap());
    let (status, err) = send(&app, &admin, Method::POST, &spa_path, Some(json!({}))).await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error_description"].as_str().unwrap().contains("secret"));
    let (status, _) = send(&app, &admin, Method::POST, "/admin/v1/clients/nope/secret", Some(json!({}))).await;
    assert_eq!(status, 404);

    // Audited, and no secret in the trail.
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=client.secret_rotated").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 3, "{audit}");
    let text = audit.to_string();
    for s in [first, second, third.as_str()] {
        assert!(!text.contains(s));
    }
}

async fn jwks_replacement(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let (old, new) = (new_key(Algorithm::ES256), new_key(Algorithm::EdDSA));
    let client = key_client(&app, &[&old], &["--grant-type", "client_credentials"]).await;
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(client_credentials(&app, &sign(&old, &claims(&app, id))).await.status(), 200);
    let path = format!("/admin/v1/clients/{id}/jwks");

    // A private key is refused as at registration; nothing changes.
    let mut private = new.public_jwk();
    private["d"] = json!("AAAA");
    let (status, err) = send(&app, &admin, Method::PUT, &path, Some(json!({ "keys": [private] }))).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(client_credentials(&app, &sign(&old, &claims(&app, id))).await.status(), 200);

    let (status, changed) = send(&app, &admin, Method::PUT, &path, Some(jwks_of(&[&new]))).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["jwks"], jwks_of(&[&new]));
    assert_eq!(client_credentials(&app, &sign(&old, &claims(&app, id))).await.status(), 401, "old key gone");
    assert_eq!(client_credentials(&app, &sign(&new, &claims(&app, id))).await.status(), 200);
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=client.jwks_replaced").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);

    // Only for private_key_jwt clients.
    let other = create(&app, &admin, machine()).await;
    let other_path = format!("/admin/v1/clients/{}/jwks", other["client_id"].as_str().unwrap());
    let (status, err) = send(&app, &admin, Method::PUT, &other_path, Some(jwks_of(&[&new]))).await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error_description"].as_str().unwrap().contains("private_key_jwt"));
}

async fn disabled_clients_get_nothing_until_enabled(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let client = web_client(&app, &["--grant-type", "client_credentials"]).await;
    let id = client["client_id"].as_str().unwrap();
    let introspector = create_client(&app, &["--grant-type", "client_credentials", "--scope", "introspect"]).await;
    let (tokens, _) = user_tokens(&app, &client).await;
    let (access, refresh_token) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    assert!(active(&app, &introspector, access).await && active(&app, &introspector, refresh_token).await);
    let secret = client["client_secret"].as_str().unwrap();
    let cc = token_request(&app, &client, &[("grant_type", "client_credentials")]).await;
    let cc_token = cc.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    let (status, shown) = send(&app, &admin, Method::POST, &format!("/admin/v1/clients/{id}/disable"), None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["disabled"], true);
    assert!(shown["disabled_at"].as_i64().is_some());
    // RFC 6749 §5.2: invalid_client for every grant.
    for r in [
        token_request(&app, &client, &[("grant_type", "client_credentials")]).await,
        refresh(&app, &client, refresh_token).await,
    ] {
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
    // The tokens it holds are inactive, refused by UserInfo.
    for t in [access, refresh_token, cc_token.as_str()] {
        assert!(!active(&app, &introspector, t).await, "{t}");
    }
    let r = browser().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The authorization endpoint shows an error page; it never redirects.
    let (_, challenge) = pkce();
    let r = browser().get(authorize_url(&app, id, Some(&challenge), &[])).send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("disabled"));

    // Enabling restores all of it.
    let (status, shown) = send(&app, &admin, Method::POST, &format!("/admin/v1/clients/{id}/enable"), None).await;
    assert_eq!((status, &shown["disabled"]), (200, &json!(false)));
    assert!(active(&app, &introspector, access).await);
    assert_eq!(cc_status(&app, id, secret).await, 200);
    assert_eq!(refresh(&app, &client, refresh_token).await.status(), 200);
    let types: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    assert!(types.iter().any(|t| t == "client.disabled") && types.iter().any(|t| t == "client.enabled"));

    // An admin client cannot disable itself.
    let admin_client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "gatehouse:admin"]).await;
    let r = token_request(&app, &admin_client, &[("grant_type", "client_credentials")]).await;
    let own = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let own_path = format!("/admin/v1/clients/{}/disable", admin_client["client_id"].as_str().unwrap());
    assert_eq!(send(&app, &own, Method::POST, &own_path, None).await.0, 403);
}

async fn deleting_a_client_ends_its_grants(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let client = web_client(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let introspector = create_client(&app, &["--grant-type", "client_credentials", "--scope", "introspect"]).await;
    let (tokens, user) = user_tokens(&app, &client).await;
    let (access, refresh_token) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let consent_action = format!("/account/consents/{id}/revoke");
    assert!(user.get(app.url("/account")).send().await.unwrap().text().await.unwrap().contains(&consent_action));

    let (status, _) = send(&app, &admin, Method::DELETE, &format!("/admin/v1/clients/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(refresh(&app, &client, refresh_token).await.status(), 401);
    assert!(!active(&app, &introspector, access).await && !active(&app, &introspector, refresh_token).await);
    let page = user.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(&consent_action), "the consent went with the client");
    assert!(app.audit_events().await.iter().any(|e| e.0 == "client.deleted"));
    let (status, _) = send(&app, &admin, Method::DELETE, &format!("/admin/v1/clients/{id}"), None).await;
    assert_eq!(status, 404);
}

async fn cli_updates_rotates_disables_and_enables(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = web_client(&app, &["--grant-type", "client_credentials"]).await;
    let id = client["client_id"].as_str().unwrap();
    let show =
        || async { serde_json::from_str::<Value>(&cli_ok(&app, &["clients", "show", id, "--json"]).await).unwrap() };
    let before = show().await;

    // A refused change fails and changes nothing.
    let out = app.cli(&["clients", "update", id, "--name", "X", "--redirect-uri", "http://evil.test/cb"], None).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("redirect URI"));
    assert_eq!(show().await, before);

    let out = cli_ok(
        &app,
        &[
            "clients",
            "update",
            id,
            "--name",
            "CLI app",
            "--redirect-uri",
            "https://app.example.com/a",
            "--redirect-uri",
            "https://app.example.com/b",
            "--require-mfa",
            "true",
            "--json",
        ],
    )
    .await;
    let changed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(changed["name"], "CLI app");
    assert_eq!(changed["redirect_uris"], json!(["https://app.example.com/a", "https://app.example.com/b"]));
    assert_eq!((changed["require_mfa"].as_bool(), &changed["scopes"]), (Some(true), &before["scopes"]));

    let out = cli_ok(&app, &["clients", "rotate-secret", id, "--overlap", "1h", "--json"]).await;
    let rotated: Value = serde_json::from_str(&out).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    let until = rotated["previous_secret_expires_at"].as_i64().unwrap();
    assert!((app.clock_now() + 3590..=app.clock_now() + 3610).contains(&until), "{rotated}");
    // The server sees a change made by another process once its cache entry expires.
    app.clock.advance(CLIENT_CACHE_TTL);
    assert_eq!(cc_status(&app, id, new_secret).await, 200);
    assert_eq!(cc_status(&app, id, client["client_secret"].as_str().unwrap()).await, 200, "inside the overlap");
    let out = app.cli(&["clients", "rotate-secret", id, "--overlap", "40d"], None).await;
    assert!(!out.status.success(), "at most 30 days");

    let disabled: Value = serde_json::from_str(&cli_ok(&app, &["clients", "disable", id, "--json"]).await).unwrap();
    assert_eq!(disabled["disabled"], true);
    app.clock.advance(CLIENT_CACHE_TTL);
    assert_eq!(cc_status(&app, id, new_secret).await, 401);
    assert!(cli_ok(&app, &["clients", "list"]).await.contains("(disabled)"));
    let enabled: Value = serde_json::from_str(&cli_ok(&app, &["clients", "enable", id, "--json"]).await).unwrap();
    assert_eq!(enabled["disabled"], false);
    app.clock.advance(CLIENT_CACHE_TTL);
    assert_eq!(cc_status(&app, id, new_secret).await, 200);
    let types: Vec<(String, Option<String>)> = app.audit_events().await.into_iter().map(|e| (e.0, e.2)).collect();
    for t in ["client.updated", "client.secret_rotated", "client.disabled", "client.enabled"] {
        assert!(types.iter().any(|(ty, _)| ty == t), "{t} audited");
    }
}

/// A scope an admin takes off a client is not issued again by an older grant: a refresh
/// narrows to what the client is registered for now (RFC 6749 §6 lets the scope only narrow),
/// and a client-credentials token that still says `gatehouse:admin` stops opening the admin API.
async fn a_scope_taken_off_a_client_is_not_issued_again(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let client = web_client(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let (tokens, _) = user_tokens(&app, &client).await;
    assert!(tokens["scope"].as_str().unwrap().contains("email"), "{tokens}");
    let narrowed = json!({ "scopes": ["openid", "offline_access"] });
    let (status, after) = send(&app, &admin, Method::PATCH, &format!("/admin/v1/clients/{id}"), Some(narrowed)).await;
    assert_eq!(status, 200, "{after}");
    let r = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "openid offline_access", "{body}");

    let (machine_id, machine_token) = crate::admin::client_token(&app, &["gatehouse:admin"]).await;
    assert_eq!(call(&app, Some(&machine_token), Method::GET, "/admin/v1/users", None).await.status(), 200);
    let path = format!("/admin/v1/clients/{machine_id}");
    let (status, _) = send(&app, &admin, Method::PATCH, &path, Some(json!({ "scopes": ["api:read"] }))).await;
    assert_eq!(status, 200);
    let r = call(&app, Some(&machine_token), Method::GET, "/admin/v1/users", None).await;
    assert_eq!(r.status(), 403, "the token's gatehouse:admin no longer counts");
}

/// AuthZEN with a client as the subject: a disabled client is denied like a disabled account,
/// whatever roles it holds; enabled again, its roles count again.
async fn a_disabled_client_is_denied_as_a_decision_subject(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let (_, evaluator) = crate::admin::client_token(&app, &["gatehouse:evaluate"]).await;
    let target = create(&app, &admin, machine()).await;
    let tid = target["client_id"].as_str().unwrap();
    cli_ok(&app, &["roles", "create", "reader"]).await;
    cli_ok(&app, &["permissions", "create", "document:read"]).await;
    cli_ok(&app, &["permissions", "grant", "document:read", "--role", "reader"]).await;
    cli_ok(&app, &["roles", "grant", "reader", "--client", tid]).await;
    let body = json!({ "subject": { "type": "client", "id": tid }, "action": { "name": "read" },
                       "resource": { "type": "document", "id": "1" } });
    let ask = || async {
        let r = call(&app, Some(&evaluator), Method::POST, "/access/v1/evaluation", Some(&body)).await;
        r.json::<Value>().await.unwrap()["decision"].clone()
    };
    assert_eq!(ask().await, json!(true));
    let (status, _) = send(&app, &admin, Method::POST, &format!("/admin/v1/clients/{tid}/disable"), None).await;
    assert_eq!(status, 200);
    assert_eq!(ask().await, json!(false), "disabled: denied");
    let (status, _) = send(&app, &admin, Method::POST, &format!("/admin/v1/clients/{tid}/enable"), None).await;
    assert_eq!(status, 200);
    assert_eq!(ask().await, json!(true), "enabled again");
}
