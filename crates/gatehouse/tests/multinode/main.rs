//! The multi-node suite (issue #17): three `gatehouse serve` processes on a private PostgreSQL
//! and a private Redis, behind nginx on loopback, under a bounded concurrent load. See
//! docs/testing.md ("Multi-node suite") for what each test proves and how to run it.
//!
//! Runs when the machine has PostgreSQL's server binaries, `redis-server` and nginx; skipped
//! with a note otherwise, and failed instead when `GATEHOUSE_REQUIRE_SERVICES=1`.
//! `GATEHOUSE_TEST_MULTINODE=0` skips it. Only one cluster runs at a time (a file lock), so the
//! tests never overlap, whether under `cargo test` or nextest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

mod checks;
mod cluster;
mod load;
mod services;

mod invalidation;
mod limits;
mod migrate;
mod resilience;
