//! DPoP (RFC 9449) end to end: proofs made here with our own key material, the way a client
//! makes them. The token endpoint binds tokens (§5, `token_type` DPoP, `cnf.jkt` §6.1), a public
//! client's refresh tokens are bound to its key (§5), introspection shows the binding (§6.2),
//! UserInfo demands a proof by the bound key with `ath` (§7.1) and refuses a bound token sent as
//! a bearer token (§7.2), and the attacks: a replayed proof (§11.1), a wrong `htm` or `htu`
//! (§4.3), a stolen bound token without the key, several `DPoP` headers (§4.3 point 1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::keys::{Algorithm, KeyMaterial, thumbprint};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::claims::claims_of;
use crate::helpers::{Backend, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, client_post, create_client, pkce, query_of, setup};
use crate::on_both_backends;

on_both_backends!(
    rfc9449_public_client_tokens_are_bound_and_refresh_needs_the_key,
    rfc9449_confidential_client_tokens_are_bound_and_introspection_shows_it,
    rfc9449_token_endpoint_refuses_bad_proofs,
);

/// A client's DPoP key.
pub(crate) struct DpopKey(KeyMaterial);

impl DpopKey {
    pub(crate) fn new(alg: Algorithm) -> Self {
        Self(KeyMaterial::generate(alg).unwrap().0)
    }

    pub(crate) fn jkt(&self) -> String {
        thumbprint(&self.0.public_jwk())
    }

    /// A proof for `method` to `url` (§4.2), with `ath` for `access_token`.
    pub(crate) fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        self.proof_at(method, url, access_token, None, i64::try_from(now).unwrap())
    }

    /// [`Self::proof`] with a server `nonce` (§8) and an explicit `iat`.
    pub(crate) fn proof_at(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: i64,
    ) -> String {
        let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": iat});
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(&claims)
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": self.0.alg().as_str(), "jwk": self.0.public_jwk()});
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", b64(&header), b64(claims));
        let sig = self.0.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// A token request with the client's authentication and an optional `DPoP` header.
pub(crate) async fn token_request(
    app: &TestApp,
    client: &Value,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(app.url("/oauth2/token"));
    let id = client["client_id"].as_str().unwrap();
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match client["client_secret"].as_str() {
        Some(secret) => req = req.basic_auth(id, Some(secret)),
        None => form.push(("client_id", id)),
    }
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.form(&form).send().await.unwrap()
}

/// The code flow up to the code; returns the code and the PKCE verifier.
pub(crate) async fn code(app: &TestApp, client: &Value) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let callback = authorize_as(app, &browser(), &url, "ada@example.com", "allow").await;
    (query_of(&callback)["code"].clone(), verifier)
}

async fn redeem(app: &TestApp, client: &Value, key: Option<&DpopKey>) -> Value {
    let (code, verifier) = code(app, client).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let proof = key.map(|k| k.proof("POST", &app.url("/oauth2/token"), None));
    let r = token_request(app, client, &form, proof.as_deref()).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

pub(crate) async fn userinfo(app: &TestApp, authorization: &str, proofs: &[String]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url("/oauth2/userinfo")).header("Authorization", authorization);
    for p in proofs {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

pub(crate) async fn error_of(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["error"].as_str().unwrap_or_default().to_owned()
}

async fn refresh(app: &TestApp, client: &Value, token: &str, proof: Option<&str>) -> reqwest::Response {
    token_request(app, client, &[("grant_type", "refresh_token"), ("refresh_token", token)], proof).await
}

async fn rfc9449_public_client_tokens_are_bound_and_refresh_needs_the_key(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--public"]).await;
    let key = DpopKey::new(Algorithm::ES256);
    let tokens = redeem(&app, &client, Some(&key)).await;
    // §5: token_type DPoP; §6.1: cnf.jkt is the proof key's RFC 7638 thumbprint.
    assert_eq!(tokens["token_type"], "DPoP");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(at)["cnf"]["jkt"], key.jkt());
    let userinfo_url = app.url("/oauth2/userinfo");

    // §7.1: with the DPoP scheme and a proof by the key, with ath.
    let ok = userinfo(&app, &format!("DPoP {at}"), &[key.proof("GET", &userinfo_url, Some(at))]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert!(body["sub"].is_string());

    // §7.2: a bound token presented as a bearer token is refused.
    let r = userinfo(&app, &format!("Bearer {at}"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(r).await, "invalid_token");
    // A stolen token without the key: no proof, or a proof by the thief's key.
    let r = userinfo(&app, &format!("DPoP {at}"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "), "§7.1 challenge");
    assert_eq!(error_of(r).await, "invalid_dpop_proof");
    let thief = DpopKey::new(Algorithm::ES256);
    let r = userinfo(&app, &format!("DPoP {at}"), &[thief.proof("GET", &userinfo_url, Some(at))]).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"));
    // §11.1: a proof is accepted once.
    let once = key.proof("GET", &userinfo_url, Some(at));
    assert_eq!(userinfo(&app, &format!("DPoP {at}"), std::slice::from_ref(&once)).await.status(), StatusCode::OK);
    let r = userinfo(&app, &format!("DPoP {at}"), &[once]).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"));
    // §4.3 points 8, 9, 12: wrong method, wrong URI, no or wrong ath.
    for bad in [
        key.proof("POST", &userinfo_url, Some(at)),
        key.proof("GET", &app.url("/oauth2/token"), Some(at)),
        key.proof("GET", &userinfo_url, None),
        key.proof("GET", &userinfo_url, Some("another-token")),
    ] {
        let r = userinfo(&app, &format!("DPoP {at}"), &[bad]).await;
        assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"));
    }
    // §4.3 point 1: two DPoP headers.
    let two = [key.proof("GET", &userinfo_url, Some(at)), key.proof("GET", &userinfo_url, Some(at))];
    assert_eq!(userinfo(&app, &format!("DPoP {at}"), &two).await.status(), StatusCode::UNAUTHORIZED);

    // §5: the public client's refresh token is bound to the key.
    let rt = tokens["refresh_token"].as_str().unwrap();
    let token_url = app.url("/oauth2/token");
    let r = refresh(&app, &client, rt, None).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    let r = refresh(&app, &client, rt, Some(&thief.proof("POST", &token_url, None))).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    // Neither refusal spent the token: the key holder still refreshes, and stays bound.
    let r = refresh(&app, &client, rt, Some(&key.proof("POST", &token_url, None))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let next: Value = r.json().await.unwrap();
    assert_eq!(next["token_type"], "DPoP");
    assert_eq!(claims_of(next["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());
    let r = refresh(&app, &client, next["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(error_of(r).await, "invalid_dpop_proof", "the new refresh token is bound too");

    // A token issued without DPoP stays a bearer token and cannot be used with the DPoP scheme.
    let plain = redeem(&app, &client, None).await;
    assert_eq!(plain["token_type"], "Bearer");
    let plain_at = plain["access_token"].as_str().unwrap();
    assert!(claims_of(plain_at).get("cnf").is_none());
    assert_eq!(userinfo(&app, &format!("Bearer {plain_at}"), &[]).await.status(), StatusCode::OK);
    let r = userinfo(&app, &format!("DPoP {plain_at}"), &[key.proof("GET", &userinfo_url, Some(plain_at))]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // §5: the first refresh with a proof binds the public client's refresh token from then on.
    let r =
        refresh(&app, &client, plain["refresh_token"].as_str().unwrap(), Some(&key.proof("POST", &token_url, None)))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    let bound: Value = r.json().await.unwrap();
    assert_eq!(bound["token_type"], "DPoP");
    let r = refresh(&app, &client, bound["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(error_of(r).await, "invalid_dpop_proof", "bound at the first DPoP refresh");
    let r =
        refresh(&app, &client, bound["refresh_token"].as_str().unwrap(), Some(&thief.proof("POST", &token_url, None)))
            .await;
    assert_eq!(error_of(r).await, "invalid_grant", "never re-bound to another key");
}

async fn rfc9449_confidential_client_tokens_are_bound_and_introspection_shows_it(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let key = DpopKey::new(Algorithm::EdDSA);
    let tokens = redeem(&app, &client, Some(&key)).await;
    assert_eq!(tokens["token_type"], "DPoP");
    let at = tokens["access_token"].as_str().unwrap();
    // §6.2: introspection conveys cnf.jkt, and token_type is DPoP.
    let r = client_post(&app, "/oauth2/introspect", &client, &[("token", at)]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["cnf"]["jkt"], key.jkt());
    assert_eq!(body["token_type"], "DPoP");
    // §5: a confidential client's refresh token is not bound (the client authenticates): a
    // refresh without DPoP gives a bearer token, one with another key a token bound to it.
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = refresh(&app, &client, rt, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let next: Value = r.json().await.unwrap();
    assert_eq!(next["token_type"], "Bearer");
    let other = DpopKey::new(Algorithm::RS256);
    let proof = other.proof("POST", &app.url("/oauth2/token"), None);
    let r = refresh(&app, &client, next["refresh_token"].as_str().unwrap(), Some(&proof)).await;
    let last: Value = r.json().await.unwrap();
    assert_eq!(last["token_type"], "DPoP");
    assert_eq!(claims_of(last["access_token"].as_str().unwrap())["cnf"]["jkt"], other.jkt());

    // Client credentials are bound too.
    let machine = create_client(&app, &["--grant-type", "client_credentials", "--scope", "reports:read"]).await;
    let proof = key.proof("POST", &app.url("/oauth2/token"), None);
    let r = token_request(&app, &machine, &[("grant_type", "client_credentials")], Some(&proof)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cc: Value = r.json().await.unwrap();
    assert_eq!(cc["token_type"], "DPoP");
    assert_eq!(claims_of(cc["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt());
}

async fn rfc9449_token_endpoint_refuses_bad_proofs(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let machine = create_client(&app, &["--grant-type", "client_credentials", "--scope", "reports:read"]).await;
    let key = DpopKey::new(Algorithm::ES256);
    let token_url = app.url("/oauth2/token");
    let cc = [("grant_type", "client_credentials")];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let refused = [
        ("wrong htm", key.proof("GET", &token_url, None)),
        ("wrong htu", key.proof("POST", &app.url("/oauth2/introspect"), None)),
        ("another server", key.proof("POST", "https://evil.example/oauth2/token", None)),
        ("stale", key.sign(&json!({"jti": "j1", "htm": "POST", "htu": token_url, "iat": now - 3600}))),
        ("no jti", key.sign(&json!({"htm": "POST", "htu": token_url, "iat": now}))),
        ("not a JWT", "not-a-jwt".to_owned()),
        ("NUL", "a\u{0}b".replace('\u{0}', "%00")),
    ];
    for (what, proof) in refused {
        let r = token_request(&app, &machine, &cc, Some(&proof)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{what}");
        assert!(!body.to_string().contains("evil.example"), "the input is not reflected");
    }
    // §11.1: the same proof twice.
    let proof = key.proof("POST", &token_url, None);
    assert_eq!(token_request(&app, &machine, &cc, Some(&proof)).await.status(), StatusCode::OK);
    let r = token_request(&app, &machine, &cc, Some(&proof)).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    // §4.3 point 1: two DPoP headers.
    let r = reqwest::Client::new()
        .post(&token_url)
        .basic_auth(machine["client_id"].as_str().unwrap(), machine["client_secret"].as_str())
        .header("DPoP", key.proof("POST", &token_url, None))
        .header("DPoP", key.proof("POST", &token_url, None))
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    // §5.1: discovery names the algorithms.
    let meta: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(meta["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA", "RS256"]));
}
