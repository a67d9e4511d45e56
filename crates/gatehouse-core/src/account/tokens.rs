//! Single-use account tokens: the links in verification, change-of-address and password-reset
//! mails. 256 random bits go to the person; only their SHA-256 is stored, with the purpose, the
//! address the link was sent to, and an expiry. Issuing a token replaces the user's earlier
//! ones of the same purpose (only the newest link works); redeeming one deletes it and applies
//! its effect in the same transaction, so a link works once and never half-way.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::email::Email;
use crate::random::{self, RandomError};
use crate::store::StoreError;
use crate::user::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms the account's current address.
    VerifyEmail,
    /// Confirms a new address, which replaces the current one when confirmed.
    ChangeEmail,
    /// Sets a new password.
    ResetPassword,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ChangeEmail => "change_email",
            Self::ResetPassword => "reset_password",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify_email" => Some(Self::VerifyEmail),
            "change_email" => Some(Self::ChangeEmail),
            "reset_password" => Some(Self::ResetPassword),
            _ => None,
        }
    }
}

/// A stored token (its hash, never the token).
#[derive(Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The address the link was sent to: the one to verify, or the new one.
    pub email: Email,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for AccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountToken")
            .field("user_id", &self.user_id)
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl AccountToken {
    /// A new token for `user`: the plaintext for the link, and the row to store.
    pub fn issue(
        user_id: UserId,
        purpose: TokenPurpose,
        email: Email,
        now: UnixTime,
        ttl: i64,
    ) -> Result<(String, Self), RandomError> {
        let token = random::token()?;
        let row = Self { token_hash: hash(&token), user_id, purpose, email, created_at: now, expires_at: now + ttl };
        Ok((token, row))
    }
}

/// SHA-256 of a presented token: what look-ups compare (an index look-up on a hash of 256
/// random bits leaks nothing a timing attack could use).
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// What redeeming a token does, in the transaction that deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEffect<'a> {
    /// Marks the address verified, if it is still the account's address.
    VerifyEmail,
    /// Replaces the account's address by the token's (verified). A clash with another
    /// account's address is [`StoreError::Conflict`], and nothing changes (the token stays).
    ChangeEmail,
    /// Sets the password hash, ends every session and revokes every refresh-token family of
    /// the user (reason `password_reset`), and deletes the user's other reset tokens and any
    /// pending change of address (whoever asked for it may be the intruder being locked out).
    SetPassword { hash: &'a str },
}

#[async_trait]
pub trait AccountTokenStore: Send + Sync {
    /// Stores `token` and deletes the user's other tokens of the same purpose, atomically.
    async fn issue_account_token(&self, token: &AccountToken) -> Result<(), StoreError>;
    /// The token with this hash if it has `purpose` and `expires_at > now`; changes nothing.
    async fn account_token(
        &self,
        token_hash: &[u8],
        purpose: TokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError>;
    /// Deletes the token (if it has `purpose` and `expires_at > now`) and applies `effect`, in
    /// one transaction. Exactly one of any number of concurrent calls with one token gets it;
    /// the others get `None`, as do unknown, expired and other-purpose tokens.
    async fn redeem_account_token(
        &self,
        token_hash: &[u8],
        purpose: TokenPurpose,
        effect: TokenEffect<'_>,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError>;
    /// Deletes the user's tokens of `purpose`; returns how many.
    async fn delete_account_tokens(&self, user: UserId, purpose: TokenPurpose) -> Result<u64, StoreError>;
    /// Deletes tokens with `expires_at <= now`; returns how many.
    async fn purge_account_tokens(&self, now: UnixTime) -> Result<u64, StoreError>;
}
