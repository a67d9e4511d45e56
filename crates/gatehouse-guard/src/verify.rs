//! Strict verification of JWT access tokens: JWS compact form (RFC 7515 §7.1), RFC 9068 §4, and
//! the JWT best current practices of RFC 8725 §3.
//!
//! Everything the token header could use to steer verification is refused or ignored: the
//! algorithm comes from the key (never from `alg`, which must merely agree), keys come only from
//! the caller's [`KeySet`] (`jku`, `jwk`, `x5u`, `x5c` are refused, so a header never causes a
//! fetch), and extensions (`crit`, `b64`) are refused. Claims are parsed only once the signature
//! checks out.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::claims::AccessClaims;
use crate::keys::{Algorithm, KeySet, MAX_KID_LEN, VerificationKey};

/// Longest token accepted; Gatehouse tokens are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Largest decoded header; a legitimate one is under 200 bytes.
const MAX_HEADER_LEN: usize = 1024;
/// Largest decoded signature: RSA-8192.
const MAX_SIGNATURE_LEN: usize = 1024;

/// What a token must satisfy besides a good signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The issuer, compared exactly with `iss` (Gatehouse issuers have no trailing slash).
    pub issuer: String,
    /// `aud` must contain at least one of these. An empty list accepts no token.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`; values above 60 are treated as 60.
    pub leeway_secs: u64,
    /// The required `typ` without its `application/` prefix: `at+jwt` (RFC 9068 §2.1).
    pub required_typ: &'static str,
}

impl Validation {
    pub const DEFAULT_LEEWAY_SECS: u64 = 30;
    pub const MAX_LEEWAY_SECS: u64 = 60;

    /// Validation for access tokens of `issuer` meant for one of `audiences`, with the default
    /// leeway of 30 seconds.
    pub fn new<A: Into<String>>(issuer: impl Into<String>, audiences: impl IntoIterator<Item = A>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            leeway_secs: Self::DEFAULT_LEEWAY_SECS,
            required_typ: "at+jwt",
        }
    }

    /// Sets the leeway, capped at 60 seconds.
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.leeway_secs = secs.min(Self::MAX_LEEWAY_SECS);
        self
    }

    pub(crate) fn leeway(&self) -> i64 {
        // Capped here too, because the field is public.
        self.leeway_secs.min(Self::MAX_LEEWAY_SECS) as i64
    }

    /// RFC 9068 §4: `at+jwt`, or `application/at+jwt`, compared case-insensitively.
    fn typ_ok(&self, typ: &str) -> bool {
        let bare = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        bare.eq_ignore_ascii_case(self.required_typ)
    }
}

/// Why a token was refused. The variants are for logs; a client only ever learns
/// `invalid_token` ([`VerifyError::rfc6750_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("invalid JOSE header: {0}")]
    Header(String),
    #[error("the header asks for the `none` algorithm")]
    NoneAlgorithm,
    #[error("the header parameter `{0}` is not accepted")]
    ForbiddenHeader(&'static str),
    #[error("the header `typ` is missing or is not at+jwt")]
    WrongType,
    #[error("the header has no `kid`")]
    MissingKid,
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    #[error("the header says alg {token:?} but key is for {key}")]
    AlgorithmMismatch { key: Algorithm, token: String },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("invalid claims: {0}")]
    Claims(String),
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    /// RFC 9449 §7.2: a DPoP-bound token presented as a bearer token (or, where DPoP is not
    /// enabled, at all); or an unbound token presented with the DPoP scheme.
    #[error("the token's DPoP binding does not fit how it was presented")]
    DpopBinding,
}

impl VerifyError {
    /// The RFC 6750 §3.1 error code to send: always `invalid_token`.
    pub fn rfc6750_error(&self) -> &'static str {
        "invalid_token"
    }

    /// A description safe to show a client: it says "expired" (so the client refreshes) and
    /// nothing more specific about other failures.
    pub fn client_description(&self) -> &'static str {
        match self {
            Self::Expired => "The access token expired",
            Self::DpopBinding => "The access token was presented with the wrong scheme for its DPoP binding",
            _ => "The access token is invalid",
        }
    }
}

/// The JOSE header members this verifier looks at. Members not named here are ignored
/// (RFC 7515 §4); a duplicated member named here is an error.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "some_cow")]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "some_cow")]
    typ: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
}

/// serde borrows a `Cow<str>` field but not one inside an `Option`; this keeps unescaped
/// strings borrowed from the header buffer.
fn some_cow<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Borrowed::deserialize(d).map(|b| Some(b.0))
}

/// True whenever the member appears, whatever its value (even `null`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d)?;
    Ok(true)
}

impl Header<'_> {
    fn forbidden(&self) -> Option<&'static str> {
        [
            (self.jku, "jku"),
            (self.jwk, "jwk"),
            (self.x5u, "x5u"),
            (self.x5c, "x5c"),
            (self.crit, "crit"),
            (self.b64, "b64"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// The parts of a token that passed every check that needs no key.
struct Prepared<'t, 'b> {
    /// Its `kid` is present, non-empty and not too long.
    header: Header<'b>,
    signature: &'b [u8],
    signing_input: &'t [u8],
    payload_b64: &'t str,
}

/// Structure, encoding and header checks. The decoded header and signature live in the caller's
/// stack buffers. With a [`Validation`] (access tokens), `typ` and `kid` are required too.
fn prepare<'t, 'b>(
    token: &'t str,
    v: Option<&Validation>,
    header_buf: &'b mut [u8; MAX_HEADER_LEN],
    signature_buf: &'b mut [u8; MAX_SIGNATURE_LEN],
) -> Result<Prepared<'t, 'b>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TooLong);
    }
    let mut parts = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed("a JWS has exactly three parts"));
    };

    let header_json = decode_into(header_b64, header_buf, Part::Header)?;
    json_object(header_json, "the header is not a JSON object")?;
    let header: Header<'b> = serde_json::from_slice(header_json).map_err(|e| VerifyError::Header(e.to_string()))?;
    if let Some(name) = header.forbidden() {
        return Err(VerifyError::ForbiddenHeader(name));
    }
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(VerifyError::NoneAlgorithm);
    }
    if v.is_some_and(|v| !header.typ.as_deref().is_some_and(|t| v.typ_ok(t))) {
        return Err(VerifyError::WrongType);
    }
    match header.kid.as_deref() {
        None if v.is_some() => return Err(VerifyError::MissingKid),
        Some(kid) if kid.is_empty() || kid.len() > MAX_KID_LEN => {
            return Err(VerifyError::Malformed("kid is empty or too long"));
        }
        _ => {}
    }

    let signature = decode_into(signature_b64, signature_buf, Part::Signature)?;
    if signature.is_empty() {
        return Err(VerifyError::Malformed("the signature is empty"));
    }
    if payload_b64.is_empty() {
        return Err(VerifyError::Malformed("the payload is empty"));
    }
    // RFC 7515 §5.2: the signing input is the first two parts exactly as received.
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    Ok(Prepared { header, signature, signing_input, payload_b64 })
}

/// The checks of [`verify`] that need no key: a token that fails them is invalid whatever the
/// key set holds. Used to answer `invalid_token` rather than "unavailable" while no JWKS can be
/// fetched.
#[cfg(feature = "remote")]
pub(crate) fn precheck(token: &str, v: &Validation) -> Result<(), VerifyError> {
    let (mut header_buf, mut signature_buf) = ([0u8; MAX_HEADER_LEN], [0u8; MAX_SIGNATURE_LEN]);
    prepare(token, Some(v), &mut header_buf, &mut signature_buf).map(drop)
}

/// Verifies a JWS compact access token against `keys` and `v` at time `now_unix` (seconds).
///
/// Header and signature are decoded into stack buffers; the only heap allocations are the
/// decoded payload and the returned claims.
pub fn verify(token: &str, keys: &KeySet, v: &Validation, now_unix: i64) -> Result<AccessClaims, VerifyError> {
    let (mut header_buf, mut signature_buf) = ([0u8; MAX_HEADER_LEN], [0u8; MAX_SIGNATURE_LEN]);
    let t = prepare(token, Some(v), &mut header_buf, &mut signature_buf)?;

    let key = t.key_for(keys)?;
    if !key.verify_signature(t.signing_input, t.signature) {
        return Err(VerifyError::BadSignature);
    }

    let payload =
        URL_SAFE_NO_PAD.decode(t.payload_b64).map_err(|_| VerifyError::Malformed("payload is not base64url"))?;
    json_object(&payload, "the payload is not a JSON object")?;
    let claims: AccessClaims = serde_json::from_slice(&payload).map_err(|e| VerifyError::Claims(e.to_string()))?;
    check_claims(&claims, v, now_unix)?;
    Ok(claims)
}

/// Verifies the signature of any JWS compact serialization (RFC 7515 §5.2) and returns its
/// decoded payload, which is checked to be a JSON object but otherwise left to the caller (for
/// example a client assertion, RFC 7523 §3). `select` picks the key from the header's `alg` and
/// `kid` (`None` when absent); the header's `alg` must then be exactly that key's algorithm.
/// The same header rules as [`verify`] apply (`none`, `jku`, `jwk`, `x5u`, `x5c`, `crit`, `b64`
/// refused), except that `typ` and `kid` are optional.
pub fn verify_jws<'k>(
    token: &str,
    select: impl FnOnce(&str, Option<&str>) -> Option<&'k VerificationKey>,
) -> Result<Vec<u8>, VerifyError> {
    let (mut header_buf, mut signature_buf) = ([0u8; MAX_HEADER_LEN], [0u8; MAX_SIGNATURE_LEN]);
    let t = prepare(token, None, &mut header_buf, &mut signature_buf)?;
    let kid = t.header.kid.as_deref();
    let key = select(&t.header.alg, kid).ok_or_else(|| VerifyError::UnknownKid(kid.unwrap_or_default().to_owned()))?;
    if t.header.alg != key.algorithm().as_str() {
        return Err(VerifyError::AlgorithmMismatch { key: key.algorithm(), token: t.header.alg.to_string() });
    }
    if !key.verify_signature(t.signing_input, t.signature) {
        return Err(VerifyError::BadSignature);
    }
    let payload =
        URL_SAFE_NO_PAD.decode(t.payload_b64).map_err(|_| VerifyError::Malformed("payload is not base64url"))?;
    json_object(&payload, "the payload is not a JSON object")?;
    Ok(payload)
}

impl Prepared<'_, '_> {
    /// The key named by `kid`, provided the header's `alg` is exactly that key's algorithm.
    fn key_for<'k>(&self, keys: &'k KeySet) -> Result<&'k VerificationKey, VerifyError> {
        let kid = self.header.kid.as_deref().unwrap_or_default();
        let key = keys.get(kid).ok_or_else(|| VerifyError::UnknownKid(kid.to_owned()))?;
        if self.header.alg != key.algorithm().as_str() {
            return Err(VerifyError::AlgorithmMismatch { key: key.algorithm(), token: self.header.alg.to_string() });
        }
        Ok(key)
    }
}

pub(crate) fn check_claims(c: &AccessClaims, v: &Validation, now: i64) -> Result<(), VerifyError> {
    if c.iss != v.issuer {
        return Err(VerifyError::WrongIssuer);
    }
    if !c.aud.iter().any(|a| v.audiences.contains(a)) {
        return Err(VerifyError::WrongAudience);
    }
    let leeway = v.leeway();
    // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    if now >= c.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    if c.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(VerifyError::NotYetValid);
    }
    if c.iat > now.saturating_add(leeway) {
        return Err(VerifyError::IssuedInFuture);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Part {
    Header,
    Signature,
}

/// Strict base64url without padding (RFC 7515 §2), with canonical trailing bits.
fn decode_into<'b>(input: &str, buf: &'b mut [u8], part: Part) -> Result<&'b [u8], VerifyError> {
    let (too_long, not_base64) = match part {
        Part::Header => ("the header is too long", "the header is not base64url"),
        Part::Signature => ("the signature is too long", "the signature is not base64url"),
    };
    // 4 base64 characters carry 3 bytes; refuse before decoding what cannot fit.
    if input.len() / 4 * 3 > buf.len() {
        return Err(VerifyError::Malformed(too_long));
    }
    match URL_SAFE_NO_PAD.decode_slice(input, buf) {
        Ok(n) => Ok(&buf[..n]),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => Err(VerifyError::Malformed(too_long)),
        Err(base64::DecodeSliceError::DecodeError(_)) => Err(VerifyError::Malformed(not_base64)),
    }
}

/// serde would also read a struct from a JSON array; RFC 7515 and RFC 7519 require objects.
fn json_object(json: &[u8], msg: &'static str) -> Result<(), VerifyError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(VerifyError::Malformed(msg)),
    }
}

#[cfg(test)]
mod tests;
