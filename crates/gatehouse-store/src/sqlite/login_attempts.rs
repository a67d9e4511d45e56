//! `LoginAttemptStore` on SQLite: each update is one `BEGIN IMMEDIATE` transaction, so updates
//! of any key run one at a time and each sees the one before.

use async_trait::async_trait;
use gatehouse_core::abuse::{LoginAttemptStore, LoginAttempts};
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::StoreError;

use super::SqliteStore;
use crate::error::unavailable;
use crate::login_attempts::{self as sql, LoginAttemptsRow, Write, write_for};

#[async_trait]
impl LoginAttemptStore for SqliteStore {
    async fn update_login_attempts(
        &self,
        key: &str,
        change: &(dyn Fn(Option<LoginAttempts>) -> Option<LoginAttempts> + Send + Sync),
    ) -> Result<Option<LoginAttempts>, StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        let row: Option<LoginAttemptsRow> =
            sqlx::query_as(sql::SELECT).bind(key).fetch_optional(&mut *tx).await.map_err(unavailable)?;
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
            query.execute(&mut *tx).await.map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(seen)
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
