//! An opened, probed input: the demuxer, the facts of its video stream and the stream's
//! decoder, which several extractions reuse (the frame selector in `select` drives them).
//!
//! Owns opening (path or memory, through `av`'s own I/O), the checks made once per input
//! (the pixel limit on the declared size, frames without timestamps at the stream's head)
//! and the choice of decoder threads. Safe Rust over the `av` wrappers; knows nothing of
//! which frame is wanted beyond a first target's distance from its keyframe.

use std::sync::Arc;

use crate::av::{Decoder, Demuxer, Frame, Interrupt, Packet, Rational, Reader, StreamInfo};
use crate::error::{Error, Status};
use crate::{Input, Options};

/// Frames beyond the untimed packets at a stream's head that their placement may still
/// reach (decoder reordering), for [`Source::untimed_span`].
const UNTIMED_MARGIN_FRAMES: i64 = 16;

/// A target this many frames or fewer after its keyframe is decoded on one thread when the
/// caller leaves threads to vframe (see [`Source::prepare_decoder`]).
const FEW_FRAMES: i64 = 6;

/// An open input and its video stream, ready to seek, read and decode.
pub(crate) struct Source<'a> {
    input: Input<'a>,
    options: Options,
    interrupt: Arc<Interrupt>,
    /// Field order is drop order: the decoder goes before the demuxer whose stream it
    /// was opened from.
    decoder: Option<Decoder>,
    demuxer: Demuxer<'a>,
    stream: StreamInfo,
    /// False for pipes: no seeking, and no second pass from the start.
    seekable: bool,
    /// How far into the stream (ticks from its start) frames without timestamps at its
    /// head may reach; targets up to there are found by decoding from the start, never by
    /// seeking, which would skip them. `None`: the stream's timeline cannot be trusted at
    /// all (no timestamps in the first packets), so never seek.
    untimed_span: Option<i64>,
}

impl<'a> Source<'a> {
    /// Opens `input` and probes its video stream, under `options`' limits (its time limit
    /// starts now and covers everything done through this source).
    pub fn open(input: Input<'a>, options: &Options) -> Result<Source<'a>, Error> {
        let interrupt = Arc::new(Interrupt::new(options.timeout, options.cancel.clone()));
        Source::open_with(input, options.clone(), interrupt)
    }

    fn open_with(input: Input<'a>, options: Options, interrupt: Arc<Interrupt>) -> Result<Source<'a>, Error> {
        let reader = match input {
            Input::Path(path) => Reader::open_path(path, &interrupt)?,
            Input::Memory(bytes) => Reader::Memory(std::io::Cursor::new(bytes)),
        };
        let seekable = reader.is_seekable();
        let mut demuxer = Demuxer::open(reader, Arc::clone(&interrupt))?;
        let stream = demuxer.video_stream(options.max_input_pixels)?;
        let pixels = u64::from(stream.width) * u64::from(stream.height);
        if pixels > options.max_input_pixels {
            return Err(Error::new(
                Status::LimitExceeded,
                format!(
                    "input is {}x{}, over the limit of {} pixels",
                    stream.width, stream.height, options.max_input_pixels
                ),
            ));
        }
        // Only a stream with a start time is ever seeked; find whether its head has frames
        // without timestamps (read ahead, then decoded normally).
        let untimed_span = match stream.start_time {
            Some(_) => demuxer.leading_untimed(&stream)?.map(|untimed| match untimed {
                0 => 0,
                n => (n as i64).saturating_add(UNTIMED_MARGIN_FRAMES).saturating_mul(frame_step(&stream)),
            }),
            None => None,
        };
        Ok(Source { input, options, interrupt, decoder: None, demuxer, stream, seekable, untimed_span })
    }

    /// Opens the input again, from its start, with a new decoder: where seeking cannot be
    /// trusted, a fresh demuxer is (the time limit runs on).
    pub fn reopen(&mut self) -> Result<(), Error> {
        *self = Source::open_with(self.input, self.options.clone(), Arc::clone(&self.interrupt))?;
        Ok(())
    }

    pub fn stream(&self) -> &StreamInfo {
        &self.stream
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn seekable(&self) -> bool {
        self.seekable
    }

    /// See the field of the same name.
    pub fn untimed_span(&self) -> Option<i64> {
        self.untimed_span
    }

    /// The call's time limit or cancellation, as an error, once either has fired.
    pub fn poll(&self) -> Result<(), Error> {
        self.interrupt.poll()
    }

    /// Opens the decoder unless it is open. With threads left to vframe it gets one thread
    /// when the index shows `offset_ms` a few frames from its keyframe (starting FFmpeg's
    /// threads and their buffers costs about as much as decoding a handful of frames), else
    /// as many as FFmpeg likes.
    pub fn prepare_decoder(&mut self, offset_ms: u64) -> Result<(), Error> {
        if self.decoder.is_some() {
            return Ok(());
        }
        let threads = match self.options.threads {
            0 if self.near_keyframe(offset_ms) => 1,
            n => n,
        };
        self.open_decoder(threads)
    }

    /// Opens the decoder with `threads` threads (0: as many as FFmpeg likes) unless it is
    /// open.
    pub fn open_decoder(&mut self, threads: u32) -> Result<(), Error> {
        if self.decoder.is_none() {
            self.decoder = Some(self.demuxer.decoder(&self.stream, threads, self.options.max_input_pixels)?);
        }
        Ok(())
    }

    /// Whether the index puts `offset_ms` within a few frames of the keyframe before it.
    fn near_keyframe(&self, offset_ms: u64) -> bool {
        let Some(start) = self.stream.start_time else { return false };
        let target = crate::select::Timeline::new(&self.stream, offset_ms).target(start);
        self.demuxer.keyframe_before(&self.stream, target).is_some_and(|keyframe| {
            target.saturating_sub(keyframe) <= FEW_FRAMES.saturating_mul(frame_step(&self.stream))
        })
    }

    /// The decoder, once [`Source::prepare_decoder`] has opened it.
    pub fn decoder(&mut self) -> Result<&mut Decoder, Error> {
        self.decoder.as_mut().ok_or_else(|| Error::new(Status::Internal, "the decoder was used before it was opened"))
    }

    /// Reads the stream's next packet; `Ok(false)` at the end of the input.
    pub fn read(&mut self, packet: &mut Packet) -> Result<bool, Error> {
        self.demuxer.read(&self.stream, packet)
    }

    /// Seeks to the keyframe at or before `timestamp` (as far as the index allows) and
    /// empties the decoder.
    pub fn seek(&mut self, timestamp: i64) -> Result<(), Error> {
        self.demuxer.seek(&self.stream, timestamp)?;
        if let Some(decoder) = &mut self.decoder {
            decoder.flush();
        }
        Ok(())
    }

    /// The timestamp of the last keyframe at or before `timestamp` in the container's
    /// index, if it has one: where a seek to `timestamp` would land.
    pub fn keyframe_before(&self, timestamp: i64) -> Option<i64> {
        self.demuxer.keyframe_before(&self.stream, timestamp)
    }

    /// The sample aspect ratio of `frame` (container first, then codec).
    pub fn sample_aspect_ratio(&self, frame: &Frame) -> Rational {
        self.demuxer.sample_aspect_ratio(&self.stream, frame)
    }
}

/// The duration of one frame in time-base units, for frames without timestamps.
pub(crate) fn frame_step(stream: &StreamInfo) -> i64 {
    let (rate, tb) = (stream.frame_rate, stream.time_base);
    if rate.is_valid() {
        let step = (i128::from(rate.den) * i128::from(tb.den)) / (i128::from(rate.num) * i128::from(tb.num));
        step.clamp(1, i128::from(i32::MAX)) as i64
    } else {
        1
    }
}
