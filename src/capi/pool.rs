//! The worker pool behind the asynchronous C calls: a fixed set of threads over one bounded
//! FIFO queue, a cancel flag per job, and a shutdown that finishes (or cancels) every job it
//! accepted before it returns. It knows nothing of C or of what a job does.
//!
//! A job has two stages: its work (which holds the job's input) and its report (which tells
//! the caller). A pool has `threads + max_queued` places; a job holds one from its submission
//! until its work ends, and gives it back before its report runs. With every worker busy,
//! that leaves `max_queued` jobs waiting in the queue, so what queued jobs hold (their input)
//! is bounded by the pool's size, not by how many jobs a caller submits. A submit that finds
//! no place fails with `Busy` at once, or waits for one up to a deadline; closing the pool
//! wakes it with `Cancelled`.
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
use std::time::{Duration, Instant};

use crate::error::{Error, Status};

/// A job's work, given its cancel flag. It returns the job's report, which the pool runs
/// once the job's place is given back. Both must catch their own panics: the pool only
/// runs each once.
pub(super) type Task = Box<dyn FnOnce(&Arc<AtomicBool>) -> Report + Send>;

/// What a job does after its work: tell the caller.
pub(super) type Report = Box<dyn FnOnce() + Send>;

/// The most worker threads a pool may have.
pub(super) const MAX_WORKERS: usize = 1024;

/// Queued jobs per worker thread when the caller does not choose (`max_queued` 0). Enough
/// that a producer which submits as results come back never leaves a worker idle (each
/// worker has four jobs lined up while the producer reacts), few enough that jobs which
/// own a copy of their input hold at most five inputs per thread.
pub(super) const DEFAULT_QUEUED_PER_WORKER: usize = 4;

/// Worker threads get the stack size a main thread usually has: decoders can be deep.
const WORKER_STACK_BYTES: usize = 8 << 20;

/// How long a submit may wait for a place in a full pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// Not at all: `Busy` at once.
    No,
    /// Up to this long, then `Busy`.
    For(Duration),
    /// Until a place frees up or the pool closes.
    Forever,
}

pub(super) struct Pool {
    handle: Handle,
    workers: Vec<JoinHandle<()>>,
}

/// A counted reference to a pool's shared state, through which jobs are submitted. A
/// submit holds its own while it waits for a place, so that the pool may be freed meanwhile
/// (which wakes it): the state outlives every thread still inside a call.
#[derive(Clone)]
pub(super) struct Handle(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool starts closing.
    job_queued: Condvar,
    /// Signalled when the last unfinished job finishes.
    all_finished: Condvar,
    /// Signalled when a job gives its place back, and (to all) when the pool starts closing.
    room: Condvar,
    threads: usize,
    max_queued: usize,
    /// `threads + max_queued`: the most jobs holding a place at once.
    places: usize,
    /// The process that started the workers (`std::process::id()`).
    owner: u32,
}

struct State {
    queue: VecDeque<Job>,
    /// The cancel flags of every job accepted and not yet finished (queued or running).
    unfinished: HashMap<u64, Arc<AtomicBool>>,
    /// Jobs accepted whose work has not ended: the places taken.
    holding: usize,
    /// Submits waiting for a place now.
    waiting: usize,
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
    /// `Pool::workers` ((0, 0) elsewhere): lets `wait`, `submit` and `drop` notice that they
    /// are called from one of the pool's own jobs.
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

    fn in_owner_process(&self) -> bool {
        std::process::id() == self.owner
    }
}

impl Pool {
    /// A pool of `threads` workers (0: one per CPU) and room for `max_queued` jobs waiting
    /// for a worker (0: [`DEFAULT_QUEUED_PER_WORKER`] per worker).
    pub fn new(threads: usize, max_queued: usize) -> Result<Pool, Error> {
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
        let max_queued = if max_queued == 0 { DEFAULT_QUEUED_PER_WORKER * threads } else { max_queued };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                unfinished: HashMap::new(),
                holding: 0,
                waiting: 0,
                last_id: 0,
                closing: false,
            }),
            job_queued: Condvar::new(),
            all_finished: Condvar::new(),
            room: Condvar::new(),
            threads,
            max_queued,
            places: threads.saturating_add(max_queued),
            owner: std::process::id(),
        });
        // Built up in `pool` so that a failed spawn drops it, which joins the workers
        // already started.
        let mut pool = Pool { handle: Handle(shared), workers: Vec::with_capacity(threads) };
        for i in 0..threads {
            let shared = Arc::clone(&pool.handle.0);
            let worker = thread::Builder::new()
                .name(format!("vframe-worker-{i}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || work(&shared, i))
                .map_err(|e| Error::new(Status::Internal, format!("cannot start a worker thread: {e}")))?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// The pool's handle: clone it to keep the shared state while a call may block.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Handle {
    /// Queues `task` and returns its job id, which is also stored in `id_out` before any
    /// worker can start the job (so the job's own report may read it).
    ///
    /// When every place is taken it fails with `Busy`, after waiting for a place as `wait`
    /// allows. Called from one of the pool's own jobs it never waits: that job's worker
    /// could be the one it waits for. A pool that closes (or is closed) meanwhile fails it
    /// with `Cancelled`. A refused task is dropped without running.
    pub fn submit(&self, task: Task, wait: Wait, id_out: Option<&mut u64>) -> Result<u64, Error> {
        self.check_process()?;
        let shared = &self.0;
        let from_worker = shared.worker_index().is_some();
        let wait = if from_worker { Wait::No } else { wait };
        let deadline = match wait {
            Wait::For(limit) => Instant::now().checked_add(limit),
            _ => None,
        };
        let mut state = shared.lock();
        let mut waited = false;
        loop {
            if state.closing {
                let message = if waited {
                    "the pool was closed while this submit waited for room"
                } else {
                    "the pool is closed (or being freed) and takes no new jobs"
                };
                return Err(Error::new(Status::Cancelled, message));
            }
            if state.holding < shared.places {
                break;
            }
            let now = Instant::now();
            let give_up = match (wait, deadline) {
                (Wait::No, _) => true,
                (Wait::For(_), Some(deadline)) => now >= deadline,
                (Wait::For(_), None) | (Wait::Forever, _) => false,
            };
            if give_up {
                return Err(self.full_error(wait, from_worker));
            }
            state.waiting += 1;
            state = match deadline {
                Some(deadline) => {
                    shared.room.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0
                }
                None => shared.room.wait(state).unwrap_or_else(PoisonError::into_inner),
            };
            state.waiting -= 1;
            waited = true;
        }
        state.holding += 1;
        state.last_id += 1;
        let id = state.last_id;
        if let Some(out) = id_out {
            *out = id;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        state.unfinished.insert(id, Arc::clone(&cancel));
        state.queue.push_back(Job { id, cancel, task });
        drop(state);
        shared.job_queued.notify_one();
        Ok(id)
    }

    fn full_error(&self, wait: Wait, from_worker: bool) -> Error {
        let Shared { threads, max_queued, .. } = *self.0;
        let full = format!("the pool is full: {threads} jobs running and {max_queued} queued, its bound");
        let message = match wait {
            _ if from_worker => {
                format!("{full}; a submit from one of the pool's own callbacks never waits for room")
            }
            Wait::No => format!("{full}; try again later, or let the submit wait for room"),
            Wait::For(limit) => format!("{full}, for the {} ms this submit could wait", limit.as_millis()),
            Wait::Forever => full, // never: a submit that may wait forever does not give up
        };
        Error::new(Status::Busy, message)
    }

    /// Raises job `id`'s cancel flag if it has not finished. Errs if no job ever had
    /// that id; a job that already finished is not an error (its result stands).
    pub fn cancel(&self, id: u64) -> Result<(), Error> {
        self.check_process()?;
        let state = self.0.lock();
        if id == 0 || id > state.last_id {
            return Err(Error::new(Status::InvalidArgument, format!("no job {id} was submitted to this pool")));
        }
        if let Some(flag) = state.unfinished.get(&id) {
            flag.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Blocks until no job is unfinished: those accepted before the call and any accepted
    /// meanwhile (a `done` that submits a follow-up has it waited for too). From one of the
    /// pool's own jobs it returns at once: that job cannot finish while it waits. In a child
    /// made by `fork()` it returns at once too: the jobs run in the parent.
    pub fn wait(&self) {
        let shared = &self.0;
        if shared.worker_index().is_some() || !shared.in_owner_process() {
            return;
        }
        let mut state = shared.lock();
        while !state.unfinished.is_empty() {
            state = shared.all_finished.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Stops taking jobs: raises every unfinished job's cancel flag and wakes the submits
    /// waiting for a place (they fail with `Cancelled`, as every later submit does). The
    /// workers run what is queued (each task sees its flag raised) and then end; `drop`
    /// joins them. A second call changes nothing; in a child made by `fork()` it does
    /// nothing (the pool's jobs and threads are the parent's).
    pub fn close(&self) {
        let shared = &self.0;
        if !shared.in_owner_process() {
            return;
        }
        let mut state = shared.lock();
        state.closing = true;
        for flag in state.unfinished.values() {
            flag.store(true, Ordering::Relaxed);
        }
        drop(state);
        shared.job_queued.notify_all();
        shared.room.notify_all();
    }

    /// Fails in a child made by `fork()`, where the pool's workers do not exist.
    fn check_process(&self) -> Result<(), Error> {
        let shared = &self.0;
        if shared.in_owner_process() {
            return Ok(());
        }
        Err(Error::new(
            Status::InvalidArgument,
            format!(
                "the pool was created by process {}, and this process ({}) is a child made by fork(): a pool's \
                 threads do not survive fork(), so create a new pool in this process",
                shared.owner,
                std::process::id()
            ),
        ))
    }

    /// Submits waiting for a place now (for tests that must know a submit is waiting).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.0.lock().waiting
    }
}

impl Drop for Pool {
    /// Closes the pool (cancels every unfinished job, wakes waiting submits), lets the
    /// workers run what is queued (each task sees its flag raised and reports the
    /// cancellation) and joins them.
    ///
    /// In a child made by `fork()` it only lets go of the handles: the workers do not exist
    /// there (their `pthread_t`s may even name new threads), the lock may be held by one of
    /// them, and their jobs belong to the parent. What they hold stays allocated.
    fn drop(&mut self) {
        if !self.handle.0.in_owner_process() {
            self.workers.drain(..).for_each(forget_thread);
            return;
        }
        self.handle.close();
        let me = self.handle.0.worker_index();
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

/// A worker's life: run queued jobs until the pool closes and the queue is empty. Each job's
/// place is given back between its work and its report, so that a caller told of a result
/// finds room for the next job.
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
        let report = catch_unwind(AssertUnwindSafe(|| task(&cancel))).ok();
        shared.lock().holding -= 1;
        shared.room.notify_one();
        if let Some(report) = report {
            let _ = catch_unwind(AssertUnwindSafe(report));
        }
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

    /// A task whose work is `work` and whose report does nothing.
    fn task(work: impl FnOnce(&Arc<AtomicBool>) + Send + 'static) -> Task {
        Box::new(move |cancel| {
            work(cancel);
            Box::new(|| ())
        })
    }

    /// A task that holds its worker (and its place) until `release` gets a message.
    fn held() -> (Task, mpsc::Sender<()>) {
        let (tx, rx) = mpsc::channel::<()>();
        (task(move |_| rx.recv().unwrap()), tx)
    }

    /// Waits (boundedly) until `n` submits are waiting for a place.
    fn until_waiting(pool: &Handle, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool.waiting() != n {
            assert!(Instant::now() < deadline, "{} submits waiting, want {n}", pool.waiting());
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn runs_every_job_once_and_wait_sees_them_all() {
        let pool = Pool::new(3, 100).unwrap();
        let (tx, rx) = mpsc::channel();
        let mut ids = Vec::new();
        for i in 0..50u32 {
            let tx = tx.clone();
            ids.push(pool.handle().submit(task(move |_| tx.send(i).unwrap()), Wait::No, None).unwrap());
        }
        pool.handle().wait();
        let mut seen: Vec<u32> = rx.try_iter().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(ids, (1..=50).collect::<Vec<u64>>());
    }

    #[test]
    fn a_queued_job_sees_its_cancel_flag_and_unknown_ids_are_refused() {
        let pool = Pool::new(1, 0).unwrap();
        let pool = pool.handle();
        let (first, release) = held();
        let (flag_tx, flag_rx) = mpsc::channel();
        // The only worker is held by the first job until the second one is cancelled.
        pool.submit(first, Wait::No, None).unwrap();
        let mut id = 0;
        pool.submit(task(move |cancel| flag_tx.send(cancel.load(Ordering::Relaxed)).unwrap()), Wait::No, Some(&mut id))
            .unwrap();
        assert_eq!(id, 2);
        pool.cancel(id).unwrap();
        release.send(()).unwrap();
        assert!(flag_rx.recv_timeout(Duration::from_secs(10)).unwrap());
        assert_eq!(pool.cancel(0).unwrap_err().status(), Status::InvalidArgument);
        assert_eq!(pool.cancel(3).unwrap_err().status(), Status::InvalidArgument);
        pool.wait();
        assert!(pool.cancel(id).is_ok(), "a finished job may still be cancelled, harmlessly");
    }

    #[test]
    fn dropping_the_pool_cancels_and_finishes_what_is_queued() {
        let pool = Pool::new(1, 0).unwrap();
        let (tx, rx) = mpsc::channel();
        for _ in 0..5 {
            let tx = tx.clone();
            let job = task(move |cancel| {
                // The first job holds the only worker until the drop cancels it, so the
                // others are still queued then.
                while !cancel.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(1));
                }
                tx.send(()).unwrap();
            });
            pool.handle().submit(job, Wait::No, None).unwrap();
        }
        drop(pool);
        assert_eq!(rx.try_iter().count(), 5, "every accepted job ran, cancelled, before drop returned");
    }

    #[test]
    fn a_panicking_task_does_not_kill_its_worker() {
        let pool = Pool::new(1, 0).unwrap();
        pool.handle().submit(Box::new(|_| panic!("a task bug")), Wait::No, None).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.handle().submit(task(move |_| tx.send(()).unwrap()), Wait::No, None).unwrap();
        pool.handle().wait();
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn a_pool_dropped_by_its_own_job_lets_the_other_workers_finish() {
        let pool = Pool::new(2, 0).unwrap();
        let (pool_tx, pool_rx) = mpsc::channel::<Pool>();
        let (done_tx, done_rx) = mpsc::channel();
        let job = task(move |_| {
            drop(pool_rx.recv().unwrap()); // joins the other worker, not this one
            done_tx.send(()).unwrap();
        });
        pool.handle().submit(job, Wait::No, None).unwrap();
        pool_tx.send(pool).unwrap();
        done_rx.recv_timeout(Duration::from_secs(30)).expect("the drop returned");
    }

    #[test]
    fn the_default_bound_is_four_queued_jobs_per_worker() {
        let pool = Pool::new(2, 0).unwrap();
        let mut releases = Vec::new();
        for _ in 0..2 + 8 {
            let (job, release) = held();
            pool.handle().submit(job, Wait::No, None).unwrap();
            releases.push(release);
        }
        let (job, _) = held();
        let refused = pool.handle().submit(job, Wait::No, None).unwrap_err();
        assert_eq!(refused.status(), Status::Busy);
        assert!(refused.message().contains("2 jobs running and 8 queued"), "{}", refused.message());
        releases.iter().for_each(|r| r.send(()).unwrap());
    }

    #[test]
    fn a_full_pool_refuses_at_once_or_lets_a_submit_wait_for_a_place() {
        let pool = Pool::new(1, 1).unwrap();
        let (running, release_running) = held();
        let (queued, release_queued) = held();
        pool.handle().submit(running, Wait::No, None).unwrap();
        pool.handle().submit(queued, Wait::No, None).unwrap();
        let (job, _) = held();
        let busy = pool.handle().submit(job, Wait::No, None).unwrap_err();
        assert_eq!(busy.status(), Status::Busy, "{busy:?}");
        let started = Instant::now();
        let (job, _) = held();
        let timed_out = pool.handle().submit(job, Wait::For(Duration::from_millis(50)), None).unwrap_err();
        assert_eq!(timed_out.status(), Status::Busy);
        assert!(timed_out.message().contains("50 ms"), "{}", timed_out.message());
        assert!(started.elapsed() >= Duration::from_millis(50), "it waited");

        // A submit that may wait gets the place of the first job to end its work.
        let handle = pool.handle().clone();
        let waiter = thread::spawn(move || handle.submit(task(|_| ()), Wait::Forever, None));
        until_waiting(pool.handle(), 1);
        release_running.send(()).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), 3, "accepted (refused submits take no id)");
        release_queued.send(()).unwrap();
        pool.handle().wait();
    }

    #[test]
    fn a_place_is_given_back_before_the_report_runs() {
        let pool = Pool::new(1, 1).unwrap();
        let handle = pool.handle().clone();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (result_tx, result_rx) = mpsc::channel();
        // The first job's work waits until the pool is full; its report then submits twice.
        let report_submits: Task = Box::new(move |_| {
            go_rx.recv().unwrap();
            Box::new(move || {
                let from_report = handle.submit(task(|_| ()), Wait::No, None).map(|_| ());
                let another = handle.submit(task(|_| ()), Wait::Forever, None).map_err(|e| e.status());
                result_tx.send((from_report, another)).unwrap();
            })
        });
        pool.handle().submit(report_submits, Wait::No, None).unwrap();
        let (queued, release_queued) = held();
        pool.handle().submit(queued, Wait::No, None).unwrap();
        let (job, _) = held();
        assert_eq!(pool.handle().submit(job, Wait::No, None).unwrap_err().status(), Status::Busy, "full");
        go_tx.send(()).unwrap();
        let (from_report, another) = result_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(from_report.is_ok(), "the finished job's place was free: {from_report:?}");
        assert_eq!(another, Err(Status::Busy), "from a report a submit never waits");
        release_queued.send(()).unwrap();
        drop(pool);
    }

    /// A task that runs until its cancel flag is raised.
    fn until_cancelled() -> Task {
        task(|cancel| {
            while !cancel.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(1));
            }
        })
    }

    #[test]
    fn closing_or_dropping_the_pool_wakes_waiting_submits() {
        for drop_it in [false, true] {
            let pool = Pool::new(1, 1).unwrap();
            pool.handle().submit(until_cancelled(), Wait::No, None).unwrap();
            pool.handle().submit(until_cancelled(), Wait::No, None).unwrap();
            let waiters: Vec<_> = [Wait::Forever, Wait::For(Duration::from_secs(600)), Wait::Forever]
                .into_iter()
                .map(|wait| {
                    let handle = pool.handle().clone();
                    thread::spawn(move || handle.submit(task(|_| ()), wait, None).unwrap_err())
                })
                .collect();
            until_waiting(pool.handle(), 3);
            let handle = pool.handle().clone();
            if drop_it {
                drop(pool); // the waiters hold the shared state: dropping the pool meanwhile is fine
            } else {
                pool.handle().close();
                pool.handle().wait();
            }
            for waiter in waiters {
                let error = waiter.join().unwrap();
                assert_eq!(error.status(), Status::Cancelled);
                assert!(error.message().contains("closed while this submit waited"), "{}", error.message());
            }
            let later = handle.submit(task(|_| ()), Wait::Forever, None).unwrap_err();
            assert_eq!(later.status(), Status::Cancelled);
            assert!(later.message().contains("takes no new jobs"), "{}", later.message());
        }
    }

    #[cfg(unix)]
    #[test]
    fn in_a_forked_child_the_pool_refuses_work_and_drops_without_waiting() {
        let pool = Pool::new(1, 0).unwrap();
        // The only worker holds a job across the fork: in the child it never finishes.
        let (first, release) = held();
        let id = pool.handle().submit(first, Wait::No, None).unwrap();
        // SAFETY: the child only calls the pool's methods and _exit (no locks other threads
        // may hold: no printing, no panicking).
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            // SAFETY: alarm has no preconditions; a call that hangs kills the child (SIGALRM).
            unsafe { libc::alarm(30) };
            let handle = pool.handle();
            let refused = handle
                .submit(task(|_| ()), Wait::Forever, None)
                .is_err_and(|e| e.status() == Status::InvalidArgument && e.message().contains("fork()"));
            let cancel_refused = handle.cancel(id).is_err_and(|e| e.status() == Status::InvalidArgument);
            handle.wait();
            handle.close();
            drop(pool);
            // SAFETY: ends the child at once, without running the parent's exit handlers.
            unsafe { libc::_exit(if refused && cancel_refused { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status:#x}");
        release.send(()).unwrap();
        pool.handle().wait();
        assert!(pool.handle().cancel(id).is_ok(), "the parent's pool is untouched");
    }

    #[test]
    fn too_many_threads_are_refused() {
        assert_eq!(Pool::new(MAX_WORKERS + 1, 0).err().unwrap().status(), Status::InvalidArgument);
    }
}
