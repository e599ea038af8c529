//! The per-call deadline and cancel flag, polled by FFmpeg's interrupt callback while it
//! blocks in I/O and by the decode loop between packets.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Status};

/// Why a call must stop: `None` while it may go on.
pub(crate) struct Interrupt {
    /// What the deadline is counted from.
    epoch: Instant,
    /// Nanoseconds from `epoch` to the deadline; `NO_DEADLINE` for none. Atomic, so that a
    /// new call on the same input can start the limit again while FFmpeg holds a pointer.
    deadline: AtomicU64,
    timeout: Option<Duration>,
    cancel: Option<Arc<AtomicBool>>,
    /// The status that fired, 0 while none has: FFmpeg's callback may run on any thread.
    fired: AtomicU32,
}

const NO_DEADLINE: u64 = u64::MAX;

impl Interrupt {
    pub fn new(timeout: Option<Duration>, cancel: Option<Arc<AtomicBool>>) -> Interrupt {
        let interrupt = Interrupt {
            epoch: Instant::now(),
            deadline: AtomicU64::new(NO_DEADLINE),
            timeout,
            cancel,
            fired: AtomicU32::new(0),
        };
        interrupt.restart();
        interrupt
    }

    /// Starts the time limit again from now and forgets a timeout that fired: each call on
    /// an open input gets the whole limit. (A set cancel flag fires again at once.)
    pub fn restart(&self) {
        // A timeout the clock cannot represent is no limit at all.
        let deadline = self
            .timeout
            .and_then(|t| self.epoch.elapsed().checked_add(t))
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(NO_DEADLINE);
        self.deadline.store(deadline, Ordering::Relaxed);
        self.fired.store(0, Ordering::Relaxed);
    }

    fn past_deadline(&self) -> bool {
        let deadline = self.deadline.load(Ordering::Relaxed);
        deadline != NO_DEADLINE && self.epoch.elapsed().as_nanos() >= u128::from(deadline)
    }

    /// Whether the call must stop now; remembers why.
    pub fn should_stop(&self) -> bool {
        if self.fired.load(Ordering::Relaxed) != 0 {
            return true;
        }
        let status = if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            Status::Cancelled
        } else if self.past_deadline() {
            Status::Timeout
        } else {
            return false;
        };
        self.fired.store(status as u32, Ordering::Relaxed);
        true
    }

    /// The error for a call that was stopped, if it was.
    pub fn error(&self) -> Option<Error> {
        match self.fired.load(Ordering::Relaxed) {
            0 => None,
            x if x == Status::Cancelled as u32 => Some(Error::new(Status::Cancelled, "cancelled by the caller")),
            _ => Some(Error::new(
                Status::Timeout,
                format!("time limit of {:.3} s exceeded", self.timeout.unwrap_or_default().as_secs_f64()),
            )),
        }
    }

    /// Polls `should_stop` and returns its error: for loops that FFmpeg does not interrupt.
    pub fn poll(&self) -> Result<(), Error> {
        if self.should_stop() {
            Err(self.error().expect("should_stop recorded a reason"))
        } else {
            Ok(())
        }
    }
}

/// FFmpeg's `AVIOInterruptCB.callback`: non-zero aborts the blocking operation.
pub(super) unsafe extern "C" fn callback(opaque: *mut c_void) -> c_int {
    // SAFETY: opaque is the `Interrupt` owned by the `Demuxer` that registered this
    // callback, and the demuxer outlives every FFmpeg call that may invoke it.
    let interrupt = unsafe { &*(opaque as *const Interrupt) };
    // should_stop cannot panic: it only reads atomics and the clock.
    c_int::from(interrupt.should_stop())
}
