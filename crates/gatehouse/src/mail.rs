//! Mail wiring: the transport `[mail]` names (SMTP, or the development outbox when no
//! `smtp_host` is set), the durable queue in front of it, and the delivery worker the server
//! runs beside HTTP.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_core::Clock;
use gatehouse_core::keys::MasterKey;
use gatehouse_core::mail::{Branding, MailQueue, MailService, Mailer};
use gatehouse_mail::{Outbox, Smtp, SmtpSecurity, SmtpSettings};
use gatehouse_store::Stores;
use tokio::sync::watch;

use crate::config::Settings;

/// The mail service: queued (and sealed with `master`) when the master key is at hand; without
/// it (a CLI command run where no master key is configured), messages are sent inline.
pub fn build_mail(
    settings: &Settings,
    stores: &Stores,
    clock: Arc<dyn Clock>,
    master: Option<MasterKey>,
) -> anyhow::Result<Arc<MailService>> {
    let from = gatehouse_mail::parse_mailbox(&settings.mail.from).context("mail.from")?;
    let reply_to = match settings.mail.reply_to.as_str() {
        "" => None,
        r => Some(gatehouse_mail::parse_mailbox(r).context("mail.reply_to")?),
    };
    let mailer: Arc<dyn Mailer> = if settings.mail.smtp_host.is_empty() {
        Arc::new(Outbox::new(settings.data_dir.join("outbox"), from, reply_to))
    } else {
        Arc::new(Smtp::new(&smtp_settings(settings)?, from, reply_to)?)
    };
    let branding = Branding::new(settings.mail.product_name.clone(), &settings.issuer);
    let Some(master) = master else { return Ok(Arc::new(MailService::new(mailer, branding))) };
    let queue = MailQueue {
        store: stores.mail_queue.clone(),
        key: Arc::new(master),
        audit: stores.audit.clone(),
        clock,
        policy: settings.mail.retry_policy(),
        failed_retention: settings.mail.failed_retention,
    };
    Ok(Arc::new(MailService::queued(mailer, branding, queue)))
}

fn smtp_settings(settings: &Settings) -> anyhow::Result<SmtpSettings> {
    let mail = &settings.mail;
    let password = crate::secrets::smtp_password()?;
    let credentials = match (mail.smtp_username.as_str(), password) {
        ("", None) => None,
        ("", Some(_)) => anyhow::bail!(
            "GATEHOUSE_MAIL__SMTP_PASSWORD(_FILE) is set but mail.smtp_username is empty; set both, or neither"
        ),
        (_, None) => anyhow::bail!(
            "mail.smtp_username is set: give its password in GATEHOUSE_MAIL__SMTP_PASSWORD or \
             GATEHOUSE_MAIL__SMTP_PASSWORD_FILE (a file readable by this user only)"
        ),
        (user, Some(password)) => Some((user.to_owned(), password.as_str().to_owned())),
    };
    let security = mail.security();
    if security == SmtpSecurity::InsecurePlaintext {
        tracing::warn!(
            host = %mail.smtp_host,
            "mail.smtp_tls = \"insecure_plaintext\": mail (with its reset links) and the SMTP password travel \
             unencrypted; use it for a relay on this machine only"
        );
    }
    let hello_name = settings.issuer_url().ok().and_then(|u| u.host_str().map(str::to_owned));
    Ok(SmtpSettings {
        host: mail.smtp_host.clone(),
        port: mail.port(),
        security,
        credentials,
        timeout: Duration::from_secs(mail.smtp_timeout),
        hello_name: hello_name.unwrap_or_else(|| "localhost".into()),
    })
}

/// The delivery worker: delivers what is due, then waits until a message is queued or
/// `poll` passes. Stops between rounds when `stop` turns true (a round is never cut off
/// mid-message, so a message is not left leased).
pub async fn worker(mail: Arc<MailService>, poll: Duration, mut stop: watch::Receiver<bool>) {
    tracing::info!(transport = mail.transport(), "mail delivery worker started");
    loop {
        match mail.deliver_due().await {
            Ok(r) if r.sent + r.retried + r.failed > 0 => {
                tracing::debug!(sent = r.sent, retried = r.retried, failed = r.failed, "mail delivery round");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "mail delivery round failed"),
        }
        tokio::select! {
            () = mail.wait_for_work(poll) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
        if *stop.borrow() {
            break;
        }
    }
}
