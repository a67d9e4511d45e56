//! SMTP submission (RFC 6409) through lettre's async transport: STARTTLS (RFC 3207, usually
//! port 587) or implicit TLS (RFC 8314, usually port 465) with rustls, AUTH when a username
//! is set, and a plaintext mode for a loopback test sink only. Failures are classified for
//! the queue: 4xx replies, timeouts, refused connections and TLS trouble are transient;
//! 5xx replies are permanent, except an authentication refusal (530/534/535), which is our
//! configuration's fault, not the message's, and is retried until an operator fixes it.

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::mail::{Mail, Mailer, SendError};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::build_message;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (no downgrade).
    StartTls,
    /// TLS from the first byte (`smtps`).
    Tls,
    /// No TLS at all: messages and credentials in clear. Only for a relay on this machine.
    InsecurePlaintext,
}

impl SmtpSecurity {
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::InsecurePlaintext => 25,
        }
    }
}

/// Where and how to submit mail.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// AUTH username and password; no AUTH when `None`.
    pub credentials: Option<(String, String)>,
    /// Connecting, and each command, may take this long.
    pub timeout: Duration,
    /// The name given in `EHLO` (the issuer's host).
    pub hello_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("mail.smtp_host {0:?}: cannot set up TLS for it: {1}")]
    Tls(String, String),
}

/// The SMTP [`Mailer`].
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// A backstop over the whole exchange (lettre's timeout is per step).
    overall: Duration,
}

impl Smtp {
    pub fn new(settings: &SmtpSettings, from: Mailbox, reply_to: Option<Mailbox>) -> Result<Self, SmtpConfigError> {
        let tls = |host: &str| {
            TlsParameters::new_rustls(host.to_owned()).map_err(|e| SmtpConfigError::Tls(host.to_owned(), e.to_string()))
        };
        let tls = match settings.security {
            SmtpSecurity::StartTls => Tls::Required(tls(&settings.host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls(&settings.host)?),
            SmtpSecurity::InsecurePlaintext => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout))
            .hello_name(ClientId::Domain(settings.hello_name.clone()));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { transport: builder.build(), from, reply_to, overall: settings.timeout.saturating_mul(4) })
    }
}

#[async_trait]
impl Mailer for Smtp {
    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = build_message(mail, &self.from, self.reply_to.as_ref())?;
        match tokio::time::timeout(self.overall, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(SendError::Transient("smtp: timed out".into())),
        }
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// What went wrong, as the queue needs it. The server's reply text is left out: it often
/// quotes the recipient's address.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let fault = if let Some(code) = e.status() {
        Fault::Reply(u16::from(code))
    } else if e.is_timeout() {
        Fault::Timeout
    } else if e.is_tls() {
        Fault::Tls
    } else if e.is_client() {
        Fault::Client
    } else {
        Fault::Connection
    };
    fault.into_error(&e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The server answered with this reply code.
    Reply(u16),
    Timeout,
    Tls,
    /// lettre refused on our side (e.g. no AUTH mechanism in common).
    Client,
    /// Refused, reset, name not resolved, …
    Connection,
}

impl Fault {
    fn into_error(self, detail: &str) -> SendError {
        match self {
            // Authentication required / too weak / credentials invalid: fix the settings, and
            // the queued mail still goes out.
            Self::Reply(code @ (530 | 534 | 535)) => {
                SendError::Transient(format!("smtp {code}: authentication refused"))
            }
            Self::Reply(code) if (500..600).contains(&code) => SendError::Permanent(format!("smtp {code}")),
            Self::Reply(code) => SendError::Transient(format!("smtp {code}")),
            Self::Timeout => SendError::Transient("smtp: timed out".into()),
            Self::Tls => SendError::Transient(format!("smtp: TLS failed: {}", first_line(detail))),
            Self::Client => SendError::Transient(format!("smtp: client error: {}", first_line(detail))),
            Self::Connection => SendError::Transient(format!("smtp: connection failed: {}", first_line(detail))),
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &SendError) -> (&'static str, String) {
        match e {
            SendError::Transient(m) => ("transient", m.clone()),
            SendError::Permanent(m) => ("permanent", m.clone()),
        }
    }

    #[test]
    fn replies_are_classified_by_code() {
        assert_eq!(kind(&Fault::Reply(550).into_error("550 <a@b.c> no such user")), ("permanent", "smtp 550".into()));
        assert_eq!(kind(&Fault::Reply(554).into_error("")).0, "permanent");
        assert_eq!(kind(&Fault::Reply(421).into_error("")), ("transient", "smtp 421".into()));
        assert_eq!(kind(&Fault::Reply(451).into_error("")).0, "transient");
        assert_eq!(kind(&Fault::Reply(452).into_error("")).0, "transient");
        for auth in [530, 534, 535] {
            assert_eq!(kind(&Fault::Reply(auth).into_error("")).0, "transient", "{auth}: our configuration");
        }
    }

    #[test]
    fn network_trouble_is_transient() {
        for f in [Fault::Timeout, Fault::Tls, Fault::Client, Fault::Connection] {
            assert_eq!(kind(&f.into_error("Connection refused (os error 111)")).0, "transient", "{f:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::InsecurePlaintext,
            credentials: None,
            timeout: Duration::from_secs(2),
            hello_name: "localhost".into(),
        };
        let smtp = Smtp::new(&settings, "G <g@example.com>".parse().unwrap(), None).unwrap();
        let to = gatehouse_core::Email::parse("a@example.com").unwrap();
        let mail = gatehouse_core::mail::Branding::new("G", "https://id.example.com")
            .render(&gatehouse_core::mail::Notice::PasswordChanged { to })
            .unwrap();
        let err = smtp.send(&mail).await.unwrap_err();
        assert_eq!(kind(&err).0, "transient", "{err}");
        assert!(!err.to_string().contains("a@example.com"));
    }

    #[test]
    fn tls_modes_build_without_native_tls() {
        for security in [SmtpSecurity::StartTls, SmtpSecurity::Tls] {
            let settings = SmtpSettings {
                host: "smtp.example.com".into(),
                port: security.default_port(),
                security,
                credentials: Some(("user".into(), "pw".into())),
                timeout: Duration::from_secs(10),
                hello_name: "id.example.com".into(),
            };
            Smtp::new(&settings, "g@example.com".parse().unwrap(), None).unwrap();
        }
    }
}
