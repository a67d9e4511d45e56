//! The hot writes, run on the calling thread: authorization-code redemption, refresh-family
//! creation and rotation, session creation and audit appends.
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
use gatehouse_core::oauth::CodeOutcome;
use gatehouse_core::session::Session;
use gatehouse_core::token::{RefreshFamily, RefreshTokenRow, RotateOutcome};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, named_params, params};
use uuid::Uuid;

use super::reader::{family_row, family_row_from, uuid};
use crate::oauth::unredeemed;
use crate::rotation::{REUSE_REASON, Unconsumed, revoked_for_reuse, unconsumed};
use crate::rows::{CodeRow, CodeStateRow, TokenStateRow};
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

    /// `store::codes`'s redemption, statement for statement: the conditional mark first, and
    /// when it matched nothing, the code's state read in the same transaction (then rolled back:
    /// nothing was written).
    pub(crate) fn redeem_code(&self, code_hash: &[u8], client_id: &str, now: i64) -> Option<CodeOutcome> {
        self.transaction("redeem_code", |tx| {
            let redeemed = tx
                .prepare_cached(sql::REDEEM_CODE)?
                .query_row(named_params! { "$1": code_hash, "$2": now, "$3": client_id }, |r| code_row(r, 0))
                .optional()?;
            if let Some(code) = redeemed {
                return Ok((CodeOutcome::Redeemed(code.into()), End::Commit));
            }
            let state = tx
                .prepare_cached(sql::CODE_STATE)?
                .query_row(params![code_hash], |r| Ok(CodeStateRow { used_at: r.get(0)?, code: code_row(r, 1)? }))
                .optional()?;
            Ok((unredeemed(state, client_id), End::Rollback))
        })
    }

    /// `store::refresh`'s family creation: the family and its first token, in one transaction;
    /// `None` also for a clash (the pool then reports it as the conflict it is).
    pub(crate) fn create_refresh_family(&self, family: &RefreshFamily, first: &RefreshTokenRow) -> Option<()> {
        self.transaction("create_refresh_family", |tx| {
            tx.prepare_cached(sql::INSERT_REFRESH_FAMILY)?.execute(params![
                blob(family.id),
                blob(family.user_id.0),
                family.client_id.as_str(),
                family.scope.as_deref(),
                family.created_at,
                family.expires_at,
                family.revoked_at,
                family.revoked_reason.as_deref(),
                family.auth.amr.as_str(),
                family.auth.acr.as_str(),
                family.auth.auth_time,
                family.dpop_jkt.as_deref(),
            ])?;
            insert_token(tx, first, family.id)?;
            Ok(((), End::Commit))
        })
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

/// Columns of `code_columns!`, starting at column `at`.
fn code_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<CodeRow> {
    Ok(CodeRow {
        code_hash: r.get(at)?,
        client_id: r.get(at + 1)?,
        user_id: uuid(r, at + 2)?,
        redirect_uri: r.get(at + 3)?,
        scope: r.get(at + 4)?,
        nonce: r.get(at + 5)?,
        code_challenge: r.get(at + 6)?,
        auth_time: r.get(at + 7)?,
        created_at: r.get(at + 8)?,
        expires_at: r.get(at + 9)?,
        grant_id: uuid(r, at + 10)?,
        amr: r.get(at + 11)?,
        dpop_jkt: r.get(at + 12)?,
    })
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

    type Migrated = (
        std::path::PathBuf,
        std::path::PathBuf,
        crate::store::SqlStore<super::super::Sqlite>,
        super::super::Reader,
        Writer,
    );

    /// A migrated database file in a directory of its own, with the pool and the fast path on it.
    async fn migrated() -> Migrated {
        let dir = std::env::temp_dir().join(format!("gatehouse-writer-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.db");
        let (store, fast) =
            crate::store::SqlStore::<super::super::Sqlite>::open(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
        store.migrate().await.unwrap();
        let (reader, writer) = fast.expect("a file database has a fast path");
        (dir, path, store, reader, writer)
    }

    /// What the writer stores, the pool reads back (JSON details as sqlx encodes them); while
    /// another connection holds the write lock the writer answers `None` at once (the caller
    /// then waits in the pool), and works again when the lock is gone.
    #[tokio::test]
    async fn writes_what_the_pool_reads_and_steps_aside_when_the_database_is_busy() {
        let (dir, path, store, _, writer) = migrated().await;
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

    /// Code redemption and family creation are answered here (not by the pool) on the migrated
    /// schema, and decode what the statements wrote; a grant's resources come from the reader.
    /// The outcomes themselves (replays, other clients, races) are the conformance suite's.
    #[tokio::test]
    async fn redeems_codes_and_creates_families_on_the_migrated_schema() {
        use gatehouse_core::acr::AuthContext;
        use gatehouse_core::email::Email;
        use gatehouse_core::oauth::{AuthorizationCode, ResourceServerStore};
        use gatehouse_core::store::UserStore;
        use gatehouse_core::user::{User, UserId, UserStatus};

        let (dir, path, store, reader, writer) = migrated().await;
        let user = User {
            id: UserId::generate(),
            email: Email::parse("writer@example.com").unwrap(),
            display_name: None,
            password_hash: None,
            status: UserStatus::Active,
            email_verified: true,
            created_at: 1,
            updated_at: 1,
        };
        store.insert_user(&user).await.unwrap();
        let code = AuthorizationCode {
            code_hash: vec![5; 32],
            client_id: "app".into(),
            user_id: user.id,
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid offline_access".into(),
            nonce: Some("n".into()),
            code_challenge: None,
            auth_time: 90,
            created_at: 100,
            expires_at: 160,
            grant_id: Uuid::new_v4(),
            amr: "pwd otp".into(),
            dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        };
        // The row as the pool's INSERT_CODE writes it (on a connection without foreign keys:
        // no client row is needed for what is tested here).
        let raw = Connection::open(&path).unwrap();
        raw.pragma_update(None, "foreign_keys", false).unwrap();
        raw.execute(
            sql::INSERT_CODE,
            params![
                code.code_hash,
                code.client_id,
                blob(code.user_id.0),
                code.redirect_uri,
                code.scope,
                code.nonce,
                code.code_challenge,
                code.auth_time,
                code.created_at,
                code.expires_at,
                blob(code.grant_id),
                code.amr,
                code.dpop_jkt,
            ],
        )
        .unwrap();
        assert_eq!(writer.redeem_code(&[5; 32], "other", 120), Some(CodeOutcome::Invalid));
        assert_eq!(writer.redeem_code(&[5; 32], "app", 120), Some(CodeOutcome::Redeemed(code.clone())));
        assert_eq!(writer.redeem_code(&[5; 32], "app", 121), Some(CodeOutcome::Replayed(code.clone())));
        assert_eq!(writer.redeem_code(&[6; 32], "app", 121), Some(CodeOutcome::Invalid));

        let family = RefreshFamily {
            id: code.grant_id,
            user_id: user.id,
            client_id: "app".into(),
            scope: Some("openid offline_access".into()),
            created_at: 120,
            expires_at: 9_000,
            revoked_at: None,
            revoked_reason: None,
            auth: AuthContext { amr: "pwd otp".into(), acr: "urn:a".into(), auth_time: 90 },
            dpop_jkt: None,
        };
        let first =
            RefreshTokenRow { token_hash: vec![7; 32], family_id: family.id, created_at: 120, idle_expires_at: 500 };
        assert_eq!(writer.create_refresh_family(&family, &first), Some(()));
        assert_eq!(writer.create_refresh_family(&family, &first), None, "a clash is the pool's to report");
        let stored = reader.refresh_family_by_token(&[7; 32]).expect("answered").expect("the family");
        assert_eq!(RefreshFamily::from(stored), family);

        assert_eq!(reader.grant_resources(family.id), Some(Vec::new()));
        let resources = vec!["https://api.example/".to_owned(), "urn:x".to_owned()];
        store.set_grant_resources(family.id, &resources, 120).await.unwrap();
        assert_eq!(reader.grant_resources(family.id), Some(resources));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
