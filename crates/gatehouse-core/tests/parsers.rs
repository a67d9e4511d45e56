#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test
//! Generated-input tests of core's parsers of untrusted bytes: scopes (RFC 6749 §3.3), email
//! addresses, redirect URIs at registration and at the authorization endpoint (RFC 6749 §3.1.2,
//! RFC 8252 §7.3), the redirect response's query (RFC 6749 §4.1.2), `Authorization: Basic`
//! client credentials (RFC 6749 §2.3.1), PKCE (RFC 7636 §4), client JWK Sets (RFC 7591 §2),
//! `private_key_jwt` client assertions (RFC 7523 §3), AuthZEN decision requests (Authorization
//! API 1.0 §5–6), federation `return_to` paths, user ids and cookie values.
//!
//! Every test states a property: no input panics; parse → render → parse gives the same value
//! where there is a rendering; canonical inputs are accepted; and the security rules hold
//! (`find_match` only returns a registered URI, and with `LoopbackPorts::Exact` only the
//! requested string itself; no assertion verifies without the client's signature and valid
//! claims; `return_to` never leaves our origin; look-alike emails are refused). Generators and
//! the reason this is proptest: `gatehouse-guard/tests/support/mod.rs`. Long runs:
//! docs/testing.md (`PROPTEST_CASES=100000 cargo test -p gatehouse-core --test parsers`).

#[path = "../../gatehouse-guard/tests/support/mod.rs"]
mod support;

/// PKCE (RFC 7636) is private to `oauth` (the token endpoint is its only caller); its source is
/// compiled into this test as it stands, so the properties test the real functions.
#[path = "../src/oauth/pkce.rs"]
mod pkce;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::Email;
use gatehouse_core::email::EmailError;
use gatehouse_core::federation::ReturnTo;
use gatehouse_core::oauth::{
    AuthMethod, Client, ClientJwks, LoopbackPorts, RedirectUri, Scope, claimed_client_id, find_match, redirect_with,
    verify_assertion,
};
use gatehouse_core::policy::{self, ActiveDocuments, Compiled, DecisionRequest, SubjectFacts};
use gatehouse_core::user::UserId;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
const NOW: i64 = 1_700_000_000;
const AUDIENCES: [&str; 2] = ["https://id.example", "https://id.example/oauth2/token"];
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn corpus(name: &str) -> Vec<Vec<u8>> {
    support::corpus(MANIFEST, name)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------- generators of valid inputs

/// Redirect URIs in canonical form: https on a DNS name or http on a loopback host, a
/// normalised path, an optional query without the reserved names.
fn canonical_redirect_uri() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,6}){1,2}".prop_map(|h| format!("https://{h}")),
        Just("http://127.0.0.1".to_owned()),
        Just("http://[::1]".to_owned()),
        Just("http://localhost".to_owned()),
    ];
    let port = prop_oneof![Just(String::new()), (1024u16..65535).prop_map(|p| format!(":{p}"))];
    let path = proptest::collection::vec("[a-z0-9_~-]{1,8}", 1..4).prop_map(|s| s.join("/"));
    let query = prop_oneof![Just(String::new()), "[a-b]{1,4}=[a-z0-9]{0,4}".prop_map(|q| format!("?{q}"))];
    (host, port, path, query).prop_map(|(h, p, path, q)| {
        // An explicit port on https is fine unless it is the default one (canonical form).
        let p = if h.starts_with("https") && p == ":443" { String::new() } else { p };
        format!("{h}{p}/{path}{q}")
    })
}

/// A requested redirect URI: a registered one with another port or a small mutation, or any
/// mutated seed.
fn requested_uri(registered: Vec<String>) -> impl Strategy<Value = String> {
    let variants = registered.clone();
    prop_oneof![
        (0..registered.len()).prop_map(move |i| registered[i].clone()),
        (0..variants.len(), 1u16..65535).prop_map(move |(i, port)| {
            let Ok(mut u) = Url::parse(&variants[i]) else { return variants[i].clone() };
            let _ = u.set_port(Some(port));
            u.to_string()
        }),
        support::text(corpus("redirect_uri")),
    ]
}

// ---------------------------------------------------------------- the private_key_jwt client

struct AssertionClient {
    pair: EcdsaKeyPair,
    client: Client,
}

fn assertion_client() -> &'static AssertionClient {
    static C: std::sync::OnceLock<AssertionClient> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let p = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "x": b64(&p[1..33]), "y": b64(&p[33..65])});
        let client = Client {
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
            jwks: Some(ClientJwks::parse(json!({ "keys": [jwk] })).unwrap()),
            require_mfa: false,
            require_pushed_authorization_requests: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            dpop_bound_access_tokens: false,
            lifecycle: Default::default(),
        };
        AssertionClient { pair, client }
    })
}

fn sign_assertion(header: &Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(payload));
    let sig = assertion_client().pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}

fn good_claims() -> Value {
    json!({"iss": "c1", "sub": "c1", "aud": AUDIENCES[1], "exp": NOW + 60, "iat": NOW, "jti": "j1"})
}

proptest! {
    // ------------------------------------------------------------------------------ scopes

    #[test]
    fn scope_never_panics_and_round_trips(s in support::text(corpus("scope"))) {
        if let Ok(scope) = Scope::parse(&s) {
            let tokens: Vec<&str> = scope.iter().collect();
            for (i, t) in tokens.iter().enumerate() {
                prop_assert!(!t.is_empty() && t.len() <= 128);
                prop_assert!(t.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)), "{t:?}");
                prop_assert!(!tokens[..i].contains(t), "duplicate {t:?}");
            }
            prop_assert_eq!(Scope::parse(&scope.to_string()), Ok(scope));
        }
    }

    #[test]
    fn canonical_scopes_are_accepted(tokens in proptest::collection::vec("[!#-\\[\\]-~]{1,20}", 0..8)) {
        let scope = Scope::parse(&tokens.join(" ")).expect("RFC 6749 §3.3 scope-tokens");
        let mut unique: Vec<&str> = Vec::new();
        for t in &tokens {
            if !unique.contains(&t.as_str()) {
                unique.push(t);
            }
        }
        prop_assert_eq!(scope.iter().collect::<Vec<_>>(), unique);
    }

    // ------------------------------------------------------------------------------ email

    /// Never panics (look-alike detection included); the display form and the key both parse
    /// again to the same address (the key is idempotent: stored keys stay stable).
    #[test]
    fn email_never_panics_and_key_is_idempotent(raw in support::text(corpus("email"))) {
        if let Ok(email) = Email::parse(&raw) {
            let again = Email::parse(email.as_str()).expect("the display form parses again");
            prop_assert_eq!(again.key(), email.key());
            prop_assert_eq!(again.as_str(), email.as_str());
            let by_key = Email::parse(email.key()).expect("the key parses as an address");
            prop_assert_eq!(by_key.key(), email.key());
            prop_assert!(email.key().contains('@'));
        }
    }

    #[test]
    fn canonical_emails_are_accepted(local in "[a-zA-Z0-9][a-zA-Z0-9._+-]{0,30}", domain in "[a-z0-9]{1,20}(\\.[a-z]{2,10}){1,2}") {
        let raw = format!("{local}@{domain}");
        let email = Email::parse(&raw).expect("a plain ASCII address");
        prop_assert_eq!(email.as_str(), raw.as_str());
        prop_assert_eq!(email.key(), raw.to_lowercase());
    }

    /// A Latin address with one Cyrillic or Greek look-alike letter, or an invisible character,
    /// is refused rather than registered beside the real one.
    #[test]
    fn look_alike_emails_are_refused(
        local in "[a-z]{2,12}",
        at in any::<usize>(),
        (c, invisible) in prop_oneof![
            Just(('\u{0430}', false)), Just(('\u{043e}', false)), Just(('\u{03bf}', false)), Just(('\u{0435}', false)),
            Just(('\u{200b}', true)), Just(('\u{200d}', true)), Just(('\u{00ad}', true)), Just(('\u{2066}', true)), Just(('\u{202e}', true)),
        ],
        in_domain in any::<bool>(),
    ) {
        let mut part: Vec<char> = local.chars().collect();
        part.insert(at % (part.len() + 1), c);
        let part: String = part.into_iter().collect();
        let raw = if in_domain { format!("alice@{part}.com") } else { format!("{part}@example.com") };
        let result = Email::parse_new(&raw);
        if invisible {
            prop_assert!(result.is_err(), "{raw:?}");
        } else {
            prop_assert_eq!(result, Err(EmailError::LookAlike), "{:?}", raw);
        }
    }

    // ------------------------------------------------------------------------------ redirect URIs

    /// Registration never panics; what it accepts is canonical, absolute, without fragment or
    /// userinfo, https or loopback http, and registers again unchanged.
    #[test]
    fn redirect_uri_registration_never_panics(raw in support::text(corpus("redirect_uri"))) {
        if let Ok(uri) = RedirectUri::register(&raw) {
            prop_assert_eq!(uri.as_str(), raw.as_str());
            let url = Url::parse(&raw).unwrap();
            prop_assert_eq!(url.as_str(), raw.as_str());
            prop_assert!(url.fragment().is_none() && !raw.contains('#') && !raw.contains('@') && !raw.contains('*'));
            prop_assert!(url.scheme() == "https" || url.scheme() == "http");
            if url.scheme() == "http" {
                let host = url.host_str().unwrap_or_default();
                prop_assert!(host == "localhost" || host == "[::1]" || host.starts_with("127."), "{raw}");
            }
            prop_assert_eq!(RedirectUri::register(uri.as_str()), Ok(uri));
        }
    }

    #[test]
    fn canonical_redirect_uris_are_accepted(raw in canonical_redirect_uri()) {
        prop_assert_eq!(RedirectUri::register(&raw).map(|u| u.as_str().to_owned()), Ok(raw));
    }

    /// `find_match` only ever returns one of the registered strings. With `Exact` that is the
    /// requested string itself; with `Any` anything else differs from the request only in the
    /// port of an http loopback IP literal (RFC 8252 §7.3).
    #[test]
    fn find_match_only_returns_registered_uris(
        (registered, requested) in proptest::collection::vec(
            prop_oneof![canonical_redirect_uri(), support::text(corpus("redirect_uri"))], 1..4,
        ).prop_flat_map(|reg| (Just(reg.clone()), requested_uri(reg))),
    ) {
        let exact = find_match(&registered, &requested, LoopbackPorts::Exact);
        prop_assert_eq!(exact, registered.iter().find(|r| **r == requested).map(String::as_str));
        if let Some(found) = find_match(&registered, &requested, LoopbackPorts::Any) {
            prop_assert!(registered.iter().any(|r| std::ptr::eq(r.as_str(), found)), "not a registered string");
            if found != requested {
                let (mut a, mut b) = (Url::parse(found).unwrap(), Url::parse(&requested).unwrap());
                prop_assert_eq!(b.as_str(), requested.as_str(), "the request is canonical");
                prop_assert_eq!(b.scheme(), "http");
                prop_assert!(matches!(b.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                    || matches!(b.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback()), "{requested}");
                a.set_port(None).unwrap();
                b.set_port(None).unwrap();
                prop_assert_eq!(a, b);
            }
        }
    }

    /// RFC 6749 §4.1.2: the response parameters are appended to the registered URI's query,
    /// which is kept; each value reads back exactly, whatever it contains.
    #[test]
    fn redirect_response_query_round_trips(
        uri in canonical_redirect_uri(),
        params in proptest::collection::vec(("[a-z_]{1,10}", any::<String>()), 0..4),
    ) {
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = redirect_with(&uri, &borrowed);
        let before: Vec<(String, String)> = Url::parse(&uri).unwrap().query_pairs().into_owned().collect();
        let after: Vec<(String, String)> = Url::parse(&out).unwrap().query_pairs().into_owned().collect();
        prop_assert_eq!(&after[..before.len()], &before[..]);
        prop_assert_eq!(&after[before.len()..], &params[..]);
        prop_assert!(out.starts_with(uri.split('?').next().unwrap()));
    }

    /// RFC 7636 §4.1, §4.6: a verifier matches its own S256 challenge and nothing else; the
    /// challenge is valid; `plain` (verifier = challenge) never passes.
    #[test]
    fn pkce_s256_round_trips(verifier in "[A-Za-z0-9._~-]{43,128}", other in support::text(corpus("pkce"))) {
        let challenge = b64(Sha256::digest(verifier.as_bytes()));
        prop_assert!(pkce::valid_challenge(&challenge));
        prop_assert!(pkce::verify_s256(&verifier, &challenge));
        prop_assert!(!pkce::verify_s256(&challenge, &challenge));
        if other != verifier {
            prop_assert!(!pkce::verify_s256(&other, &challenge));
        }
        let _ = pkce::valid_challenge(&other);
        prop_assert!(!pkce::verify_s256(&other, &other));
    }

    /// A client's JWK Set (RFC 7591 §2): never panics; what registers holds only public keys of
    /// the three allowed algorithms, one parsed key for each listed key.
    #[test]
    fn client_jwks_never_panics(doc in support::bytes(corpus("client_jwks"))) {
        let Ok(value) = serde_json::from_slice::<Value>(&doc) else { return Ok(()) };
        let _ = ClientJwks::from_stored(value.clone());
        if let Ok(set) = ClientJwks::parse(value.clone()) {
            let listed = value["keys"].as_array().unwrap();
            prop_assert_eq!(set.keys().len(), listed.len());
            for jwk in listed {
                prop_assert!(PRIVATE_MEMBERS.iter().all(|m| jwk.get(m).is_none()), "{jwk}");
                prop_assert!(["ES256", "EdDSA", "RS256"].contains(&jwk["alg"].as_str().unwrap_or_default()));
            }
        }
    }

    /// Random and mutated assertions never panic and never verify.
    #[test]
    fn arbitrary_assertions_never_verify(assertion in support::text(corpus("client_assertion"))) {
        let _ = claimed_client_id(&assertion);
        prop_assert!(verify_assertion(&assertion, &assertion_client().client, &AUDIENCES, NOW).is_err());
    }

    /// Signed by the client's key over arbitrary (mutated) claims: never panics, and whatever is
    /// accepted meets RFC 7523 §3 (iss = sub = client id, our audience, a short future exp,
    /// a jti). A tampered copy of an accepted assertion is refused.
    #[test]
    fn signed_assertions_are_accepted_only_when_valid(
        payload in support::bytes(vec![good_claims().to_string().into_bytes(),
            json!({"iss": "c1", "sub": "c1", "aud": ["x", AUDIENCES[0]], "exp": NOW + 300, "nbf": NOW, "jti": "j"}).to_string().into_bytes()]),
        kid in prop_oneof![Just(Some("k1")), Just(None), Just(Some("k2"))],
        edits in support::edits(),
    ) {
        let mut header = json!({"alg": "ES256"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let token = sign_assertion(&header, &payload);
        // serde_json skips the strings of members it ignores without checking their escapes, so a
        // payload may be readable as claims but not as a `Value` (a lone surrogate elsewhere).
        let value = serde_json::from_slice::<Value>(&payload);
        if let (Some(claimed), Ok(c)) = (claimed_client_id(&token), &value) {
            prop_assert_eq!(Some(claimed.as_str()), c["sub"].as_str());
        }
        let Ok(accepted) = verify_assertion(&token, &assertion_client().client, &AUDIENCES, NOW) else { return Ok(()) };
        let Ok(c) = value else { return Ok(()) };
        prop_assert_eq!(c["iss"].as_str(), Some("c1"));
        prop_assert_eq!(c["sub"].as_str(), Some("c1"));
        let aud_ok = match &c["aud"] {
            Value::String(a) => AUDIENCES.contains(&a.as_str()),
            Value::Array(list) => list.iter().any(|a| a.as_str().is_some_and(|a| AUDIENCES.contains(&a))),
            _ => false,
        };
        prop_assert!(aud_ok);
        let exp = c["exp"].as_i64().unwrap();
        prop_assert!(NOW < exp + 30 && exp <= NOW + 330);
        let jti = c["jti"].as_str().unwrap();
        prop_assert!(!jti.is_empty() && jti.len() <= 256);
        prop_assert_eq!(accepted.jti_hash, Sha256::digest(jti.as_bytes()).to_vec());
        let tampered = String::from_utf8_lossy(&support::apply(token.clone().into_bytes(), &edits)).into_owned();
        if tampered != token {
            prop_assert!(verify_assertion(&tampered, &assertion_client().client, &AUDIENCES, NOW).is_err(), "{tampered}");
        }
    }

    /// RFC 8725 §3.1 for assertions: `none`, HS256 (keyed with the public JWK) and every other
    /// algorithm than the key's are refused, even over a genuine signature.
    #[test]
    fn assertions_with_a_foreign_alg_never_verify(
        alg in prop_oneof![Just("none"), Just("NONE"), Just("HS256"), Just("RS256"), Just("EdDSA"), Just("es256"), Just("")],
        genuine in any::<bool>(),
    ) {
        let header = json!({"alg": alg, "kid": "k1"});
        let input = format!("{}.{}", b64(header.to_string()), b64(good_claims().to_string()));
        let sig = if genuine {
            assertion_client().pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec()
        } else {
            let jwk = assertion_client().client.jwks.as_ref().unwrap().as_json().to_string();
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, jwk.as_bytes()), input.as_bytes()).as_ref().to_vec()
        };
        let token = format!("{input}.{}", b64(sig));
        prop_assert!(verify_assertion(&token, &assertion_client().client, &AUDIENCES, NOW).is_err());
    }

    // ------------------------------------------------------------------------------ AuthZEN requests

    /// Decision request JSON: never panics (parse, check, Cedar translation and evaluation);
    /// what parses serialises and parses back to the same request.
    #[test]
    fn decision_requests_never_panic(doc in support::bytes(corpus("authzen")), now in any::<i64>()) {
        let Ok(req) = serde_json::from_slice::<DecisionRequest>(&doc) else { return Ok(()) };
        let back: DecisionRequest = serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
        prop_assert_eq!(&back, &req);
        let _ = (req.permission(), req.is_admin_relevant());
        if let Ok(kind) = req.check() {
            let facts = SubjectFacts { roles: vec![("reader".into(), vec![req.permission()])] };
            let decision = policy::evaluate(compiled(), &req, kind, &facts, now);
            let _ = format!("{decision:?}");
        }
    }

    // ------------------------------------------------------------------------------ other untrusted strings

    /// A federation `return_to` is a path on our own origin, whatever page it is resolved from.
    #[test]
    fn return_to_never_leaves_the_origin(raw in support::text(corpus("return_to"))) {
        if let Some(path) = ReturnTo::parse(&raw) {
            prop_assert_eq!(&path, &raw);
            prop_assert!(path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\"));
            for base in ["https://id.example.com/", "https://id.example.com/a/b/c?x=1#f", "http://127.0.0.1:8080/login"] {
                let base = Url::parse(base).unwrap();
                prop_assert_eq!(base.join(&path).unwrap().origin(), base.origin(), "{:?}", path);
            }
        }
    }

    #[test]
    fn user_ids_round_trip(raw in prop_oneof![support::text(vec![b"0190a1b2-0000-7000-8000-00000000000a".to_vec()]), any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())]) {
        if let Some(id) = UserId::parse(&raw) {
            prop_assert_eq!(UserId::parse(&id.to_string()), Some(id));
        }
    }

    /// Cookie values reach core as opaque strings: any value hashes, nothing panics.
    #[test]
    fn cookie_values_never_panic(raw in any::<String>()) {
        let token = gatehouse_core::SessionToken::from_cookie(&raw);
        prop_assert_eq!(token.hash().len(), 32);
        prop_assert_eq!(token.expose(), raw.as_str());
        let binding = gatehouse_core::federation::BrowserBinding::from_cookie(&raw);
        prop_assert!(binding.matches(&binding.hash()));
    }
}

fn compiled() -> &'static Compiled {
    static C: std::sync::OnceLock<Compiled> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let c = Compiled::from_documents(&ActiveDocuments { revision: 1, schema: None, policies: vec![] });
        assert!(c.broken.is_none(), "the default schema compiles");
        c
    })
}

/// Every seed of every corpus goes through its parser once, and the seeds that name a known
/// trick are refused.
#[test]
fn seed_corpora_are_refused_where_they_should_be() {
    let text = |name| support::corpus_text(MANIFEST, name);
    for s in text("scope") {
        let _ = Scope::parse(&s);
    }
    for s in text("email") {
        let _ = Email::parse(&s);
    }
    for s in text("redirect_uri") {
        let _ = RedirectUri::register(&s);
    }
    for s in text("client_assertion") {
        assert!(verify_assertion(&s, &assertion_client().client, &AUDIENCES, NOW).is_err(), "{s}");
    }
    for s in text("return_to") {
        let ok = ReturnTo::parse(&s).is_some();
        assert_eq!(
            ok,
            s == "/account" || s.starts_with("/oauth2/authorize?") || s == "/../../evil" || s == "/%2F%2Fevil.test",
            "{s:?}"
        );
    }
    for d in corpus("authzen") {
        if let Ok(r) = serde_json::from_slice::<DecisionRequest>(&d) {
            let _ = r.check();
        }
    }
    for name in ["zwsp", "cyrillic-a", "bidi"] {
        let raw = std::fs::read_to_string(format!("{MANIFEST}/tests/corpus/email/{name}")).unwrap();
        assert_eq!(Email::parse_new(&raw), Err(EmailError::LookAlike), "{name}");
    }
    for name in [
        "fragment",
        "wildcard",
        "userinfo",
        "javascript",
        "data",
        "upper",
        "default-port",
        "dotdot",
        "reserved",
        "backslash",
    ] {
        let raw = std::fs::read_to_string(format!("{MANIFEST}/tests/corpus/redirect_uri/{name}")).unwrap();
        assert!(RedirectUri::register(&raw).is_err(), "{name}: {raw}");
    }
}
