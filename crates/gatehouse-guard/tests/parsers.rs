#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test
//! Generated-input tests of the guard's parsers of untrusted bytes: the `Authorization: Bearer`
//! header (RFC 6750 §2.1), JWS compact tokens and their claims ([`verify`], [`verify_jws`];
//! RFC 7515 §7.1, RFC 9068 §4, RFC 8725 §3.1) and JWK Sets ([`KeySet::from_jwks`],
//! [`VerificationKey::from_jwk`]; RFC 7517 §4–5).
//!
//! Properties: no input makes a parser panic; unsigned or tampered tokens never verify; a header
//! `alg` other than the key's own (`none` in any case, HS256 keyed with public key bytes, another
//! asymmetric algorithm) never verifies, even over a signature the key did make; every verified
//! token satisfies the validation; an accepted JWK Set carries no private member. See
//! `support/mod.rs` for why this is proptest and how the inputs are generated, and
//! docs/testing.md for long runs (`PROPTEST_CASES=100000 cargo test -p gatehouse-guard --test parsers`).

mod support;

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_guard::{KeySet, Validation, VerificationKey, parse_bearer, verify, verify_jws};
use proptest::prelude::*;
use serde_json::{Value, json};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "https://api.example.test";
const NOW: i64 = 1_800_000_000;
const HMAC_SECRET: &[u8] = b"a shared secret of at least 32 bytes";
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn corpus(name: &str) -> Vec<Vec<u8>> {
    support::corpus(env!("CARGO_MANIFEST_DIR"), name)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The issuer's keys: ES256 (`es`), EdDSA (`ed`), HS256 (`hs`). RS256 keys are left out: RSA
/// key generation takes seconds in a debug build, and the RSA path is the same `ParsedPublicKey`.
struct Keys {
    es: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    set: KeySet,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let es = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let ed = Ed25519KeyPair::generate().unwrap();
        let mut set = KeySet::from_jwks(json!({ "keys": [es_jwk(&es), ed_jwk(&ed)] }).to_string().as_bytes()).unwrap();
        set.insert(VerificationKey::hs256("hs", HMAC_SECRET).unwrap()).unwrap();
        assert_eq!(set.len(), 3, "every published key parses: {:?}", set.skipped());
        Keys { es, ed, set }
    })
}

fn es_jwk(pair: &EcdsaKeyPair) -> Value {
    let p = pair.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..]), "kid": "es", "alg": "ES256", "use": "sig"})
}

fn ed_jwk(pair: &Ed25519KeyPair) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key()), "kid": "ed", "alg": "EdDSA", "use": "sig"})
}

#[derive(Debug, Clone, Copy)]
enum Signer {
    Es,
    Ed,
    Hs,
}

impl Signer {
    fn kid_alg(self) -> (&'static str, &'static str) {
        match self {
            Self::Es => ("es", "ES256"),
            Self::Ed => ("ed", "EdDSA"),
            Self::Hs => ("hs", "HS256"),
        }
    }

    fn sign(self, input: &[u8]) -> Vec<u8> {
        let k = keys();
        match self {
            Self::Es => k.es.sign(&SystemRandom::new(), input).unwrap().as_ref().to_vec(),
            Self::Ed => k.ed.sign(input).as_ref().to_vec(),
            Self::Hs => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET), input).as_ref().to_vec(),
        }
    }
}

fn signer() -> impl Strategy<Value = Signer> {
    prop_oneof![Just(Signer::Es), Just(Signer::Ed), Just(Signer::Hs)]
}

/// `header.payload.signature` with the header and payload bytes as given.
fn signed(signer: Signer, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(sig))
}

fn claims(sub: &str, scope: &str) -> Value {
    json!({"iss": ISSUER, "sub": sub, "aud": AUDIENCE, "exp": NOW + 900, "iat": NOW, "jti": "j",
           "client_id": "c", "scope": scope})
}

fn validation() -> Validation {
    Validation::new(ISSUER, [AUDIENCE])
}

/// `verify_jws` with the usual selection: the key named by `kid`.
fn verify_any(token: &str) -> Result<Vec<u8>, gatehouse_guard::VerifyError> {
    verify_jws(token, |_alg, kid| kid.and_then(|kid| keys().set.get(kid)).map(|k| &**k))
}

/// Header `alg` values that must never verify against the ES256 key `es`.
fn foreign_alg() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("none".to_owned()),
        Just("None".to_owned()),
        Just("NONE".to_owned()),
        Just("nOnE".to_owned()),
        Just("HS256".to_owned()),
        Just("RS256".to_owned()),
        Just("EdDSA".to_owned()),
        Just("es256".to_owned()),
        Just("ES256 ".to_owned()),
        Just("ES384".to_owned()),
        Just("PS256".to_owned()),
        Just(String::new()),
        any::<String>().prop_filter("not the key's algorithm", |a| a != "ES256"),
    ]
}

proptest! {
    /// RFC 6750 §2.1: never panics; what is accepted is a b64token that ends the header and
    /// parses again when written canonically.
    #[test]
    fn bearer_header_never_panics_and_round_trips(header in support::text(corpus("bearer"))) {
        if let Ok(token) = parse_bearer(&header) {
            prop_assert!(header.ends_with(token));
            prop_assert!(!token.is_empty() && token.is_ascii() && !token.contains(' '));
            let canonical = format!("Bearer {token}");
            prop_assert_eq!(parse_bearer(&canonical), Ok(token));
        }
    }

    #[test]
    fn canonical_b64tokens_are_accepted(token in "[A-Za-z0-9._~+/-]{1,200}={0,2}", scheme in "[bB][eE][aA][rR][eE][rR]", sp in " {1,3}") {
        let header = format!("{scheme}{sp}{token}");
        prop_assert_eq!(parse_bearer(&header), Ok(token.as_str()));
    }

    /// Random and mutated tokens never panic and never verify: nothing here holds a signature
    /// of ours.
    #[test]
    fn arbitrary_tokens_never_verify(token in support::text(corpus("jws"))) {
        prop_assert!(verify(&token, &keys().set, &validation(), NOW).is_err());
        prop_assert!(verify_any(&token).is_err());
    }

    /// A token we signed verifies; any change to it (header, payload or signature, by a few
    /// random edits) does not.
    #[test]
    fn tampered_tokens_never_verify(
        signer in signer(),
        sub in "[ -~]{1,40}",
        scope in "[a-z:]{0,30}",
        edits in support::edits(),
    ) {
        let (kid, alg) = signer.kid_alg();
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string();
        let token = signed(signer, header.as_bytes(), claims(&sub, &scope).to_string().as_bytes());
        let verified = verify(&token, &keys().set, &validation(), NOW).expect("a token we signed verifies");
        prop_assert_eq!(verified.sub, sub);
        prop_assert!(verify_any(&token).is_ok());
        let tampered = String::from_utf8_lossy(&support::apply(token.clone().into_bytes(), &edits)).into_owned();
        if tampered != token {
            prop_assert!(verify(&tampered, &keys().set, &validation(), NOW).is_err(), "{tampered}");
            prop_assert!(verify_any(&tampered).is_err(), "{tampered}");
        }
    }

    /// RFC 8725 §3.1: the key decides the algorithm. Against the ES256 key, a header naming any
    /// other algorithm fails with every kind of signature: none, HS256 keyed with the public
    /// key's bytes (the classic confusion), and even a genuine ES256 signature over the input.
    #[test]
    fn foreign_alg_never_verifies(alg in foreign_alg(), kind in 0u8..4, sub in "[a-z]{1,10}") {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "es"}).to_string();
        let input = format!("{}.{}", b64(&header), b64(claims(&sub, "").to_string()));
        let public = keys().es.public_key().as_ref().to_vec();
        let jwk_text = es_jwk(&keys().es).to_string();
        let signature = match kind {
            0 => Vec::new(),
            1 => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &public), input.as_bytes()).as_ref().to_vec(),
            2 => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, jwk_text.as_bytes()), input.as_bytes()).as_ref().to_vec(),
            _ => Signer::Es.sign(input.as_bytes()),
        };
        let token = format!("{input}.{}", b64(signature));
        prop_assert!(verify(&token, &keys().set, &validation(), NOW).is_err());
        prop_assert!(verify_any(&token).is_err());
        // Even a selector that hands out the ES256 key whatever the header says.
        prop_assert!(verify_jws(&token, |_, _| keys().set.get("es").map(|k| &**k)).is_err());
    }

    /// The claims parser behind a valid signature: arbitrary (mutated) payloads never panic, and
    /// whatever verifies meets the validation (issuer, audience, times).
    #[test]
    fn signed_arbitrary_claims_verify_only_when_valid(
        signer in signer(),
        payload in support::bytes(vec![claims("user-1", "a b").to_string().into_bytes(),
                                       br#"{"iss":"https://id.example.test","aud":["x","https://api.example.test"],"exp":1800000030.9,"iat":1.8e9,"nbf":1800000060,"sub":"s","jti":"j","client_id":"c"}"#.to_vec()]),
    ) {
        let (kid, alg) = signer.kid_alg();
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string();
        let token = signed(signer, header.as_bytes(), &payload);
        let v = validation();
        if let Ok(c) = verify(&token, &keys().set, &v, NOW) {
            let leeway = v.leeway_secs as i64;
            prop_assert_eq!(&c.iss, ISSUER);
            prop_assert!(c.aud.iter().any(|a| a == AUDIENCE));
            prop_assert!(NOW < c.exp.saturating_add(leeway));
            prop_assert!(c.iat <= NOW + leeway);
            prop_assert!(c.nbf.is_none_or(|nbf| nbf <= NOW + leeway));
        }
        if let Ok(p) = verify_any(&token) {
            prop_assert_eq!(p, payload, "verify_jws returns the signed payload unchanged");
        }
    }

    /// RFC 7517 §5: never panics; an accepted set holds no private member in any key, and every
    /// key it kept is one the document names, with the document's `alg`.
    #[test]
    fn jwks_never_panics_and_refuses_private_keys(doc in support::bytes(corpus("jwks"))) {
        let Ok(set) = KeySet::from_jwks(&doc) else { return Ok(()) };
        let value: Value = serde_json::from_slice(&doc).expect("an accepted set is JSON");
        let listed = value["keys"].as_array().expect("an accepted set has a keys array");
        for jwk in listed {
            prop_assert!(PRIVATE_MEMBERS.iter().all(|m| jwk.get(m).is_none()), "private member accepted: {jwk}");
        }
        for kid in set.kids() {
            let alg = set.get(kid).unwrap().algorithm().as_str();
            prop_assert!(listed.iter().any(|k| k["kid"] == kid && k["alg"] == alg), "{kid} {alg} not in the document");
        }
        prop_assert_eq!(set.len() + set.skipped().len(), listed.len());
    }

    /// One JWK, from arbitrary JSON and from mutated real keys: never panics; what parses keeps
    /// the JWK's `kid` and `alg` exactly.
    #[test]
    fn jwk_never_panics_and_keeps_kid_and_alg(jwk in support::bytes(vec![
        es_jwk(&keys().es).to_string().into_bytes(), ed_jwk(&keys().ed).to_string().into_bytes(),
        json!({"kty": "oct", "k": b64(HMAC_SECRET), "kid": "hs", "alg": "HS256"}).to_string().into_bytes(),
    ])) {
        let Ok(value) = serde_json::from_slice::<Value>(&jwk) else { return Ok(()) };
        if let Ok(key) = VerificationKey::from_jwk(&value) {
            prop_assert_eq!(Some(key.kid()), value["kid"].as_str());
            prop_assert_eq!(Some(key.algorithm().as_str()), value["alg"].as_str());
            if key.algorithm() != gatehouse_guard::Algorithm::Hs256 {
                prop_assert!(PRIVATE_MEMBERS.iter().all(|m| value.get(m).is_none()));
            }
        }
    }
}

/// The seed corpora themselves: every seed is fed through its parser once (a regression test
/// for each tricky input that was added), and the ones that name a known trick are refused.
#[test]
fn seed_corpora_are_refused_where_they_should_be() {
    for seed in support::corpus_text(env!("CARGO_MANIFEST_DIR"), "jws") {
        assert!(verify(&seed, &keys().set, &validation(), NOW).is_err(), "{seed}");
        assert!(verify_any(&seed).is_err(), "{seed}");
    }
    for seed in corpus("jwks") {
        let _ = KeySet::from_jwks(&seed);
    }
    for name in ["private-d.json", "oct.json"] {
        let doc = std::fs::read(format!("{}/tests/corpus/jwks/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(KeySet::from_jwks(&doc).is_err(), "{name}: a set with private material is refused whole");
    }
    for seed in support::corpus_text(env!("CARGO_MANIFEST_DIR"), "bearer") {
        let _ = parse_bearer(&seed);
    }
    assert_eq!(parse_bearer("Bearer mF_9.B5f-4.1JqM"), Ok("mF_9.B5f-4.1JqM"));
}
