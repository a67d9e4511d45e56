//! The reads every authenticated request makes, run on the calling thread.
//!
//! sqlx gives each SQLite connection its own worker thread: a query is a message to that thread
//! and a wake-up back. Profiles of the session, bearer and introspection routes under load
//! (bench/README.md, "Profiles") showed those two thread switches costing more CPU than the
//! indexed one-row lookup itself, about half of each request. The few single-row reads on that
//! path (session with its user, user by id, refresh family by id or by token, whether an access token
//! was revoked, the resources of a grant) therefore run here,
//! with rusqlite on the tokio worker that asks: an indexed read of one row takes microseconds,
//! and in WAL mode a reader never waits for the writer (it sees the last commit).
//!
//! This is a fast path, never the authority on failures: any error here (the database busy or
//! locked, I/O, a row that does not decode) answers `None`, and the caller runs the same
//! statement through the sqlx pool, which has the busy timeout and the error mapping. Connections
//! here are `query_only` and have no busy timeout, so a read can neither write nor block the
//! worker. The statements are the shared ones in `sql` (SQLite numbers `$1`, `$2` … in order of
//! appearance, so they bind positionally here too), and rows decode into the same row structs.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::rows::{FamilyRow, SessionRow, SessionUserRow, UserRow};
use crate::sql;

/// Connections kept between reads. Reads run on tokio's workers, so about one per worker is
/// in use at a time; more are opened when needed and closed after use.
const MAX_IDLE: usize = 4;

pub(crate) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    /// Reads from the database file at `path` (opened on first use, after migrations ran).
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path, idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = super::open_fast_path(&self.path)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs `f` on an idle (or new) connection; `None` when anything failed.
    fn with<T>(&self, what: &'static str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle.map_or_else(|| self.open(), Ok) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(read = what, error = %e, "fast read unavailable; using the pool");
                return None;
            }
        };
        match f(&conn) {
            Ok(v) => {
                if let Ok(mut idle) = self.idle.lock()
                    && idle.len() < MAX_IDLE
                {
                    idle.push(conn);
                }
                Some(v)
            }
            Err(e) => {
                // The connection is closed rather than reused after an error.
                tracing::debug!(read = what, error = %e, "fast read failed; using the pool");
                None
            }
        }
    }

    pub(crate) fn session_with_user(&self, token_hash: &[u8]) -> Option<Option<SessionUserRow>> {
        self.with("session_with_user", |c| {
            c.prepare_cached(sql::SESSION_WITH_USER)?.query_row(params![token_hash], session_user_row).optional()
        })
    }

    pub(crate) fn user_by_id(&self, id: Uuid) -> Option<Option<UserRow>> {
        self.with("user_by_id", |c| {
            c.prepare_cached(sql::USER_BY_ID)?.query_row(params![id.as_bytes().as_slice()], user_row).optional()
        })
    }

    pub(crate) fn refresh_family(&self, id: Uuid) -> Option<Option<FamilyRow>> {
        self.with("refresh_family", |c| {
            c.prepare_cached(sql::REFRESH_FAMILY)?.query_row(params![id.as_bytes().as_slice()], family_row).optional()
        })
    }

    /// The family of a token, used or not (the first-party refresh checks its client first).
    pub(crate) fn refresh_family_by_token(&self, token_hash: &[u8]) -> Option<Option<FamilyRow>> {
        self.with("refresh_family_by_token", |c| {
            c.prepare_cached(sql::REFRESH_FAMILY_BY_TOKEN)?.query_row(params![token_hash], family_row).optional()
        })
    }

    pub(crate) fn current_refresh_family(&self, token_hash: &[u8], now: i64) -> Option<Option<FamilyRow>> {
        self.with("current_refresh_family", |c| {
            c.prepare_cached(sql::CURRENT_REFRESH_FAMILY)?.query_row(params![token_hash, now], family_row).optional()
        })
    }

    /// Introspection of a client-credentials token asks this on every call.
    /// The resources a grant was given (`None` row: it named none), as the JSON array sqlx wrote.
    pub(crate) fn grant_resources(&self, grant_id: Uuid) -> Option<Vec<String>> {
        self.with("grant_resources", |c| {
            let row: Option<String> = c
                .prepare_cached(sql::GRANT_RESOURCES)?
                .query_row(params![grant_id.into_bytes()], |r| r.get(0))
                .optional()?;
            row.map_or_else(
                || Ok(Vec::new()),
                |text| {
                    serde_json::from_str(&text)
                        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))
                },
            )
        })
    }

    pub(crate) fn access_token_revoked(&self, jti: &str) -> Option<bool> {
        self.with("access_token_revoked", |c| {
            let row = c.prepare_cached(sql::ACCESS_TOKEN_REVOKED)?.query_row(params![jti], |r| r.get::<_, i64>(0));
            Ok(row.optional()?.is_some())
        })
    }
}

/// sqlx stores a `Uuid` on SQLite as its 16 bytes.
pub(super) fn uuid(r: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    let bytes = r.get_ref(i)?.as_blob()?;
    Uuid::from_slice(bytes).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Blob, Box::new(e)))
}

/// Columns of `sql::USER_BY_ID` (`user_columns!`).
fn user_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: uuid(r, 0)?,
        email: r.get(1)?,
        email_key: r.get(2)?,
        display_name: r.get(3)?,
        password_hash: r.get(4)?,
        status: r.get(5)?,
        email_verified: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

/// Columns of `sql::SESSION_WITH_USER`: the session's, then the user's.
fn session_user_row(r: &Row<'_>) -> rusqlite::Result<SessionUserRow> {
    Ok(SessionUserRow {
        session: SessionRow {
            id: uuid(r, 0)?,
            user_id: uuid(r, 1)?,
            token_hash: r.get(2)?,
            created_at: r.get(3)?,
            last_seen_at: r.get(4)?,
            expires_at: r.get(5)?,
            ip: r.get(6)?,
            user_agent: r.get(7)?,
            // Last in the statement (migration 0008).
            amr: r.get(16)?,
            auth_time: r.get(17)?,
        },
        user_email: r.get(8)?,
        user_email_key: r.get(9)?,
        user_display_name: r.get(10)?,
        user_password_hash: r.get(11)?,
        user_status: r.get(12)?,
        user_email_verified: r.get(13)?,
        user_created_at: r.get(14)?,
        user_updated_at: r.get(15)?,
    })
}

/// Columns of `family_columns!`.
pub(super) fn family_row(r: &Row<'_>) -> rusqlite::Result<FamilyRow> {
    family_row_from(r, 0)
}

/// Columns of `family_columns!`, starting at column `at`.
pub(super) fn family_row_from(r: &Row<'_>, at: usize) -> rusqlite::Result<FamilyRow> {
    Ok(FamilyRow {
        id: uuid(r, at)?,
        user_id: uuid(r, at + 1)?,
        client_id: r.get(at + 2)?,
        scope: r.get(at + 3)?,
        created_at: r.get(at + 4)?,
        expires_at: r.get(at + 5)?,
        revoked_at: r.get(at + 6)?,
        revoked_reason: r.get(at + 7)?,
        amr: r.get(at + 8)?,
        acr: r.get(at + 9)?,
        auth_time: r.get(at + 10)?,
        dpop_jkt: r.get(at + 11)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path answers (rather than falling back) on the real schema, and decodes what
    /// sqlx wrote: UUIDs as 16-byte blobs, booleans as integers.
    #[tokio::test]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    async fn reads_what_the_pool_wrote_on_the_migrated_schema() {
        use gatehouse_core::email::Email;
        use gatehouse_core::session::Session;
        use gatehouse_core::store::{SessionStore, UserStore};
        use gatehouse_core::user::{User, UserId, UserStatus};

        let dir = std::env::temp_dir().join(format!("gatehouse-reader-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("g.db").display());
        let (store, fast) = crate::store::SqlStore::<super::super::Sqlite>::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let user = User {
            id: UserId::generate(),
            email: Email::parse("reader@example.com").expect("email"),
            display_name: None,
            password_hash: None,
            status: UserStatus::Active,
            email_verified: true,
            created_at: 7,
            updated_at: 8,
        };
        store.insert_user(&user).await.unwrap();
        let session = Session {
            id: Uuid::new_v4(),
            user_id: user.id,
            token_hash: vec![9; 32],
            created_at: 1,
            last_seen_at: 2,
            expires_at: 3,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            amr: "fed".into(),
            auth_time: -4,
        };
        store.insert_session(&session).await.unwrap();

        let (reader, _) = fast.expect("a file database has a reader");
        let row = reader.user_by_id(user.id.0).expect("the fast path answered").expect("the user");
        assert_eq!((row.id, row.email_verified, row.updated_at), (user.id.0, true, 8));
        let row = reader.session_with_user(&[9; 32]).expect("the fast path answered").expect("the session");
        assert_eq!((row.session.id, row.session.user_id, row.user_email_verified), (session.id, user.id.0, true));
        assert_eq!((row.session.amr.as_str(), row.session.auth_time), ("fed", -4));
        assert!(matches!(reader.session_with_user(&[8; 32]), Some(None)));
        assert!(matches!(reader.refresh_family(Uuid::new_v4()), Some(None)));
        assert!(matches!(reader.current_refresh_family(&[1; 32], 0), Some(None)));
        // A delete through the pool is seen by the next fast read.
        assert!(store.delete_session(session.id).await.unwrap());
        assert!(matches!(reader.session_with_user(&[9; 32]), Some(None)));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_database_is_no_answer_not_a_new_file() {
        let dir = std::env::temp_dir().join(format!("gatehouse-reader-{}", Uuid::new_v4()));
        let reader = Reader::new(dir.join("absent.db"));
        assert!(reader.user_by_id(Uuid::new_v4()).is_none());
        assert!(!dir.join("absent.db").exists());
    }

    #[test]
    fn reads_are_query_only_and_decode_rows() -> rusqlite::Result<()> {
        let dir = std::env::temp_dir().join(format!("gatehouse-reader-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let path = dir.join("db.sqlite");
        let w = Connection::open(&path)?;
        w.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE refresh_families (id BLOB PRIMARY KEY, user_id BLOB, client_id TEXT, scope TEXT,
               created_at INTEGER, expires_at INTEGER, revoked_at INTEGER, revoked_reason TEXT,
               amr TEXT, acr TEXT, auth_time INTEGER, dpop_jkt TEXT);",
        )?;
        let (id, user) = (Uuid::new_v4(), Uuid::new_v4());
        w.execute(
            "INSERT INTO refresh_families VALUES (?1, ?2, 'c', NULL, 1, 2, NULL, NULL, 'pwd otp mfa', 'a', 1, 'jkt')",
            params![id.as_bytes().as_slice(), user.as_bytes().as_slice()],
        )?;
        let reader = Reader::new(path.clone());
        let row = reader.refresh_family(id).flatten();
        assert!(matches!(row, Some(ref f) if f.id == id && f.user_id == user && f.client_id == "c"));
        assert!(matches!(row, Some(ref f) if f.amr == "pwd otp mfa" && f.acr == "a" && f.auth_time == 1));
        assert!(matches!(row, Some(ref f) if f.dpop_jkt.as_deref() == Some("jkt")));
        assert!(matches!(reader.refresh_family(Uuid::new_v4()), Some(None)));
        // The same connections cannot write.
        let wrote = reader.with("write", |c| c.execute("DELETE FROM refresh_families", []));
        assert!(wrote.is_none());
        assert!(reader.refresh_family(id).flatten().is_some());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
