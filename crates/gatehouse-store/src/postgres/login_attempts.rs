//! `LoginAttemptStore` on PostgreSQL: each update reads its row `FOR UPDATE`, so updates of
//! one key queue on the row lock and each sees the one before. A key's first row may be inserted
//! by two transactions at once; the loser retries and then finds (and locks) the winner's row.

use async_trait::async_trait;
use gatehouse_core::abuse::{LoginAttemptStore, LoginAttempts};
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::StoreError;

use super::PgStore;
use crate::error::unavailable;
use crate::login_attempts::{self as sql, LoginAttemptsRow, Write, write_for};

/// Rounds of "insert lost to a concurrent insert, or row deleted meanwhile" before giving up;
/// each lost round means another transaction made progress.
const MAX_ROUNDS: usize = 8;

#[async_trait]
impl LoginAttemptStore for PgStore {
    async fn update_login_attempts(
        &self,
        key: &str,
        change: &(dyn Fn(Option<LoginAttempts>) -> Option<LoginAttempts> + Send + Sync),
    ) -> Result<Option<LoginAttempts>, StoreError> {
        for _ in 0..MAX_ROUNDS {
            let mut tx = self.begin_write().await.map_err(unavailable)?;
            let row: Option<LoginAttemptsRow> =
                sqlx::query_as(sql::SELECT_FOR_UPDATE).bind(key).fetch_optional(&mut *tx).await.map_err(unavailable)?;
            let seen = row.map(LoginAttempts::try_from).transpose()?;
            let (statement, next) = match write_for(seen, change(seen)) {
                Write::Nothing => (None, None),
                Write::Insert(n) => (Some(sql::INSERT), Some(n)),
                Write::Update(n) => (Some(sql::UPDATE), Some(n)),
                Write::Delete => (Some(sql::DELETE), None),
            };
            if let Some(statement) = statement {
                let mut query = sqlx::query(statement).bind(key);
                if let Some(n) = next {
                    query = query
                        .bind(i64::from(n.failures))
                        .bind(i64::from(n.in_flight))
                        .bind(n.window_start)
                        .bind(n.locked_until)
                        .bind(n.expires_at);
                }
                let done = query.execute(&mut *tx).await.map_err(unavailable)?;
                if seen.is_none() && done.rows_affected() == 0 {
                    // Another transaction inserted the first row since our read: start over.
                    tx.rollback().await.map_err(unavailable)?;
                    continue;
                }
            }
            tx.commit().await.map_err(unavailable)?;
            return Ok(seen);
        }
        Err(StoreError::Unavailable("login_attempts: too much contention on one key".to_owned()))
    }

    async fn login_attempts(&self, key: &str) -> Result<Option<LoginAttempts>, StoreError> {
        let row: Option<LoginAttemptsRow> =
            sqlx::query_as(sql::SELECT).bind(key).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.map(LoginAttempts::try_from).transpose()
    }

    async fn purge_login_attempts(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE).bind(now).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}
