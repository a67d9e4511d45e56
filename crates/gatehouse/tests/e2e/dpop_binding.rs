//! DPoP (RFC 9449), second part, end to end: server-provided nonces at the token endpoint
//! (§8) and at UserInfo (§9), stateless across two nodes; authorization codes bound to a key
//! with `dpop_jkt` (§10) and through a DPoP proof at PAR (§10.1); and clients registered with
//! `dpop_bound_access_tokens` (§5.2).

use gatehouse_core::keys::Algorithm;
use reqwest::StatusCode;
use serde_json::Value;

use crate::dpop::{DpopKey, code, error_of, token_request, userinfo};
use crate::helpers::{Backend, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, create_client, pkce, query_of, setup};
use crate::on_both_backends;

on_both_backends!(
    rfc9449_s8_token_endpoint_requires_a_server_nonce,
    rfc9449_s9_userinfo_requires_a_server_nonce,
    rfc9449_s10_dpop_jkt_binds_the_code_to_a_key,
    rfc9449_s5_2_dpop_bound_client_needs_a_proof,
);

async fn spawn_with_nonces(b: Backend) -> Option<TestApp> {
    TestApp::spawn_with(b, |s| s.dpop.require_nonce = true).await
}

fn nonce_of(r: &reqwest::Response) -> String {
    r.headers().get("dpop-nonce").expect("a DPoP-Nonce header").to_str().unwrap().to_owned()
}

/// RFC 9449 §8: with nonces required, a proof without one is `400 use_dpop_nonce` with a
/// `DPoP-Nonce` header; the retry with that nonce succeeds, and the success carries the next
/// nonce (§8.2). A forged or stale nonce is refused the same way. The nonce is stateless: a
/// second node of the cluster accepts what the first issued.
async fn rfc9449_s8_token_endpoint_requires_a_server_nonce(b: Backend) {
    let Some(app) = spawn_with_nonces(b).await else { return };
    let machine = create_client(&app, &["--grant-type", "client_credentials", "--scope", "reports:read"]).await;
    let key = DpopKey::new(Algorithm::ES256);
    let token_url = app.url("/oauth2/token");
    let cc = [("grant_type", "client_credentials")];
    let now = app.clock_now();

    let r = token_request(&app, &machine, &cc, Some(&key.proof_at("POST", &token_url, None, None, now))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let nonce = nonce_of(&r);
    assert_eq!(error_of(r).await, "use_dpop_nonce");

    let r = token_request(&app, &machine, &cc, Some(&key.proof_at("POST", &token_url, None, Some(&nonce), now))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!nonce_of(&r).is_empty(), "§8.2: a success carries the next nonce");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");

    // A forged nonce (right shape, no MAC by our key) and garbage are refused.
    for forged in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x"] {
        let proof = key.proof_at("POST", &token_url, None, Some(forged), now);
        let r = token_request(&app, &machine, &cc, Some(&proof)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{forged}");
        assert!(r.headers().contains_key("dpop-nonce"));
        assert_eq!(error_of(r).await, "use_dpop_nonce", "{forged}");
    }

    // Stateless across nodes: the peer (same master key, no shared nonce store) accepts it.
    let peer = app.spawn_peer().await;
    // htu is the issuer's token endpoint, the same for every node behind the balancer.
    let proof = key.proof_at("POST", &token_url, None, Some(&nonce), peer.clock_now());
    let r = token_request(&peer, &machine, &cc, Some(&proof)).await;
    assert_eq!(r.status(), StatusCode::OK, "a nonce from node A works on node B");

    // Stale: eleven minutes later (past the current and the previous slot) the nonce is refused
    // even in a proof with a fresh iat, and the refusal hands out a new one that works.
    app.clock.advance(11 * 60);
    let later = app.clock_now();
    let r =
        token_request(&app, &machine, &cc, Some(&key.proof_at("POST", &token_url, None, Some(&nonce), later))).await;
    let fresh = nonce_of(&r);
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "use_dpop_nonce"));
    assert_ne!(fresh, nonce);
    let proof = key.proof_at("POST", &token_url, None, Some(&fresh), later);
    assert_eq!(token_request(&app, &machine, &cc, Some(&proof)).await.status(), StatusCode::OK);

    // Without DPoP at all nothing changes: a bearer token, and no nonce handed out.
    let r = token_request(&app, &machine, &cc, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.headers().contains_key("dpop-nonce"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}

/// RFC 9449 §9: a resource that requires nonces answers a proof without one with `401`,
/// `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header; the retry with
/// the nonce succeeds. §11.1 and §7.1 still hold: a replayed proof and a thief's proof are
/// refused even with a good nonce.
async fn rfc9449_s9_userinfo_requires_a_server_nonce(b: Backend) {
    let Some(app) = spawn_with_nonces(b).await else { return };
    let client = setup(&app, &["--public"]).await;
    let key = DpopKey::new(Algorithm::ES256);
    let token_url = app.url("/oauth2/token");
    let (code, verifier) = code(&app, &client).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    // First try without a nonce spends nothing: the code still redeems with the nonce.
    let now = app.clock_now();
    let r = token_request(&app, &client, &form, Some(&key.proof_at("POST", &token_url, None, None, now))).await;
    let nonce = nonce_of(&r);
    assert_eq!(error_of(r).await, "use_dpop_nonce");
    let r = token_request(&app, &client, &form, Some(&key.proof_at("POST", &token_url, None, Some(&nonce), now))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    let auth = format!("DPoP {at}");
    let url = app.url("/oauth2/userinfo");

    let r = userinfo(&app, &auth, &[key.proof_at("GET", &url, Some(at), None, now)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""), "{challenge}");
    let nonce = nonce_of(&r);
    assert_eq!(error_of(r).await, "use_dpop_nonce");

    let once = key.proof_at("GET", &url, Some(at), Some(&nonce), now);
    let r = userinfo(&app, &auth, std::slice::from_ref(&once)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("dpop-nonce"), "§9: the next nonce");
    let r = userinfo(&app, &auth, &[once]).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"), "replay");
    let thief = DpopKey::new(Algorithm::ES256);
    let r = userinfo(&app, &auth, &[thief.proof_at("GET", &url, Some(at), Some(&nonce), now)]).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"), "thief");
}

/// RFC 9449 §10: `dpop_jkt` on the authorization request binds the code to that key: a proof
/// by another key is `invalid_grant`, none at all `invalid_dpop_proof`, the right key gets a
/// bound token. A malformed `dpop_jkt` is `invalid_request`. §10.1: a proof sent with a pushed
/// request binds the code the same way, and a `dpop_jkt` naming another key is refused.
async fn rfc9449_s10_dpop_jkt_binds_the_code_to_a_key(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--public"]).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let key = DpopKey::new(Algorithm::ES256);
    let other = DpopKey::new(Algorithm::EdDSA);
    let token_url = app.url("/oauth2/token");
    let jkt = key.jkt();
    let bound_code = |extra: Vec<(&'static str, String)>| {
        let (app, id) = (&app, id.clone());
        async move {
            let (verifier, challenge) = pkce();
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let url = authorize_url(app, &id, Some(&challenge), &extra);
            let callback = authorize_as(app, &browser(), &url, "ada@example.com", "allow").await;
            (query_of(&callback), verifier)
        }
    };
    let redeem = |code: String, verifier: String, proof: Option<String>| {
        let (app, client) = (&app, &client);
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
            ];
            token_request(app, client, &form, proof.as_deref()).await
        }
    };

    let (q, verifier) = bound_code(vec![("dpop_jkt", jkt.clone())]).await;
    let r = redeem(q["code"].clone(), verifier, Some(other.proof("POST", &token_url, None))).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let (q, verifier) = bound_code(vec![("dpop_jkt", jkt.clone())]).await;
    let r = redeem(q["code"].clone(), verifier, None).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    let (q, verifier) = bound_code(vec![("dpop_jkt", jkt.clone())]).await;
    let r = redeem(q["code"].clone(), verifier, Some(key.proof("POST", &token_url, None))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");

    // Not a base64url SHA-256 thumbprint: refused at the authorization endpoint.
    for bad in ["short", &format!("{jkt}A"), &jkt.replace(&jkt[..1], "+"), &"A".repeat(43).replace("AAA", "A=A")] {
        let (q, _) = bound_code(vec![("dpop_jkt", bad.to_owned())]).await;
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"), "{bad}");
        assert!(!q.contains_key("code"));
    }

    // §10.1: a DPoP proof at PAR binds the code to its key.
    let par_url = app.url("/oauth2/par");
    let push = |extra: Vec<(&'static str, String)>, proof: Option<String>| {
        let (id, par_url) = (id.clone(), par_url.clone());
        async move {
            let (verifier, challenge) = pkce();
            let mut form = vec![
                ("client_id", id),
                ("response_type", "code".to_owned()),
                ("redirect_uri", REDIRECT.to_owned()),
                ("scope", "openid".to_owned()),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256".to_owned()),
            ];
            form.extend(extra);
            let mut req = reqwest::Client::new().post(&par_url).form(&form);
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            (req.send().await.unwrap(), verifier)
        }
    };
    let (r, _) = push(vec![("dpop_jkt", other.jkt())], Some(key.proof("POST", &par_url, None))).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    let (r, verifier) = push(vec![], Some(key.proof("POST", &par_url, None))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let pushed: Value = r.json().await.unwrap();
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", &id).append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
    let url = app.url(&format!("/oauth2/authorize?{}", q.finish()));
    let callback = authorize_as(&app, &browser(), &url, "ada@example.com", "allow").await;
    let code = query_of(&callback)["code"].clone();
    let r = redeem(code, verifier, Some(other.proof("POST", &token_url, None))).await;
    assert_eq!(error_of(r).await, "invalid_grant", "the pushed proof's key bound the code");
}

/// RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens` gets no token without a
/// DPoP proof; set and cleared with the CLI, shown by `clients show`.
async fn rfc9449_s5_2_dpop_bound_client_needs_a_proof(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let args = ["--grant-type", "client_credentials", "--scope", "reports:read", "--dpop-bound-access-tokens"];
    let machine = create_client(&app, &args).await;
    assert_eq!(machine["dpop_bound_access_tokens"], true);
    let cc = [("grant_type", "client_credentials")];
    let r = token_request(&app, &machine, &cc, None).await;
    assert_eq!((r.status(), error_of(r).await.as_str()), (StatusCode::BAD_REQUEST, "invalid_dpop_proof"));
    let key = DpopKey::new(Algorithm::ES256);
    let r = token_request(&app, &machine, &cc, Some(&key.proof("POST", &app.url("/oauth2/token"), None))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");

    let id = machine["client_id"].as_str().unwrap();
    let out = app.cli(&["clients", "update", id, "--dpop-bound-access-tokens", "false", "--json"], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["dpop_bound_access_tokens"], false);
    // Another process's change reaches the server's client cache within CLIENT_CACHE_TTL.
    app.clock.advance(gatehouse_core::oauth::CLIENT_CACHE_TTL);
    let r = token_request(&app, &machine, &cc, None).await;
    assert_eq!(r.status(), StatusCode::OK, "no longer required");
}
