//! Signing key material: generation with aws-lc-rs, the public JWK, the RFC 7638 thumbprint, and
//! JWS signatures (RFC 7515 compact serialization, RFC 7518 §3 algorithms).
//!
//! Keys are parsed once and kept parsed: a signature costs one private-key operation and
//! nothing else (a JWT library that re-reads the PKCS#8 document for every token spends
//! noticeably more per RSA signature).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The asymmetric JWS algorithms Gatehouse signs with (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    RS256,
    ES256,
    EdDSA,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored private key is not a valid {0} key")]
    Parse(Algorithm),
    #[error("signing failed")]
    Sign,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A parsed private signing key with its public JWK and `kid`.
pub struct KeyMaterial {
    alg: Algorithm,
    pair: Pair,
    kid: String,
    public_jwk: Value,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// A new key: RSA 2048, P-256 or Ed25519. Returns the key and its PKCS#8 DER (for sealing).
    pub fn generate(alg: Algorithm) -> Result<(Self, zeroize::Zeroizing<Vec<u8>>), KeyError> {
        let der: Vec<u8> = match alg {
            Algorithm::RS256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
                pair.as_der().map_err(|_| KeyError::Generate)?.as_ref().to_vec()
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| KeyError::Generate)?;
                pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?.as_ref().to_vec()
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
                pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?.as_ref().to_vec()
            }
        };
        let der = zeroize::Zeroizing::new(der);
        Ok((Self::from_pkcs8(alg, &der)?, der))
    }

    /// Parses a PKCS#8 DER private key for `alg`.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let (pair, public_jwk) = match alg {
            Algorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError::Parse(alg))?;
                let c = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = json!({ "kty": "RSA", "n": b64(&c.n), "e": b64(&c.e) });
                (Pair::Rsa(pair), jwk)
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| KeyError::Parse(alg))?;
                // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point.first() != Some(&4) {
                    return Err(KeyError::Parse(alg));
                }
                let jwk = json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) });
                (Pair::Ec(pair), jwk)
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| KeyError::Parse(alg))?;
                let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()) });
                (Pair::Ed(pair), jwk)
            }
        };
        let kid = thumbprint(&public_jwk);
        Ok(Self { alg, pair, kid, public_jwk })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK as published: key members plus `kid`, `use: sig` and `alg`.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.public_jwk.clone();
        if let Value::Object(m) = &mut jwk {
            m.insert("kid".into(), Value::String(self.kid.clone()));
            m.insert("use".into(), Value::String("sig".into()));
            m.insert("alg".into(), Value::String(self.alg.as_str().into()));
        }
        jwk
    }

    /// The JWS signature over `signing_input` (RFC 7515 §5.1 step 5).
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ec(pair) => {
                // RFC 7518 §3.4: ES256 signatures are R || S, 32 bytes each (the FIXED encoding).
                Ok(pair.sign(&SystemRandom::new(), signing_input).map_err(|_| KeyError::Sign)?.as_ref().to_vec())
            }
            Pair::Ed(pair) => Ok(pair.sign(signing_input).as_ref().to_vec()),
        }
    }

    /// A compact JWS: `BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature)`, with
    /// `alg` and `kid` from this key and the given `typ`.
    pub fn sign_jws(&self, typ: &str, payload: &impl serde::Serialize) -> Result<String, KeyError> {
        let header = json!({ "alg": self.alg.as_str(), "typ": typ, "kid": self.kid });
        let header = serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?;
        let payload = serde_json::to_vec(payload).map_err(|_| KeyError::Sign)?;
        let mut out = String::with_capacity(header.len() * 4 / 3 + payload.len() * 4 / 3 + 360);
        URL_SAFE_NO_PAD.encode_string(&header, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let signature = self.sign(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
        Ok(out)
    }
}

/// RFC 7638 §3 (one implementation, in `gatehouse-guard`, which DPoP also uses).
pub use gatehouse_guard::jwk_thumbprint as thumbprint;

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(thumbprint(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn every_algorithm_generates_signs_and_round_trips() {
        for alg in Algorithm::ALL {
            let (key, der) = KeyMaterial::generate(alg).unwrap();
            let again = KeyMaterial::from_pkcs8(alg, &der).unwrap();
            assert_eq!(key.kid(), again.kid(), "{alg}");
            let jwk = key.public_jwk();
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none(), "no private member in the public JWK");
            assert_eq!(thumbprint(&jwk), key.kid());

            let jws = key.sign_jws("at+jwt", &json!({ "sub": "x" })).unwrap();
            let parts: Vec<&str> = jws.split('.').collect();
            assert_eq!(parts.len(), 3);
            let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
            assert_eq!(header, json!({ "alg": alg.as_str(), "typ": "at+jwt", "kid": key.kid() }));
            let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
            let input = format!("{}.{}", parts[0], parts[1]);
            let d = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
            let ok = match alg {
                Algorithm::ES256 => {
                    assert_eq!(sig.len(), 64);
                    let mut point = vec![4u8];
                    point.extend(d("x"));
                    point.extend(d("y"));
                    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(input.as_bytes(), &sig)
                }
                Algorithm::EdDSA => UnparsedPublicKey::new(&ED25519, d("x")).verify(input.as_bytes(), &sig),
                Algorithm::RS256 => {
                    assert!(d("n").len() >= 256, "RSA 2048 at least");
                    PublicKeyComponents { n: d("n"), e: d("e") }.verify(
                        &RSA_PKCS1_2048_8192_SHA256,
                        input.as_bytes(),
                        &sig,
                    )
                }
            };
            assert!(ok.is_ok(), "{alg} signature verifies with the published JWK");
        }
    }

    #[test]
    fn wrong_algorithm_for_der_is_refused() {
        let (_, der) = KeyMaterial::generate(Algorithm::ES256).unwrap();
        assert!(KeyMaterial::from_pkcs8(Algorithm::EdDSA, &der).is_err());
        assert!(KeyMaterial::from_pkcs8(Algorithm::RS256, &der).is_err());
    }
}
