//! A software passkey authenticator for the tests: an ES256 key pair (aws-lc-rs) that answers
//! WebAuthn ceremonies the way a browser and authenticator would, as the JSON the page script
//! sends (W3C WebAuthn L3 §6.1 authenticator data, §6.5.4 "none" attestation, §5.8.1 client
//! data). Knobs let a test lie about the origin, the RP id or user verification.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_cbor_2::Value;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub struct SoftPasskey {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub rp_id: String,
    pub counter: u32,
}

/// How the authenticator (and the "browser") behaves in one ceremony.
#[derive(Clone)]
pub struct Answer {
    pub origin: String,
    /// The RP id whose hash goes into the authenticator data (the options' one by default).
    pub rp_id: Option<String>,
    pub user_verified: bool,
}

impl Answer {
    pub fn from(origin: &str) -> Self {
        Self { origin: origin.to_owned(), rp_id: None, user_verified: true }
    }
}

fn b64d(s: &str) -> Vec<u8> {
    B64.decode(s.trim_end_matches('=')).expect("base64url")
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false }).to_string().into_bytes()
}

fn cbor(v: &Value) -> Vec<u8> {
    serde_cbor_2::to_vec(v).expect("cbor")
}

fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries.into_iter().collect())
}

impl SoftPasskey {
    /// Answers `navigator.credentials.create()` with `options` (the server's `options` JSON):
    /// a new key and the registration JSON the page would send.
    pub fn register(options: &Json, answer: &Answer) -> (Self, Json) {
        let pk = &options["publicKey"];
        let rp_id = answer.rp_id.clone().unwrap_or_else(|| pk["rp"]["id"].as_str().expect("rp.id").to_owned());
        let user_handle = b64d(pk["user"]["id"].as_str().expect("user.id"));
        let challenge = pk["challenge"].as_str().expect("challenge");
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).expect("key");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).expect("random");
        let point = key.public_key().as_ref().to_vec(); // 0x04 || x || y
        let cose = map(vec![
            (Value::Integer(1), Value::Integer(2)),  // kty: EC2
            (Value::Integer(3), Value::Integer(-7)), // alg: ES256
            (Value::Integer(-1), Value::Integer(1)), // crv: P-256
            (Value::Integer(-2), Value::Bytes(point[1..33].to_vec())),
            (Value::Integer(-3), Value::Bytes(point[33..65].to_vec())),
        ]);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(UP | AT | if answer.user_verified { UV } else { 0 });
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        auth_data.extend_from_slice(&cbor(&cose));
        let attestation = map(vec![
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), map(vec![])),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]);
        let cdj = client_data("webauthn.create", challenge, &answer.origin);
        let id = B64.encode(&credential_id);
        let body = json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&cdj),
                "attestationObject": B64.encode(cbor(&attestation)),
                "transports": ["internal"],
            },
            "extensions": { "credProps": { "rk": true } },
        });
        (Self { key, credential_id, user_handle, rp_id, counter: 0 }, body)
    }

    /// Answers `navigator.credentials.get()` with `options`: the assertion JSON.
    pub fn assert(&mut self, options: &Json, answer: &Answer) -> Json {
        let challenge = options["publicKey"]["challenge"].as_str().expect("challenge");
        let rp_id = answer.rp_id.clone().unwrap_or_else(|| self.rp_id.clone());
        self.counter += 1;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(UP | if answer.user_verified { UV } else { 0 });
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let cdj = client_data("webauthn.get", challenge, &answer.origin);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&cdj));
        let rng = SystemRandom::new();
        let signature = self.key.sign(&rng, &signed).expect("sign");
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&cdj),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(signature.as_ref()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        })
    }
}
