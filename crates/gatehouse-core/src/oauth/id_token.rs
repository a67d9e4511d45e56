//! ID tokens (OpenID Connect Core §2, §3.1.3.6), signed with RS256 — the algorithm every OpenID
//! provider must support (§15.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use super::service::OAuthService;
use crate::clock::UnixTime;
use crate::keys::Algorithm;

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: UnixTime,
    iat: UnixTime,
    /// Absent when the time of authentication is unknown (a federated sign-in whose upstream
    /// sent no `auth_time`, stored as 0). Core §2 requires it only when `max_age` was asked
    /// for, and such a session is never fresh enough for `max_age`, so no code is issued then.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<UnixTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    azp: &'a str,
    /// RFC 8176 values, stored space-separated on the session and the code.
    amr: Vec<&'a str>,
    /// Core §2: Gatehouse's class of the sign-in (`urn:gatehouse:acr:1fa` or `…:mfa`).
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    /// Core §5.4: with the `email` scope, the address and whether it is verified (the same
    /// values UserInfo returns, as of the code's redemption).
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

pub struct IdTokenInput<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub auth_time: UnixTime,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
    pub sid: Option<&'a str>,
    /// The code's `amr` values, space-separated (`pwd`; `pwd otp mfa` with a second factor;
    /// `fed` for a sign-in through an upstream provider).
    pub amr: &'a str,
    /// The sign-in's `acr` ([`crate::acr::Acr`]).
    pub acr: Option<&'a str>,
    /// The user's address and its verified state, when the `email` scope was granted.
    pub email: Option<(&'a str, bool)>,
}

/// §3.1.3.6: the base64url of the left-most half of the hash of the access token, with the
/// hash of the ID token's `alg` (SHA-256 for RS256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

impl OAuthService {
    pub(super) fn id_token(&self, input: &IdTokenInput<'_>) -> Result<String, OAuthError> {
        let now = self.clock.now();
        let claims = IdTokenClaims {
            iss: &self.settings.issuer,
            sub: input.subject,
            aud: input.client_id,
            exp: now + self.settings.id_token_lifetime,
            iat: now,
            auth_time: (input.auth_time > 0).then_some(input.auth_time),
            nonce: input.nonce,
            at_hash: at_hash(input.access_token),
            azp: input.client_id,
            amr: input.amr.split_whitespace().collect(),
            acr: input.acr,
            sid: input.sid,
            email: input.email.map(|(e, _)| e),
            email_verified: input.email.map(|(_, v)| v),
        };
        let key = self.keys.signing_key(Algorithm::RS256).map_err(|e| {
            tracing::error!(error = %e, "no RS256 key for ID tokens");
            OAuthError::server_error()
        })?;
        key.sign_jws("JWT", &claims).map_err(|_| OAuthError::server_error())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_hash_example() {
        // OpenID Connect Core Appendix A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(super::at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}

/// What a verified `id_token_hint` says (RP-Initiated Logout 1.0 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub client_id: String,
}

impl OAuthService {
    /// Verifies an ID token we issued, as a logout hint: our RS256 signature and issuer are
    /// required; expiry is not (RP-Initiated Logout 1.0 §2 lets an expired ID token identify
    /// the session to end).
    pub fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        use aws_lc_rs::rsa::PublicKeyComponents;
        use aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).ok();
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value = serde_json::from_slice(&decode(h)?).ok()?;
        if header.get("alg")?.as_str()? != "RS256" {
            return None;
        }
        // Our ID tokens say `typ: JWT`; an access token (`at+jwt`) is not a logout hint.
        if header.get("typ").and_then(|t| t.as_str()) != Some("JWT") {
            return None;
        }
        let kid = header.get("kid")?.as_str()?;
        let jwks: serde_json::Value = serde_json::from_slice(&self.keys.jwks().json).ok()?;
        let jwk = jwks.get("keys")?.as_array()?.iter().find(|k| k.get("kid").and_then(|v| v.as_str()) == Some(kid))?;
        if jwk.get("alg")?.as_str()? != "RS256" {
            return None;
        }
        let n = decode(jwk.get("n")?.as_str()?)?;
        let e = decode(jwk.get("e")?.as_str()?)?;
        let input = format!("{h}.{p}");
        PublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &decode(s)?).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&decode(p)?).ok()?;
        if claims.get("iss")?.as_str()? != self.settings.issuer {
            return None;
        }
        Some(IdTokenHint {
            sub: claims.get("sub")?.as_str()?.to_owned(),
            client_id: claims.get("aud")?.as_str()?.to_owned(),
        })
    }
}
