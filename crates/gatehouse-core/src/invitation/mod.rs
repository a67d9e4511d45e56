//! Invitations (issue #14 part 5): an admin invites an address, with roles; the person who
//! receives the link creates the account — with a password on the accept page, or by signing
//! in through an upstream provider when `federation.provisioning = "invite_only"`.
//!
//! An invitation is single use: the link carries a 256-bit random token of which only the
//! SHA-256 is stored ([`token_hash`]). Accepting is one transaction in the store
//! ([`InvitationStore::accept_invitation`]): the invitation is marked used only if it is still
//! pending, the user is created and the roles granted — all of it or nothing, and exactly one
//! of any number of concurrent acceptances wins.

mod service;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::UnixTime;
use crate::email::Email;
use crate::federation::FederatedIdentity;
use crate::rbac::RoleName;
use crate::store::StoreError;
use crate::user::{User, UserId};

pub use service::{InvitationError, InvitationService, InvitationStores};

/// The most roles one invitation may carry.
pub const MAX_ROLES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// A UUIDv7: invitations list in creation order.
    pub id: Uuid,
    /// SHA-256 of the link's token; the token itself is only ever in the mail.
    pub token_hash: Vec<u8>,
    pub email: Email,
    /// Granted to the account when the invitation is accepted (roles deleted since are skipped).
    pub roles: Vec<RoleName>,
    /// The audit actor who invited: a user id, `client:<id>` or `cli`.
    pub invited_by: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub accepted_at: Option<UnixTime>,
    /// The account created by accepting (cleared if that account is deleted).
    pub accepted_user_id: Option<UserId>,
    pub revoked_at: Option<UnixTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

impl Invitation {
    pub fn status(&self, now: UnixTime) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }
}

/// The SHA-256 of an invitation token, as stored and looked up.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// What [`InvitationStore::accept_invitation`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// The invitation (as it now is, accepted) and the roles actually granted.
    Accepted { invitation: Box<Invitation>, granted: Vec<RoleName> },
    /// Unknown, already used, revoked or expired: nothing was written.
    Invalid,
    /// An account with the address exists by now: nothing was written, the invitation stays.
    EmailTaken,
}

/// Invitations, stored by token hash only.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Inserts `invitation` and, in the same transaction, revokes (at `now`) every other
    /// invitation for the same address that is neither accepted nor revoked; returns their ids.
    async fn create_invitation(&self, invitation: &Invitation, now: UnixTime) -> Result<Vec<Uuid>, StoreError>;
    async fn invitation(&self, id: Uuid) -> Result<Option<Invitation>, StoreError>;
    /// Look-up by [`token_hash`], whatever the invitation's status.
    async fn invitation_by_token(&self, token_hash: &[u8]) -> Result<Option<Invitation>, StoreError>;
    /// The pending invitation (not accepted, not revoked, `expires_at > now`) for an
    /// [`Email::key`], if any.
    async fn pending_invitation(&self, email_key: &str, now: UnixTime) -> Result<Option<Invitation>, StoreError>;
    /// Invitations in id (creation) order after `after`, at most `limit`.
    async fn list_invitations(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Invitation>, StoreError>;
    /// Marks the invitation revoked if it is neither accepted nor revoked; `false` otherwise.
    async fn revoke_invitation(&self, id: Uuid, now: UnixTime) -> Result<bool, StoreError>;
    /// In one transaction: marks the invitation with this token hash accepted by `user` if it
    /// is pending at `now`, inserts `user` (and `identity`, the upstream link of a federated
    /// sign-in) and grants the invitation's roles that still exist. Exactly one of any number
    /// of concurrent calls with the same token gets `Accepted`.
    async fn accept_invitation(
        &self,
        token_hash: &[u8],
        user: &User,
        identity: Option<&FederatedIdentity>,
        now: UnixTime,
    ) -> Result<AcceptOutcome, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_timestamps() {
        let mut inv = Invitation {
            id: Uuid::now_v7(),
            token_hash: token_hash("t"),
            email: Email::parse("a@x.example").unwrap(),
            roles: Vec::new(),
            invited_by: "cli".into(),
            created_at: 0,
            expires_at: 100,
            accepted_at: None,
            accepted_user_id: None,
            revoked_at: None,
        };
        assert_eq!(inv.status(99), InvitationStatus::Pending);
        assert_eq!(inv.status(100), InvitationStatus::Expired);
        inv.revoked_at = Some(5);
        assert_eq!(inv.status(99), InvitationStatus::Revoked);
        inv.accepted_at = Some(6);
        assert_eq!(inv.status(200), InvitationStatus::Accepted);
        assert_eq!(token_hash("t").len(), 32);
    }
}
