//! Every algorithm verifies; every forgery of issue 6 is refused.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::*;
use crate::test_support::*;

fn run(token: &str, keys: &KeySet) -> Result<AccessClaims, VerifyError> {
    verify(token, keys, &validation(), NOW)
}

#[test]
fn every_algorithm_verifies() {
    for key in TestKey::all("k1") {
        let keys = key_set(&[&key]);
        let claims = run(&key.token(&claims(NOW)), &keys).unwrap_or_else(|e| panic!("{}: {e}", key.alg));
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.aud, [AUDIENCE]);
        assert!(claims.has_scope("posts:write"));
    }
}

#[test]
fn the_right_key_is_picked_by_kid() {
    let (a, b) = (TestKey::es256("a"), TestKey::ed25519("b"));
    let keys = key_set(&[&a, &b]);
    assert!(run(&a.token(&claims(NOW)), &keys).is_ok());
    assert!(run(&b.token(&claims(NOW)), &keys).is_ok());
}

#[test]
fn typ_is_at_jwt_in_either_spelling() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"] {
        let header = json!({"alg": "ES256", "typ": typ, "kid": "k"});
        assert!(run(&key.token_with(&header, &claims(NOW)), &keys).is_ok(), "{typ}");
    }
    for typ in [json!("JWT"), json!("jwt"), json!("at+jwt "), json!("application/jwt"), json!("x/at+jwt")] {
        let header = json!({"alg": "ES256", "typ": typ, "kid": "k"});
        assert_eq!(run(&key.token_with(&header, &claims(NOW)), &keys).unwrap_err(), VerifyError::WrongType, "{typ}");
    }
    let header = json!({"alg": "ES256", "kid": "k"});
    assert_eq!(run(&key.token_with(&header, &claims(NOW)), &keys).unwrap_err(), VerifyError::WrongType);
    let header = json!({"alg": "ES256", "typ": null, "kid": "k"});
    assert!(matches!(run(&key.token_with(&header, &claims(NOW)), &keys), Err(VerifyError::Header(_))));
}

#[test]
fn alg_none_in_any_spelling_is_refused() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "k"});
        let unsigned = format!("{}.{}.", b64(header.to_string()), b64(claims(NOW).to_string()));
        assert_eq!(run(&unsigned, &keys).unwrap_err(), VerifyError::NoneAlgorithm, "{alg}");
        // Even with a valid ES256 signature attached.
        assert_eq!(run(&key.token_with(&header, &claims(NOW)), &keys).unwrap_err(), VerifyError::NoneAlgorithm);
    }
    // Without a kid too.
    let header = json!({"alg": "none", "typ": "at+jwt"});
    let unsigned = format!("{}.{}.", b64(header.to_string()), b64(claims(NOW).to_string()));
    assert_eq!(run(&unsigned, &keys).unwrap_err(), VerifyError::NoneAlgorithm);
}

#[test]
fn hs256_signed_with_an_rsa_public_key_is_refused() {
    let key = TestKey::rs256("rsa");
    let keys = key_set(&[&key]);
    let Signer::Rsa(pair) = &key.signer else { unreachable!() };
    let jwk = key.jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "rsa"});
    let secrets: [Vec<u8>; 3] = [pair.public_key().as_ref().to_vec(), n, jwk.to_string().into_bytes()];
    for secret in secrets {
        let forged = hs256_token(&header, &claims(NOW), &secret);
        assert!(
            matches!(run(&forged, &keys), Err(VerifyError::AlgorithmMismatch { key: Algorithm::Rs256, .. })),
            "{:?}",
            run(&forged, &keys)
        );
    }
}

#[test]
fn hs256_signed_with_an_ec_jwk_is_refused() {
    for key in [TestKey::es256("ec"), TestKey::ed25519("ec")] {
        let keys = key_set(&[&key]);
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "ec"});
        for secret in [key.jwk().to_string().into_bytes(), serde_json::to_vec_pretty(&key.jwk()).unwrap()] {
            let forged = hs256_token(&header, &claims(NOW), &secret);
            assert!(matches!(run(&forged, &keys), Err(VerifyError::AlgorithmMismatch { .. })));
        }
    }
}

#[test]
fn alg_must_match_the_key_exactly() {
    let es = TestKey::es256("k");
    let keys = key_set(&[&es]);
    for alg in ["es256", "RS256", "EdDSA", "ES384", "PS256"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "k"});
        let err = run(&es.token_with(&header, &claims(NOW)), &keys).unwrap_err();
        assert_eq!(err, VerifyError::AlgorithmMismatch { key: Algorithm::Es256, token: alg.into() });
    }
    // An HS256 key cannot be used with an asymmetric alg either.
    let hs = TestKey::hs256("h");
    let keys = key_set(&[&hs]);
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "h"});
    assert!(matches!(run(&hs.token_with(&header, &claims(NOW)), &keys), Err(VerifyError::AlgorithmMismatch { .. })));
}

#[test]
fn kid_is_required_and_must_be_known() {
    let key = TestKey::ed25519("known");
    let keys = key_set(&[&key]);
    let header = json!({"alg": "EdDSA", "typ": "at+jwt"});
    assert_eq!(run(&key.token_with(&header, &claims(NOW)), &keys).unwrap_err(), VerifyError::MissingKid);
    let stranger = TestKey::ed25519("stranger");
    assert_eq!(run(&stranger.token(&claims(NOW)), &keys).unwrap_err(), VerifyError::UnknownKid("stranger".into()));
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": 7});
    assert!(matches!(run(&key.token_with(&header, &claims(NOW)), &keys), Err(VerifyError::Header(_))));
}

#[test]
fn key_carrying_headers_are_refused() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    let cases = [
        ("jku", json!("https://attacker.example/jwks")),
        ("jwk", key.jwk()),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
        ("jku", Value::Null),
    ];
    for (name, value) in cases {
        let mut header = key.header();
        header[name] = value;
        let err = run(&key.token_with(&header, &claims(NOW)), &keys).unwrap_err();
        assert_eq!(err, VerifyError::ForbiddenHeader(name));
    }
    // Unknown header members are ignored (RFC 7515 §4).
    let mut header = key.header();
    header["x5t#S256"] = json!("abc");
    header["cty"] = json!("ignored");
    assert!(run(&key.token_with(&header, &claims(NOW)), &keys).is_ok());
}

#[test]
fn issuer_and_audience_must_match() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    for iss in [json!("https://id.example.test/"), json!("https://evil.test"), json!("HTTPS://ID.EXAMPLE.TEST")] {
        let mut c = claims(NOW);
        c["iss"] = iss;
        assert_eq!(run(&key.token(&c), &keys).unwrap_err(), VerifyError::WrongIssuer);
    }
    let mut c = claims(NOW);
    c["aud"] = json!("https://other.example.test");
    assert_eq!(run(&key.token(&c), &keys).unwrap_err(), VerifyError::WrongAudience);
    c["aud"] = json!([]);
    assert_eq!(run(&key.token(&c), &keys).unwrap_err(), VerifyError::WrongAudience);
    c["aud"] = json!(["https://other.example.test", AUDIENCE]);
    assert!(run(&key.token(&c), &keys).is_ok());
    // A guard configured with no audience accepts nothing.
    let v = Validation::new(ISSUER, Vec::<String>::new());
    assert_eq!(verify(&key.token(&claims(NOW)), &keys, &v, NOW).unwrap_err(), VerifyError::WrongAudience);
}

#[test]
fn expiry_honours_a_capped_leeway() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    let token = key.token(&claims(NOW)); // exp = NOW + 900, leeway 30
    assert!(run(&token, &keys).is_ok());
    assert!(verify(&token, &keys, &validation(), NOW + 929).is_ok());
    assert_eq!(verify(&token, &keys, &validation(), NOW + 930).unwrap_err(), VerifyError::Expired);
    let strict = validation().with_leeway(0);
    assert!(verify(&token, &keys, &strict, NOW + 899).is_ok());
    assert_eq!(verify(&token, &keys, &strict, NOW + 900).unwrap_err(), VerifyError::Expired);
    // A leeway set above the cap counts as 60 seconds.
    let mut lax = validation();
    lax.leeway_secs = 3600;
    assert!(verify(&token, &keys, &lax, NOW + 959).is_ok());
    assert_eq!(verify(&token, &keys, &lax, NOW + 960).unwrap_err(), VerifyError::Expired);
    assert_eq!(validation().with_leeway(3600).leeway_secs, 60);
    let mut c = claims(NOW);
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(run(&key.token(&c), &keys), Err(VerifyError::Claims(_))));
}

#[test]
fn tokens_from_the_future_are_refused() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    let mut c = claims(NOW);
    c["nbf"] = json!(NOW + 30);
    assert!(run(&key.token(&c), &keys).is_ok());
    c["nbf"] = json!(NOW + 31);
    assert_eq!(run(&key.token(&c), &keys).unwrap_err(), VerifyError::NotYetValid);
    let mut c = claims(NOW + 31);
    assert_eq!(run(&key.token(&c), &keys).unwrap_err(), VerifyError::IssuedInFuture);
    c["iat"] = json!(NOW + 30);
    assert!(run(&key.token(&c), &keys).is_ok());
}

#[test]
fn tampering_breaks_the_signature() {
    for key in TestKey::all("k") {
        let keys = key_set(&[&key]);
        let token = key.token(&claims(NOW));
        let (_, sig) = token.rsplit_once('.').unwrap();
        let mut evil = claims(NOW);
        evil["sub"] = json!("admin");
        let forged = format!("{}.{}.{sig}", b64(key.header().to_string()), b64(evil.to_string()));
        assert_eq!(run(&forged, &keys).unwrap_err(), VerifyError::BadSignature, "{}", key.alg);
        // Same header and claims, re-serialised differently: the signing input changed.
        let pretty = serde_json::to_string_pretty(&claims(NOW)).unwrap();
        let reencoded = format!("{}.{}.{sig}", b64(key.header().to_string()), b64(pretty));
        assert_eq!(run(&reencoded, &keys).unwrap_err(), VerifyError::BadSignature);
        let mut header = key.header();
        header["extra"] = json!(1);
        let parts: Vec<_> = token.split('.').collect();
        let forged = format!("{}.{}.{}", b64(header.to_string()), parts[1], parts[2]);
        assert_eq!(run(&forged, &keys).unwrap_err(), VerifyError::BadSignature);
    }
}

#[test]
fn a_signature_from_another_key_with_the_same_kid_is_refused() {
    for key in TestKey::all("shared") {
        let keys = key_set(&[&key]);
        let twin = key.twin();
        assert_eq!(run(&twin.token(&claims(NOW)), &keys).unwrap_err(), VerifyError::BadSignature, "{}", key.alg);
    }
}

#[test]
fn es256_needs_the_fixed_signature_form() {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let fixed = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let der = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let key = TestKey { kid: "k".into(), alg: Algorithm::Es256, signer: Signer::Ec(fixed) };
    let keys = key_set(&[&key]);
    assert!(run(&key.token(&claims(NOW)), &keys).is_ok());
    // The same private key, signing in ASN.1 DER form.
    let input = format!("{}.{}", b64(key.header().to_string()), b64(claims(NOW).to_string()));
    let sig = der.sign(&rng, input.as_bytes()).unwrap();
    assert_eq!(run(&format!("{input}.{}", b64(sig.as_ref())), &keys).unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn structure_must_be_three_unpadded_base64url_parts() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    let token = key.token(&claims(NOW));
    let parts: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let malformed = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b.c".into(),
        "garbage".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{s}=="),
        format!(" {token}"),
        format!("{token} "),
        format!("{h}.{p}.+{}", &s[1..]),
        format!("{h}.{p}./{}", &s[1..]),
        format!("{h}..{s}"),
        format!("{h}.{p}."),
    ];
    for t in &malformed {
        assert!(matches!(run(t, &keys), Err(VerifyError::Malformed(_) | VerifyError::Header(_))), "{t:?}");
    }
    // Standard-alphabet characters, padding or extra bytes in the payload never verify either.
    for t in [format!("{h}.{p}=.{s}"), format!("{h}.{p}AA.{s}"), format!("{h}.+{}.{s}", &p[1..])] {
        assert!(run(&t, &keys).is_err(), "{t:?}");
    }
    assert!(run(&format!("{token}{}", "A".repeat(MAX_TOKEN_LEN))[..], &keys).unwrap_err() == VerifyError::TooLong);
}

#[test]
fn non_canonical_base64_is_refused() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    let token = key.token(&claims(NOW));
    let (rest, sig) = token.rsplit_once('.').unwrap();
    // 64 bytes encode to 86 characters; the last one carries 4 unused bits, which must be zero.
    let mut chars: Vec<char> = sig.chars().collect();
    let last = chars.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let sibling = alphabet.chars().nth(idx ^ 1).unwrap();
    let tweaked: String = chars.into_iter().chain([sibling]).collect();
    assert!(matches!(run(&format!("{rest}.{tweaked}"), &keys), Err(VerifyError::Malformed(_))));
}

#[test]
fn header_and_payload_must_be_json_objects() {
    let key = TestKey::es256("k");
    let keys = key_set(&[&key]);
    let array_header = json!(["ES256", "k", "at+jwt"]);
    let t = key.token_with(&array_header, &claims(NOW));
    assert_eq!(run(&t, &keys).unwrap_err(), VerifyError::Malformed("the header is not a JSON object"));
    let dup = r#"{"alg":"ES256","typ":"at+jwt","kid":"k","alg":"HS256"}"#;
    let input = format!("{}.{}", b64(dup), b64(claims(NOW).to_string()));
    let t = format!("{input}.{}", b64(key.sign(input.as_bytes())));
    assert!(matches!(run(&t, &keys), Err(VerifyError::Header(_))));
    let input = format!("{}.{}", b64(key.header().to_string()), b64("[1,2,3]"));
    let t = format!("{input}.{}", b64(key.sign(input.as_bytes())));
    assert_eq!(run(&t, &keys).unwrap_err(), VerifyError::Malformed("the payload is not a JSON object"));
    let t = key.token(&json!({"iss": ISSUER}));
    assert!(matches!(run(&t, &keys), Err(VerifyError::Claims(_))));
}

#[test]
fn clients_only_ever_see_invalid_token() {
    let errors = [VerifyError::BadSignature, VerifyError::Expired, VerifyError::NoneAlgorithm, VerifyError::TooLong];
    for e in errors {
        assert_eq!(e.rfc6750_error(), "invalid_token");
    }
    assert_eq!(VerifyError::Expired.client_description(), "The access token expired");
    assert_eq!(VerifyError::WrongAudience.client_description(), "The access token is invalid");
}

#[test]
fn header_strings_are_borrowed_not_copied() {
    let json = br#"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#;
    let h: Header<'_> = serde_json::from_slice(json).unwrap();
    assert!(matches!(h.alg, Cow::Borrowed("ES256")));
    assert!(matches!(h.kid, Some(Cow::Borrowed("k1"))));
    assert!(matches!(h.typ, Some(Cow::Borrowed("at+jwt"))));
    // Escaped strings still work, as owned copies.
    let h: Header<'_> =
        serde_json::from_slice(br#"{"alg":"ES256","typ":"application\/at+jwt","kid":"k\u0031"}"#).unwrap();
    assert_eq!(h.kid.as_deref(), Some("k1"));
    assert!(validation().typ_ok(h.typ.as_deref().unwrap()));
}

/// `verify_jws` (client assertions, RFC 7523 §3): the same header rules as access tokens, but
/// `typ` and `kid` are optional and the caller picks the key.
#[test]
fn verify_jws_checks_signature_and_header_but_leaves_claims_to_the_caller() {
    let (key, other) = (TestKey::es256("k"), TestKey::ed25519("o"));
    let vk = key.verification_key();
    let body = json!({"iss": "client", "anything": 1});
    let plain = key.token_with(&json!({"alg": "ES256"}), &body);
    let mut asked = None;
    let payload = verify_jws(&plain, |alg, kid| {
        asked = Some((alg.to_owned(), kid.map(str::to_owned)));
        Some(&vk)
    })
    .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), body);
    assert_eq!(asked, Some(("ES256".to_owned(), None)));
    // No key chosen, a key of another algorithm, a foreign signature, `none`, key-carrying headers.
    assert!(matches!(verify_jws(&plain, |_, _| None), Err(VerifyError::UnknownKid(_))));
    let ovk = other.verification_key();
    assert!(matches!(verify_jws(&plain, |_, _| Some(&ovk)), Err(VerifyError::AlgorithmMismatch { .. })));
    let forged = other.token_with(&json!({"alg": "ES256", "kid": "k"}), &body);
    assert_eq!(verify_jws(&forged, |_, _| Some(&vk)).unwrap_err(), VerifyError::BadSignature);
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(body.to_string()));
    assert_eq!(verify_jws(&unsigned, |_, _| Some(&vk)).unwrap_err(), VerifyError::NoneAlgorithm);
    let jku = key.token_with(&json!({"alg": "ES256", "jku": "https://evil.example/jwks"}), &body);
    assert_eq!(verify_jws(&jku, |_, _| Some(&vk)).unwrap_err(), VerifyError::ForbiddenHeader("jku"));
    let array = key.token_with(&json!({"alg": "ES256"}), &json!([1]));
    assert!(matches!(verify_jws(&array, |_, _| Some(&vk)), Err(VerifyError::Malformed(_))));
}
