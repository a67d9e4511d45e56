//! Test keys generated with aws-lc-rs and tokens signed by hand
//! (`base64url(header) "." base64url(claims) "." base64url(signature)`).

use std::sync::{Arc, OnceLock};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::keys::{Algorithm, KeySet, VerificationKey};
use crate::verify::Validation;

pub const ISSUER: &str = "https://id.example.test";
pub const AUDIENCE: &str = "https://api.example.test";
pub const NOW: i64 = 1_800_000_000;

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub enum Signer {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(Arc<RsaKeyPair>),
    Hmac(Vec<u8>),
}

pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub signer: Signer,
}

/// RSA key generation is slow in an unoptimised build: two keys, made once per test binary.
fn rsa_pair(index: usize) -> Arc<RsaKeyPair> {
    static KEYS: OnceLock<[Arc<RsaKeyPair>; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let gen_key = || Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).unwrap());
        [gen_key(), gen_key()]
    });
    Arc::clone(&keys[index])
}

impl TestKey {
    pub fn es256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self { kid: kid.into(), alg: Algorithm::Es256, signer: Signer::Ec(pair) }
    }

    pub fn ed25519(kid: &str) -> Self {
        Self { kid: kid.into(), alg: Algorithm::EdDsa, signer: Signer::Ed(Ed25519KeyPair::generate().unwrap()) }
    }

    pub fn rs256(kid: &str) -> Self {
        Self { kid: kid.into(), alg: Algorithm::Rs256, signer: Signer::Rsa(rsa_pair(0)) }
    }

    /// A second RSA key, distinct from [`TestKey::rs256`].
    pub fn rs256_other(kid: &str) -> Self {
        Self { kid: kid.into(), alg: Algorithm::Rs256, signer: Signer::Rsa(rsa_pair(1)) }
    }

    pub fn hs256(kid: &str) -> Self {
        let mut secret = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).unwrap();
        Self { kid: kid.into(), alg: Algorithm::Hs256, signer: Signer::Hmac(secret) }
    }

    pub fn all(kid: &str) -> Vec<Self> {
        vec![Self::es256(kid), Self::ed25519(kid), Self::rs256(kid), Self::hs256(kid)]
    }

    /// Another key of the same algorithm and kid.
    pub fn twin(&self) -> Self {
        match self.alg {
            Algorithm::Es256 => Self::es256(&self.kid),
            Algorithm::EdDsa => Self::ed25519(&self.kid),
            Algorithm::Rs256 => Self::rs256_other(&self.kid),
            Algorithm::Hs256 => Self::hs256(&self.kid),
        }
    }

    /// The public JWK as the Gatehouse JWKS publishes it (for HS256: the secret as `oct`).
    pub fn jwk(&self) -> Value {
        let (kid, alg) = (&self.kid, self.alg.as_str());
        match &self.signer {
            Signer::Ec(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
                       "kid": kid, "alg": alg, "use": "sig"})
            }
            Signer::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key()), "kid": kid, "alg": alg, "use": "sig"})
            }
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                json!({"kty": "RSA", "n": b64(public.modulus().big_endian_without_leading_zero()),
                       "e": b64(public.exponent().big_endian_without_leading_zero()),
                       "kid": kid, "alg": alg, "use": "sig"})
            }
            Signer::Hmac(secret) => json!({"kty": "oct", "k": b64(secret), "kid": kid, "alg": alg}),
        }
    }

    pub fn verification_key(&self) -> VerificationKey {
        VerificationKey::from_jwk(&self.jwk()).unwrap()
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Ec(pair) => pair.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec(),
            Signer::Ed(pair) => pair.sign(message).as_ref().to_vec(),
            Signer::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig).unwrap();
                sig
            }
            Signer::Hmac(secret) => hmac_sign(secret, message),
        }
    }

    /// The header Gatehouse puts on its access tokens.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg.as_str(), "typ": "at+jwt", "kid": self.kid})
    }

    pub fn token_with(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }

    pub fn token(&self, claims: &Value) -> String {
        self.token_with(&self.header(), claims)
    }
}

pub fn hmac_sign(secret: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), message).as_ref().to_vec()
}

/// A token whose signature is HS256 under `secret`, whatever key its header names.
pub fn hs256_token(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    format!("{input}.{}", b64(hmac_sign(secret, input.as_bytes())))
}

pub fn claims(now: i64) -> Value {
    json!({"iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": now + 900, "iat": now,
           "jti": "jti-1", "client_id": "client-1", "scope": "posts:read posts:write"})
}

pub fn key_set(keys: &[&TestKey]) -> KeySet {
    KeySet::from_keys(keys.iter().map(|k| k.verification_key())).unwrap()
}

pub fn validation() -> Validation {
    Validation::new(ISSUER, [AUDIENCE])
}
