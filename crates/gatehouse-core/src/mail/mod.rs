//! Mail: what Gatehouse tells people by email (verification links, password resets,
//! invitations, security notifications).
//!
//! Services describe *what* to say as a [`Notice`]; [`MailService::send`] renders it from the
//! templates (`templates/mail/`) with the configured [`Branding`] and hands it to delivery. The
//! [`Mailer`] port is the transport (SMTP through `lettre`, or the development outbox that
//! writes `.eml` files), implemented outside core. Links are built from the configured issuer
//! only, never from a request's `Host` or forwarded headers.

mod render;

use std::sync::Arc;

use async_trait::async_trait;

pub use render::{Branding, Mail};

use crate::clock::UnixTime;
use crate::email::Email;
use crate::store::StoreError;

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
            | Self::AccountDeleted { to } => to,
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
        }
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
}

/// Renders notices and hands them to delivery.
pub struct MailService {
    mailer: Arc<dyn Mailer>,
    branding: Branding,
}

impl MailService {
    pub fn new(mailer: Arc<dyn Mailer>, branding: Branding) -> Self {
        Self { mailer, branding }
    }

    pub fn branding(&self) -> &Branding {
        &self.branding
    }

    /// Renders `notice` and delivers it.
    pub async fn send(&self, notice: Notice) -> Result<(), MailError> {
        let mail = self.branding.render(&notice)?;
        self.mailer.send(&mail).await?;
        Ok(())
    }
}
