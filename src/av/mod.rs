//! Safe, owning wrappers over the raw FFmpeg API (libavformat, libavcodec, libswscale,
//! libavfilter, loaded at run time: see `tonemap`).
//!
//! This module and `crate::capi` are the only places with `unsafe` code. Each FFmpeg object
//! has one RAII type here; raw pointers never leave this module. Every FFmpeg return code
//! goes through [`check`], and version differences live in [`compat`] alone.

mod bsf;
mod compat;
mod decoder;
mod demuxer;
mod encoder;
mod frame;
mod hevc;
mod interrupt;
mod io;
mod packet;
mod scaler;
mod tonemap;

use std::ffi::{c_char, c_int, CStr};
use std::sync::Once;

use ffmpeg_sys_next as ffi;

use crate::error::{Error, Status};

pub(crate) use decoder::{Decoder, Flow};
pub(crate) use demuxer::{Demuxer, Probe, StreamInfo};
pub(crate) use encoder::{encode_webp, WEBP_MAX_SIDE};
pub(crate) use frame::Frame;
pub(crate) use hevc::{starts_irap, NalFraming};
pub(crate) use interrupt::Interrupt;
pub(crate) use io::{Bytes, OpenFile, Reader};
pub(crate) use packet::Packet;
pub(crate) use scaler::Scaler;
pub(crate) use tonemap::ToneMapper;

/// The AVERROR text for `code`.
pub(crate) fn error_text(code: c_int) -> String {
    let mut buf = [0 as c_char; 128];
    // SAFETY: the buffer is writable for its whole length and av_strerror NUL-terminates it.
    let known = unsafe { ffi::av_strerror(code, buf.as_mut_ptr(), buf.len()) } == 0;
    if !known {
        return format!("FFmpeg error {code}");
    }
    // SAFETY: av_strerror wrote a NUL-terminated string into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// Turns an FFmpeg return code into a `Result`: negative codes become an error of class
/// `status` whose message says what failed (`what`) and FFmpeg's reason.
pub(crate) fn check(ret: c_int, status: Status, what: &str) -> Result<c_int, Error> {
    if ret >= 0 {
        Ok(ret)
    } else {
        Err(Error::new(status, format!("{what}: {}", error_text(ret))))
    }
}

/// Global FFmpeg set-up, once per process: FFmpeg's own log stays quiet (errors reach the
/// caller as messages instead) unless `VFRAME_FFMPEG_LOG` is set.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("VFRAME_FFMPEG_LOG").is_none() {
            // SAFETY: sets a global integer; FFmpeg reads it atomically enough for logging.
            unsafe { ffi::av_log_set_level(ffi::AV_LOG_QUIET) };
        }
    });
}

/// A rational number as FFmpeg stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rational {
    pub num: i32,
    pub den: i32,
}

impl Rational {
    fn from_av(r: ffi::AVRational) -> Rational {
        Rational { num: r.num, den: r.den }
    }

    /// Whether this is a usable positive ratio.
    pub fn is_valid(self) -> bool {
        self.num > 0 && self.den > 0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

/// `AV_NOPTS_VALUE` as an `Option`.
fn ts(value: i64) -> Option<i64> {
    (value != ffi::AV_NOPTS_VALUE).then_some(value)
}

/// The counter-clockwise rotation in degrees of a display matrix (NaN if degenerate).
pub(crate) fn display_rotation(matrix: &[i32; 9]) -> f64 {
    // SAFETY: reads exactly nine int32 from the array.
    unsafe { ffi::av_display_rotation_get(matrix.as_ptr()) }
}
