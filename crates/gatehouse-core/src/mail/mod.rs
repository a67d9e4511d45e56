//! Mail: what Gatehouse tells people by email (verification links, password resets,
//! invitations, security notifications).
//!
//! Services describe *what* to say as a [`Notice`]; [`MailService::send`] renders it from the
//! templates (`templates/mail/`) with the configured [`Branding`] and queues it durably
//! (`queue`): the request that caused it never waits for a mail server. A delivery worker
//! ([`MailService::deliver_due`], in `deliver`) sends due messages through the [`Mailer`] port
//! (SMTP through `lettre`, or the development outbox that writes `.eml` files, implemented
//! outside core), retries transient failures with exponential backoff and records a message it
//! gives up on as `mail.failed`. Links are built from the configured issuer only, never from a
//! request's `Host` or forwarded headers.

mod deliver;
mod queue;
mod render;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use uuid::Uuid;

pub(crate) use queue::SEAL_PURPOSE as MAIL_SEAL_PURPOSE;
pub use queue::{DeliveryReport, MailQueueCounts, MailQueueStore, MailStatus, QueuedMail, RetryPolicy, short_error};
pub use render::{Branding, Mail};

use crate::audit::Auditor;
use crate::clock::{Clock, UnixTime};
use crate::email::Email;
use crate::keys::MasterKey;
use crate::store::{AuditStore, StoreError};

/// One message to one person. Tokens are the plaintext the person receives; only their hashes
/// are stored elsewhere.
#[derive(Clone)]
pub enum Notice {
    /// Confirm the address of a new account: `/verify-email?token=…`.
    VerifyEmail { to: Email, token: String, expires_at: UnixTime },
    /// Someone tried to register with an address that already has an account.
    RegistrationAttempt { to: Email },
    /// A password reset link: `/reset-password?token=…`.
    ResetPassword { to: Email, token: String, expires_at: UnixTime },
    /// The password was changed or reset.
    PasswordChanged { to: Email },
    /// Confirm a new address before it replaces the old one: `/verify-email?token=…`.
    ConfirmEmailChange { to: Email, token: String, expires_at: UnixTime },
    /// Sent to the old address when a change to another address was requested.
    EmailChangeRequested { to: Email },
    /// Sent to the old address when the change took effect.
    EmailChanged { to: Email },
    /// An invitation to create an account: `/invitation?token=…`.
    Invitation { to: Email, token: String, expires_at: UnixTime },
    /// The account was deleted.
    AccountDeleted { to: Email },
    /// Two-step sign-in (TOTP) was turned on.
    MfaEnabled { to: Email },
    /// Two-step sign-in was turned off by the user.
    MfaDisabled { to: Email },
    /// A recovery code was used to sign in; `remaining` are left.
    RecoveryCodeUsed { to: Email, remaining: usize },
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated { to: Email },
    /// An administrator removed the account's second factors.
    MfaReset { to: Email },
    /// A passkey was added to the account.
    PasskeyAdded { to: Email, name: String },
    /// A passkey was removed from the account.
    PasskeyRemoved { to: Email, name: String },
}

impl Notice {
    pub fn to(&self) -> &Email {
        match self {
            Self::VerifyEmail { to, .. }
            | Self::RegistrationAttempt { to }
            | Self::ResetPassword { to, .. }
            | Self::PasswordChanged { to }
            | Self::ConfirmEmailChange { to, .. }
            | Self::EmailChangeRequested { to }
            | Self::EmailChanged { to }
            | Self::Invitation { to, .. }
            | Self::AccountDeleted { to }
            | Self::MfaEnabled { to }
            | Self::MfaDisabled { to }
            | Self::RecoveryCodeUsed { to, .. }
            | Self::RecoveryCodesRegenerated { to }
            | Self::MfaReset { to }
            | Self::PasskeyAdded { to, .. }
            | Self::PasskeyRemoved { to, .. } => to,
        }
    }

    /// A stable name for logs, metrics and the audit trail (never the address or a token).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::RegistrationAttempt { .. } => "registration_attempt",
            Self::ResetPassword { .. } => "reset_password",
            Self::PasswordChanged { .. } => "password_changed",
            Self::ConfirmEmailChange { .. } => "confirm_email_change",
            Self::EmailChangeRequested { .. } => "email_change_requested",
            Self::EmailChanged { .. } => "email_changed",
            Self::Invitation { .. } => "invitation",
            Self::AccountDeleted { .. } => "account_deleted",
            Self::MfaEnabled { .. } => "mfa_enabled",
            Self::MfaDisabled { .. } => "mfa_disabled",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            Self::MfaReset { .. } => "mfa_reset",
            Self::PasskeyAdded { .. } => "passkey_added",
            Self::PasskeyRemoved { .. } => "passkey_removed",
        }
    }

    /// The `&'static` form of a stored kind (`unknown` for one this version does not know).
    pub fn static_kind(kind: &str) -> &'static str {
        const KINDS: [&str; 16] = [
            "verify_email",
            "registration_attempt",
            "reset_password",
            "password_changed",
            "confirm_email_change",
            "email_change_requested",
            "email_changed",
            "invitation",
            "account_deleted",
            "mfa_enabled",
            "mfa_disabled",
            "recovery_code_used",
            "recovery_codes_regenerated",
            "mfa_reset",
            "passkey_added",
            "passkey_removed",
        ];
        KINDS.into_iter().find(|k| *k == kind).unwrap_or("unknown")
    }
}

/// Why a transport could not deliver a message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the server is down, timed out, or answered 4xx.
    #[error("temporary delivery failure: {0}")]
    Transient(String),
    /// Retrying will not help: the server refused the message or recipient (5xx).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// The transport: SMTP, or the development outbox.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), SendError>;
    /// `smtp` or `outbox`, for logs and metrics.
    fn name(&self) -> &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("mail template failed: {0}")]
    Render(String),
    /// A queued message could not be sealed or opened with the master key.
    #[error("queued mail could not be sealed or opened: {0}")]
    Sealed(String),
}

/// What queued delivery needs.
pub struct MailQueue {
    pub store: Arc<dyn MailQueueStore>,
    /// Seals queued messages (they may hold reset and verification links).
    pub key: Arc<MasterKey>,
    pub audit: Arc<dyn AuditStore>,
    pub clock: Arc<dyn Clock>,
    pub policy: RetryPolicy,
    /// Seconds a failed message's metadata is kept before [`MailService::purge_failed`].
    pub failed_retention: i64,
}

struct Queue {
    parts: MailQueue,
    auditor: Auditor,
    /// Wakes the delivery worker when a message is queued.
    wake: Notify,
}

/// Renders notices, queues them and delivers them.
pub struct MailService {
    mailer: Arc<dyn Mailer>,
    branding: Branding,
    /// `None`: messages are sent inline by [`Self::send`] (unit tests of other services).
    queue: Option<Queue>,
}

impl MailService {
    /// Sends inline, without a queue: for tests that only look at what was sent.
    pub fn new(mailer: Arc<dyn Mailer>, branding: Branding) -> Self {
        Self { mailer, branding, queue: None }
    }

    /// Queues every message durably; a worker delivers them with [`Self::deliver_due`].
    pub fn queued(mailer: Arc<dyn Mailer>, branding: Branding, queue: MailQueue) -> Self {
        let auditor = Auditor::new(queue.audit.clone(), queue.clock.clone());
        Self { mailer, branding, queue: Some(Queue { parts: queue, auditor, wake: Notify::new() }) }
    }

    pub fn branding(&self) -> &Branding {
        &self.branding
    }

    /// The transport's name (`smtp`, `outbox`).
    pub fn transport(&self) -> &'static str {
        self.mailer.name()
    }

    /// Renders `notice` and queues it (or, without a queue, delivers it).
    pub async fn send(&self, notice: Notice) -> Result<(), MailError> {
        let mail = self.branding.render(&notice)?;
        let Some(q) = &self.queue else {
            self.mailer.send(&mail).await?;
            return Ok(());
        };
        let id = Uuid::now_v7();
        let now = q.parts.clock.now();
        let queued = QueuedMail {
            id,
            kind: mail.kind.to_owned(),
            sealed_body: queue::seal(&q.parts.key, id, &mail)?,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            locked_until: None,
        };
        q.parts.store.enqueue_mail(&queued).await?;
        metrics::gauge!("gatehouse_mail_pending").increment(1.0);
        q.wake.notify_one();
        Ok(())
    }

    /// Waits until a message is queued or `poll` has passed, whichever is first: the worker's
    /// pause between rounds (retries fall due while it sleeps).
    pub async fn wait_for_work(&self, poll: Duration) {
        match &self.queue {
            Some(q) => {
                let _ = tokio::time::timeout(poll, q.wake.notified()).await;
            }
            None => std::future::pending().await,
        }
    }

    /// Deletes failed messages older than the retention.
    pub async fn purge_failed(&self) -> Result<u64, MailError> {
        let Some(q) = &self.queue else { return Ok(0) };
        let before = q.parts.clock.now().saturating_sub(q.parts.failed_retention);
        Ok(q.parts.store.purge_failed_mail(before).await?)
    }
}
