//! Resource servers and audiences (RFC 8707) end to end: registered resource servers, the
//! `resource` parameter on the authorization request (§2.1, also pushed, RFC 9126) and on the
//! token request (§2.2) for the code, refresh and client-credentials grants, `invalid_target`
//! (§2), what the token carries (`aud`, scopes, `permissions`, lifetime, algorithm),
//! introspection, Gatehouse's own APIs refusing tokens for other audiences, a resource server's
//! `gatehouse-guard` refusing another resource's token, and the admin API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, client_token};
use crate::claims::claims_of;
use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, client_post, pkce, query_of, token_request, web_client};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    rfc8707_code_flow_binds_the_token_to_the_chosen_resource,
    rfc8707_refresh_narrows_to_a_granted_resource_only,
    rfc8707_s2_invalid_targets_are_refused,
    rfc8707_client_credentials_with_a_resource,
    rfc8707_resource_pushed_with_par,
    admin_api_manages_resource_servers,
    authlib_sends_resource_indicators,
);

const API_A: &str = "https://api-a.example.com/";
const API_B: &str = "https://api-b.example.com/v1";
const API_C: &str = "urn:example:api-c";

/// ada holds `editor` (posts:read, posts:write); resource A accepts `read` and `permissions`
/// (120 s, EdDSA), B accepts `write` without permissions, C accepts `read`; a web client may
/// ask for read, write, permissions.
async fn fixture(app: &TestApp) -> Value {
    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), 202);
    cli_ok(app, &["roles", "create", "editor"]).await;
    for p in ["posts:read", "posts:write"] {
        cli_ok(app, &["permissions", "create", p]).await;
        cli_ok(app, &["permissions", "grant", p, "--role", "editor"]).await;
    }
    cli_ok(app, &["roles", "grant", "editor", "--user", "ada@example.com"]).await;
    let a = cli_ok(
        app,
        &[
            "resources",
            "add",
            API_A,
            "--name",
            "API A",
            "--scope",
            "read",
            "--allow-permissions",
            "--access-token-lifetime",
            "120",
            "--signing-alg",
            "EdDSA",
            "--json",
        ],
    )
    .await;
    let a: Value = serde_json::from_str(&a).unwrap();
    assert_eq!((a["identifier"].as_str(), a["signing_alg"].as_str()), (Some(API_A), Some("EdDSA")));
    cli_ok(app, &["resources", "add", API_B, "--name", "API B", "--scope", "write"]).await;
    cli_ok(app, &["resources", "add", API_C, "--name", "API C", "--scope", "read"]).await;
    let listed = cli_ok(app, &["resources", "list", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap().as_array().map(Vec::len), Some(3));
    web_client(app, &["--scope", "read", "--scope", "write", "--scope", "permissions"]).await
}

const SCOPE: &str = "openid offline_access read write permissions";

/// The authorization request with `resources`, answered by ada: the code (or the redirect's
/// error parameters) and the PKCE verifier.
async fn authorize(
    app: &TestApp,
    client: &Value,
    resources: &[&str],
) -> (std::collections::HashMap<String, String>, String) {
    let (verifier, challenge) = pkce();
    let mut extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
    extra.push(("prompt", "consent"));
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &extra)
        .replace("scope=openid+profile+email+offline_access", &format!("scope={}", SCOPE.replace(' ', "+")));
    let callback = authorize_as(app, &browser(), &url, "ada@example.com", "allow").await;
    (query_of(&callback), verifier)
}

async fn redeem(
    app: &TestApp,
    client: &Value,
    code: &str,
    verifier: &str,
    resource: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    form.extend(resource.map(|r| ("resource", r)));
    token_request(app, client, &form).await
}

async fn error_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

fn header_of(token: &str) -> Value {
    decode_part(token.split('.').next().unwrap())
}

async fn rfc8707_code_flow_binds_the_token_to_the_chosen_resource(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = fixture(&app).await;
    let (q, verifier) = authorize(&app, &client, &[API_A, API_B]).await;
    let r = redeem(&app, &client, &q["code"], &verifier, Some(API_A)).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    // RFC 8707 §2.2: the token is audience-restricted to exactly the resource asked for.
    assert_eq!(claims["aud"], json!(API_A));
    // Only the scopes A accepts; `permissions` because A allows it (the user's permissions).
    assert_eq!(claims["scope"], json!("read permissions"));
    assert_eq!(tokens["scope"], json!("read permissions"), "RFC 6749 §5.1: the access token's scope");
    assert_eq!(claims["permissions"], json!(["posts:read", "posts:write"]));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120, "A's lifetime");
    assert_eq!(tokens["expires_in"], json!(120));
    assert_eq!(header_of(access)["alg"], json!("EdDSA"), "A's algorithm");
    assert!(
        tokens["id_token"].is_string() && tokens["refresh_token"].is_string(),
        "the grant keeps openid and offline_access"
    );

    // Introspection (RFC 7662 §2.2) returns the audience.
    let r = client_post(&app, "/oauth2/introspect", &client, &[("token", access)]).await;
    let intro: Value = r.json().await.unwrap();
    assert_eq!((intro["active"].clone(), intro["aud"].clone()), (json!(true), json!([API_A])), "{intro}");

    // A token for another audience is not a token for Gatehouse's own APIs.
    for path in ["/api/v1/me", "/oauth2/userinfo", "/admin/v1/users"] {
        let r = call(&app, Some(access), Method::GET, path, None).await;
        assert_eq!(r.status(), 401, "{path} accepted a token for {API_A}");
        let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert!(challenge.unwrap_or_default().contains("invalid_token"), "{path}");
    }

    // Revoking it (RFC 7009) works although its audience is not Gatehouse's; then inactive.
    assert_eq!(client_post(&app, "/oauth2/revoke", &client, &[("token", access)]).await.status(), 200);
    let intro: Value =
        client_post(&app, "/oauth2/introspect", &client, &[("token", access)]).await.json().await.unwrap();
    assert_eq!(intro, json!({ "active": false }));

    // The resource server's guard: pinned to B, A's token is refused; pinned to A, accepted.
    let (q, verifier) = authorize(&app, &client, &[API_A, API_B]).await;
    let r = redeem(&app, &client, &q["code"], &verifier, Some(API_A)).await;
    let access = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let jwks = crate::tokens::jwks(&app).await;
    let keys = gatehouse_guard::KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
    let iss = claims_of(&access)["iss"].as_str().unwrap().to_owned();
    let now = app.clock_now();
    let for_b = gatehouse_guard::Validation::new(iss.clone(), [API_B]);
    assert_eq!(
        gatehouse_guard::verify(&access, &keys, &for_b, now).unwrap_err(),
        gatehouse_guard::VerifyError::WrongAudience
    );
    let for_a = gatehouse_guard::Validation::new(iss.clone(), [API_A]);
    assert_eq!(gatehouse_guard::verify(&access, &keys, &for_a, now).unwrap().aud, vec![API_A.to_owned()]);

    // Tokens without `resource` keep today's audience: the issuer (the default `aud`).
    let (q, verifier) = authorize(&app, &client, &[]).await;
    let r = redeem(&app, &client, &q["code"], &verifier, None).await;
    let plain = claims_of(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!(plain["aud"], json!(iss));
    assert_eq!(plain["scope"], json!(SCOPE));

    // The consent page names the resources the access is for.
    let user = browser();
    let (_, challenge) = pkce();
    let id = client["client_id"].as_str().unwrap();
    let url = authorize_url(&app, id, Some(&challenge), &[("resource", API_B), ("prompt", "consent")]);
    authorize_as(&app, &user, &url, "ada@example.com", "allow").await;
    let page = user.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/oauth2/consent") && page.contains(&format!("<code>{API_B}</code>")), "{page}");
}

async fn rfc8707_refresh_narrows_to_a_granted_resource_only(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = fixture(&app).await;
    let (q, verifier) = authorize(&app, &client, &[API_A, API_B]).await;
    // Two resources granted and none chosen: RFC 8707 §2 "missing".
    assert_eq!(error_of(redeem(&app, &client, &q["code"], &verifier, None).await).await, "invalid_target");

    let (q, verifier) = authorize(&app, &client, &[API_A, API_B]).await;
    let r = redeem(&app, &client, &q["code"], &verifier, Some(API_B)).await;
    let tokens: Value = r.json().await.unwrap();
    let b_claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!((b_claims["aud"].clone(), b_claims["scope"].clone()), (json!(API_B), json!("write")));
    assert!(b_claims.get("permissions").is_none(), "B does not allow permissions: {b_claims}");
    assert_eq!(header_of(tokens["access_token"].as_str().unwrap())["alg"], json!("ES256"));
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // A refresh may choose the other granted resource...
    let r = token_request(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("resource", API_A)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let a_claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!((a_claims["aud"].clone(), a_claims["scope"].clone()), (json!(API_A), json!("read permissions")));
    refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // ... never one that was not granted (C is registered; D is not), and the refused request
    // does not spend the refresh token.
    for other in [API_C, "https://api-d.example.com/"] {
        let r = token_request(
            &app,
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("resource", other)],
        )
        .await;
        assert_eq!(error_of(r).await, "invalid_target", "{other}");
    }
    let r = token_request(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("resource", API_B)],
    )
    .await;
    assert_eq!(r.status(), 200);

    // A grant without resources may not gain one on refresh.
    let (q, verifier) = authorize(&app, &client, &[]).await;
    let tokens: Value = redeem(&app, &client, &q["code"], &verifier, None).await.json().await.unwrap();
    let r = token_request(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("resource", API_A),
        ],
    )
    .await;
    assert_eq!(error_of(r).await, "invalid_target");
}

async fn rfc8707_s2_invalid_targets_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = fixture(&app).await;
    // RFC 8707 §2: unknown, not absolute, with a fragment: `invalid_target` at the client's
    // redirect URI (RFC 6749 §4.1.2.1), no code.
    for bad in ["https://unknown.example.com/", "/relative/api", "api-a.example.com", "https://api-a.example.com/#frag"]
    {
        let (q, _) = authorize(&app, &client, &[API_A, bad]).await;
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_target"), "{bad}: {q:?}");
        assert!(!q.contains_key("code"));
    }
    // The token request: a resource the code was not requested for; two at once.
    let (q, verifier) = authorize(&app, &client, &[API_A]).await;
    let r = redeem(&app, &client, &q["code"], &verifier, Some(API_B)).await;
    assert_eq!(error_of(r).await, "invalid_target");
    let (q, verifier) = authorize(&app, &client, &[API_A]).await;
    let two = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("resource", API_A),
        ("resource", API_B),
    ];
    assert_eq!(error_of(token_request(&app, &client, &two).await).await, "invalid_target");
    // One resource granted: it is the default of the token request.
    let (q, verifier) = authorize(&app, &client, &[API_A]).await;
    let r = redeem(&app, &client, &q["code"], &verifier, None).await;
    assert_eq!(claims_of(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap())["aud"], json!(API_A));
}

async fn rfc8707_client_credentials_with_a_resource(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    cli_ok(&app, &["resources", "add", API_A, "--name", "API A", "--scope", "read", "--signing-alg", "RS256"]).await;
    let machine = crate::oauth::create_client(
        &app,
        &["--grant-type", "client_credentials", "--scope", "read", "--scope", "write"],
    )
    .await;
    let cc = |extra: &'static [(&'static str, &'static str)]| {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        form
    };
    let r = token_request(&app, &machine, &cc(&[("resource", API_A)])).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!((claims_of(access)["aud"].clone(), claims_of(access)["scope"].clone()), (json!(API_A), json!("read")));
    assert_eq!(header_of(access)["alg"], json!("RS256"));
    // Its token does not open Gatehouse's admin API even for an admin-scoped client.
    assert_eq!(call(&app, Some(access), Method::GET, "/admin/v1/users", None).await.status(), 401);
    for bad in ["https://unknown.example.com/", "relative", "https://api-a.example.com/#f"] {
        let form = vec![("grant_type", "client_credentials"), ("resource", bad)];
        assert_eq!(error_of(token_request(&app, &machine, &form).await).await, "invalid_target", "{bad}");
    }
    // Without `resource`: Gatehouse's default audience, the registered scopes.
    let r = token_request(&app, &machine, &cc(&[])).await;
    let plain = claims_of(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!(plain["aud"], plain["iss"]);
    assert_eq!(plain["scope"], json!("read write"));
}

async fn rfc8707_resource_pushed_with_par(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = fixture(&app).await;
    let (verifier, challenge) = pkce();
    let id = client["client_id"].as_str().unwrap();
    let pushed = |resource: &'static str| {
        vec![
            ("response_type", "code".to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("scope", SCOPE.to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
            ("resource", resource.to_owned()),
        ]
    };
    let r = client_post(
        &app,
        "/oauth2/par",
        &client,
        &pushed(API_B).iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(r.status(), 201);
    let request_uri = r.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&request_uri={}",
        url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
    ));
    let callback = authorize_as(&app, &browser(), &url, "ada@example.com", "allow").await;
    let code = query_of(&callback)["code"].clone();
    let r = redeem(&app, &client, &code, &verifier, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(claims_of(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap())["aud"], json!(API_B));
}

async fn admin_api_manages_resource_servers(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let base = "/admin/v1/resource-servers";
    let body = json!({ "identifier": API_A, "name": "API A", "scopes": ["read"], "access_token_lifetime": 300 });
    let r = call(&app, Some(&admin), Method::POST, base, Some(&body)).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        (created["identifier"].clone(), created["signing_alg"].clone(), created["allow_permissions"].clone()),
        (json!(API_A), json!("ES256"), json!(false))
    );
    let path = format!("{base}/{}", created["id"].as_str().unwrap());
    assert_eq!(call(&app, Some(&admin), Method::GET, &path, None).await.json::<Value>().await.unwrap(), created);
    let patch = json!({ "scopes": ["read", "write"], "allow_permissions": true, "access_token_lifetime": null });
    let r = call(&app, Some(&admin), Method::PATCH, &path, Some(&patch)).await;
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["scopes"], json!(["read", "write"]));
    assert_eq!((changed["access_token_lifetime"].clone(), changed["revision"].clone()), (Value::Null, json!(1)));
    let list: Value = call(&app, Some(&admin), Method::GET, base, None).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    // Validation: JSON error bodies, never a 5xx.
    let issuer = claims_of(&admin)["iss"].as_str().unwrap().to_owned();
    let cases = [
        (json!({ "identifier": "https://a.example/\u{0}", "name": "x" }), 400),
        (json!({ "identifier": "https://b.example/", "name": "x\u{0}" }), 400),
        (json!({ "identifier": "https://b.example/", "name": "x", "extra": 1 }), 422),
        (json!({ "identifier": "/relative", "name": "x" }), 422),
        (json!({ "identifier": "https://b.example/#frag", "name": "x" }), 422),
        (json!({ "identifier": "https://b.example/", "name": "x", "signing_alg": "HS256" }), 422),
        (json!({ "identifier": "https://b.example/", "name": "x", "access_token_lifetime": 5 }), 422),
        (json!({ "identifier": issuer, "name": "Gatehouse itself" }), 422),
        (json!({ "identifier": API_A, "name": "again" }), 409),
    ];
    for (body, status) in cases {
        let r = call(&app, Some(&admin), Method::POST, base, Some(&body)).await;
        assert_eq!(r.status(), status, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(err["error"].is_string() && err["error_description"].is_string(), "{err}");
    }
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let r = call(&app, Some(&admin), Method::GET, &format!("{base}/{bad}"), None).await;
        assert_eq!(r.status(), 404);
    }
    assert_eq!(call(&app, None, Method::GET, base, None).await.status(), 401);

    assert_eq!(call(&app, Some(&admin), Method::DELETE, &path, None).await.status(), 204);
    assert_eq!(call(&app, Some(&admin), Method::GET, &path, None).await.status(), 404);
    let events: Vec<String> = app.audit_events().await.into_iter().map(|(event, ..)| event).collect();
    for e in ["resource_server.created", "resource_server.updated", "resource_server.deleted"] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
}

/// Python authlib (`tests/interop/authlib_resource.py`) sends `resource` on the authorization,
/// code, refresh and client-credentials requests and checks `aud` with joserfc.
async fn authlib_sends_resource_indicators(b: Backend) {
    if !crate::interop::available(
        "python3",
        &["-c", "import authlib, joserfc, requests"],
        "Python authlib",
        "pip install 'authlib>=1.9,<2' requests",
    ) {
        return;
    }
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = fixture(&app).await;
    let machine = crate::oauth::create_client(&app, &["--grant-type", "client_credentials", "--scope", "read"]).await;
    let arg = |name: &str, v: &Value| format!("--{name}={}", v.as_str().unwrap());
    let out = tokio::process::Command::new("python3")
        .arg("authlib_resource.py")
        .current_dir(crate::interop::INTEROP_DIR)
        .kill_on_drop(true)
        .args([
            format!("--issuer={}", app.base),
            arg("client-id", &client["client_id"]),
            arg("client-secret", &client["client_secret"]),
            arg("machine-id", &machine["client_id"]),
            arg("machine-secret", &machine["client_secret"]),
            "--email=ada@example.com".to_owned(),
            format!("--password={PASSWORD}"),
            format!("--redirect-uri={REDIRECT}"),
            format!("--resource={API_A}"),
            format!("--resource={API_B}"),
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["code_token"], json!({ "aud": API_A, "scope": "read" }));
    assert_eq!(summary["refreshed_token"], json!({ "aud": API_B, "scope": "write" }));
    assert_eq!(summary["client_credentials_token"]["aud"], json!(API_A));
    assert_eq!(summary["unknown_resource_error"], json!("invalid_target"));
}
