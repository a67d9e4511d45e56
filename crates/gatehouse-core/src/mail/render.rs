//! Notices rendered into messages: each notice becomes a subject, a few paragraphs and at most
//! one action link, laid out by two askama templates (`mail.txt` and `mail.html`, the latter
//! escaped by askama).

use askama::Template;

use super::{MailError, Notice};
use crate::clock::UnixTime;

/// What every message carries: the product's name and the public base URL links start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub product_name: String,
    /// The configured issuer, without a trailing `/`.
    pub issuer: String,
}

impl Branding {
    pub fn new(product_name: impl Into<String>, issuer: &str) -> Self {
        Self { product_name: product_name.into(), issuer: issuer.trim_end_matches('/').to_owned() }
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.issuer)
    }

    /// The message for `notice`.
    pub fn render(&self, notice: &Notice) -> Result<Mail, MailError> {
        let product = self.product_name.as_str();
        let c = match notice {
            Notice::VerifyEmail { token, expires_at, .. } => Content {
                subject: format!("Confirm your email address for {product}"),
                paragraphs: vec![format!(
                    "Welcome to {product}. Please confirm that this address is yours by opening the link below. \
                     The link works once and expires on {}.",
                    format_time(*expires_at)
                )],
                action: Some(("Confirm my email address", self.link("/verify-email", token))),
                closing: "If you did not create an account, you can ignore this message.",
            },
            Notice::RegistrationAttempt { .. } => Content {
                subject: format!("Someone tried to register with your address at {product}"),
                paragraphs: vec![
                    format!(
                        "Someone tried to create a new {product} account with this email address, which already \
                         has an account. No new account was created."
                    ),
                    "If it was you and you forgot your password, you can reset it:".to_owned(),
                ],
                action: Some(("Reset my password", format!("{}/forgot-password", self.issuer))),
                closing: "If it was not you, you can ignore this message: your account is unchanged.",
            },
            Notice::ResetPassword { token, expires_at, .. } => Content {
                subject: format!("Reset your {product} password"),
                paragraphs: vec![format!(
                    "Someone (hopefully you) asked to reset the password of your account. Open the link below to \
                     choose a new password. The link works once and expires on {}.",
                    format_time(*expires_at)
                )],
                action: Some(("Choose a new password", self.link("/reset-password", token))),
                closing: "If you did not ask for this, ignore this message: your password stays as it is.",
            },
            Notice::PasswordChanged { .. } => Content {
                subject: format!("Your {product} password was changed"),
                paragraphs: vec![
                    "The password of your account was just changed, and every other sign-in was ended.".to_owned(),
                ],
                action: None,
                closing: "If you did not do this, reset your password at once and contact your administrator.",
            },
            Notice::ConfirmEmailChange { token, expires_at, .. } => Content {
                subject: format!("Confirm your new email address for {product}"),
                paragraphs: vec![format!(
                    "You asked to use this address for your account. Open the link below to confirm it; until you \
                     do, your old address stays in use. The link works once and expires on {}.",
                    format_time(*expires_at)
                )],
                action: Some(("Confirm my new address", self.link("/verify-email", token))),
                closing: "If you did not ask for this, you can ignore this message.",
            },
            Notice::EmailChangeRequested { .. } => Content {
                subject: format!("A change of your {product} email address was requested"),
                paragraphs: vec![
                    "Someone signed in to your account asked to change its email address. The change takes effect \
                     only when the new address is confirmed."
                        .to_owned(),
                ],
                action: None,
                closing: "If this was not you, change your password at once and contact your administrator.",
            },
            Notice::EmailChanged { .. } => Content {
                subject: format!("Your {product} email address was changed"),
                paragraphs: vec![
                    "The email address of your account was changed; this address no longer signs in.".to_owned(),
                ],
                action: None,
                closing: "If this was not you, contact your administrator at once.",
            },
            Notice::Invitation { token, expires_at, .. } => Content {
                subject: format!("You are invited to {product}"),
                paragraphs: vec![format!(
                    "You have been invited to create an account at {product}. The invitation works once and \
                     expires on {}.",
                    format_time(*expires_at)
                )],
                action: Some(("Accept the invitation", self.link("/invitation", token))),
                closing: "If you did not expect this invitation, you can ignore this message.",
            },
            Notice::AccountDeleted { .. } => Content {
                subject: format!("Your {product} account was deleted"),
                paragraphs: vec!["Your account and its data were deleted.".to_owned()],
                action: None,
                closing: "If you did not do this, contact your administrator.",
            },
            Notice::MfaEnabled { .. } => Content {
                subject: format!("Two-step sign-in is on for your {product} account"),
                paragraphs: vec![
                    "Signing in to your account now asks for a code from your authenticator app after the password. \
                     Keep your recovery codes somewhere safe."
                        .to_owned(),
                ],
                action: None,
                closing: "If you did not do this, reset your password at once and contact your administrator.",
            },
            Notice::MfaDisabled { .. } => Content {
                subject: format!("Two-step sign-in was turned off for your {product} account"),
                paragraphs: vec!["Signing in to your account no longer asks for a code after the password.".to_owned()],
                action: None,
                closing: "If you did not do this, reset your password at once and contact your administrator.",
            },
            Notice::RecoveryCodeUsed { remaining, .. } => Content {
                subject: format!("A recovery code was used to sign in to {product}"),
                paragraphs: vec![format!(
                    "Someone signed in to your account with a password and one of your recovery codes. That code \
                     no longer works; {remaining} remain. If you lost your authenticator, set up a new one on your \
                     account page."
                )],
                action: None,
                closing: "If this was not you, reset your password at once and contact your administrator.",
            },
            Notice::RecoveryCodesRegenerated { .. } => Content {
                subject: format!("New recovery codes for your {product} account"),
                paragraphs: vec![
                    "New recovery codes were made for your account; the old ones no longer work.".to_owned(),
                ],
                action: None,
                closing: "If you did not do this, reset your password at once and contact your administrator.",
            },
            Notice::MfaReset { .. } => Content {
                subject: format!("Two-step sign-in was reset for your {product} account"),
                paragraphs: vec![
                    "An administrator removed the authenticator and recovery codes of your account. You can sign \
                     in with your password and set up two-step sign-in again on your account page."
                        .to_owned(),
                ],
                action: None,
                closing: "If you did not ask for this, contact your administrator at once.",
            },
            Notice::PasskeyAdded { name, .. } => Content {
                subject: format!("A passkey was added to your {product} account"),
                paragraphs: vec![format!(
                    "A passkey named \u{201c}{name}\u{201d} can now be used to sign in to your account."
                )],
                action: None,
                closing: "If you did not do this, remove it on your account page, reset your password at once and \
                          contact your administrator.",
            },
            Notice::PasskeyRemoved { name, .. } => Content {
                subject: format!("A passkey was removed from your {product} account"),
                paragraphs: vec![format!("The passkey named \u{201c}{name}\u{201d} can no longer be used to sign in.")],
                action: None,
                closing: "If you did not do this, reset your password at once and contact your administrator.",
            },
        };
        let view = View {
            product,
            paragraphs: &c.paragraphs,
            action_label: c.action.as_ref().map(|a| a.0),
            action_url: c.action.as_ref().map(|a| a.1.as_str()),
            closing: c.closing,
        };
        let text = TextMail { v: &view }.render().map_err(|e| MailError::Render(e.to_string()))?;
        let html = HtmlMail { v: &view }.render().map_err(|e| MailError::Render(e.to_string()))?;
        Ok(Mail {
            to: notice.to().as_str().to_owned(),
            subject: c.subject,
            text,
            html,
            link: c.action.map(|a| a.1),
            kind: notice.kind(),
        })
    }
}

/// A rendered message.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The message's action link, if it has one (the development outbox logs it).
    pub link: Option<String>,
    /// [`Notice::kind`].
    pub kind: &'static str,
}

impl std::fmt::Debug for Mail {
    /// Without the bodies and link, which may carry a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("kind", &self.kind).field("subject", &self.subject).finish_non_exhaustive()
    }
}

struct Content {
    subject: String,
    paragraphs: Vec<String>,
    action: Option<(&'static str, String)>,
    closing: &'static str,
}

struct View<'a> {
    product: &'a str,
    paragraphs: &'a [String],
    action_label: Option<&'a str>,
    action_url: Option<&'a str>,
    closing: &'a str,
}

#[derive(Template)]
#[template(path = "mail/mail.txt", escape = "none")]
struct TextMail<'a> {
    v: &'a View<'a>,
}

#[derive(Template)]
#[template(path = "mail/mail.html")]
struct HtmlMail<'a> {
    v: &'a View<'a>,
}

/// `2026-11-27 12:00 UTC`.
fn format_time(t: UnixTime) -> String {
    let secs = t.rem_euclid(86_400);
    let days = t.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;

    fn branding() -> Branding {
        Branding::new("Acme <ID>", "https://id.example.com/")
    }

    #[test]
    fn links_come_from_the_issuer_and_html_is_escaped() {
        let to = Email::parse("a@example.com").unwrap();
        let mail = branding().render(&Notice::ResetPassword { to, token: "tok123".into(), expires_at: 0 }).unwrap();
        assert_eq!(mail.link.as_deref(), Some("https://id.example.com/reset-password?token=tok123"));
        assert!(mail.text.contains("https://id.example.com/reset-password?token=tok123"));
        assert!(mail.text.contains("Acme <ID>"), "{}", mail.text);
        assert!(mail.html.contains("Acme &#60;ID&#62;") || mail.html.contains("Acme &lt;ID&gt;"), "{}", mail.html);
        assert!(!mail.html.contains("<ID>"));
        assert_eq!(mail.subject, "Reset your Acme <ID> password");
        assert!(!format!("{mail:?}").contains("tok123"));
    }

    #[test]
    fn every_notice_renders() {
        let to = Email::parse("a@example.com").unwrap();
        let t = || "t".to_owned();
        for n in [
            Notice::VerifyEmail { to: to.clone(), token: t(), expires_at: 0 },
            Notice::RegistrationAttempt { to: to.clone() },
            Notice::ResetPassword { to: to.clone(), token: t(), expires_at: 0 },
            Notice::PasswordChanged { to: to.clone() },
            Notice::ConfirmEmailChange { to: to.clone(), token: t(), expires_at: 0 },
            Notice::EmailChangeRequested { to: to.clone() },
            Notice::EmailChanged { to: to.clone() },
            Notice::Invitation { to: to.clone(), token: t(), expires_at: 1_795_000_000 },
            Notice::AccountDeleted { to: to.clone() },
            Notice::MfaEnabled { to: to.clone() },
            Notice::MfaDisabled { to: to.clone() },
            Notice::RecoveryCodeUsed { to: to.clone(), remaining: 3 },
            Notice::RecoveryCodesRegenerated { to: to.clone() },
            Notice::MfaReset { to: to.clone() },
            Notice::PasskeyAdded { to: to.clone(), name: "Laptop".into() },
            Notice::PasskeyRemoved { to: to.clone(), name: "Laptop".into() },
        ] {
            let mail = branding().render(&n).unwrap();
            assert_eq!(mail.to, "a@example.com");
            assert!(!mail.subject.is_empty() && !mail.text.is_empty() && mail.html.contains("<html"));
        }
    }

    #[test]
    fn dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_795_000_000), "2026-11-18 11:06 UTC");
    }
}
