//! sqlx errors turned into [`StoreError`], in one place.
//!
//! The messages end up in logs, so they must never repeat a bound value (an email address, a
//! password hash, a token hash). SQLite builds its messages from the schema only. PostgreSQL
//! keeps values in the error's DETAIL, which we never read, except for data exceptions
//! (SQLSTATE class 22, e.g. `invalid input syntax for type uuid: "…"`), whose message can quote
//! the value: for those only the code is kept.

use gatehouse_core::store::StoreError;
use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

/// What a unique violation means for the statement that hit it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnUnique {
    /// Inserting a user: a clash on `email_key` is the expected "address taken".
    User,
    /// Inserting a session (id or token hash clash; both are random, so this is a bug or replay).
    Session,
    /// Inserting a refresh family or token (random ids and 256-bit token hashes, so a clash is
    /// a bug or a replay, like a session's).
    RefreshToken,
    /// Registering a client: its id is taken.
    Client,
    /// Inserting an authorization code (a 256-bit random value's hash: a clash is a bug or a
    /// replay, like a session's).
    Code,
    /// Creating a role: its name is taken.
    Role,
    /// Creating a permission: its name is taken.
    Permission,
    /// Linking an upstream identity: the (provider, subject) pair or the user's link to that
    /// provider exists.
    Federation,
    /// Inserting an invitation: another open invitation of the address was stored at the same
    /// moment (the token hash is random, a clash there is a bug).
    Invitation,
    /// Registering a passkey: its credential id is registered already.
    Passkey,
    /// Registering a resource server: its identifier is registered already.
    ResourceServer,
    /// No unique constraint can fire; treat it like any other failure.
    Nothing,
}

/// Maps a failed statement to a [`StoreError`].
pub(crate) fn store_error(err: sqlx::Error, on_unique: OnUnique) -> StoreError {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
    {
        match on_unique {
            OnUnique::User if names_email_key(db) => return StoreError::Conflict("email"),
            OnUnique::User => return StoreError::Conflict("user id"),
            OnUnique::Session => return StoreError::Conflict("session"),
            OnUnique::RefreshToken => return StoreError::Conflict("refresh token"),
            OnUnique::Client => return StoreError::Conflict("client id"),
            OnUnique::Code => return StoreError::Conflict("authorization code"),
            OnUnique::Role => return StoreError::Conflict("role"),
            OnUnique::Permission => return StoreError::Conflict("permission"),
            OnUnique::Federation => return StoreError::Conflict("federated identity"),
            OnUnique::Invitation => return StoreError::Conflict("invitation"),
            OnUnique::Passkey => return StoreError::Conflict("passkey"),
            OnUnique::ResourceServer => return StoreError::Conflict("resource server"),
            OnUnique::Nothing => {}
        }
    }
    match &err {
        // The database cannot be reached: connection refused or lost, TLS failed, or no
        // connection could be had within the pool's acquire timeout.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unreachable(describe(&err))
        }
        // The server said so itself: it is shutting down, starting up or out of connections,
        // or it cut this connection (e.g. `pg_ctl stop -m immediate` sends 57P01 to every
        // backend before the socket closes).
        sqlx::Error::Database(db) if db.code().is_some_and(|code| means_unreachable(&code)) => {
            StoreError::Unreachable(describe(&err))
        }
        sqlx::Error::ColumnDecode { index, .. } => StoreError::Corrupt(format!("column {index} cannot be decoded")),
        sqlx::Error::Decode(_) => StoreError::Corrupt("a value cannot be decoded".to_owned()),
        _ => StoreError::Unavailable(describe(&err)),
    }
}

/// Whether a PostgreSQL SQLSTATE says the server cannot serve now, rather than that the
/// statement is wrong: class 08 (connection exception), 57P01–57P03 (admin or crash shutdown,
/// cannot connect now) and 53300 (too many connections). SQLite has no such codes.
fn means_unreachable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "53300")
}

/// Shorthand for statements that no unique constraint can reject.
pub(crate) fn unavailable(err: sqlx::Error) -> StoreError {
    store_error(err, OnUnique::Nothing)
}

/// A description of `err` that is safe to log and to show an operator (see the module doc).
pub(crate) fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => describe_database_error(db.as_ref()),
        sqlx::Error::ColumnDecode { index, .. } => format!("column {index} cannot be decoded"),
        sqlx::Error::Decode(_) => "a value cannot be decoded".to_owned(),
        sqlx::Error::Encode(_) => "a value cannot be encoded".to_owned(),
        other => other.to_string(),
    }
}

fn describe_database_error(db: &dyn DatabaseError) -> String {
    let code = db.code().unwrap_or_default();
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        if pg.code().starts_with("22") {
            return format!("the database rejected a value (SQLSTATE {code})");
        }
        return format!("{} (SQLSTATE {code})", pg.message());
    }
    format!("{} (code {code})", db.message())
}

/// PostgreSQL names the constraint; SQLite only says `UNIQUE constraint failed: users.email_key`.
fn names_email_key(db: &dyn DatabaseError) -> bool {
    db.constraint().unwrap_or_else(|| db.message()).contains("email_key")
}

#[cfg(test)]
mod tests {
    use super::means_unreachable;

    #[test]
    fn shutdown_and_connection_sqlstates_mean_unreachable() {
        for code in ["08000", "08003", "08006", "57P01", "57P02", "57P03", "53300"] {
            assert!(means_unreachable(code), "{code}");
        }
        // A statement's own faults are not outages: unique violation, syntax, serialization.
        for code in ["23505", "42601", "40001", "22P02", "57014", "2067"] {
            assert!(!means_unreachable(code), "{code}");
        }
    }
}
