//! Gatehouse mail transports, the adapters of `gatehouse_core::mail::Mailer`:
//!
//! - [`Outbox`]: the development default when no SMTP server is configured. Each message
//!   becomes an `.eml` file (mode 0600: it may hold a reset link) in `<data_dir>/outbox/`, and
//!   its link is logged, so a developer can follow it without a mail server.
//! - [`Smtp`]: submission to an SMTP server over STARTTLS or implicit TLS (rustls), with
//!   failures classified as transient or permanent for the queue's retries.

mod message;
mod outbox;
mod smtp;

pub use message::build_message;
pub use outbox::Outbox;
pub use smtp::{Smtp, SmtpConfigError, SmtpSecurity, SmtpSettings};

pub use lettre::message::Mailbox;

/// A `Name <address>` or bare address, as the `From` and `Reply-To` settings take it.
pub fn parse_mailbox(text: &str) -> Result<Mailbox, lettre::address::AddressError> {
    text.parse()
}
