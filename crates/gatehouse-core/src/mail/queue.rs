//! The durable mail queue: what [`MailService::send`](super::MailService::send) stores and the
//! delivery worker drains. A queued message is the rendered [`Mail`] sealed under the master key
//! (it may hold a reset or verification link), with only recipient-free metadata in clear.
//!
//! Several nodes on one database share the queue: a worker *claims* a due message by setting
//! its lease (`locked_until`) in one statement, and every later write about that message names
//! the lease it holds, so a message is never sent by two workers at once and a worker whose
//! lease ran out cannot overwrite what the next one did.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Mail, MailError};
use crate::clock::UnixTime;
use crate::keys::MasterKey;
use crate::store::StoreError;

/// The sealing purpose of a queued message (associated data with its id).
pub(crate) const SEAL_PURPOSE: &str = "mail";

/// A message waiting for delivery, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// A UUIDv7: queue order is creation order.
    pub id: Uuid,
    /// [`super::Notice::kind`]: for logs, metrics and the audit trail.
    pub kind: String,
    /// The rendered message, sealed with [`MasterKey::seal_for`] bound to `id`.
    pub sealed_body: Vec<u8>,
    /// Delivery attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: UnixTime,
    pub created_at: UnixTime,
    /// The lease of a claimed message (what [`MailQueueStore::claim_due_mail`] set); `None`
    /// when unclaimed.
    pub locked_until: Option<UnixTime>,
}

/// What the queue holds, for the pending gauge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailQueueCounts {
    pub pending: u64,
    pub failed: u64,
}

/// The queue's storage (table `mail_queue`). Delivered messages are deleted; failed ones keep
/// their metadata (kind, attempts, a short error) but lose their body.
#[async_trait]
pub trait MailQueueStore: Send + Sync {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> Result<(), StoreError>;
    /// Claims the oldest due pending message (`next_attempt_at <= now`, no lease or a lease
    /// that ended by `now`) by setting its lease to `lease_until`, and returns it with that
    /// lease. Of any number of concurrent claims, exactly one gets a given message.
    async fn claim_due_mail(&self, now: UnixTime, lease_until: UnixTime) -> Result<Option<QueuedMail>, StoreError>;
    /// Delivered: deletes the message if the lease `lease` is still the one it holds.
    async fn delete_mail(&self, id: Uuid, lease: UnixTime) -> Result<bool, StoreError>;
    /// Not delivered yet: records the attempt and when to try again, and releases the lease.
    async fn retry_mail(
        &self,
        id: Uuid,
        lease: UnixTime,
        attempts: u32,
        next_attempt_at: UnixTime,
        last_error: &str,
    ) -> Result<bool, StoreError>;
    /// Given up: status `failed`, the body wiped, the lease released.
    async fn fail_mail(
        &self,
        id: Uuid,
        lease: UnixTime,
        attempts: u32,
        last_error: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    async fn mail_queue_counts(&self) -> Result<MailQueueCounts, StoreError>;
    /// The last error and attempts of a message (tests and operators), `None` once delivered.
    async fn mail_status(&self, id: Uuid) -> Result<Option<MailStatus>, StoreError>;
    /// Deletes failed messages that failed before `before`.
    async fn purge_failed_mail(&self, before: UnixTime) -> Result<u64, StoreError>;
}

/// Where a queued message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailStatus {
    pub kind: String,
    /// `pending` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: UnixTime,
    pub last_error: Option<String>,
}

/// When to try again, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt, doubled after each further one.
    pub initial_delay: i64,
    /// The longest wait between two attempts.
    pub max_delay: i64,
    /// Give up once a message is this old (seconds since it was queued)…
    pub max_age: i64,
    /// …or after this many attempts.
    pub max_attempts: u32,
    /// How long a claimed message is reserved for the worker sending it; longer than the
    /// transport's worst-case time for one message.
    pub lease: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { initial_delay: 15, max_delay: 3600, max_age: 86_400, max_attempts: 30, lease: 300 }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (`attempts >= 1`): `initial · 2^(attempts-1)`,
    /// capped at `max_delay`.
    pub fn backoff(&self, attempts: u32) -> i64 {
        let doublings = attempts.saturating_sub(1).min(40);
        self.initial_delay.saturating_mul(1i64 << doublings).min(self.max_delay).max(1)
    }

    /// The next attempt after `attempts` failures at `now`, or `None` when the message should
    /// be given up (too many attempts, or the next one would come after `max_age`).
    pub fn next_attempt(&self, attempts: u32, created_at: UnixTime, now: UnixTime) -> Option<UnixTime> {
        if attempts >= self.max_attempts {
            return None;
        }
        let next = now.saturating_add(self.backoff(attempts));
        (next.saturating_sub(created_at) <= self.max_age).then_some(next)
    }
}

/// What a delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
}

/// The sealed form of a [`Mail`].
#[derive(Serialize, Deserialize)]
struct SealedMail {
    to: String,
    subject: String,
    text: String,
    html: String,
    link: Option<String>,
}

pub(super) fn seal(key: &MasterKey, id: Uuid, mail: &Mail) -> Result<Vec<u8>, MailError> {
    let body = SealedMail {
        to: mail.to.clone(),
        subject: mail.subject.clone(),
        text: mail.text.clone(),
        html: mail.html.clone(),
        link: mail.link.clone(),
    };
    let json = zeroize::Zeroizing::new(serde_json::to_vec(&body).map_err(|e| MailError::Render(e.to_string()))?);
    key.seal_for(SEAL_PURPOSE, &id.to_string(), &json).map_err(|e| MailError::Sealed(e.to_string()))
}

pub(super) fn open(key: &MasterKey, queued: &QueuedMail) -> Result<Mail, MailError> {
    let json = key
        .open_for(SEAL_PURPOSE, &queued.id.to_string(), &queued.sealed_body)
        .map_err(|e| MailError::Sealed(e.to_string()))?;
    let body: SealedMail = serde_json::from_slice(&json).map_err(|_| MailError::Sealed("malformed body".into()))?;
    Ok(Mail {
        to: body.to,
        subject: body.subject,
        text: body.text,
        html: body.html,
        link: body.link,
        kind: super::Notice::static_kind(&queued.kind),
    })
}

/// A transport's error as it may be stored and audited: one line, at most 200 characters, and
/// anything that looks like an address replaced (SMTP servers like to quote the recipient).
pub fn short_error(error: &str) -> String {
    let line = error.lines().next().unwrap_or("").trim();
    let words: Vec<String> =
        line.split_whitespace().map(|w| if w.contains('@') { "[address]".to_owned() } else { w.to_owned() }).collect();
    let joined = words.join(" ");
    joined.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<i64> = (1..=10).map(|n| p.backoff(n)).collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(p.backoff(1000), 3600, "no overflow");
    }

    #[test]
    fn gives_up_after_max_attempts_or_max_age() {
        let p = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        assert_eq!(p.next_attempt(1, 0, 100), Some(115));
        assert_eq!(p.next_attempt(2, 0, 100), Some(130));
        assert_eq!(p.next_attempt(3, 0, 100), None);
        let p = RetryPolicy::default();
        assert_eq!(p.next_attempt(5, 0, 86_400 - 100), None, "the next try would come after a day");
        assert_eq!(p.next_attempt(5, 0, 86_400 - 240), Some(86_400));
    }

    #[test]
    fn a_stored_error_names_no_address() {
        let e = short_error("550 5.1.1 <bob@example.com>: Recipient address rejected\nsecond line");
        assert_eq!(e, "550 5.1.1 [address] Recipient address rejected");
        assert_eq!(short_error(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn sealed_mail_opens_only_for_its_row() {
        let (key, _) = MasterKey::generate().unwrap();
        let mail = Mail {
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            link: Some("https://id.example.com/x?token=1".into()),
            kind: "reset_password",
        };
        let id = Uuid::now_v7();
        let sealed = seal(&key, id, &mail).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("token=1"));
        let q = QueuedMail {
            id,
            kind: "reset_password".into(),
            sealed_body: sealed,
            attempts: 0,
            next_attempt_at: 0,
            created_at: 0,
            locked_until: None,
        };
        assert_eq!(open(&key, &q).unwrap(), mail);
        assert!(open(&key, &QueuedMail { id: Uuid::now_v7(), ..q }).is_err());
    }
}
