//! End-to-end tests: the real server on a random port, a fresh database per test, HTTP only.
//! Every test runs twice: on SQLite, and on PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL` is set
//! (skipped with a note otherwise; required when `GATEHOUSE_REQUIRE_SERVICES=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

#[path = "../support/forwarder.rs"]
mod forwarder;
mod helpers;
mod mailbox;
mod smtp;
mod soft_passkey;

mod abuse;
mod accounts;
mod admin;
mod admin_fuzz_findings;
mod backchannel_logout;
mod browser;
mod claims;
mod cli;
mod client_lifecycle;
mod console;
mod console_audit;
mod console_browser;
mod console_clients;
mod console_dashboard;
mod console_policies;
mod console_rbac;
mod console_users;
mod crash;
mod device;
mod dpop;
mod dpop_binding;
mod federation;
mod federation_attacks;
mod federation_github;
mod federation_harness;
mod forgery;
mod input;
mod interop;
mod invitations;
mod limits;
mod mail;
mod mcp;
mod mfa;
mod mfa_policy;
mod oauth;
mod oauth_attacks;
mod openapi;
mod outage;
mod pages;
mod par;
mod passkeys;
mod policies;
mod private_key_jwt;
mod regressions;
mod reset;
mod resources;
mod rewrap;
mod scale_out;
mod secrets_scan;
mod self_registration;
mod self_service;
mod stepup;
mod systemd_unit;
mod tls;
mod token_exchange;
mod tokens;
mod verification;
mod web_defences;

/// Generates `<name>::sqlite` and `<name>::postgres` tests from `async fn <name>(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}
