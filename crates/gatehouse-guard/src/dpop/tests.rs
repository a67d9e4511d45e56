//! RFC 9449 §4.3: each check of a DPoP proof, one test per point where a proof can fail.

use serde_json::{Value, json};

use super::*;
use crate::test_support::{NOW, TestKey, b64};

const URI: &str = "https://id.example.test/oauth2/token";

fn req() -> ProofRequest<'static> {
    ProofRequest {
        method: "POST",
        uri: URI,
        access_token: None,
        now: NOW,
        max_age_secs: ProofRequest::DEFAULT_MAX_AGE_SECS,
        leeway_secs: ProofRequest::DEFAULT_LEEWAY_SECS,
    }
}

/// The public JWK of `key` as a DPoP client sends it: no `kid`, no `alg`, no `use`.
fn bare_jwk(key: &TestKey) -> Value {
    let mut jwk = key.jwk();
    for m in ["kid", "alg", "use"] {
        jwk.as_object_mut().unwrap().remove(m);
    }
    jwk
}

fn header(key: &TestKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.alg.as_str(), "jwk": bare_jwk(key)})
}

fn claims() -> Value {
    json!({"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": URI, "iat": NOW})
}

fn proof(key: &TestKey, header: &Value, claims: &Value) -> String {
    key.token_with(header, claims)
}

#[test]
fn rfc9449_s4_3_a_good_proof_of_each_algorithm_verifies() {
    for key in [TestKey::es256("k"), TestKey::ed25519("k"), TestKey::rs256("k")] {
        let p = verify_proof(&proof(&key, &header(&key), &claims()), &req()).unwrap();
        assert_eq!(p.jkt, jwk_thumbprint(&bare_jwk(&key)), "{:?}", key.alg);
        assert_eq!(p.jkt.len(), 43);
        assert_eq!(p.jti, "e1j3V_bKic8-LAEB");
        assert_eq!(p.iat, NOW);
        assert_eq!(p.nonce, None);
        assert_eq!(p.replay_until, NOW + 360);
    }
}

#[test]
fn rfc9449_s4_3_p2_the_value_must_be_one_well_formed_jwt() {
    let key = TestKey::es256("k");
    let good = proof(&key, &header(&key), &claims());
    for bad in ["", "a.b", "a.b.c.d", &format!("{good}.x"), &good.replace('.', ".."), "e30.e30.e30"] {
        assert!(matches!(verify_proof(bad, &req()), Err(DpopError::Malformed(_) | DpopError::WrongType)), "{bad:?}");
    }
    let long = "a".repeat(MAX_PROOF_LEN + 1);
    assert_eq!(verify_proof(&long, &req()), Err(DpopError::Malformed("the proof is too long")));
    // A JSON array where an object belongs.
    let array_claims = format!("{}.{}.{}", b64(header(&key).to_string()), b64("[1]"), good.rsplit('.').next().unwrap());
    assert!(verify_proof(&array_claims, &req()).is_err());
}

#[test]
fn rfc9449_s4_3_p3_every_required_claim_must_be_present() {
    let key = TestKey::es256("k");
    for missing in ["jti", "htm", "htu", "iat"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(missing);
        assert_eq!(verify_proof(&proof(&key, &header(&key), &c), &req()), Err(DpopError::MissingClaim(missing)));
    }
    let mut empty_jti = claims();
    empty_jti["jti"] = json!("");
    assert_eq!(verify_proof(&proof(&key, &header(&key), &empty_jti), &req()), Err(DpopError::MissingClaim("jti")));
    let mut no_jwk = header(&key);
    no_jwk.as_object_mut().unwrap().remove("jwk");
    assert_eq!(verify_proof(&proof(&key, &no_jwk, &claims()), &req()), Err(DpopError::MissingClaim("jwk")));
}

#[test]
fn rfc9449_s4_3_p4_typ_must_be_dpop_jwt() {
    let key = TestKey::es256("k");
    for typ in [json!("JWT"), json!("at+jwt"), json!("DPoP+JWT"), json!("application/dpop+jwt"), Value::Null] {
        let mut h = header(&key);
        h["typ"] = typ.clone();
        assert_eq!(verify_proof(&proof(&key, &h, &claims()), &req()), Err(DpopError::WrongType), "{typ}");
    }
}

#[test]
fn rfc9449_s4_3_p5_the_algorithm_must_be_asymmetric_and_supported() {
    let key = TestKey::es256("k");
    for alg in ["none", "HS256", "ES384", "PS256", "es256"] {
        let mut h = header(&key);
        h["alg"] = json!(alg);
        assert_eq!(verify_proof(&proof(&key, &h, &claims()), &req()), Err(DpopError::UnsupportedAlgorithm), "{alg}");
    }
    // An HMAC "proof" with an oct key in the header.
    let hs = TestKey::hs256("k");
    let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": hs.jwk()});
    assert_eq!(verify_proof(&proof(&hs, &h, &claims()), &req()), Err(DpopError::UnsupportedAlgorithm));
}

#[test]
fn rfc9449_s4_3_p6_the_signature_must_verify_with_the_header_key() {
    let key = TestKey::es256("k");
    let other = TestKey::es256("k");
    // Signed by another key than the one in the header.
    assert_eq!(verify_proof(&proof(&other, &header(&key), &claims()), &req()), Err(DpopError::BadSignature));
    // The claims changed after signing.
    let good = proof(&key, &header(&key), &claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut c = claims();
    c["htu"] = json!("https://id.example.test/oauth2/token");
    c["jti"] = json!("another");
    let tampered = b64(c.to_string());
    parts[1] = &tampered;
    assert_eq!(verify_proof(&parts.join("."), &req()), Err(DpopError::BadSignature));
    // The key does not fit the algorithm.
    let mut h = header(&key);
    h["alg"] = json!("EdDSA");
    assert!(matches!(verify_proof(&proof(&key, &h, &claims()), &req()), Err(DpopError::BadKey(_))));
}

#[test]
fn rfc9449_s4_3_p7_the_jwk_must_not_hold_a_private_key() {
    let key = TestKey::es256("k");
    let mut h = header(&key);
    h["jwk"]["d"] = json!(b64([7u8; 32]));
    assert!(
        matches!(verify_proof(&proof(&key, &h, &claims()), &req()), Err(DpopError::BadKey(e)) if e.contains("private"))
    );
}

#[test]
fn rfc9449_s4_3_p8_htm_must_match_the_method() {
    let key = TestKey::es256("k");
    for htm in ["GET", "post", "POST "] {
        let mut c = claims();
        c["htm"] = json!(htm);
        assert_eq!(verify_proof(&proof(&key, &header(&key), &c), &req()), Err(DpopError::WrongMethod), "{htm}");
    }
}

#[test]
fn rfc9449_s4_3_p9_htu_must_match_the_uri_without_query_or_fragment() {
    let key = TestKey::es256("k");
    for same in [
        "https://id.example.test/oauth2/token",
        "https://ID.Example.TEST/oauth2/token",
        "HTTPS://id.example.test:443/oauth2/token",
        "https://id.example.test/oauth2/token?x=1",
        "https://id.example.test/oauth2/token#f",
        "https://id.example.test/oauth2/./token",
    ] {
        let mut c = claims();
        c["htu"] = json!(same);
        assert!(verify_proof(&proof(&key, &header(&key), &c), &req()).is_ok(), "{same}");
    }
    for other in [
        "https://id.example.test/oauth2/token/",
        "http://id.example.test/oauth2/token",
        "https://id.example.test:8443/oauth2/token",
        "https://evil.example/oauth2/token",
        "https://id.example.test/oauth2/userinfo",
        "/oauth2/token",
        "urn:x:y",
    ] {
        let mut c = claims();
        c["htu"] = json!(other);
        assert_eq!(verify_proof(&proof(&key, &header(&key), &c), &req()), Err(DpopError::WrongUri), "{other}");
    }
    // The request's own query is ignored too.
    let with_query = ProofRequest { uri: "https://id.example.test/oauth2/token?a=b", ..req() };
    assert!(verify_proof(&proof(&key, &header(&key), &claims()), &with_query).is_ok());
}

#[test]
fn rfc9449_s4_3_p10_the_nonce_is_returned_for_the_caller_to_compare() {
    let key = TestKey::es256("k");
    let mut c = claims();
    c["nonce"] = json!("eyJ7S_zG.eyJH0-Z.HX4w-7v");
    assert_eq!(
        verify_proof(&proof(&key, &header(&key), &c), &req()).unwrap().nonce.as_deref(),
        Some("eyJ7S_zG.eyJH0-Z.HX4w-7v")
    );
}

#[test]
fn rfc9449_s4_3_p11_iat_must_be_within_the_window() {
    let key = TestKey::es256("k");
    for (iat, ok) in [(NOW - 300, true), (NOW - 301, false), (NOW + 60, true), (NOW + 61, false)] {
        let mut c = claims();
        c["iat"] = json!(iat);
        let r = verify_proof(&proof(&key, &header(&key), &c), &req());
        assert_eq!(r.is_ok(), ok, "iat {iat}: {r:?}");
        if !ok {
            assert_eq!(r, Err(DpopError::Stale));
        }
    }
    let mut c = claims();
    c["iat"] = json!("1800000000");
    assert!(matches!(verify_proof(&proof(&key, &header(&key), &c), &req()), Err(DpopError::Malformed(_))));
    c["iat"] = json!(1_800_000_000.5);
    assert!(verify_proof(&proof(&key, &header(&key), &c), &req()).is_ok(), "a NumericDate may have a fraction");
}

#[test]
fn rfc9449_s4_3_p12_ath_must_be_the_hash_of_the_presented_token() {
    let key = TestKey::es256("k");
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";
    let at_req = ProofRequest { method: "GET", uri: "https://api.example.test/r", access_token: Some(token), ..req() };
    let mut c = json!({"jti": "j", "htm": "GET", "htu": "https://api.example.test/r", "iat": NOW});
    assert_eq!(verify_proof(&proof(&key, &header(&key), &c), &at_req), Err(DpopError::MissingClaim("ath")));
    c["ath"] = json!(access_token_hash("another token"));
    assert_eq!(verify_proof(&proof(&key, &header(&key), &c), &at_req), Err(DpopError::WrongAth));
    c["ath"] = json!(access_token_hash(token));
    assert!(verify_proof(&proof(&key, &header(&key), &c), &at_req).is_ok());
}

#[test]
fn rfc9449_s4_2_ath_example_hash() {
    // RFC 9449 §7.1 Figure 12: the access token and its `ath` from the example request.
    let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    assert_eq!(access_token_hash(token), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
}

#[test]
fn crit_headers_are_refused() {
    let key = TestKey::es256("k");
    let mut h = header(&key);
    h["crit"] = json!(["exp"]);
    assert!(matches!(verify_proof(&proof(&key, &h, &claims()), &req()), Err(DpopError::Malformed(_))));
}

/// RFC 9449 Figure 5: the example token request's proof, signed by the key of Figure 4.
const RFC_TOKEN_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj",
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia",
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg",
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
);

/// RFC 9449 Figure 13: the example resource request's proof, with `ath`.
const RFC_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj",
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z",
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF",
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E",
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
);

/// RFC 9449 §6.1 Figure 9: the thumbprint of the examples' key.
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

#[test]
fn rfc9449_examples_verify_and_give_the_rfc_thumbprint() {
    let token_req = ProofRequest { uri: "https://server.example.com/token", now: 1_562_262_616, ..req() };
    let p = verify_proof(RFC_TOKEN_PROOF, &token_req).unwrap();
    assert_eq!((p.jkt.as_str(), p.jti.as_str(), p.iat), (RFC_JKT, "-BwC3ESc6acc2lTc", 1_562_262_616));

    let resource_req = ProofRequest {
        method: "GET",
        uri: "https://resource.example.org/protectedresource",
        access_token: Some("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        now: 1_562_262_618,
        ..req()
    };
    assert_eq!(verify_proof(RFC_RESOURCE_PROOF, &resource_req).unwrap().jkt, RFC_JKT);
    // The same proof for another token, method or resource fails.
    let other_token = ProofRequest { access_token: Some("another"), ..resource_req.clone() };
    assert_eq!(verify_proof(RFC_RESOURCE_PROOF, &other_token), Err(DpopError::WrongAth));
    let post = ProofRequest { method: "POST", ..resource_req.clone() };
    assert_eq!(verify_proof(RFC_RESOURCE_PROOF, &post), Err(DpopError::WrongMethod));
    // A day later it is stale.
    let later = ProofRequest { now: 1_562_262_618 + 86_400, ..resource_req };
    assert_eq!(verify_proof(RFC_RESOURCE_PROOF, &later), Err(DpopError::Stale));
}
