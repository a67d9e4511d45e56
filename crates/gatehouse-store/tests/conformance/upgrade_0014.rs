//! Migration 0014 on a database that already holds refresh families and clients: families
//! from before it have no record of their sign-in and get the defaults that never overstate
//! it (no `amr`, `acr` one factor, `auth_time` unknown, except first-party families whose
//! `created_at` is their sign-in); clients do not require a second factor.

use std::borrow::Cow;

use gatehouse_core::acr::ACR_1FA;
use gatehouse_store::Backend;
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::fixtures::{T0, user};
use crate::harness::TestDb;

conformance_tests!(unmigrated: families_and_clients_from_before_0014_get_safe_defaults);

fn up_to_0013(all: &Migrator) -> Migrator {
    Migrator { migrations: Cow::Owned(all.iter().filter(|m| m.version <= 13).cloned().collect()), ..Migrator::DEFAULT }
}

/// A family as 0002 stored it; `$3` is the client id.
const OLD_FAMILY: &str = "INSERT INTO refresh_families (id, user_id, client_id, scope, created_at, expires_at) \
     VALUES ($1, $2, $3, NULL, $4, $5)";

/// A client as 0006..0013 stored it (no `require_mfa` yet); literals only.
const OLD_CLIENT: &str = "INSERT INTO oauth_clients (id, name, secret_hash, auth_method, redirect_uris, \
     post_logout_redirect_uris, grant_types, scopes, cors_origins, skip_consent, access_token_lifetime, created_at, jwks) \
     VALUES ('old-app', 'Old app', NULL, 'none', '[\"https://app.example.com/cb\"]', '[]', \
     '[\"authorization_code\"]', '[\"openid\"]', '[]', false, NULL, 1750000000, NULL)";

macro_rules! fill {
    ($conn:expr, $owner:expr, $first_party:expr, $oauth:expr) => {
        for (id, client) in [($first_party, "gatehouse"), ($oauth, "old-app")] {
            sqlx::query(OLD_FAMILY)
                .bind(id)
                .bind($owner)
                .bind(client)
                .bind(T0)
                .bind(T0 + 86_400)
                .execute(&mut $conn)
                .await
                .unwrap();
        }
        sqlx::query(OLD_CLIENT).execute(&mut $conn).await.unwrap();
    };
}

async fn families_and_clients_from_before_0014_get_safe_defaults(s: &TestDb) {
    let owner = user("owner@example.com");
    let (first_party, oauth) = (Uuid::now_v7(), Uuid::now_v7());
    match s.backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(&s.url).await.unwrap();
            up_to_0013(&sqlx::migrate!("./migrations/sqlite")).run(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&s.url).await.unwrap();
            up_to_0013(&sqlx::migrate!("./migrations/postgres")).run(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
    s.users.insert_user(&owner).await.unwrap();
    match s.backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(&s.url).await.unwrap();
            fill!(conn, owner.id.0, first_party, oauth);
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&s.url).await.unwrap();
            fill!(conn, owner.id.0, first_party, oauth);
            conn.close().await.unwrap();
        }
    }
    assert!(gatehouse_store::migrate(&s.url).await.unwrap() >= 1, "0014 applied");

    let family = s.refresh.refresh_family(first_party).await.unwrap().expect("kept");
    assert_eq!((family.auth.amr.as_str(), family.auth.acr.as_str()), ("", ACR_1FA));
    assert_eq!(family.auth.auth_time, T0, "a first-party family starts at its sign-in");
    assert!(!family.auth.has_mfa());
    let family = s.refresh.refresh_family(oauth).await.unwrap().expect("kept");
    assert_eq!((family.auth.amr.as_str(), family.auth.acr.as_str(), family.auth.auth_time), ("", ACR_1FA, 0));
    assert!(!s.clients.client_by_id("old-app").await.unwrap().expect("kept").require_mfa);
}
