//! PostgreSQL backend: a pool shared by any number of Gatehouse nodes.
//!
//! Migrations run under sqlx's advisory lock, so nodes starting together apply each migration
//! once; the others wait, then find nothing to do.
//!
//! Transactions that write begin at READ COMMITTED explicitly ([`Postgres::BEGIN_WRITE`]) and
//! serialise on row locks: refresh-token rotation takes the token's row lock first, and the
//! checks that span rows (last admin, last sign-in method, policy revision) take the locks
//! this dialect names.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::dialect::{Dialect, dialect_runs_on};
use crate::error::describe;
use crate::store::SqlStore;
use crate::{ConnectError, applied_versions, connect_error, login_attempts, policies, sql};

const MAX_CONNECTIONS: u32 = 10;
/// A request waits this long for a pooled connection (including opening a new one, which sqlx
/// retries within this time) before the store reports `Unreachable` and the request answers
/// 503: with PostgreSQL down, clients learn it within about this long instead of hanging.
/// Ten connections serve far more than a node's CPU can ask for in 1.5 s, so a healthy but
/// busy database does not reach it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The PostgreSQL dialect.
pub(crate) struct Postgres;

impl Dialect for Postgres {
    /// READ COMMITTED, whatever the server's `default_transaction_isolation`: rotation relies
    /// on its rules (a statement that waited for a row lock re-checks the committed row; each
    /// statement sees the latest commits). Under REPEATABLE READ or SERIALIZABLE, the losers of
    /// a race would fail with a serialization error instead of being told the token was reused.
    const BEGIN_WRITE: &'static str = "BEGIN ISOLATION LEVEL READ COMMITTED";
    const LOCK_ADMIN_ROLE: Option<&'static str> = Some(sql::LOCK_ADMIN_ROLE);
    const LOCK_USER: Option<&'static str> = Some(sql::LOCK_USER);
    const LOCK_POLICIES: Option<&'static str> = Some(policies::PG_LOCK);
    const SELECT_LOGIN_ATTEMPTS_FOR_UPDATE: &'static str = login_attempts::SELECT_FOR_UPDATE;
    const CLAIM_DUE_MAIL: &'static str = sql::CLAIM_DUE_MAIL_SKIP_LOCKED;
    const CLAIM_DUE_LOGOUT: &'static str = crate::store::CLAIM_DUE_LOGOUT_SKIP_LOCKED;
    const SIGN_IN_OUTCOMES: &'static str = crate::store::SIGN_IN_OUTCOMES_POSTGRES;

    dialect_runs_on!(sqlx::Postgres);
}

impl SqlStore<Postgres> {
    /// Connects to the database `url` names (which must exist).
    pub(crate) async fn open(url: &str) -> Result<Self, ConnectError> {
        let mut options = PgConnectOptions::from_str(url).map_err(connect_error)?;
        if options.get_application_name().is_none() {
            // Names our sessions in pg_stat_activity, unless the URL already chose a name.
            options = options.application_name("gatehouse");
        }
        let pool: PgPool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Self::new(pool))
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

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

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
