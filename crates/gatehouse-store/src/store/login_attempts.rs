//! `LoginAttemptStore`: each update reads its key's row in a write transaction
//! ([`Dialect::SELECT_LOGIN_ATTEMPTS_FOR_UPDATE`]), so updates of one key take turns and each
//! sees the one before: SQLite's `BEGIN IMMEDIATE` runs them one at a time, PostgreSQL's
//! `FOR UPDATE` queues them on the row lock.
//!
//! A key's first row may be inserted by two PostgreSQL transactions at once (there is no row
//! to lock yet); the loser's insert does nothing, and it retries and then finds (and locks)
//! the winner's row. The same loop runs on SQLite, where it never retries: no other writer
//! runs between the read and the insert.

use async_trait::async_trait;
use gatehouse_core::abuse::{LoginAttemptStore, LoginAttempts};
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::StoreError;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::login_attempts::{self as sql, LoginAttemptsRow, Write, write_for};

/// Rounds of "insert lost to a concurrent insert" before giving up; each lost round means
/// another transaction made progress.
const MAX_ROUNDS: usize = 8;

#[async_trait]
impl<D: Dialect> LoginAttemptStore for SqlStore<D> {
    async fn update_login_attempts(
        &self,
        key: &str,
        change: &(dyn Fn(Option<LoginAttempts>) -> Option<LoginAttempts> + Send + Sync),
    ) -> Result<Option<LoginAttempts>, StoreError> {
        for _ in 0..MAX_ROUNDS {
            let mut tx = self.begin_write().await?;
            let row: Option<LoginAttemptsRow> =
                tx.query(D::SELECT_LOGIN_ATTEMPTS_FOR_UPDATE).bind(key).fetch_optional().await?;
            let seen = row.map(LoginAttempts::try_from).transpose()?;
            let (statement, next) = match write_for(seen, change(seen)) {
                Write::Nothing => (None, None),
                Write::Insert(n) => (Some(sql::INSERT), Some(n)),
                Write::Update(n) => (Some(sql::UPDATE), Some(n)),
                Write::Delete => (Some(sql::DELETE), None),
            };
            if let Some(statement) = statement {
                let mut query = tx.query(statement).bind(key);
                if let Some(n) = next {
                    query = query
                        .bind(i64::from(n.failures))
                        .bind(i64::from(n.in_flight))
                        .bind(n.window_start)
                        .bind(n.locked_until)
                        .bind(n.expires_at);
                }
                if query.execute().await? == 0 && seen.is_none() {
                    // Another transaction inserted the first row since our read: start over.
                    tx.rollback().await?;
                    continue;
                }
            }
            tx.commit().await?;
            return Ok(seen);
        }
        Err(StoreError::Unavailable("login_attempts: too much contention on one key".to_owned()))
    }

    async fn login_attempts(&self, key: &str) -> Result<Option<LoginAttempts>, StoreError> {
        let row: Option<LoginAttemptsRow> = self.query(sql::SELECT).bind(key).fetch_optional().await?;
        row.map(LoginAttempts::try_from).transpose()
    }

    async fn purge_login_attempts(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE).bind(now).execute().await
    }
}
