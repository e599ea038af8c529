//! The asynchronous calls (SPEC §6): submit an extraction to a library-owned worker pool
//! and be called back when it is done; cancel it; wait for all; close and free the pool.
//!
//! Memory input is either copied during the submit (`vframe_submit_memory`, or a
//! `vframe_job` without `release`) or borrowed until the job's extraction ends, when the
//! caller's `release` is called (a `vframe_job` with `release`). The pool's bound (see
//! `pool`) caps how many jobs hold their input at once.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::boundary;
use super::options::vframe_options;
use super::pool::{Pool, Report, Wait};
use super::vframe_image;
use crate::error::{Error, Status};
use crate::{Image, Input, Options, Spec};

/// A pool of worker threads that run submitted extractions. Create it with
/// `vframe_pool_new` or `vframe_pool_new_with`, release it with `vframe_pool_free`.
///
/// A pool holds at most `threads + max_queued` jobs that have not finished their
/// extraction: with every worker busy, `max_queued` jobs wait in its queue. A job takes its
/// place when submitted and gives it back when its extraction ends (after a borrowed input
/// is released, before `done` is called). A submit that finds the pool full returns
/// `VFRAME_STATUS_BUSY` at once, or waits for a place as `vframe_job.wait_ms` allows.
///
/// A pool belongs to the process that created it. A child made by `fork()` inherits none
/// of its threads: there every submit and `vframe_cancel` return
/// `VFRAME_STATUS_INVALID_ARGUMENT` (submit with a message saying so), `vframe_pool_wait`
/// and `vframe_pool_close` return at once, and `vframe_pool_free` releases the pool without
/// waiting for anything and without calling any `done` or `release` (the jobs belong to the
/// parent, which runs them). Create a new pool in the child.
pub struct vframe_pool {
    pool: Pool,
}

/// Called once per submitted job, on a pool thread, when the job is done.
///
/// `status` is the outcome. `*image` holds the thumbnail on success (empty on failure) and
/// belongs to the callee, who releases it with `vframe_image_free` (copy the struct to keep
/// it past the call). `err` is the failure message, "" on success, valid only during the
/// call. `user` is the pointer given to the submit.
pub type vframe_done_fn =
    Option<unsafe extern "C" fn(status: Status, image: *mut vframe_image, err: *const c_char, user: *mut c_void)>;

/// Called once, on a pool thread, with `vframe_job.release_user` when the library no longer
/// reads a borrowed input (see `vframe_job.release`).
pub type vframe_release_fn = Option<unsafe extern "C" fn(release_user: *mut c_void)>;

/// One extraction to submit with `vframe_submit_job`. Zero it, then set `size` and what you
/// need, e.g. `vframe_job job = {.size = sizeof(vframe_job), .input_path = "a.mp4", .spec =
/// "vframe/jpg/offset/7", .done = on_done, .user = ctx, .wait_ms = 1000};`.
///
/// The input is `input_path`, or else the `len` bytes at `data` (a whole video file):
/// - `release` NULL: the bytes are copied during the submit; the caller may reuse them as
///   soon as it returns.
/// - `release` set: the bytes are borrowed, not copied. They must stay unchanged and
///   readable until the library calls `release(release_user)`, exactly once, on a pool
///   thread, when the job's extraction has ended (finished, failed or cancelled, also when
///   the pool is freed), before it calls the job's `done`. When the submit is refused (any
///   status but `VFRAME_STATUS_OK`), `release` is not called: the bytes stay the caller's.
///   Many jobs may borrow the same buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct vframe_job {
    /// `sizeof(vframe_job)` as the caller's header declares it. The library reads that many
    /// bytes: a library newer than the header takes the fields the caller's header did not
    /// have as zero; one older than the header refuses the job if a field it does not know
    /// is non-zero.
    pub size: usize,
    /// The video file to read, or NULL for memory input (`data`, `len`).
    pub input_path: *const c_char,
    /// The bytes of a whole video file (NULL only if `len` is 0); NULL when `input_path`
    /// is set.
    pub data: *const u8,
    /// Number of bytes at `data`.
    pub len: usize,
    /// NULL: `data` is copied. Set: `data` is borrowed until `release(release_user)`.
    pub release: vframe_release_fn,
    /// Given to `release`.
    pub release_user: *mut c_void,
    /// The operation, e.g. `"vframe/jpg/offset/7/w/480"` (copied during the submit).
    pub spec: *const c_char,
    /// Per-call limits, or NULL for `vframe_options_default()` (copied during the submit).
    pub opts: *const vframe_options,
    /// Called once when the job is done (not when the submit is refused).
    pub done: vframe_done_fn,
    /// Given to `done`.
    pub user: *mut c_void,
    /// How long the submit may wait for a place when the pool is full: 0 not at all
    /// (`VFRAME_STATUS_BUSY` at once), a positive number of milliseconds, or any negative
    /// value for as long as it takes. From one of the pool's own `done` or `release`
    /// callbacks it never waits.
    pub wait_ms: i64,
}

/// The size of the first `vframe_job`: every size from it up to ours is a version we read.
const FIRST_JOB_SIZE: usize = std::mem::size_of::<vframe_job>();

impl vframe_job {
    const ZEROED: vframe_job = vframe_job {
        size: 0,
        input_path: std::ptr::null(),
        data: std::ptr::null(),
        len: 0,
        release: None,
        release_user: std::ptr::null_mut(),
        spec: std::ptr::null(),
        opts: std::ptr::null(),
        done: None,
        user: std::ptr::null_mut(),
        wait_ms: 0,
    };
}

/// Creates a pool of `threads` worker threads (0: one per CPU; at most 1024) whose queue
/// holds 4 jobs per thread (see `vframe_pool`). Returns NULL if the threads cannot be
/// started or `threads` is too large.
///
/// Each job decodes on one worker; set `vframe_options.threads` to 1 to keep one core per
/// job when the pool has as many workers as cores.
#[no_mangle]
pub extern "C" fn vframe_pool_new(threads: u32) -> *mut vframe_pool {
    vframe_pool_new_with(threads, 0)
}

/// `vframe_pool_new` with the queue's bound: `max_queued` jobs may wait for a worker when
/// every worker is busy (0: 4 per thread). A submit finding the pool full gets
/// `VFRAME_STATUS_BUSY` or waits (see `vframe_job.wait_ms`). Jobs that copy their input
/// hold at most `threads + max_queued` copies at once.
#[no_mangle]
pub extern "C" fn vframe_pool_new_with(threads: u32, max_queued: u32) -> *mut vframe_pool {
    let mut created = std::ptr::null_mut();
    boundary::call(std::ptr::null_mut(), 0, || {
        let pool = Pool::new(threads as usize, max_queued as usize)?;
        created = Box::into_raw(Box::new(vframe_pool { pool }));
        Ok(())
    });
    created
}

/// Queues the extraction `*job` describes (see `vframe_job`) and returns, after waiting for
/// a place in a full pool as `job->wait_ms` allows.
///
/// The job's fields are checked first: on a bad one this returns its status (e.g.
/// `VFRAME_STATUS_INVALID_SPEC`) with a message in `err_buf`, without waiting. A pool still
/// full when the wait ends gives `VFRAME_STATUS_BUSY`; a pool closed or freed before or
/// while the submit waits gives `VFRAME_STATUS_CANCELLED`. On any of these, `done` and
/// `release` are never called. Otherwise it returns `VFRAME_STATUS_OK`, stores the job's id
/// in `*job_id` (if not NULL; before the job can start), and calls `release` (if set) and
/// then `done` exactly once later, on a pool thread — also when the job fails, is
/// cancelled, or the pool is freed. In a child made by `fork()` from the pool's creator it
/// returns `VFRAME_STATUS_INVALID_ARGUMENT` (see `vframe_pool`).
///
/// # Safety
/// `pool` must come from `vframe_pool_new*` and not be freed before the call starts (a
/// submit already waiting when `vframe_pool_free` runs is woken safely); `job` must point
/// to `job->size` readable bytes holding a `vframe_job` whose pointers are valid as its
/// fields say; `done` and `release` must be safe to call from any thread with their user
/// pointers; `job_id` NULL or writable; `err_buf` NULL or `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_submit_job(
    pool: *mut vframe_pool,
    job: *const vframe_job,
    job_id: *mut u64,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || {
        let job = job_arg(job)?;
        let input = || {
            if job.input_path.is_null() {
                let bytes = boundary::slice_arg(job.data, job.len, "job->data")?;
                return Ok(match job.release {
                    None => JobInput::Copied(bytes.to_vec()),
                    Some(release) => {
                        JobInput::Borrowed(Borrowed { data: job.data, len: job.len, release, user: job.release_user })
                    }
                });
            }
            if !job.data.is_null() || job.len != 0 || job.release.is_some() {
                return Err(Error::new(
                    Status::InvalidArgument,
                    "job->input_path and job->data are both set: give a file or bytes, not both",
                ));
            }
            Ok(JobInput::Path(boundary::path_arg(job.input_path, "job->input_path")?))
        };
        let wait = match job.wait_ms {
            0 => Wait::No,
            ms if ms < 0 => Wait::Forever,
            ms => Wait::For(Duration::from_millis(ms.unsigned_abs())),
        };
        let call = Call { pool, spec: job.spec, opts: job.opts, done: job.done, user: job.user, wait, job_id };
        call.submit(input)
    })
}

/// What every submit has besides its input.
struct Call {
    pool: *mut vframe_pool,
    spec: *const c_char,
    opts: *const vframe_options,
    done: vframe_done_fn,
    user: *mut c_void,
    wait: Wait,
    job_id: *mut u64,
}

impl Call {
    /// Checks the arguments in order (pool, spec, options, input, done), then queues the job.
    /// Nothing the input borrows is released when this fails: it stays the caller's.
    fn submit(self, input: impl FnOnce() -> Result<JobInput, Error>) -> Result<(), Error> {
        let pool = boundary::ref_arg(self.pool, "pool")?.pool.handle().clone();
        let (spec, options) = (boundary::spec_arg(self.spec)?, boundary::options_arg(self.opts)?);
        let job = Job::new(input()?, spec, options, self.done, self.user)?;
        pool.submit(Box::new(move |cancel| job.run(cancel)), self.wait, boundary::optional_out_arg(self.job_id))?;
        Ok(())
    }
}

/// The `job` argument, read as its `size` says (see `vframe_job.size`).
fn job_arg(ptr: *const vframe_job) -> Result<vframe_job, Error> {
    let size = *boundary::ref_arg(ptr.cast::<usize>(), "job")?;
    let known = std::mem::size_of::<vframe_job>();
    if size < FIRST_JOB_SIZE {
        return Err(Error::new(
            Status::InvalidArgument,
            format!("job->size is {size}: set it to sizeof(vframe_job) (at least {FIRST_JOB_SIZE})"),
        ));
    }
    let bytes = boundary::slice_arg(ptr.cast::<u8>(), size, "job")?;
    if bytes[known..].iter().any(|&b| b != 0) {
        return Err(Error::new(
            Status::InvalidArgument,
            format!(
                "job->size is {size}, and this library's vframe_job has {known} bytes: the caller's header is \
                 newer than the library and sets a field the library does not know"
            ),
        ));
    }
    let mut job = vframe_job::ZEROED;
    // SAFETY: `bytes` holds `size` >= known readable bytes of the caller's vframe_job (whose
    // layout starts with ours); `job` is a vframe_job of `known` bytes, and every bit
    // pattern the caller's header allows for these fields is a valid Rust value (raw
    // pointers, integers, and function pointers that C sets to NULL or a function).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut job as *mut vframe_job).cast::<u8>(), known) };
    Ok(job)
}

/// Queues the extraction of `spec` from the file at `input_path` and returns at once:
/// `vframe_submit_job` with a `vframe_job` that never waits (a full pool gives
/// `VFRAME_STATUS_BUSY`).
///
/// The spec, the options and the arguments are checked now: on a bad one this returns its
/// status (e.g. `VFRAME_STATUS_INVALID_SPEC`) with a message in `err_buf`, and `done` is
/// never called. Otherwise it returns `VFRAME_STATUS_OK`, stores the job's id in `*job_id`
/// (if not NULL; before the job can start), and `done` is called exactly once later, on a
/// pool thread, with `user` — also when the job fails, is cancelled, or the pool is freed.
/// In a child made by `fork()` from the pool's creator it returns
/// `VFRAME_STATUS_INVALID_ARGUMENT` (see `vframe_pool`).
///
/// # Safety
/// `pool` must come from `vframe_pool_new*` and not be freed; `input_path` and `spec` must
/// be NUL-terminated strings (copied, so they may be freed on return); `opts` NULL or a
/// `vframe_options`; `done` a function safe to call from any thread with `user`; `job_id`
/// NULL or writable; `err_buf` NULL or `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_submit(
    pool: *mut vframe_pool,
    input_path: *const c_char,
    spec: *const c_char,
    opts: *const vframe_options,
    done: vframe_done_fn,
    user: *mut c_void,
    job_id: *mut u64,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || {
        let call = Call { pool, spec, opts, done, user, wait: Wait::No, job_id };
        call.submit(|| Ok(JobInput::Path(boundary::path_arg(input_path, "input_path")?)))
    })
}

/// `vframe_submit` for the bytes of a whole video file in memory; the bytes are copied, so
/// the caller may release them as soon as this returns. To have many jobs read one buffer
/// without a copy each, borrow it with `vframe_submit_job` and a `release` callback.
///
/// # Safety
/// As `vframe_submit`; `data` must point to `len` readable bytes (NULL only if `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn vframe_submit_memory(
    pool: *mut vframe_pool,
    data: *const u8,
    len: usize,
    spec: *const c_char,
    opts: *const vframe_options,
    done: vframe_done_fn,
    user: *mut c_void,
    job_id: *mut u64,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || {
        let call = Call { pool, spec, opts, done, user, wait: Wait::No, job_id };
        call.submit(|| Ok(JobInput::Copied(boundary::slice_arg(data, len, "data")?.to_vec())))
    })
}

/// Asks job `job_id` to stop: it finishes promptly and `done` gets
/// `VFRAME_STATUS_CANCELLED` (or the job's real result if it finished first). Cancelling a
/// finished job is harmless and returns `VFRAME_STATUS_OK`; an id this pool never gave out,
/// or a call in a child made by `fork()`, returns `VFRAME_STATUS_INVALID_ARGUMENT`. Safe
/// from any thread, including `done`.
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new*` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn vframe_cancel(pool: *mut vframe_pool, job_id: u64) -> Status {
    boundary::call(std::ptr::null_mut(), 0, || boundary::ref_arg(pool, "pool")?.pool.handle().cancel(job_id))
}

/// Blocks until the pool has no unfinished job: every job submitted before this call, and
/// any submitted while it waits, has called its `done` (a `done` that submits a follow-up
/// has it waited for too, so a chain of jobs that never ends keeps this waiting: close the
/// pool to end it). Called from a `done` callback it returns at once (that job cannot
/// finish while it waits), and so it does in a child made by `fork()` (the jobs run in the
/// parent). NULL is a no-op.
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new*` and not be freed before the call
/// starts (a wait already running when `vframe_pool_free` runs returns safely once the
/// freed pool's jobs have called `done`).
#[no_mangle]
pub unsafe extern "C" fn vframe_pool_wait(pool: *mut vframe_pool) {
    boundary::call(std::ptr::null_mut(), 0, || {
        if let Some(pool) = boundary::optional_ref_arg(pool) {
            // A handle of its own: another thread may free the pool while this waits.
            let handle = pool.pool.handle().clone();
            handle.wait();
        }
        Ok(())
    });
}

/// Stops the pool taking jobs, without waiting and without freeing it: every unfinished
/// job is cancelled (each still calls `done`, with `VFRAME_STATUS_CANCELLED` or its result
/// if it finished first), submits waiting for a place return `VFRAME_STATUS_CANCELLED` at
/// once, and so does every later submit. The pool stays valid: `vframe_pool_wait` then waits
/// for the cancelled jobs, and `vframe_pool_free` releases it. Safe from any thread, while
/// other threads submit. To stop threads that submit with a wait: close, join them, then
/// free. A second call changes nothing; in a child made by `fork()` it does nothing. NULL
/// is a no-op.
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new*` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn vframe_pool_close(pool: *mut vframe_pool) {
    boundary::call(std::ptr::null_mut(), 0, || {
        if let Some(pool) = boundary::optional_ref_arg(pool) {
            pool.pool.handle().close();
        }
        Ok(())
    });
}

/// Closes the pool (see `vframe_pool_close`: cancels every unfinished job and wakes submits
/// waiting for a place, which return `VFRAME_STATUS_CANCELLED`), waits until each job has
/// called its `done` (queued jobs with `VFRAME_STATUS_CANCELLED`), stops the threads and
/// releases the pool. NULL is a no-op. Call it from outside the pool's callbacks: from a
/// callback it cannot wait for itself. While it runs, a `done` callback's own submit is
/// refused with `VFRAME_STATUS_CANCELLED`. No call may start on the pool once this has begun
/// (a submit waiting for a place, or a `vframe_pool_wait`, already running is fine): when
/// other threads may still submit, call `vframe_pool_close` first and join them. In a
/// child made by `fork()` it only releases the pool: no waiting, no `done` (what the
/// parent's threads hold stays allocated in the child).
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new*`, and not be used after this call.
#[no_mangle]
pub unsafe extern "C" fn vframe_pool_free(pool: *mut vframe_pool) {
    boundary::call(std::ptr::null_mut(), 0, || {
        if !pool.is_null() {
            // SAFETY: the pool came from Box::into_raw in vframe_pool_new_with and the caller
            // gives up its pointer; dropping the Pool closes, drains and joins. Submits still
            // waiting hold the shared state, not this box.
            drop(unsafe { Box::from_raw(pool) });
        }
        Ok(())
    });
}

/// Where a job's video comes from.
enum JobInput {
    Path(PathBuf),
    /// The caller's bytes, copied during the submit.
    Copied(Vec<u8>),
    /// The caller's bytes, read in place until released.
    Borrowed(Borrowed),
}

/// A caller's buffer read in place, and how to give it back.
struct Borrowed {
    data: *const u8,
    len: usize,
    release: unsafe extern "C" fn(*mut c_void),
    user: *mut c_void,
}

// SAFETY: the caller lends the buffer to the pool's threads until `release`, which it
// promises is safe to call from any thread (vframe_job's contract); vframe only reads the
// buffer and passes `user` back.
unsafe impl Send for Borrowed {}

impl Borrowed {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller keeps `len` bytes at `data` readable and unchanged until
        // `release` is called, which takes `self`.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }

    /// Gives the buffer back: the library reads it no more.
    fn release(self) {
        // SAFETY: called once (it takes self), with the caller's own pointer.
        unsafe { (self.release)(self.user) }
    }
}

impl JobInput {
    /// Ends the job's use of its input: a borrowed buffer is given back.
    fn release(self) {
        if let JobInput::Borrowed(borrowed) = self {
            borrowed.release();
        }
    }
}

/// The caller's `user` pointer, carried to the pool thread that calls `done`.
struct UserData(*mut c_void);

// SAFETY: the caller hands `user` over knowing `done` is called with it on a pool thread
// (vframe_submit's contract); vframe never dereferences it, it only passes it back.
unsafe impl Send for UserData {}

/// One submitted extraction and whom to tell about it.
struct Job {
    input: JobInput,
    spec: Spec,
    options: Options,
    done: unsafe extern "C" fn(Status, *mut vframe_image, *const c_char, *mut c_void),
    user: UserData,
}

impl Job {
    fn new(
        input: JobInput,
        spec: Spec,
        options: Options,
        done: vframe_done_fn,
        user: *mut c_void,
    ) -> Result<Job, Error> {
        let done = done.ok_or_else(|| Error::new(Status::InvalidArgument, "done is NULL"))?;
        Ok(Job { input, spec, options, done, user: UserData(user) })
    }

    /// The job's work: the extraction (unless it was cancelled while queued), then the input
    /// given back. Returns the report, which calls `done` once the job's place is free.
    fn run(self, cancel: &Arc<AtomicBool>) -> Report {
        let Job { input, spec, mut options, done, user } = self;
        let result = if cancel.load(Ordering::Relaxed) {
            Err(Error::new(Status::Cancelled, "cancelled by the caller"))
        } else {
            options.cancel = Some(Arc::clone(cancel));
            let input = match &input {
                JobInput::Path(path) => Input::Path(path),
                JobInput::Copied(bytes) => Input::Memory(bytes),
                JobInput::Borrowed(borrowed) => Input::Memory(borrowed.bytes()),
            };
            catch_unwind(AssertUnwindSafe(|| crate::extract(input, &spec, &options)))
                .unwrap_or_else(|panic| Err(boundary::panic_error(&*panic)))
        };
        input.release();
        Box::new(move || report(result, done, user))
    }
}

/// Calls the job's `done` with its outcome.
fn report(
    result: Result<Image, Error>,
    done: unsafe extern "C" fn(Status, *mut vframe_image, *const c_char, *mut c_void),
    user: UserData,
) {
    let (status, mut image, message) = match result {
        Ok(image) => (Status::Ok, vframe_image::from_image(image), CString::default()),
        Err(e) => {
            // Messages never hold NUL; should one ever, C still gets all of it but a byte.
            let text = e.message().replace('\0', " ");
            (e.status(), vframe_image::EMPTY, CString::new(text).unwrap_or_default())
        }
    };
    // SAFETY: `done` is the caller's callback for this job, called once with a valid
    // image it now owns, a NUL-terminated message that outlives the call, and `user`.
    unsafe { done(status, &mut image, message.as_ptr(), user.0) };
}
