//! `BackchannelStore`: the clients each session signed in to and the durable queue of logout
//! tokens (table `backchannel_logouts`, OpenID Connect Back-Channel Logout 1.0 §2.3, §2.5). A
//! claim is the mail queue's one `UPDATE … RETURNING` that sets a lease (`sql::claim_due!`);
//! every later write names that lease.

use async_trait::async_trait;
use gatehouse_core::UserId;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::backchannel::{BackchannelStore, PendingLogout, SessionGrant};
use gatehouse_core::store::StoreError;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;

const REMEMBER: &str = "INSERT INTO backchannel_logouts \
     (grant_id, session_id, client_id, user_id, status, attempts, created_at) \
     VALUES ($1, $2, $3, $4, 'live', 0, $5) ON CONFLICT (grant_id) DO NOTHING";
const MOVE: &str = "UPDATE backchannel_logouts SET session_id = $2 WHERE session_id = $1 AND status = 'live'";
const END_SESSION: &str = "UPDATE backchannel_logouts SET status = 'pending', ended_at = $2, next_attempt_at = $2 \
     WHERE session_id = $1 AND status = 'live'";
const END_USER: &str = "UPDATE backchannel_logouts SET status = 'pending', ended_at = $2, next_attempt_at = $2 \
     WHERE user_id = $1 AND status = 'live'";
const END_ORPHANED: &str = "UPDATE backchannel_logouts SET status = 'pending', ended_at = $1, next_attempt_at = $1 \
     WHERE status = 'live' AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = backchannel_logouts.session_id)";
macro_rules! logout_columns {
    () => {
        "grant_id, client_id, user_id, attempts, ended_at, locked_until"
    };
}
/// SQLite: its single writer already serialises claims.
pub(crate) const CLAIM_DUE_LOGOUT: &str = crate::sql::claim_due!("backchannel_logouts", "grant_id", logout_columns, "");
/// PostgreSQL: skip the rows another node is claiming.
pub(crate) const CLAIM_DUE_LOGOUT_SKIP_LOCKED: &str =
    crate::sql::claim_due!("backchannel_logouts", "grant_id", logout_columns, " FOR UPDATE SKIP LOCKED");
const DELETE: &str = "DELETE FROM backchannel_logouts WHERE grant_id = $1 AND locked_until = $2";
const RETRY: &str = "UPDATE backchannel_logouts \
     SET attempts = $3, next_attempt_at = $4, last_error = $5, locked_until = NULL \
     WHERE grant_id = $1 AND locked_until = $2 AND status = 'pending'";
const FAIL: &str = "UPDATE backchannel_logouts \
     SET status = 'failed', attempts = $3, last_error = $4, failed_at = $5, locked_until = NULL \
     WHERE grant_id = $1 AND locked_until = $2 AND status = 'pending'";
const STATUS: &str = "SELECT status, attempts, last_error FROM backchannel_logouts WHERE grant_id = $1";
const PURGE_FAILED: &str = "DELETE FROM backchannel_logouts WHERE status = 'failed' AND failed_at < $1";

#[derive(sqlx::FromRow)]
struct LogoutRow {
    grant_id: Uuid,
    client_id: String,
    user_id: Uuid,
    attempts: i64,
    ended_at: Option<i64>,
    locked_until: Option<i64>,
}

impl From<LogoutRow> for PendingLogout {
    fn from(row: LogoutRow) -> Self {
        Self {
            grant_id: row.grant_id,
            client_id: row.client_id,
            user_id: UserId(row.user_id),
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            ended_at: row.ended_at.unwrap_or_default(),
            locked_until: row.locked_until,
        }
    }
}

#[async_trait]
impl<D: Dialect> BackchannelStore for SqlStore<D> {
    async fn remember_session_grant(&self, g: &SessionGrant) -> Result<(), StoreError> {
        self.query(REMEMBER)
            .bind(g.grant_id)
            .bind(g.session_id)
            .bind(g.client_id.as_str())
            .bind(g.user_id.0)
            .bind(g.created_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn move_session_grants(&self, from: Uuid, to: Uuid) -> Result<u64, StoreError> {
        self.query(MOVE).bind(from).bind(to).execute().await
    }

    async fn end_session_grants(&self, session: Uuid, now: UnixTime) -> Result<u64, StoreError> {
        self.query(END_SESSION).bind(session).bind(now).execute().await
    }

    async fn end_user_session_grants(&self, user: UserId, now: UnixTime) -> Result<u64, StoreError> {
        self.query(END_USER).bind(user.0).bind(now).execute().await
    }

    async fn end_orphaned_session_grants(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(END_ORPHANED).bind(now).execute().await
    }

    async fn claim_due_logout(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<Option<PendingLogout>, StoreError> {
        let row: Option<LogoutRow> =
            self.query(D::CLAIM_DUE_LOGOUT).bind(now).bind(lease_until).fetch_optional().await?;
        Ok(row.map(PendingLogout::from))
    }

    async fn delete_logout(&self, grant: Uuid, lease: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(DELETE).bind(grant).bind(lease).execute().await? > 0)
    }

    async fn retry_logout(
        &self,
        grant: Uuid,
        lease: UnixTime,
        attempts: u32,
        next_attempt_at: UnixTime,
        last_error: &str,
    ) -> Result<bool, StoreError> {
        let done = self
            .query(RETRY)
            .bind(grant)
            .bind(lease)
            .bind(i64::from(attempts))
            .bind(next_attempt_at)
            .bind(last_error)
            .execute()
            .await?;
        Ok(done > 0)
    }

    async fn fail_logout(
        &self,
        grant: Uuid,
        lease: UnixTime,
        attempts: u32,
        last_error: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self
            .query(FAIL)
            .bind(grant)
            .bind(lease)
            .bind(i64::from(attempts))
            .bind(last_error)
            .bind(now)
            .execute()
            .await?;
        Ok(done > 0)
    }

    async fn logout_status(&self, grant: Uuid) -> Result<Option<(String, u32, Option<String>)>, StoreError> {
        let row: Option<(String, i64, Option<String>)> = self.query(STATUS).bind(grant).fetch_optional().await?;
        Ok(row.map(|(s, a, e)| (s, u32::try_from(a).unwrap_or(u32::MAX), e)))
    }

    async fn purge_failed_logouts(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.query(PURGE_FAILED).bind(before).execute().await
    }
}
