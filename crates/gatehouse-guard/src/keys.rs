//! Verification keys parsed once from a JWK Set (RFC 7517 §4–5, RFC 7518 §6).
//!
//! The key decides the algorithm (RFC 8725 §3.1): every key carries exactly one algorithm taken from
//! its JWK `alg` member, checked against `kty`/`crv`, and a token is only ever verified with the
//! algorithm of the key its `kid` names. Public keys are parsed into aws-lc-rs key objects here, so
//! verifying a token against a cached key set parses no key material.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// Longest `kid` accepted, in a JWK or a token header.
pub const MAX_KID_LEN: usize = 256;
/// RFC 7518 §3.3: RS256 keys must be at least 2048 bits.
const MIN_RSA_BITS: usize = 2048;
/// Upper bound of `RSA_PKCS1_2048_8192_SHA256`.
const MAX_RSA_BITS: usize = 8192;
/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
const MIN_HMAC_BYTES: usize = 32;
/// JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The signature algorithms a key may carry (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256; the signature is the 64-byte `r || s` form.
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, modulus 2048–8192 bits.
    Rs256,
    /// HMAC with SHA-256 over a shared secret of at least 32 bytes (first-party setups only).
    Hs256,
}

impl Algorithm {
    /// The JOSE name, exactly as it must appear in `alg`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Hs256 => "HS256",
        }
    }

    /// Parses a JOSE name; the match is exact (`es256` is not `ES256`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Es256, Self::EdDsa, Self::Rs256, Self::Hs256].into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one JWK cannot be used as a verification key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the JWK is not a JSON object")]
    NotAnObject,
    #[error("the JWK has no `{0}` member")]
    MissingMember(&'static str),
    #[error("the JWK member `{0}` is malformed")]
    InvalidMember(&'static str),
    #[error("the key is not meant for verifying signatures (`use`/`key_ops`)")]
    NotForSignatures,
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("`alg` {alg} does not fit kty {kty:?} / crv {crv:?}")]
    AlgorithmMismatch { alg: Algorithm, kty: String, crv: Option<String> },
    #[error("the JWK carries private key material (`{0}`)")]
    PrivateMaterial(&'static str),
    #[error("RSA modulus of {0} bits is outside 2048..=8192")]
    RsaKeySize(usize),
    #[error("HMAC secret of {0} bytes is shorter than 32 bytes")]
    WeakHmacSecret(usize),
    #[error("the key was rejected: {0}")]
    Rejected(&'static str),
}

enum Material {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// One verification key: its `kid`, the one algorithm it accepts and the parsed key.
pub struct VerificationKey {
    kid: String,
    algorithm: Algorithm,
    material: Material,
}

impl fmt::Debug for VerificationKey {
    // The key bytes are left out: for HS256 they are the shared secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey").field("kid", &self.kid).field("algorithm", &self.algorithm).finish()
    }
}

impl VerificationKey {
    /// Builds a key from one JWK. `kid` and `alg` are required; `alg` must fit `kty` and `crv`
    /// (`ES256`/EC P-256, `EdDSA`/OKP Ed25519, `RS256`/RSA ≥ 2048 bits, `HS256`/oct ≥ 32 bytes).
    /// Keys whose `use` is not `sig`, or whose `key_ops` lack `verify`, are refused; so are
    /// asymmetric keys that carry private members.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let obj = jwk.as_object().ok_or(KeyError::NotAnObject)?;
        check_intended_use(obj)?;
        let kid = kid_member(obj)?;
        let kty = str_member(obj, "kty")?;
        let alg_name = str_member(obj, "alg")?;
        let algorithm =
            Algorithm::from_name(alg_name).ok_or_else(|| KeyError::UnsupportedAlgorithm(alg_name.into()))?;
        let crv = obj.get("crv").and_then(Value::as_str);
        if kty != "oct"
            && let Some(member) = private_member(obj)
        {
            return Err(KeyError::PrivateMaterial(member));
        }
        let mismatch = || KeyError::AlgorithmMismatch { alg: algorithm, kty: kty.into(), crv: crv.map(Into::into) };
        let material = match (kty, crv, algorithm) {
            ("EC", Some("P-256"), Algorithm::Es256) => Material::Public(ec_p256(obj)?),
            ("OKP", Some("Ed25519"), Algorithm::EdDsa) => Material::Public(ed25519(obj)?),
            ("RSA", None, Algorithm::Rs256) => Material::Public(rsa(obj)?),
            ("oct", None, Algorithm::Hs256) => hmac_key(&b64_member(obj, "k")?)?,
            _ => return Err(mismatch()),
        };
        Ok(Self { kid, algorithm, material })
    }

    /// The public key a DPoP proof carries in its `jwk` header (RFC 9449 §4.2), for the
    /// header's `alg`: no `kid` is needed, `alg` in the JWK is optional but must then agree, and
    /// only asymmetric keys without private members are accepted (§4.3 points 5 and 7).
    pub fn from_proof_jwk(jwk: &Value, algorithm: Algorithm) -> Result<Self, KeyError> {
        let obj = jwk.as_object().ok_or(KeyError::NotAnObject)?;
        check_intended_use(obj)?;
        if let Some(member) = private_member(obj) {
            return Err(KeyError::PrivateMaterial(member));
        }
        if obj.get("alg").is_some_and(|a| a.as_str() != Some(algorithm.as_str())) {
            return Err(KeyError::InvalidMember("alg"));
        }
        let kty = str_member(obj, "kty")?;
        let crv = obj.get("crv").and_then(Value::as_str);
        let material = match (kty, crv, algorithm) {
            ("EC", Some("P-256"), Algorithm::Es256) => Material::Public(ec_p256(obj)?),
            ("OKP", Some("Ed25519"), Algorithm::EdDsa) => Material::Public(ed25519(obj)?),
            ("RSA", None, Algorithm::Rs256) => Material::Public(rsa(obj)?),
            _ => return Err(KeyError::AlgorithmMismatch { alg: algorithm, kty: kty.into(), crv: crv.map(Into::into) }),
        };
        Ok(Self { kid: String::new(), algorithm, material })
    }

    /// An HS256 key from a shared secret of at least 32 bytes, for first-party setups where the
    /// issuer and the resource server share a secret instead of publishing a JWKS.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, KeyError> {
        let kid = kid.into();
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err(KeyError::InvalidMember("kid"));
        }
        Ok(Self { kid, algorithm: Algorithm::Hs256, material: hmac_key(secret)? })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Checks `signature` over `message` with this key's one algorithm.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Public(key) => key.verify_sig(message, signature).is_ok(),
            // hmac::verify compares in constant time.
            Material::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

fn check_intended_use(obj: &Map<String, Value>) -> Result<(), KeyError> {
    // RFC 7517 §4.2/§4.3: `use` and `key_ops` restrict what a key may do.
    if let Some(u) = obj.get("use")
        && u.as_str() != Some("sig")
    {
        return Err(KeyError::NotForSignatures);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or(KeyError::InvalidMember("key_ops"))?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(KeyError::NotForSignatures);
        }
    }
    Ok(())
}

fn private_member(obj: &Map<String, Value>) -> Option<&'static str> {
    PRIVATE_MEMBERS.into_iter().find(|m| obj.contains_key(*m))
}

fn kid_member(obj: &Map<String, Value>) -> Result<String, KeyError> {
    let kid = str_member(obj, "kid")?;
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(KeyError::InvalidMember("kid"));
    }
    Ok(kid.to_owned())
}

fn str_member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, KeyError> {
    match obj.get(name) {
        None => Err(KeyError::MissingMember(name)),
        Some(v) => v.as_str().ok_or(KeyError::InvalidMember(name)),
    }
}

fn b64_member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    URL_SAFE_NO_PAD.decode(str_member(obj, name)?).map_err(|_| KeyError::InvalidMember(name))
}

/// A P-256 coordinate: RFC 7518 §6.2.1.2 requires the full 32 bytes.
fn coordinate(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    let c = b64_member(obj, name)?;
    if c.len() != 32 {
        return Err(KeyError::InvalidMember(name));
    }
    Ok(c)
}

fn ec_p256(obj: &Map<String, Value>) -> Result<ParsedPublicKey, KeyError> {
    let mut point = Vec::with_capacity(65);
    point.push(0x04); // SEC 1 uncompressed point: 0x04 || x || y
    point.extend_from_slice(&coordinate(obj, "x")?);
    point.extend_from_slice(&coordinate(obj, "y")?);
    // aws-lc checks that the point lies on the curve.
    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).map_err(|e| KeyError::Rejected(e.description_()))
}

fn ed25519(obj: &Map<String, Value>) -> Result<ParsedPublicKey, KeyError> {
    let x = coordinate(obj, "x")?;
    ParsedPublicKey::new(&ED25519, &x).map_err(|e| KeyError::Rejected(e.description_()))
}

fn rsa(obj: &Map<String, Value>) -> Result<ParsedPublicKey, KeyError> {
    let n = b64_member(obj, "n")?;
    let e = b64_member(obj, "e")?;
    // RFC 7518 §6.3.1: minimal big-endian encodings, so no leading zero byte.
    let first = *n.first().ok_or(KeyError::InvalidMember("n"))?;
    if first == 0 || e.first().is_none_or(|b| *b == 0) {
        return Err(KeyError::InvalidMember(if first == 0 { "n" } else { "e" }));
    }
    let bits = n.len() * 8 - first.leading_zeros() as usize;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(KeyError::RsaKeySize(bits));
    }
    RsaPublicKeyComponents { n: &n[..], e: &e[..] }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|e| KeyError::Rejected(e.description_()))
}

fn hmac_key(secret: &[u8]) -> Result<Material, KeyError> {
    if secret.len() < MIN_HMAC_BYTES {
        return Err(KeyError::WeakHmacSecret(secret.len()));
    }
    Ok(Material::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))))
}

/// The JWK SHA-256 thumbprint of RFC 7638 §3, base64url: SHA-256 over the key's required
/// members (RSA `e kty n`, EC `crv kty x y`, OKP `crv kty x`) in lexicographic order, without
/// whitespace. A DPoP-bound token's `cnf.jkt` (RFC 9449 §6.1) is this value of the proof key.
pub fn jwk_thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &[],
    };
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        let value = jwk.get(*m).and_then(Value::as_str).unwrap_or_default();
        canonical.push_str(&format!("{}:{}", Value::String((*m).into()), Value::String(value.into())));
    }
    canonical.push('}');
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()))
}

/// Why a JWK Set was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the JWK Set is not valid JSON")]
    NotJson,
    #[error("the document is not a JWK Set (no `keys` array of objects)")]
    NotAKeySet,
    #[error("the JWK Set publishes private key material (`{member}` in key {kid:?})")]
    PrivateKeyMaterial { kid: Option<String>, member: &'static str },
    #[error("two keys share the kid {0:?}")]
    DuplicateKid(String),
}

/// A key that [`KeySet::from_jwks`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    pub kid: Option<String>,
    pub reason: KeyError,
}

/// The keys a resource server accepts, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<VerificationKey>>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a published JWK Set (`{"keys": [...]}`).
    ///
    /// Keys that cannot be used for verification (`use` other than `sig`, unknown key types or
    /// algorithms, malformed members) are skipped and listed in [`KeySet::skipped`], so that a
    /// key type added by a newer issuer does not break older resource servers. A set that
    /// publishes private key material (`d`, `p`, `k`, ...) is refused whole: something is badly
    /// wrong at the issuer, and none of its keys should be trusted.
    pub fn from_jwks(bytes: &[u8]) -> Result<Self, JwksError> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|_| JwksError::NotJson)?;
        let keys = doc.get("keys").and_then(Value::as_array).ok_or(JwksError::NotAKeySet)?;
        let mut set = Self::new();
        for jwk in keys {
            let obj = jwk.as_object().ok_or(JwksError::NotAKeySet)?;
            let kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
            if let Some(member) = private_member(obj) {
                return Err(JwksError::PrivateKeyMaterial { kid, member });
            }
            match VerificationKey::from_jwk(jwk) {
                Ok(key) => set.insert(key)?,
                Err(reason) => set.skipped.push(SkippedKey { kid, reason }),
            }
        }
        Ok(set)
    }

    /// A set built from keys configured in code (for example one HS256 key).
    pub fn from_keys(keys: impl IntoIterator<Item = VerificationKey>) -> Result<Self, JwksError> {
        let mut set = Self::new();
        for key in keys {
            set.insert(key)?;
        }
        Ok(set)
    }

    /// Adds a key; a second key with the same `kid` is refused.
    pub fn insert(&mut self, key: VerificationKey) -> Result<(), JwksError> {
        if self.keys.contains_key(key.kid()) {
            return Err(JwksError::DuplicateKid(key.kid));
        }
        self.keys.insert(key.kid.clone(), Arc::new(key));
        Ok(())
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<VerificationKey>> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Keys of the JWK Set that were left out, with the reason.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestKey;
    use serde_json::json;

    #[test]
    fn every_algorithm_parses_from_its_jwk() {
        for key in TestKey::all("k") {
            let parsed = VerificationKey::from_jwk(&key.jwk()).unwrap();
            assert_eq!(parsed.algorithm(), key.alg);
            assert_eq!(parsed.kid(), "k");
        }
    }

    #[test]
    fn alg_is_required_and_must_fit_the_key_type() {
        let mut jwk = TestKey::es256("k").jwk();
        jwk.as_object_mut().unwrap().remove("alg");
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::MissingMember("alg"));
        for alg in ["RS256", "EdDSA", "HS256"] {
            jwk["alg"] = json!(alg);
            assert!(matches!(VerificationKey::from_jwk(&jwk), Err(KeyError::AlgorithmMismatch { .. })), "{alg}");
        }
        for alg in ["none", "es256", "ES384", "PS256"] {
            jwk["alg"] = json!(alg);
            assert!(matches!(VerificationKey::from_jwk(&jwk), Err(KeyError::UnsupportedAlgorithm(_))), "{alg}");
        }
        let mut ed = TestKey::ed25519("k").jwk();
        ed["crv"] = json!("X25519");
        assert!(matches!(VerificationKey::from_jwk(&ed), Err(KeyError::AlgorithmMismatch { .. })));
    }

    #[test]
    fn kid_is_required() {
        let mut jwk = TestKey::ed25519("k").jwk();
        jwk.as_object_mut().unwrap().remove("kid");
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::MissingMember("kid"));
        jwk["kid"] = json!("");
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::InvalidMember("kid"));
    }

    #[test]
    fn small_rsa_modulus_is_refused() {
        let mut jwk = TestKey::rs256("k").jwk();
        let mut n = vec![0xC5u8; 128]; // 1024 bits, top bit set
        n[127] |= 1;
        jwk["n"] = json!(URL_SAFE_NO_PAD.encode(&n));
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::RsaKeySize(1024));
    }

    #[test]
    fn malformed_ec_points_are_refused() {
        let mut jwk = TestKey::es256("k").jwk();
        jwk["x"] = json!(URL_SAFE_NO_PAD.encode([1u8; 31]));
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::InvalidMember("x"));
        // A point that is not on the curve.
        jwk["x"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
        assert!(matches!(VerificationKey::from_jwk(&jwk), Err(KeyError::Rejected(_))));
        jwk["x"] = json!("not base64!");
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::InvalidMember("x"));
    }

    #[test]
    fn hmac_secrets_shorter_than_32_bytes_are_refused() {
        assert_eq!(VerificationKey::hs256("k", &[7; 31]).unwrap_err(), KeyError::WeakHmacSecret(31));
        assert_eq!(VerificationKey::hs256("k", &[7; 32]).unwrap().algorithm(), Algorithm::Hs256);
    }

    #[test]
    fn private_members_are_refused_in_a_key_and_in_a_set() {
        let mut jwk = TestKey::es256("k").jwk();
        jwk["d"] = json!("AAAA");
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap_err(), KeyError::PrivateMaterial("d"));
        let doc = json!({"keys": [TestKey::ed25519("a").jwk(), jwk]});
        let err = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, JwksError::PrivateKeyMaterial { kid: Some("k".into()), member: "d" });
        // A symmetric key in a published set is a leaked secret.
        let doc = json!({"keys": [TestKey::hs256("h").jwk()]});
        assert!(matches!(KeySet::from_jwks(doc.to_string().as_bytes()), Err(JwksError::PrivateKeyMaterial { .. })));
    }

    #[test]
    fn jwks_skips_keys_not_for_signatures_or_unsupported() {
        let mut enc = TestKey::es256("enc").jwk();
        enc["use"] = json!("enc");
        let mut wrap = TestKey::rs256("wrap").jwk();
        wrap["key_ops"] = json!(["wrapKey"]);
        let p384 = json!({"kty": "EC", "crv": "P-384", "kid": "p384", "alg": "ES384", "x": "AA", "y": "AA"});
        let doc = json!({"keys": [TestKey::es256("sig").jwk(), enc, wrap, p384, TestKey::ed25519("ed").jwk()]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = set.kids().collect();
        kids.sort_unstable();
        assert_eq!(kids, ["ed", "sig"]);
        assert_eq!(set.skipped().len(), 3);
        assert_eq!(set.skipped()[0], SkippedKey { kid: Some("enc".into()), reason: KeyError::NotForSignatures });
    }

    #[test]
    fn jwks_documents_must_have_the_right_shape() {
        for doc in [&b"not json"[..], b"[]", b"{}", br#"{"keys": {}}"#, br#"{"keys": [1]}"#] {
            assert!(KeySet::from_jwks(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
        assert!(KeySet::from_jwks(br#"{"keys": []}"#).unwrap().is_empty());
        let doc = json!({"keys": [TestKey::es256("same").jwk(), TestKey::ed25519("same").jwk()]});
        assert_eq!(KeySet::from_jwks(doc.to_string().as_bytes()).unwrap_err(), JwksError::DuplicateKid("same".into()));
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let key = VerificationKey::hs256("k", b"0123456789abcdef0123456789abcdef").unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("0123456789"), "{shown}");
    }
}
