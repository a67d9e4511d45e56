//! OpenID Connect Back-Channel Logout 1.0: which clients each browser session signed in to
//! (§2.3), the logout token (§2.4, [`token`]), and its durable, retried delivery to the
//! clients' `backchannel_logout_uri` (§2.5, §2.8, [`deliver`]).
//!
//! A client with a logout endpoint that gets an authorization code in a session is remembered
//! with the code's grant id, which is the `sid` of every ID token issued under that grant. When
//! the session ends (logout, a revoked sign-in, an admin ending a user's sessions, expiry, a
//! deleted user), its rows become due in the same store as everything else, so a delivery
//! survives a restart and is sent by whichever node claims it first (the mail queue's lease
//! pattern). Logging out never waits for a client: a worker sends in the background.

mod deliver;
pub mod token;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::{Clock, UnixTime};
use crate::store::StoreError;
use crate::user::UserId;

pub use deliver::{BackchannelDelivery, LogoutSender};
pub use token::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_LIFETIME, LOGOUT_TOKEN_TYPE};

/// §2.3: a client that signed in to a session through a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    /// The grant's id: the `sid` of its ID tokens.
    pub grant_id: Uuid,
    pub session_id: Uuid,
    pub client_id: String,
    pub user_id: UserId,
    pub created_at: UnixTime,
}

/// A logout token waiting to be sent (its session has ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogout {
    pub grant_id: Uuid,
    pub client_id: String,
    pub user_id: UserId,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the session ended (what the retry policy's age counts from).
    pub ended_at: UnixTime,
    /// The lease of a claimed row; `None` when unclaimed.
    pub locked_until: Option<UnixTime>,
}

/// Storage of the table `backchannel_logouts`: `live` rows of running sessions, `pending` rows
/// to send, `failed` rows given up on. A claim sets a lease in one statement and every later
/// write names it, so two nodes never send one logout and a worker whose lease ran out
/// changes nothing (as [`crate::mail::MailQueueStore`]).
#[async_trait]
pub trait BackchannelStore: Send + Sync {
    /// Remembers a client's grant in a session (a second write of one grant changes nothing).
    async fn remember_session_grant(&self, grant: &SessionGrant) -> Result<(), StoreError>;
    /// The sign-in continues under a new session id (rotation at sign-in): its clients follow.
    async fn move_session_grants(&self, from: Uuid, to: Uuid) -> Result<u64, StoreError>;
    /// The session ended: its live rows are due at `now`.
    async fn end_session_grants(&self, session: Uuid, now: UnixTime) -> Result<u64, StoreError>;
    /// Every session of the user ended: their live rows are due at `now`.
    async fn end_user_session_grants(&self, user: UserId, now: UnixTime) -> Result<u64, StoreError>;
    /// Live rows whose session no longer exists (purged on expiry, deleted with its user, ended
    /// by a path that said nothing) are due at `now`.
    async fn end_orphaned_session_grants(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// Leases the oldest due row until `lease_until`; of concurrent claims exactly one gets it.
    async fn claim_due_logout(&self, now: UnixTime, lease_until: UnixTime)
    -> Result<Option<PendingLogout>, StoreError>;
    /// Delivered (or nobody left to tell): deletes the row if it still holds `lease`.
    async fn delete_logout(&self, grant: Uuid, lease: UnixTime) -> Result<bool, StoreError>;
    /// Not delivered: records the attempt and the next one, and releases the lease.
    async fn retry_logout(
        &self,
        grant: Uuid,
        lease: UnixTime,
        attempts: u32,
        next_attempt_at: UnixTime,
        last_error: &str,
    ) -> Result<bool, StoreError>;
    /// Given up: status `failed`, the lease released.
    async fn fail_logout(
        &self,
        grant: Uuid,
        lease: UnixTime,
        attempts: u32,
        last_error: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// `(status, attempts, last_error)` of a grant's row (tests and operators).
    async fn logout_status(&self, grant: Uuid) -> Result<Option<(String, u32, Option<String>)>, StoreError>;
    /// Deletes failed rows that failed before `before`.
    async fn purge_failed_logouts(&self, before: UnixTime) -> Result<u64, StoreError>;
}

/// What sign-in and session code needs: remembering the clients of a session and saying that
/// sessions ended. Cheap to call; the sending happens in [`BackchannelDelivery`].
pub struct BackchannelSessions {
    store: Arc<dyn BackchannelStore>,
    clock: Arc<dyn Clock>,
    /// Wakes this node's sender when something became due.
    wake: Notify,
}

impl BackchannelSessions {
    pub fn new(store: Arc<dyn BackchannelStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, wake: Notify::new() }
    }

    pub(crate) fn store(&self) -> &Arc<dyn BackchannelStore> {
        &self.store
    }

    /// §2.3: `client_id` obtained a grant (`grant_id`, the ID tokens' `sid`) in `session`.
    pub async fn remember(
        &self,
        session: Uuid,
        grant_id: Uuid,
        client_id: &str,
        user: UserId,
    ) -> Result<(), StoreError> {
        let grant = SessionGrant {
            grant_id,
            session_id: session,
            client_id: client_id.to_owned(),
            user_id: user,
            created_at: self.clock.now(),
        };
        self.store.remember_session_grant(&grant).await
    }

    /// The session was replaced by a new one for the same sign-in (anti-fixation rotation).
    pub async fn session_rotated(&self, from: Uuid, to: Uuid) -> Result<(), StoreError> {
        self.store.move_session_grants(from, to).await.map(drop)
    }

    /// The session ended: its clients are to be told.
    pub async fn session_ended(&self, session: Uuid) -> Result<(), StoreError> {
        let due = self.store.end_session_grants(session, self.clock.now()).await?;
        self.wake_if(due);
        Ok(())
    }

    /// Every session of `user` ended.
    pub async fn user_sessions_ended(&self, user: UserId) -> Result<(), StoreError> {
        let due = self.store.end_user_session_grants(user, self.clock.now()).await?;
        self.wake_if(due);
        Ok(())
    }

    /// Catches sessions that ended without a word (expiry purge, deleted users).
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let due = self.store.end_orphaned_session_grants(self.clock.now()).await?;
        self.wake_if(due);
        Ok(due)
    }

    fn wake_if(&self, due: u64) {
        if due > 0 {
            self.wake.notify_one();
        }
    }

    /// Waits until something became due on this node, or `poll` passed.
    pub async fn wait_for_work(&self, poll: std::time::Duration) {
        let _ = tokio::time::timeout(poll, self.wake.notified()).await;
    }
}
