//! The pipeline of SPEC §2–§4: find the exact frame, then orient, scale and encode it.
//!
//! Safe Rust over the `av` wrappers. Frame selection: seek to the keyframe before the
//! target, decode forward, and take the first frame whose presentation time is at or after
//! the offset. A seek that lands after the target (MPEG-TS, broken indexes) is retried
//! further back, and as a last resort the input is decoded from its start.

use std::sync::Arc;

use crate::av::{self, Decoder, Demuxer, Flow, Frame, Interrupt, Packet, Scaler, Source, StreamInfo, ToneMapper};
use crate::encode::encode;
use crate::error::{Error, Status};
use crate::geometry::{self, Orientation};
use crate::spec::{Rotate, Spec};
use crate::{DecodedFrame, Image, Input, Options};

/// The first seek-back step when a seek lands late; it doubles on each retry.
const FIRST_BACKOFF_MS: i64 = 1000;
/// After this many late landings, decode from the start instead.
const MAX_SEEK_RETRIES: u32 = 6;

/// A located frame and what is needed to present it.
struct Located {
    frame: Frame,
    stream: StreamInfo,
    sample_aspect_ratio: av::Rational,
    /// The frame's time from the stream's start, in time-base ticks, as frame selection
    /// counted it (frames without timestamps get the previous one's plus a frame).
    ticks: Option<i64>,
}

fn open<'a>(input: &Input<'a>, interrupt: &Arc<Interrupt>) -> Result<(Demuxer<'a>, bool), Error> {
    let source = match *input {
        Input::Path(path) => Source::open_path(path, interrupt)?,
        Input::Memory(bytes) => Source::Memory(std::io::Cursor::new(bytes)),
    };
    let seekable = source.is_seekable();
    Ok((Demuxer::open(source, Arc::clone(interrupt))?, seekable))
}

/// Frame-time arithmetic on the stream's own timeline, exact in integers.
///
/// The offset becomes a whole number of time-base ticks rounded to the nearest, as the
/// ffmpeg CLI's `-ss` does (its `trim` filter rescales the start with `av_rescale_q`), so
/// the frame is the one `ffmpeg -ss` gives even in coarse time bases (AVI's 1/fps, Ogg
/// Theora's): at 25 fps in a 1/25 time base, 2.01 s is tick 50, the frame at 2.00 s (the
/// one on screen at 2.01 s). Time bases of 1 ms or finer are unaffected.
struct Timeline {
    num: i128,
    den: i128,
    /// The offset in ticks from the stream's start.
    offset_ticks: i64,
}

impl Timeline {
    fn new(stream: &StreamInfo, offset_ms: u64) -> Timeline {
        let (num, den) = (i128::from(stream.time_base.num), i128::from(stream.time_base.den));
        let mut timeline = Timeline { num, den, offset_ticks: 0 };
        timeline.offset_ticks = timeline.ticks_nearest(i128::from(offset_ms));
        timeline
    }

    /// The timestamp the offset names on a stream starting at `start`.
    fn target(&self, start: i64) -> i64 {
        start.saturating_add(self.offset_ticks)
    }

    /// Whether a frame at `pts` is at or after the offset from `start`.
    fn reached(&self, pts: i64, start: i64) -> bool {
        i128::from(pts) - i128::from(start) >= i128::from(self.offset_ticks)
    }

    /// `ms` milliseconds in time-base units, rounded to the nearest (halves away from 0).
    fn ticks_nearest(&self, ms: i128) -> i64 {
        let d = self.num * 1000;
        let t = (2 * ms * self.den + d * ms.signum()) / (2 * d);
        Self::clamp(t)
    }

    /// `ms` milliseconds in time-base units, rounded up.
    fn ticks(&self, ms: i128) -> i64 {
        let d = self.num * 1000;
        Self::clamp((ms * self.den + d - 1).div_euclid(d))
    }

    fn clamp(t: i128) -> i64 {
        t.clamp(i128::from(i64::MIN / 4), i128::from(i64::MAX / 4)) as i64
    }
}

/// Decoding state for one pass over the input.
struct Pass<'a, 'o> {
    demuxer: Demuxer<'a>,
    decoder: Decoder,
    stream: StreamInfo,
    options: &'o Options,
    interrupt: Arc<Interrupt>,
    decoded: u64,
    /// False for pipes: no seeking, and no second pass from the start.
    seekable: bool,
    /// Packets before this timestamp are decoded with `skip_frame = nonref`: their frames
    /// cannot be the answer, and frames nothing refers to need not be decoded at all.
    skip_before: Option<i64>,
    /// Whether any packet was decoded that way (the last frame may then be missing).
    skipped: bool,
    /// The stream's first timestamp, once known.
    start: Option<i64>,
    /// The timestamp selection gave the frame the last `run` returned.
    frame_pts: Option<i64>,
    /// The time selection gave the last frame decoded: a frame without a timestamp is
    /// placed one frame after it. `None` at the start and after a seek.
    placed: Option<i64>,
    /// How far into the stream (ticks from its start) frames without timestamps at its
    /// head may reach; targets up to there are found by decoding from the start, never by
    /// seeking, which would skip them. `None`: the stream's timeline cannot be trusted at
    /// all (no timestamps in the first packets), so never seek.
    untimed_span: Option<i64>,
}

/// Frames beyond the untimed packets at a stream's head that their placement may still
/// reach (decoder reordering), for `Pass::untimed_span`.
const UNTIMED_MARGIN_FRAMES: i64 = 16;

/// What a pass ended with.
enum Outcome {
    /// The first frame at or after the target.
    Found(Frame),
    /// The first frame came out after the target: the seek landed late.
    Late,
    /// The input ended before the target: its last frame, if any.
    Ended(Option<Frame>),
    /// After a seek, the decoder left out frames whose packets were read (FFmpeg's H.264
    /// decoder, single-threaded, drops the last frames after a seek to a non-IDR keyframe):
    /// the answer may be one of them, so only a pass from the start can be trusted.
    Lost,
}

impl<'a, 'o> Pass<'a, 'o> {
    fn new(input: &Input<'a>, options: &'o Options, interrupt: &Arc<Interrupt>, offset_ms: u64) -> Result<Self, Error> {
        let (mut demuxer, seekable) = open(input, interrupt)?;
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
        let threads = match options.threads {
            0 => auto_threads(&demuxer, &stream, offset_ms),
            n => n,
        };
        let decoder = demuxer.decoder(&stream, threads, options.max_input_pixels)?;
        let stream_start = stream.start_time;
        // Only a stream with a start time is ever seeked; find whether its head has frames
        // without timestamps (read ahead, then decoded normally).
        let untimed_span = match stream_start {
            Some(_) => demuxer.leading_untimed(&stream)?.map(|untimed| match untimed {
                0 => 0,
                n => (n as i64).saturating_add(UNTIMED_MARGIN_FRAMES).saturating_mul(frame_step(&stream)),
            }),
            None => None,
        };
        Ok(Pass {
            demuxer,
            decoder,
            stream,
            options,
            interrupt: Arc::clone(interrupt),
            decoded: 0,
            seekable,
            skip_before: None,
            skipped: false,
            start: stream_start,
            frame_pts: None,
            placed: None,
            untimed_span,
        })
    }

    /// Decodes forward from the demuxer's position. `start` is the stream's first
    /// timestamp if known (else the first frame's is used); `check_late` (a pass after a
    /// seek, to this target) makes a first frame past the target end the pass with `Late`,
    /// and a frame left out by the decoder end it with `Lost`.
    fn run(&mut self, timeline: &Timeline, check_late: Option<i64>) -> Result<Outcome, Error> {
        let mut packet = Packet::new()?;
        let mut frame = Frame::new()?;
        let mut last: Option<Frame> = None;
        let mut result: Option<Outcome> = None;
        // The timestamps selection used for the found frame and for `last`.
        let (mut found_pts, mut last_pts): (Option<i64>, Option<i64>) = (None, None);
        let mut first = true;
        let step = frame_step(&self.stream);
        let (max_frames, interrupt) = (self.options.max_decoded_frames, Arc::clone(&self.interrupt));
        let (decoded, start, prev_pts) = (&mut self.decoded, &mut self.start, &mut self.placed);
        let mut sink = |f: &mut Frame| -> Result<Flow, Error> {
            *decoded += 1;
            if *decoded > max_frames {
                return Err(Error::new(
                    Status::LimitExceeded,
                    format!("decoded {max_frames} frames without reaching the offset (the decode limit)"),
                ));
            }
            // Frames without any timestamp follow the previous one by a frame duration (the
            // first at the stream's start), as the ffmpeg CLI places them.
            let pts = f.pts().or(prev_pts.map(|p| p + step)).unwrap_or(start.unwrap_or(0));
            *prev_pts = Some(pts);
            let begin = *start.get_or_insert(pts);
            if first {
                first = false;
                if check_late.is_some_and(|target| pts > target) {
                    result = Some(Outcome::Late);
                    return Ok(Flow::Stop);
                }
            }
            let mut taken = Frame::new()?;
            std::mem::swap(&mut taken, f);
            if timeline.reached(pts, begin) {
                result = Some(Outcome::Found(taken));
                found_pts = Some(pts);
                return Ok(Flow::Stop);
            }
            last = Some(taken);
            last_pts = Some(pts);
            Ok(Flow::Continue)
        };
        let mut packets: u64 = 0;
        // Packet times a seek pass checks the decoder's output against: the earliest at or
        // after the target, and the latest (frames skipped on purpose left aside).
        let (mut first_due, mut last_due): (Option<i64>, Option<i64>) = (None, None);
        loop {
            interrupt.poll()?;
            if !self.demuxer.read(&self.stream, &mut packet)? {
                self.decoder.decode(None, &mut frame, &mut sink)?;
                self.decoder.limit_error()?;
                break;
            }
            packets += 1;
            if packets > max_frames.saturating_mul(4) {
                return Err(Error::new(
                    Status::LimitExceeded,
                    "read too many packets without a frame (the decode limit)",
                ));
            }
            let skip = self.skip_before.is_some_and(|t| packet.pts().is_some_and(|p| p < t));
            self.decoder.skip_non_reference(skip);
            self.skipped |= skip;
            if let (Some(target), Some(pts), false, false) = (check_late, packet.pts(), skip, packet.is_discarded()) {
                last_due = last_due.max(Some(pts));
                if pts >= target {
                    first_due = Some(first_due.map_or(pts, |d: i64| d.min(pts)));
                }
            }
            let flow = self.decoder.decode(Some(&packet), &mut frame, &mut sink)?;
            // A picture refused for its size may have been the answer: never a fallback.
            self.decoder.limit_error()?;
            if flow == Flow::Stop {
                break;
            }
        }
        let outcome = result.unwrap_or(Outcome::Ended(last));
        let lost = match outcome {
            Outcome::Found(_) => first_due.zip(found_pts).is_some_and(|(due, pts)| due < pts),
            Outcome::Ended(Some(_)) => last_due.zip(last_pts).is_some_and(|(due, pts)| due > pts),
            _ => false,
        };
        if lost {
            return Ok(Outcome::Lost);
        }
        self.frame_pts = match outcome {
            Outcome::Found(_) => found_pts,
            Outcome::Ended(Some(_)) => last_pts,
            // No new frame: the one returned before stays the current one.
            _ => self.frame_pts,
        };
        Ok(outcome)
    }
}

impl Pass<'_, '_> {
    /// The frame the last `run` returned, with what presenting it needs.
    fn located(&self, frame: Frame) -> Located {
        let sample_aspect_ratio = self.demuxer.sample_aspect_ratio(&self.stream, &frame);
        let ticks = self.frame_pts.zip(self.start).map(|(pts, start)| pts.saturating_sub(start));
        Located { frame, stream: self.stream.clone(), sample_aspect_ratio, ticks }
    }

    /// The frame for `offset_ms` by decoding on from where the pass stands, just after
    /// `previous` (the frame it last returned): for a later offset in the same GOP this is
    /// cheaper than a seek. `None` when a seek would be no worse (the container's index has
    /// a keyframe after `previous` and before the target) or the pass cannot tell.
    fn locate_next(&mut self, offset_ms: u64, previous: &Frame) -> Result<Option<Located>, Error> {
        let (Some(start), Some(previous_pts)) = (self.start, previous.pts()) else {
            return Ok(None);
        };
        let timeline = Timeline::new(&self.stream, offset_ms);
        let target = timeline.target(start);
        if previous_pts >= target {
            return Ok(Some(self.located(previous.try_clone()?)));
        }
        match self.demuxer.keyframe_before(&self.stream, target) {
            Some(keyframe) if keyframe > previous_pts => return Ok(None),
            None if !self.seekable => {}
            None => return Ok(None),
            Some(_) => {}
        }
        self.skip_before = skip_target(&self.stream, Some(start), &timeline);
        self.skipped = false;
        match self.run(&timeline, None)? {
            Outcome::Found(f) => Ok(Some(self.located(f))),
            Outcome::Ended(_) if self.skipped => Ok(None),
            Outcome::Ended(Some(f)) => Ok(Some(self.located(f))),
            // Nothing after `previous`: it is the last frame.
            Outcome::Ended(None) => Ok(Some(self.located(previous.try_clone()?))),
            Outcome::Late | Outcome::Lost => Ok(None),
        }
    }
}

/// Decoder threads when the caller leaves it to vframe: one when the index shows the target
/// a few frames from its keyframe (starting FFmpeg's threads and their buffers costs about
/// as much as decoding a handful of frames), else as many as FFmpeg likes.
fn auto_threads(demuxer: &Demuxer<'_>, stream: &StreamInfo, offset_ms: u64) -> u32 {
    const FEW_FRAMES: i64 = 6;
    let Some(start) = stream.start_time else { return 0 };
    let target = Timeline::new(stream, offset_ms).target(start);
    match demuxer.keyframe_before(stream, target) {
        Some(keyframe) if target.saturating_sub(keyframe) <= FEW_FRAMES.saturating_mul(frame_step(stream)) => 1,
        _ => 0,
    }
}

/// The duration of one frame in time-base units, for frames without timestamps.
fn frame_step(stream: &StreamInfo) -> i64 {
    let (rate, tb) = (stream.frame_rate, stream.time_base);
    if rate.is_valid() {
        let step = (i128::from(rate.den) * i128::from(tb.den)) / (i128::from(rate.num) * i128::from(tb.num));
        step.clamp(1, i128::from(i32::MAX)) as i64
    } else {
        1
    }
}

/// Finds the frame SPEC §2 names for `offset_ms`.
fn locate(input: &Input<'_>, offset_ms: u64, options: &Options) -> Result<Located, Error> {
    let interrupt = Arc::new(Interrupt::new(options.timeout, options.cancel.clone()));
    locate_fresh(input, offset_ms, options, &interrupt).map(|(located, _)| located)
}

/// `locate` on a new pass, which is handed back positioned just after the frame.
fn locate_fresh<'a, 'o>(
    input: &Input<'a>,
    offset_ms: u64,
    options: &'o Options,
    interrupt: &Arc<Interrupt>,
) -> Result<(Located, Pass<'a, 'o>), Error> {
    match locate_with(input, offset_ms, options, interrupt, true)? {
        Some(found) => Ok(found),
        // The container overstated its duration and frames skipped on the way may include
        // the last one: do it again without skipping (rare, and then exact).
        None => locate_with(input, offset_ms, options, interrupt, false)?
            .ok_or_else(|| Error::new(Status::Internal, "frame search without skipping asked to skip")),
    }
}

/// Whether to skip non-reference frames before `target`: only before the last frames. Past
/// the end the answer is the last frame, which may be one nothing refers to; and where the
/// container's duration is wrong, a pass that ends having skipped is redone without.
fn skip_target(stream: &StreamInfo, start: Option<i64>, timeline: &Timeline) -> Option<i64> {
    match (start, stream.duration) {
        (Some(begin), Some(duration))
            if i128::from(duration) - i128::from(timeline.offset_ticks)
                > i128::from(SKIP_END_MARGIN_FRAMES * frame_step(stream)) =>
        {
            Some(timeline.target(begin))
        }
        _ => None,
    }
}

/// How many frames before the stated end skipping stops.
const SKIP_END_MARGIN_FRAMES: i64 = 2;

/// One attempt at `locate`; `None` when it ran to the end having skipped frames, so that
/// the last frame may have been skipped.
fn locate_with<'a, 'o>(
    input: &Input<'a>,
    offset_ms: u64,
    options: &'o Options,
    interrupt: &Arc<Interrupt>,
    allow_skip: bool,
) -> Result<Option<(Located, Pass<'a, 'o>)>, Error> {
    let mut pass = Pass::new(input, options, interrupt, offset_ms)?;
    let timeline = Timeline::new(&pass.stream, offset_ms);
    let skip_before = if allow_skip { skip_target(&pass.stream, pass.start, &timeline) } else { None };
    pass.skip_before = skip_before;

    let mut outcome = None;
    let mut seeked = false;
    // Targets among untimed frames at the stream's head are reached from the start.
    let beyond_untimed = pass.untimed_span.is_some_and(|span| timeline.offset_ticks > span);
    if let (Some(begin), true, true) = (pass.start, beyond_untimed, pass.seekable) {
        let target = timeline.target(begin);
        // Past the end the answer is the last frame: seek to the end rather than beyond it,
        // where some demuxers (MPEG-TS) find no packet at all. Seeking earlier than needed
        // costs time, never correctness, so a wrong duration does no harm.
        let seek_base = match pass.stream.duration {
            Some(duration) if duration > 0 => target.min(begin.saturating_add(duration)),
            _ => target,
        };
        let mut backoff_ms: i64 = 0;
        for _ in 0..MAX_SEEK_RETRIES {
            let seek_to = seek_base.saturating_sub(timeline.ticks(i128::from(backoff_ms)));
            if seek_to <= begin {
                break;
            }
            seeked = true;
            if pass.demuxer.seek(&pass.stream, seek_to).is_err() {
                break;
            }
            pass.decoder.flush();
            pass.placed = None;
            match pass.run(&timeline, Some(target))? {
                // Landed after the target, or so near the end that no frame came out:
                // seek further back.
                Outcome::Late | Outcome::Ended(None) => backoff_ms = (backoff_ms * 2).max(FIRST_BACKOFF_MS),
                // The decoder cannot be trusted after this seek: decode from the start.
                Outcome::Lost => break,
                done => {
                    outcome = Some(done);
                    break;
                }
            }
        }
    }
    let outcome = match outcome {
        Some(o) => o,
        None => {
            // From the start, on a fresh demuxer: robust where seeking is not.
            if seeked {
                // The start a seek pass learnt from its frames stays the timeline's origin.
                let start = pass.start;
                pass = Pass::new(input, options, interrupt, offset_ms)?;
                pass.start = start;
                pass.skip_before = skip_before;
            }
            pass.run(&timeline, None)?
        }
    };
    if matches!(outcome, Outcome::Ended(_)) && pass.skipped {
        return Ok(None);
    }
    let frame = match outcome {
        Outcome::Found(f) | Outcome::Ended(Some(f)) => f,
        Outcome::Late | Outcome::Ended(None) | Outcome::Lost => {
            let why = pass.decoder.last_error().map(|e| format!(": {e}")).unwrap_or_default();
            return Err(Error::new(
                Status::DecodeError,
                format!(
                    "no frame of the {} video stream (in {}) could be decoded{why}",
                    pass.stream.codec_name, pass.stream.format_name
                ),
            ));
        }
    };
    let located = pass.located(frame);
    Ok(Some((located, pass)))
}

/// The orientation `rotate` asks for, given what the stream and frame say.
fn orientation(rotate: Option<Rotate>, located: &Located) -> Orientation {
    match rotate {
        None => Orientation::IDENTITY,
        Some(Rotate::Auto) => {
            let matrix = located.frame.display_matrix().or(located.stream.display_matrix);
            match (matrix, located.stream.rotate_tag) {
                (Some(m), _) => Orientation::from_display_matrix(&m, av::display_rotation(&m)),
                (None, Some(deg)) => Orientation::from_rotate_tag(deg),
                (None, None) => Orientation::IDENTITY,
            }
        }
        Some(r) => Orientation::from_rotate(r).unwrap_or_default(),
    }
}

/// Orients, scales and encodes a located frame as `spec` asks.
fn present(located: &Located, spec: &Spec, scaler: &mut Scaler) -> Result<Image, Error> {
    let sar = located.sample_aspect_ratio;
    let plan = geometry::plan(
        located.frame.width(),
        located.frame.height(),
        (sar.num, sar.den),
        orientation(spec.rotate, located),
        spec.width,
        spec.height,
    )?;
    // HDR is tone-mapped to SDR first; where FFmpeg lacks the filters (no zimg) the
    // BT.2020 matrix alone still gives the right hues, only flatter.
    let sdr = if located.frame.colour().is_hdr() {
        ToneMapper::new(&located.frame).and_then(|mut mapper| mapper.run(&located.frame)).ok()
    } else {
        None
    };
    let rgb = scaler.convert_to_rgb(sdr.as_ref().unwrap_or(&located.frame), plan.scaled_width, plan.scaled_height)?;
    let (pixels, width, height) = rgb.oriented(plan.orientation);
    let data = encode(&pixels, width, height, spec.format)?;
    Ok(Image { data, width, height, format: spec.format })
}

pub(crate) fn extract(input: Input<'_>, spec: &Spec, options: &Options) -> Result<Image, Error> {
    let located = locate(&input, spec.offset_ms, options)?;
    present(&located, spec, &mut Scaler::new())
}

/// Many thumbnails of one input: visited in time order over one demuxer and decoder,
/// decoding on instead of seeking when the next offset is in the same GOP. Each spec has
/// its own result; a failure that concerns the whole input (it cannot be opened, has no
/// video, the call timed out or was cancelled) is given to every spec not yet done.
pub(crate) fn extract_many(input: Input<'_>, specs: &[Spec], options: &Options) -> Vec<Result<Image, Error>> {
    let interrupt = Arc::new(Interrupt::new(options.timeout, options.cancel.clone()));
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| specs[i].offset_ms);
    let mut results: Vec<Option<Result<Image, Error>>> = vec![None; specs.len()];
    let mut scaler = Scaler::new();
    // The pass positioned just after the frame it last returned, and that frame.
    let mut cursor: Option<(Pass<'_, '_>, Frame)> = None;
    for (n, &i) in order.iter().enumerate() {
        let offset_ms = specs[i].offset_ms;
        let next = match cursor.as_mut() {
            Some((pass, previous)) => pass.locate_next(offset_ms, previous),
            None => Ok(None),
        };
        let (found, pass) = match next {
            Ok(Some(located)) => (Ok(located), cursor.take().map(|(pass, _)| pass)),
            Ok(None) => match locate_fresh(&input, offset_ms, options, &interrupt) {
                Ok((located, pass)) => (Ok(located), Some(pass)),
                Err(e) => (Err(e), None),
            },
            Err(e) => (Err(e), None),
        };
        let result = found.and_then(|located| {
            let image = present(&located, &specs[i], &mut scaler)?;
            cursor = pass.map(|pass| (pass, located.frame));
            Ok(image)
        });
        if let Err(e) = &result {
            let whole_input = matches!(
                e.status(),
                Status::Timeout
                    | Status::Cancelled
                    | Status::CannotOpen
                    | Status::UnsupportedInput
                    | Status::NoVideoStream
            );
            if whole_input {
                for &j in &order[n..] {
                    results[j] = Some(Err(e.clone()));
                }
                break;
            }
        }
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::new(Status::Internal, "a spec was left without a result"))))
        .collect()
}

pub(crate) fn decode_frame(input: Input<'_>, offset_ms: u64, options: &Options) -> Result<DecodedFrame, Error> {
    let located = locate(&input, offset_ms, options)?;
    let frame = &located.frame;
    let tb = located.stream.time_base;
    Ok(DecodedFrame {
        width: frame.width(),
        height: frame.height(),
        pixel_format: frame.pixel_format_name(),
        data: frame.packed_bytes()?,
        time: located.ticks.unwrap_or(0) as f64 * tb.as_f64(),
    })
}
