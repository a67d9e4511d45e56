//! `LoginAttemptStore` pieces: the SQL, the row and its conversion (run by
//! `store::login_attempts`).
//!
//! The lockout rules are gatehouse-core's (`abuse::lockout`); the store only runs the given
//! change on one row atomically: read it under a write lock (SQLite: `BEGIN IMMEDIATE`;
//! PostgreSQL: `SELECT … FOR UPDATE`), compute the next state, write it, commit.

use gatehouse_core::abuse::LoginAttempts;
use gatehouse_core::store::StoreError;

pub(crate) const SELECT: &str =
    "SELECT failures, in_flight, window_start, locked_until, expires_at FROM login_attempts WHERE key_hash = $1";

/// PostgreSQL: the row lock makes concurrent updates of one key take turns.
pub(crate) const SELECT_FOR_UPDATE: &str = "SELECT failures, in_flight, window_start, locked_until, expires_at \
     FROM login_attempts WHERE key_hash = $1 FOR UPDATE";

/// `DO NOTHING` on a clash: a concurrent first insert won; the caller retries and then sees it.
pub(crate) const INSERT: &str = "INSERT INTO login_attempts \
     (key_hash, failures, in_flight, window_start, locked_until, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (key_hash) DO NOTHING";

pub(crate) const UPDATE: &str = "UPDATE login_attempts \
     SET failures = $2, in_flight = $3, window_start = $4, locked_until = $5, expires_at = $6 WHERE key_hash = $1";

pub(crate) const DELETE: &str = "DELETE FROM login_attempts WHERE key_hash = $1";

pub(crate) const PURGE: &str = "DELETE FROM login_attempts WHERE expires_at <= $1";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LoginAttemptsRow {
    failures: i64,
    in_flight: i64,
    window_start: i64,
    locked_until: Option<i64>,
    expires_at: i64,
}

impl TryFrom<LoginAttemptsRow> for LoginAttempts {
    type Error = StoreError;

    fn try_from(row: LoginAttemptsRow) -> Result<Self, StoreError> {
        let count = |n: i64| u32::try_from(n).map_err(|_| StoreError::Corrupt("login_attempts: bad count".to_owned()));
        Ok(Self {
            failures: count(row.failures)?,
            in_flight: count(row.in_flight)?,
            window_start: row.window_start,
            locked_until: row.locked_until,
            expires_at: row.expires_at,
        })
    }
}

/// What to write after `change` turned `seen` into `next`.
pub(crate) enum Write {
    Nothing,
    Insert(LoginAttempts),
    Update(LoginAttempts),
    Delete,
}

pub(crate) fn write_for(seen: Option<LoginAttempts>, next: Option<LoginAttempts>) -> Write {
    match (seen, next) {
        (None, None) => Write::Nothing,
        (None, Some(n)) => Write::Insert(n),
        (Some(s), Some(n)) if s == n => Write::Nothing,
        (Some(_), Some(n)) => Write::Update(n),
        (Some(_), None) => Write::Delete,
    }
}
