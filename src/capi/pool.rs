//! The worker pool behind the asynchronous C calls: a fixed set of threads over one FIFO
//! queue, a cancel flag per job, and a shutdown that finishes (or cancels) every job it
//! accepted before it returns. It knows nothing of C or of what a job does.
//!
//! A pool belongs to the process that created it: a child made by `fork()` gets a copy of
//! the pool's memory but none of its threads (and possibly a lock held by one of them).
//! There every method fails or returns at once, and dropping the pool neither joins nor
//! detaches threads of another process. Nothing here panics, so that freeing a pool never
//! prints a panic message.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crate::error::{Error, Status};

/// What a job does, given its cancel flag. It must report its own outcome (and its own
/// panics): the pool only runs it once.
pub(super) type Task = Box<dyn FnOnce(&Arc<AtomicBool>) + Send>;

/// The most worker threads a pool may have.
pub(super) const MAX_WORKERS: usize = 1024;

/// Worker threads get the stack size a main thread usually has: decoders can be deep.
const WORKER_STACK_BYTES: usize = 8 << 20;

pub(super) struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// The process that started the workers (`std::process::id()`).
    owner: u32,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool starts closing.
    job_queued: Condvar,
    /// Signalled when the last unfinished job finishes.
    all_finished: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    /// The cancel flags of every job accepted and not yet finished (queued or running).
    unfinished: HashMap<u64, Arc<AtomicBool>>,
    /// The id of the last job accepted; ids start at 1.
    last_id: u64,
    closing: bool,
}

struct Job {
    id: u64,
    cancel: Arc<AtomicBool>,
    task: Task,
}

thread_local! {
    /// On a worker thread, the address of its pool's `Shared` and the worker's index in
    /// `Pool::workers` ((0, 0) elsewhere): lets `wait` and `drop` notice that they are
    /// called from one of the pool's own jobs.
    static WORKER_OF: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held while a task runs, so poisoning would mean a bug in this
        // file; the state is still consistent then, so go on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index of the calling thread among this pool's workers, if it is one of them.
    fn worker_index(self: &Arc<Self>) -> Option<usize> {
        // try_with: no panic even while the thread's locals are being destroyed.
        let (pool, index) = WORKER_OF.try_with(Cell::get).unwrap_or((0, 0));
        (pool == Arc::as_ptr(self) as usize).then_some(index)
    }
}

impl Pool {
    /// A pool of `threads` workers (0: one per CPU).
    pub fn new(threads: usize) -> Result<Pool, Error> {
        let threads = match threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n if n > MAX_WORKERS => {
                return Err(Error::new(
                    Status::InvalidArgument,
                    format!("a pool of {n} threads was asked for, the most is {MAX_WORKERS}"),
                ))
            }
            n => n,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State { queue: VecDeque::new(), unfinished: HashMap::new(), last_id: 0, closing: false }),
            job_queued: Condvar::new(),
            all_finished: Condvar::new(),
        });
        // Built up in `pool` so that a failed spawn drops it, which joins the workers
        // already started.
        let mut pool = Pool { shared, workers: Vec::with_capacity(threads), owner: std::process::id() };
        for i in 0..threads {
            let shared = Arc::clone(&pool.shared);
            let worker = thread::Builder::new()
                .name(format!("vframe-worker-{i}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || work(&shared, i))
                .map_err(|e| Error::new(Status::Internal, format!("cannot start a worker thread: {e}")))?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// Queues `task` and returns its job id, which is also stored in `id_out` before any
    /// worker can start the job (so the job's own callback may read it).
    pub fn submit(&self, task: Task, id_out: Option<&mut u64>) -> Result<u64, Error> {
        self.check_process()?;
        let mut state = self.shared.lock();
        if state.closing {
            return Err(Error::new(Status::Cancelled, "the pool is being freed and takes no new jobs"));
        }
        state.last_id += 1;
        let id = state.last_id;
        if let Some(out) = id_out {
            *out = id;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        state.unfinished.insert(id, Arc::clone(&cancel));
        state.queue.push_back(Job { id, cancel, task });
        drop(state);
        self.shared.job_queued.notify_one();
        Ok(id)
    }

    /// Raises job `id`'s cancel flag if it has not finished. Errs if no job ever had
    /// that id; a job that already finished is not an error (its result stands).
    pub fn cancel(&self, id: u64) -> Result<(), Error> {
        self.check_process()?;
        let state = self.shared.lock();
        if id == 0 || id > state.last_id {
            return Err(Error::new(Status::InvalidArgument, format!("no job {id} was submitted to this pool")));
        }
        if let Some(flag) = state.unfinished.get(&id) {
            flag.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Blocks until every job accepted so far has finished. From one of the pool's own
    /// jobs it returns at once: that job cannot finish while it waits. In a child made by
    /// `fork()` it returns at once too: the jobs run in the parent.
    pub fn wait(&self) {
        if self.shared.worker_index().is_some() || !self.in_owner_process() {
            return;
        }
        let mut state = self.shared.lock();
        while !state.unfinished.is_empty() {
            state = self.shared.all_finished.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn in_owner_process(&self) -> bool {
        std::process::id() == self.owner
    }

    /// Fails in a child made by `fork()`, where the pool's workers do not exist.
    fn check_process(&self) -> Result<(), Error> {
        if self.in_owner_process() {
            return Ok(());
        }
        Err(Error::new(
            Status::InvalidArgument,
            format!(
                "the pool was created by process {}, and this process ({}) is a child made by fork(): a pool's \
                 threads do not survive fork(), so create a new pool in this process",
                self.owner,
                std::process::id()
            ),
        ))
    }
}

impl Drop for Pool {
    /// Cancels every unfinished job, lets the workers run what is queued (each task sees
    /// its flag raised and reports the cancellation) and joins them.
    ///
    /// In a child made by `fork()` it only lets go of the handles: the workers do not exist
    /// there (their `pthread_t`s may even name new threads), the lock may be held by one of
    /// them, and their jobs belong to the parent. What they hold stays allocated.
    fn drop(&mut self) {
        if !self.in_owner_process() {
            self.workers.drain(..).for_each(forget_thread);
            return;
        }
        let mut state = self.shared.lock();
        state.closing = true;
        for flag in state.unfinished.values() {
            flag.store(true, Ordering::Relaxed);
        }
        drop(state);
        self.shared.job_queued.notify_all();
        let me = self.shared.worker_index();
        for (i, worker) in self.workers.drain(..).enumerate() {
            if Some(i) == me {
                // Freed from one of its own jobs: that worker cannot be joined from itself;
                // it drains the queue with the others and exits on its own (it holds
                // `shared`). Dropping the handle detaches it.
                drop(worker);
            } else {
                join(worker);
            }
        }
    }
}

/// Waits for a worker thread to end. `JoinHandle::join` would panic (printing a message)
/// on a thread that ended without returning, e.g. one a `done` callback ended with
/// `pthread_exit`; `pthread_join` only waits.
#[cfg(unix)]
fn join(worker: JoinHandle<()>) {
    use std::os::unix::thread::JoinHandleExt;
    let thread = worker.into_pthread_t();
    // SAFETY: `thread` is a worker this pool started in this process, not the calling
    // thread, and nobody else joins or detaches it (its JoinHandle was consumed).
    unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
}

#[cfg(not(unix))]
fn join(worker: JoinHandle<()>) {
    let _ = worker.join();
}

/// Lets go of a worker's handle without joining or detaching the thread: for a handle
/// inherited through `fork()`, whose thread does not exist in this process.
fn forget_thread(worker: JoinHandle<()>) {
    #[cfg(unix)]
    {
        use std::os::unix::thread::JoinHandleExt;
        let _ = worker.into_pthread_t(); // consumes the handle; glibc is never asked about it
    }
    #[cfg(not(unix))]
    std::mem::forget(worker); // no fork() there; never reached
}

/// A worker's life: run queued jobs until the pool closes and the queue is empty.
fn work(shared: &Arc<Shared>, index: usize) {
    WORKER_OF.with(|w| w.set((Arc::as_ptr(shared) as usize, index)));
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                if state.closing {
                    return;
                }
                state = shared.job_queued.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Job { id, cancel, task } = job;
        // Tasks catch their own panics to report them; this only keeps the books right.
        let _ = catch_unwind(AssertUnwindSafe(|| task(&cancel)));
        let mut state = shared.lock();
        state.unfinished.remove(&id);
        if state.unfinished.is_empty() {
            shared.all_finished.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn runs_every_job_once_and_wait_sees_them_all() {
        let pool = Pool::new(3).unwrap();
        let (tx, rx) = mpsc::channel();
        let mut ids = Vec::new();
        for i in 0..50u32 {
            let tx = tx.clone();
            ids.push(pool.submit(Box::new(move |_| tx.send(i).unwrap()), None).unwrap());
        }
        pool.wait();
        let mut seen: Vec<u32> = rx.try_iter().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(ids, (1..=50).collect::<Vec<u64>>());
    }

    #[test]
    fn a_queued_job_sees_its_cancel_flag_and_unknown_ids_are_refused() {
        let pool = Pool::new(1).unwrap();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (flag_tx, flag_rx) = mpsc::channel();
        // The only worker is held by the first job until the second one is cancelled.
        pool.submit(Box::new(move |_| release_rx.recv().unwrap()), None).unwrap();
        let mut id = 0;
        pool.submit(Box::new(move |cancel| flag_tx.send(cancel.load(Ordering::Relaxed)).unwrap()), Some(&mut id))
            .unwrap();
        assert_eq!(id, 2);
        pool.cancel(id).unwrap();
        release_tx.send(()).unwrap();
        assert!(flag_rx.recv_timeout(Duration::from_secs(10)).unwrap());
        assert_eq!(pool.cancel(0).unwrap_err().status(), Status::InvalidArgument);
        assert_eq!(pool.cancel(3).unwrap_err().status(), Status::InvalidArgument);
        pool.wait();
        assert!(pool.cancel(id).is_ok(), "a finished job may still be cancelled, harmlessly");
    }

    #[test]
    fn dropping_the_pool_cancels_and_finishes_what_is_queued() {
        let pool = Pool::new(1).unwrap();
        let (tx, rx) = mpsc::channel();
        for _ in 0..20 {
            let tx = tx.clone();
            pool.submit(
                Box::new(move |cancel| {
                    // The first job holds the only worker until the drop cancels it, so
                    // the others are still queued then.
                    while !cancel.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(1));
                    }
                    tx.send(()).unwrap();
                }),
                None,
            )
            .unwrap();
        }
        drop(pool);
        assert_eq!(rx.try_iter().count(), 20, "every accepted job ran, cancelled, before drop returned");
    }

    #[test]
    fn a_panicking_task_does_not_kill_its_worker() {
        let pool = Pool::new(1).unwrap();
        pool.submit(Box::new(|_| panic!("a task bug")), None).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.submit(Box::new(move |_| tx.send(()).unwrap()), None).unwrap();
        pool.wait();
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn a_pool_dropped_by_its_own_job_lets_the_other_workers_finish() {
        let pool = Pool::new(2).unwrap();
        let (pool_tx, pool_rx) = mpsc::channel::<Pool>();
        let (done_tx, done_rx) = mpsc::channel();
        pool.submit(
            Box::new(move |_| {
                drop(pool_rx.recv().unwrap()); // joins the other worker, not this one
                done_tx.send(()).unwrap();
            }),
            None,
        )
        .unwrap();
        pool_tx.send(pool).unwrap();
        done_rx.recv_timeout(Duration::from_secs(30)).expect("the drop returned");
    }

    #[cfg(unix)]
    #[test]
    fn in_a_forked_child_the_pool_refuses_work_and_drops_without_waiting() {
        let pool = Pool::new(1).unwrap();
        // The only worker holds a job across the fork: in the child it never finishes.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let id = pool.submit(Box::new(move |_| release_rx.recv().unwrap()), None).unwrap();
        // SAFETY: the child only calls the pool's methods and _exit (no locks other threads
        // may hold: no printing, no panicking).
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            // SAFETY: alarm has no preconditions; a call that hangs kills the child (SIGALRM).
            unsafe { libc::alarm(30) };
            let refused = pool
                .submit(Box::new(|_| ()), None)
                .is_err_and(|e| e.status() == Status::InvalidArgument && e.message().contains("fork()"));
            let cancel_refused = pool.cancel(id).is_err_and(|e| e.status() == Status::InvalidArgument);
            pool.wait();
            drop(pool);
            // SAFETY: ends the child at once, without running the parent's exit handlers.
            unsafe { libc::_exit(if refused && cancel_refused { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status:#x}");
        release_tx.send(()).unwrap();
        pool.wait();
        assert!(pool.cancel(id).is_ok(), "the parent's pool is untouched");
    }

    #[test]
    fn too_many_threads_are_refused() {
        assert_eq!(Pool::new(MAX_WORKERS + 1).err().unwrap().status(), Status::InvalidArgument);
    }
}
