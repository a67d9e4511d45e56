//! PostgreSQL backend: a pool shared by any number of Gatehouse nodes.
//!
//! Migrations run under sqlx's advisory lock, so nodes starting together apply each migration
//! once; the others wait, then find nothing to do.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::audit::AuditEvent;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::session::Session;
use gatehouse_core::store::{AuditStore, HealthCheck, SessionStore, StoreError, UserStore};
use gatehouse_core::user::{User, UserId, UserStatus};
use sqlx::PgPool;
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::{OnUnique, describe, store_error, unavailable};
use crate::rows::{AuditRow, SessionRow, UserRow};
use crate::{ConnectError, applied_versions, sql};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;
/// A request waits this long for a free connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database `url` names (which must exist).
    pub(crate) async fn open(url: &str) -> Result<Self, ConnectError> {
        let mut options = PgConnectOptions::from_str(url).map_err(|e| ConnectError::Connect(describe(&e)))?;
        if options.get_application_name().is_none() {
            // Names our sessions in pg_stat_activity, unless the URL already chose a name.
            options = options.application_name("gatehouse");
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| ConnectError::Connect(describe(&e)))?;
        Ok(Self { pool })
    }

    /// Applies pending migrations; returns how many this call applied.
    pub(crate) async fn migrate(&self) -> Result<usize, ConnectError> {
        let mut conn = self.pool.acquire().await.map_err(|e| ConnectError::Migrate(describe(&e)))?;
        match run_migrations(&mut conn).await {
            Ok(applied) => Ok(applied),
            Err(e) => {
                // The session may still hold the advisory lock: close it rather than return it
                // to the pool, or every other node would wait for this pool to go away.
                let _ = conn.close().await;
                Err(ConnectError::Migrate(e.to_string()))
            }
        }
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Holds the migration lock across the before/after count too (advisory locks stack, so the
/// lock `Migrator::run` takes inside is fine), so the count is this run's work alone.
async fn run_migrations(conn: &mut PgConnection) -> Result<usize, MigrateError> {
    conn.lock().await?;
    let before = applied_versions(conn).await?;
    // `run_direct` is what `run` calls after acquiring; calling it directly avoids sqlx's
    // generic `Acquire` bound, which makes callers' futures fail the compiler's `Send` check.
    MIGRATOR.run_direct(None, &mut *conn, false).await?;
    let after = applied_versions(conn).await?;
    conn.unlock().await?;
    Ok(after.difference(&before).count())
}

#[async_trait]
impl UserStore for PgStore {
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
impl SessionStore for PgStore {
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
impl AuditStore for PgStore {
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
impl HealthCheck for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }
}
