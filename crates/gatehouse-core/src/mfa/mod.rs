//! Multi-factor sign-in, first slice: TOTP (RFC 6238) with single-use recovery codes, and the
//! pending second-factor step between a right password and a session.
//!
//! - [`totp`]: secrets (160 random bits, sealed at rest under the master key), the `otpauth://`
//!   URI, and verification over ±1 time step with constant-time comparison. The step a code
//!   matched is recorded per user ([`MfaStore::use_totp_step`], one atomic update), so a code
//!   is accepted once: a replay of the same or an earlier step is refused.
//! - [`recovery`]: ten random codes of 50 bits, shown once; only their SHA-256 is stored.
//! - [`MfaChallenge`]: after a right password, an account with TOTP gets no session but a
//!   random handle (its SHA-256 stored) that works for [`CHALLENGE_LIFETIME`] seconds, once,
//!   on the channel it was issued for (a browser cookie, or the JSON `mfa_token`).
//!
//! The rules live in `account::mfa` (enrolment, disable, regenerate, admin reset) and
//! `account::mfa_sign_in` (the second step); stores only keep rows.

pub mod passkey;
pub mod policy;
pub mod recovery;
pub mod totp;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::random::{self, RandomError};
use crate::store::StoreError;
use crate::user::UserId;

/// Seconds a pending second-factor step lives (5 minutes).
pub const CHALLENGE_LIFETIME: i64 = 300;

/// RFC 8176 values a one-time code (TOTP or a recovery code) adds to those of the first step:
/// `otp`, and `mfa` (more than one factor). A password sign-in becomes `pwd otp mfa`, stored
/// space-separated on the session.
pub const AMR_SECOND_FACTOR: &str = "otp mfa";

/// A user's TOTP factor as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub user_id: UserId,
    /// The raw secret sealed with [`crate::keys::MasterKey::seal_for`] (purpose `totp`, id the
    /// user id).
    pub secret_sealed: Vec<u8>,
    pub created_at: UnixTime,
    /// `None` while the enrolment waits for its first valid code.
    pub confirmed_at: Option<UnixTime>,
    /// The highest time step accepted so far.
    pub last_used_step: Option<i64>,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .finish_non_exhaustive()
    }
}

/// What completing the second factor yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaChannel {
    /// The sign-in page: the handle travels in an HttpOnly cookie; the result is a session.
    Page,
    /// `/api/v1/auth/login`: the handle is the JSON `mfa_token`; the result is a session.
    Session,
    /// `/api/v1/auth/token`: the handle is the JSON `mfa_token`; the result is a token pair.
    Token,
}

impl MfaChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Session => "session",
            Self::Token => "token",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "page" => Some(Self::Page),
            "session" => Some(Self::Session),
            "token" => Some(Self::Token),
            _ => None,
        }
    }
}

/// A pending second-factor step, as stored (the handle's hash, never the handle).
#[derive(Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub handle_hash: Vec<u8>,
    pub user_id: UserId,
    pub channel: MfaChannel,
    /// The parked authorization request to continue (page sign-ins only).
    pub next: Option<String>,
    /// RFC 8176 values of the first step, space-separated (`pwd`, or `fed`).
    pub amr: String,
    /// When the first step was done.
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("user_id", &self.user_id)
            .field("channel", &self.channel)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl MfaChallenge {
    /// A new challenge: the handle for the browser or client, and the row to store.
    pub fn issue(
        user_id: UserId,
        channel: MfaChannel,
        next: Option<String>,
        amr: &str,
        now: UnixTime,
    ) -> Result<(String, Self), RandomError> {
        let handle = random::token()?;
        let row = Self {
            handle_hash: hash_handle(&handle),
            user_id,
            channel,
            next,
            amr: amr.to_owned(),
            auth_time: now,
            created_at: now,
            expires_at: now + CHALLENGE_LIFETIME,
        };
        Ok((handle, row))
    }
}

/// SHA-256 of a presented handle (an index look-up on the hash of 256 random bits).
pub fn hash_handle(handle: &str) -> Vec<u8> {
    Sha256::new().chain_update(b"gatehouse-mfa-challenge:").chain_update(handle.as_bytes()).finalize().to_vec()
}

/// Rows of TOTP factors, recovery codes and pending second-factor steps.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn totp_factor(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError>;
    /// Stores an unconfirmed factor, replacing an earlier unconfirmed one. `false` (and no
    /// change) when the user has a confirmed factor.
    async fn begin_totp(&self, user: UserId, secret_sealed: &[u8], now: UnixTime) -> Result<bool, StoreError>;
    /// Confirms the unconfirmed factor with `step` as its last used step and replaces the
    /// recovery codes by `codes`, in one transaction. `false` (and no change) when there is no
    /// unconfirmed factor.
    async fn confirm_totp(&self, user: UserId, step: i64, codes: &[Vec<u8>], now: UnixTime)
    -> Result<bool, StoreError>;
    /// Records `step` as used if the user has a confirmed factor whose last used step is
    /// earlier, in one atomic update: of concurrent uses of one step exactly one gets `true`.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;
    /// The hashes of the user's unused recovery codes.
    async fn recovery_code_hashes(&self, user: UserId) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Deletes one recovery code; `true` for the one caller that deleted it.
    async fn use_recovery_code(&self, user: UserId, code_hash: &[u8]) -> Result<bool, StoreError>;
    /// Replaces all of the user's recovery codes, atomically.
    async fn replace_recovery_codes(&self, user: UserId, codes: &[Vec<u8>], now: UnixTime) -> Result<(), StoreError>;
    /// Deletes the TOTP factor only (the user keeps other second factors, their recovery codes
    /// and pending steps); `true` when it existed.
    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError>;
    /// Deletes the TOTP factor, the recovery codes and pending challenges of the user, in one
    /// transaction; `true` when a factor (confirmed or not) existed.
    async fn delete_mfa(&self, user: UserId) -> Result<bool, StoreError>;
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError>;
    /// The challenge with this hash if `expires_at > now`; changes nothing.
    async fn mfa_challenge(&self, handle_hash: &[u8], now: UnixTime) -> Result<Option<MfaChallenge>, StoreError>;
    /// Deletes the challenge if `expires_at > now`; `true` for exactly one caller.
    async fn take_mfa_challenge(&self, handle_hash: &[u8], now: UnixTime) -> Result<bool, StoreError>;
    /// Deletes expired challenges.
    async fn purge_mfa_challenges(&self, now: UnixTime) -> Result<u64, StoreError>;
}
