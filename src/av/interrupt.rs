//! The per-call deadline and cancel flag, polled by FFmpeg's interrupt callback while it
//! blocks in I/O and by the decode loop between packets.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Status};

/// Why a call must stop: `None` while it may go on.
pub(crate) struct Interrupt {
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    cancel: Option<Arc<AtomicBool>>,
    /// The status that fired, 0 while none has: FFmpeg's callback may run on any thread.
    fired: AtomicU32,
}

impl Interrupt {
    pub fn new(timeout: Option<Duration>, cancel: Option<Arc<AtomicBool>>) -> Interrupt {
        Interrupt {
            // A timeout the clock cannot represent is no limit at all.
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            timeout,
            cancel,
            fired: AtomicU32::new(0),
        }
    }

    /// Whether the call must stop now; remembers why.
    pub fn should_stop(&self) -> bool {
        if self.fired.load(Ordering::Relaxed) != 0 {
            return true;
        }
        let status = if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            Status::Cancelled
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
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
