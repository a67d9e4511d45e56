//! Accounts: registration, login into a server-side session, logout, and account management.
//! The one service the HTTP layer and the CLI call; it owns the rules, storage owns the rows.

mod email_change;
mod login;
mod manage;
mod mfa;
mod mfa_policy;
mod mfa_sign_in;
mod passkey_sign_in;
mod passkeys;
pub(crate) use passkeys::is_invisible_format;
mod reset;
mod self_service;
mod sign_ins;
pub mod tokens;
mod verification;

use std::sync::Arc;

use crate::abuse::{Lockout, LockoutPolicy, RateLimitSettings, RateLimited, RateLimits};
use crate::audit::Auditor;
use crate::clock::Clock;
use crate::email::EmailError;
use crate::keys::MasterKey;
use crate::mail::MailService;
use crate::mfa::MfaStore;
use crate::mfa::passkey::{PasskeyStore, Webauthn};
use crate::mfa::policy::{MfaPolicy, MfaRefusal};
use crate::password::{HashError, PasswordHasher, PasswordPolicy, PolicyViolation};
use crate::random::RandomError;
use crate::rbac::RbacStore;
use crate::session::SessionSettings;
use crate::store::{AccountTokenStore, AuditStore, RefreshTokenStore, SessionStore, StoreError, UserStore};

pub use email_change::{REAUTH_WINDOW, Reauth};
pub use login::SignedIn;
pub use manage::Credential;
pub(crate) use mfa::SEAL_PURPOSE as TOTP_SEAL_PURPOSE;
pub use mfa::{MfaStatus, TotpEnrolment};
pub use mfa_sign_in::{FirstFactor, LoginOutcome, MfaPending, MfaVerified, Proof, SecondFactor};
pub use passkeys::{CeremonyStart, PasskeyAdded, PasskeySummary, passkey_name};
pub use self_service::Caller;
pub use sign_ins::{SignIn, SignInKind, SignInsEnded};
pub use verification::{Confirmed, PendingLink, Resent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    pub registration_enabled: bool,
    pub password_policy: PasswordPolicy,
    pub session: SessionSettings,
    /// Refuse sign-in to OAuth clients until the email address is verified.
    pub require_verified_email: bool,
    /// Seconds an email-verification link works (24 h).
    pub verification_ttl: i64,
    /// Seconds a password-reset link works (30 min).
    pub reset_ttl: i64,
    /// Seconds an invitation works (7 days).
    pub invitation_ttl: i64,
    /// Who must use a second factor (`[mfa]`; nobody by default).
    pub mfa: MfaPolicy,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            registration_enabled: true,
            password_policy: PasswordPolicy::default(),
            session: SessionSettings::default(),
            require_verified_email: false,
            verification_ttl: 24 * 3600,
            reset_ttl: 30 * 60,
            invitation_ttl: 7 * 86_400,
            mfa: MfaPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Unknown email, wrong password and disabled account all look like this, on purpose.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("registration is disabled")]
    RegistrationDisabled,
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error(transparent)]
    WeakPassword(#[from] PolicyViolation),
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    #[error("not signed in")]
    Unauthenticated,
    /// An email link (verification, change of address, reset) that is unknown, used, expired
    /// or superseded: one answer for all.
    #[error("this link is invalid or has expired")]
    InvalidLink,
    /// `accounts.require_verified_email` is on and the address is not verified yet.
    #[error("the email address of this account is not verified yet")]
    EmailNotVerified,
    /// The current password given to confirm a change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// A change needs a recent sign-in (an account without a password).
    #[error("sign in again to make this change")]
    ReauthenticationRequired,
    /// The change would leave no active user holding the `admin` role.
    #[error("the last active admin cannot be disabled")]
    LastAdmin,
    /// The second-factor code (TOTP or recovery code) is wrong, was used already, or the
    /// second step is locked for a while: one answer for all.
    #[error("the code is wrong or was used already")]
    InvalidMfaCode,
    /// The pending second-factor step is unknown, expired, used, or for another channel.
    #[error("the sign-in has expired; sign in again")]
    MfaChallengeInvalid,
    /// Two-step sign-in needs the master key (secrets are sealed with it) and none is loaded.
    #[error("two-step sign-in is unavailable: no master key is loaded")]
    MfaUnavailable,
    /// The MFA policy (`[mfa]`) refused: no second factor is enrolled, or this sign-in did not
    /// use one.
    #[error("the MFA policy refused: {}", .0.as_str())]
    MfaPolicy(MfaRefusal),
    /// Passkeys need an issuer with a host name (WebAuthn relying-party ids are domains).
    #[error("passkeys are not available on this server")]
    PasskeysUnavailable,
    /// The passkey ceremony is unknown, expired, used, or for another user or step.
    #[error("the passkey request has expired; try again")]
    PasskeyCeremonyInvalid,
    /// The authenticator's answer was refused (wrong origin, RP id or challenge, no user
    /// verification, unknown or cloned credential, registered already): one answer for all.
    #[error("the passkey was not accepted")]
    PasskeyRefused,
    /// A rate limit refused the request (never a lockout: a locked account answers
    /// [`Self::InvalidCredentials`], like every other failure).
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Self::EmailTaken,
            other => Self::Store(other),
        }
    }
}

pub struct AccountService {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    refresh: Arc<dyn RefreshTokenStore>,
    /// Status changes that could remove the last admin go through its guarded write.
    guard: Arc<dyn RbacStore>,
    audit: Auditor,
    hasher: Arc<PasswordHasher>,
    clock: Arc<dyn Clock>,
    settings: AccountSettings,
    limits: Arc<RateLimits>,
    lockout: Lockout,
    /// Verification and reset links, notifications.
    mail: Arc<MailService>,
    /// The single-use links those mails carry.
    tokens: Arc<dyn AccountTokenStore>,
    /// TOTP factors, recovery codes, pending second-factor steps.
    mfa: Arc<dyn MfaStore>,
    /// Seals TOTP secrets; without it, TOTP can be neither set up nor checked.
    master: Option<Arc<MasterKey>>,
    /// Passkeys and ceremonies in progress.
    passkeys: Arc<dyn PasskeyStore>,
    /// The WebAuthn relying party; `None` when the issuer has no host name.
    webauthn: Option<Arc<Webauthn>>,
    /// Back-Channel Logout 1.0: the clients of each session, told when it ends.
    backchannel: Option<Arc<crate::oauth::backchannel::BackchannelSessions>>,
}

/// Which sessions ended, for [`AccountService::sessions_ended`].
pub(crate) enum SessionsEnded {
    One(uuid::Uuid),
    AllOf(crate::user::UserId),
    /// Not ended: replaced by a new session of the same sign-in.
    Rotated {
        from: uuid::Uuid,
        to: uuid::Uuid,
    },
}

/// The stores accounts are kept in.
pub struct AccountStores {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub refresh: Arc<dyn RefreshTokenStore>,
    /// Its guarded write keeps the last admin from being disabled.
    pub guard: Arc<dyn RbacStore>,
    pub audit: Arc<dyn AuditStore>,
    /// Single-use links of verification, change-of-address and reset mails.
    pub tokens: Arc<dyn AccountTokenStore>,
    /// TOTP factors, recovery codes and pending second-factor steps.
    pub mfa: Arc<dyn MfaStore>,
    /// Passkeys and ceremonies in progress.
    pub passkeys: Arc<dyn PasskeyStore>,
}

impl AccountService {
    pub fn new(
        stores: AccountStores,
        hasher: Arc<PasswordHasher>,
        mail: Arc<MailService>,
        clock: Arc<dyn Clock>,
        settings: AccountSettings,
    ) -> Self {
        let AccountStores { users, sessions, refresh, guard, audit, tokens, mfa, passkeys } = stores;
        let limits = Arc::new(RateLimits::in_process(RateLimitSettings::default(), audit.clone(), clock.clone()));
        let lockout = Lockout::in_memory(clock.clone(), LockoutPolicy::default());
        let audit = Auditor::new(audit, clock.clone());
        Self {
            users,
            sessions,
            refresh,
            guard,
            audit,
            hasher,
            clock,
            settings,
            limits,
            lockout,
            mail,
            tokens,
            mfa,
            master: None,
            passkeys,
            webauthn: None,
            backchannel: None,
        }
    }

    /// Tells the clients of ended sessions (Back-Channel Logout 1.0); without it, nobody is told.
    pub fn with_backchannel(mut self, sessions: Arc<crate::oauth::backchannel::BackchannelSessions>) -> Self {
        self.backchannel = Some(sessions);
        self
    }

    pub fn backchannel(&self) -> Option<&Arc<crate::oauth::backchannel::BackchannelSessions>> {
        self.backchannel.as_ref()
    }

    /// Back-Channel Logout 1.0 §2.3: a session (or every session of a user) ended. A failure
    /// here does not undo the sign-out: it is logged, and the periodic sweep
    /// ([`crate::oauth::backchannel::BackchannelSessions::sweep`]) finds the session later.
    pub(crate) async fn sessions_ended(&self, ended: SessionsEnded) {
        let Some(b) = &self.backchannel else { return };
        let done = match ended {
            SessionsEnded::One(id) => b.session_ended(id).await,
            SessionsEnded::AllOf(user) => b.user_sessions_ended(user).await,
            SessionsEnded::Rotated { from, to } => b.session_rotated(from, to).await,
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "back-channel logout bookkeeping failed; the sweep will retry");
        }
    }

    /// The master key TOTP secrets are sealed with (two-step sign-in is unavailable without).
    pub fn with_master_key(mut self, master: Arc<MasterKey>) -> Self {
        self.master = Some(master);
        self
    }

    /// The WebAuthn relying party passkeys are registered with (unavailable without).
    pub fn with_passkeys(mut self, webauthn: Arc<Webauthn>) -> Self {
        self.webauthn = Some(webauthn);
        self
    }

    /// Replaces the default abuse protection (in-memory counters with default quotas) by the
    /// configured one: the per-account login rate limit comes from `limits`, failed-login
    /// counting and locks from `lockout`.
    pub fn with_abuse_protection(mut self, limits: Arc<RateLimits>, lockout: Lockout) -> Self {
        self.limits = limits;
        self.lockout = lockout;
        self
    }

    pub fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    pub fn mail(&self) -> &Arc<MailService> {
        &self.mail
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }
}
