//! Per-account progressive delay and temporary lock after failed logins (OWASP ASVS V2.2.1,
//! NIST SP 800-63B §5.2.2 "rate limiting").
//!
//! Failures are counted per [`LoginKey`] (the normalised email, hashed), whether or not an
//! account has that address, so a lock says nothing about existence. The rules:
//!
//! - An attempt first **reserves** a slot: it is allowed only while
//!   `failures + in_flight < max_failures`, and the reservation is one atomic update of the
//!   counters ([`LoginAttemptStore::update_login_attempts`]). So however many attempts race,
//!   at most `max_failures` of them reach password verification in one window; the rest wait
//!   for a slot (a legitimate burst of correct logins) or are refused once the lock is set.
//! - A failed verification counts; reaching `max_failures` within `window` seconds locks the key
//!   for `lock_duration` seconds. A success resets the count. An attempt abandoned half-way (the
//!   client hung up) counts as a failure, so hanging up is no way around the count.
//! - Before verifying, an attempt waits a small, bounded delay that grows with the failures so
//!   far (none for the first `free_failures`, then `delay_base`, doubling, at most `delay_max`).
//! - A lock always expires; a password change (and, later, a password reset) clears it.
//!
//! The rules live here once, as pure functions over [`LoginAttempts`]; stores only provide the
//! atomic read-modify-write. SQLite and PostgreSQL do that now (so `gatehouse users
//! set-password` in another process clears a lock, and nodes on one PostgreSQL share counts);
//! the scale-out work adds Redis, where the same update is a WATCH/MULTI transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::LoginKey;
use crate::clock::{Clock, UnixTime};
use crate::store::StoreError;

/// When to delay and when to lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window` that lock the key.
    pub max_failures: u32,
    /// Seconds over which failures are counted (from the first one).
    pub window: i64,
    /// Seconds a lock lasts.
    pub lock_duration: i64,
    /// Failures answered without delay.
    pub free_failures: u32,
    /// Delay after the first failure beyond `free_failures`; doubles with each further one.
    pub delay_base: Duration,
    /// The longest delay.
    pub delay_max: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: 900,
            lock_duration: 900,
            free_failures: 3,
            delay_base: Duration::from_millis(250),
            delay_max: Duration::from_secs(2),
        }
    }
}

impl LockoutPolicy {
    /// The delay before verifying an attempt that follows `failures` failures:
    /// 0, 0, 0, 250 ms, 500 ms, 1 s, 2 s, 2 s … with the defaults.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let Some(beyond) = failures.checked_sub(self.free_failures) else { return Duration::ZERO };
        let factor = 1u32.checked_shl(beyond).unwrap_or(u32::MAX);
        self.delay_base.saturating_mul(factor).min(self.delay_max)
    }

    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_failures == 0 {
            return Err("lockout.max_failures must be at least 1");
        }
        if self.window <= 0 || self.lock_duration <= 0 {
            return Err("lockout.window and lockout.lock_duration must be positive numbers of seconds");
        }
        if self.lock_duration > 86_400 {
            return Err("lockout.lock_duration must be at most 86400 seconds (a lock must stay temporary)");
        }
        if self.delay_base > self.delay_max || self.delay_max > Duration::from_secs(10) {
            return Err("lockout delays must satisfy delay_base <= delay_max <= 10 s");
        }
        Ok(())
    }
}

/// The counters of one login key, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAttempts {
    /// Failed verifications in the current window.
    pub failures: u32,
    /// Reserved attempts whose verification has not finished.
    pub in_flight: u32,
    /// When the current window began.
    pub window_start: UnixTime,
    /// Set while the key is locked (and until the next attempt after it expired).
    pub locked_until: Option<UnixTime>,
    /// After this the row means nothing any more and may be deleted.
    pub expires_at: UnixTime,
}

impl LoginAttempts {
    fn fresh(now: UnixTime, policy: &LockoutPolicy) -> Self {
        Self { failures: 0, in_flight: 0, window_start: now, locked_until: None, expires_at: now + policy.window }
    }

    /// The state as of `now`: an expired lock or window starts afresh.
    fn current(state: Option<Self>, now: UnixTime, policy: &LockoutPolicy) -> Self {
        match state {
            Some(s) if s.locked_until.is_some_and(|t| t > now) => s,
            Some(s) if s.locked_until.is_none() && s.window_start + policy.window > now => s,
            _ => Self::fresh(now, policy),
        }
    }

    fn with_expiry(mut self, policy: &LockoutPolicy) -> Self {
        self.expires_at = (self.window_start + policy.window).max(self.locked_until.unwrap_or(0));
        self
    }

    fn is_empty(&self) -> bool {
        self.failures == 0 && self.in_flight == 0 && self.locked_until.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reservation {
    Granted {
        failures: u32,
    },
    /// Every remaining slot is held by an attempt in flight.
    Busy,
    Locked,
}

fn reservation(current: &LoginAttempts, policy: &LockoutPolicy) -> Reservation {
    if current.locked_until.is_some() || current.failures >= policy.max_failures {
        Reservation::Locked
    } else if current.failures + current.in_flight >= policy.max_failures {
        Reservation::Busy
    } else {
        Reservation::Granted { failures: current.failures }
    }
}

/// The update a reservation makes; [`reservation`] of the state it saw tells the outcome.
fn reserve(state: Option<LoginAttempts>, now: UnixTime, policy: &LockoutPolicy) -> Option<LoginAttempts> {
    let mut current = LoginAttempts::current(state, now, policy);
    if let Reservation::Granted { .. } = reservation(&current, policy) {
        current.in_flight += 1;
    }
    Some(current.with_expiry(policy))
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The password did not verify, or the attempt was abandoned half-way.
    Failed,
    Succeeded,
    /// Refused before any verification (the hashing pool was full): it tells the client
    /// nothing, so it neither counts as a failure nor resets the count.
    NotVerified,
}

/// The update a finished attempt makes. A key cleared meanwhile (password change) stays clear.
fn finish(
    state: Option<LoginAttempts>,
    now: UnixTime,
    policy: &LockoutPolicy,
    ending: Ending,
) -> Option<LoginAttempts> {
    state?;
    let mut current = LoginAttempts::current(state, now, policy);
    current.in_flight = current.in_flight.saturating_sub(1);
    match ending {
        Ending::Failed => {
            current.failures += 1;
            if current.locked_until.is_none() && current.failures >= policy.max_failures {
                current.locked_until = Some(now + policy.lock_duration);
            }
        }
        Ending::Succeeded => current.failures = 0,
        Ending::NotVerified => {}
    }
    (!current.is_empty()).then(|| current.with_expiry(policy))
}

/// Failed-login counters per login key. Implemented on SQLite and PostgreSQL (`gatehouse-store`)
/// and in memory ([`MemoryLoginAttempts`]); the scale-out work adds Redis so every node shares
/// one count.
#[async_trait]
pub trait LoginAttemptStore: Send + Sync {
    /// Atomically replaces the counters of `key` by `change(current)` (`None`: no row, or
    /// delete it) and returns what `change` was given. Concurrent calls for one key take turns:
    /// each sees the result of the one before. `change` is pure and may run more than once
    /// (when a backend retries its transaction).
    async fn update_login_attempts(
        &self,
        key: &str,
        change: &(dyn Fn(Option<LoginAttempts>) -> Option<LoginAttempts> + Send + Sync),
    ) -> Result<Option<LoginAttempts>, StoreError>;
    /// The counters of `key` as they are now (a plain read, no lock).
    async fn login_attempts(&self, key: &str) -> Result<Option<LoginAttempts>, StoreError>;
    /// Deletes the counters whose `expires_at` is at or before `now`.
    async fn purge_login_attempts(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// A lock that a failure just set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLock {
    pub failures: u32,
    pub until: UnixTime,
}

/// Whether an attempt may go on to verify the password.
pub enum Gate {
    Open(Attempt),
    /// Locked, or every slot taken until the lock that is coming: refuse. `delay` is what an
    /// attempt on a key this failed would wait, so that the refusal takes as long as an
    /// unlocked failure does (the answer must not tell that a lock exists).
    Closed {
        delay: Duration,
    },
}

/// How long an attempt waits for a slot held by attempts in flight before it is refused. Waiting
/// for a slot is like waiting for the hashing pool: a burst of correct logins passes one by one,
/// however loaded the pool, and the request timeout (30 s by default) normally ends a wait before
/// this does. This bound only matters for slots leaked by a node that died mid-verification
/// (their count expires with the window) and for callers without a request timeout.
const BUSY_WAIT: Duration = Duration::from_secs(60);

/// The lockout rules over a [`LoginAttemptStore`].
#[derive(Clone)]
pub struct Lockout {
    store: Arc<dyn LoginAttemptStore>,
    clock: Arc<dyn Clock>,
    policy: LockoutPolicy,
}

impl Lockout {
    pub fn new(store: Arc<dyn LoginAttemptStore>, clock: Arc<dyn Clock>, policy: LockoutPolicy) -> Self {
        Self { store, clock, policy }
    }

    /// Counters in this process's memory (tests, and the default before a store is wired in).
    pub fn in_memory(clock: Arc<dyn Clock>, policy: LockoutPolicy) -> Self {
        Self::new(Arc::new(MemoryLoginAttempts::default()), clock, policy)
    }

    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    /// Reserves an attempt for `key`, waiting (bounded) while attempts in flight hold every slot.
    pub async fn begin(&self, key: &LoginKey) -> Result<Gate, StoreError> {
        let started = tokio::time::Instant::now();
        let policy = self.policy;
        loop {
            let now = self.clock.now();
            let seen = self.store.update_login_attempts(key.as_str(), &|s| reserve(s, now, &policy)).await?;
            match reservation(&LoginAttempts::current(seen, now, &policy), &policy) {
                Reservation::Granted { failures } => {
                    return Ok(Gate::Open(Attempt {
                        lockout: self.clone(),
                        key: key.as_str().to_owned(),
                        delay: policy.delay_after(failures),
                        finished: false,
                    }));
                }
                Reservation::Locked => return Ok(Gate::Closed { delay: policy.delay_after(policy.max_failures) }),
                Reservation::Busy => {
                    if !self.wait_for_slot(key, started).await? {
                        return Ok(Gate::Closed { delay: Duration::ZERO });
                    }
                }
            }
        }
    }

    /// Waits until the counters of `key` show a free slot or a lock (`true`: try again), or
    /// until [`BUSY_WAIT`] has passed since `started` (`false`). It only reads, so waiting
    /// attempts do not compete for the write lock with the attempts they wait for.
    async fn wait_for_slot(&self, key: &LoginKey, started: tokio::time::Instant) -> Result<bool, StoreError> {
        let mut pause = Duration::from_millis(10);
        while started.elapsed() + pause < BUSY_WAIT {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
            let now = self.clock.now();
            let seen = self.store.login_attempts(key.as_str()).await?;
            if reservation(&LoginAttempts::current(seen, now, &self.policy), &self.policy) != Reservation::Busy {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Forgets the failures of `key` and lifts its lock; `true` if a lock was in force.
    pub async fn clear(&self, key: &LoginKey) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let seen = self.store.update_login_attempts(key.as_str(), &|_| None).await?;
        Ok(seen.is_some_and(|s| s.locked_until.is_some_and(|t| t > now)))
    }

    /// Deletes counters that no longer mean anything.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        self.store.purge_login_attempts(self.clock.now()).await
    }

    async fn finish(&self, key: &str, ending: Ending) -> Result<Option<NewLock>, StoreError> {
        let now = self.clock.now();
        let policy = self.policy;
        let failed = ending == Ending::Failed;
        let seen = self.store.update_login_attempts(key, &|s| finish(s, now, &policy, ending)).await?;
        let Some(seen) = seen else { return Ok(None) };
        let before = LoginAttempts::current(Some(seen), now, &policy);
        let locks = failed && before.locked_until.is_none() && before.failures + 1 >= policy.max_failures;
        Ok(locks.then_some(NewLock { failures: before.failures + 1, until: now + policy.lock_duration }))
    }
}

/// A reserved attempt. Report how it ended with [`Attempt::failed`], [`Attempt::succeeded`] or
/// [`Attempt::not_verified`]; dropped without any (the request was cancelled), it counts as a
/// failure.
pub struct Attempt {
    lockout: Lockout,
    key: String,
    delay: Duration,
    finished: bool,
}

impl Attempt {
    /// The progressive delay to wait before verifying.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The password did not verify (or the account cannot sign in). `Some` when this failure
    /// locked the key.
    pub async fn failed(mut self) -> Result<Option<NewLock>, StoreError> {
        self.finished = true;
        self.lockout.finish(&self.key, Ending::Failed).await
    }

    pub async fn succeeded(mut self) -> Result<(), StoreError> {
        self.finished = true;
        self.lockout.finish(&self.key, Ending::Succeeded).await.map(|_| ())
    }

    /// Refused before the password was verified (overload): the slot is freed, and the count
    /// neither grows nor resets.
    pub async fn not_verified(mut self) -> Result<(), StoreError> {
        self.finished = true;
        self.lockout.finish(&self.key, Ending::NotVerified).await.map(|_| ())
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let (lockout, key) = (self.lockout.clone(), std::mem::take(&mut self.key));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = lockout.finish(&key, Ending::Failed).await {
                    tracing::warn!(error = %e, "recording an abandoned login attempt failed");
                }
            });
        }
    }
}

/// [`LoginAttemptStore`] in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryLoginAttempts(Mutex<HashMap<String, LoginAttempts>>);

#[async_trait]
impl LoginAttemptStore for MemoryLoginAttempts {
    async fn update_login_attempts(
        &self,
        key: &str,
        change: &(dyn Fn(Option<LoginAttempts>) -> Option<LoginAttempts> + Send + Sync),
    ) -> Result<Option<LoginAttempts>, StoreError> {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = all.get(key).copied();
        match change(seen) {
            Some(next) => all.insert(key.to_owned(), next),
            None => all.remove(key),
        };
        Ok(seen)
    }

    async fn login_attempts(&self, key: &str) -> Result<Option<LoginAttempts>, StoreError> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).copied())
    }

    async fn purge_login_attempts(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let before = all.len();
        all.retain(|_, a| a.expires_at > now);
        Ok((before - all.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;

    fn policy(max: u32) -> LockoutPolicy {
        LockoutPolicy { max_failures: max, ..LockoutPolicy::default() }
    }

    fn key(s: &str) -> LoginKey {
        LoginKey::from_input(s)
    }

    async fn open(l: &Lockout, k: &LoginKey) -> Attempt {
        match l.begin(k).await.unwrap() {
            Gate::Open(a) => a,
            Gate::Closed { .. } => panic!("expected an open gate"),
        }
    }

    async fn is_closed(l: &Lockout, k: &LoginKey) -> bool {
        matches!(l.begin(k).await.unwrap(), Gate::Closed { .. })
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = LockoutPolicy::default();
        let ms: Vec<u128> = (0..9).map(|f| p.delay_after(f).as_millis()).collect();
        assert_eq!(ms, [0, 0, 0, 250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(p.delay_after(u32::MAX), Duration::from_secs(2));
        assert!(p.validate().is_ok());
        assert!(LockoutPolicy { max_failures: 0, ..p }.validate().is_err());
        assert!(LockoutPolicy { lock_duration: 0, ..p }.validate().is_err());
        assert!(LockoutPolicy { lock_duration: 86_401, ..p }.validate().is_err());
    }

    #[tokio::test]
    async fn locks_after_max_failures_and_expires() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock.clone(), policy(3));
        let k = key("a@example.com");
        assert_eq!(open(&l, &k).await.failed().await.unwrap(), None);
        assert_eq!(open(&l, &k).await.failed().await.unwrap(), None);
        let lock = open(&l, &k).await.failed().await.unwrap();
        assert_eq!(lock, Some(NewLock { failures: 3, until: 1_000_000 + 900 }));
        assert!(is_closed(&l, &k).await);
        // Another key is not affected.
        open(&l, &key("b@example.com")).await.succeeded().await.unwrap();
        clock.advance(899);
        assert!(is_closed(&l, &k).await);
        clock.advance(1);
        // Expired: a fresh window with the full allowance again.
        for _ in 0..2 {
            assert_eq!(open(&l, &k).await.failed().await.unwrap(), None);
        }
        open(&l, &k).await.succeeded().await.unwrap();
        for _ in 0..2 {
            assert_eq!(open(&l, &k).await.failed().await.unwrap(), None);
        }
        assert!(open(&l, &k).await.failed().await.unwrap().is_some());
    }

    #[tokio::test]
    async fn failures_outside_the_window_do_not_add_up() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock.clone(), policy(3));
        let k = key("a@example.com");
        open(&l, &k).await.failed().await.unwrap();
        open(&l, &k).await.failed().await.unwrap();
        clock.advance(900);
        open(&l, &k).await.failed().await.unwrap();
        open(&l, &k).await.failed().await.unwrap();
        assert!(!is_closed(&l, &k).await);
    }

    #[tokio::test]
    async fn clearing_lifts_a_lock() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock, policy(1));
        let k = key("a@example.com");
        assert!(!l.clear(&k).await.unwrap());
        assert!(open(&l, &k).await.failed().await.unwrap().is_some());
        assert!(is_closed(&l, &k).await);
        assert!(l.clear(&k).await.unwrap());
        open(&l, &k).await.succeeded().await.unwrap();
    }

    /// An attempt refused for overload before verifying frees its slot, counts no failure and
    /// does not reset the failures counted so far.
    #[tokio::test]
    async fn an_attempt_refused_before_verifying_neither_counts_nor_resets() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock, policy(2));
        let k = key("a@example.com");
        // Ten refusals of a key that allows two failures: none counted (the gate stays open).
        for _ in 0..10 {
            open(&l, &k).await.not_verified().await.unwrap();
        }
        assert_eq!(open(&l, &k).await.failed().await.unwrap(), None);
        open(&l, &k).await.not_verified().await.unwrap();
        assert!(open(&l, &k).await.failed().await.unwrap().is_some(), "the earlier failure still counts");
    }

    #[tokio::test]
    async fn an_abandoned_attempt_counts_as_a_failure() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock, policy(1));
        let k = key("a@example.com");
        drop(open(&l, &k).await);
        for _ in 0..100 {
            if is_closed(&l, &k).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the abandoned attempt was not counted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_attempts_never_exceed_the_allowance() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock, LockoutPolicy { free_failures: 100, ..policy(5) });
        let verified = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (l, verified, k) = (l.clone(), verified.clone(), key("victim@example.com"));
                tokio::spawn(async move {
                    if let Gate::Open(a) = l.begin(&k).await.unwrap() {
                        verified.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        a.failed().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(verified.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_correct_logins_wait_for_a_slot_instead_of_failing() {
        let clock = ManualClock::new(1_000_000);
        let l = Lockout::in_memory(clock, policy(3));
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let (l, k) = (l.clone(), key("busy@example.com"));
                tokio::spawn(async move {
                    let a = open(&l, &k).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    a.succeeded().await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test]
    async fn purge_drops_only_meaningless_rows() {
        let clock = ManualClock::new(1_000_000);
        let store = Arc::new(MemoryLoginAttempts::default());
        let l = Lockout::new(store.clone(), clock.clone(), policy(1));
        open(&l, &key("locked@example.com")).await.failed().await.unwrap();
        open(&l, &key("ok@example.com")).await.succeeded().await.unwrap();
        assert_eq!(store.0.lock().unwrap().len(), 1, "a success leaves no row behind");
        assert_eq!(l.purge().await.unwrap(), 0);
        clock.advance(900);
        assert_eq!(l.purge().await.unwrap(), 1);
    }
}
