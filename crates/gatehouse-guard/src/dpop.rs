//! DPoP proofs (RFC 9449): checking the `DPoP` header of a token request or of a request that
//! presents a DPoP-bound access token.
//!
//! [`verify_proof`] makes every check of RFC 9449 §4.3 that needs nothing but the request:
//! one well-formed JWT (points 1–2), the required claims (3), `typ` `dpop+jwt` (4), an
//! asymmetric algorithm we support (5), a signature by the public key in the `jwk` header (6)
//! which holds no private part (7), `htm` (8) and `htu` (9) matching the request, `iat` within
//! the window (11) and, with an access token, `ath` (12). What needs state stays with the
//! caller, which gets what it needs from [`DpopProof`]:
//! - the server nonce (point 10): compare [`DpopProof::nonce`] with what the server issued;
//! - replay (§11.1): remember [`DpopProof::jti`] (scoped by [`DpopProof::jkt`]) until
//!   [`DpopProof::replay_until`] and refuse it a second time;
//! - the key binding (§7.1): a bound token's `cnf.jkt` must equal [`DpopProof::jkt`].

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::keys::{Algorithm, VerificationKey, jwk_thumbprint};

/// Longest proof accepted (an RSA-4096 `jwk` makes a proof of about 1.3 KiB).
pub const MAX_PROOF_LEN: usize = 8 * 1024;
/// Longest `jti`, `nonce` or `htu` accepted.
const MAX_CLAIM_LEN: usize = 512;
/// The algorithms a proof may use (advertised as `dpop_signing_alg_values_supported`).
pub const DPOP_ALGORITHMS: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

/// The request a proof must match, and the time window it must fall in.
#[derive(Debug, Clone)]
pub struct ProofRequest<'a> {
    /// The HTTP method, compared exactly with `htm` (RFC 9110 methods are case-sensitive).
    pub method: &'a str,
    /// The request's absolute URI as the server sees it from outside; its query and fragment
    /// are ignored (§4.3 point 9).
    pub uri: &'a str,
    /// The access token the request presents, whose hash `ath` must carry (§4.3 point 12).
    pub access_token: Option<&'a str>,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// How old a proof may be, in seconds.
    pub max_age_secs: i64,
    /// Clock skew allowed for a proof from the future, in seconds.
    pub leeway_secs: i64,
}

impl ProofRequest<'_> {
    /// Five minutes back, one minute ahead: a proof is made for one request, so a short window
    /// keeps the replay cache small (§11.1).
    pub const DEFAULT_MAX_AGE_SECS: i64 = 300;
    pub const DEFAULT_LEEWAY_SECS: i64 = 60;
}

/// A proof that passed every stateless check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// The RFC 7638 thumbprint of the proof key: `cnf.jkt` of the tokens it binds.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
    /// Until when the `jti` must be remembered: after it, the proof is too old anyway.
    pub replay_until: i64,
}

/// Why a proof was refused. All of them are `invalid_dpop_proof` (RFC 9449 §5.2) at a token
/// endpoint and `invalid_dpop_proof` with a 401 at a resource (§7.1); the variants are for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("malformed DPoP proof: {0}")]
    Malformed(&'static str),
    #[error("the proof's typ is not dpop+jwt")]
    WrongType,
    #[error("the proof's algorithm is not supported")]
    UnsupportedAlgorithm,
    #[error("the proof's jwk is not a usable public key: {0}")]
    BadKey(String),
    #[error("the proof's signature does not verify")]
    BadSignature,
    #[error("the proof lacks the claim {0}")]
    MissingClaim(&'static str),
    #[error("the proof's htm does not match the request method")]
    WrongMethod,
    #[error("the proof's htu does not match the request URI")]
    WrongUri,
    #[error("the proof's iat is outside the accepted window")]
    Stale,
    #[error("the proof's ath does not match the access token")]
    WrongAth,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alg: Cow<'a, str>,
    jwk: Option<Value>,
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<Value>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Checks one `DPoP` header value against `req` (RFC 9449 §4.3). The caller has already made
/// sure the request carried exactly one `DPoP` header (point 1).
pub fn verify_proof(proof: &str, req: &ProofRequest<'_>) -> Result<DpopProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed("the proof is too long"));
    }
    let mut parts = proof.split('.');
    let (Some(h64), Some(p64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(DpopError::Malformed("a JWS has exactly three parts"));
    };
    let header_json = decode(h64)?;
    let header: Header<'_> = object(&header_json).and_then(|_| {
        serde_json::from_slice(&header_json).map_err(|_| DpopError::Malformed("the header is not valid"))
    })?;
    // §4.2: `typ` is exactly `dpop+jwt` (explicit typing, RFC 8725 §3.11).
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(DpopError::WrongType);
    }
    if header.crit.is_some() {
        return Err(DpopError::Malformed("crit is not accepted"));
    }
    let alg = Algorithm::from_name(&header.alg)
        .filter(|a| DPOP_ALGORITHMS.contains(a))
        .ok_or(DpopError::UnsupportedAlgorithm)?;
    let jwk = header.jwk.ok_or(DpopError::MissingClaim("jwk"))?;
    let key = VerificationKey::from_proof_jwk(&jwk, alg).map_err(|e| DpopError::BadKey(e.to_string()))?;
    let signature = decode(s64)?;
    let signing_input = &proof.as_bytes()[..h64.len() + 1 + p64.len()];
    if !key.verify_signature(signing_input, &signature) {
        return Err(DpopError::BadSignature);
    }

    let payload = decode(p64)?;
    object(&payload)?;
    let claims: Claims =
        serde_json::from_slice(&payload).map_err(|_| DpopError::Malformed("the claims are not valid"))?;
    let jti = claims.jti.filter(|j| !j.is_empty()).ok_or(DpopError::MissingClaim("jti"))?;
    let htm = claims.htm.ok_or(DpopError::MissingClaim("htm"))?;
    let htu = claims.htu.ok_or(DpopError::MissingClaim("htu"))?;
    let iat = claims.iat.ok_or(DpopError::MissingClaim("iat"))?;
    if [&jti, &htu].iter().any(|c| c.len() > MAX_CLAIM_LEN)
        || claims.nonce.as_ref().is_some_and(|n| n.len() > MAX_CLAIM_LEN)
    {
        return Err(DpopError::Malformed("a claim is too long"));
    }
    // RFC 7519 §2 NumericDate: a JSON number; fractions are allowed and truncated here.
    let iat = iat.as_i64().or_else(|| iat.as_f64().filter(|f| f.is_finite()).map(|f| f as i64));
    let iat = iat.ok_or(DpopError::Malformed("iat is not a number"))?;

    if htm != req.method {
        return Err(DpopError::WrongMethod);
    }
    if !same_target(&htu, req.uri) {
        return Err(DpopError::WrongUri);
    }
    if iat < req.now.saturating_sub(req.max_age_secs) || iat > req.now.saturating_add(req.leeway_secs) {
        return Err(DpopError::Stale);
    }
    if let Some(token) = req.access_token {
        let expected = access_token_hash(token);
        if claims.ath.as_deref() != Some(expected.as_str()) {
            return Err(if claims.ath.is_none() { DpopError::MissingClaim("ath") } else { DpopError::WrongAth });
        }
    }
    Ok(DpopProof {
        jkt: jwk_thumbprint(&jwk),
        jti,
        iat,
        nonce: claims.nonce,
        replay_until: iat.saturating_add(req.max_age_secs).saturating_add(req.leeway_secs),
    })
}

/// §4.3 point 9 with the normalisation §4.3 recommends (RFC 3986 §6.2.2 and §6.2.3: case of
/// scheme and host, default port, dot segments, percent-encoding case): both URIs parsed,
/// query and fragment dropped, then compared.
fn same_target(htu: &str, uri: &str) -> bool {
    fn bare(s: &str) -> Option<url::Url> {
        let mut u = url::Url::parse(s).ok()?;
        if !matches!(u.scheme(), "https" | "http") || u.cannot_be_a_base() {
            return None;
        }
        u.set_query(None);
        u.set_fragment(None);
        Some(u)
    }
    match (bare(htu), bare(uri)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn decode(part: &str) -> Result<Vec<u8>, DpopError> {
    if part.is_empty() {
        return Err(DpopError::Malformed("a part is empty"));
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| DpopError::Malformed("a part is not base64url"))
}

fn object(json: &[u8]) -> Result<(), DpopError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(DpopError::Malformed("not a JSON object")),
    }
}

/// The `ath` of an access token: base64url of its SHA-256 (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()))
}

#[cfg(test)]
mod tests;
