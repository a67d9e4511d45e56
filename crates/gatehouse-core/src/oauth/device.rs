//! The device authorization grant (RFC 8628): a device without a browser (a CLI, a TV) asks
//! for a device code and a user code (§3.1-3.2), the user enters the user code on `/device`
//! and approves or denies (§3.3), and the device polls the token endpoint (§3.4-3.5, in
//! `grant::device_code`).
//!
//! Both codes are stored as SHA-256 only. The device code is 256 random bits; the user code is
//! 8 letters from a 20-consonant alphabet (§6.1: no vowels, so no words; no look-alikes such as
//! I/1 or O/0), shown as `XXXX-XXXX`, and read back case-insensitively with dashes and spaces
//! ignored. Its 34.6 bits are enough only because guessing is rate limited and a code lives ten
//! minutes (§5.1).

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::authorize::is_privileged;
use super::client::{Client, GrantType};
use super::error::{ErrorCode, OAuthError};
use super::scope::Scope;
use super::service::OAuthService;
use crate::acr::amr_has_mfa;
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::random;
use crate::store::StoreError;
use crate::token::RefreshToken;
use crate::user::UserId;

/// How long a device code and its user code are valid (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_CODE_LIFETIME: i64 = 600;
/// The polling interval a device starts with (RFC 8628 §3.2 `interval`, default 5).
pub const DEVICE_POLL_INTERVAL: i64 = 5;
/// What `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: i64 = 5;
/// The path of the user-code page (RFC 8628 §3.2 `verification_uri`).
pub const VERIFICATION_PATH: &str = "/device";

/// RFC 8628 §6.1: 20 consonants, no vowels (no words), none easily confused with a digit.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A new user code, uniformly drawn (a byte is used only below 240, a multiple of 20).
fn generate_user_code() -> Result<String, OAuthError> {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let bytes = random::bytes::<16>().map_err(|_| OAuthError::server_error())?;
        for b in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() < USER_CODE_LEN {
                code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    Ok(code)
}

/// `BCDFGHJK` as the user sees it: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(4));
    format!("{a}-{b}")
}

/// A typed user code in its stored form: letters upper-cased, dashes and whitespace dropped.
/// `None` unless exactly 8 letters of the alphabet remain (RFC 8628 §6.1).
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String =
        input.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

fn hash(secret: &str) -> Vec<u8> {
    RefreshToken::from_client(secret).hash()
}

/// Who approved a device, and how they had signed in (the tokens say so, as for a code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    pub user_id: UserId,
    pub auth_time: UnixTime,
    pub amr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    /// Waiting for the user (`authorization_pending`).
    Pending,
    Approved(DeviceApproval),
    Denied,
    /// Approved, and the tokens were issued: the device code is spent.
    Used,
}

/// A device authorization request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_id: String,
    pub scope: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Seconds the device must wait between polls; grows with every `slow_down`.
    pub interval: i64,
    pub last_polled_at: Option<UnixTime>,
    pub state: DeviceState,
    /// The grant the tokens will belong to (revocable as one, like a code's).
    pub grant_id: Uuid,
}

/// RFC 8628 §3.2: the device authorization response.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A pending request found by its user code, for the consent page.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    pub client: Client,
    pub scope: Scope,
    /// The user code, normalised (to send back with the decision).
    pub user_code: String,
}

/// Why a decision on `/device` was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("this code is not valid: it may be mistyped, already used or expired")]
    UnknownCode,
    #[error("{0} requires two-step sign-in: sign out, then sign in again with your second factor")]
    SecondFactorRequired(String),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
}

impl From<StoreError> for DeviceError {
    fn from(e: StoreError) -> Self {
        Self::OAuth(e.into())
    }
}

impl OAuthService {
    /// RFC 8628 §3.1-3.2: a device code and user code for an authenticated client that may use
    /// the grant, for a scope checked as at the authorization endpoint.
    pub async fn start_device_authorization(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<DeviceAuthorizationResponse, OAuthError> {
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use the device grant"));
        }
        let scope = Scope::parse(scope.unwrap_or_default())
            .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
        if !scope.is_subset_of(&client.scopes) {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "the requested scope is not allowed for this client"));
        }
        if !client.skip_consent && scope.iter().any(is_privileged) {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "this scope is only for first-party applications"));
        }
        let device_code = random::token().map_err(|_| OAuthError::server_error())?;
        let now = self.clock.now();
        // A user code collides with a live one about once in 2^34 requests: draw again.
        for _ in 0..3 {
            let user_code = generate_user_code()?;
            let record = DeviceAuthorization {
                device_code_hash: hash(&device_code),
                user_code_hash: hash(&user_code),
                client_id: client.id.clone(),
                scope: scope.to_string(),
                created_at: now,
                expires_at: now + DEVICE_CODE_LIFETIME,
                interval: DEVICE_POLL_INTERVAL,
                last_polled_at: None,
                state: DeviceState::Pending,
                grant_id: Uuid::now_v7(),
            };
            match self.devices.insert_device_authorization(&record).await {
                Ok(()) => {
                    let verification_uri = format!("{}{VERIFICATION_PATH}", self.settings.issuer);
                    let shown = display_user_code(&user_code);
                    return Ok(DeviceAuthorizationResponse {
                        device_code,
                        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                        verification_uri,
                        user_code: shown,
                        expires_in: DEVICE_CODE_LIFETIME,
                        interval: DEVICE_POLL_INTERVAL,
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OAuthError::server_error())
    }

    /// The pending, unexpired request of a typed user code, with its (enabled) client.
    pub async fn device_request(&self, typed: &str) -> Result<DeviceRequest, DeviceError> {
        let user_code = normalize_user_code(typed).ok_or(DeviceError::UnknownCode)?;
        let found = self.devices.pending_device_authorization(&hash(&user_code), self.clock.now()).await?;
        let Some(found) = found else { return Err(DeviceError::UnknownCode) };
        let client = self.clients.client_by_id(&found.client_id).await?;
        let client = client.filter(|c| !c.is_disabled()).ok_or(DeviceError::UnknownCode)?;
        let scope = Scope::parse(&found.scope).map_err(|_| OAuthError::server_error())?;
        Ok(DeviceRequest { client, scope, user_code })
    }

    /// RFC 8628 §3.3: the user's decision. An approval records the sign-in behind it (as a
    /// code does) and the consent; a client that requires a second factor gets an approval
    /// only from a multi-factor session. Audited either way.
    pub async fn decide_device(
        &self,
        typed: &str,
        approval: Option<DeviceApproval>,
        user: UserId,
        ctx: &RequestContext,
    ) -> Result<DeviceRequest, DeviceError> {
        let req = self.device_request(typed).await?;
        if let Some(a) = &approval
            && req.client.require_mfa
            && !amr_has_mfa(&a.amr)
        {
            return Err(DeviceError::SecondFactorRequired(req.client.name.clone()));
        }
        let now = self.clock.now();
        if !self.devices.decide_device_authorization(&hash(&req.user_code), approval.as_ref(), now).await? {
            return Err(DeviceError::UnknownCode);
        }
        let scopes: Vec<String> = req.scope.iter().map(str::to_owned).collect();
        let who = Some(user.to_string());
        let (event, outcome, details) = if approval.is_some() {
            self.consents.grant_consent(user, &req.client.id, &scopes, now).await?;
            (AuditEventType::DeviceApproved, Outcome::Success, json!({ "client_id": req.client.id, "scopes": scopes }))
        } else {
            (AuditEventType::DeviceDenied, Outcome::Failure, json!({ "client_id": req.client.id }))
        };
        self.audit.record(event, outcome, who.clone(), who, ctx, details).await.map_err(OAuthError::from)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_read_back_forgivingly() {
        for _ in 0..50 {
            let code = generate_user_code().unwrap();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{code}");
            let shown = display_user_code(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
            let sloppy = format!(" {} ", shown.to_lowercase().replace('-', " - "));
            assert_eq!(normalize_user_code(&sloppy).as_deref(), Some(code.as_str()));
        }
        // Vowels, digits and the wrong length are never a code.
        for bad in ["BCDF-GHJA", "BCDF-GHJ1", "BCDF-GHJ", "BCDF-GHJKL", "", "BCDF_GHJK"] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }
}
