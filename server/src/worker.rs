//! The engine on a bounded set of threads (never on the async runtime's): sync requests from
//! an in-memory queue of bounded length, persistent jobs claimed from the job store.
//!
//! Every thread takes a waiting sync request first, then a job; when there are two threads
//! or more, the first prefers jobs, so neither kind starves the other. A sync request that
//! has not started within its wait is answered "busy" (503) without running; a request
//! whose client went away is skipped, and one that goes away while running is cancelled.
//!
//! A job runs its items in order, saving each result as it finishes; after a crash the job
//! is claimed again and only its unfinished items run (outputs are written atomically, and an
//! output this job wrote before the crash is simply written again).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::qiniu::fop::{default_output_key, parse_fop, Op};
use crate::qiniu::wire::{self, Item};
use crate::qiniu::{etag, ApiError};
use crate::store::{JobRow, NewObject, Object, Origin, OutputState, Store};

/// Engine limits for every call.
#[derive(Clone, Debug)]
pub struct EngineLimits {
    pub timeout: Duration,
    pub max_input_pixels: u64,
    pub max_decoded_frames: u64,
    pub threads: u32,
}

impl EngineLimits {
    fn options(&self, cancel: Option<Arc<AtomicBool>>) -> vframe::Options {
        vframe::Options {
            timeout: Some(self.timeout),
            max_decoded_frames: self.max_decoded_frames,
            max_input_pixels: self.max_input_pixels,
            threads: self.threads,
            cancel,
        }
    }
}

/// One operation's output.
#[derive(Clone, Debug)]
pub struct Output {
    pub data: Vec<u8>,
    pub mime: &'static str,
}

/// Runs an operation on a source file: the one place where operations meet the engine.
pub fn run_op(op: &Op, source: &Path, options: &vframe::Options) -> Result<Output, vframe::Error> {
    match op {
        Op::Vframe(spec) => {
            let image = vframe::extract(vframe::Input::Path(source), spec, options)?;
            Ok(Output { data: image.data, mime: spec.format.mime_type() })
        }
    }
}

/// Why a sync request got no image.
#[derive(Debug)]
pub enum SyncError {
    /// No worker was free in time (or the queue was full): 503.
    Busy,
    /// The engine failed.
    Engine(vframe::Error),
    /// The server is stopping or a worker failed: 599.
    Gone,
}

type SyncReply = Result<Output, SyncError>;

struct SyncTask {
    op: Op,
    source: PathBuf,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
    reply: oneshot::Sender<SyncReply>,
}

/// A pending sync request. Dropping it (the client went away) cancels the work.
pub struct SyncTicket {
    reply: oneshot::Receiver<SyncReply>,
    cancel: Arc<AtomicBool>,
}

impl SyncTicket {
    pub async fn wait(mut self) -> SyncReply {
        (&mut self.reply).await.unwrap_or(Err(SyncError::Gone))
    }
}

impl Drop for SyncTicket {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct State {
    sync: VecDeque<SyncTask>,
    /// Bumped whenever a job is added, so that a worker that found none can tell whether
    /// one came in meanwhile.
    job_epoch: u64,
    jobs_maybe: bool,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    limits: EngineLimits,
    sync_capacity: usize,
    workers: usize,
    on_job_done: Box<dyn Fn() + Send + Sync>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pool.
pub struct Engine {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

enum Task {
    Sync(SyncTask),
    Job(u64),
}

impl Engine {
    /// Starts `workers` threads. `on_job_done` runs after each job is stored as done (to wake
    /// the notifier).
    pub fn start(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        workers: usize,
        limits: EngineLimits,
        sync_capacity: usize,
        on_job_done: Box<dyn Fn() + Send + Sync>,
    ) -> Engine {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { jobs_maybe: true, ..State::default() }),
            wake: Condvar::new(),
            store,
            metrics,
            limits,
            sync_capacity,
            workers,
            on_job_done,
        });
        let threads = (0..workers)
            .map(|index| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("vframe-worker-{index}"))
                    .spawn(move || worker_loop(&shared, index))
                    .expect("a worker thread starts")
            })
            .collect();
        Engine { shared, threads: Mutex::new(threads) }
    }

    /// Tells the workers a job was committed.
    pub fn jobs_added(&self) {
        let mut state = self.shared.lock();
        state.job_epoch += 1;
        state.jobs_maybe = true;
        drop(state);
        self.shared.wake.notify_all();
    }

    /// Queues a sync request that must start within `wait`; `Busy` when the queue is full.
    pub fn submit_sync(&self, op: Op, source: PathBuf, wait: Duration) -> Result<SyncTicket, SyncError> {
        let (reply, receiver) = oneshot::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut state = self.shared.lock();
        if state.shutdown {
            return Err(SyncError::Gone);
        }
        if state.sync.len() >= self.shared.sync_capacity {
            self.shared.metrics.sync_rejected.inc();
            return Err(SyncError::Busy);
        }
        let task = SyncTask { op, source, deadline: Instant::now() + wait, cancel: cancel.clone(), reply };
        state.sync.push_back(task);
        let depth = state.sync.len() as i64;
        drop(state);
        self.shared.metrics.sync_queue_depth.set(depth);
        if depth > self.shared.metrics.sync_queue_peak.get() {
            self.shared.metrics.sync_queue_peak.set(depth);
        }
        self.shared.wake.notify_one();
        Ok(SyncTicket { reply: receiver, cancel })
    }

    /// Stops taking work, answers queued sync requests `Gone`, and waits for the threads
    /// (each finishes what it is running; a job cut short is requeued at the next start).
    pub fn shutdown(&self) {
        let queued: Vec<SyncTask> = {
            let mut state = self.shared.lock();
            state.shutdown = true;
            state.sync.drain(..).collect()
        };
        for task in queued {
            let _ = task.reply.send(Err(SyncError::Gone));
        }
        self.shared.wake.notify_all();
        let threads: Vec<JoinHandle<()>> = self.threads.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn worker_loop(shared: &Shared, index: usize) {
    let prefers_jobs = index == 0 && shared.workers > 1;
    loop {
        let task = {
            let mut state = shared.lock();
            loop {
                if state.shutdown {
                    return;
                }
                if prefers_jobs && state.jobs_maybe {
                    break Task::Job(state.job_epoch);
                }
                if let Some(task) = state.sync.pop_front() {
                    shared.metrics.sync_queue_depth.set(state.sync.len() as i64);
                    break Task::Sync(task);
                }
                if state.jobs_maybe {
                    break Task::Job(state.job_epoch);
                }
                // Woken by new work; the timeout is a safety net.
                state = shared.wake.wait_timeout(state, Duration::from_secs(1)).unwrap_or_else(|p| p.into_inner()).0;
            }
        };
        match task {
            Task::Sync(task) => run_sync(shared, task),
            Task::Job(epoch) => match shared.store.claim_job() {
                Ok(Some(job)) => {
                    shared.metrics.queue_depth.set(shared.store.waiting_jobs() as i64);
                    run_job(shared, job);
                }
                Ok(None) => {
                    let mut state = shared.lock();
                    if state.job_epoch == epoch {
                        state.jobs_maybe = false;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim a job");
                    std::thread::sleep(Duration::from_secs(1));
                }
            },
        }
    }
}

fn run_sync(shared: &Shared, task: SyncTask) {
    if task.reply.is_closed() || task.cancel.load(Ordering::SeqCst) {
        return;
    }
    if Instant::now() > task.deadline {
        shared.metrics.sync_rejected.inc();
        let _ = task.reply.send(Err(SyncError::Busy));
        return;
    }
    let options = shared.limits.options(Some(task.cancel.clone()));
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| run_op(&task.op, &task.source, &options)));
    shared.metrics.engine_seconds.observe(started.elapsed().as_secs_f64());
    let reply = match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(SyncError::Engine(e)),
        Err(_) => {
            tracing::error!("the engine panicked on a sync request");
            Err(SyncError::Gone)
        }
    };
    let _ = task.reply.send(reply);
}

fn run_job(shared: &Shared, job: JobRow) {
    let span = tracing::info_span!("job", id = %job.id);
    let _enter = span.enter();
    let store = &shared.store;
    let source = match store.get(&job.bucket, &job.key) {
        Ok(source) => source,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the job's source; it stays processing until the next start");
            return;
        }
    };
    let mut items = job.items.clone();
    for index in 0..items.len() {
        if items[index].is_finished() {
            continue;
        }
        if shared.lock().shutdown {
            // The job stays "processing" and resumes from this item at the next start.
            return;
        }
        let cmd = items[index].cmd.clone();
        items[index] = run_item(shared, &job, &cmd, source.as_ref());
        tracing::info!(cmd = %cmd, code = items[index].code, error = %items[index].error, "item done");
        if let Err(e) = store.save_items(&job.id, &items) {
            tracing::error!(error = %e, "cannot save the job's items; it resumes at the next start");
            return;
        }
    }
    let code = if items.iter().all(|i| i.code == wire::CODE_OK) { wire::CODE_OK } else { wire::CODE_FAILED };
    if let Err(e) = store.finish_job(&job.id, code, job.notify_url.is_some(), crate::store::now_ms()) {
        tracing::error!(error = %e, "cannot mark the job done; it resumes at the next start");
        return;
    }
    let outcome = if code == wire::CODE_OK { "ok" } else { "failed" };
    shared.metrics.jobs_finished.get_or_create(&Metrics::outcome(outcome)).inc();
    let age = (crate::store::now_s() - job.created).max(0) as f64;
    shared.metrics.job_seconds.observe(age);
    tracing::info!(code, "job done");
    (shared.on_job_done)();
}

fn run_item(shared: &Shared, job: &JobRow, cmd: &str, source: Option<&Object>) -> Item {
    let fop = match parse_fop(cmd) {
        Ok(fop) => fop,
        Err(message) => return Item::failed(cmd, message),
    };
    let Some(source) = source else {
        return Item::failed(cmd, "no such file or directory: the source object is gone");
    };
    let default_key = || default_output_key(&fop.op_text, &source.hash);
    let (bucket, key) = match &fop.saveas {
        Some(saveas) => (saveas.bucket.clone(), saveas.key.clone().unwrap_or_else(default_key)),
        None => (job.bucket.clone(), default_key()),
    };
    match shared.store.output_state(&bucket, &key, &job.id, job.force) {
        Ok(OutputState::Write) => {}
        Ok(OutputState::Keep { hash }) => return Item::done(cmd, key, hash, true),
        Ok(OutputState::Refuse(message)) => return Item::failed(cmd, message),
        Err(e) => return Item::failed(cmd, e.message),
    }
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| run_op(&fop.op, &source.path, &shared.limits.options(None))));
    shared.metrics.engine_seconds.observe(started.elapsed().as_secs_f64());
    let output = match result {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Item::failed(cmd, e.to_string()),
        Err(_) => return Item::failed(cmd, "internal error: the engine panicked"),
    };
    let hash = etag::of(&output.data);
    let object = NewObject {
        bucket,
        key: key.clone(),
        hash: hash.clone(),
        fsize: output.data.len() as u64,
        mime: output.mime.to_owned(),
        meta: Default::default(),
        origin: Origin::Job(job.id.clone()),
    };
    match shared.store.put_output(object, &output.data, &job.id, job.force) {
        Ok(OutputState::Write) => Item::done(cmd, key, hash, false),
        Ok(OutputState::Keep { hash }) => Item::done(cmd, key, hash, true),
        Ok(OutputState::Refuse(message)) => Item::failed(cmd, message),
        Err(ApiError { message, .. }) => Item::failed(cmd, message),
    }
}
