//! `MailQueueStore`: the durable mail queue. A claim is one `UPDATE … RETURNING` that sets the
//! lease (see `sql::CLAIM_DUE_MAIL`); every later write names that lease.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::mail::{MailQueueCounts, MailQueueStore, MailStatus, QueuedMail};
use gatehouse_core::store::StoreError;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::rows::{MailRow, MailStatusRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> MailQueueStore for SqlStore<D> {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> Result<(), StoreError> {
        self.query(sql::INSERT_MAIL)
            .bind(mail.id)
            .bind(mail.kind.as_str())
            .bind(mail.sealed_body.as_slice())
            .bind(i64::from(mail.attempts))
            .bind(mail.next_attempt_at)
            .bind(mail.created_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn claim_due_mail(&self, now: UnixTime, lease_until: UnixTime) -> Result<Option<QueuedMail>, StoreError> {
        let row: Option<MailRow> = self.query(D::CLAIM_DUE_MAIL).bind(now).bind(lease_until).fetch_optional().await?;
        row.map(QueuedMail::try_from).transpose()
    }

    async fn delete_mail(&self, id: Uuid, lease: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_MAIL).bind(id).bind(lease).execute().await? > 0)
    }

    async fn retry_mail(
        &self,
        id: Uuid,
        lease: UnixTime,
        attempts: u32,
        next_attempt_at: UnixTime,
        last_error: &str,
    ) -> Result<bool, StoreError> {
        let done = self
            .query(sql::RETRY_MAIL)
            .bind(id)
            .bind(lease)
            .bind(i64::from(attempts))
            .bind(next_attempt_at)
            .bind(last_error)
            .execute()
            .await?;
        Ok(done > 0)
    }

    async fn fail_mail(
        &self,
        id: Uuid,
        lease: UnixTime,
        attempts: u32,
        last_error: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self
            .query(sql::FAIL_MAIL)
            .bind(id)
            .bind(lease)
            .bind(i64::from(attempts))
            .bind(last_error)
            .bind(now)
            .execute()
            .await?;
        Ok(done > 0)
    }

    async fn mail_queue_counts(&self) -> Result<MailQueueCounts, StoreError> {
        let (pending, failed): (i64, i64) = self.query(sql::MAIL_QUEUE_COUNTS).fetch_one().await?;
        Ok(MailQueueCounts {
            pending: u64::try_from(pending).unwrap_or_default(),
            failed: u64::try_from(failed).unwrap_or_default(),
        })
    }

    async fn mail_status(&self, id: Uuid) -> Result<Option<MailStatus>, StoreError> {
        let row: Option<MailStatusRow> = self.query(sql::MAIL_STATUS).bind(id).fetch_optional().await?;
        Ok(row.map(MailStatus::from))
    }

    async fn purge_failed_mail(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_FAILED_MAIL).bind(before).execute().await
    }
}
