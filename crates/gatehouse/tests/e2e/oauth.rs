//! The OAuth 2.0 authorization server and OpenID Connect provider end to end: the code flow for
//! confidential and public clients, client credentials, refresh, revocation, introspection,
//! userinfo, discovery and logout, and the negative cases of RFC 6749, RFC 7636 and RFC 9700.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    confidential_client_code_flow_with_consent,
    public_client_code_flow_with_pkce,
    client_credentials_grant,
    discovery_advertises_exactly_what_works,
    rp_initiated_logout,
    browser_apps_get_cors_on_oauth_endpoints_only,
    consents_are_listed_and_revocable_on_the_account_page,
    revoked_admin_tokens_stop_working_at_once,
);

pub const REDIRECT: &str = "https://app.example.com/callback";

pub async fn create_client(app: &TestApp, extra: &[&str]) -> Value {
    let mut args = vec!["clients", "create", "--name", "Example App", "--json"];
    args.extend_from_slice(extra);
    let out = app.cli(&args, None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub async fn web_client(app: &TestApp, extra: &[&str]) -> Value {
    let mut args = vec![
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid",
        "--scope",
        "profile",
        "--scope",
        "email",
        "--scope",
        "offline_access",
    ];
    args.extend_from_slice(extra);
    create_client(app, &args).await
}

pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in uuid::Uuid::new_v4().as_bytes().iter().chain(uuid::Uuid::new_v4().as_bytes()).enumerate() {
        b[i] = *x;
    }
    b
}

pub fn authorize_url(app: &TestApp, client_id: &str, challenge: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", client_id).append_pair("redirect_uri", REDIRECT);
    q.append_pair("scope", "openid profile email offline_access")
        .append_pair("state", "st&=ä")
        .append_pair("nonce", "n-0S6_WzA2Mj");
    if let Some(c) = challenge {
        q.append_pair("code_challenge", c).append_pair("code_challenge_method", "S256");
    }
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    app.url(&format!("/oauth2/authorize?{}", q.finish()))
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// Signs in through the login form when asked to, answers the consent page with `decision`,
/// and returns the final redirect to the client.
pub async fn authorize_as(app: &TestApp, client: &reqwest::Client, url: &str, email: &str, decision: &str) -> String {
    let mut r = client.get(url).send().await.unwrap();
    for _ in 0..5 {
        if r.status() == 303 {
            let to = location(&r);
            if !to.starts_with('/') {
                return to;
            }
            if to.starts_with("/login") {
                let page = client.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
                let next = query_of(&app.url(&to))["next"].clone();
                r = client
                    .post(app.url("/login"))
                    .form(&[
                        ("csrf_token", csrf_from(&page).as_str()),
                        ("email", email),
                        ("password", PASSWORD),
                        ("next", &next),
                    ])
                    .send()
                    .await
                    .unwrap();
            } else {
                r = client.get(app.url(&to)).send().await.unwrap();
            }
        } else if r.status() == 200 {
            let page = r.text().await.unwrap();
            assert!(page.contains("/oauth2/consent"), "expected the consent page: {page}");
            let mut form: Vec<(String, String)> = Vec::new();
            for chunk in page.split("<input type=\"hidden\" name=\"").skip(1) {
                let (name, rest) = chunk.split_once('"').unwrap();
                let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
                form.push((name.to_owned(), html_unescape(value)));
            }
            form.push(("decision".into(), decision.into()));
            r = client.post(app.url("/oauth2/consent")).form(&form).send().await.unwrap();
        } else {
            panic!("unexpected {} during authorization: {}", r.status(), r.text().await.unwrap());
        }
    }
    panic!("authorization did not finish");
}

fn html_unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

pub async fn token_request(app: &TestApp, client: &Value, form: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(app.url("/oauth2/token"));
    let id = client["client_id"].as_str().unwrap();
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match client["client_secret"].as_str() {
        Some(secret) => req = req.basic_auth(id, Some(secret)),
        None => form.push(("client_id", id)),
    }
    req.form(&form).send().await.unwrap()
}

pub async fn client_post(app: &TestApp, path: &str, client: &Value, form: &[(&str, &str)]) -> reqwest::Response {
    let id = client["client_id"].as_str().unwrap();
    reqwest::Client::new()
        .post(app.url(path))
        .basic_auth(id, client["client_secret"].as_str())
        .form(form)
        .send()
        .await
        .unwrap()
}

pub async fn setup(app: &TestApp, extra: &[&str]) -> Value {
    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), 202);
    web_client(app, extra).await
}

/// Runs the whole flow and returns the token response.
async fn code_flow(app: &TestApp, client: &Value) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let callback = authorize_as(app, &browser(), &url, "ada@example.com", "allow").await;
    let code = query_of(&callback)["code"].clone();
    let r = token_request(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn confidential_client_code_flow_with_consent(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let user = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let callback = authorize_as(&app, &user, &url, "ada@example.com", "allow").await;
    // RFC 6749 §4.1.2 + RFC 9207: code, the exact state, and iss.
    assert!(callback.starts_with(REDIRECT));
    let q = query_of(&callback);
    assert_eq!(q["state"], "st&=ä");
    assert_eq!(q["iss"], app.base);
    assert_eq!(q["code"].len(), 43, "256 random bits");

    let r = token_request(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email offline_access");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().expect("offline_access gives a refresh token");

    // OpenID Connect Core §2 / §3.1.3.6 ID token claims.
    let id_token = tokens["id_token"].as_str().unwrap();
    let header = decode_part(id_token.split('.').next().unwrap());
    assert_eq!(header["alg"], "RS256");
    let claims = decode_part(id_token.split('.').nth(1).unwrap());
    let mut names: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    // `email` and `email_verified` because the scope has `email` (Core §5.4; issue #14); `acr`
    // (Core §2) of the password sign-in.
    let expected = [
        "acr",
        "amr",
        "at_hash",
        "aud",
        "auth_time",
        "azp",
        "email",
        "email_verified",
        "exp",
        "iat",
        "iss",
        "nonce",
        "sid",
        "sub",
    ];
    assert_eq!(names, expected);
    assert_eq!((claims["email"].as_str(), claims["email_verified"].as_bool()), (Some("ada@example.com"), Some(false)));
    assert_eq!(claims["acr"], "urn:gatehouse:acr:1fa");
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], client["client_id"]);
    assert_eq!(claims["azp"], client["client_id"]);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);

    // UserInfo (Core §5.3): scope-filtered claims, same sub.
    let info: Value = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["email_verified"], false);

    // Introspection (RFC 7662) of both tokens, refresh (rotation), revocation (RFC 7009).
    let i: Value = client_post(&app, "/oauth2/introspect", &client, &[("token", access)]).await.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], client["client_id"]);
    let i: Value = client_post(&app, "/oauth2/introspect", &client, &[("token", refresh)]).await.json().await.unwrap();
    assert_eq!(i["active"], true);
    let r = token_request(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "openid email")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(refreshed["scope"], "openid email", "scope may narrow");
    let i: Value = client_post(&app, "/oauth2/introspect", &client, &[("token", refresh)]).await.json().await.unwrap();
    assert_eq!(i, json!({ "active": false }), "a rotated refresh token is inactive");
    let r = token_request(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
            ("scope", "openid admin"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let new_refresh = refreshed["refresh_token"].as_str().unwrap();
    // An OAuth client's tokens do not work on the first-party API: neither the refresh token
    // (which stays usable at the token endpoint, not consumed) nor the access token.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": new_refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let i: Value =
        client_post(&app, "/oauth2/introspect", &client, &[("token", new_refresh)]).await.json().await.unwrap();
    assert_eq!(i["active"], true, "the refused attempt did not consume the token");
    assert_eq!(client_post(&app, "/oauth2/revoke", &client, &[("token", new_refresh)]).await.status(), 200);
    let i: Value =
        client_post(&app, "/oauth2/introspect", &client, &[("token", refreshed["access_token"].as_str().unwrap())])
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(i, json!({ "active": false }), "revoking the refresh token revokes the grant's access tokens");
    assert_eq!(
        client_post(&app, "/oauth2/revoke", &client, &[("token", "unknown-token")]).await.status(),
        200,
        "RFC 7009 §2.2"
    );

    // Consent is remembered: the next authorization goes straight back with a code.
    let (_, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let r = user.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(REDIRECT) && query_of(&location(&r)).contains_key("code"));
}

async fn public_client_code_flow_with_pkce(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--public", "--skip-consent"]).await;
    assert!(client.get("client_secret").is_none());
    let tokens = code_flow(&app, &client).await;
    assert!(tokens["id_token"].is_string());
    // A public client cannot use client_credentials, and client authentication with a made-up
    // secret fails.
    let r = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth(client["client_id"].as_str().unwrap(), Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn client_credentials_grant(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client =
        create_client(&app, &["--grant-type", "client_credentials", "--scope", "posts:read", "--scope", "posts:write"])
            .await;
    let r = token_request(&app, &client, &[("grant_type", "client_credentials"), ("scope", "posts:read")]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let claims = decode_part(body["access_token"].as_str().unwrap().split('.').nth(1).unwrap());
    assert_eq!(claims["sub"], client["client_id"]);
    assert_eq!(claims["scope"], "posts:read");
    let r = token_request(&app, &client, &[("grant_type", "client_credentials"), ("scope", "admin")]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = token_request(&app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "posts:read posts:write", "default: the registered scopes");
    // Registering a client is a security event, from the CLI too.
    let events = app.audit_events().await;
    let created = events.iter().find(|e| e.0 == "client.created").expect("client.created audited");
    assert_eq!(serde_json::from_str::<Value>(&created.3).unwrap()["public"], false, "{}", created.3);
    let out = app.cli(&["clients", "delete", client["client_id"].as_str().unwrap()], None).await;
    assert!(out.status.success());
    assert!(app.audit_events().await.iter().any(|e| e.0 == "client.deleted"));
    // The server caches clients; a deletion by another process (the CLI, another node) reaches
    // it within CLIENT_CACHE_TTL seconds (README, "Running several nodes").
    app.clock.advance(gatehouse_core::oauth::CLIENT_CACHE_TTL);
    assert_eq!(
        token_request(&app, &client, &[("grant_type", "client_credentials")]).await.status(),
        401,
        "deleted clients cannot authenticate"
    );
}

async fn discovery_advertises_exactly_what_works(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let d: Value = app.client.get(app.url(path)).send().await.unwrap().json().await.unwrap();
        let text = d.to_string().replace(&app.base, "{issuer}");
        let expected = json!({
            "issuer": "{issuer}",
            "authorization_endpoint": "{issuer}/oauth2/authorize",
            "token_endpoint": "{issuer}/oauth2/token",
            "jwks_uri": "{issuer}/oauth2/jwks",
            "userinfo_endpoint": "{issuer}/oauth2/userinfo",
            "revocation_endpoint": "{issuer}/oauth2/revoke",
            "introspection_endpoint": "{issuer}/oauth2/introspect",
            "device_authorization_endpoint": "{issuer}/oauth2/device_authorization",
            "end_session_endpoint": "{issuer}/oauth2/logout",
            // OpenID Connect Back-Channel Logout 1.0 §2.1.
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "pushed_authorization_request_endpoint": "{issuer}/oauth2/par",
            "require_pushed_authorization_requests": false,
            "scopes_supported": ["openid", "profile", "email", "offline_access", "roles", "permissions"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            // OpenID Connect Discovery §3 / RFC 8414 §2: private_key_jwt needs its signing algs listed.
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "revocation_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "introspection_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
            "code_challenge_methods_supported": ["S256"],
            // RFC 9449 §5.1.
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "acr", "sid", "email", "email_verified", "name", "updated_at"],
            "prompt_values_supported": ["none", "login", "consent"],
            // Discovery 1.0 §3: the acr values Gatehouse asserts.
            "acr_values_supported": ["urn:gatehouse:acr:1fa", "urn:gatehouse:acr:mfa"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        });
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected, "{path}");
    }
}

async fn rp_initiated_logout(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent", "--post-logout-redirect-uri", "https://app.example.com/bye"]).await;
    let user = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let tokens: Value = token_request(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let hint = tokens["id_token"].as_str().unwrap();
    // An unregistered post_logout_redirect_uri is refused, and the session survives.
    let r = user
        .get(
            app.url(&format!(
                "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.test%2F"
            )),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.me(&user).await.status(), 200);
    let r = user
        .get(app.url(&format!(
            "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye&state=xyz"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://app.example.com/bye?state=xyz");
    assert_eq!(app.me(&user).await.status(), 401, "signed out");
}

async fn browser_apps_get_cors_on_oauth_endpoints_only(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    setup(&app, &["--public", "--cors-origin", "https://spa.example.com"]).await;
    let preflight = |path: &'static str, origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    for path in ["/oauth2/token", "/oauth2/revoke", "/oauth2/userinfo", "/.well-known/openid-configuration"] {
        let r = preflight(path, "https://spa.example.com").await.unwrap();
        assert_eq!(
            r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
            Some("https://spa.example.com"),
            "{path}"
        );
        assert_ne!(r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("*"));
        let r = preflight(path, "https://evil.test").await.unwrap();
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}: unregistered origin");
    }
    // A client's registered origin does not open the first-party cookie API.
    let r = preflight("/api/v1/auth/login", "https://spa.example.com").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The token endpoint answers a cross-origin POST (no cookies involved) with CORS headers.
    let r = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .header("origin", "https://spa.example.com")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
            ("client_id", "nobody"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://spa.example.com");
}

async fn consents_are_listed_and_revocable_on_the_account_page(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let user = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let tokens: Value = token_request(&app, &client, &form).await.json().await.unwrap();
    let page = user.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Example App") && page.contains("openid profile email offline_access"));
    let action = format!("/account/consents/{}/revoke", client["client_id"].as_str().unwrap());
    assert!(page.contains(&action));
    let r = user.post(app.url(&action)).form(&[("csrf_token", csrf_from(&page))]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    // What the consent allowed ends with it: the refresh token and the access token.
    let r = token_request(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let r = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Without the remembered consent the next authorization asks again.
    let r = user.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("/oauth2/consent"));
}

async fn revoked_admin_tokens_stop_working_at_once(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("root@example.com", PASSWORD).await;
    assert!(app.cli(&["roles", "grant", "admin", "--user", "root@example.com"], None).await.status.success());
    let t: Value = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "root@example.com", "password": PASSWORD, "token_delivery": "body" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().unwrap();
    let users = |token: String| reqwest::Client::new().get(app.url("/admin/v1/users")).bearer_auth(token).send();
    assert_eq!(users(access.to_owned()).await.unwrap().status(), 200);
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": t["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(users(access.to_owned()).await.unwrap().status(), 401, "the logout revoked the token's login");
}
