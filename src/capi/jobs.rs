//! The asynchronous calls (SPEC §6): submit an extraction to a library-owned worker pool
//! and be called back when it is done; cancel it; wait for all; free the pool.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::boundary;
use super::options::vframe_options;
use super::pool::Pool;
use super::vframe_image;
use crate::error::{Error, Status};
use crate::{Input, Options, Spec};

/// A pool of worker threads that run submitted extractions. Create it with
/// `vframe_pool_new`, release it with `vframe_pool_free`.
///
/// A pool belongs to the process that created it. A child made by `fork()` inherits none
/// of its threads: there `vframe_submit`, `vframe_submit_memory` and `vframe_cancel` return
/// `VFRAME_STATUS_INVALID_ARGUMENT` (submit with a message saying so), `vframe_pool_wait`
/// returns at once, and `vframe_pool_free` releases the pool without waiting for anything
/// and without calling any `done` (the jobs belong to the parent, which runs them). Create
/// a new pool in the child.
pub struct vframe_pool {
    pool: Pool,
}

/// Called once per submitted job, on a pool thread, when the job is done.
///
/// `status` is the outcome. `*image` holds the thumbnail on success (empty on failure) and
/// belongs to the callee, who releases it with `vframe_image_free` (copy the struct to keep
/// it past the call). `err` is the failure message, "" on success, valid only during the
/// call. `user` is the pointer given to `vframe_submit`.
pub type vframe_done_fn =
    Option<unsafe extern "C" fn(status: Status, image: *mut vframe_image, err: *const c_char, user: *mut c_void)>;

/// Creates a pool of `threads` worker threads (0: one per CPU; at most 1024). Returns NULL
/// if the threads cannot be started or `threads` is too large.
///
/// Each job decodes on one worker; set `vframe_options.threads` to 1 to keep one core per
/// job when the pool has as many workers as cores.
#[no_mangle]
pub extern "C" fn vframe_pool_new(threads: u32) -> *mut vframe_pool {
    let mut created = std::ptr::null_mut();
    boundary::call(std::ptr::null_mut(), 0, || {
        let pool = Pool::new(threads as usize)?;
        created = Box::into_raw(Box::new(vframe_pool { pool }));
        Ok(())
    });
    created
}

/// Queues the extraction of `spec` from the file at `input_path` and returns at once.
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
/// `pool` must come from `vframe_pool_new` and not be freed; `input_path` and `spec` must
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
        let pool = boundary::ref_arg(pool, "pool")?;
        let (spec, options) = (boundary::spec_arg(spec)?, boundary::options_arg(opts)?);
        let input = JobInput::Path(boundary::path_arg(input_path, "input_path")?);
        let job = Job::new(input, spec, options, done, user)?;
        pool.pool.submit(Box::new(move |cancel| job.run(cancel)), boundary::optional_out_arg(job_id))?;
        Ok(())
    })
}

/// `vframe_submit` for the bytes of a whole video file in memory; the bytes are copied, so
/// the caller may release them as soon as this returns.
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
        let pool = boundary::ref_arg(pool, "pool")?;
        let (spec, options) = (boundary::spec_arg(spec)?, boundary::options_arg(opts)?);
        let input = JobInput::Memory(boundary::slice_arg(data, len, "data")?.to_vec());
        let job = Job::new(input, spec, options, done, user)?;
        pool.pool.submit(Box::new(move |cancel| job.run(cancel)), boundary::optional_out_arg(job_id))?;
        Ok(())
    })
}

/// Asks job `job_id` to stop: it finishes promptly and `done` gets
/// `VFRAME_STATUS_CANCELLED` (or the job's real result if it finished first). Cancelling a
/// finished job is harmless and returns `VFRAME_STATUS_OK`; an id this pool never gave out,
/// or a call in a child made by `fork()`, returns `VFRAME_STATUS_INVALID_ARGUMENT`. Safe
/// from any thread, including `done`.
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn vframe_cancel(pool: *mut vframe_pool, job_id: u64) -> Status {
    boundary::call(std::ptr::null_mut(), 0, || boundary::ref_arg(pool, "pool")?.pool.cancel(job_id))
}

/// Blocks until every job submitted so far has called its `done`. Called from a `done`
/// callback it returns at once (that job cannot finish while it waits), and so it does in a
/// child made by `fork()` (the jobs run in the parent). NULL is a no-op.
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn vframe_pool_wait(pool: *mut vframe_pool) {
    boundary::call(std::ptr::null_mut(), 0, || {
        if let Some(pool) = boundary::optional_ref_arg(pool) {
            pool.pool.wait();
        }
        Ok(())
    });
}

/// Cancels every unfinished job, waits until each has called its `done` (queued jobs with
/// `VFRAME_STATUS_CANCELLED`), stops the threads and releases the pool. NULL is a no-op.
/// Call it from outside the pool's callbacks: from a callback it cannot wait for itself.
/// While it runs, a `done` callback's own `vframe_submit` is refused with
/// `VFRAME_STATUS_CANCELLED`. In a child made by `fork()` it only releases the pool: no
/// waiting, no `done` (what the parent's threads hold stays allocated in the child).
///
/// # Safety
/// `pool` must be NULL or come from `vframe_pool_new`, and not be used after this call.
#[no_mangle]
pub unsafe extern "C" fn vframe_pool_free(pool: *mut vframe_pool) {
    boundary::call(std::ptr::null_mut(), 0, || {
        if !pool.is_null() {
            // SAFETY: the pool came from Box::into_raw in vframe_pool_new and the caller
            // gives up its pointer; dropping the Pool cancels, drains and joins.
            drop(unsafe { Box::from_raw(pool) });
        }
        Ok(())
    });
}

/// Where a job's video comes from; owned, since the caller's buffers are gone by then.
enum JobInput {
    Path(PathBuf),
    Memory(Vec<u8>),
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

    /// Runs the extraction unless it was cancelled while queued, then calls `done`.
    fn run(self, cancel: &Arc<AtomicBool>) {
        let Job { input, spec, mut options, done, user } = self;
        let result = if cancel.load(Ordering::Relaxed) {
            Err(Error::new(Status::Cancelled, "cancelled by the caller"))
        } else {
            options.cancel = Some(Arc::clone(cancel));
            let input = match &input {
                JobInput::Path(path) => Input::Path(path),
                JobInput::Memory(bytes) => Input::Memory(bytes),
            };
            catch_unwind(AssertUnwindSafe(|| crate::extract(input, &spec, &options)))
                .unwrap_or_else(|panic| Err(boundary::panic_error(&*panic)))
        };
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
}
