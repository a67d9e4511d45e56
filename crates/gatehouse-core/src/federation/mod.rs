//! Federation: signing in through an upstream identity provider ("Sign in with Google"), with
//! Gatehouse as the OAuth 2.0 / OpenID Connect *client* (OIDC Core §3.1, RFC 6749 §4.1).
//!
//! What lives here is the part that needs no HTTP: the provider configurations and presets
//! ([`provider`]), the mapping of upstream claims to an identity ([`claims`]), the per-login
//! secrets — `state`, `nonce`, PKCE verifier — and their binding to the browser ([`flow`]), the
//! rules for creating and linking accounts ([`policy`]), the order of a callback's checks
//! ([`callback`]: `state`, `iss`, error response, code redemption), and the service that
//! applies them and writes the audit trail ([`service`]). The upstream HTTP client (discovery,
//! JWKS, token exchange, ID token signature) lives in `gatehouse-http`, behind the
//! [`UpstreamExchange`] port.
//!
//! An upstream identity is the pair (provider id, upstream `sub`), never an email address.

mod callback;
pub mod claims;
pub mod flow;
pub mod policy;
pub mod provider;
mod service;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::store::StoreError;
use crate::user::{User, UserId};

pub use callback::{Callback, CallbackOutcome, UpstreamError, UpstreamExchange};
pub use claims::{ClaimMapping, UpstreamIdentity};
pub use flow::{BrowserBinding, FlowSecrets, LoginState, PendingLink, ReturnTo};
pub use policy::{Decision, Provisioning, Refusal};
pub use provider::{IssuerRule, ProviderConfig, ProviderKind};
pub use service::{FederatedSignIn, FederationError, FederationService};

/// A link between a local account and an upstream identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub provider: String,
    /// The upstream `sub` (for GitHub: the numeric user id), stable for the provider's lifetime.
    pub subject: String,
    pub user_id: UserId,
    /// The email the upstream last reported; informational only, never used for matching.
    pub email: Option<String>,
    pub created_at: UnixTime,
    pub last_login_at: UnixTime,
}

/// What an unlink did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    /// No such link for this user.
    NotFound,
    /// The link is the account's only way to sign in (no password, no other link).
    LastMethod,
}

/// Upstream identities and pending federated logins.
#[async_trait]
pub trait FederationStore: Send + Sync {
    async fn insert_login_state(&self, state: &LoginState) -> Result<(), StoreError>;
    /// Atomically removes and returns the login state with this hash, expired or not (the
    /// caller checks expiry): a `state` is usable once, whatever the outcome.
    async fn take_login_state(&self, state_hash: &[u8]) -> Result<Option<LoginState>, StoreError>;
    /// Deletes login states with `expires_at <= now`.
    async fn purge_login_states(&self, now: UnixTime) -> Result<u64, StoreError>;
    async fn identity(&self, provider: &str, subject: &str) -> Result<Option<FederatedIdentity>, StoreError>;
    async fn identities_for_user(&self, user: UserId) -> Result<Vec<FederatedIdentity>, StoreError>;
    /// `Conflict("federated identity")` when the pair is linked already, or the user already
    /// has a link to this provider.
    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError>;
    /// Creates the user and its first link in one transaction: both or neither.
    async fn create_user_with_identity(&self, user: &User, identity: &FederatedIdentity) -> Result<(), StoreError>;
    /// Records a sign-in through the link (and the email the upstream now reports).
    async fn touch_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Removes the user's link to `provider` unless it is the account's last way to sign in,
    /// in one statement (no race with a concurrent unlink).
    async fn unlink_identity(&self, user: UserId, provider: &str) -> Result<UnlinkOutcome, StoreError>;
}
