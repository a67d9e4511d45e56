//! What SQLite and PostgreSQL do differently, behind one small trait ([`Dialect`]), and the
//! statement type the generic store ([`crate::store::SqlStore`]) runs through it.
//!
//! The store's code is generic over the dialect only, never over `sqlx::Database`: a dialect
//! binds values and runs statements on its own concrete pool and transaction types (the
//! [`dialect_runs_on!`] macro writes those few methods for each backend). Code generic over
//! sqlx's executors needs higher-ranked bounds that `async_trait`'s `Send` check rejects
//! ("implementation of `Executor` is not general enough") and that would have to be repeated on
//! every impl; here the generic code only sees opaque types that are `Send`.

use std::future::Future;

use gatehouse_core::store::StoreError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Encode, FromRow, Type};

use crate::error::{OnUnique, store_error};

/// A value both backends can bind, as it is (sqlx encodes it when bound, so borrowing is fine).
/// The lifetime is the borrow's: an `Option<&str>` encodes only for as long as it lives.
pub(crate) trait Value<'q>:
    Encode<'q, sqlx::Sqlite> + Type<sqlx::Sqlite> + Encode<'q, sqlx::Postgres> + Type<sqlx::Postgres>
{
}

impl<'q, T> Value<'q> for T where
    T: Encode<'q, sqlx::Sqlite> + Type<sqlx::Sqlite> + Encode<'q, sqlx::Postgres> + Type<sqlx::Postgres>
{
}

/// A row both backends can decode: the structs in `rows`, and tuples such as `(i64,)` for one
/// column.
pub(crate) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

impl<T> Record for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static {}

/// The differences between the backends. Everything else (statements, row decoding, the rules
/// in `rotation`, `oauth`, `rbac`, `login_attempts`) is shared.
pub(crate) trait Dialect: Send + Sync + Sized + 'static {
    type Pool: Send + Sync;
    type Tx: Send;
    /// A statement with the values bound so far.
    type Query: Send;

    /// How a transaction that writes begins (see each backend for why).
    const BEGIN_WRITE: &'static str;
    /// Run first by a guarded user change (`rbac`), binding the admin role's name: makes every
    /// such change wait for the one before, so the last-admin check and the change are one step.
    /// `None` where the write transaction already serialises (SQLite's single writer).
    const LOCK_ADMIN_ROLE: Option<&'static str>;
    /// Run first by an unlink of a federated identity, binding the user's id: two unlinks of
    /// one user take turns, so they cannot both leave the other as the last sign-in method.
    const LOCK_USER: Option<&'static str>;
    /// Run first by a policy append: the revision check and the insert are one step, and ids
    /// are assigned in commit order.
    const LOCK_POLICIES: Option<&'static str>;
    /// Reads a key's login-attempt row inside the update's transaction, locking it where row
    /// locks are how writers take turns.
    const SELECT_LOGIN_ATTEMPTS_FOR_UPDATE: &'static str;
    /// Leases the oldest due message of the mail queue (`sql::CLAIM_DUE_MAIL`), skipping rows
    /// another node is claiming where row locks are how writers take turns.
    const CLAIM_DUE_MAIL: &'static str;
    /// The same for the back-channel logout queue (`store::backchannel`).
    const CLAIM_DUE_LOGOUT: &'static str;
    /// The dashboard's sign-in outcomes per time bucket (`store::overview`): the statements
    /// differ only in how they read `details.reason` (JSON text on SQLite, `JSONB` on PostgreSQL).
    const SIGN_IN_OUTCOMES: &'static str;

    fn query(sql: &'static str) -> Self::Query;
    fn bind<'q, T: Value<'q>>(query: Self::Query, value: T) -> Self::Query;
    fn begin_write(pool: &Self::Pool) -> impl Future<Output = Result<Self::Tx, sqlx::Error>> + Send;
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    fn rollback(tx: Self::Tx) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Rows affected.
    fn execute(on: On<'_, Self>, query: Self::Query) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    fn fetch_optional<R: Record>(
        on: On<'_, Self>,
        query: Self::Query,
    ) -> impl Future<Output = Result<Option<R>, sqlx::Error>> + Send;
    fn fetch_all<R: Record>(
        on: On<'_, Self>,
        query: Self::Query,
    ) -> impl Future<Output = Result<Vec<R>, sqlx::Error>> + Send;
    fn fetch_one<R: Record>(
        on: On<'_, Self>,
        query: Self::Query,
    ) -> impl Future<Output = Result<R, sqlx::Error>> + Send;
}

/// Where a statement runs: on a pooled connection, or inside a transaction.
pub(crate) enum On<'a, D: Dialect> {
    Pool(&'a D::Pool),
    Tx(&'a mut D::Tx),
}

/// The [`Dialect`] methods that only name the backend's types, for `sqlx::Sqlite` or
/// `sqlx::Postgres`.
macro_rules! dialect_runs_on {
    ($db:ty) => {
        type Pool = sqlx::Pool<$db>;
        type Tx = sqlx::Transaction<'static, $db>;
        type Query = sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>;

        fn query(sql: &'static str) -> Self::Query {
            sqlx::query(sql)
        }

        fn bind<'q, T: $crate::dialect::Value<'q>>(query: Self::Query, value: T) -> Self::Query {
            query.bind(value)
        }

        async fn begin_write(pool: &Self::Pool) -> Result<Self::Tx, sqlx::Error> {
            pool.begin_with(Self::BEGIN_WRITE).await
        }

        async fn commit(tx: Self::Tx) -> Result<(), sqlx::Error> {
            tx.commit().await
        }

        async fn rollback(tx: Self::Tx) -> Result<(), sqlx::Error> {
            tx.rollback().await
        }

        async fn execute(on: $crate::dialect::On<'_, Self>, query: Self::Query) -> Result<u64, sqlx::Error> {
            let done = match on {
                $crate::dialect::On::Pool(pool) => query.execute(pool).await?,
                $crate::dialect::On::Tx(tx) => query.execute(&mut **tx).await?,
            };
            Ok(done.rows_affected())
        }

        async fn fetch_optional<R: $crate::dialect::Record>(
            on: $crate::dialect::On<'_, Self>,
            query: Self::Query,
        ) -> Result<Option<R>, sqlx::Error> {
            let query = query.try_map(|row| R::from_row(&row));
            match on {
                $crate::dialect::On::Pool(pool) => query.fetch_optional(pool).await,
                $crate::dialect::On::Tx(tx) => query.fetch_optional(&mut **tx).await,
            }
        }

        async fn fetch_all<R: $crate::dialect::Record>(
            on: $crate::dialect::On<'_, Self>,
            query: Self::Query,
        ) -> Result<Vec<R>, sqlx::Error> {
            let query = query.try_map(|row| R::from_row(&row));
            match on {
                $crate::dialect::On::Pool(pool) => query.fetch_all(pool).await,
                $crate::dialect::On::Tx(tx) => query.fetch_all(&mut **tx).await,
            }
        }

        async fn fetch_one<R: $crate::dialect::Record>(
            on: $crate::dialect::On<'_, Self>,
            query: Self::Query,
        ) -> Result<R, sqlx::Error> {
            let query = query.try_map(|row| R::from_row(&row));
            match on {
                $crate::dialect::On::Pool(pool) => query.fetch_one(pool).await,
                $crate::dialect::On::Tx(tx) => query.fetch_one(&mut **tx).await,
            }
        }
    };
}

pub(crate) use dialect_runs_on;

/// A statement being bound, and where it will run. Its methods map failures to
/// [`StoreError`]: a unique violation as [`Stmt::on_unique`] says (by default, like any
/// other failure).
pub(crate) struct Stmt<'a, D: Dialect> {
    on: On<'a, D>,
    query: D::Query,
    on_unique: OnUnique,
}

impl<'a, D: Dialect> Stmt<'a, D> {
    pub(crate) fn new(on: On<'a, D>, sql: &'static str) -> Self {
        Self { on, query: D::query(sql), on_unique: OnUnique::Nothing }
    }

    pub(crate) fn bind<'q, T: Value<'q>>(mut self, value: T) -> Self {
        self.query = D::bind(self.query, value);
        self
    }

    /// What a unique violation of this statement means.
    pub(crate) fn on_unique(mut self, on_unique: OnUnique) -> Self {
        self.on_unique = on_unique;
        self
    }

    /// Runs the statement; returns the number of rows it affected.
    pub(crate) async fn execute(self) -> Result<u64, StoreError> {
        D::execute(self.on, self.query).await.map_err(|e| store_error(e, self.on_unique))
    }

    pub(crate) async fn fetch_optional<R: Record>(self) -> Result<Option<R>, StoreError> {
        D::fetch_optional(self.on, self.query).await.map_err(|e| store_error(e, self.on_unique))
    }

    pub(crate) async fn fetch_all<R: Record>(self) -> Result<Vec<R>, StoreError> {
        D::fetch_all(self.on, self.query).await.map_err(|e| store_error(e, self.on_unique))
    }

    pub(crate) async fn fetch_one<R: Record>(self) -> Result<R, StoreError> {
        D::fetch_one(self.on, self.query).await.map_err(|e| store_error(e, self.on_unique))
    }
}
