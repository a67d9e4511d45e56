//! `[mail]` and `[accounts]`: how Gatehouse sends mail, and the account-lifecycle settings
//! (verification, reset and invitation lifetimes, whether sign-in needs a verified address).

use std::time::Duration;

use anyhow::{Context, bail};
use gatehouse_core::mail::RetryPolicy;
use gatehouse_mail::SmtpSecurity;
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
    /// The SMTP server; empty: the development outbox (`<data_dir>/outbox/`).
    pub smtp_host: String,
    /// 0: the mode's usual port (587 for `starttls`, 465 for `tls`, 25 for plaintext).
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    /// `insecure_plaintext` to a host that is not loopback needs this as well.
    pub smtp_allow_insecure_remote: bool,
    /// AUTH username; the password comes from `GATEHOUSE_MAIL__SMTP_PASSWORD` or
    /// `GATEHOUSE_MAIL__SMTP_PASSWORD_FILE`, never from this file. Empty: no AUTH.
    pub smtp_username: String,
    /// Seconds connecting, and each SMTP command, may take.
    pub smtp_timeout: u64,
    /// Seconds before the first retry of a message the server did not take; doubled after
    /// each further failure…
    pub retry_initial_delay: i64,
    /// …up to this many seconds between attempts.
    pub retry_max_delay: i64,
    /// A message is given up (`mail.failed`) once it is this many seconds old…
    pub retry_max_age: i64,
    /// …or after this many attempts.
    pub max_attempts: u32,
    /// Seconds between the delivery worker's looks at the queue for retries that fell due
    /// (new messages wake it at once).
    pub poll_interval: u64,
    /// Seconds a failed message's record (kind, attempts, error; never the body) is kept.
    pub failed_retention: i64,
}

/// `[mail] smtp_tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Tls,
    InsecurePlaintext,
}

impl Default for MailConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        Self {
            product_name: "Gatehouse".into(),
            from: "Gatehouse <noreply@localhost>".into(),
            reply_to: String::new(),
            smtp_host: String::new(),
            smtp_port: 0,
            smtp_tls: SmtpTls::Starttls,
            smtp_allow_insecure_remote: false,
            smtp_username: String::new(),
            smtp_timeout: 30,
            retry_initial_delay: retry.initial_delay,
            retry_max_delay: retry.max_delay,
            retry_max_age: retry.max_age,
            max_attempts: retry.max_attempts,
            poll_interval: 5,
            failed_retention: 30 * 86_400,
        }
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
        self.validate_smtp()?;
        self.validate_retry()
    }

    fn validate_smtp(&self) -> anyhow::Result<()> {
        let host = self.smtp_host.trim();
        if host != self.smtp_host || host.contains(['/', ' ', '@']) || host.chars().any(char::is_control) {
            bail!("mail.smtp_host must be a bare host name or IP address (no scheme, port, user or spaces)");
        }
        if !(1..=300).contains(&self.smtp_timeout) {
            bail!("mail.smtp_timeout must be between 1 and 300 seconds");
        }
        if host.is_empty() {
            return Ok(());
        }
        if self.smtp_tls == SmtpTls::InsecurePlaintext && !is_loopback(host) && !self.smtp_allow_insecure_remote {
            bail!(
                "mail.smtp_tls = \"insecure_plaintext\" sends mail and the SMTP password in clear; it is accepted \
                 for a loopback host only, unless mail.smtp_allow_insecure_remote = true is set as well. \
                 Use \"starttls\" (port 587) or \"tls\" (port 465)"
            );
        }
        Ok(())
    }

    fn validate_retry(&self) -> anyhow::Result<()> {
        for (name, v, min, max) in [
            ("retry_initial_delay", self.retry_initial_delay, 1, 3600),
            ("retry_max_delay", self.retry_max_delay, self.retry_initial_delay, 86_400),
            ("retry_max_age", self.retry_max_age, 60, 7 * 86_400),
            ("failed_retention", self.failed_retention, 3600, 365 * 86_400),
        ] {
            if !(min..=max).contains(&v) {
                bail!("mail.{name} must be between {min} and {max} seconds");
            }
        }
        if !(1..=1000).contains(&self.max_attempts) {
            bail!("mail.max_attempts must be between 1 and 1000");
        }
        if !(1..=300).contains(&self.poll_interval) {
            bail!("mail.poll_interval must be between 1 and 300 seconds");
        }
        Ok(())
    }

    pub fn security(&self) -> SmtpSecurity {
        match self.smtp_tls {
            SmtpTls::Starttls => SmtpSecurity::StartTls,
            SmtpTls::Tls => SmtpSecurity::Tls,
            SmtpTls::InsecurePlaintext => SmtpSecurity::InsecurePlaintext,
        }
    }

    pub fn port(&self) -> u16 {
        if self.smtp_port == 0 { self.security().default_port() } else { self.smtp_port }
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        let timeout = i64::try_from(self.smtp_timeout).unwrap_or(300);
        RetryPolicy {
            initial_delay: self.retry_initial_delay,
            max_delay: self.retry_max_delay,
            max_age: self.retry_max_age,
            max_attempts: self.max_attempts,
            // Longer than the transport's backstop (four timeouts) for one message.
            lease: (timeout * 4 + 60).max(300),
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval)
    }
}

/// `localhost`, or a loopback IP address.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(host: &str, tls: SmtpTls) -> MailConfig {
        MailConfig { smtp_host: host.into(), smtp_tls: tls, ..MailConfig::default() }
    }

    #[test]
    fn the_defaults_need_no_mail_server() {
        let d = MailConfig::default();
        d.validate().unwrap();
        assert!(d.smtp_host.is_empty());
        assert_eq!((d.security(), d.port()), (SmtpSecurity::StartTls, 587));
        assert_eq!(smtp("smtp.example.com", SmtpTls::Tls).port(), 465);
    }

    #[test]
    fn plaintext_is_for_loopback_unless_explicitly_allowed() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            smtp(host, SmtpTls::InsecurePlaintext).validate().unwrap();
        }
        let err = smtp("smtp.example.com", SmtpTls::InsecurePlaintext).validate().unwrap_err().to_string();
        assert!(err.contains("insecure_plaintext") && err.contains("smtp_allow_insecure_remote"), "{err}");
        let allowed = MailConfig { smtp_allow_insecure_remote: true, ..smtp("relay", SmtpTls::InsecurePlaintext) };
        allowed.validate().unwrap();
        smtp("smtp.example.com", SmtpTls::Starttls).validate().unwrap();
    }

    #[test]
    fn bad_hosts_and_numbers_are_refused() {
        for host in ["smtp://x", "a b", "user@host", " x"] {
            assert!(smtp(host, SmtpTls::Starttls).validate().is_err(), "{host:?}");
        }
        let bad = [
            MailConfig { smtp_timeout: 0, ..MailConfig::default() },
            MailConfig { retry_initial_delay: 0, ..MailConfig::default() },
            MailConfig { retry_max_delay: 1, ..MailConfig::default() },
            MailConfig { max_attempts: 0, ..MailConfig::default() },
            MailConfig { poll_interval: 0, ..MailConfig::default() },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn smtp_tls_reads_its_three_names() {
        #[derive(Deserialize)]
        struct T {
            t: SmtpTls,
        }
        for (text, want) in
            [("starttls", SmtpTls::Starttls), ("tls", SmtpTls::Tls), ("insecure_plaintext", SmtpTls::InsecurePlaintext)]
        {
            let parsed: T = serde_json::from_str(&format!("{{\"t\":\"{text}\"}}")).unwrap();
            assert_eq!(parsed.t, want);
        }
    }
}
