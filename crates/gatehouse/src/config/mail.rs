//! `[mail]` and `[accounts]`: how Gatehouse sends mail, and the account-lifecycle settings
//! (verification, reset and invitation lifetimes, whether sign-in needs a verified address).

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    /// The product name in subjects and bodies.
    pub product_name: String,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// Optional `Reply-To`.
    pub reply_to: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self { product_name: "Gatehouse".into(), from: "Gatehouse <noreply@localhost>".into(), reply_to: String::new() }
    }
}

impl MailConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.product_name.trim().is_empty() || self.product_name.chars().any(char::is_control) {
            bail!("mail.product_name must be non-empty text without control characters");
        }
        gatehouse_mail::parse_mailbox(&self.from).context("mail.from is not an email address")?;
        if !self.reply_to.is_empty() {
            gatehouse_mail::parse_mailbox(&self.reply_to).context("mail.reply_to is not an email address")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountsConfig {
    /// Refuse sign-in to OAuth clients until the account's email address is verified.
    pub require_verified_email: bool,
    /// Seconds an email-verification link works.
    pub verification_ttl: i64,
    /// Seconds a password-reset link works.
    pub reset_ttl: i64,
    /// Seconds an invitation works.
    pub invitation_ttl: i64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        let d = gatehouse_core::AccountSettings::default();
        Self {
            require_verified_email: d.require_verified_email,
            verification_ttl: d.verification_ttl,
            reset_ttl: d.reset_ttl,
            invitation_ttl: d.invitation_ttl,
        }
    }
}

impl AccountsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, v, max) in [
            ("verification_ttl", self.verification_ttl, 30 * 86_400),
            ("reset_ttl", self.reset_ttl, 86_400),
            ("invitation_ttl", self.invitation_ttl, 90 * 86_400),
        ] {
            if !(60..=max).contains(&v) {
                bail!("accounts.{name} must be between 60 and {max} seconds");
            }
        }
        Ok(())
    }
}
