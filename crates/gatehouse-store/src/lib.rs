//! Gatehouse storage: the `gatehouse-core` storage traits ([`UserStore`], [`SessionStore`],
//! [`AuditStore`], [`KeyStore`], [`RefreshTokenStore`], [`ClientStore`],
//! [`AuthorizationCodeStore`], [`ConsentStore`], [`RbacStore`], [`AssertionReplayStore`], [`PolicyStore`], [`FederationStore`],
//! [`MailQueueStore`], [`InvitationStore`], [`MfaStore`], [`ResourceServerStore`],
//! [`HealthCheck`]) implemented once in SQL with sqlx, run on SQLite or PostgreSQL.
//!
//! # Design
//!
//! - **One SQL implementation, a small dialect for the differences.** `store::SqlStore<D>`
//!   implements every trait once, generic over a `dialect::Dialect`, one file per aggregate
//!   in `store/` (`users`, `sessions`, `audit`, `keys`, `refresh`, `clients`, `codes`,
//!   `consents`, `login_attempts`, `rbac`, `policies`, `federation`, `assertion_jtis`,
//!   `account_tokens`, `mail_queue`, `invitations`, `mfa`, `resources`, `sealed`).
//!   The dialects `sqlite::Sqlite` and `postgres::Postgres` carry only what truly differs: how
//!   a write transaction begins (`BEGIN IMMEDIATE` / `BEGIN ISOLATION LEVEL READ COMMITTED`),
//!   the lock statements PostgreSQL needs where SQLite's single writer already serialises (the
//!   admin role's row before a guarded user change, the user's row before an unlink, the policy
//!   table before an append), the login-attempt read (`FOR UPDATE` on PostgreSQL), and the mail-queue claim (`FOR UPDATE SKIP
//!   LOCKED` on PostgreSQL). A
//!   dialect also binds values and runs statements on its own concrete pool and transaction
//!   types, so the generic code never names sqlx's executor traits (whose higher-ranked
//!   bounds fail `async_trait`'s `Send` check). There is no `sqlx::Any` (it carries no UUID or
//!   JSON) and no runtime `if sqlite { .. }`: the binary picks a backend once, in [`connect`],
//!   and everything else sees `Arc<dyn Trait>`.
//! - **Connection set-up per backend.** `sqlite` and `postgres` each open their pool (pragmas,
//!   pool sizes) and apply their migrations (an advisory lock on PostgreSQL).
//!   `migrations/sqlite/` and `migrations/postgres/` are embedded with `sqlx::migrate!` and
//!   evolve side by side, one file per version on each side. Column names and meanings are
//!   identical; only the types differ (UUID blob vs `uuid`, JSON text vs `jsonb`). Both keep
//!   timestamps as unix seconds in `BIGINT`.
//! - **Rows and SQL shared.** Because the schemas agree, the statements in `sql` run unchanged
//!   on both (`$1` placeholders work on both), and the `FromRow` structs in `rows` decode both;
//!   they are the only place rows become domain values, and bad data there is
//!   [`StoreError::Corrupt`], never a panic.
//! - **Hot SQLite reads and writes on the calling thread.** `sqlite::FastPath` is a decorator
//!   in front of the users, sessions, codes, refresh, resources and audit stores of a SQLite file
//!   database: the single-row reads on every authenticated request's path go through rusqlite
//!   (`sqlite::reader`) first, and so do code redemption, refresh-family creation and rotation,
//!   new sessions and audit appends (`sqlite::writer`, one connection without a busy timeout); anything they cannot do
//!   (another writer holds the lock, any error), and every other method, goes to the
//!   `SqlStore` unchanged, which runs the same statements.
//! - **Transactions serialise by locks, not by hope.** Refresh-token rotation, code redemption
//!   and consent grants are each one transaction whose first statement is a write; SQLite's
//!   write transactions begin `IMMEDIATE`, PostgreSQL's queue on the row's lock. The rules for
//!   what a token or code that could not be consumed means live once, in `rotation` and
//!   `oauth` (with the merging of consented scopes).
//! - **Errors without data.** `error` turns sqlx errors into [`StoreError`]: a unique violation
//!   becomes `Conflict` naming what collided; a database that cannot be reached (connection
//!   refused or lost, no connection within the pool's acquire timeout) becomes `Unreachable`
//!   (HTTP answers 503); anything else becomes `Unavailable`, with a message that never repeats
//!   a bound value (emails, hashes, tokens stay out of logs).
//!
//! - **Redis for what nodes share beyond the database** ([`shared_state`]): cluster-wide GCRA
//!   rate limits (one Lua script per check, per-node fallback when Redis fails) and the cache
//!   invalidation bus (pub/sub). Optional; never the source of truth.
//!
//! The behaviour both backends must share is pinned by the conformance suite in
//! `tests/conformance/`, which runs every check against SQLite and, when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set, against PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;

use gatehouse_core::abuse::LoginAttemptStore;
use gatehouse_core::account::tokens::AccountTokenStore;
use gatehouse_core::federation::FederationStore;
use gatehouse_core::invitation::InvitationStore;
use gatehouse_core::keys::SealedStore;
use gatehouse_core::mail::MailQueueStore;
use gatehouse_core::mfa::MfaStore;
use gatehouse_core::mfa::passkey::PasskeyStore;
use gatehouse_core::policy::PolicyStore;
use gatehouse_core::rbac::OverviewStore;
#[cfg(doc)]
use gatehouse_core::store::StoreError;
use gatehouse_core::store::{
    AssertionReplayStore, AuditStore, AuthorizationCodeStore, ClientStore, ConsentStore, DeviceCodeStore,
    DpopReplayStore, HealthCheck, KeyStore, RbacStore, RefreshTokenStore, ResourceServerStore, SessionStore, UserStore,
};
use sqlx::migrate::{Migrate, MigrateError};

mod dialect;
mod error;
mod login_attempts;
mod oauth;
mod policies;
mod postgres;
mod rbac;
mod redact;
mod rotation;
mod rows;
pub mod shared_state;
mod sql;
mod sqlite;
mod store;

use postgres::Postgres;
use sqlite::{FastPath, Sqlite};
use store::SqlStore;

pub use redact::redact_url;
pub use shared_state::{RedisOptions, RedisSharedState};

/// The storage backends Gatehouse runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// The backend a database URL names, if it names one we support.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Why [`connect`] or [`migrate`] failed. No variant ever holds a password from the URL.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names no supported backend. Holds only the URL's scheme (empty if it has none):
    /// a URL this malformed may not even have its password where a redactor would look.
    #[error(
        "unsupported database URL (scheme {}): expected sqlite:PATH, sqlite://PATH, postgres://HOST/DB or postgresql://HOST/DB",
        if .0.is_empty() { "missing".to_owned() } else { format!("`{}:`", .0) }
    )]
    UnsupportedUrl(String),
    /// The driver's message (which never quotes the URL).
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("cannot apply database migrations: {0}")]
    Migrate(String),
}

/// The storage traits behind one pool, ready to hand to the services.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub audit: Arc<dyn AuditStore>,
    pub keys: Arc<dyn KeyStore>,
    pub refresh: Arc<dyn RefreshTokenStore>,
    pub clients: Arc<dyn ClientStore>,
    pub codes: Arc<dyn AuthorizationCodeStore>,
    pub consents: Arc<dyn ConsentStore>,
    /// Device authorization requests (RFC 8628).
    pub devices: Arc<dyn DeviceCodeStore>,
    /// Failed-login counters (lockout), in the database so every node and the CLI see them.
    pub login_attempts: Arc<dyn LoginAttemptStore>,
    /// Roles, permissions and their grants to users and clients.
    pub rbac: Arc<dyn RbacStore>,
    /// `jti`s of accepted private_key_jwt client assertions (replay protection).
    pub assertion_jtis: Arc<dyn AssertionReplayStore>,
    /// `jti`s of accepted DPoP proofs (RFC 9449 §11.1).
    pub dpop_jtis: Arc<dyn DpopReplayStore>,
    /// Token exchange rules (RFC 8693).
    pub exchange_rules: Arc<dyn gatehouse_core::oauth::ExchangeRuleStore>,
    /// Cedar policies and schema, versioned.
    pub policies: Arc<dyn PolicyStore>,
    /// Links to upstream identity providers and federated logins in progress.
    pub federation: Arc<dyn FederationStore>,
    /// Single-use links of verification, change-of-address and reset mails.
    pub account_tokens: Arc<dyn AccountTokenStore>,
    /// The durable mail queue (sealed messages waiting for delivery).
    pub mail_queue: Arc<dyn MailQueueStore>,
    /// The clients of each session and the logout tokens to send (Back-Channel Logout 1.0).
    pub backchannel: Arc<dyn gatehouse_core::oauth::backchannel::BackchannelStore>,
    /// Invitations to create an account (with roles).
    pub invitations: Arc<dyn InvitationStore>,
    /// TOTP factors, recovery codes and pending second-factor steps.
    pub mfa: Arc<dyn MfaStore>,
    /// WebAuthn passkeys and ceremonies in progress.
    pub passkeys: Arc<dyn PasskeyStore>,
    /// The admin console's dashboard aggregations.
    pub overview: Arc<dyn OverviewStore>,
    /// Registered resource servers and the resources of grants (RFC 8707).
    pub resources: Arc<dyn ResourceServerStore>,
    /// Every value sealed with the master key (`gatehouse keys rewrap`).
    pub sealed: Arc<dyn SealedStore>,
    /// Initial access tokens and first use of self-registered clients (RFC 7591).
    pub self_registration: Arc<dyn gatehouse_core::oauth::SelfRegistrationStore>,
    pub health: Arc<dyn HealthCheck>,
    pub backend: Backend,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Stores {
    fn from_store<S>(store: Arc<S>, backend: Backend) -> Self
    where
        S: UserStore
            + SessionStore
            + AuditStore
            + KeyStore
            + RefreshTokenStore
            + ClientStore
            + AuthorizationCodeStore
            + ConsentStore
            + DeviceCodeStore
            + LoginAttemptStore
            + RbacStore
            + AssertionReplayStore
            + DpopReplayStore
            + gatehouse_core::oauth::ExchangeRuleStore
            + PolicyStore
            + FederationStore
            + AccountTokenStore
            + MailQueueStore
            + gatehouse_core::oauth::backchannel::BackchannelStore
            + InvitationStore
            + MfaStore
            + PasskeyStore
            + OverviewStore
            + ResourceServerStore
            + SealedStore
            + gatehouse_core::oauth::SelfRegistrationStore
            + HealthCheck
            + 'static,
    {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            audit: store.clone(),
            keys: store.clone(),
            refresh: store.clone(),
            clients: store.clone(),
            codes: store.clone(),
            consents: store.clone(),
            devices: store.clone(),
            login_attempts: store.clone(),
            rbac: store.clone(),
            assertion_jtis: store.clone(),
            dpop_jtis: store.clone(),
            exchange_rules: store.clone(),
            policies: store.clone(),
            federation: store.clone(),
            account_tokens: store.clone(),
            mail_queue: store.clone(),
            backchannel: store.clone(),
            invitations: store.clone(),
            mfa: store.clone(),
            passkeys: store.clone(),
            overview: store.clone(),
            resources: store.clone(),
            sealed: store.clone(),
            self_registration: store.clone(),
            health: store,
            backend,
        }
    }

    /// The SQLite stores, with [`FastPath`] in front of those that have hot reads or writes.
    fn sqlite(store: SqlStore<Sqlite>, fast: Option<(sqlite::Reader, sqlite::Writer)>) -> Self {
        let store = Arc::new(store);
        let mut stores = Self::from_store(store.clone(), Backend::Sqlite);
        if let Some((reader, writer)) = fast {
            let fast = Arc::new(FastPath::new(store, reader, writer));
            stores.users = fast.clone();
            stores.sessions = fast.clone();
            stores.codes = fast.clone();
            stores.refresh = fast.clone();
            stores.resources = fast.clone();
            stores.audit = fast;
        }
        stores
    }
}

/// Opens a pool for `url` ("sqlite://PATH" / "sqlite:PATH", creating the file if missing;
/// "postgres://..." or "postgresql://..."). Applies migrations when `migrate` is true.
pub async fn connect(url: &str, migrate: bool) -> Result<Stores, ConnectError> {
    let backend = backend_of(url)?;
    let stores = match backend {
        Backend::Sqlite => {
            let (store, fast) = SqlStore::<Sqlite>::open(url).await?;
            if migrate {
                log_applied(backend, store.migrate().await?);
            }
            Stores::sqlite(store, fast)
        }
        Backend::Postgres => {
            let store = SqlStore::<Postgres>::open(url).await?;
            if migrate {
                log_applied(backend, store.migrate().await?);
            }
            Stores::from_store(Arc::new(store), backend)
        }
    };
    tracing::info!(backend = backend.as_str(), url = %redact_url(url), "database connected");
    Ok(stores)
}

/// Applies pending migrations and returns how many were applied.
pub async fn migrate(url: &str) -> Result<usize, ConnectError> {
    let backend = backend_of(url)?;
    let applied = match backend {
        Backend::Sqlite => {
            let (store, _) = SqlStore::<Sqlite>::open(url).await?;
            let applied = store.migrate().await;
            store.close().await;
            applied?
        }
        Backend::Postgres => {
            let store = SqlStore::<Postgres>::open(url).await?;
            let applied = store.migrate().await;
            store.close().await;
            applied?
        }
    };
    log_applied(backend, applied);
    Ok(applied)
}

/// A connection failure. The URL is left out: callers name the database in their context,
/// with [`redact_url`].
fn connect_error(err: sqlx::Error) -> ConnectError {
    ConnectError::Connect(error::describe(&err))
}

fn backend_of(url: &str) -> Result<Backend, ConnectError> {
    Backend::from_url(url).ok_or_else(|| ConnectError::UnsupportedUrl(redact::scheme_of(url).to_owned()))
}

fn log_applied(backend: Backend, applied: usize) {
    tracing::info!(backend = backend.as_str(), applied, "database migrations up to date");
}

/// The sqlx bookkeeping table (its default name), read to count what a run applied.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Versions recorded as applied. Read under the migration lock before and after
/// `Migrator::run`, the difference is what this run applied, even when several nodes start
/// at once.
async fn applied_versions<C: Migrate>(conn: &mut C) -> Result<HashSet<i64>, MigrateError> {
    conn.ensure_migrations_table(MIGRATIONS_TABLE).await?;
    Ok(conn.list_applied_migrations(MIGRATIONS_TABLE).await?.into_iter().map(|m| m.version).collect())
}
