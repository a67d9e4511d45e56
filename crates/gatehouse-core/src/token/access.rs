//! JWT access tokens following RFC 9068 (JWT Profile for OAuth 2.0 Access Tokens).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::RbacClaims;
use crate::clock::{Clock, UnixTime};
use crate::keys::{Algorithm, KeyService, KeyServiceError};

/// RFC 9068 §2.1: access tokens MUST carry `typ: at+jwt`.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// A shared HS256 secret for first-party deployments that ask for it explicitly.
pub struct Hs256Key {
    key: hmac::Key,
    kid: String,
}

impl fmt::Debug for Hs256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hs256Key({})", self.kid)
    }
}

impl Hs256Key {
    /// RFC 7518 §3.2: the key MUST be at least as long as the hash output (256 bits).
    pub fn new(secret: Zeroizing<Vec<u8>>) -> Result<Self, TokenError> {
        if secret.len() < 32 {
            return Err(TokenError::WeakHs256Secret);
        }
        let kid = format!("hs256-{}", &URL_SAFE_NO_PAD.encode(Sha256::digest(Sha256::digest(&*secret)))[..16]);
        Ok(Self { key: hmac::Key::new(hmac::HMAC_SHA256, &secret), kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Which key signs access tokens.
#[derive(Debug, Clone)]
pub enum SigningChoice {
    Asymmetric(Algorithm),
    Hs256(Arc<Hs256Key>),
}

#[derive(Debug, Clone)]
pub struct AccessTokenSettings {
    /// `iss`: the issuer URL exactly as published.
    pub issuer: String,
    /// Default `aud` when a request names none.
    pub audience: String,
    /// Seconds (default 900).
    pub lifetime: i64,
    pub signing: SigningChoice,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Keys(#[from] KeyServiceError),
    #[error("the HS256 secret must be at least 256 bits (32 bytes)")]
    WeakHs256Secret,
    #[error("token encoding failed")]
    Encode,
}

/// What a token is about.
#[derive(Debug, Clone, Default)]
pub struct AccessTokenRequest {
    pub subject: String,
    pub client_id: String,
    pub scope: Option<String>,
    /// The login (refresh family or session) the token belongs to.
    pub sid: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub audience: Option<String>,
    /// Seconds; `None` means the configured default (per-client lifetimes use this).
    pub lifetime: Option<i64>,
    /// RFC 9068 §2.2.3.1 `roles` and Gatehouse's `permissions`, when the scope asked for them.
    pub rbac: RbacClaims,
    /// RFC 9068 §2.2.1 (OpenID Connect Core §2): the RFC 8176 `amr` values of the sign-in the
    /// token comes from; empty (no claim) for client credentials or when unknown.
    pub amr: Vec<String>,
    /// RFC 9068 §2.2.1: the sign-in's `acr`; `None` (no claim) for client credentials.
    pub acr: Option<String>,
    /// RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`).
    pub dpop_jkt: Option<String>,
    /// The algorithm of a registered resource server (RFC 8707); `None`: the configured one.
    pub algorithm: Option<Algorithm>,
    /// RFC 8693 §4.1: the acting party of a delegated (exchanged) token.
    pub act: Option<serde_json::Value>,
}

impl AccessTokenRequest {
    /// Sets `amr`, `acr` and `auth_time` from the sign-in the token comes from.
    pub fn with_auth(mut self, auth: &crate::acr::AuthContext) -> Self {
        self.amr = auth.amr_values();
        self.acr = auth.acr_claim();
        self.auth_time = auth.auth_time_claim();
        self
    }
}

#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
    pub jti: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: UnixTime,
    iat: UnixTime,
    jti: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    amr: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a serde_json::Value>,
}

/// RFC 7800 §3.1 `cnf` with the RFC 9449 §6.1 `jkt` member.
#[derive(Serialize)]
struct Cnf<'a> {
    jkt: &'a str,
}

pub struct TokenIssuer {
    keys: Arc<KeyService>,
    clock: Arc<dyn Clock>,
    settings: AccessTokenSettings,
}

impl TokenIssuer {
    pub fn new(keys: Arc<KeyService>, clock: Arc<dyn Clock>, settings: AccessTokenSettings) -> Self {
        Self { keys, clock, settings }
    }

    pub fn settings(&self) -> &AccessTokenSettings {
        &self.settings
    }

    /// Signs an access token (RFC 9068 §2.2 claims: iss, exp, aud, sub, client_id, iat, jti;
    /// §2.2.1 `auth_time`, `acr`, `amr` of the sign-in behind it; and §2.2.3.1 `roles` plus our
    /// `permissions` when the request carries them).
    pub fn issue(&self, req: &AccessTokenRequest) -> Result<IssuedAccessToken, TokenError> {
        let now = self.clock.now();
        let lifetime = req.lifetime.unwrap_or(self.settings.lifetime);
        let jti = Uuid::new_v4().simple().to_string();
        let claims = Claims {
            iss: &self.settings.issuer,
            sub: &req.subject,
            aud: req.audience.as_deref().unwrap_or(&self.settings.audience),
            exp: now + lifetime,
            iat: now,
            jti: &jti,
            client_id: &req.client_id,
            scope: req.scope.as_deref(),
            sid: req.sid.as_deref(),
            auth_time: req.auth_time,
            acr: req.acr.as_deref(),
            amr: &req.amr,
            roles: req.rbac.roles.as_deref(),
            permissions: req.rbac.permissions.as_deref(),
            cnf: req.dpop_jkt.as_deref().map(|jkt| Cnf { jkt }),
            act: req.act.as_ref(),
        };
        let token = match (&self.settings.signing, req.algorithm) {
            (_, Some(alg)) => {
                self.keys.signing_key(alg)?.sign_jws(ACCESS_TOKEN_TYP, &claims).map_err(|_| TokenError::Encode)?
            }
            (SigningChoice::Asymmetric(alg), None) => {
                self.keys.signing_key(*alg)?.sign_jws(ACCESS_TOKEN_TYP, &claims).map_err(|_| TokenError::Encode)?
            }
            (SigningChoice::Hs256(key), None) => sign_hs256(key, &claims)?,
        };
        Ok(IssuedAccessToken { token, expires_in: lifetime, jti })
    }
}

fn sign_hs256(key: &Hs256Key, claims: &Claims<'_>) -> Result<String, TokenError> {
    let header = json!({ "alg": "HS256", "typ": ACCESS_TOKEN_TYP, "kid": key.kid });
    let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| TokenError::Encode)?);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(|_| TokenError::Encode)?, &mut out);
    let tag = hmac::sign(&key.key, out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_needs_256_bits_and_signs_verifiably() {
        assert!(matches!(Hs256Key::new(Zeroizing::new(vec![1; 31])), Err(TokenError::WeakHs256Secret)));
        let key = Hs256Key::new(Zeroizing::new(vec![7; 32])).unwrap();
        let claims = Claims {
            iss: "https://id.example",
            sub: "u",
            aud: "api",
            exp: 2,
            iat: 1,
            jti: "j",
            client_id: "c",
            scope: None,
            sid: None,
            auth_time: None,
            acr: None,
            amr: &[],
            roles: Some(&["editor".to_owned()]),
            permissions: None,
            cnf: Some(Cnf { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }),
            act: None,
        };
        let token = sign_hs256(&key, &claims).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let check = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
        assert!(hmac::verify(&check, input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap()).is_ok());
        assert!(!key.kid().contains("BwcH"), "the kid does not reveal the secret");
        // RFC 9068 §2.2.3.1: `roles` is an array when asked for; an unrequested claim is absent.
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(payload["roles"], json!(["editor"]));
        assert!(payload.get("permissions").is_none());
        // No sign-in behind the token: no `amr`/`acr` claims at all (RFC 9068 §2.2.1).
        assert!(payload.get("amr").is_none() && payload.get("acr").is_none());
        // RFC 9449 §6.1: a bound token's `cnf` holds `jkt`.
        assert_eq!(payload["cnf"], json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}));
    }
}
