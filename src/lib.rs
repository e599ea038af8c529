//! vframe: the frame of a video at a given moment, as a JPEG or PNG thumbnail.
//!
//! It implements the Qiniu cloud's `vframe` operation
//! (`vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Degree>]`) over the system's
//! FFmpeg: the exact frame (not the nearest keyframe), the right way up, the right shape.
//!
//! - [`extract_path`]: a file and a spec string, default limits — the one-line use;
//! - [`extract`]: an [`Input`] (a path or the bytes of a whole file), a [`Spec`] and
//!   [`Options`] (time limit, work limits, decoder threads, a cancel flag);
//! - [`extract_many`]: many thumbnails of one input in one pass;
//! - [`decode_frame`]: the selected frame's raw planes, before any conversion.
//!
//! Every failure is an [`Error`] whose [`Status`] says its class (the C ABI's `vframe_status`,
//! see [`capi`]) and whose message says what went wrong. All functions are thread-safe.
//!
//! ```
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
//! # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
//! # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
//! # let video = dir.join("gop25_25fps.mp4");
//! let image = vframe::extract_path(&video, "vframe/jpg/offset/2/w/160")?;
//! assert_eq!((image.width, image.height), (160, 120)); // 320x240 scaled to 160 wide
//! assert_eq!(image.format.mime_type(), "image/jpeg");
//! // std::fs::write("thumb.jpg", &image.data)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, in the order data flows: [`spec`] parses the operation string; `source` opens and
//! probes the input; `select` finds the exact frame for each target; `present` tone-maps,
//! scales, orients and encodes it; [`Source`] (in `handle`) strings them together for many
//! extractions from one input, and `extract` uses it once for the one-shot calls; `sample`
//! drives one selector for many frames of one video (Qiniu's `vsample`) and `storyboard`
//! for tiled sheets with their WebVTT and JSON index.
//! `geometry`, `image` and `encode` are pure Rust; `av` wraps FFmpeg (unsafe lives there
//! and in `capi`, the C ABI, only).
//!
//! On first use vframe sets FFmpeg's (process-wide) log level to quiet: errors reach you as
//! messages instead. Set `VFRAME_FFMPEG_LOG=1` to keep FFmpeg's own log.

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
mod sample;
mod select;
mod source;
pub mod spec;
mod storyboard;

#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_common;

pub use error::{Error, Status};
pub use handle::Source;
pub use sample::{Sample, SampleFrame};
pub use spec::{Every, Format, Look, Mode, Operation, Rotate, SampleSpec, Spec, StoryboardSpec};
pub use storyboard::{Sheet, SheetInfo, Step, Storyboard, StoryboardIndex, Tile, MAX_SHEET_PIXELS, MAX_SHEET_SIDE};

/// Where the video comes from.
///
/// ```
/// use vframe::{Input, Options, Spec};
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
/// # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
/// # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
/// # let video = dir.join("gop25_25fps.mp4");
/// let spec: Spec = "vframe/png/offset/1.5".parse()?;
/// let bytes = std::fs::read(&video)?;
/// let from_memory = vframe::extract(Input::Memory(&bytes), &spec, &Options::default())?;
/// let from_file = vframe::extract(Input::Path(&video), &spec, &Options::default())?;
/// assert_eq!(from_memory, from_file);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A local file: vframe opens exactly this file and nothing else (no URL, no protocol
    /// prefix, no file a playlist names).
    Path(&'a Path),
    /// The bytes of a whole file, read in place through FFmpeg's custom I/O (no temporary file).
    Memory(&'a [u8]),
}

/// Per-call limits and controls. `Options::default()` is safe for untrusted input: 60 s,
/// 120,000 decoded frames, pictures up to 16384 x 16384, vframe's choice of threads.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use vframe::{Input, Options, Status};
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
/// # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
/// # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
/// # let video = dir.join("gop25_25fps.mp4");
/// let cancel = Arc::new(AtomicBool::new(false));
/// let options = Options {
///     timeout: Some(Duration::from_secs(5)),
///     max_input_pixels: 1920 * 1080, // refuse anything larger than 1080p
///     cancel: Some(Arc::clone(&cancel)),
///     ..Options::default()
/// };
/// let spec = "vframe/jpg/offset/3".parse()?;
/// assert!(vframe::extract(Input::Path(&video), &spec, &options).is_ok());
///
/// // Any thread may set the flag: a call then stops with Status::Cancelled.
/// cancel.store(true, Ordering::Relaxed);
/// let err = vframe::extract(Input::Path(&video), &spec, &options).unwrap_err();
/// assert_eq!(err.status(), Status::Cancelled);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// Decoder threads; 0 lets vframe choose: one per CPU the process may run on (FFmpeg's
    /// count), or one for a frame a few frames from its keyframe.
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

/// An encoded thumbnail: the bytes of a JPEG or PNG file, ready to be written or served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The JPEG, PNG or WebP file's bytes.
    pub data: Vec<u8>,
    /// Width in pixels (after scaling and rotation).
    pub width: u32,
    /// Height in pixels (after scaling and rotation).
    pub height: u32,
    /// The file format of `data`: the spec's.
    pub format: Format,
}

/// A decoded picture exactly as the decoder produced it (before any conversion), from
/// [`decode_frame`].
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    /// Coded width in pixels (no aspect ratio correction, no rotation).
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// FFmpeg's name of the pixel format (`yuv420p`, `yuv420p10le`, ...).
    pub pixel_format: String,
    /// The planes packed without padding, as `ffmpeg -f rawvideo` writes them.
    pub data: Vec<u8>,
    /// Presentation time in seconds from the stream's first frame.
    pub time: f64,
}

/// Extracts the thumbnail `spec` describes from `input`.
///
/// The frame is the first whose presentation time is at or after `spec.offset_ms`, counted
/// from the video stream's first frame (past the end: the last frame); it is scaled to the
/// spec's `w`/`h` (neither: the display size, the sample aspect ratio applied), turned as
/// `rotate` says and encoded as `format`.
///
/// ```
/// use vframe::{Format, Input, Options, Rotate, Spec};
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
/// # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
/// # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
/// # let video = dir.join("gop25_25fps.mp4");
/// // The same as "vframe/jpg/offset/2.5/w/120/rotate/90".
/// let spec = Spec { width: Some(120), rotate: Some(Rotate::Cw90), ..Spec::new(Format::Jpeg, 2_500) };
/// let image = vframe::extract(Input::Path(&video), &spec, &Options::default())?;
/// assert_eq!((image.width, image.height), (120, 160)); // 320x240 turned to 240x320, then 120 wide
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Status::CannotOpen`] (missing or unreadable file, not a media file),
/// [`Status::UnsupportedInput`] (playlists and other indirection formats),
/// [`Status::NoVideoStream`], [`Status::DecodeError`], [`Status::EncodeError`],
/// [`Status::Timeout`], [`Status::LimitExceeded`], [`Status::Cancelled`], and
/// [`Status::InvalidArgument`] for options out of range; each with a message that says why.
pub fn extract(input: Input<'_>, spec: &Spec, options: &Options) -> Result<Image, Error> {
    extract::extract(input, spec, options)
}

/// Extracts from a file with a spec string and default options.
///
/// ```
/// use vframe::Status;
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
/// # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
/// # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
/// # let video = dir.join("gop25_25fps.mp4");
/// let png = vframe::extract_path(&video, "vframe/png/offset/5.96")?; // the last frame
/// assert_eq!((png.width, png.height), (320, 240));
///
/// let err = vframe::extract_path(&video, "vframe/gif/offset/1").unwrap_err();
/// assert_eq!(err.status(), Status::InvalidSpec);
/// assert_eq!(err.to_string(), "invalid spec: format 'gif' is not jpg, jpeg, png or webp");
///
/// let err = vframe::extract_path("no such file.mp4", "vframe/jpg/offset/1").unwrap_err();
/// assert_eq!(err.status(), Status::CannotOpen);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Status::InvalidSpec`] for a malformed spec (the message quotes the bad part), and
/// those of [`extract`].
pub fn extract_path(path: impl AsRef<Path>, spec: &str) -> Result<Image, Error> {
    extract(Input::Path(path.as_ref()), &spec.parse()?, &Options::default())
}

/// Many thumbnails of one input in one call, one result per spec (in the order given).
///
/// The offsets are visited in time order over one demuxer and decoder, decoding on instead
/// of seeking when the next offset is in the same GOP, so N thumbnails cost clearly less
/// than N calls of [`extract`]. `options.timeout` bounds the whole call. Each image is
/// byte-identical to the one [`extract`] gives for its spec; a spec that fails, fails alone.
///
/// ```
/// use vframe::{Input, Options, Spec};
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
/// # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
/// # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
/// # let video = dir.join("gop25_25fps.mp4");
/// let specs = ["vframe/jpg/offset/4", "vframe/jpg/offset/1/w/80", "vframe/png/offset/2.5"]
///     .iter()
///     .map(|s| s.parse::<Spec>())
///     .collect::<Result<Vec<_>, _>>()?;
/// let images = vframe::extract_many(Input::Path(&video), &specs, &Options::default());
/// assert_eq!(images.len(), 3);
/// let single = vframe::extract(Input::Path(&video), &specs[1], &Options::default())?;
/// assert_eq!(images[1], Ok(single));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn extract_many(input: Input<'_>, specs: &[Spec], options: &Options) -> Vec<Result<Image, Error>> {
    extract::extract_many(input, specs, options)
}

/// The decoded frame SPEC §2 selects for `offset_ms`, unconverted: what
/// `ffmpeg -i FILE -ss T -frames:v 1 -f rawvideo` gives, bit for bit.
///
/// ```
/// use vframe::{Input, Options};
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
/// # let mut make = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"));
/// # assert!(make.arg(&dir).status()?.success(), "scripts/fixtures.sh makes test videos (with the ffmpeg CLI)");
/// # let video = dir.join("gop25_25fps.mp4");
/// let frame = vframe::decode_frame(Input::Path(&video), 2_000, &Options::default())?;
/// assert_eq!((frame.width, frame.height, frame.pixel_format.as_str()), (320, 240, "yuv420p"));
/// assert_eq!(frame.data.len(), 320 * 240 * 3 / 2); // Y, then U and V at quarter size
/// assert!((frame.time - 2.0).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Those of [`extract`], but for encoding.
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
