//! `private_key_jwt` client authentication end to end (RFC 7523 §2.2 and §3, OpenID Connect
//! Core 1.0 §9): registration with a public JWK Set (CLI and admin API), the client
//! credentials grant and the authorization code exchange authenticated with ES256, EdDSA and
//! RS256 assertions, revocation and introspection with the same authentication, and every way
//! an assertion can be wrong (each `invalid_client`, 401; RFC 6749 §5.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::keys::{Algorithm, KeyMaterial};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, create_client, pkce, query_of, setup};
use crate::on_both_backends;

on_both_backends!(
    client_credentials_with_es256_eddsa_and_rs256_assertions,
    authorization_code_exchange_with_an_assertion,
    every_bad_assertion_is_invalid_client,
    registration_refuses_private_keys_and_admin_api_registers_keys,
    authlib_private_key_jwt_client_credentials,
);

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn new_key(alg: Algorithm) -> KeyMaterial {
    KeyMaterial::generate(alg).unwrap().0
}

/// Writes a JWK Set to a temporary file (removed by the caller once the CLI has read it).
fn jwks_file(app: &TestApp, name: &str, jwks: &Value) -> String {
    let path = std::env::temp_dir().join(format!("{}-{name}.json", app.base.replace([':', '/', '.'], "_")));
    std::fs::write(&path, jwks.to_string()).unwrap();
    path.display().to_string()
}

pub(crate) fn jwks_of(keys: &[&KeyMaterial]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

/// A private_key_jwt client registered through the CLI with `keys`.
pub(crate) async fn key_client(app: &TestApp, keys: &[&KeyMaterial], extra: &[&str]) -> Value {
    let path = jwks_file(app, &uuid::Uuid::new_v4().to_string(), &jwks_of(keys));
    let mut args = vec!["--auth-method", "private_key_jwt", "--jwks-file", &path];
    args.extend_from_slice(extra);
    let client = create_client(app, &args).await;
    let _ = std::fs::remove_file(&path);
    assert!(client.get("client_secret").is_none(), "no secret for a key client: {client}");
    client
}

/// Good claims for `client_id`: aud is the token endpoint, exp two minutes ahead, a fresh jti.
pub(crate) fn claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.clock_now();
    json!({
        "iss": client_id, "sub": client_id, "aud": app.url("/oauth2/token"),
        "iat": now, "exp": now + 120, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub(crate) fn sign(key: &KeyMaterial, claims: &Value) -> String {
    key.sign_jws("JWT", claims).unwrap()
}

/// A JWS with a header of our choosing, signed by `key` (or with `signature` bytes).
fn sign_with_header(key: &KeyMaterial, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&sig))
}

async fn post_with_assertion(app: &TestApp, path: &str, assertion: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form = form.to_vec();
    form.extend([("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)]);
    browser().post(app.url(path)).form(&form).send().await.unwrap()
}

pub(crate) async fn client_credentials(app: &TestApp, assertion: &str) -> reqwest::Response {
    post_with_assertion(app, "/oauth2/token", assertion, &[("grant_type", "client_credentials")]).await
}

async fn assert_invalid_client(r: reqwest::Response, case: &str) {
    assert_eq!(r.status(), 401, "{case}");
    assert!(r.headers().contains_key("www-authenticate"), "{case}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{case}");
    assert_eq!(body["error_description"], "client authentication failed", "{case}: no detail");
}

/// RFC 7523 §2.2: client credentials for each registered algorithm (ES256, EdDSA, RS256), and
/// RFC 7009 §2.1 / RFC 7662 §2.1: revocation and introspection authenticate the same way.
async fn client_credentials_with_es256_eddsa_and_rs256_assertions(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let keys = [new_key(Algorithm::ES256), new_key(Algorithm::EdDSA), new_key(Algorithm::RS256)];
    let client = key_client(&app, &keys.iter().collect::<Vec<_>>(), &["--grant-type", "client_credentials"]).await;
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    let shown = app.cli(&["clients", "show", id, "--json"], None).await;
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["jwks"], jwks_of(&keys.iter().collect::<Vec<_>>()), "clients show lists the JWK Set");

    let mut token = String::new();
    for key in &keys {
        let r = client_credentials(&app, &sign(key, &claims(&app, id))).await;
        assert_eq!(r.status(), 200, "{:?}", key.alg());
        let body: Value = r.json().await.unwrap();
        let access = body["access_token"].as_str().unwrap();
        let payload = access.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["sub"], id);
        token = access.to_owned();
    }
    // The issuer identifier is an accepted audience too (RFC 7523 §3 point 3).
    let mut to_issuer = claims(&app, id);
    to_issuer["aud"] = json!([app.base.clone()]);
    assert_eq!(client_credentials(&app, &sign(&keys[0], &to_issuer)).await.status(), 200);

    let r =
        post_with_assertion(&app, "/oauth2/introspect", &sign(&keys[1], &claims(&app, id)), &[("token", &token)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = post_with_assertion(&app, "/oauth2/revoke", &sign(&keys[0], &claims(&app, id)), &[("token", &token)]).await;
    assert_eq!(r.status(), 200);
}

/// RFC 6749 §4.1.3 with RFC 7523 §2.2 client authentication: the code exchange of a
/// confidential web client that holds a key instead of a secret.
async fn authorization_code_exchange_with_an_assertion(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let key = new_key(Algorithm::EdDSA);
    let path = jwks_file(&app, "web", &jwks_of(&[&key]));
    let client = setup(&app, &["--auth-method", "private_key_jwt", "--jwks-file", &path]).await;
    let _ = std::fs::remove_file(&path);
    let id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let callback =
        authorize_as(&app, &browser(), &authorize_url(&app, id, Some(&challenge), &[]), "ada@example.com", "allow")
            .await;
    let code = query_of(&callback)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", id),
    ];
    let r = post_with_assertion(&app, "/oauth2/token", &sign(&key, &claims(&app, id)), &form).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string(), "{body}");
    // The refresh grant authenticates the same way.
    let refresh = body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let r = post_with_assertion(&app, "/oauth2/token", &sign(&key, &claims(&app, id)), &form).await;
    assert_eq!(r.status(), 200);
    // Without any authentication the key client is refused (it is not a public client).
    let r = browser()
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", id)])
        .send()
        .await
        .unwrap();
    assert_invalid_client(r, "client_id alone").await;
}

/// RFC 7523 §3 points 1–7, RFC 8725 §3.1 and RFC 6749 §2.3: each bad assertion is refused.
async fn every_bad_assertion_is_invalid_client(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (key, other_key) = (new_key(Algorithm::ES256), new_key(Algorithm::EdDSA));
    let client = key_client(&app, &[&key], &["--grant-type", "client_credentials"]).await;
    let other = key_client(&app, &[&other_key], &["--grant-type", "client_credentials"]).await;
    let secret_client = create_client(&app, &["--grant-type", "client_credentials"]).await;
    let (id, other_id) = (client["client_id"].as_str().unwrap(), other["client_id"].as_str().unwrap());
    let good = || claims(&app, id);
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut c = good();
        edit(&mut c);
        sign(&key, &c)
    };
    let now = app.clock_now();

    // Point 7: the jti is single use (until exp).
    let once = sign(&key, &good());
    assert_eq!(client_credentials(&app, &once).await.status(), 200);
    assert_invalid_client(client_credentials(&app, &once).await, "replayed jti").await;

    let cases: Vec<(&str, String)> = vec![
        ("wrong aud", edited(&|c| c["aud"] = json!("https://elsewhere.example/oauth2/token"))),
        ("aud with a trailing slash", edited(&|c| c["aud"] = json!(format!("{}/", app.base)))),
        ("expired", edited(&|c| (c["iat"], c["exp"]) = (json!(now - 600), json!(now - 120)))),
        ("exp too far ahead", edited(&|c| c["exp"] = json!(now + 3600))),
        ("nbf in the future", edited(&|c| c["nbf"] = json!(now + 120))),
        ("missing jti", edited(&|c| drop(c.as_object_mut().unwrap().remove("jti")))),
        ("missing exp", edited(&|c| drop(c.as_object_mut().unwrap().remove("exp")))),
        ("iss differs from sub", edited(&|c| c["iss"] = json!(other_id))),
        ("sub of another client", edited(&|c| (c["iss"], c["sub"]) = (json!(other_id), json!(other_id)))),
        ("unknown kid", sign_with_header(&key, &json!({"alg": "ES256", "kid": "nope"}), &good())),
        ("key of another client", sign_with_header(&other_key, &json!({"alg": "EdDSA"}), &good())),
        (
            "kid of another client",
            sign_with_header(&other_key, &json!({"alg": "EdDSA", "kid": other_key.kid()}), &good()),
        ),
        ("alg none", format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(good().to_string().as_bytes()))),
        ("HS256 with a guessed secret", hs256(&good())),
        ("garbage", "not.a.jwt".into()),
    ];
    for (case, assertion) in &cases {
        assert_invalid_client(client_credentials(&app, assertion).await, case).await;
    }

    let fresh = sign(&key, &good());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:example:other"),
        ("client_assertion", fresh.as_str()),
    ];
    assert_invalid_client(browser().post(app.url("/oauth2/token")).form(&form).send().await.unwrap(), "wrong type")
        .await;
    let form = [("grant_type", "client_credentials"), ("client_assertion", fresh.as_str())];
    let r = browser().post(app.url("/oauth2/token")).form(&form).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.json::<Value>().await.unwrap()["error"].clone()),
        (400, json!("invalid_request"))
    );
    let r = post_with_assertion(
        &app,
        "/oauth2/token",
        &fresh,
        &[("grant_type", "client_credentials"), ("client_id", other_id)],
    )
    .await;
    assert_invalid_client(r, "client_id differs from sub").await;
    // RFC 6749 §2.3: "MUST NOT use more than one authentication method in each request".
    let mut form = vec![("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER)];
    form.push(("client_assertion", fresh.as_str()));
    let r = browser().post(app.url("/oauth2/token")).basic_auth(id, Some("whatever")).form(&form).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.json::<Value>().await.unwrap()["error"].clone()),
        (400, json!("invalid_request"))
    );
    form.push(("client_secret", "whatever"));
    let r = browser().post(app.url("/oauth2/token")).form(&form).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.json::<Value>().await.unwrap()["error"].clone()),
        (400, json!("invalid_request"))
    );
    // A secret client cannot switch to assertions (it has no keys), nor a key client to secrets.
    let secret_id = secret_client["client_id"].as_str().unwrap();
    let mut c = claims(&app, secret_id);
    c["jti"] = json!("x");
    assert_invalid_client(client_credentials(&app, &sign(&key, &c)).await, "secret client").await;
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(""))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_invalid_client(r, "key client with an empty secret").await;

    // None of the failures used up the fresh assertion: it still works, exactly once.
    assert_eq!(client_credentials(&app, &fresh).await.status(), 200);
    assert_invalid_client(client_credentials(&app, &fresh).await, "fresh, replayed").await;
}

/// An HS256 JWS keyed with a secret an attacker could know (RFC 8725 §2.1: algorithm confusion).
fn hs256(claims: &Value) -> String {
    use aws_lc_rs::hmac;
    let input = format!("{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// RFC 7591 §2 `jwks`: public keys only, at the CLI and at the admin API.
async fn registration_refuses_private_keys_and_admin_api_registers_keys(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let key = new_key(Algorithm::ES256);
    let mut leaked = key.public_jwk();
    leaked["d"] = json!("c2VjcmV0LXNjYWxhci1ub3QtcmVhbGx5LXNlY3JldA");
    let path = jwks_file(&app, "leaked", &json!({ "keys": [leaked.clone()] }));
    let out = app
        .cli(
            &[
                "clients",
                "create",
                "--name",
                "Leaky",
                "--grant-type=client_credentials",
                "--auth-method=private_key_jwt",
                &format!("--jwks-file={path}"),
            ],
            None,
        )
        .await;
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("private member \"d\""), "{stderr}");
    assert!(!stderr.contains("c2VjcmV0"), "the private value is never echoed: {stderr}");
    let out = app.cli(&["clients", "list", "--json"], None).await;
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]), "nothing was written");

    // An admin token, from a key client with the admin scope.
    let admin = key_client(&app, &[&key], &["--grant-type", "client_credentials", "--scope", "gatehouse:admin"]).await;
    let admin_id = admin["client_id"].as_str().unwrap();
    let r = client_credentials(&app, &sign(&key, &claims(&app, admin_id))).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let create = |body: Value| {
        let token = token.clone();
        let url = app.url("/admin/v1/clients");
        async move { browser().request(Method::POST, url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    let base =
        json!({"name": "Svc", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"});
    let mut body = base.clone();
    body["jwks"] = json!({ "keys": [leaked] });
    let r = create(body).await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("private member") && !text.contains("c2VjcmV0"), "{text}");
    assert_eq!(create(base.clone()).await.status(), 422, "private_key_jwt without jwks");

    let svc_key = new_key(Algorithm::RS256);
    let mut body = base;
    body["jwks"] = jwks_of(&[&svc_key]);
    let r = create(body).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["jwks"], jwks_of(&[&svc_key]));
    let svc_id = created["client_id"].as_str().unwrap();
    assert_eq!(client_credentials(&app, &sign(&svc_key, &claims(&app, svc_id))).await.status(), 200);
}

/// Interop: Python authlib's `PrivateKeyJWT` (tests/interop/authlib_private_key_jwt.py) gets a
/// client-credentials token and introspects it; its replay is refused, and so is its default
/// one-hour assertion (longer than the 5 minutes allowed here).
async fn authlib_private_key_jwt_client_credentials(b: Backend) {
    use crate::interop::{INTEROP_DIR, available};
    if !available(
        "python3",
        &["-c", "import authlib, joserfc, requests"],
        "Python authlib",
        "pip install 'authlib>=1.9,<2' requests",
    ) {
        return;
    }
    let Some(app) = TestApp::spawn(b).await else { return };
    let (key, der) = KeyMaterial::generate(Algorithm::ES256).unwrap();
    let client = key_client(&app, &[&key], &["--grant-type", "client_credentials", "--scope", "introspect"]).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der[..]);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let key_file = std::env::temp_dir().join(format!("{}-authlib.pem", app.base.replace([':', '/', '.'], "_")));
    std::fs::write(&key_file, pem).unwrap();
    let out = tokio::process::Command::new("python3")
        .arg(std::path::Path::new(INTEROP_DIR).join("authlib_private_key_jwt.py"))
        .arg(format!("--issuer={}", app.base))
        .arg(format!("--client-id={}", client["client_id"].as_str().unwrap()))
        .arg(format!("--key-file={}", key_file.display()))
        .arg("--alg=ES256")
        .current_dir(INTEROP_DIR)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&key_file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["token_type"], "Bearer");
    assert_eq!(summary["replay_refused"], true);
    assert_eq!(summary["introspection"]["active"], true, "{summary:#}");
    assert_eq!(summary["default_lifetime_refused"], true, "{summary:#}");
}
