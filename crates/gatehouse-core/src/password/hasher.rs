//! Argon2id hashing (bcrypt accepted for imported hashes) on a bounded pool of lower-priority
//! threads of its own (`threads`: other requests keep their latency while every slot hashes).
//!
//! Each Argon2id hash holds `m_cost` KiB of memory for its duration, so an unbounded burst of
//! logins could exhaust memory; a semaphore caps concurrent hashes at the pool size. Requests
//! beyond it wait in a bounded queue (by default [`QUEUE_PER_SLOT`] per slot); when the queue is
//! full a request is refused at once with [`HashError::Busy`] (HTTP 503 with `Retry-After`)
//! instead of waiting without limit, so admitted sign-ins keep a bounded latency under overload
//! and the refused ones learn it in microseconds. A sign-in asks [`PasswordHasher::has_room`]
//! before its other work (the lockout counters, the account look-up), so a refused one touches
//! no database either. Unknown accounts are verified against a dummy
//! hash with the same parameters so that response time does not reveal whether an account
//! exists.
//!
//! Hashing and verification reuse one Argon2 memory buffer per pool slot, freed when unused
//! (`memory::MemoryPool`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::Password;
use super::memory::MemoryPool;
use super::threads::HashThreads;

/// Requests that may wait for a hashing slot, per slot, unless configured otherwise. With
/// Argon2id at OWASP's parameters (~25–30 ms of one CPU), a full queue means about five hash
/// times of waiting, ~150 ms on the 2-CPU benchmark machine.
pub const QUEUE_PER_SLOT: usize = 4;
/// Salt length of new hashes (the `password-hash` crate's recommendation, 16 bytes).
const SALT_LEN: usize = 16;
/// Output length of new hashes (Argon2's default, 32 bytes).
const OUTPUT_LEN: usize = 32;

/// Argon2id cost parameters. The default is OWASP's recommendation: m=19456 KiB, t=2, p=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
    /// Every hashing slot is busy and the queue is full: try again shortly.
    #[error("too many password checks at once")]
    Busy,
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right. `needs_rehash` is set for bcrypt hashes and for Argon2 hashes
    /// made with other parameters than the configured ones.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// Occupancy of the hashing pool, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: usize,
    pub in_flight: usize,
    pub peak_in_flight: usize,
    /// Requests waiting for a free slot.
    pub waiting: usize,
    /// Requests that may wait at most.
    pub max_waiting: usize,
    /// Argon2 buffers held for reuse (freed after a while without hashing).
    pub buffers: usize,
}

pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    size: usize,
    max_waiting: usize,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    dummy: Arc<str>,
    memory: Arc<MemoryPool>,
    threads: HashThreads,
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash (one Argon2id computation at start-up).
    pub fn new(params: HashParams, pool_size: usize) -> Result<Self, HashError> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        let size = pool_size.max(1);
        let memory = MemoryPool::new(params.block_count(), size);
        let dummy_password = crate::random::token().map_err(|e| HashError::Hash(e.to_string()))?;
        // In a pool of its own that keeps nothing: the start-up hash leaves no buffer behind.
        let dummy = hash_blocking(&params, dummy_password.as_bytes(), &MemoryPool::new(0, 0))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(size)),
            size,
            max_waiting: size * QUEUE_PER_SLOT,
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy: dummy.into(),
            memory,
            threads: HashThreads::start(size)
                .map_err(|e| HashError::Hash(format!("starting the hashing threads: {e}")))?,
        })
    }

    /// At most `max` requests wait for a slot; more are refused with [`HashError::Busy`].
    pub fn with_queue_limit(mut self, max: usize) -> Self {
        self.max_waiting = max;
        self
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.size,
            in_flight: self.in_flight.load(Ordering::SeqCst),
            peak_in_flight: self.peak.load(Ordering::SeqCst),
            waiting: self.waiting.load(Ordering::SeqCst),
            max_waiting: self.max_waiting,
            buffers: self.memory.held(),
        }
    }

    /// Whether a request arriving now would find a free slot or a place in the queue. A
    /// sign-in asks before anything else, and answers [`HashError::Busy`] at once when not.
    pub fn has_room(&self) -> bool {
        let room = self.permits.available_permits() > 0 || self.waiting.load(Ordering::SeqCst) < self.max_waiting;
        if !room {
            metrics::counter!("gatehouse_password_hash_refused_total").increment(1);
        }
        room
    }

    /// Hashes a password to an Argon2id PHC string with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        let memory = self.memory.clone();
        self.run(move || hash_blocking(&params, password.normalized().as_bytes(), &memory)).await?
    }

    /// Checks `password` against `stored`; with `None` (no such account) a dummy hash is
    /// verified instead so that the time taken is the same.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verification, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        let (hash, real): (Arc<str>, bool) = match stored {
            Some(h) => (h.into(), true),
            None => (self.dummy.clone(), false),
        };
        let memory = self.memory.clone();
        self.run(move || {
            let verdict = verify_blocking(&params, &password, &hash, &memory);
            match verdict {
                Verification::Match { .. } if !real => Verification::Mismatch,
                v => v,
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit = self.permit().await?;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        metrics::gauge!("gatehouse_password_hash_in_flight").set(now as f64);
        let guard = InFlight(self.in_flight.clone(), permit);
        // The slot is freed when the hash ends, not when the caller stops waiting: a client
        // that disconnects mid-hash cannot make room for more hashes than there are slots.
        let result = self
            .threads
            .run(move || {
                let out = job();
                drop(guard);
                out
            })
            .await
            .ok_or(HashError::Join);
        metrics::counter!("gatehouse_password_hashes_total").increment(1);
        result
    }
}

impl PasswordHasher {
    /// A free slot at once, else a place in the queue, else [`HashError::Busy`].
    async fn permit(&self) -> Result<OwnedSemaphorePermit, HashError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(HashError::Join),
            Err(TryAcquireError::NoPermits) => {}
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            metrics::counter!("gatehouse_password_hash_refused_total").increment(1);
            return Err(HashError::Busy);
        }
        // Leaves the queue however the wait ends, also when the request is dropped meanwhile.
        let _queued = Queued(self.waiting.clone());
        self.permits.clone().acquire_owned().await.map_err(|_| HashError::Join)
    }
}

/// A place in the queue for a hashing slot.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Decrements the in-flight count and frees the pool slot however the job ends.
struct InFlight(Arc<AtomicUsize>, #[allow(dead_code)] OwnedSemaphorePermit);

impl Drop for InFlight {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        metrics::gauge!("gatehouse_password_hash_in_flight").set(left as f64);
    }
}

/// A new Argon2id PHC string for `password` with a fresh random salt, in pooled memory: what
/// `argon2`'s `PasswordHasher::hash_password` makes, without its per-hash allocation.
fn hash_blocking(params: &Params, password: &[u8], memory: &Arc<MemoryPool>) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let salt: [u8; SALT_LEN] = crate::random::bytes().map_err(|e| fail(&e))?;
    let mut out = [0u8; OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut working = memory.take(params.block_count());
    let computed = argon.hash_password_into_with_memory(password, &salt, &mut out, &mut working[..]);
    memory.put(working);
    computed.map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_blocking(params: &Params, password: &Password, stored: &str, memory: &Arc<MemoryPool>) -> Verification {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        // Imported bcrypt hashes were made from the password bytes exactly as typed.
        return match bcrypt::verify(password.raw(), stored) {
            Ok(true) => Verification::Match { needs_rehash: true },
            _ => Verification::Mismatch,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::warn!("stored password hash has an unrecognised format");
        return Verification::Mismatch;
    };
    if verify_argon2(&parsed, password.normalized().as_bytes(), memory) {
        let current = parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == params.m_cost() && p.t_cost() == params.t_cost() && p.p_cost() == params.p_cost()
            });
        Verification::Match { needs_rehash: !current }
    } else {
        Verification::Mismatch
    }
}

/// What `argon2`'s `PasswordVerifier` does (recompute with the stored algorithm, version,
/// parameters and salt; compare the output in constant time), with pooled working memory.
fn verify_argon2(parsed: &PasswordHash, password: &[u8], memory: &Arc<MemoryPool>) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let expected: &[u8] = expected.as_ref();
    let mut buffer = [0u8; 64];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut working = memory.take(blocks);
    let computed = argon.hash_password_into_with_memory(password, salt.as_ref(), out, &mut working[..]);
    memory.put(working);
    computed.is_ok() && bool::from(out.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn cheap() -> HashParams {
        HashParams { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = PasswordHasher::new(cheap(), 2).unwrap();
        let hash = h.hash(&Password::new("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert_eq!(
            h.verify(&Password::new("correct horse"), Some(&hash)).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert_eq!(h.verify(&Password::new("correct horsE"), Some(&hash)).await.unwrap(), Verification::Mismatch);
    }

    /// The pooled verification agrees with the `argon2` crate's own, for hashes it made with
    /// other algorithms and versions too, and keeps at most one buffer per pool slot.
    #[tokio::test]
    async fn pooled_verification_matches_the_argon2_crate() {
        let h = PasswordHasher::new(cheap(), 2).unwrap();
        let p = Params::new(1024, 1, 1, None).unwrap();
        for (alg, version) in [
            (Algorithm::Argon2id, Version::V0x13),
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x10),
        ] {
            let stored = Argon2::new(alg, version, p.clone()).hash_password(b"pw-pooled-1").unwrap().to_string();
            assert!(Argon2::default().verify_password(b"pw-pooled-1", &PasswordHash::new(&stored).unwrap()).is_ok());
            let ok = h.verify(&Password::new("pw-pooled-1"), Some(&stored)).await.unwrap();
            assert_eq!(ok, Verification::Match { needs_rehash: alg != Algorithm::Argon2id }, "{stored}");
            let bad = h.verify(&Password::new("pw-pooled-2"), Some(&stored)).await.unwrap();
            assert_eq!(bad, Verification::Mismatch, "{stored}");
        }
        // A truncated hash output or a missing salt never matches.
        let stored = h.hash(&Password::new("pw-pooled-3")).await.unwrap();
        let cut = &stored[..stored.len() - 4];
        assert_eq!(h.verify(&Password::new("pw-pooled-3"), Some(cut)).await.unwrap(), Verification::Mismatch);
        assert!(h.stats().buffers <= 2);
    }

    #[tokio::test]
    async fn other_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(cheap(), 1).unwrap();
        let hash = old.hash(&Password::new("pw-123456")).await.unwrap();
        let new = PasswordHasher::new(HashParams { memory_kib: 2048, ..cheap() }, 1).unwrap();
        assert_eq!(
            new.verify(&Password::new("pw-123456"), Some(&hash)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn bcrypt_imports_verify_and_ask_for_a_rehash() {
        let h = PasswordHasher::new(cheap(), 1).unwrap();
        let b = bcrypt::hash("legacy-pass", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &b[4..]);
            assert_eq!(
                h.verify(&Password::new("legacy-pass"), Some(&variant)).await.unwrap(),
                Verification::Match { needs_rehash: true }
            );
            assert_eq!(h.verify(&Password::new("legacy-pasS"), Some(&variant)).await.unwrap(), Verification::Mismatch);
        }
    }

    #[tokio::test]
    async fn unknown_account_and_garbage_hash_never_match() {
        let h = PasswordHasher::new(cheap(), 1).unwrap();
        assert_eq!(h.verify(&Password::new("anything"), None).await.unwrap(), Verification::Mismatch);
        assert_eq!(h.verify(&Password::new("anything"), Some("not-a-hash")).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn nfkc_equivalent_passwords_verify() {
        let h = PasswordHasher::new(cheap(), 1).unwrap();
        // "ﬁ" (U+FB01 LATIN SMALL LIGATURE FI) normalises to "fi" under NFKC.
        let hash = h.hash(&Password::new("pro\u{fb01}le-secret")).await.unwrap();
        assert!(matches!(
            h.verify(&Password::new("profile-secret"), Some(&hash)).await.unwrap(),
            Verification::Match { .. }
        ));
    }

    /// Our PHC strings are what the `argon2` crate makes: it verifies them.
    #[tokio::test]
    async fn pooled_hashes_verify_with_the_argon2_crate() {
        let h = PasswordHasher::new(cheap(), 1).unwrap();
        let a = h.hash(&Password::new("pw-phc-1")).await.unwrap();
        let b = h.hash(&Password::new("pw-phc-1")).await.unwrap();
        assert_ne!(a, b, "a fresh salt every time");
        let parsed = PasswordHash::new(&a).unwrap();
        assert_eq!(parsed.salt.unwrap().as_ref().len(), SALT_LEN);
        assert!(Argon2::default().verify_password(b"pw-phc-1", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"pw-phc-2", &parsed).is_err());
    }

    /// Past the pool and its queue, requests are refused at once, and a request that gave up
    /// while queued frees its place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let slow = HashParams { memory_kib: 8192, iterations: 8, parallelism: 1 };
        let h = Arc::new(PasswordHasher::new(slow, 1).unwrap().with_queue_limit(1));
        let first = tokio::spawn({
            let h = h.clone();
            async move { h.hash(&Password::new("first-pass")).await }
        });
        while h.stats().in_flight == 0 {
            tokio::task::yield_now().await;
        }
        let queued = tokio::spawn({
            let h = h.clone();
            async move { h.hash(&Password::new("second-pass")).await }
        });
        while h.stats().waiting == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(h.hash(&Password::new("third-pass")).await, Err(HashError::Busy)));
        queued.abort();
        let _ = queued.await;
        assert_eq!(h.stats().waiting, 0, "an abandoned wait leaves the queue");
        first.await.unwrap().unwrap();
        h.hash(&Password::new("fourth-pass")).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pool_bounds_concurrency() {
        let h = Arc::new(PasswordHasher::new(cheap(), 2).unwrap().with_queue_limit(16));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move { h.hash(&Password::new(format!("password-{i}"))).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let stats = h.stats();
        assert_eq!(stats.in_flight, 0);
        assert!(stats.peak_in_flight >= 1 && stats.peak_in_flight <= 2, "{stats:?}");
    }
}
