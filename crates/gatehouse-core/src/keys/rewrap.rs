//! `gatehouse keys rewrap`: every secret sealed with the master key — signing keys, TOTP
//! secrets, queued mail — sealed again under the current key, so the previous key can be
//! dropped. Runs beside serving nodes: values are read in small batches (keyset pages, no
//! lock held) and each is replaced by one compare-and-set statement (`… WHERE id = $1 AND
//! sealed = $2`), so a node's own write to the same row wins and nothing is half-written; a
//! value that changed meanwhile is counted and left to the next run. Running it again is
//! harmless: values already under the current key are only checked.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use super::sealed::{MasterKey, SealError};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::store::{AuditStore, StoreError};

/// The kinds of sealed values, with how each is bound (its associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SealedKind {
    /// `signing_keys.sealed_private_key`, bound to the `kid`.
    SigningKey,
    /// `mfa_totp.secret_sealed`, bound to the user id (purpose `totp`).
    Totp,
    /// `mail_queue.sealed_body` of messages still waiting, bound to the message id (purpose `mail`).
    Mail,
}

impl SealedKind {
    pub const ALL: [Self; 3] = [Self::SigningKey, Self::Totp, Self::Mail];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigningKey => "signing_key",
            Self::Totp => "totp",
            Self::Mail => "mail",
        }
    }

    fn reseal(self, master: &MasterKey, id: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        match self {
            Self::SigningKey => master.reseal(id, sealed),
            Self::Totp => master.reseal_for(crate::account::TOTP_SEAL_PURPOSE, id, sealed),
            Self::Mail => master.reseal_for(crate::mail::MAIL_SEAL_PURPOSE, id, sealed),
        }
    }
}

/// One sealed value and the id of its row (a `kid`, or a UUID as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub id: String,
    pub sealed: Vec<u8>,
}

/// Where sealed values live, for the rewrap only (the services read them through their own
/// stores).
#[async_trait]
pub trait SealedStore: Send + Sync {
    /// At most `limit` values of `kind` whose row id sorts after `after` (all when `None`),
    /// in id order.
    async fn sealed_values(
        &self,
        kind: SealedKind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedValue>, StoreError>;
    /// Replaces `old` with `new` if the row still holds `old`; `false` when it does not
    /// (changed or deleted meanwhile). One statement: atomic on its own.
    async fn replace_sealed(&self, kind: SealedKind, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError>;
}

/// What a run found and did for one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Values looked at.
    pub scanned: u64,
    /// Values sealed again under the current key (with `--dry-run`: that would be).
    pub rewrapped: u64,
    /// Values already under the current key.
    pub current: u64,
    /// Values that changed or disappeared between read and write (run again).
    pub changed: u64,
    /// Values no key of the ring opens (each logged with its row id and the key it names).
    pub unreadable: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewrapReport {
    pub dry_run: bool,
    pub key_id: String,
    pub previous_key_ids: Vec<String>,
    pub signing_key: KindCounts,
    pub totp: KindCounts,
    pub mail: KindCounts,
}

impl RewrapReport {
    pub fn counts(&self, kind: SealedKind) -> &KindCounts {
        match kind {
            SealedKind::SigningKey => &self.signing_key,
            SealedKind::Totp => &self.totp,
            SealedKind::Mail => &self.mail,
        }
    }

    fn counts_mut(&mut self, kind: SealedKind) -> &mut KindCounts {
        match kind {
            SealedKind::SigningKey => &mut self.signing_key,
            SealedKind::Totp => &mut self.totp,
            SealedKind::Mail => &mut self.mail,
        }
    }

    /// Everything is under the current key: the previous keys can be dropped.
    pub fn complete(&self) -> bool {
        SealedKind::ALL.iter().all(|k| {
            let c = self.counts(*k);
            c.changed == 0 && c.unreadable == 0 && !(self.dry_run && c.rewrapped > 0)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the batch size must be between 1 and 10000")]
    BatchSize,
}

/// Seals every value again under `master`'s current key (see the module doc). With `dry_run`
/// nothing is written and `rewrapped` counts what would be.
pub async fn rewrap(
    store: &dyn SealedStore,
    audit: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
    master: &MasterKey,
    batch: u32,
    dry_run: bool,
) -> Result<RewrapReport, RewrapError> {
    if !(1..=10_000).contains(&batch) {
        return Err(RewrapError::BatchSize);
    }
    let mut report = RewrapReport {
        dry_run,
        key_id: master.key_id(),
        previous_key_ids: master.previous_ids(),
        signing_key: KindCounts::default(),
        totp: KindCounts::default(),
        mail: KindCounts::default(),
    };
    for kind in SealedKind::ALL {
        let mut after: Option<String> = None;
        loop {
            let page = store.sealed_values(kind, after.as_deref(), batch).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let full = page.len() == batch as usize;
            for value in page {
                let counts = report.counts_mut(kind);
                counts.scanned += 1;
                match kind.reseal(master, &value.id, &value.sealed) {
                    Ok(None) => counts.current += 1,
                    Ok(Some(_)) if dry_run => counts.rewrapped += 1,
                    Ok(Some(new)) => {
                        if store.replace_sealed(kind, &value.id, &value.sealed, &new).await? {
                            counts.rewrapped += 1;
                        } else {
                            counts.changed += 1;
                        }
                    }
                    Err(e) => {
                        tracing::error!(kind = kind.as_str(), id = %value.id, error = %e, "a sealed value cannot be opened");
                        counts.unreadable += 1;
                    }
                }
            }
            if !full {
                break;
            }
        }
    }
    if !dry_run {
        Auditor::new(audit, clock)
            .record(
                AuditEventType::MasterKeyRewrapped,
                if report.complete() { Outcome::Success } else { Outcome::Failure },
                Some("system".into()),
                Some(report.key_id.clone()),
                &RequestContext::cli(),
                json!({
                    "previous_key_ids": report.previous_key_ids,
                    "signing_key": report.signing_key,
                    "totp": report.totp,
                    "mail": report.mail,
                }),
            )
            .await?;
    }
    Ok(report)
}
