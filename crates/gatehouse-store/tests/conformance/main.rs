//! Storage conformance suite: every check is written once, as `async fn check(s: &TestDb)`,
//! and runs against SQLite (a fresh file per test) and against PostgreSQL (a fresh database per
//! test) when `GATEHOUSE_TEST_POSTGRES_URL` is set. With `GATEHOUSE_REQUIRE_SERVICES=1` a
//! missing or unreachable PostgreSQL fails the PostgreSQL variants instead of skipping them.
//!
//! Test names are `<area>::<check>::sqlite` and `<area>::<check>::postgres`, so
//! `cargo test -p gatehouse-store sqlite` runs one backend only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

/// For each named check `c` (an `async fn c(&TestDb)` in the invoking module), generates
/// `mod c { #[tokio::test] async fn sqlite(); #[tokio::test] async fn postgres() }`.
/// `unmigrated:` hands the checks a database with the schema not yet applied; `multi_thread:`
/// runs them on a multi-threaded runtime, for checks that race tasks against each other.
macro_rules! conformance_tests {
    (unmigrated: $($check:ident),+ $(,)?) => {
        conformance_tests!(@gen false, (); $($check),+);
    };
    (multi_thread: $($check:ident),+ $(,)?) => {
        conformance_tests!(@gen true, (flavor = "multi_thread", worker_threads = 4); $($check),+);
    };
    ($($check:ident),+ $(,)?) => {
        conformance_tests!(@gen true, (); $($check),+);
    };
    (@gen $migrate:literal, $runtime:tt; $($check:ident),+) => {
        $(
            mod $check {
                #[tokio::test $runtime]
                async fn sqlite() {
                    let db = crate::harness::TestDb::sqlite($migrate).await;
                    super::$check(&db).await;
                }

                #[tokio::test $runtime]
                async fn postgres() {
                    let Some(db) = crate::harness::TestDb::postgres($migrate).await else { return };
                    super::$check(&db).await;
                }
            }
        )+
    };
}

mod account_tokens;
mod admin;
mod audit;
mod backchannel;
mod clients;
mod codes;
mod consents;
mod decisions;
mod devices;
mod dpop;
mod exchange_rules;
mod federation;
mod fixtures;
mod harness;
mod invitations;
mod keys;
mod login_attempts;
mod mail_queue;
mod mfa;
mod overview;
mod passkeys;
mod policies;
mod private_key_jwt;
mod pushed_requests;
mod rbac;
mod refresh;
mod resource_servers;
mod sealed;
mod self_registration;
mod sessions;
mod shared_state_redis;
mod upgrade_0006;
mod upgrade_0014;
mod upgrade_0017;
mod users;
