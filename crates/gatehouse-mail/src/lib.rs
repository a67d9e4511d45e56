//! Gatehouse mail transports, the adapters of `gatehouse_core::mail::Mailer`:
//!
//! - [`Outbox`]: the development default when no SMTP server is configured. Each message
//!   becomes an `.eml` file (mode 0600: it may hold a reset link) in `<data_dir>/outbox/`, and
//!   its link is logged, so a developer can follow it without a mail server.

mod message;
mod outbox;

pub use message::build_message;
pub use outbox::Outbox;

pub use lettre::message::Mailbox;

/// A `Name <address>` or bare address, as the `From` and `Reply-To` settings take it.
pub fn parse_mailbox(text: &str) -> Result<Mailbox, lettre::address::AddressError> {
    text.parse()
}
