//! `vframe_options`: the per-call limits of the C ABI and their conversion to [`Options`].

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Status};
use crate::{Options, DEFAULT_MAX_DECODED_FRAMES, DEFAULT_MAX_INPUT_PIXELS, DEFAULT_TIMEOUT};

/// The most decoder threads one call may ask for (FFmpeg keeps its count in an `int`, and
/// more threads than this only cost memory).
const MAX_THREADS: u32 = 1024;

/// Per-call limits. Start from `vframe_options_default()` and change what you need; a
/// zeroed struct means "no time limit, library defaults for the rest".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct vframe_options {
    /// Wall-clock limit of the whole call in milliseconds; 0 means no time limit.
    pub timeout_ms: u32,
    /// Decoder threads; 0 lets vframe choose (one per CPU, one for a frame near its keyframe). At most 1024.
    pub threads: u32,
    /// The most frames one call may decode; 0 means the library default (120000).
    pub max_decoded_frames: u64,
    /// The largest coded picture (width x height) accepted; 0 means the library default
    /// (16384 x 16384).
    pub max_input_pixels: u64,
}

impl vframe_options {
    /// The core's options for these limits, with `cancel` as the cancel flag.
    pub(super) fn to_options(self, cancel: Option<Arc<AtomicBool>>) -> Result<Options, Error> {
        if self.threads > MAX_THREADS {
            return Err(Error::new(
                Status::InvalidArgument,
                format!("options.threads is {}, the most is {MAX_THREADS}", self.threads),
            ));
        }
        let or_default = |value: u64, default: u64| if value == 0 { default } else { value };
        Ok(Options {
            timeout: (self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms.into())),
            threads: self.threads,
            max_decoded_frames: or_default(self.max_decoded_frames, DEFAULT_MAX_DECODED_FRAMES),
            max_input_pixels: or_default(self.max_input_pixels, DEFAULT_MAX_INPUT_PIXELS),
            cancel,
        })
    }
}

impl Default for vframe_options {
    fn default() -> vframe_options {
        let timeout_ms = u32::try_from(DEFAULT_TIMEOUT.as_millis()).unwrap_or(u32::MAX);
        vframe_options {
            timeout_ms,
            threads: 0,
            max_decoded_frames: DEFAULT_MAX_DECODED_FRAMES,
            max_input_pixels: DEFAULT_MAX_INPUT_PIXELS,
        }
    }
}

/// The safe defaults for untrusted input: a 60 s time limit, 120000 decoded frames,
/// 16384 x 16384 pixels, automatic decoder threads.
#[no_mangle]
pub extern "C" fn vframe_options_default() -> vframe_options {
    vframe_options::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c_defaults_are_the_core_defaults() {
        let core = Options::default();
        let converted = vframe_options_default().to_options(None).unwrap();
        assert_eq!(converted.timeout, core.timeout);
        assert_eq!(converted.max_decoded_frames, core.max_decoded_frames);
        assert_eq!(converted.max_input_pixels, core.max_input_pixels);
        assert_eq!(converted.threads, core.threads);
    }

    #[test]
    fn zero_means_no_time_limit_and_default_limits() {
        let zeroed = vframe_options { timeout_ms: 0, threads: 0, max_decoded_frames: 0, max_input_pixels: 0 };
        let converted = zeroed.to_options(None).unwrap();
        assert_eq!(converted.timeout, None);
        assert_eq!(converted.max_decoded_frames, DEFAULT_MAX_DECODED_FRAMES);
        assert_eq!(converted.max_input_pixels, DEFAULT_MAX_INPUT_PIXELS);
    }

    #[test]
    fn absurd_thread_counts_are_refused() {
        let options = vframe_options { threads: u32::MAX, ..vframe_options::default() };
        assert_eq!(options.to_options(None).unwrap_err().status(), Status::InvalidArgument);
    }
}
