//! SQLite backend: one database file in WAL mode, for a single node (or tests).
//!
//! Pragmas, set on every connection: WAL (readers never block the writer), `foreign_keys`
//! (sessions and refresh families die with their user), `busy_timeout` 5 s (writers queue instead of failing with
//! SQLITE_BUSY), `synchronous = NORMAL` (durable across application crashes; with WAL, a power
//! cut can lose only the last commits, never corrupt the file).
//!
//! Transactions that write start with `BEGIN IMMEDIATE` ([`Sqlite::BEGIN_WRITE`]): SQLite has
//! one writer at a time, and taking that lock first serialises the transactions, which is what
//! makes refresh-token rotation race-free here, and why this dialect needs no lock statements.
//! The hot reads and writes go through [`FastPath`] first.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::dialect::{Dialect, dialect_runs_on};
use crate::error::describe;
use crate::store::SqlStore;
use crate::{ConnectError, applied_versions, connect_error};

mod fast_path;
mod reader;
mod writer;

pub(crate) use fast_path::FastPath;
pub(crate) use reader::Reader;
pub(crate) use writer::Writer;

const MAX_CONNECTIONS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite dialect.
pub(crate) struct Sqlite;

impl Dialect for Sqlite {
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a busy database makes a writer wait
    /// (up to the busy timeout) here, at the start. A deferred `BEGIN` that reads first and
    /// writes later would instead fail with SQLITE_BUSY at the write, without waiting,
    /// whenever another writer committed in between.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_ADMIN_ROLE: Option<&'static str> = None;
    const LOCK_USER: Option<&'static str> = None;
    const LOCK_POLICIES: Option<&'static str> = None;
    /// SQLite has no `FOR UPDATE`; the write transaction is the lock.
    const SELECT_LOGIN_ATTEMPTS_FOR_UPDATE: &'static str = crate::login_attempts::SELECT;
    const CLAIM_DUE_MAIL: &'static str = crate::sql::CLAIM_DUE_MAIL;
    const CLAIM_DUE_LOGOUT: &'static str = crate::store::CLAIM_DUE_LOGOUT;
    const SIGN_IN_OUTCOMES: &'static str = crate::store::SIGN_IN_OUTCOMES_SQLITE;

    dialect_runs_on!(sqlx::Sqlite);
}

impl SqlStore<Sqlite> {
    /// Opens (creating if missing) the database `url` names, and the [`Reader`] and
    /// [`Writer`] of its fast path (none for an in-memory database: rusqlite could not reach it).
    pub(crate) async fn open(url: &str) -> Result<(Self, Option<(Reader, Writer)>), ConnectError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        let in_memory = is_in_memory(url);
        let path = options.get_filename().to_path_buf();
        let fast = (!in_memory).then(|| (Reader::new(path.clone()), Writer::new(path)));
        let pool = if in_memory {
            // An in-memory database lives as long as its last connection: keep exactly one,
            // forever, or an idle pool would silently drop every table.
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool: SqlitePool = pool.connect_with(options).await.map_err(connect_error)?;
        Ok((Self::new(pool), fast))
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

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

async fn run_migrations(conn: &mut SqliteConnection) -> Result<usize, MigrateError> {
    let before = applied_versions(conn).await?;
    // `run_direct` is what `run` calls after acquiring; calling it directly avoids sqlx's
    // generic `Acquire` bound, which makes callers' futures fail the compiler's `Send` check.
    MIGRATOR.run_direct(None, &mut *conn, false).await?;
    let after = applied_versions(conn).await?;
    Ok(after.difference(&before).count())
}

/// A rusqlite connection to the fast path's database file: never created here (a missing file
/// is an error, and the pool's answer, never a new empty database), no busy timeout (a tokio
/// worker never sleeps on SQLite's lock; the caller falls back to the pool instead).
fn open_fast_path(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::ZERO)?;
    Ok(conn)
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}
