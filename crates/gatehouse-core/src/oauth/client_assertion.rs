//! `private_key_jwt` client assertions: RFC 7523 §2.2 (the `client_assertion` parameters) and
//! §3 (the JWT's claims), as profiled by OpenID Connect Core 1.0 §9.
//!
//! Rules, in the order they are checked after the signature (RFC 7523 §3 points 1–7):
//! `iss` and `sub` are both the client id; `aud` contains the issuer identifier or the token
//! endpoint URL (compared exactly, RFC 3986 §6.2.1); `exp` is required, in the future, and at
//! most [`MAX_ASSERTION_LIFETIME`] seconds ahead (a short-lived assertion keeps the replay
//! table small and a stolen one useless soon); `nbf` and `iat`, when present, are not in the
//! future; `jti` is required and is accepted once until `exp` (the caller records it).
//! [`ASSERTION_LEEWAY`] seconds of clock skew are allowed on every time check.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::client::{AuthMethod, Client};
use super::client_jwks::select_key;
use crate::clock::UnixTime;

/// RFC 7523 §2.2: the one `client_assertion_type` value accepted.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An assertion's `exp` may lie at most this far (seconds) after now, plus the leeway.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const ASSERTION_LEEWAY: i64 = 30;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;
/// The signature algorithms a client assertion may use (RFC 8725 §3.1: an allow-list).
pub const ASSERTION_ALGORITHMS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

/// Why an assertion was refused: logged at debug, never sent (the client only learns
/// `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("the client is not registered for private_key_jwt")]
    NotPrivateKeyJwt,
    #[error("signature: {0}")]
    Signature(gatehouse_guard::VerifyError),
    #[error("the header algorithm is not allowed")]
    Algorithm,
    #[error("malformed claims: {0}")]
    Claims(String),
    #[error("iss and sub must both be the client id")]
    Subject,
    #[error("aud does not name this authorization server")]
    Audience,
    #[error("the assertion expired")]
    Expired,
    #[error("exp lies too far in the future")]
    LifetimeTooLong,
    #[error("the assertion is not valid yet (nbf or iat in the future)")]
    NotYetValid,
    #[error("jti is missing, empty or too long")]
    Jti,
    #[error("the jti was already used")]
    Replayed,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

/// An assertion that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedAssertion {
    /// SHA-256 of the `jti`.
    pub jti_hash: Vec<u8>,
    /// Until when the `jti` must be remembered: after this the assertion is expired anyway.
    pub replay_until: UnixTime,
}

/// The client id an assertion claims (its `sub`), read *without* verifying anything: only to
/// find the client whose keys then verify it, and to key the rate limit.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Sub {
        sub: String,
    }
    let payload = assertion.split('.').nth(1)?;
    if payload.len() > gatehouse_guard::MAX_TOKEN_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Sub>(&bytes).ok().map(|s| s.sub)
}

/// Verifies `assertion` for `client` at `now`; `audiences` are the values that identify this
/// authorization server (its issuer identifier and its token endpoint URL).
pub fn verify_assertion(
    assertion: &str,
    client: &Client,
    audiences: &[&str],
    now: UnixTime,
) -> Result<AcceptedAssertion, AssertionError> {
    let jwks = match (&client.auth_method, &client.jwks) {
        (AuthMethod::PrivateKeyJwt, Some(jwks)) => jwks,
        _ => return Err(AssertionError::NotPrivateKeyJwt),
    };
    let keys = jwks.keys();
    let mut alg_allowed = true;
    let payload = gatehouse_guard::verify_jws(assertion, |alg, kid| {
        alg_allowed = ASSERTION_ALGORITHMS.contains(&alg);
        if alg_allowed { select_key(keys, alg, kid) } else { None }
    });
    let payload = match payload {
        Ok(p) => p,
        Err(_) if !alg_allowed => return Err(AssertionError::Algorithm),
        Err(e) => return Err(AssertionError::Signature(e)),
    };
    let c: Claims = serde_json::from_slice(&payload).map_err(|e| AssertionError::Claims(e.to_string()))?;
    // RFC 7523 §3 points 1 and 2; OpenID Connect Core §9: iss = sub = client_id.
    if c.iss != client.id || c.sub != client.id {
        return Err(AssertionError::Subject);
    }
    // RFC 7523 §3 point 3: "The authorization server MUST reject any JWT that does not
    // contain its own identity as the intended audience" (Simple String Comparison).
    let aud_ok = match &c.aud {
        Audience::One(a) => audiences.contains(&a.as_str()),
        Audience::Many(list) => list.iter().any(|a| audiences.contains(&a.as_str())),
    };
    if !aud_ok {
        return Err(AssertionError::Audience);
    }
    // RFC 7523 §3 point 4 (exp), point 5 (nbf), point 6 (iat).
    if now >= c.exp.saturating_add(ASSERTION_LEEWAY) {
        return Err(AssertionError::Expired);
    }
    if c.exp > now.saturating_add(MAX_ASSERTION_LIFETIME + ASSERTION_LEEWAY) {
        return Err(AssertionError::LifetimeTooLong);
    }
    let future = |t: Option<i64>| t.is_some_and(|t| t > now.saturating_add(ASSERTION_LEEWAY));
    if future(c.nbf) || future(c.iat) {
        return Err(AssertionError::NotYetValid);
    }
    // RFC 7523 §3 point 7 and OpenID Connect Core §9: jti is required here (single use).
    let jti = c.jti.filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN).ok_or(AssertionError::Jti)?;
    Ok(AcceptedAssertion {
        jti_hash: Sha256::digest(jti.as_bytes()).to_vec(),
        replay_until: c.exp.saturating_add(ASSERTION_LEEWAY),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_jwks::ClientJwks;
    use crate::oauth::client_jwks::tests::{b64, ec_jwk, ec_pair, ed_jwk};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair};
    use serde_json::{Value, json};

    const NOW: i64 = 1_700_000_000;
    const AUD: [&str; 2] = ["https://id.example", "https://id.example/oauth2/token"];

    fn client(jwks: Value) -> Client {
        Client {
            id: "c1".into(),
            name: "c".into(),
            secret_hash: None,
            auth_method: AuthMethod::PrivateKeyJwt,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            cors_origins: vec![],
            skip_consent: false,
            access_token_lifetime: None,
            created_at: 0,
            jwks: Some(ClientJwks::parse(jwks).unwrap()),
            require_mfa: false,
            require_pushed_authorization_requests: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            dpop_bound_access_tokens: false,
            lifecycle: Default::default(),
        }
    }

    fn claims() -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": AUD[1], "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    fn es256(pair: &EcdsaKeyPair, header: Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn eddsa(pair: &Ed25519KeyPair, header: Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        format!("{input}.{}", b64(pair.sign(input.as_bytes()).as_ref()))
    }

    #[test]
    fn a_good_assertion_is_accepted_with_or_without_kid() {
        let pair = ec_pair();
        let c = client(json!({"keys": [ec_jwk("k1", &pair)]}));
        let ok = verify_assertion(&es256(&pair, json!({"alg": "ES256", "kid": "k1"}), &claims()), &c, &AUD, NOW);
        let ok = ok.unwrap();
        assert_eq!(ok.replay_until, NOW + 60 + ASSERTION_LEEWAY);
        assert_eq!(ok.jti_hash, Sha256::digest(b"j1").to_vec());
        let mut issuer_aud = claims();
        issuer_aud["aud"] = json!(["other", AUD[0]]);
        assert!(verify_assertion(&es256(&pair, json!({"alg": "ES256"}), &issuer_aud), &c, &AUD, NOW).is_ok());
        assert_eq!(claimed_client_id(&es256(&pair, json!({"alg": "ES256"}), &claims())).as_deref(), Some("c1"));
    }

    #[test]
    fn eddsa_assertions_verify() {
        let pair = Ed25519KeyPair::generate().unwrap();
        let c = client(json!({"keys": [ed_jwk("e", &pair)]}));
        assert!(verify_assertion(&eddsa(&pair, json!({"alg": "EdDSA"}), &claims()), &c, &AUD, NOW).is_ok());
    }

    #[test]
    fn every_claim_rule_is_enforced() {
        let pair = ec_pair();
        let c = client(json!({"keys": [ec_jwk("k1", &pair)]}));
        let check = |edit: &dyn Fn(&mut Value)| {
            let mut cl = claims();
            edit(&mut cl);
            verify_assertion(&es256(&pair, json!({"alg": "ES256", "kid": "k1"}), &cl), &c, &AUD, NOW).unwrap_err()
        };
        assert_eq!(check(&|c| c["iss"] = json!("c2")), AssertionError::Subject);
        assert_eq!(check(&|c| c["sub"] = json!("c2")), AssertionError::Subject);
        assert_eq!(check(&|c| c["aud"] = json!("https://id.example/")), AssertionError::Audience);
        assert_eq!(check(&|c| c["aud"] = json!(["https://evil.example"])), AssertionError::Audience);
        assert_eq!(check(&|c| c["exp"] = json!(NOW - ASSERTION_LEEWAY)), AssertionError::Expired);
        assert_eq!(check(&|c| c["exp"] = json!(NOW + 3600)), AssertionError::LifetimeTooLong);
        assert_eq!(check(&|c| c["nbf"] = json!(NOW + 120)), AssertionError::NotYetValid);
        assert_eq!(check(&|c| c["iat"] = json!(NOW + 120)), AssertionError::NotYetValid);
        assert_eq!(check(&|c| drop(c.as_object_mut().unwrap().remove("jti"))), AssertionError::Jti);
        assert_eq!(check(&|c| c["jti"] = json!("")), AssertionError::Jti);
        assert!(matches!(check(&|c| drop(c.as_object_mut().unwrap().remove("exp"))), AssertionError::Claims(_)));
    }

    #[test]
    fn foreign_keys_and_algorithms_are_refused() {
        let (pair, other) = (ec_pair(), ec_pair());
        let c = client(json!({"keys": [ec_jwk("k1", &pair)]}));
        let signed_by_other = es256(&other, json!({"alg": "ES256", "kid": "k1"}), &claims());
        assert!(matches!(verify_assertion(&signed_by_other, &c, &AUD, NOW), Err(AssertionError::Signature(_))));
        let unknown_kid = es256(&pair, json!({"alg": "ES256", "kid": "k9"}), &claims());
        assert!(matches!(verify_assertion(&unknown_kid, &c, &AUD, NOW), Err(AssertionError::Signature(_))));
        let input = format!("{}.{}", b64(br#"{"alg":"none"}"#), b64(claims().to_string().as_bytes()));
        assert!(verify_assertion(&format!("{input}."), &c, &AUD, NOW).is_err());
        let hs = format!("{}.{}.{}", b64(br#"{"alg":"HS256"}"#), b64(claims().to_string().as_bytes()), b64(&[1; 32]));
        assert_eq!(verify_assertion(&hs, &c, &AUD, NOW), Err(AssertionError::Algorithm));
        let secret_client = Client { auth_method: AuthMethod::ClientSecretBasic, jwks: None, ..c };
        let good = es256(&pair, json!({"alg": "ES256", "kid": "k1"}), &claims());
        assert_eq!(verify_assertion(&good, &secret_client, &AUD, NOW), Err(AssertionError::NotPrivateKeyJwt));
    }
}
