//! Argon2 working memory, one buffer per hashing-pool slot, reused while logins come and
//! released when they stop.
//!
//! Allocating `m_cost` KiB per hash (19 MiB by default) cost a zeroing allocation and, for fresh
//! pages, a page fault per 4 KiB on every login, and each blocking thread's malloc arena kept
//! its own copy (a login profile and the benchmark's RSS after load showed both; bench/README.md
//! "Profiles"). With the pool, the memory held for hashing is at most `pool size × m_cost`,
//! allocated once per burst of sign-ins; a buffer unused for [`RELEASE_AFTER`] is freed, so the
//! process returns to its idle size once the load stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use argon2::Block;

/// A pooled buffer unused this long is freed.
pub(super) const RELEASE_AFTER: Duration = Duration::from_secs(20);
/// How often idle buffers are looked at while any are pooled.
const TRIM_EVERY: Duration = Duration::from_secs(5);

pub(super) struct MemoryPool {
    /// Blocks of one buffer for the configured parameters.
    pub(super) blocks: usize,
    /// Buffers kept at most (the pool size).
    max: usize,
    free: Mutex<Vec<Idle>>,
    /// Whether a task is freeing idle buffers.
    trimming: AtomicBool,
    /// [`RELEASE_AFTER`] and [`TRIM_EVERY`], shorter in tests.
    release_after: Duration,
    trim_every: Duration,
}

struct Idle {
    buffer: Vec<Block>,
    since: Instant,
}

impl MemoryPool {
    pub(super) fn new(blocks: usize, max: usize) -> Arc<Self> {
        Self::with_timing(blocks, max, RELEASE_AFTER, TRIM_EVERY)
    }

    fn with_timing(blocks: usize, max: usize, release_after: Duration, trim_every: Duration) -> Arc<Self> {
        let free = Mutex::new(Vec::new());
        Arc::new(Self { blocks, max, free, trimming: AtomicBool::new(false), release_after, trim_every })
    }

    /// A buffer of `blocks` blocks: a pooled one for the configured parameters, else a new one
    /// (a stored hash made with other parameters, which is rehashed on success).
    pub(super) fn take(&self, blocks: usize) -> Vec<Block> {
        let pooled = if blocks == self.blocks { self.lock().pop().map(|i| i.buffer) } else { None };
        pooled.unwrap_or_else(|| fresh(blocks))
    }

    /// Returns a buffer to the pool (or frees it: other parameters, or the pool is full), and
    /// makes sure idle buffers will be freed.
    pub(super) fn put(self: &Arc<Self>, buffer: Vec<Block>) {
        if buffer.len() != self.blocks {
            return;
        }
        {
            let mut free = self.lock();
            if free.len() >= self.max {
                return;
            }
            free.push(Idle { buffer, since: Instant::now() });
        }
        self.schedule_trim();
    }

    /// Frees the buffers unused for `idle`; returns how many are left.
    pub(super) fn trim(&self, idle: Duration) -> usize {
        let released: Vec<Idle> = {
            let mut free = self.lock();
            let (keep, released) = std::mem::take(&mut *free).into_iter().partition(|i| i.since.elapsed() < idle);
            *free = keep;
            released
        };
        // Freed outside the lock: returning 19 MiB to the system takes a moment.
        let count = released.len();
        drop(released);
        if count > 0 {
            tracing::debug!(buffers = count, "freed idle password-hashing memory");
        }
        self.held()
    }

    /// Buffers pooled now.
    pub(super) fn held(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the task that frees idle buffers, unless it runs already (or there is no tokio
    /// runtime to run it on: then the buffers stay, as before the release existed).
    fn schedule_trim(self: &Arc<Self>) {
        if self.trimming.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.trimming.store(false, Ordering::Release);
            return;
        };
        let pool: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                let Some(every) = pool.upgrade().map(|p| p.trim_every) else { return };
                tokio::time::sleep(every).await;
                let Some(pool) = pool.upgrade() else { return };
                if pool.trim(pool.release_after) > 0 {
                    continue;
                }
                pool.trimming.store(false, Ordering::Release);
                // A buffer put back between the trim and the store above found the flag still
                // set and left the work to this task: take it up again.
                if pool.held() == 0 || pool.trimming.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }
}

/// Capacity asked of the allocator at least: above glibc's largest dynamic mmap threshold
/// (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB on 64-bit systems).
const MMAP_CAPACITY: usize = 33 * 1024 * 1024 / std::mem::size_of::<Block>();

/// A zeroed buffer of `blocks` blocks that goes back to the system when dropped.
///
/// glibc serves allocations above its mmap threshold with their own `mmap` and unmaps them on
/// `free`, but freeing such a chunk raises the threshold to that chunk's size; from the second
/// burst of sign-ins on, 19 MiB buffers came from per-thread arenas, which glibc does not trim,
/// and RSS stayed ~40 MB above idle for good (measured; bench/README.md "Profiles"). A capacity
/// above 32 MiB is always mapped and never moves the threshold. Only the pages written (the
/// `blocks` zeroed here) count towards RSS; the rest of the capacity stays untouched.
fn fresh(blocks: usize) -> Vec<Block> {
    let mut buffer = Vec::with_capacity(blocks.max(MMAP_CAPACITY));
    buffer.resize(blocks, Block::new());
    buffer
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_buffer_per_slot_and_frees_idle_ones() {
        let pool = MemoryPool::new(8, 2);
        let (a, b, c) = (pool.take(8), pool.take(8), pool.take(8));
        pool.put(a);
        pool.put(b);
        pool.put(c);
        assert_eq!(pool.held(), 2, "never more than the pool size");
        pool.put(vec![Block::new(); 4]);
        assert_eq!(pool.held(), 2, "buffers of other sizes are not kept");
        assert_eq!(pool.trim(Duration::from_secs(60)), 2, "recently used buffers stay");
        assert_eq!(pool.trim(Duration::ZERO), 0, "idle buffers are freed");
    }

    #[tokio::test]
    async fn the_trim_task_frees_buffers_after_the_idle_time() {
        let pool = MemoryPool::with_timing(8, 2, Duration::from_millis(100), Duration::from_millis(20));
        let buffer = pool.take(8);
        pool.put(buffer);
        assert!(pool.trimming.load(Ordering::Acquire));
        assert_eq!(pool.held(), 1, "kept for reuse at first");
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.held() > 0 || pool.trimming.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "the idle buffer was never freed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Used again: pooled again, and freed again.
        pool.put(pool.take(8));
        assert!(pool.trimming.load(Ordering::Acquire), "a new trim task");
        while pool.held() > 0 {
            assert!(Instant::now() < deadline, "the idle buffer was never freed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
