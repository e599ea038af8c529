//! vframe: the frame of a video at a given moment, as a JPEG or PNG thumbnail.
//!
//! It implements the Qiniu cloud's `vframe` operation
//! (`vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Degree>]`) over the system's
//! FFmpeg: the exact frame (not the nearest keyframe), the right way up, the right shape.
//!
//! Layers, in the order data flows: [`spec`] parses the operation string; `source` opens and
//! probes the input; `select` finds the exact frame for each target; `present` tone-maps,
//! scales, orients and encodes it; `extract` strings them together for one-shot calls,
//! `sample` for many frames of one video (Qiniu's `vsample`) and `storyboard` for tiled
//! sheets with their WebVTT and JSON index.
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
mod image;
mod present;
mod sample;
mod select;
mod source;
pub mod spec;
mod storyboard;

pub use error::{Error, Status};
pub use sample::{Sample, SampleFrame};
pub use spec::{Every, Format, Look, Mode, Operation, Rotate, SampleSpec, Spec, StoryboardSpec};
pub use storyboard::{Sheet, SheetInfo, Step, Storyboard, StoryboardIndex, Tile, MAX_SHEET_PIXELS, MAX_SHEET_SIDE};

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
    /// Wall-clock limit for the whole call; `None` for no limit.
    pub timeout: Option<Duration>,
    /// The most frames one call may decode (packets are bounded at four times this).
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
    /// The JPEG, PNG or WebP file's bytes.
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
    extract::decode_frame(input, offset_ms, Mode::Exact, options)
}

/// The keyframe `/mode/fast` selects for `offset_ms` (the keyframe at or before it),
/// unconverted, with its time.
pub fn decode_keyframe(input: Input<'_>, offset_ms: u64, options: &Options) -> Result<DecodedFrame, Error> {
    extract::decode_frame(input, offset_ms, Mode::Fast, options)
}

/// Every frame of a `vsample` of `input`, in time order (see [`Sample`] to stream them
/// instead of holding them all).
pub fn sample(input: Input<'_>, spec: &SampleSpec, options: &Options) -> Result<Vec<SampleFrame>, Error> {
    Sample::open(input, spec, options)?.collect()
}

/// A whole storyboard of `input`: its sheets and its index (see [`Storyboard`] to stream
/// the sheets instead of holding them all).
pub fn storyboard(
    input: Input<'_>,
    spec: &StoryboardSpec,
    options: &Options,
) -> Result<(Vec<Sheet>, StoryboardIndex), Error> {
    let mut board = Storyboard::open(input, spec, options)?;
    let sheets = board.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((sheets, board.index().clone()))
}
