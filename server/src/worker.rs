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
//! output this job wrote before the crash is simply written again). Items with several
//! outputs (vsample, storyboard) run in `frames`. At shutdown the item being run is
//! cancelled and stays unfinished, to run again at the next start.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::frames::{self, FrameLimits};
use crate::metrics::Metrics;
use crate::qiniu::fop::{default_output_key, parse_fop, Op, OutputNames, SourceObject};
use crate::qiniu::wire::{self, Item};
use crate::qiniu::{etag, ApiError};
use crate::store::{JobRow, NewObject, Object, Origin, OutputState, Pinned, Store};

/// Engine limits for every call.
#[derive(Clone, Debug)]
pub struct EngineLimits {
    /// Per image (sync request or vframe item).
    pub timeout: Duration,
    pub max_input_pixels: u64,
    /// Per frame found.
    pub max_decoded_frames: u64,
    pub threads: u32,
    /// Per vsample or storyboard item, the whole of it.
    pub frames_timeout: Duration,
    /// Frames of a vsample, tiles of a storyboard, per item.
    pub max_frames: u64,
}

impl EngineLimits {
    fn options(&self, timeout: Duration, cancel: Option<Arc<AtomicBool>>) -> vframe::Options {
        vframe::Options {
            timeout: Some(timeout),
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

/// Makes one image of a source file (sync requests and vframe items; `frames` runs the
/// operations of several outputs).
pub fn run_frame(spec: &vframe::Spec, source: &Path, options: &vframe::Options) -> Result<Output, vframe::Error> {
    let image = vframe::extract(vframe::Input::Path(source), spec, options)?;
    Ok(Output { data: image.data, mime: spec.format.mime_type() })
}

/// Why a sync request got no image.
#[derive(Debug)]
pub enum SyncError {
    /// No worker was free in time (or the queue was full): 503.
    Busy,
    /// The engine failed: its status, and its message naming the key (never a file path).
    Engine(vframe::Status, String),
    /// The server is stopping or a worker failed: 599.
    Gone,
}

type SyncReply = Result<Output, SyncError>;

struct SyncTask {
    spec: vframe::Spec,
    source: Pinned,
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
    /// Finished jobs not yet marked done (the database could not be written).
    unsettled: Vec<Unsettled>,
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
    /// Set at shutdown: cancels the job item being run (it stays unfinished).
    stopping: Arc<AtomicBool>,
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
    Settle(Unsettled),
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
            stopping: Arc::new(AtomicBool::new(false)),
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

    /// Queues a sync request on a pinned object (held until the request is done) that must
    /// start within `wait`; `Busy` when the queue is full.
    pub fn submit_sync(&self, spec: vframe::Spec, source: Pinned, wait: Duration) -> Result<SyncTicket, SyncError> {
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
        let task = SyncTask { spec, source, deadline: Instant::now() + wait, cancel: cancel.clone(), reply };
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
    /// (each finishes the sync request it is running; a job item is cancelled, and the job
    /// resumes from it at the next start).
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
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
                let now = Instant::now();
                if let Some(at) = state.unsettled.iter().position(|u| u.retry_at <= now) {
                    break Task::Settle(state.unsettled.swap_remove(at));
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
        // A panic outside the engine calls (which have their own guard) must not end the
        // thread: a sync request it held is answered 599 (its reply dropped), a job fails.
        match task {
            Task::Sync(task) => {
                let _ = catch_unwind(AssertUnwindSafe(|| run_sync(shared, task)));
            }
            Task::Settle(unsettled) => {
                let job = unsettled.job.clone();
                if catch_unwind(AssertUnwindSafe(|| settle(shared, unsettled))).is_err() {
                    fail_after_panic(shared, job);
                }
            }
            Task::Job(epoch) => match shared.store.claim_job() {
                Ok(Some(job)) => {
                    shared.metrics.queue_depth.set(shared.store.waiting_jobs() as i64);
                    let claimed = job.clone();
                    if catch_unwind(AssertUnwindSafe(|| run_job(shared, job))).is_err() {
                        fail_after_panic(shared, claimed);
                    }
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

/// Ends a job whose worker panicked: the items it saved stay, the others fail.
fn fail_after_panic(shared: &Shared, mut job: JobRow) {
    if let Ok(Some(status)) = shared.store.prefop(&job.id) {
        job.items = status.items;
    }
    let items = fail_unfinished(job.items.clone(), "internal error: the worker panicked");
    let _ = catch_unwind(AssertUnwindSafe(|| settle(shared, Unsettled::new(job, items))));
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
    let options = shared.limits.options(shared.limits.timeout, Some(task.cancel.clone()));
    let started = Instant::now();
    let source = &task.source.object;
    let result = catch_unwind(AssertUnwindSafe(|| run_frame(&task.spec, &source.path, &options)));
    shared.metrics.engine_seconds.observe(started.elapsed().as_secs_f64());
    let reply = match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(SyncError::Engine(e.status(), item_error(e.to_string(), source))),
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
    // The job reads one version of its source: pinned, it survives the key being overwritten
    // (which unlinks the object's file) while the items run.
    let pinned = match store.pin(&job.bucket, &job.key) {
        Ok(pinned) => pinned,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the job's source; the job fails");
            let items = fail_unfinished(job.items.clone(), &format!("cannot read the source: {}", e.message));
            return settle(shared, Unsettled::new(job, items));
        }
    };
    let source = pinned.as_ref().map(|pinned| &pinned.object);
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
        let Some(item) = run_item(shared, &job, &cmd, source) else {
            tracing::info!(cmd = %cmd, "item cancelled by the shutdown; the job resumes from it at the next start");
            return;
        };
        items[index] = item;
        tracing::info!(cmd = %cmd, code = items[index].code, error = %items[index].error, "item done");
        if let Err(e) = store.save_items(&job.id, &items) {
            // Going on would redo the items at the next start; stopping here must not leave the
            // job "processing" until then: it fails, with the reason on each item not done.
            tracing::error!(error = %e, "cannot save the job's items; the job fails");
            let items = fail_unfinished(items, &format!("cannot save the job's progress: {}", e.message));
            return settle(shared, Unsettled::new(job, items));
        }
    }
    settle(shared, Unsettled::new(job, items));
}

/// An engine error for an item or a sync request, with the source's file path (internal, and
/// for items readable by anyone with the persistentId through prefop) replaced by its key.
fn item_error(message: String, source: &Object) -> String {
    let path = source.path.display().to_string();
    if path.is_empty() || !message.contains(&path) {
        return message;
    }
    message.replace(&path, &format!("the source {}", crate::qiniu::quote(&source.key)))
}

/// Items that had not finished become failed with `error`.
fn fail_unfinished(items: Vec<Item>, error: &str) -> Vec<Item> {
    items.into_iter().map(|item| if item.is_finished() { item } else { Item::failed(&item.cmd, error) }).collect()
}

/// A job whose items are final, to be marked done.
struct Unsettled {
    job: JobRow,
    items: Vec<Item>,
    retry_at: Instant,
}

impl Unsettled {
    fn new(job: JobRow, items: Vec<Item>) -> Unsettled {
        Unsettled { job, items, retry_at: Instant::now() }
    }
}

/// How long a job that could not be marked done waits before the next try.
const SETTLE_RETRY: Duration = Duration::from_secs(5);

/// Marks a job done (code 0, or 3 when an item failed). When the database cannot be written
/// (a full disk) the job is kept in memory and a worker tries again every [`SETTLE_RETRY`],
/// so that it ends (and notifies) once writes work again, without a restart and without
/// holding a worker; a stop before that leaves it "processing", resumed at the next start.
fn settle(shared: &Shared, mut unsettled: Unsettled) {
    let job = &unsettled.job;
    let items = &unsettled.items;
    let code = if items.iter().all(|i| i.code == wire::CODE_OK) { wire::CODE_OK } else { wire::CODE_FAILED };
    if let Err(e) = shared.store.finish_job(&job.id, items, code, job.notify_url.is_some(), crate::store::now_ms()) {
        tracing::error!(job = %job.id, error = %e, "cannot mark the job done; trying again in a few seconds");
        unsettled.retry_at = Instant::now() + SETTLE_RETRY;
        shared.lock().unsettled.push(unsettled);
        return;
    }
    let outcome = if code == wire::CODE_OK { "ok" } else { "failed" };
    shared.metrics.jobs_finished.get_or_create(&Metrics::outcome(outcome)).inc();
    let age = (crate::store::now_s() - job.created).max(0) as f64;
    shared.metrics.job_seconds.observe(age);
    tracing::info!(job = %job.id, code, "job done");
    (shared.on_job_done)();
}

/// Runs one item; `None` when the shutdown cancelled it (it stays unfinished).
fn run_item(shared: &Shared, job: &JobRow, cmd: &str, source: Option<&Object>) -> Option<Item> {
    let fop = match parse_fop(cmd) {
        Ok(fop) => fop,
        Err(message) => return Some(Item::failed(cmd, message)),
    };
    let Some(source) = source else {
        return Some(Item::failed(cmd, "no such file or directory: the source object is gone"));
    };
    let cancel = Some(shared.stopping.clone());
    let stopped = |e: &vframe::Error| e.status() == vframe::Status::Cancelled && shared.stopping.load(Ordering::SeqCst);
    let started = Instant::now();
    let spec = match &fop.op {
        Op::Vframe(spec) => spec,
        Op::Sample(_) | Op::Storyboard(_) => {
            let at = SourceObject { bucket: &source.bucket, key: &source.key, hash: &source.hash };
            let names = OutputNames::new(&fop, at).expect("vsample and storyboard have several outputs");
            let options = shared.limits.options(shared.limits.frames_timeout, cancel);
            let limits = FrameLimits { max_frames: shared.limits.max_frames };
            let result = catch_unwind(AssertUnwindSafe(|| {
                frames::run(&shared.store, &job.id, &fop.op, &names, &source.path, &options, limits)
            }));
            shared.metrics.engine_seconds.observe(started.elapsed().as_secs_f64());
            return match result {
                Ok(Ok(keys)) => Some(Item::done_many(cmd, keys)),
                Ok(Err(frames::Failure::Engine(e))) if stopped(&e) => None,
                Ok(Err(failure)) => Some(Item::failed(cmd, item_error(failure.to_string(), source))),
                Err(_) => Some(Item::failed(cmd, "internal error: the engine panicked")),
            };
        }
    };
    let default_key = || default_output_key(&fop.op_text, &source.hash);
    let (bucket, key) = match &fop.saveas {
        Some(saveas) => (saveas.bucket.clone(), saveas.key.clone().unwrap_or_else(default_key)),
        None => (job.bucket.clone(), default_key()),
    };
    match shared.store.output_state(&bucket, &key, &job.id, job.force) {
        Ok(OutputState::Write) => {}
        Ok(OutputState::Keep { hash }) => return Some(Item::done(cmd, key, hash, true)),
        Ok(OutputState::Refuse(message)) => return Some(Item::failed(cmd, message)),
        Err(e) => return Some(Item::failed(cmd, e.message)),
    }
    let options = shared.limits.options(shared.limits.timeout, cancel);
    let result = catch_unwind(AssertUnwindSafe(|| run_frame(spec, &source.path, &options)));
    shared.metrics.engine_seconds.observe(started.elapsed().as_secs_f64());
    let output = match result {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if stopped(&e) => return None,
        Ok(Err(e)) => return Some(Item::failed(cmd, item_error(e.to_string(), source))),
        Err(_) => return Some(Item::failed(cmd, "internal error: the engine panicked")),
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
    Some(match shared.store.put_output(object, &output.data, &job.id, job.force) {
        Ok(OutputState::Write) => Item::done(cmd, key, hash, false),
        Ok(OutputState::Keep { hash }) => Item::done(cmd, key, hash, true),
        Ok(OutputState::Refuse(message)) => Item::failed(cmd, message),
        Err(ApiError { message, .. }) => Item::failed(cmd, message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewJob;

    fn engine(root: &Path) -> (Arc<Store>, Engine) {
        let store = Arc::new(Store::open(root, 10).unwrap());
        let limits = EngineLimits {
            timeout: Duration::from_secs(5),
            max_input_pixels: 1 << 24,
            max_decoded_frames: 100,
            threads: 1,
            frames_timeout: Duration::from_secs(5),
            max_frames: 10,
        };
        let engine = Engine::start(store.clone(), Arc::new(Metrics::new()), 1, limits, 4, Box::new(|| {}));
        (store, engine)
    }

    fn submit(store: &Store, engine: &Engine, id: &str) {
        submit_job(store, engine, id, "k", &["avthumb/mp4", "avthumb/flv"]);
    }

    /// Queues job `id` of `cmds` on the source `key` of bucket `b`.
    fn submit_job(store: &Store, engine: &Engine, id: &str, key: &str, cmds: &[&str]) {
        let job = NewJob {
            id: id.into(),
            reqid: "r".into(),
            bucket: "b".into(),
            key: key.into(),
            items: cmds.iter().map(|c| Item::pending(c)).collect(),
            notify_url: None,
            force: false,
            pipeline: "0.default".into(),
            job_type: 0,
            task_from: "api".into(),
        };
        store.insert_job(&job).unwrap();
        engine.jobs_added();
    }

    fn wait_code(store: &Store, id: &str, code: i32) -> wire::Prefop {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = store.prefop(id).unwrap().unwrap();
            if status.code == code || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_job_whose_progress_cannot_be_saved_fails_instead_of_staying_processing() {
        let root = std::env::temp_dir().join(format!("vframe-worker-{}", crate::store::random_id()));
        let (store, engine) = engine(&root);
        // Saving an item's progress fails (as on a full disk); marking the job done works.
        store.execute_batch_for_tests(
            "CREATE TRIGGER full BEFORE UPDATE OF items ON jobs WHEN NEW.state = 2
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
        );
        submit(&store, &engine, "z0.one");
        let status = wait_code(&store, "z0.one", wire::CODE_FAILED);
        assert_eq!(status.code, wire::CODE_FAILED, "{status:?}");
        assert!(status.items[1].error.contains("disk is full"), "{:?}", status.items[1]);

        // Nothing can be written: the job waits in memory, and ends once writes work again.
        store.execute_batch_for_tests(
            "DROP TRIGGER full; CREATE TRIGGER full BEFORE UPDATE OF items ON jobs
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
        );
        submit(&store, &engine, "z0.two");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(store.prefop("z0.two").unwrap().unwrap().code, wire::CODE_PROCESSING);
        store.execute_batch_for_tests("DROP TRIGGER full");
        let status = wait_code(&store, "z0.two", wire::CODE_FAILED);
        assert_eq!(status.code, wire::CODE_FAILED, "{status:?}");
        assert!(status.items.iter().all(|i| i.code == wire::CODE_FAILED), "{status:?}");
        engine.shutdown();
        drop(store);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_job_reads_the_source_it_started_with_and_never_names_its_file() {
        let root = std::env::temp_dir().join(format!("vframe-worker-{}", crate::store::random_id()));
        let store = Store::open(&root, 10).unwrap();
        let data = b"not a video at all";
        let spooled = crate::store::write_spool(&store, data).unwrap();
        let object = NewObject {
            bucket: "b".into(),
            key: "gone.mp4".into(),
            hash: etag::of(data),
            fsize: data.len() as u64,
            mime: "video/mp4".into(),
            meta: Default::default(),
            origin: Origin::Upload,
        };
        store.commit_upload(&spooled, object, crate::qiniu::uptoken::Overwrite::Allowed, None).unwrap();
        let source = store.get("b", "gone.mp4").unwrap().unwrap();
        // Pinned, the bytes outlive the object's file (an overwrite unlinks it).
        let pinned = store.pin("b", "gone.mp4").unwrap().unwrap();
        std::fs::remove_file(&source.path).unwrap();
        assert_eq!(std::fs::read(&pinned.object.path).unwrap(), data);
        let link = pinned.object.path.clone();
        drop(pinned);
        assert!(!link.exists(), "the link goes with the job");
        // The file gone before the job starts: the item fails naming the key, not the file;
        // so does a sync request.
        drop(store);
        let (store, engine) = engine(&root);
        let pinned = store.pin("b", "gone.mp4").unwrap().unwrap();
        let spec: vframe::Spec = "vframe/jpg/offset/1".parse().unwrap();
        let ticket = engine.submit_sync(spec, pinned, Duration::from_secs(5)).unwrap();
        let reply = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(ticket.wait());
        let Err(SyncError::Engine(_, message)) = reply else { panic!("{reply:?}") };
        assert!(!message.contains(root.to_str().unwrap()) && message.contains("gone.mp4"), "{message}");
        submit_job(&store, &engine, "z0.gone", "gone.mp4", &["vframe/jpg/offset/1"]);
        let status = wait_code(&store, "z0.gone", wire::CODE_FAILED);
        assert_eq!(status.code, wire::CODE_FAILED, "{status:?}");
        let error = &status.items[0].error;
        assert!(!error.contains(root.to_str().unwrap()) && error.contains("gone.mp4"), "{error}");
        engine.shutdown();
        drop(store);
        let _ = std::fs::remove_dir_all(root);
    }
}
