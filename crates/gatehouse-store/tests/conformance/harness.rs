//! A fresh database per test: a temporary SQLite file, or a PostgreSQL database created through
//! an admin connection to `GATEHOUSE_TEST_POSTGRES_URL`. Both are removed when the `TestDb`
//! drops, also when the test fails.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse_store::{Backend, Stores, connect, redact_url};
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use uuid::Uuid;

const POSTGRES_URL_VAR: &str = "GATEHOUSE_TEST_POSTGRES_URL";
const REQUIRE_SERVICES_VAR: &str = "GATEHOUSE_REQUIRE_SERVICES";

/// The stores of one fresh database (dereferences to [`Stores`]) and its URL.
pub struct TestDb {
    stores: Stores,
    pub url: String,
    // Declared last, so it drops after the stores' pool.
    _cleanup: Cleanup,
}

impl Deref for TestDb {
    type Target = Stores;

    fn deref(&self) -> &Stores {
        &self.stores
    }
}

impl TestDb {
    pub async fn sqlite(migrate: bool) -> Self {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        let cleanup = Cleanup::SqliteFile(path.clone());
        let url = format!("sqlite://{}", path.display());
        let stores = connect(&url, migrate).await.expect("SQLite test database opens");
        assert_eq!(stores.backend, Backend::Sqlite);
        Self { stores, url, _cleanup: cleanup }
    }

    /// `None` (after saying why on stderr) when PostgreSQL is not configured or not reachable,
    /// unless `GATEHOUSE_REQUIRE_SERVICES=1`, which turns both into failures.
    pub async fn postgres(migrate: bool) -> Option<Self> {
        let require = std::env::var(REQUIRE_SERVICES_VAR).is_ok_and(|v| v == "1");
        let Some(admin_url) = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty()) else {
            assert!(!require, "{REQUIRE_SERVICES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
            eprintln!("skipped: {POSTGRES_URL_VAR} not set");
            return None;
        };
        let name = unique_name();
        if let Err(e) = create_database(&admin_url, &name).await {
            let message = format!("PostgreSQL at {} is unusable: {e}", redact_url(&admin_url));
            assert!(!require, "{message}");
            eprintln!("skipped: {message}");
            return None;
        }
        let cleanup = Cleanup::PgDatabase { admin_url: admin_url.clone(), name: name.clone() };
        let url = database_url(&admin_url, &name);
        let stores = connect(&url, migrate).await.expect("PostgreSQL test database opens");
        assert_eq!(stores.backend, Backend::Postgres);
        Some(Self { stores, url, _cleanup: cleanup })
    }

    /// Runs one statement on a connection of the test's own, around the stores: for what the
    /// traits deliberately cannot do (delete a user, rewrite the audit trail).
    pub async fn raw_execute(&self, sql: &'static str, id: Option<Uuid>) -> Result<u64, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(&self.url).await?;
                let mut query = sqlx::query(sql);
                if let Some(id) = id {
                    query = query.bind(id);
                }
                let done = query.execute(&mut conn).await?;
                conn.close().await?;
                Ok(done.rows_affected())
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await?;
                let mut query = sqlx::query(sql);
                if let Some(id) = id {
                    query = query.bind(id);
                }
                let done = query.execute(&mut conn).await?;
                conn.close().await?;
                Ok(done.rows_affected())
            }
        }
    }
}

/// `gatehouse_conf_<unix>_<pid>_<n>`: unique across parallel tests and concurrent runs.
pub fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("gatehouse_conf_{unix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The admin URL pointed at database `name` instead.
fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("GATEHOUSE_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn create_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(admin_url).await?;
    // `name` is ours (letters, digits, underscores): safe to quote into DDL, which takes no binds.
    sqlx::raw_sql(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#))).execute(&mut admin).await?;
    admin.close().await
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(AssertSqlSafe(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)))
        .execute(&mut admin)
        .await?;
    admin.close().await
}

enum Cleanup {
    SqliteFile(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Self::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Self::PgDatabase { admin_url, name } => {
                // Drop runs inside the test's runtime, which cannot block on a future; a thread
                // with a runtime of its own can, and this works while unwinding from a failure.
                let (admin_url, db) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    runtime.block_on(drop_database(&admin_url, &db)).map_err(std::io::Error::other)
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("warning: could not drop test database {name}: {dropped:?}");
                }
            }
        }
    }
}
