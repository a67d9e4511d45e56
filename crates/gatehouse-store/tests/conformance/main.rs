//! Storage conformance suite: every check is written once, as `async fn check(s: &TestDb)`,
//! and runs against SQLite (a fresh file per test) and against PostgreSQL (a fresh database per
//! test) when `GATEHOUSE_TEST_POSTGRES_URL` is set. With `GATEHOUSE_REQUIRE_SERVICES=1` a
//! missing or unreachable PostgreSQL fails the PostgreSQL variants instead of skipping them.
//!
//! Test names are `<area>::<check>::sqlite` and `<area>::<check>::postgres`, so
//! `cargo test -p gatehouse-store sqlite` runs one backend only.

/// For each named check `c` (an `async fn c(&TestDb)` in the invoking module), generates
/// `mod c { #[tokio::test] async fn sqlite(); #[tokio::test] async fn postgres() }`.
/// `unmigrated:` hands the checks a database with the schema not yet applied.
macro_rules! conformance_tests {
    (unmigrated: $($check:ident),+ $(,)?) => {
        conformance_tests!(@gen false; $($check),+);
    };
    ($($check:ident),+ $(,)?) => {
        conformance_tests!(@gen true; $($check),+);
    };
    (@gen $migrate:literal; $($check:ident),+) => {
        $(
            mod $check {
                #[tokio::test]
                async fn sqlite() {
                    let db = crate::harness::TestDb::sqlite($migrate).await;
                    super::$check(&db).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(db) = crate::harness::TestDb::postgres($migrate).await else { return };
                    super::$check(&db).await;
                }
            }
        )+
    };
}

mod admin;
mod audit;
mod fixtures;
mod harness;
mod sessions;
mod users;
