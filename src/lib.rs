//! vframe: the frame of a video at a given moment, as a JPEG or PNG thumbnail.
//!
//! It implements the Qiniu cloud's `vframe` operation
//! (`vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Degree>]`) over the system's
//! FFmpeg: the exact frame (not the nearest keyframe), the right way up, the right shape.
//!
//! Layers, in the order data flows: [`spec`] parses the operation string; `source` opens and
//! probes the input; `select` finds the exact frame for each target; `present` tone-maps,
//! scales, orients and encodes it; [`Source`] (in `handle`) strings them together for many
//! extractions from one input, and `extract` uses it once for the one-shot calls.
//! `geometry`, `image` and `encode` are pure Rust; `av` wraps FFmpeg (unsafe lives there
//! and in `capi`, the C ABI, only).
//!
//! ```no_run
//! let image = vframe::extract_path("movie.mp4", "vframe/jpg/offset/7/w/480")?;
//! std::fs::write("thumb.jpg", &image.data)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

mod av;
pub mod capi;
mod encode;
mod error;
mod extract;
mod geometry;
mod handle;
mod image;
mod present;
mod select;
mod source;
pub mod spec;

#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_common;

pub use error::{Error, Status};
pub use handle::Source;
pub use spec::{Format, Rotate, Spec};

/// Where the video comes from.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A local file: vframe opens exactly this file and nothing else.
    Path(&'a Path),
    /// The bytes of a whole file.
    Memory(&'a [u8]),
}

/// Per-call limits and controls. `Options::default()` is safe for untrusted input.
#[derive(Clone, Debug)]
pub struct Options {
    /// Wall-clock limit for the whole call (each call on a [`Source`], its open included);
    /// `None` for no limit.
    pub timeout: Option<Duration>,
    /// The most frames decoded to find one frame (packets are bounded at four times this):
    /// per call, and per thumbnail in a batch or on a [`Source`].
    pub max_decoded_frames: u64,
    /// The largest coded picture (width x height) accepted.
    pub max_input_pixels: u64,
    /// Decoder threads; 0 lets FFmpeg choose (one per core).
    pub threads: u32,
    /// Set to `true` from any thread to make the call stop with [`Status::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Default time limit of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default limit on decoded frames per call: about an hour at 30 fps.
pub const DEFAULT_MAX_DECODED_FRAMES: u64 = 120_000;
/// Default limit on the coded picture size: 16384 x 16384.
pub const DEFAULT_MAX_INPUT_PIXELS: u64 = 16384 * 16384;

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Some(DEFAULT_TIMEOUT),
            max_decoded_frames: DEFAULT_MAX_DECODED_FRAMES,
            max_input_pixels: DEFAULT_MAX_INPUT_PIXELS,
            threads: 0,
            cancel: None,
        }
    }
}

/// An encoded thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The JPEG or PNG file's bytes.
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

/// A decoded picture exactly as the decoder produced it (before any conversion).
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    pub width: u32,
    pub height: u32,
    /// FFmpeg's name of the pixel format (`yuv420p`, `yuv420p10le`, ...).
    pub pixel_format: String,
    /// The planes packed without padding, as `ffmpeg -f rawvideo` writes them.
    pub data: Vec<u8>,
    /// Presentation time in seconds from the stream's first frame.
    pub time: f64,
}

/// Extracts the thumbnail `spec` describes from `input`.
pub fn extract(input: Input<'_>, spec: &Spec, options: &Options) -> Result<Image, Error> {
    extract::extract(input, spec, options)
}

/// Extracts from a file with a spec string and default options.
pub fn extract_path(path: impl AsRef<Path>, spec: &str) -> Result<Image, Error> {
    extract(Input::Path(path.as_ref()), &spec.parse()?, &Options::default())
}

/// Many thumbnails of one input in one call, one result per spec (in the order given).
///
/// The offsets are visited in time order over one demuxer and decoder, decoding on instead
/// of seeking when the next offset is in the same GOP, so N thumbnails cost clearly less
/// than N calls of [`extract`]. `options.timeout` bounds the whole call.
pub fn extract_many(input: Input<'_>, specs: &[Spec], options: &Options) -> Vec<Result<Image, Error>> {
    extract::extract_many(input, specs, options)
}

/// The decoded frame SPEC §2 selects for `offset_ms`, unconverted: what
/// `ffmpeg -i FILE -ss T -frames:v 1 -f rawvideo` gives, bit for bit.
pub fn decode_frame(input: Input<'_>, offset_ms: u64, options: &Options) -> Result<DecodedFrame, Error> {
    extract::decode_frame(input, offset_ms, options)
}
