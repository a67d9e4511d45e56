//! WebAuthn passkeys (W3C Web Authentication Level 3) through `webauthn-rs`: the relying party
//! built from the issuer, the rows a user's credentials are kept in, and the server-side state
//! of a ceremony in progress.
//!
//! Choices, and why:
//! - **Attestation `none`.** We accept any authenticator and do not ask who made it: asking
//!   (`direct`) only pays with a list of trusted vendor roots, which an open sign-up service
//!   does not have, and it makes browsers show an extra prompt.
//! - **User verification required** (PIN or biometric on the authenticator) for every
//!   ceremony: a passkey then stands for two factors (possession and knowledge or inherence),
//!   which is what lets it sign in without a password. As a second factor after the password it
//!   would be enough with presence alone, but one rule for every use keeps a credential that
//!   was registered for one use safe for the other.
//! - **Resident key preferred**: registration asks for a discoverable credential (so that the
//!   "Sign in with a passkey" button works without an email address) but accepts a security
//!   key that cannot store one; the authenticator's `credProps` answer is kept as
//!   `discoverable` and shown on the account page.
//! - **Counters and backup state** are checked by `webauthn-rs` (a counter that goes backwards
//!   is refused as a possible clone) and the stored credential is updated after each use
//!   (`Passkey::update_credential`).
//! - **Ceremony state** (the challenge) lives in the database under the SHA-256 of a random
//!   handle for [`CEREMONY_LIFETIME`] seconds, single use, so that any node can finish what
//!   another began and a replayed response finds nothing.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::UnixTime;
use crate::random::{self, RandomError};
use crate::store::StoreError;
use crate::user::UserId;

pub use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
    Url, Webauthn, WebauthnError,
};

/// Seconds a ceremony may take (5 minutes, the W3C's recommended upper timeout).
pub const CEREMONY_LIFETIME: i64 = 300;

/// Longest name a user may give a passkey, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// RFC 8176 values of a passkey: proof of possession of a key (`pop`, registered by OpenID's
/// EAP ACR Values 1.0: hardware or software key, unspecified — synced passkeys are not `hwk`)
/// with user verification on the device, hence `mfa`. A passwordless sign-in is `pop mfa`; after
/// a password, the passkey adds the same values (`pwd pop mfa`).
pub const AMR_PASSKEY: &str = "pop mfa";

/// The relying party: its id and the origins it accepts come from the issuer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// A registrable domain the issuer's host equals or is under (WebAuthn L3 §5.1.4 "RP ID").
    pub id: String,
    /// Origins whose pages may run ceremonies (the issuer's own origin, and any configured).
    pub origins: Vec<Url>,
    /// Shown by the authenticator ("Gatehouse").
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RelyingPartyError {
    #[error("the issuer has no host name usable as a WebAuthn relying-party id (IP addresses are not allowed)")]
    NoHost,
    #[error("passkeys: {0}")]
    Invalid(String),
}

impl RelyingParty {
    /// The relying party of an issuer: the id is the issuer's host unless `rp_id` names a
    /// parent domain of it; the origins are the issuer's and `extra_origins`.
    pub fn from_issuer(
        issuer: &Url,
        rp_id: Option<&str>,
        extra_origins: &[Url],
        name: &str,
    ) -> Result<Self, RelyingPartyError> {
        let host = match issuer.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            _ => return Err(RelyingPartyError::NoHost),
        };
        let id = rp_id.map_or(host, str::to_owned);
        let mut origins = vec![
            Url::parse(&issuer.origin().ascii_serialization())
                .map_err(|e| RelyingPartyError::Invalid(e.to_string()))?,
        ];
        origins.extend(extra_origins.iter().cloned());
        Ok(Self { id, origins, name: name.to_owned() })
    }

    /// The `webauthn-rs` instance (validates that every origin is under the id).
    pub fn build(&self) -> Result<Webauthn, RelyingPartyError> {
        let first = self.origins.first().ok_or_else(|| RelyingPartyError::Invalid("no origin".into()))?;
        let mut builder = webauthn_rs::WebauthnBuilder::new(&self.id, first)
            .map_err(|e| RelyingPartyError::Invalid(e.to_string()))?
            .rp_name(&self.name)
            .timeout(std::time::Duration::from_secs(CEREMONY_LIFETIME as u64));
        for origin in &self.origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        builder.build().map_err(|e| RelyingPartyError::Invalid(e.to_string()))
    }
}

/// A registered passkey as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// `webauthn_rs::Passkey` as JSON (public key, counter, backup flags).
    pub credential: String,
    pub discoverable: bool,
    /// The authenticator's signature counter at the last accepted use.
    pub sign_count: i64,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

impl PasskeyRecord {
    pub fn passkey(&self) -> Result<Passkey, StoreError> {
        serde_json::from_str(&self.credential)
            .map_err(|_| StoreError::Corrupt(format!("passkey {}: unreadable credential", self.id)))
    }
}

/// The outcome of removing a passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasskeyRemoval {
    /// Removed; its name.
    Removed(String),
    NotFound,
    /// It is the account's last way to sign in: kept.
    LastMethod,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyPurpose {
    Register,
    SecondFactor,
    SignIn,
}

impl CeremonyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SecondFactor => "second_factor",
            Self::SignIn => "sign_in",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(Self::Register),
            "second_factor" => Some(Self::SecondFactor),
            "sign_in" => Some(Self::SignIn),
            _ => None,
        }
    }
}

/// A ceremony in progress, as stored (the handle's hash, never the handle).
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub handle_hash: Vec<u8>,
    pub purpose: CeremonyPurpose,
    pub user_id: Option<UserId>,
    /// The SHA-256 of the pending second step a second-factor ceremony belongs to.
    pub binding: Option<Vec<u8>>,
    /// `webauthn-rs` state as JSON.
    pub state: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Ceremony {
    /// A new ceremony: the handle for the browser, and the row to store.
    pub fn issue(
        purpose: CeremonyPurpose,
        user_id: Option<UserId>,
        binding: Option<Vec<u8>>,
        state: String,
        now: UnixTime,
    ) -> Result<(String, Self), RandomError> {
        let handle = random::token()?;
        let row = Self {
            handle_hash: hash_ceremony_handle(&handle),
            purpose,
            user_id,
            binding,
            state,
            created_at: now,
            expires_at: now + CEREMONY_LIFETIME,
        };
        Ok((handle, row))
    }
}

/// SHA-256 of a presented ceremony handle.
pub fn hash_ceremony_handle(handle: &str) -> Vec<u8> {
    Sha256::new().chain_update(b"gatehouse-passkey-ceremony:").chain_update(handle.as_bytes()).finalize().to_vec()
}

/// Rows of passkeys and of ceremonies in progress.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError>;
    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError>;
    /// Stores a new passkey and, if the user has no recovery codes yet, `codes` as their
    /// recovery codes, in one transaction; `true` when the codes were stored.
    /// `StoreError::Conflict` when the credential id is registered already (to any account).
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        codes: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Records a use: the updated credential (backup state), the counter and the time — only if
    /// `sign_count` is above the stored one (or both are 0), in one conditional update: `false`
    /// (and no change) for a counter that did not go up, a possible clone.
    async fn record_passkey_use(
        &self,
        id: Uuid,
        credential: &str,
        sign_count: i64,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Deletes one of the user's passkeys unless it is the account's last way to sign in (no
    /// password, no upstream identity, no other discoverable passkey), in one guarded write.
    async fn delete_passkey(&self, user: UserId, id: Uuid) -> Result<PasskeyRemoval, StoreError>;
    /// The admin reset: deletes the user's TOTP factor, recovery codes, pending second steps,
    /// passkeys and ceremonies in one transaction; whether there was a TOTP factor, and how
    /// many passkeys.
    async fn delete_all_factors(&self, user: UserId) -> Result<(bool, u64), StoreError>;
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError>;
    /// Deletes and returns the ceremony with this hash and purpose if it has not expired: of
    /// two finishes of one ceremony, one gets it.
    async fn take_ceremony(
        &self,
        handle_hash: &[u8],
        purpose: CeremonyPurpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError>;
    /// Deletes expired ceremonies.
    async fn purge_ceremonies(&self, now: UnixTime) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_comes_from_the_issuer() {
        let issuer = Url::parse("https://auth.example.com/").unwrap();
        let rp = RelyingParty::from_issuer(&issuer, None, &[], "Gatehouse").unwrap();
        assert_eq!(rp.id, "auth.example.com");
        assert_eq!(rp.origins, vec![Url::parse("https://auth.example.com").unwrap()]);
        rp.build().unwrap();
        let parent = RelyingParty::from_issuer(&issuer, Some("example.com"), &[], "Gatehouse").unwrap();
        assert_eq!(parent.id, "example.com");
        parent.build().unwrap();
    }

    #[test]
    fn an_ip_address_or_a_foreign_id_is_refused() {
        let ip = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert!(matches!(RelyingParty::from_issuer(&ip, None, &[], "G"), Err(RelyingPartyError::NoHost)));
        let issuer = Url::parse("https://auth.example.com/").unwrap();
        let foreign = RelyingParty::from_issuer(&issuer, Some("example.org"), &[], "G").unwrap();
        assert!(foreign.build().is_err(), "the origin must be under the relying-party id");
    }

    #[test]
    fn ceremony_handles_are_random_and_only_their_hash_is_kept() {
        let (a, row) = Ceremony::issue(CeremonyPurpose::SignIn, None, None, "{}".into(), 100).unwrap();
        let (b, _) = Ceremony::issue(CeremonyPurpose::SignIn, None, None, "{}".into(), 100).unwrap();
        assert_ne!(a, b);
        assert_eq!(row.handle_hash, hash_ceremony_handle(&a));
        assert_eq!(row.expires_at, 100 + CEREMONY_LIFETIME);
        assert_eq!(CeremonyPurpose::parse(CeremonyPurpose::SecondFactor.as_str()), Some(CeremonyPurpose::SecondFactor));
    }
}
