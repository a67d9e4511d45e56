//! Authentication context and step-up (issue #15, part 4): `acr` (OpenID Connect Core §2),
//! `acr_values` (Core §3.1.2.1, §5.5.1.1) answered by asking a one-factor session for its second
//! factor alone, `prompt=none` (Core §3.1.2.6 `interaction_required`), `max_age` composed with
//! `acr_values`, clients that require a second factor, `amr`/`acr`/`auth_time` in access tokens
//! (RFC 9068 §2.2.1) and across refresh (Core §12.2), introspection (RFC 7662 §2.2) and
//! discovery's `acr_values_supported` (Discovery 1.0 §3). The ID token of a step-up is checked
//! by Node's openid-client and jose (`tests/interop/openid_client_acr.mjs`); TOTP codes are
//! computed here (`mfa::totp_at`), not by the server.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from, set_cookies};
use crate::interop::{INTEROP_DIR, available};
use crate::mfa::{enrol, fresh_code, page_code, signed_in};
use crate::oauth::{REDIRECT, authorize_url, client_post, location, pkce, query_of, setup, token_request};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    step_up_asks_a_one_factor_session_for_the_second_factor_only,
    max_age_forces_a_full_sign_in_and_acr_the_factor,
    prompt_none_needing_a_step_up_is_interaction_required,
    a_client_requiring_mfa_issues_no_code_without_a_second_factor,
    first_party_and_client_credentials_tokens,
);

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const ACR_1FA: &str = "urn:gatehouse:acr:1fa";
const ACR_MFA: &str = "urn:gatehouse:acr:mfa";
/// What `authorize_url` sends.
const STATE: &str = "st&=ä";
const NONCE: &str = "n-0S6_WzA2Mj";

fn payload(jwt: &str) -> Value {
    decode_part(jwt.split('.').nth(1).unwrap())
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn node_available() -> bool {
    available(
        "node",
        &["--input-type=module", "-e", "await import('openid-client'); await import('jose')"],
        "Node openid-client",
        "npm ci --prefix crates/gatehouse/tests/interop",
    )
}

/// Redeems the code of `callback` and returns `(ID token claims, token response)`. With Node
/// available, openid-client redeems it and checks state, iss (RFC 9207), nonce, aud, exp, iat
/// and, with `max_age`, `auth_time` (Core §3.1.3.7), and jose verifies the signature against
/// the JWKS; otherwise (skipped unless `GATEHOUSE_REQUIRE_SERVICES=1`) the claims are decoded
/// here.
async fn redeem(app: &TestApp, client: &Value, callback: &str, verifier: &str, max_age: Option<i64>) -> (Value, Value) {
    assert!(callback.starts_with(REDIRECT), "{callback}");
    if !node_available() {
        let code = query_of(callback)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        let r = token_request(app, client, &form).await;
        assert_eq!(r.status(), 200);
        let tokens: Value = r.json().await.unwrap();
        return (payload(tokens["id_token"].as_str().unwrap()), tokens);
    }
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(Path::new(INTEROP_DIR).join("openid_client_acr.mjs")).current_dir(INTEROP_DIR).kill_on_drop(true);
    cmd.args([
        format!("--issuer={}", app.base),
        format!("--client-id={}", client["client_id"].as_str().unwrap()),
        format!("--redirect-uri={REDIRECT}"),
        format!("--callback={callback}"),
        format!("--verifier={verifier}"),
        format!("--state={STATE}"),
        format!("--nonce={NONCE}"),
        format!("--clock-skew={}", app.clock_now() - now_unix()),
    ]);
    if let Some(secret) = client["client_secret"].as_str() {
        cmd.arg(format!("--client-secret={secret}"));
    }
    if let Some(m) = max_age {
        cmd.arg(format!("--max-age={m}"));
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("node finished").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["alg"], "RS256");
    // Discovery 1.0 §3, as the library read it.
    assert_eq!(summary["acr_values_supported"], json!([ACR_1FA, ACR_MFA]));
    let tokens = json!({ "access_token": summary["access_token"], "refresh_token": summary["refresh_token"] });
    (summary["claims"].clone(), tokens)
}

/// Follows our own redirects from `url` until the client's redirect URI; panics on a page.
async fn straight_to_callback(app: &TestApp, b: &reqwest::Client, url: &str) -> String {
    let mut r = b.get(url).send().await.unwrap();
    for _ in 0..4 {
        assert_eq!(r.status(), 303, "no page expected: {}", r.text().await.unwrap());
        let to = location(&r);
        if to.starts_with(REDIRECT) {
            return to;
        }
        assert!(to.starts_with("/oauth2/"), "{to}");
        r = b.get(app.url(&to)).send().await.unwrap();
    }
    panic!("too many redirects");
}

/// The second-factor page of a pending step (not the password page): its CSRF token.
async fn second_factor_page(app: &TestApp, b: &reqwest::Client) -> String {
    let page = b.get(app.url("/login/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("action=\"/login/mfa\"") && page.contains("name=\"code\""), "{page}");
    assert!(!page.contains("name=\"password\""), "no password asked for a step-up: {page}");
    csrf_from(&page)
}

/// `amr`, `acr` and `auth_time` of a JWT's payload.
fn auth_claims(claims: &Value) -> (Value, Value, Value) {
    (claims["amr"].clone(), claims["acr"].clone(), claims["auth_time"].clone())
}

async fn step_up_asks_a_one_factor_session_for_the_second_factor_only(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let id = client["client_id"].as_str().unwrap();
    // Signed in with the password before TOTP was set up: a one-factor session.
    let account = signed_in(&app, ADA).await;
    let signed_in_at = app.clock_now();
    let (secret, _) = enrol(&app, &account).await;

    // Core §3.1.2.1: values in order of preference, unknown ones ignored; max_age is met.
    let (verifier, challenge) = pkce();
    let acr = [("acr_values", "urn:example:gold urn:gatehouse:acr:mfa"), ("max_age", "3600")];
    let url = authorize_url(&app, id, Some(&challenge), &acr);
    let r = account.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/mfa", "Core §5.5.1.1: the second factor, not a new sign-in");
    assert!(set_cookies(&r).iter().all(|c| !c.contains("gatehouse_session=")), "the session stays until then");
    let csrf = second_factor_page(&app, &account).await;
    let code = fresh_code(&app, &secret);
    let stepped_up_at = app.clock_now();
    let r = page_code(&app, &account, &csrf, &code).await;
    assert_eq!(r.status(), 303);
    assert!(set_cookies(&r).iter().any(|c| c.contains("gatehouse_session=")), "a new session replaces the old");
    let next = location(&r);
    assert!(next.starts_with("/oauth2/authorize?"), "{next}");
    let callback = straight_to_callback(&app, &account, &app.url(&next)).await;

    let (id_token, tokens) = redeem(&app, &client, &callback, &verifier, Some(3600)).await;
    // Core §2: acr and amr of the stepped-up sign-in; auth_time is the second step's.
    assert_eq!(id_token["acr"], ACR_MFA);
    assert_eq!(id_token["amr"], json!(["pwd", "otp", "mfa"]));
    let auth_time = id_token["auth_time"].as_i64().unwrap();
    assert!(auth_time >= stepped_up_at && auth_time > signed_in_at, "{auth_time} {stepped_up_at} {signed_in_at}");
    // RFC 9068 §2.2.1: the access token says the same.
    let access = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(auth_claims(&access), (json!(["pwd", "otp", "mfa"]), json!(ACR_MFA), json!(auth_time)));

    // Core §12.2: a refresh later describes the original sign-in, not the refresh.
    app.clock.advance(120);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = token_request(&app, &client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    let again = payload(refreshed["access_token"].as_str().unwrap());
    assert!(again["iat"].as_i64().unwrap() > auth_time + 100);
    assert_eq!(auth_claims(&again), auth_claims(&access));
    // RFC 7662 §2.2: introspection returns them for the active token and the refresh token.
    let token = refreshed["access_token"].as_str().unwrap();
    let r = client_post(&app, "/oauth2/introspect", &client, &[("token", token)]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(auth_claims(&body), auth_claims(&access));
    let token = refreshed["refresh_token"].as_str().unwrap();
    let body: Value = client_post(&app, "/oauth2/introspect", &client, &[("token", token)]).await.json().await.unwrap();
    assert_eq!(auth_claims(&body), auth_claims(&access));

    // The session is multi-factor now: the same request needs no page at all.
    let (_, challenge) = pkce();
    let url = authorize_url(&app, id, Some(&challenge), &[("acr_values", ACR_MFA)]);
    straight_to_callback(&app, &account, &url).await;
    // Discovery 1.0 §3, read directly.
    let d: Value =
        browser().get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["acr_values_supported"], json!([ACR_1FA, ACR_MFA]));
    assert!(d["claims_supported"].as_array().unwrap().contains(&json!("acr")));
}

async fn max_age_forces_a_full_sign_in_and_acr_the_factor(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let id = client["client_id"].as_str().unwrap();
    let account = signed_in(&app, ADA).await;
    let (secret, _) = enrol(&app, &account).await;
    app.clock.advance(120);

    // Core §3.1.2.1 max_age: the one-factor session is too old, so a full sign-in comes first
    // (which, for this user, ends with the second factor).
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, id, Some(&challenge), &[("acr_values", ACR_MFA), ("max_age", "60")]);
    let r = account.get(&url).send().await.unwrap();
    let to = location(&r);
    assert!(to.starts_with("/login?"), "max_age wins over a step-up: {to}");
    let q = query_of(&app.url(&to));
    assert_eq!(q.get("prompt").map(String::as_str), Some("login"));
    let page = account.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"password\""));
    let form = [
        ("csrf_token", csrf_from(&page)),
        ("email", ADA.into()),
        ("password", PASSWORD.into()),
        ("next", q["next"].clone()),
    ];
    let r = account.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(location(&r), "/login/mfa");
    let csrf = second_factor_page(&app, &account).await;
    let r = page_code(&app, &account, &csrf, &fresh_code(&app, &secret)).await;
    let signed_in_at = app.clock_now();
    let callback = straight_to_callback(&app, &account, &app.url(&location(&r))).await;
    // openid-client checks auth_time against max_age=60 (Core §3.1.3.7 rule 11).
    let (id_token, _) = redeem(&app, &client, &callback, &verifier, Some(60)).await;
    assert_eq!(id_token["acr"], ACR_MFA);
    assert_eq!(id_token["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(id_token["auth_time"].as_i64().unwrap() >= signed_in_at - 1);

    // Fresh and multi-factor: both are met, no page.
    app.clock.advance(10);
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, id, Some(&challenge), &[("acr_values", ACR_MFA), ("max_age", "600")]);
    let callback = straight_to_callback(&app, &account, &url).await;
    let (id_token, _) = redeem(&app, &client, &callback, &verifier, Some(600)).await;
    assert_eq!(id_token["acr"], ACR_MFA);
}

async fn prompt_none_needing_a_step_up_is_interaction_required(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let id = client["client_id"].as_str().unwrap();
    let account = signed_in(&app, ADA).await;
    enrol(&app, &account).await;

    // Core §3.1.2.6: prompt=none and a second factor would have to be asked for.
    let (_, challenge) = pkce();
    let url = authorize_url(&app, id, Some(&challenge), &[("acr_values", ACR_MFA), ("prompt", "none")]);
    let r = account.get(&url).send().await.unwrap();
    assert!(set_cookies(&r).iter().all(|c| !c.contains("mfa")), "no pending step: {:?}", set_cookies(&r));
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(q["error"], "interaction_required");
    assert_eq!(q["state"], STATE);
    assert_eq!(q["iss"], app.base, "RFC 9207");
    assert!(!q.contains_key("code"));
    // RFC 6749 §3.1: a repeated parameter is refused; so is a value no real request sends.
    let long = "x".repeat(2000);
    for extra in
        [[("acr_values", ACR_MFA), ("acr_values", ACR_1FA)], [("acr_values", long.as_str()), ("prompt", "login")]]
    {
        let url = authorize_url(&app, id, Some(&challenge), &extra);
        let to = location(&account.get(&url).send().await.unwrap());
        assert_eq!(query_of(&to)["error"], "invalid_request", "{to}");
    }

    // A user without a second factor: acr_values is a Voluntary Claim (Core §3.1.2.1), so the
    // code is issued with the class there is, and the RP reads it in `acr`.
    app.register_user(BOB, PASSWORD).await;
    let bob = signed_in(&app, BOB).await;
    for extra in [vec![("acr_values", ACR_MFA)], vec![("acr_values", ACR_MFA), ("prompt", "none")]] {
        let (verifier, challenge) = pkce();
        let url = authorize_url(&app, id, Some(&challenge), &extra);
        let callback = straight_to_callback(&app, &bob, &url).await;
        let (id_token, tokens) = redeem(&app, &client, &callback, &verifier, None).await;
        assert_eq!(id_token["acr"], ACR_1FA, "{extra:?}");
        assert_eq!(id_token["amr"], json!(["pwd"]));
        let access = payload(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["acr"], ACR_1FA);
    }

    // A client that requires a second factor, with prompt=none: interaction_required too.
    let strict = crate::oauth::web_client(&app, &["--skip-consent", "--require-mfa"]).await;
    let (_, challenge) = pkce();
    let url = authorize_url(&app, strict["client_id"].as_str().unwrap(), Some(&challenge), &[("prompt", "none")]);
    let to = location(&bob.get(&url).send().await.unwrap());
    assert_eq!(query_of(&to)["error"], "interaction_required", "{to}");
}

async fn a_client_requiring_mfa_issues_no_code_without_a_second_factor(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let name = "<b>Bank</b> & \"Co\"";
    let args = [
        "clients",
        "create",
        "--name",
        name,
        "--json",
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
        "--skip-consent",
        "--require-mfa",
    ];
    let client: Value = serde_json::from_str(&crate::admin::cli_ok(&app, &args).await).unwrap();
    assert_eq!(client["require_mfa"], true);
    let id = client["client_id"].as_str().unwrap();
    let out = app
        .cli(&["clients", "create", "--name", "m", "--grant-type", "client_credentials", "--require-mfa"], None)
        .await;
    assert!(!out.status.success(), "require_mfa is about user sign-ins");

    // The admin API shows it and sets it at creation (and in its OpenAPI document).
    app.register_user("root@example.com", PASSWORD).await;
    crate::admin::cli_ok(&app, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    let admin = crate::admin::token(&app, "root@example.com").await;
    let shown = crate::admin::get_json(&app, &admin, &format!("/admin/v1/clients/{id}")).await;
    assert_eq!(shown["require_mfa"], true);
    let body = json!({ "name": "API-made", "redirect_uris": [REDIRECT], "require_mfa": true });
    let r = crate::admin::call(&app, Some(&admin), reqwest::Method::POST, "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["require_mfa"], true);
    let body = json!({ "name": "plain", "redirect_uris": [REDIRECT] });
    let r = crate::admin::call(&app, Some(&admin), reqwest::Method::POST, "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["require_mfa"], false);
    let openapi = crate::admin::get_json(&app, &admin, "/admin/v1/openapi.json").await.to_string();
    assert!(openapi.contains("require_mfa"));

    // No second factor: no code, a page that says why and links to the account page only.
    let account = signed_in(&app, ADA).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, id, Some(&challenge), &[]);
    let r = account.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "{:?}", r.headers().get("location"));
    assert!(r.headers().get("location").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("requires two-step sign-in") && page.contains("href=\"/account/mfa\""), "{page}");
    assert!(!page.contains("<b>Bank") && !page.contains(REDIRECT) && !page.contains("code="), "{page}");
    assert!(page.contains("Bank"), "the name, escaped");

    // With a second factor set up: the one-factor session steps up, then a code.
    let (secret, _) = enrol(&app, &account).await;
    let r = account.get(&url).send().await.unwrap();
    assert_eq!(location(&r), "/login/mfa");
    let csrf = second_factor_page(&app, &account).await;
    let r = page_code(&app, &account, &csrf, &fresh_code(&app, &secret)).await;
    let callback = straight_to_callback(&app, &account, &app.url(&location(&r))).await;
    let (id_token, tokens) = redeem(&app, &client, &callback, &verifier, None).await;
    assert_eq!(id_token["acr"], ACR_MFA);
    // Refresh: the family was signed in with a second factor.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = token_request(&app, &client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(payload(refreshed["access_token"].as_str().unwrap())["acr"], ACR_MFA);

    // A family signed in with one factor, for a client made to require MFA afterwards: its
    // refresh token is refused (and not consumed).
    app.register_user(BOB, PASSWORD).await;
    let plain = crate::oauth::web_client(&app, &["--skip-consent"]).await;
    let bob = signed_in(&app, BOB).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, plain["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let callback = straight_to_callback(&app, &bob, &url).await;
    let (_, tokens) = redeem(&app, &plain, &callback, &verifier, None).await;
    let sql = "UPDATE oauth_clients SET require_mfa = TRUE WHERE id = $1";
    app.execute_sql(sql, plain["client_id"].as_str().unwrap()).await;
    app.clock.advance(10); // past the client cache
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = token_request(&app, &plain, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

async fn first_party_and_client_credentials_tokens(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user(ADA, PASSWORD).await;
    let login = || async {
        let body = json!({ "email": ADA, "password": PASSWORD, "token_delivery": "body" });
        browser().post(app.url("/api/v1/auth/token")).json(&body).send().await.unwrap()
    };
    let r = login().await;
    assert_eq!(r.status(), 200);
    let signed_in_at = app.clock_now();
    let tokens: Value = r.json().await.unwrap();
    let access = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], json!(["pwd"]));
    assert_eq!(access["acr"], ACR_1FA);
    assert!((access["auth_time"].as_i64().unwrap() - signed_in_at).abs() <= 1);
    // RFC 9068 §2.2.1 / OIDC Core §12.2: a refresh keeps the sign-in's values.
    app.clock.advance(300);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = browser().post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": refresh })).send();
    let refreshed: Value = r.await.unwrap().json().await.unwrap();
    assert_eq!(auth_claims(&payload(refreshed["access_token"].as_str().unwrap())), auth_claims(&access));

    // With a second factor: `pwd otp mfa`.
    let (secret, _) = enrol(&app, &signed_in(&app, ADA).await).await;
    let pending: Value = login().await.json().await.unwrap();
    let body =
        json!({ "mfa_token": pending["mfa_token"], "code": fresh_code(&app, &secret), "token_delivery": "body" });
    let r = browser().post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let access = payload(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(access["acr"], ACR_MFA);

    // Client credentials: no user signed in, so none of the three.
    let (_, token) = crate::admin::client_token(&app, &[]).await;
    let claims = payload(&token);
    for c in ["amr", "acr", "auth_time"] {
        assert!(claims.get(c).is_none(), "{c} in {claims}");
    }
}
