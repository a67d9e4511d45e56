//! Migration 0006 on a database that already holds data: the SQLite table rebuild of
//! `oauth_clients` (https://www.sqlite.org/lang_altertable.html §7) must neither cascade its
//! DROP TABLE into the tables that reference clients (authorization codes, consents, client
//! roles) nor leave their foreign keys dangling. The database is migrated to 0005, filled,
//! then migrated the rest of the way.

use std::borrow::Cow;

use gatehouse_core::oauth::{AuthMethod, CodeOutcome};
use gatehouse_core::rbac::RoleName;
use gatehouse_store::Backend;
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use crate::fixtures::{T0, code, key_client, user};
use crate::harness::TestDb;

conformance_tests!(unmigrated: clients_with_codes_consents_and_roles_survive_migration_0006);

/// Written as 0003 stored clients (no `jwks` column yet); literals only, valid on both backends.
const OLD_CLIENT: &str = "INSERT INTO oauth_clients (id, name, secret_hash, auth_method, redirect_uris, \
     post_logout_redirect_uris, grant_types, scopes, cors_origins, skip_consent, access_token_lifetime, created_at) \
     VALUES ('old-app', 'Old app', NULL, 'client_secret_basic', '[\"https://app.example.com/cb\"]', '[]', \
     '[\"authorization_code\"]', '[\"openid\"]', '[]', false, 600, 1750000000)";

/// The migrations up to and including 0005, as shipped before private_key_jwt.
fn up_to_0005(all: &Migrator) -> Migrator {
    Migrator { migrations: Cow::Owned(all.iter().filter(|m| m.version <= 5).cloned().collect()), ..Migrator::DEFAULT }
}

/// A code as 0003 stored it (no `amr` column yet, added by 0008).
const OLD_CODE: &str = "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, nonce, \
     code_challenge, auth_time, created_at, expires_at, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

macro_rules! bind_old_code {
    ($c:expr) => {
        sqlx::query(OLD_CODE)
            .bind($c.code_hash.clone())
            .bind($c.client_id.clone())
            .bind($c.user_id.0)
            .bind($c.redirect_uri.clone())
            .bind($c.scope.clone())
            .bind($c.nonce.clone())
            .bind($c.code_challenge.clone())
            .bind($c.auth_time)
            .bind($c.created_at)
            .bind($c.expires_at)
            .bind($c.grant_id)
    };
}

async fn insert_old_code(s: &TestDb, c: &gatehouse_core::oauth::AuthorizationCode) {
    match s.backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(&s.url).await.unwrap();
            bind_old_code!(c).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&s.url).await.unwrap();
            bind_old_code!(c).execute(&mut conn).await.unwrap();
        }
    }
}

async fn clients_with_codes_consents_and_roles_survive_migration_0006(s: &TestDb) {
    match s.backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(&s.url).await.unwrap();
            up_to_0005(&sqlx::migrate!("./migrations/sqlite")).run(&mut conn).await.unwrap();
            sqlx::query(OLD_CLIENT).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&s.url).await.unwrap();
            up_to_0005(&sqlx::migrate!("./migrations/postgres")).run(&mut conn).await.unwrap();
            sqlx::query(OLD_CLIENT).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
    let owner = user("owner@example.com");
    s.users.insert_user(&owner).await.unwrap();
    let issued = code(1, "old-app", owner.id, T0 + 600);
    insert_old_code(s, &issued).await;
    s.consents.grant_consent(owner.id, "old-app", &["openid".into()], T0).await.unwrap();
    let admin = RoleName::parse("admin").unwrap();
    assert!(s.rbac.grant_client_role("old-app", &admin, T0).await.unwrap());

    assert!(gatehouse_store::migrate(&s.url).await.unwrap() >= 1, "0006 applied");

    let old = s.clients.client_by_id("old-app").await.unwrap().expect("the client survived");
    assert_eq!(
        (old.auth_method, old.jwks, old.access_token_lifetime),
        (AuthMethod::ClientSecretBasic, None, Some(600))
    );
    assert_eq!(old.redirect_uris, ["https://app.example.com/cb"]);
    assert!(s.consents.consent(owner.id, "old-app").await.unwrap().is_some(), "the consent survived");
    assert_eq!(s.rbac.client_roles("old-app").await.unwrap(), [admin], "the role grant survived");
    assert_eq!(s.codes.redeem_code(&issued.code_hash, "old-app", T0).await.unwrap(), CodeOutcome::Redeemed(issued));

    if s.backend == Backend::Sqlite {
        let mut conn = SqliteConnection::connect(&s.url).await.unwrap();
        let violations = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut conn).await.unwrap();
        assert!(violations.is_empty(), "PRAGMA foreign_key_check is clean");
        let enforced: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(&mut conn).await.unwrap().get(0);
        assert_eq!(enforced, 1, "foreign keys are enforced again");
        for child in ["authorization_codes", "oauth_consents", "client_roles", "client_assertion_jtis"] {
            let sql: String = sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(child)
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
            assert!(sql.contains("REFERENCES oauth_clients (id) ON DELETE CASCADE"), "{child}: {sql}");
        }
        conn.close().await.unwrap();
    }

    // The foreign keys still work against the new table: deleting the client takes its rows.
    s.clients.insert_client(&key_client("new-app", T0)).await.unwrap();
    assert!(s.clients.delete_client("old-app", T0).await.unwrap());
    assert!(s.consents.consent(owner.id, "old-app").await.unwrap().is_none());
    assert!(s.rbac.client_roles("old-app").await.unwrap().is_empty());
    assert!(s.clients.client_by_id("new-app").await.unwrap().is_some());
}
