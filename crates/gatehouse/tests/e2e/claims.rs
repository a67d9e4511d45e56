//! `roles` and `permissions` in access tokens (RFC 9068 §2.2.3.1), opt-in per client through
//! the scopes of the same names: the code flow, refresh (recomputed at every issuance), client
//! credentials, and introspection (RFC 7662 §2.2) returning the same claims.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::{
    REDIRECT, authorize_as, authorize_url, client_post, create_client, pkce, query_of, token_request, web_client,
};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(user_tokens_carry_current_roles_and_permissions, client_credentials_carry_the_client_roles);

async fn cli_ok(app: &TestApp, args: &[&str]) {
    let out = app.cli(args, None).await;
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `editor` holds posts:read and posts:write, `viewer` holds posts:read, `empty` nothing.
async fn rbac_fixture(app: &TestApp) {
    for role in ["editor", "viewer", "empty"] {
        cli_ok(app, &["roles", "create", role]).await;
    }
    for p in ["posts:read", "posts:write"] {
        cli_ok(app, &["permissions", "create", p]).await;
    }
    for (p, role) in [("posts:read", "editor"), ("posts:write", "editor"), ("posts:read", "viewer")] {
        cli_ok(app, &["permissions", "grant", p, "--role", role]).await;
    }
}

pub(crate) fn claims_of(token: &str) -> Value {
    decode_part(token.split('.').nth(1).unwrap())
}

/// The code flow with `scope`, answered by ada: the token response, or the error parameters of
/// the redirect when no code was issued.
async fn code_flow_with_scope(
    app: &TestApp,
    client: &Value,
    scope: &str,
) -> Result<reqwest::Response, HashMap<String, String>> {
    let (verifier, challenge) = pkce();
    let default = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let wanted = format!("scope={}", scope.replace(' ', "+"));
    let url = default.replace("scope=openid+profile+email+offline_access", &wanted);
    assert!(url.contains(&wanted), "{url}");
    let callback = authorize_as(app, &browser(), &url, "ada@example.com", "allow").await;
    let q = query_of(&callback);
    let Some(code) = q.get("code") else { return Err(q) };
    Ok(token_request(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await)
}

async fn user_tokens_carry_current_roles_and_permissions(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), 202);
    rbac_fixture(&app).await;
    for role in ["editor", "viewer", "empty"] {
        cli_ok(&app, &["roles", "grant", role, "--user", "ada@example.com"]).await;
    }
    let opted_in = web_client(&app, &["--scope", "roles", "--scope", "permissions"]).await;

    let r = code_flow_with_scope(&app, &opted_in, "openid offline_access roles permissions").await.unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["roles"], json!(["editor", "empty", "viewer"]), "every role, sorted");
    assert_eq!(claims["permissions"], json!(["posts:read", "posts:write"]), "the union, once each");
    // The ID token is not an access token and stays without them.
    let id_claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert!(id_claims.get("roles").is_none() && id_claims.get("permissions").is_none());

    // RFC 7662 §2.2: introspection shows the same claims as the token.
    let i: Value = client_post(&app, "/oauth2/introspect", &opted_in, &[("token", access)]).await.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["roles"], claims["roles"]);
    assert_eq!(i["permissions"], claims["permissions"]);

    // A revoked role and a permission taken from a role are gone at the next refresh.
    cli_ok(&app, &["roles", "revoke", "viewer", "--user", "ada@example.com"]).await;
    cli_ok(&app, &["permissions", "revoke", "posts:write", "--role", "editor"]).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = token_request(&app, &opted_in, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    let claims = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["editor", "empty"]));
    assert_eq!(claims["permissions"], json!(["posts:read"]));

    // Narrowing to `roles` on refresh drops the permissions claim (absent, not empty).
    let refresh = refreshed["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "offline_access roles")];
    let r = token_request(&app, &opted_in, &form).await;
    assert_eq!(r.status(), 200);
    let narrowed: Value = r.json().await.unwrap();
    let access = narrowed["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["roles"], json!(["editor", "empty"]));
    assert!(claims.get("permissions").is_none(), "{claims}");
    let i: Value = client_post(&app, "/oauth2/introspect", &opted_in, &[("token", access)]).await.json().await.unwrap();
    assert_eq!(i["roles"], json!(["editor", "empty"]));
    assert!(i.get("permissions").is_none(), "{i}");

    // A client not allowed the scopes cannot ask for them, and its tokens carry neither claim.
    let plain = web_client(&app, &[]).await;
    let refused = code_flow_with_scope(&app, &plain, "openid roles").await.unwrap_err();
    assert_eq!(refused["error"], "invalid_scope", "no code for a scope the client may not use");
    let r = code_flow_with_scope(&app, &plain, "openid offline_access").await.unwrap();
    assert_eq!(r.status(), 200);
    let claims = claims_of(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert!(claims.get("roles").is_none() && claims.get("permissions").is_none(), "{claims}");
}

async fn client_credentials_carry_the_client_roles(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    rbac_fixture(&app).await;
    let args =
        ["--grant-type", "client_credentials", "--scope", "posts:read", "--scope", "roles", "--scope", "permissions"];
    let client = create_client(&app, &args).await;
    let id = client["client_id"].as_str().unwrap();
    let token = |scope: &'static str| {
        let client = client.clone();
        let app = &app;
        async move {
            let r = token_request(app, &client, &[("grant_type", "client_credentials"), ("scope", scope)]).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    // No roles yet: the claims are present (asked for) and empty.
    let claims = claims_of(&token("roles permissions").await);
    assert_eq!((&claims["roles"], &claims["permissions"]), (&json!([]), &json!([])));

    cli_ok(&app, &["roles", "grant", "viewer", "--client", id]).await;
    cli_ok(&app, &["roles", "grant", "empty", "--client", id]).await;
    let access = token("posts:read roles permissions").await;
    let claims = claims_of(&access);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["roles"], json!(["empty", "viewer"]));
    assert_eq!(claims["permissions"], json!(["posts:read"]));
    let i: Value = client_post(&app, "/oauth2/introspect", &client, &[("token", &access)]).await.json().await.unwrap();
    assert_eq!((&i["roles"], &i["permissions"]), (&claims["roles"], &claims["permissions"]));

    let claims = claims_of(&token("posts:read").await);
    assert!(claims.get("roles").is_none() && claims.get("permissions").is_none(), "not asked for: {claims}");
    let claims = claims_of(&token("permissions").await);
    assert!(claims.get("roles").is_none());
    assert_eq!(claims["permissions"], json!(["posts:read"]));

    // A user's roles never leak into a client's token, and a client not allowed the scope is refused.
    let other = create_client(&app, &["--grant-type", "client_credentials", "--scope", "posts:read"]).await;
    let r = token_request(&app, &other, &[("grant_type", "client_credentials"), ("scope", "roles")]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
}
