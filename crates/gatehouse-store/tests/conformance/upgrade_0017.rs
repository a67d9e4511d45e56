//! Migration 0017 on a database that already holds a client: it keeps its secret, has never
//! been rotated, has no previous secret, is enabled, and starts at revision 0 (so the first
//! change through the compare-and-set applies).

use std::borrow::Cow;

use gatehouse_store::Backend;
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::harness::TestDb;

conformance_tests!(unmigrated: clients_from_before_0017_are_enabled_and_unrotated);

fn up_to_0016(all: &Migrator) -> Migrator {
    Migrator { migrations: Cow::Owned(all.iter().filter(|m| m.version <= 16).cloned().collect()), ..Migrator::DEFAULT }
}

/// A client as 0014..0016 stored it; literals only.
const OLD_CLIENT: &str = "INSERT INTO oauth_clients (id, name, secret_hash, auth_method, redirect_uris, \
     post_logout_redirect_uris, grant_types, scopes, cors_origins, skip_consent, access_token_lifetime, created_at, jwks, \
     require_mfa) VALUES ('old-app', 'Old app', NULL, 'none', '[\"https://app.example.com/cb\"]', '[]', \
     '[\"authorization_code\"]', '[\"openid\"]', '[]', false, NULL, 1750000000, NULL, false)";

async fn clients_from_before_0017_are_enabled_and_unrotated(s: &TestDb) {
    match s.backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(&s.url).await.unwrap();
            up_to_0016(&sqlx::migrate!("./migrations/sqlite")).run(&mut conn).await.unwrap();
            sqlx::query(OLD_CLIENT).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&s.url).await.unwrap();
            up_to_0016(&sqlx::migrate!("./migrations/postgres")).run(&mut conn).await.unwrap();
            sqlx::query(OLD_CLIENT).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
    assert!(gatehouse_store::migrate(&s.url).await.unwrap() >= 1, "0017 applied");
    let mut old = s.clients.client_by_id("old-app").await.unwrap().expect("kept");
    assert_eq!(old.lifecycle, gatehouse_core::oauth::ClientLifecycle::default());
    assert!(!old.is_disabled());
    old.name = "Changed".into();
    assert!(s.clients.update_client(&old).await.unwrap(), "revision 0 matches");
    assert_eq!(s.clients.client_by_id("old-app").await.unwrap().unwrap().name, "Changed");
}
