//! The public JWK Set of a `private_key_jwt` client (RFC 7591 §2 `jwks`, RFC 7517 §5): the
//! rules it must meet at registration, and the key an assertion's header selects (RFC 7515
//! §4.1.4 `kid`).
//!
//! Only public signature keys are accepted, each with a unique `kid` and an `alg` among
//! ES256 (P-256), EdDSA (Ed25519) and RS256 (2048–8192 bits). Symmetric keys (`oct`, HS256)
//! are refused: a client authenticating with a shared secret uses `client_secret_*`.

use std::sync::Arc;

use gatehouse_guard::{Algorithm, VerificationKey};
use serde_json::Value;

/// At most this many keys (enough for a rotation with one spare of each algorithm).
pub const MAX_CLIENT_KEYS: usize = 10;
/// Largest serialized JWK Set: ten RSA-4096 keys fit comfortably.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// JWK members only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A client's registered JWK Set, `{"keys": [...]}`, as the operator sent it, with its keys
/// parsed once (a client is cached for a few seconds, so an assertion does not parse keys).
#[derive(Debug, Clone)]
pub struct ClientJwks {
    json: Value,
    keys: Arc<[VerificationKey]>,
}

impl PartialEq for ClientJwks {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for ClientJwks {}

impl ClientJwks {
    /// Checks a JWK Set for registration. The error says what to fix; it never repeats key
    /// material (a private member is named, not shown).
    pub fn parse(jwks: Value) -> Result<Self, String> {
        let size = serde_json::to_vec(&jwks).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_JWKS_BYTES {
            return Err(format!("the JWK Set is larger than {MAX_JWKS_BYTES} bytes"));
        }
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .filter(|_| jwks.is_object())
            .ok_or("the JWK Set must be an object with a \"keys\" array")?;
        if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
            return Err(format!("the JWK Set must hold 1 to {MAX_CLIENT_KEYS} keys"));
        }
        let mut kids: Vec<&str> = Vec::with_capacity(keys.len());
        for (i, jwk) in keys.iter().enumerate() {
            let obj = jwk.as_object().ok_or_else(|| format!("key {i} is not a JSON object"))?;
            let kid = obj.get("kid").and_then(Value::as_str);
            let name = kid.map_or_else(|| format!("key {i}"), |k| format!("key {k:?}"));
            if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| obj.contains_key(*m)) {
                return Err(format!("{name} contains the private member \"{member}\": register the public key only"));
            }
            let alg = obj.get("alg").and_then(Value::as_str);
            if !alg.and_then(Algorithm::from_name).is_some_and(|a| a != Algorithm::Hs256) {
                return Err(format!("{name} needs \"alg\" ES256, EdDSA or RS256"));
            }
            let key = VerificationKey::from_jwk(jwk).map_err(|e| format!("{name}: {e}"))?;
            if kids.contains(&key.kid()) {
                return Err(format!("{name}: two keys share this kid"));
            }
            kids.push(kid.unwrap_or_default());
        }
        Ok(Self::from_stored(jwks))
    }

    /// A JWK Set read back from storage (it passed [`Self::parse`] when it was registered).
    pub fn from_stored(json: Value) -> Self {
        let keys = parse_keys(&json).into();
        Self { json, keys }
    }

    pub fn as_json(&self) -> &Value {
        &self.json
    }

    /// The verification keys. A key that no longer parses (it could not have been registered)
    /// is left out, so it can never verify anything.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }
}

fn parse_keys(json: &Value) -> Vec<VerificationKey> {
    let keys = json.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    keys.iter()
        .filter_map(|jwk| VerificationKey::from_jwk(jwk).ok())
        .filter(|k| k.algorithm() != Algorithm::Hs256)
        .collect()
}

/// RFC 7515 §4.1.4: the key named by `kid`; without a `kid`, the one key of the header's
/// algorithm, if there is exactly one (an ambiguous choice is refused, not guessed).
pub fn select_key<'k>(keys: &'k [VerificationKey], alg: &str, kid: Option<&str>) -> Option<&'k VerificationKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid() == kid),
        None => {
            let mut fitting = keys.iter().filter(|k| k.algorithm().as_str() == alg);
            match (fitting.next(), fitting.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    pub(crate) fn b64(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    pub(crate) fn ec_jwk(kid: &str, pair: &EcdsaKeyPair) -> Value {
        let p = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid, "x": b64(&p[1..33]), "y": b64(&p[33..65])})
    }

    pub(crate) fn ed_jwk(kid: &str, pair: &Ed25519KeyPair) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": b64(pair.public_key().as_ref())})
    }

    pub(crate) fn ec_pair() -> EcdsaKeyPair {
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()
    }

    #[test]
    fn public_keys_of_each_algorithm_register() {
        let ed = Ed25519KeyPair::generate().unwrap();
        let set = ClientJwks::parse(json!({"keys": [ec_jwk("a", &ec_pair()), ed_jwk("b", &ed)]})).unwrap();
        let keys = set.keys();
        assert_eq!(keys.len(), 2);
        assert_eq!(select_key(keys, "EdDSA", None).map(|k| k.kid()), Some("b"));
        assert_eq!(select_key(keys, "ES256", Some("a")).map(|k| k.kid()), Some("a"));
        assert!(select_key(keys, "ES256", Some("zz")).is_none());
    }

    #[test]
    fn kid_free_selection_needs_exactly_one_key_of_the_algorithm() {
        let set = ClientJwks::parse(json!({"keys": [ec_jwk("a", &ec_pair()), ec_jwk("b", &ec_pair())]})).unwrap();
        assert!(select_key(set.keys(), "ES256", None).is_none());
    }

    #[test]
    fn private_symmetric_duplicate_and_oversized_sets_are_refused() {
        let mut with_d = ec_jwk("a", &ec_pair());
        with_d["d"] = json!("AAAA");
        let err = ClientJwks::parse(json!({"keys": [with_d]})).unwrap_err();
        assert!(err.contains("private member \"d\"") && !err.contains("AAAA"), "{err}");
        let oct = json!({"kty": "oct", "alg": "HS256", "kid": "s", "k": b64(&[7; 32])});
        assert!(ClientJwks::parse(json!({"keys": [oct]})).unwrap_err().contains("private member \"k\""));
        let hs = json!({"kty": "EC", "crv": "P-256", "alg": "HS256", "kid": "h"});
        assert!(ClientJwks::parse(json!({"keys": [hs]})).unwrap_err().contains("ES256, EdDSA or RS256"));
        let pair = ec_pair();
        assert!(ClientJwks::parse(json!({"keys": [ec_jwk("a", &pair), ec_jwk("a", &pair)]})).is_err());
        let mut no_kid = ec_jwk("a", &pair);
        no_kid.as_object_mut().unwrap().remove("kid");
        assert!(ClientJwks::parse(json!({"keys": [no_kid]})).is_err());
        let many: Vec<Value> = (0..11).map(|i| ec_jwk(&i.to_string(), &pair)).collect();
        assert!(ClientJwks::parse(json!({"keys": many})).is_err());
        assert!(ClientJwks::parse(json!({"keys": []})).is_err());
        assert!(ClientJwks::parse(json!([ec_jwk("a", &pair)])).is_err());
        let big = json!({"keys": [ec_jwk("a", &pair)], "pad": "x".repeat(MAX_JWKS_BYTES)});
        assert!(ClientJwks::parse(big).unwrap_err().contains("larger"));
    }
}
