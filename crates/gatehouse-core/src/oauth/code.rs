//! Authorization codes (RFC 6749 §4.1.2): 256 random bits, stored as SHA-256, single use,
//! 60 seconds, bound to the client, redirect URI, PKCE challenge, nonce, scope and auth time.

use uuid::Uuid;

use crate::clock::UnixTime;
use crate::user::UserId;

/// Lifetime of an authorization code (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_LIFETIME: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// S256 challenge (RFC 7636 §4.2); `None` only for confidential clients when PKCE is not
    /// required by configuration.
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The grant created when the code is redeemed: every token issued from the code belongs to
    /// it, so a replayed code can revoke them all (RFC 6749 §4.1.2, RFC 9700 §4.5).
    pub grant_id: Uuid,
    /// How the user signed in (`pwd`, `fed`): the ID token's `amr` (OIDC Core §2).
    pub amr: String,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt` of the
    /// authorization request); redeeming it needs a proof by that key.
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// First redemption: the code is now used.
    Redeemed(AuthorizationCode),
    /// The code had already been redeemed.
    Replayed(AuthorizationCode),
    /// Unknown or expired.
    Invalid,
}

/// A consent a user gave a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: UnixTime,
}
