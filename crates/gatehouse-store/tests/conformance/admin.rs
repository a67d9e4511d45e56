//! Connecting, migrating and health: migrations apply once, errors never show passwords.

use gatehouse_store::{Backend, ConnectError, connect, migrate};

use crate::fixtures::user;
use crate::harness::TestDb;

conformance_tests!(migrating_again_is_a_noop);
conformance_tests!(unmigrated: fresh_database_migrates_once);

/// How many migrations the backend's folder holds.
fn migration_count(backend: Backend) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend.as_str());
    std::fs::read_dir(dir)
        .expect("migrations folder")
        .filter(|f| f.as_ref().is_ok_and(|f| f.path().extension().is_some_and(|e| e == "sql")))
        .count()
}

async fn migrating_again_is_a_noop(s: &TestDb) {
    assert_eq!(migrate(&s.url).await.unwrap(), 0);
    assert_eq!(migrate(&s.url).await.unwrap(), 0);
    // Connecting with `migrate = true` to a migrated database is fine too.
    let again = connect(&s.url, true).await.unwrap();
    again.health.ping().await.unwrap();
    s.health.ping().await.unwrap();
}

async fn fresh_database_migrates_once(s: &TestDb) {
    // The pool answers before any schema exists.
    s.health.ping().await.unwrap();

    let expected = migration_count(s.backend);
    assert!(expected >= 1);
    assert_eq!(migrate(&s.url).await.unwrap(), expected);
    assert_eq!(migrate(&s.url).await.unwrap(), 0);

    let u = user("late@example.com");
    s.users.insert_user(&u).await.unwrap();
    assert!(s.users.user_by_id(u.id).await.unwrap().is_some());
}

/// Several nodes starting at once against one PostgreSQL database: the advisory lock lets
/// exactly one apply each migration. (SQLite serves a single node; sqlx takes no lock there.)
#[tokio::test]
async fn concurrent_migrations_apply_once_postgres() {
    let Some(db) = TestDb::postgres(false).await else { return };
    let (a, b, c, d) = tokio::join!(migrate(&db.url), migrate(&db.url), migrate(&db.url), migrate(&db.url));
    let applied: Vec<usize> = [a, b, c, d].into_iter().map(|r| r.expect("every node migrates")).collect();
    assert_eq!(applied.iter().sum::<usize>(), migration_count(Backend::Postgres), "{applied:?}");
}

#[tokio::test]
async fn unsupported_url_is_refused_without_its_password() {
    for url in ["mysql://app:hunter2@db/gatehouse", "postgres:/app:hunter2@db", "hunter2"] {
        let err = connect(url, false).await.unwrap_err();
        assert!(matches!(err, ConnectError::UnsupportedUrl(_)), "{err:?}");
        if url != "hunter2" {
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert!(matches!(migrate(url).await, Err(ConnectError::UnsupportedUrl(_))));
    }
}

#[tokio::test]
async fn connection_failures_do_not_show_the_password() {
    let assert_hidden = |err: &ConnectError| {
        assert!(matches!(err, ConnectError::Connect(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    };
    let err = connect("postgres://app:hunter2@127.0.0.1:notaport/gatehouse", false).await.unwrap_err();
    assert_hidden(&err);

    // A server that answers with an error. (An unreachable one is retried until the pool's
    // acquire timeout, 10 s: too slow for this suite.)
    if let Some(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_password(Some("hunter2")).unwrap();
        url.set_path(&format!("/gatehouse_conf_missing_{}", std::process::id()));
        let err = connect(url.as_str(), false).await.unwrap_err();
        assert_hidden(&err);
    }

    let missing_dir = std::env::temp_dir().join("gatehouse-no-such-dir").join("nested").join("g.db");
    let err = connect(&format!("sqlite://{}", missing_dir.display()), false).await.unwrap_err();
    assert!(matches!(err, ConnectError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn both_url_spellings_open_sqlite() {
    for prefix in ["sqlite://", "sqlite:"] {
        let path =
            std::env::temp_dir().join(format!("gatehouse_conf_spelling_{}_{}.db", std::process::id(), prefix.len()));
        let stores = connect(&format!("{prefix}{}", path.display()), true).await.unwrap();
        assert_eq!(stores.backend, Backend::Sqlite);
        stores.health.ping().await.unwrap();
        drop(stores);
        assert!(path.exists(), "the file is created");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_schema() {
    let stores = connect("sqlite::memory:", true).await.unwrap();
    let u = user("memory@example.com");
    stores.users.insert_user(&u).await.unwrap();
    assert!(stores.users.user_by_id(u.id).await.unwrap().is_some());
}
