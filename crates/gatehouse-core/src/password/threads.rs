//! The threads that hash passwords: one per hashing slot, started with the hasher, each at a
//! lower scheduling priority than the rest of the process.
//!
//! An Argon2id hash is ~20–30 ms of one CPU. Under a sign-in burst every slot hashes without
//! pause, and with as many slots as CPUs (the default) the hashing threads alone could fill the
//! machine. On tokio's shared blocking pool they ran at the same priority as the runtime's
//! workers, so every other request — a JWKS fetch, an introspection, the 503 that refuses an
//! excess sign-in — waited for the scheduler to take a CPU from a hash (the overload run of
//! issue #19: cheap routes' p99 ×5, refusals after seconds). Here each hashing thread lowers its
//! own priority once ([`NICE`], Linux's per-thread nice value), so the scheduler gives the
//! workers the CPU as soon as they have work and the hashes take what is left. A hash still gets
//! every idle cycle: nothing is slower when the machine is not busy.
//!
//! Lowering one's own priority needs no privilege; where it fails (another OS, a seccomp
//! filter) the thread hashes at normal priority and says so once, at debug level.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// The nice value of the hashing threads: CFS/EEVDF weight 110 against the workers' 1024, so a
/// worker that wakes while both CPUs hash gets a CPU at once and ~90% of it.
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads fed through one channel. Callers bound how many jobs are
/// outstanding (the hasher's semaphore), so the channel never holds more than the threads run.
pub(super) struct HashThreads {
    jobs: Mutex<Sender<Job>>,
}

impl HashThreads {
    /// Starts `count` threads (at least one). They end when the last handle is dropped.
    pub(super) fn start(count: usize) -> std::io::Result<Self> {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..count.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("gatehouse-hash-{n}")).spawn(move || work(&queue))?;
        }
        Ok(Self { jobs: Mutex::new(jobs) })
    }

    /// Runs `job` on a hashing thread, inside the caller's tokio runtime (the memory pool
    /// schedules the freeing of idle buffers from there); `None` when the threads are gone (or
    /// the job panicked).
    pub(super) async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let job: Job = Box::new(move || {
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            let _ = tx.send(job());
        });
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner).send(job).ok()?;
        rx.await.ok()
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only while taking a job, never while running one.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        // A panicking job drops its result sender (the caller sees `None`); the thread goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// On Linux, `setpriority(PRIO_PROCESS, 0, …)` sets the calling thread's nice value.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, NICE) {
        tracing::debug!(error = %e, "password hashing runs at normal priority: lowering it failed");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Jobs run on the named, lower-priority threads inside the caller's runtime, results come
    /// back, and a panicking job neither kills its thread nor hangs its caller.
    #[tokio::test]
    async fn runs_jobs_on_lower_priority_threads_and_survives_a_panic() {
        let threads = HashThreads::start(1).unwrap();
        let name = threads.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert_eq!(name.as_deref(), Some("gatehouse-hash-0"));
        // The job runs in the caller's runtime (the memory pool spawns its trim task there).
        assert_eq!(threads.run(|| tokio::runtime::Handle::try_current().is_ok()).await, Some(true));
        #[cfg(target_os = "linux")]
        {
            // A process already nicer than NICE cannot raise it back, so it keeps its own.
            let before = rustix::process::getpriority_process(None).unwrap();
            let nice = threads.run(|| rustix::process::getpriority_process(None).unwrap()).await.unwrap();
            assert_eq!(nice, before.max(NICE));
            assert_eq!(rustix::process::getpriority_process(None).unwrap(), before, "the caller keeps its own");
        }
        let panicked: Option<()> = threads.run(|| panic!("a job that fails")).await;
        assert!(panicked.is_none());
        assert_eq!(threads.run(|| 2 + 2).await, Some(4), "the thread survived the panic");
    }
}
