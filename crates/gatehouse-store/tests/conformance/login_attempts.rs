//! `LoginAttemptStore`: the atomic read-modify-write the lockout rules run on, row round trips,
//! deletion, purge, and the lockout itself racing on one key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gatehouse_core::ManualClock;
use gatehouse_core::abuse::{Gate, Lockout, LockoutPolicy, LoginAttempts, LoginKey};

use crate::fixtures::T0;
use crate::harness::TestDb;

conformance_tests!(update_round_trips_and_deletes, purge_removes_expired_rows);
conformance_tests!(multi_thread: concurrent_updates_take_turns, parallel_attempts_stay_within_the_allowance);

fn attempts(failures: u32, in_flight: u32, locked_until: Option<i64>, expires_at: i64) -> LoginAttempts {
    LoginAttempts { failures, in_flight, window_start: T0, locked_until, expires_at }
}

async fn update_round_trips_and_deletes(s: &TestDb) {
    let store = &s.login_attempts;
    let a = attempts(2, 1, None, T0 + 900);
    assert_eq!(store.update_login_attempts("k1", &|_| None).await.unwrap(), None);
    assert_eq!(store.update_login_attempts("k1", &|seen| seen.or(Some(a))).await.unwrap(), None);
    let b = attempts(10, 0, Some(T0 + 1800), T0 + 1800);
    assert_eq!(store.update_login_attempts("k1", &|_| Some(b)).await.unwrap(), Some(a));
    // An unchanged state, and another key alongside.
    assert_eq!(store.update_login_attempts("k1", &|seen| seen).await.unwrap(), Some(b));
    assert_eq!(store.update_login_attempts("k2", &|_| Some(a)).await.unwrap(), None);
    assert_eq!(store.login_attempts("k1").await.unwrap(), Some(b));
    assert_eq!(store.login_attempts("k3").await.unwrap(), None);
    assert_eq!(store.update_login_attempts("k1", &|_| None).await.unwrap(), Some(b));
    assert_eq!(store.login_attempts("k1").await.unwrap(), None);
    assert_eq!(store.update_login_attempts("k1", &|seen| seen).await.unwrap(), None);
    assert_eq!(store.update_login_attempts("k2", &|seen| seen).await.unwrap(), Some(a));
}

async fn purge_removes_expired_rows(s: &TestDb) {
    let store = &s.login_attempts;
    store.update_login_attempts("old", &|_| Some(attempts(1, 0, None, T0 + 10))).await.unwrap();
    store.update_login_attempts("edge", &|_| Some(attempts(1, 0, None, T0 + 20))).await.unwrap();
    store.update_login_attempts("new", &|_| Some(attempts(1, 0, None, T0 + 21))).await.unwrap();
    assert_eq!(store.purge_login_attempts(T0 + 20).await.unwrap(), 2);
    assert_eq!(store.update_login_attempts("edge", &|seen| seen).await.unwrap(), None);
    assert!(store.update_login_attempts("new", &|seen| seen).await.unwrap().is_some());
}

/// 50 concurrent increments of one key, the first one creating the row: none is lost.
async fn concurrent_updates_take_turns(s: &TestDb) {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = s.login_attempts.clone();
            tokio::spawn(async move {
                store
                    .update_login_attempts("hot", &|seen| {
                        let mut a = seen.unwrap_or(attempts(0, 0, None, T0 + 900));
                        a.failures += 1;
                        Some(a)
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seen_counts = Vec::new();
    for t in tasks {
        seen_counts.push(t.await.unwrap().map_or(0, |a| a.failures));
    }
    seen_counts.sort_unstable();
    assert_eq!(seen_counts, (0..50).collect::<Vec<_>>(), "each update saw the one before");
    let last = s.login_attempts.update_login_attempts("hot", &|seen| seen).await.unwrap().unwrap();
    assert_eq!(last.failures, 50);
}

/// The lockout on this backend: of 60 racing wrong attempts at most `max_failures` get to verify.
async fn parallel_attempts_stay_within_the_allowance(s: &TestDb) {
    let clock = ManualClock::new(T0);
    let policy = LockoutPolicy { max_failures: 4, free_failures: 100, ..LockoutPolicy::default() };
    let lockout = Lockout::new(s.login_attempts.clone(), clock, policy);
    let verified = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..60)
        .map(|_| {
            let (lockout, verified) = (lockout.clone(), verified.clone());
            tokio::spawn(async move {
                if let Gate::Open(attempt) = lockout.begin(&LoginKey::from_input("victim@example.com")).await.unwrap() {
                    verified.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    attempt.failed().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(verified.load(Ordering::SeqCst), 4);
    assert!(matches!(lockout.begin(&LoginKey::from_input("victim@example.com")).await.unwrap(), Gate::Closed { .. }));
    assert!(lockout.clear(&LoginKey::from_input("VICTIM@example.com")).await.unwrap());
}
