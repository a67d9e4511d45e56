//! The delivery worker's round: claim a due message, open it, send it, and record what
//! happened. Success deletes the message; a transient failure reschedules it with exponential
//! backoff ([`RetryPolicy`]); a permanent failure, or running out of attempts or time, marks it
//! failed, wipes its body and records `mail.failed` (kind, attempts and a short error only:
//! never the address or the body).

use serde_json::json;

use super::queue::{self, DeliveryReport, QueuedMail, short_error};
use super::{MailError, MailService, Queue, SendError};
use crate::audit::{AuditEventType, Outcome, RequestContext};

/// At most this many messages per round, so that a long queue does not starve shutdown.
const MAX_PER_ROUND: usize = 100;

impl MailService {
    /// Delivers every due message (up to a round's limit). Without a queue, does nothing.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, MailError> {
        let Some(q) = &self.queue else { return Ok(DeliveryReport::default()) };
        let mut report = DeliveryReport::default();
        for _ in 0..MAX_PER_ROUND {
            let now = q.parts.clock.now();
            let lease_until = now.saturating_add(q.parts.policy.lease);
            let Some(message) = q.parts.store.claim_due_mail(now, lease_until).await? else { break };
            self.deliver_one(q, message, &mut report).await?;
        }
        let counts = q.parts.store.mail_queue_counts().await?;
        #[allow(clippy::cast_precision_loss)] // a gauge; counts far below 2^52
        metrics::gauge!("gatehouse_mail_pending").set(counts.pending as f64);
        Ok(report)
    }

    async fn deliver_one(&self, q: &Queue, message: QueuedMail, report: &mut DeliveryReport) -> Result<(), MailError> {
        let store = &q.parts.store;
        let lease = message.locked_until.unwrap_or_default();
        let attempts = message.attempts.saturating_add(1);
        let outcome = match queue::open(&q.parts.key, &message) {
            Ok(mail) => self.mailer.send(&mail).await,
            // Sealed under another master key, or damaged: no retry can open it.
            Err(e) => Err(SendError::Permanent(e.to_string())),
        };
        let kind = message.kind.as_str();
        let transport = self.mailer.name();
        match outcome {
            Ok(()) => {
                store.delete_mail(message.id, lease).await?;
                metrics::counter!("gatehouse_mail_sent_total", "transport" => transport).increment(1);
                tracing::info!(kind, attempts, transport, id = %message.id, "mail delivered");
                report.sent += 1;
            }
            Err(SendError::Transient(error)) => {
                let error = short_error(&error);
                let now = q.parts.clock.now();
                match q.parts.policy.next_attempt(attempts, message.created_at, now) {
                    Some(next) => {
                        store.retry_mail(message.id, lease, attempts, next, &error).await?;
                        metrics::counter!("gatehouse_mail_retried_total", "transport" => transport).increment(1);
                        tracing::warn!(kind, attempts, transport, id = %message.id, retry_in = next - now, %error,
                            "mail not delivered; will retry");
                        report.retried += 1;
                    }
                    None => {
                        self.give_up(q, &message, attempts, &format!("gave up retrying: {error}")).await?;
                        report.failed += 1;
                    }
                }
            }
            Err(SendError::Permanent(error)) => {
                self.give_up(q, &message, attempts, &short_error(&error)).await?;
                report.failed += 1;
            }
        }
        Ok(())
    }

    async fn give_up(&self, q: &Queue, message: &QueuedMail, attempts: u32, error: &str) -> Result<(), MailError> {
        let lease = message.locked_until.unwrap_or_default();
        let now = q.parts.clock.now();
        if !q.parts.store.fail_mail(message.id, lease, attempts, error, now).await? {
            // Our lease ended and another worker has the message now: it decides.
            return Ok(());
        }
        let kind = message.kind.as_str();
        let transport = self.mailer.name();
        metrics::counter!("gatehouse_mail_failed_total", "transport" => transport, "kind" => super::Notice::static_kind(kind))
            .increment(1);
        tracing::error!(kind, attempts, transport, id = %message.id, error, "mail could not be delivered; given up");
        q.auditor
            .record(
                AuditEventType::MailFailed,
                Outcome::Failure,
                None,
                None,
                &RequestContext::default(),
                json!({ "kind": kind, "attempts": attempts, "error": error, "id": message.id.to_string() }),
            )
            .await?;
        Ok(())
    }
}
