//! SQLite backend: one database file in WAL mode, for a single node (or tests).
//!
//! Pragmas, set on every connection: WAL (readers never block the writer), `foreign_keys`
//! (sessions die with their user), `busy_timeout` 5 s (writers queue instead of failing with
//! SQLITE_BUSY), `synchronous = NORMAL` (durable across application crashes; with WAL, a power
//! cut can lose only the last commits, never corrupt the file).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::audit::AuditEvent;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::session::Session;
use gatehouse_core::store::{AuditStore, HealthCheck, SessionStore, StoreError, UserStore};
use gatehouse_core::user::{User, UserId, UserStatus};
use sqlx::SqlitePool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::{OnUnique, describe, store_error, unavailable};
use crate::rows::{AuditRow, SessionRow, UserRow};
use crate::{ConnectError, applied_versions, sql};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const MAX_CONNECTIONS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database `url` names.
    pub(crate) async fn open(url: &str) -> Result<Self, ConnectError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| ConnectError::Connect(describe(&e)))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        let pool = if is_in_memory(url) {
            // An in-memory database lives as long as its last connection: keep exactly one,
            // forever, or an idle pool would silently drop every table.
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool.connect_with(options).await.map_err(|e| ConnectError::Connect(describe(&e)))?;
        Ok(Self { pool })
    }

    /// Applies pending migrations; returns how many this call applied.
    ///
    /// sqlx takes no lock on SQLite (its `lock()` is a no-op); each migration runs in its own
    /// transaction, so a second process migrating at the same moment fails and rolls back
    /// rather than applying anything twice.
    pub(crate) async fn migrate(&self) -> Result<usize, ConnectError> {
        let mut conn = self.pool.acquire().await.map_err(|e| ConnectError::Migrate(describe(&e)))?;
        run_migrations(&mut conn).await.map_err(|e| ConnectError::Migrate(e.to_string()))
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn run_migrations(conn: &mut SqliteConnection) -> Result<usize, MigrateError> {
    let before = applied_versions(conn).await?;
    // `run_direct` is what `run` calls after acquiring; calling it directly avoids sqlx's
    // generic `Acquire` bound, which makes callers' futures fail the compiler's `Send` check.
    MIGRATOR.run_direct(None, &mut *conn, false).await?;
    let after = applied_versions(conn).await?;
    Ok(after.difference(&before).count())
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_USER)
            .bind(user.id.0)
            .bind(user.email.as_str())
            .bind(user.email.key())
            .bind(user.display_name.as_deref())
            .bind(user.password_hash.as_deref())
            .bind(user.status.as_str())
            .bind(user.email_verified)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(e, OnUnique::User))?;
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> =
            sqlx::query_as(sql::USER_BY_ID).bind(id.0).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.map(User::try_from).transpose()
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(sql::USER_BY_EMAIL_KEY)
            .bind(email_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(User::try_from).transpose()
    }

    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, StoreError> {
        let query = match after {
            Some(after) => sqlx::query_as(sql::LIST_USERS_AFTER).bind(after.0),
            None => sqlx::query_as(sql::LIST_USERS_FIRST),
        };
        let rows: Vec<UserRow> = query.bind(i64::from(limit)).fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn set_password_hash(&self, id: UserId, hash: &str, now: UnixTime) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::SET_PASSWORD_HASH)
            .bind(id.0)
            .bind(hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_user_status(&self, id: UserId, status: UserStatus, now: UnixTime) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::SET_USER_STATUS)
            .bind(id.0)
            .bind(status.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_SESSION)
            .bind(session.id)
            .bind(session.user_id.0)
            .bind(session.token_hash.as_slice())
            .bind(session.created_at)
            .bind(session.last_seen_at)
            .bind(session.expires_at)
            .bind(session.ip.as_deref())
            .bind(session.user_agent.as_deref())
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(e, OnUnique::Session))?;
        Ok(())
    }

    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(sql::SESSION_BY_TOKEN_HASH)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(Session::from))
    }

    async fn touch_session(&self, id: Uuid, last_seen_at: UnixTime) -> Result<(), StoreError> {
        sqlx::query(sql::TOUCH_SESSION).bind(id).bind(last_seen_at).execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }

    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::DELETE_SESSION).bind(id).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::DELETE_USER_SESSION)
            .bind(id)
            .bind(user.0)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> =
            sqlx::query_as(sql::SESSIONS_FOR_USER).bind(user.0).fetch_all(&self.pool).await.map_err(unavailable)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_sessions_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        let done =
            sqlx::query(sql::DELETE_SESSIONS_FOR_USER).bind(user.0).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired_sessions(&self, now: UnixTime, idle_cutoff: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE_EXPIRED_SESSIONS)
            .bind(now)
            .bind(idle_cutoff)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(sql::APPEND_AUDIT_EVENT)
            .bind(event.occurred_at)
            .bind(event.event_type.as_str())
            .bind(event.actor.as_deref())
            .bind(event.subject.as_deref())
            .bind(event.ip.as_deref())
            .bind(event.user_agent.as_deref())
            .bind(event.outcome.as_str())
            .bind(Json(&event.details))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn recent_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(sql::RECENT_AUDIT_EVENTS)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }
}

#[async_trait]
impl HealthCheck for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }
}
