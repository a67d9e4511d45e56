//! SQL both backends run unchanged: the schemas agree on names and meaning, and `$n`
//! placeholders work on SQLite and PostgreSQL alike. Values are always bound, never formatted in.

macro_rules! user_columns {
    () => {
        "id, email, email_key, display_name, password_hash, status, email_verified, created_at, updated_at"
    };
}

macro_rules! session_columns {
    () => {
        "id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent"
    };
}

macro_rules! audit_columns {
    () => {
        "occurred_at, event_type, actor, subject, ip, user_agent, outcome, details"
    };
}

// Users.

pub(crate) const INSERT_USER: &str =
    concat!("INSERT INTO users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
pub(crate) const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
pub(crate) const USER_BY_EMAIL_KEY: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email_key = $1");
/// Ids compare as 16 raw bytes on both backends (SQLite BLOB memcmp, PostgreSQL `uuid`), the
/// order of [`uuid::Uuid`]'s `Ord`; for UUIDv7 that is creation order.
pub(crate) const LIST_USERS_FIRST: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY id LIMIT $1");
pub(crate) const LIST_USERS_AFTER: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE id > $1 ORDER BY id LIMIT $2");
pub(crate) const SET_PASSWORD_HASH: &str = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
pub(crate) const SET_USER_STATUS: &str = "UPDATE users SET status = $2, updated_at = $3 WHERE id = $1";

// Sessions.

pub(crate) const INSERT_SESSION: &str =
    concat!("INSERT INTO sessions (", session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
pub(crate) const SESSION_BY_TOKEN_HASH: &str =
    concat!("SELECT ", session_columns!(), " FROM sessions WHERE token_hash = $1");
pub(crate) const TOUCH_SESSION: &str = "UPDATE sessions SET last_seen_at = $2 WHERE id = $1";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = $1";
pub(crate) const DELETE_USER_SESSION: &str = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
/// Newest first, as an account's session list shows them.
pub(crate) const SESSIONS_FOR_USER: &str =
    concat!("SELECT ", session_columns!(), " FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id DESC");
pub(crate) const DELETE_SESSIONS_FOR_USER: &str = "DELETE FROM sessions WHERE user_id = $1";
pub(crate) const PURGE_EXPIRED_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2";

// Audit.

pub(crate) const APPEND_AUDIT_EVENT: &str =
    concat!("INSERT INTO audit_events (", audit_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
/// Newest first by insertion order (`id`), not by `occurred_at`: clocks on several nodes differ.
pub(crate) const RECENT_AUDIT_EVENTS: &str =
    concat!("SELECT ", audit_columns!(), " FROM audit_events ORDER BY id DESC LIMIT $1");

// Health.

pub(crate) const PING: &str = "SELECT 1";
