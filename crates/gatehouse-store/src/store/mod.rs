//! The one SQL implementation of the storage traits: [`SqlStore`], generic over the
//! [`Dialect`], with one file per aggregate. The statements are `sql`'s, the rows `rows`'s;
//! what a backend does differently is asked of `D` where it matters (a transaction's first
//! statement, a lock), and nowhere else.

use gatehouse_core::store::StoreError;

use crate::dialect::{Dialect, On, Stmt, Value};
use crate::error::unavailable;

pub(crate) use backchannel::{CLAIM_DUE_LOGOUT, CLAIM_DUE_LOGOUT_SKIP_LOCKED};
pub(crate) use overview::{SIGN_IN_OUTCOMES_POSTGRES, SIGN_IN_OUTCOMES_SQLITE};

mod account_tokens;
mod assertion_jtis;
mod audit;
mod backchannel;
mod clients;
mod codes;
mod consents;
mod devices;
mod exchange_rules;
mod federation;
mod invitations;
mod keys;
mod login_attempts;
mod mail_queue;
mod mfa;
mod overview;
mod passkeys;
mod policies;
mod rbac;
mod refresh;
mod resources;
mod sealed;
mod self_registration;
mod sessions;
mod users;

/// Every storage trait on one pool of the dialect's backend.
pub(crate) struct SqlStore<D: Dialect> {
    pub(crate) pool: D::Pool,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(pool: D::Pool) -> Self {
        Self { pool }
    }

    /// A statement on a pooled connection.
    fn query(&self, sql: &'static str) -> Stmt<'_, D> {
        Stmt::new(On::Pool(&self.pool), sql)
    }

    /// Starts a transaction that writes, the dialect's way ([`Dialect::BEGIN_WRITE`]).
    async fn begin_write(&self) -> Result<Tx<D>, StoreError> {
        D::begin_write(&self.pool).await.map(Tx).map_err(unavailable)
    }
}

/// A transaction that writes. Dropped without [`Tx::commit`], it rolls back.
struct Tx<D: Dialect>(D::Tx);

impl<D: Dialect> Tx<D> {
    /// A statement inside this transaction.
    fn query(&mut self, sql: &'static str) -> Stmt<'_, D> {
        Stmt::new(On::Tx(&mut self.0), sql)
    }

    /// Runs `lock` (a [`Dialect`] lock statement binding `key`), if the dialect has one.
    async fn lock<'q, T: Value<'q>>(&mut self, lock: Option<&'static str>, key: T) -> Result<(), StoreError> {
        if let Some(lock) = lock {
            self.query(lock).bind(key).execute().await?;
        }
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        D::commit(self.0).await.map_err(unavailable)
    }

    async fn rollback(self) -> Result<(), StoreError> {
        D::rollback(self.0).await.map_err(unavailable)
    }
}
