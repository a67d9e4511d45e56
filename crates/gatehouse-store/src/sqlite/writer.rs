//! The hot writes, run on the calling thread: refresh-token rotation, session creation and
//! audit appends.
//!
//! sqlx runs each SQLite statement on the connection's own worker thread, a message there and
//! a wake-up back for every statement, `BEGIN` and `COMMIT` included. A rotation is five of them;
//! a profile of `POST /api/v1/auth/refresh` (bench/README.md, "Profiles") showed those hand-offs,
//! not SQLite, to be most of its CPU. Here the same statements run on one `rusqlite` connection
//! on the tokio worker that asks: a write transaction of a few indexed rows takes tens of
//! microseconds in WAL mode (`synchronous = NORMAL`: a commit appends to the WAL, no fsync).
//!
//! Like the [`Reader`](super::Reader), this is a fast path, never the authority on failures. The
//! connection has no busy timeout, so a tokio worker never sleeps on SQLite's lock: when another
//! connection (the sqlx pool, the CLI, another process) holds the write lock, `BEGIN IMMEDIATE`
//! fails at once and the caller runs the same operation through the pool, which waits. Any other
//! error rolls the transaction back (nothing was acknowledged) and falls back the same way. Only
//! one transaction runs here at a time (a mutex; a second caller waits for the first's few
//! microseconds rather than queueing on a thread).
//!
//! The statements are the shared ones in `sql`. SQLite treats `$1`, `$2` … as *named*
//! parameters, numbered in order of first appearance, so a statement that names them out of
//! order (`SET used_at = $2 WHERE token_hash = $1`) is bound by name here; those that name them
//! in order bind positionally.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use gatehouse_core::audit::AuditEvent;
use gatehouse_core::session::Session;
use gatehouse_core::token::{RefreshFamily, RefreshTokenRow, RotateOutcome};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, named_params, params};
use uuid::Uuid;

use super::reader::{family_row, family_row_from, uuid};
use crate::rotation::{REUSE_REASON, Unconsumed, revoked_for_reuse, unconsumed};
use crate::rows::TokenStateRow;
use crate::sql;

/// How a transaction ends.
enum End {
    Commit,
    Rollback,
}

pub(crate) struct Writer {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl Writer {
    /// Writes to the database file at `path` (opened on first use, after migrations ran).
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path, conn: Mutex::new(None) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = super::open_fast_path(&self.path)?;
        // As the pool's connections (sqlite/mod.rs): the journal mode is the file's (WAL,
        // set by the pool); these two are per connection.
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(conn)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction; `None` when anything failed (then nothing
    /// was written, and the caller asks the pool).
    fn transaction<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<(T, End)>,
    ) -> Option<T> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            match self.open() {
                Ok(c) => *slot = Some(c),
                Err(e) => {
                    tracing::debug!(write = what, error = %e, "fast write unavailable; using the pool");
                    return None;
                }
            }
        }
        let conn = slot.as_mut()?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (value, end) = f(&tx)?;
            match end {
                End::Commit => tx.commit()?,
                End::Rollback => tx.rollback()?,
            }
            Ok::<_, rusqlite::Error>(value)
        })();
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                // Busy (another writer) is the expected case; the transaction rolled back when
                // dropped. A connection that failed otherwise is not reused.
                if !is_busy(&e) {
                    *slot = None;
                }
                tracing::debug!(write = what, error = %e, "fast write failed; using the pool");
                None
            }
        }
    }

    /// `store::refresh`'s rotation, statement for statement.
    pub(crate) fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next: &RefreshTokenRow,
        now: i64,
    ) -> Option<RotateOutcome> {
        self.transaction("rotate_refresh_token", |tx| {
            let consumed: Option<Uuid> = tx
                .prepare_cached(sql::CONSUME_REFRESH_TOKEN)?
                .query_row(named_params! { "$1": presented_hash, "$2": now }, |r| uuid(r, 0))
                .optional()?;
            if let Some(family_id) = consumed {
                insert_token(tx, next, family_id)?;
                let family = tx.prepare_cached(sql::REFRESH_FAMILY)?.query_row(params![blob(family_id)], family_row)?;
                let family = RefreshFamily::from(family);
                // No revocation can commit inside this transaction on SQLite; kept to match
                // the pool's rotation exactly.
                if !family.is_live(now) {
                    return Ok((RotateOutcome::Invalid, End::Rollback));
                }
                return Ok((RotateOutcome::Rotated(family), End::Commit));
            }
            let state = tx
                .prepare_cached(sql::REFRESH_TOKEN_STATE)?
                .query_row(params![presented_hash], |r| {
                    let used_at: Option<i64> = r.get(0)?;
                    Ok(TokenStateRow::new(used_at, family_row_from(r, 1)?))
                })
                .optional()?;
            let Unconsumed::Reuse(family) = unconsumed(state, now) else {
                return Ok((RotateOutcome::Invalid, End::Rollback));
            };
            let family = *family;
            let revoked = tx
                .prepare_cached(sql::REVOKE_REFRESH_FAMILY)?
                .execute(named_params! { "$1": blob(family.id), "$2": now, "$3": REUSE_REASON })?;
            if revoked == 0 {
                return Ok((RotateOutcome::Invalid, End::Rollback));
            }
            Ok((RotateOutcome::Reused(revoked_for_reuse(family, now)), End::Commit))
        })
    }

    /// A session row; `None` also for a clash of id or token hash (the pool then reports it).
    pub(crate) fn insert_session(&self, s: &Session) -> Option<()> {
        self.transaction("insert_session", |tx| {
            tx.prepare_cached(sql::INSERT_SESSION)?.execute(params![
                blob(s.id),
                blob(s.user_id.0),
                s.token_hash.as_slice(),
                s.created_at,
                s.last_seen_at,
                s.expires_at,
                s.ip.as_deref(),
                s.user_agent.as_deref(),
                s.amr.as_str(),
                s.auth_time,
            ])?;
            Ok(((), End::Commit))
        })
    }

    /// An audit event, committed before the caller goes on (an acknowledged request's event is
    /// never lost, as with the pool).
    pub(crate) fn append_audit_event(&self, e: &AuditEvent) -> Option<()> {
        let details = serde_json::to_string(&e.details).ok()?;
        self.transaction("append_audit_event", |tx| {
            tx.prepare_cached(sql::APPEND_AUDIT_EVENT)?.execute(params![
                e.occurred_at,
                e.event_type.as_str(),
                e.actor.as_deref(),
                e.subject.as_deref(),
                e.ip.as_deref(),
                e.user_agent.as_deref(),
                e.outcome.as_str(),
                details,
            ])?;
            Ok(((), End::Commit))
        })
    }
}

fn insert_token(tx: &Transaction<'_>, token: &RefreshTokenRow, family_id: Uuid) -> rusqlite::Result<()> {
    tx.prepare_cached(sql::INSERT_REFRESH_TOKEN)?.execute(params![
        token.token_hash.as_slice(),
        blob(family_id),
        token.created_at,
        token.idle_expires_at,
    ])?;
    Ok(())
}

/// sqlx stores a `Uuid` on SQLite as its 16 bytes.
fn blob(id: Uuid) -> [u8; 16] {
    id.into_bytes()
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use gatehouse_core::store::AuditStore;
    use serde_json::json;

    use super::*;

    /// What the writer stores, the pool reads back (JSON details as sqlx encodes them); while
    /// another connection holds the write lock the writer answers `None` at once (the caller
    /// then waits in the pool), and works again when the lock is gone.
    #[tokio::test]
    async fn writes_what_the_pool_reads_and_steps_aside_when_the_database_is_busy() {
        let dir = std::env::temp_dir().join(format!("gatehouse-writer-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.db");
        let (store, fast) =
            crate::store::SqlStore::<super::super::Sqlite>::open(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
        store.migrate().await.unwrap();
        let (_, writer) = fast.expect("a file database has a writer");
        let event = |n: i64| AuditEvent {
            occurred_at: n,
            event_type: "login.succeeded".into(),
            actor: Some("u".into()),
            subject: None,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            outcome: "success".into(),
            details: json!({ "n": n, "text": "ü\"'" }),
        };
        assert_eq!(writer.append_audit_event(&event(1)), Some(()));

        let mut other = Connection::open(&path).unwrap();
        let held = other.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        assert_eq!(writer.append_audit_event(&event(2)), None, "busy: step aside, do not wait");
        held.rollback().unwrap();
        assert_eq!(writer.append_audit_event(&event(3)), Some(()));

        let events = store.recent_audit_events(10).await.unwrap();
        assert_eq!(events, vec![event(3), event(1)]);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
