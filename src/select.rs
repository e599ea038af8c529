//! The frame selector (SPEC §2): which decoded frame answers which target.
//!
//! A [`Selector`] owns an opened [`Source`] and is asked for targets one at a time
//! ([`Selector::next_at`]). Each answer is the first frame whose presentation time is at or
//! after the target on the video stream's own timeline: exactly the picture
//! `ffmpeg -i F -ss T -frames:v 1` decodes. To get there it seeks to the keyframe before
//! the target and decodes forward; a seek that lands after the target (MPEG-TS, broken
//! indexes) is retried further back, and as a last resort the input is decoded from its
//! start. Between targets the demuxer and decoder stay just after the frame last returned,
//! so a later target with no keyframe in between is reached by decoding on instead of
//! seeking; any other target seeks on the same demuxer and decoder (flushed), and only
//! decoding from the start opens the input again. Targets in time order make the most of
//! that; any order is answered exactly, with the frames a fresh call gives. Only the last
//! frame returned is held, so any number of targets stream through.
//!
//! [`Selector::keyframe_at`] answers the opt-in fast mode instead: the keyframe at or
//! before the target, found from packet flags and decoded alone.
//!
//! Safe Rust over the `av` wrappers, through `source`. Presentation is `present`'s.

use crate::av::{starts_irap, Flow, Frame, Packet, Rational, StreamInfo};
use crate::error::{Error, Status};
use crate::source::{frame_step, Origin, Source};
use crate::spec::Mode;
use crate::Options;

/// The first seek-back step when a seek lands late; it doubles on each retry.
const FIRST_BACKOFF_MS: i64 = 1000;
/// After this many late landings, decode from the start instead.
const MAX_SEEK_RETRIES: u32 = 6;
/// The most packets marked as keyframes the fast mode's scan holds untested (see
/// [`Selector::scan_tested_keyframes`]).
const RECENT_MARKS: usize = 64;
/// How many frames before the stated end skipping non-reference frames stops.
const SKIP_END_MARGIN_FRAMES: i64 = 2;

/// A located frame and what is needed to present it.
pub(crate) struct Located {
    pub frame: Frame,
    pub stream: StreamInfo,
    pub sample_aspect_ratio: Rational,
    /// The frame's time from the stream's start, in time-base ticks, as selection counted
    /// it (frames without timestamps get the previous one's plus a frame).
    pub ticks: Option<i64>,
    /// The target is past the video: at or after the end of its last frame (that frame's
    /// time plus one frame), which is then the answer.
    pub past_end: bool,
}

impl Located {
    /// The frame's time in seconds from the stream's start (0 when unknown).
    pub fn seconds(&self) -> f64 {
        self.ticks.unwrap_or(0) as f64 * self.stream.time_base.as_f64()
    }
}

/// Frame-time arithmetic on the stream's own timeline, exact in integers.
///
/// The offset becomes a whole number of time-base ticks rounded to the nearest, as the
/// ffmpeg CLI's `-ss` does (its `trim` filter rescales the start with `av_rescale_q`), so
/// the frame is the one `ffmpeg -ss` gives even in coarse time bases (AVI's 1/fps, Ogg
/// Theora's): at 25 fps in a 1/25 time base, 2.01 s is tick 50, the frame at 2.00 s (the
/// one on screen at 2.01 s). Time bases of 1 ms or finer are unaffected.
pub(crate) struct Timeline {
    num: i128,
    den: i128,
    /// The offset in ticks from the stream's start.
    pub offset_ticks: i64,
}

impl Timeline {
    pub fn new(stream: &StreamInfo, offset_ms: u64) -> Timeline {
        let (num, den) = (i128::from(stream.time_base.num), i128::from(stream.time_base.den));
        let mut timeline = Timeline { num, den, offset_ticks: 0 };
        timeline.offset_ticks = timeline.ticks_nearest(i128::from(offset_ms));
        timeline
    }

    /// The timestamp the offset names on a stream starting at `start`.
    pub fn target(&self, start: i64) -> i64 {
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

/// A decoded frame and the time selection gave it.
struct Timed {
    frame: Frame,
    pts: i64,
}

/// Where the demuxer and decoder stand between targets.
enum Position {
    /// At the start of the input: nothing read yet but what opening it read ahead.
    Start,
    /// Just after `last`, the frame returned for `offset_ms`.
    After { last: Timed, offset_ms: u64 },
    /// After the fast mode's answer `last`, decoded alone: the decoder holds nothing to go
    /// on from. `eof_pts` is the latest packet time, when the search read to the end of the
    /// input.
    AtKeyframe { last: Timed, eof_pts: Option<i64> },
    /// Anywhere else (after a seek, a failure, or decoding on that gave up): the next
    /// target seeks, or opens the input again to decode it from the start.
    Elsewhere,
}

/// How frames are placed on the stream's timeline.
struct Clock {
    /// The stream's first timestamp, once known (else the first frame's is taken).
    start: Option<i64>,
    /// The time given to the last frame decoded: a frame without a timestamp is placed
    /// one frame after it. `None` at the start and after a seek.
    placed: Option<i64>,
    /// One frame's duration in ticks.
    step: i64,
}

impl Clock {
    fn new(stream: &StreamInfo) -> Clock {
        Clock { start: stream.start_time, placed: None, step: frame_step(stream) }
    }

    /// The time of `frame`: its own timestamp, else one frame after the frame before (the
    /// first at the stream's start), as the ffmpeg CLI places frames without timestamps;
    /// with the stream's start, which the first frame sets when the stream had none.
    fn place(&mut self, frame: &Frame) -> (i64, i64) {
        let pts = frame.pts().or(self.placed.map(|p| p.saturating_add(self.step))).unwrap_or(self.start.unwrap_or(0));
        self.placed = Some(pts);
        (pts, *self.start.get_or_insert(pts))
    }
}

/// Whether FFmpeg decodes a P-frame of this stream whose reference it never had from a
/// blank picture (its MPEG-1/2, MPEG-4 Part 2 and H.263 family) and shows it. The H.264
/// decoder instead shows nothing before a picture it can rebuild, and intra-refresh
/// streams rightly mark recovery-point P-frames as keyframes: a seek to one is sound. For
/// HEVC see [`makes_up_references`].
fn predicts_from_blank(stream: &StreamInfo) -> bool {
    matches!(
        stream.codec_name.as_str(),
        "mpeg1video"
            | "mpeg2video"
            | "mpeg4"
            | "h263"
            | "h263p"
            | "flv1"
            | "msmpeg4v1"
            | "msmpeg4v2"
            | "msmpeg4v3"
            | "wmv1"
            | "wmv2"
    )
}

/// Whether FFmpeg's decoder for this stream, given pictures whose references it never had,
/// makes the references up (grey) and shows what it predicts from them: FFmpeg 5.1's HEVC
/// decoder does ("Could not find ref with POC"). After a seek, which in MPEG-TS lands on
/// any packet (its seeks search by timestamp) and in an MP4 without a sync-sample table
/// on a sample wrongly marked as a keyframe, such a stream's packets wait for the first
/// that [`starts_picture`] says the decoder can rebuild from itself.
fn makes_up_references(stream: &StreamInfo) -> bool {
    stream.nal_framing.is_some()
}

/// Whether decoding may start at `packet`: for HEVC, an IRAP picture by its first slice's
/// NAL unit type (its RASL pictures the decoder then leaves out, its RADL pictures need
/// nothing before it), else, or where no slice is found, the container's keyframe mark.
fn starts_picture(packet: &Packet, stream: &StreamInfo) -> bool {
    stream.nal_framing.and_then(|framing| starts_irap(packet.data(), framing)).unwrap_or_else(|| packet.is_key())
}

/// The decoded-frame limit of one search.
struct Budget {
    decoded: u64,
    max: u64,
}

impl Budget {
    /// Counts a frame decoded on the way to the offset.
    fn count(&mut self) -> Result<(), Error> {
        self.charge("without reaching the offset")
    }

    /// Counts a keyframe decoded alone (fast mode: to tell whether its mark is true, or as
    /// the answer).
    fn count_keyframe(&mut self) -> Result<(), Error> {
        self.charge("looking for a keyframe at or before the offset")
    }

    fn charge(&mut self, what: &str) -> Result<(), Error> {
        self.decoded += 1;
        if self.decoded > self.max {
            return Err(Error::new(
                Status::LimitExceeded,
                format!("decoded {} frames {what} (the decode limit)", self.max),
            ));
        }
        Ok(())
    }
}

/// What one forward decode ended with.
enum Outcome {
    /// The first frame at or after the target.
    Found(Timed),
    /// The first frame came out after the target: the seek landed late.
    Late,
    /// The input ended before the target: its last frame, if any.
    Ended(Option<Timed>),
    /// After a seek, the decoder left out frames whose packets were read (FFmpeg's H.264
    /// decoder, single-threaded, drops the last frames after a seek to a non-IDR keyframe),
    /// or gave a frame that cannot be placed in time: the answer may be one of them, so
    /// only a pass from the start can be trusted.
    Lost,
}

/// One forward decode from where the demuxer stands to the first frame at or after a
/// target: the frames and packets it has seen so far.
struct Scan<'t> {
    timeline: &'t Timeline,
    /// After a seek to this target, a first frame past it means the seek landed late.
    check_late: Option<i64>,
    first: bool,
    found: Option<Timed>,
    last: Option<Timed>,
    late: bool,
    /// After a seek, the first frame cannot be trusted: it came out without a timestamp,
    /// or predicted from a picture before the seek.
    untrusted: bool,
    /// Whether the decoder decodes a P-frame without its reference from a blank picture
    /// (see [`predicts_from_blank`]).
    blank_references: bool,
    /// Packet times a seek pass checks the decoder's output against: the earliest at or
    /// after the target, and the latest (frames skipped on purpose left aside).
    first_due: Option<i64>,
    last_due: Option<i64>,
}

impl<'t> Scan<'t> {
    fn new(timeline: &'t Timeline, check_late: Option<i64>, blank_references: bool) -> Scan<'t> {
        Scan {
            blank_references,
            timeline,
            check_late,
            first: true,
            found: None,
            last: None,
            late: false,
            untrusted: false,
            first_due: None,
            last_due: None,
        }
    }

    /// Notes a packet about to be decoded (`skipped`: as non-reference frames skipped).
    fn packet(&mut self, packet: &Packet, skipped: bool) {
        if let (Some(target), Some(pts), false, false) = (self.check_late, packet.pts(), skipped, packet.is_discarded())
        {
            self.last_due = self.last_due.max(Some(pts));
            if pts >= target {
                self.first_due = Some(self.first_due.map_or(pts, |due| due.min(pts)));
            }
        }
    }

    /// Takes a frame the decoder released; `Flow::Stop` once the scan has its answer.
    fn frame(&mut self, frame: &mut Frame, clock: &mut Clock) -> Result<Flow, Error> {
        // After a seek, a frame without a timestamp before any with one cannot be placed
        // (the clock would put it at the stream's start): only a pass from the start can.
        if self.check_late.is_some() && frame.pts().is_none() && clock.placed.is_none() {
            self.untrusted = true;
            return Ok(Flow::Stop);
        }
        // After a seek, a first frame predicted from an earlier picture means the packet
        // marked as a keyframe was none (an AVI stream-copied through mpeg4_unpack_bframes
        // keeps the mark on the packet before the I-frame): the decoder made it up from a
        // blank picture, dropped the B-frames after it and gave the rest the wrong times.
        if self.first && self.check_late.is_some() && self.blank_references && frame.is_predicted() {
            self.untrusted = true;
            return Ok(Flow::Stop);
        }
        let (pts, start) = clock.place(frame);
        if std::mem::take(&mut self.first) && self.check_late.is_some_and(|target| pts > target) {
            self.late = true;
            return Ok(Flow::Stop);
        }
        let timed = Timed { frame: std::mem::replace(frame, Frame::new()?), pts };
        if self.timeline.reached(pts, start) {
            self.found = Some(timed);
            return Ok(Flow::Stop);
        }
        self.last = Some(timed);
        Ok(Flow::Continue)
    }

    fn outcome(self) -> Outcome {
        if self.untrusted {
            return Outcome::Lost;
        }
        if self.late {
            return Outcome::Late;
        }
        match (self.found, self.last) {
            // A packet due at or before the found frame never became a frame.
            (Some(found), _) if self.first_due.is_some_and(|due| due < found.pts) => Outcome::Lost,
            (Some(found), _) => Outcome::Found(found),
            // A packet due after the last frame never became a frame.
            (None, Some(last)) if self.last_due.is_some_and(|due| due > last.pts) => Outcome::Lost,
            (None, last) => Outcome::Ended(last),
        }
    }
}

/// What a look for a keyframe packet found.
enum KeyScan {
    /// The last keyframe at or before the target, with its picture where the scan decoded
    /// it already (to tell a false mark); `eof_pts`, the latest packet time when the input
    /// ended before any packet past the target.
    Found { packet: Packet, picture: Option<Frame>, eof_pts: Option<i64> },
    /// No true keyframe among the packets read, the first of which was at this decoding
    /// time (see [`Selector::scan_tested_keyframes`]): look before it.
    FalseFrom(Option<i64>),
    /// No keyframe before the target; the first one after it (from the stream's start, a
    /// true one, with its picture where the scan decoded it to tell).
    Late(Packet, Option<Frame>),
    /// No keyframe at all before the input ended.
    None,
}

/// Answers targets on one source; see the module's documentation.
pub(crate) struct Selector<'a> {
    source: Source<'a>,
    position: Position,
    clock: Clock,
    budget: Budget,
    /// Packets before this timestamp are decoded with `skip_frame = nonref`: their frames
    /// cannot be the answer, and frames nothing refers to need not be decoded at all.
    skip_before: Option<i64>,
    /// Whether any packet was decoded that way (the last frame may then be missing).
    skipped: bool,
    /// Whether this search met frame times that depend on the decode's history (see
    /// [`Selector::faulty_times`]).
    mistimed: bool,
    /// The stream's timestamps are faulty: its frames are timed as ffmpeg times them only
    /// when every frame is decoded from the start, so every search here is such a pass.
    faulty_times: bool,
    /// The target that will be asked for after the current one, when the caller knows
    /// (batches, samples, storyboards); set for one call of [`Selector::next`].
    next_target: Option<u64>,
    /// For a pipe, the failure of the last search, which may have read it to its end: a
    /// later search that would read it again says so rather than blame the order.
    pipe_failure: Option<Error>,
}

impl<'a> Selector<'a> {
    /// Opens `input` (an [`crate::Input`] or an owned origin) under `options` (see
    /// [`Source::open`]).
    pub fn open(input: impl Into<Origin<'a>>, options: &Options) -> Result<Selector<'a>, Error> {
        Ok(Selector::new(Source::open(input.into(), options)?))
    }

    /// A selector over a freshly opened source.
    pub fn new(source: Source<'a>) -> Selector<'a> {
        let clock = Clock::new(source.stream());
        let budget = Budget { decoded: 0, max: source.options().max_decoded_frames };
        Selector {
            source,
            position: Position::Start,
            clock,
            budget,
            skip_before: None,
            skipped: false,
            mistimed: false,
            faulty_times: false,
            next_target: None,
            pipe_failure: None,
        }
    }

    /// Tells the selector which target the caller will ask for after the next one (batches,
    /// samples and storyboards know): a target near its keyframe is decoded on one thread
    /// only when the one after it is sought, or is near its keyframe too, so that a long
    /// decode on from it gets the decoder's threads.
    pub fn expect_next(&mut self, offset_ms: Option<u64>) {
        self.next_target = offset_ms;
    }

    /// The stream's facts.
    pub fn stream(&self) -> &StreamInfo {
        self.source.stream()
    }

    /// The frame `mode` names for `offset_ms`: [`Selector::next_at`] or
    /// [`Selector::keyframe_at`].
    pub fn next(&mut self, offset_ms: u64, mode: Mode) -> Result<Located, Error> {
        if let Some(refusal) = self.pipe_refusal(offset_ms) {
            self.next_target = None;
            return Err(refusal);
        }
        let result = match mode {
            Mode::Exact => self.next_at(offset_ms),
            Mode::Fast => self.keyframe_at(offset_ms),
        };
        self.next_target = None;
        if !self.source.seekable() {
            match &result {
                Ok(_) => self.pipe_failure = None,
                // A refusal to read the pipe again read nothing: it is no cause.
                Err(e) if e.status() == Status::InvalidArgument => {}
                Err(e) if self.pipe_failure.is_none() => self.pipe_failure = Some(e.clone()),
                Err(_) => {} // the first failure is the cause
            }
        }
        result
    }

    /// For a pipe, an offset before the one last answered: refused before anything is
    /// touched, so that the source goes on from where it is for later offsets.
    fn pipe_refusal(&self, offset_ms: u64) -> Option<Error> {
        match &self.position {
            Position::After { offset_ms: last, .. } if !self.source.seekable() && offset_ms < *last => {
                Some(Error::new(
                    Status::InvalidArgument,
                    format!(
                        "the input is a pipe, which is read once: its frames can only be asked for in time \
                         order (offset {} s after {} s)",
                        crate::spec::seconds_text(offset_ms),
                        crate::spec::seconds_text(*last)
                    ),
                ))
            }
            _ => None,
        }
    }

    /// Opens the decoder for a search for `offset_ms` unless a suitable one is open (see
    /// [`Selector::expect_next`]).
    fn prepare(&mut self, offset_ms: u64) -> Result<(), Error> {
        let single_allowed = self
            .next_target
            .map_or(true, |next| self.source.seeks_between(offset_ms, next) || self.source.near_keyframe(next));
        self.source.prepare_decoder(offset_ms, single_allowed)
    }

    /// A selector over the same input opened anew (see [`Source::open_again`]).
    pub fn open_again(&self) -> Result<Selector<'a>, Error> {
        Ok(Selector::new(self.source.open_again()?))
    }

    /// Starts the time limit again: a new call on this selector's input begins.
    pub fn restart_time_limit(&self) {
        self.source.restart_clock();
    }

    /// The frame SPEC §2 names for `offset_ms`. On an error the selector stays usable:
    /// the next target starts over.
    pub fn next_at(&mut self, offset_ms: u64) -> Result<Located, Error> {
        let result = match self.decode_on(offset_ms) {
            Ok(Some(located)) => Ok(located),
            Ok(None) => self.locate(offset_ms),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.position = Position::Elsewhere;
        }
        result
    }

    /// The frame for `offset_ms` by decoding on from the frame last returned: for a later
    /// target in the same GOP this is cheaper than a seek. `None` when a seek would be no
    /// worse (the container's index has a keyframe after that frame and before the
    /// target), the target is earlier, or decoding on cannot tell.
    fn decode_on(&mut self, offset_ms: u64) -> Result<Option<Located>, Error> {
        let Position::After { last, offset_ms: last_offset, .. } = &self.position else { return Ok(None) };
        let (Some(start), Some(last_pts)) = (self.clock.start, last.frame.pts()) else { return Ok(None) };
        if offset_ms < *last_offset {
            return Ok(None);
        }
        let timeline = Timeline::new(self.source.stream(), offset_ms);
        let target = timeline.target(start);
        if last_pts >= target {
            return self.repeat_last(offset_ms, false).map(Some);
        }
        match self.source.keyframe_before(target) {
            // A pipe cannot seek: it decodes on past the keyframe.
            Some(keyframe) if keyframe > last_pts && self.source.seekable() => return Ok(None),
            None if self.source.seekable() => return Ok(None),
            _ => {}
        }
        self.new_search();
        self.skip_before = if self.faulty_times { None } else { self.skip_target(Some(start), &timeline) };
        let outcome = self.scan(&timeline, None)?;
        if self.mistimed && self.redo_for_faulty_times() {
            return Ok(None);
        }
        match outcome {
            Outcome::Found(timed) => self.settle(timed, offset_ms, false).map(Some),
            Outcome::Ended(_) if self.skipped => {
                self.position = Position::Elsewhere;
                Ok(None)
            }
            Outcome::Ended(Some(timed)) => self.settle(timed, offset_ms, true).map(Some),
            // Nothing after the last frame returned: it is the last frame.
            Outcome::Ended(None) => self.repeat_last(offset_ms, true).map(Some),
            Outcome::Late | Outcome::Lost => {
                self.position = Position::Elsewhere;
                Ok(None)
            }
        }
    }

    /// The frame last returned, again, now as the answer for `offset_ms` (`ended`: the
    /// input ended before it).
    fn repeat_last(&mut self, offset_ms: u64, ended: bool) -> Result<Located, Error> {
        let stream = self.source.stream();
        let start = self.clock.start.or(stream.start_time);
        let target = Timeline::new(stream, offset_ms).target(start.unwrap_or(0));
        let step = frame_step(stream);
        let (last, past_end) = match &mut self.position {
            Position::After { last, offset_ms: answered } => {
                *answered = offset_ms;
                (&*last, ended && target >= last.pts.saturating_add(step))
            }
            Position::AtKeyframe { last, eof_pts, .. } => {
                (&*last, eof_pts.is_some_and(|end| target >= end.saturating_add(step)))
            }
            Position::Start | Position::Elsewhere => return Err(Error::new(Status::Internal, "no frame to repeat")),
        };
        let located = Located {
            frame: last.frame.try_clone()?,
            stream: stream.clone(),
            sample_aspect_ratio: self.source.sample_aspect_ratio(&last.frame),
            ticks: start.map(|start| last.pts.saturating_sub(start)),
            past_end,
        };
        Ok(located)
    }

    /// The frame for `offset_ms` from a seek (or from the start).
    fn locate(&mut self, offset_ms: u64) -> Result<Located, Error> {
        match self.attempt(offset_ms, true)? {
            Some((timed, ended)) => self.settle(timed, offset_ms, ended),
            // The container overstated its duration and frames skipped on the way may
            // include the last one, or the stream's times proved faulty: do it again
            // without skipping (rare, and then exact).
            None => match self.attempt(offset_ms, false)? {
                Some((timed, ended)) => self.settle(timed, offset_ms, ended),
                None => Err(Error::new(Status::Internal, "frame search without skipping asked to skip")),
            },
        }
    }

    /// One search for `offset_ms`: a seek (on the demuxer as it stands: a seek needs no
    /// fresh one), else from the start. `None` when it ran to the end having skipped frames,
    /// so that the last frame may have been skipped; else the frame and whether the input
    /// ended before the target.
    fn attempt(&mut self, offset_ms: u64, allow_skip: bool) -> Result<Option<(Timed, bool)>, Error> {
        self.reset();
        let timeline = Timeline::new(self.source.stream(), offset_ms);
        self.prepare(offset_ms)?;
        let allow_skip = allow_skip && !self.faulty_times;
        let skip_before = if allow_skip { self.skip_target(self.clock.start, &timeline) } else { None };
        self.skip_before = skip_before;
        let outcome = match self.seek_and_scan(&timeline)? {
            Some(outcome) => outcome,
            None => {
                // From the start, on a fresh demuxer: robust where seeking is not.
                self.rewind()?;
                self.prepare(offset_ms)?;
                self.skip_before = skip_before;
                self.scan(&timeline, None)?
            }
        };
        if self.mistimed && self.redo_for_faulty_times() {
            return Ok(None);
        }
        if matches!(outcome, Outcome::Ended(_)) && self.skipped {
            return Ok(None);
        }
        match outcome {
            Outcome::Found(timed) => Ok(Some((timed, false))),
            Outcome::Ended(Some(timed)) => Ok(Some((timed, true))),
            Outcome::Late | Outcome::Ended(None) | Outcome::Lost => Err(self.no_frame()),
        }
    }

    /// Forgets what was learnt about frame times and limits in the last search.
    fn reset(&mut self) {
        self.clock = Clock::new(self.source.stream());
        self.new_search();
    }

    /// Puts the selector at the start of a fresh demuxer, unless it is there already.
    fn rewind(&mut self) -> Result<(), Error> {
        if !matches!(self.position, Position::Start) {
            if let Some(e) = &self.pipe_failure {
                return Err(Error::new(
                    e.status(),
                    format!(
                        "the input is a pipe, which is read once, and an earlier frame's search failed: {}",
                        e.message()
                    ),
                ));
            }
            self.position = Position::Elsewhere;
            self.source.reopen()?;
            self.position = Position::Start;
        }
        self.reset();
        Ok(())
    }

    /// After a search that met faulty times (`mistimed`), whether to search again: the first
    /// time, on an input that can be read again, every later search becoming a decode of
    /// every frame from the start. A pipe keeps the answer of its one pass.
    fn redo_for_faulty_times(&mut self) -> bool {
        if self.faulty_times || !self.source.seekable() {
            return false;
        }
        self.faulty_times = true;
        self.position = Position::Elsewhere;
        true
    }

    /// Resets what one search counts: decoded frames, and frames skipped on purpose.
    fn new_search(&mut self) {
        self.budget.decoded = 0;
        self.skipped = false;
        self.mistimed = false;
    }

    /// Seeks to the keyframe before the target and decodes forward from there, seeking
    /// further back while the seek lands late. `None` when no seek can be trusted: the
    /// target is among untimed frames at the stream's head, the input is a pipe or has no
    /// start time, or the seeks failed, lost frames or kept landing late.
    fn seek_and_scan(&mut self, timeline: &Timeline) -> Result<Option<Outcome>, Error> {
        let Some(begin) = self.clock.start else { return Ok(None) };
        if self.faulty_times {
            return Ok(None);
        }
        // Targets among untimed frames at the stream's head are reached from the start.
        let beyond_untimed = self.source.untimed_span().is_some_and(|span| timeline.offset_ticks > span);
        if !beyond_untimed || !self.source.seekable() {
            return Ok(None);
        }
        let target = timeline.target(begin);
        // Past the end the answer is the last frame: seek to the end rather than beyond it,
        // where some demuxers (MPEG-TS) find no packet at all. Seeking earlier than needed
        // costs time, never correctness, so a wrong duration does no harm.
        let seek_base = match self.source.stream().duration {
            Some(duration) if duration > 0 => target.min(begin.saturating_add(duration)),
            _ => target,
        };
        let mut backoff_ms: i64 = 0;
        for _ in 0..MAX_SEEK_RETRIES {
            let seek_to = seek_base.saturating_sub(timeline.ticks(i128::from(backoff_ms)));
            if seek_to <= begin {
                break;
            }
            self.position = Position::Elsewhere;
            if self.source.seek(seek_to).is_err() {
                break;
            }
            self.clock.placed = None;
            match self.scan(timeline, Some(target))? {
                // Landed after the target, or so near the end that no frame came out:
                // seek further back.
                Outcome::Late | Outcome::Ended(None) => backoff_ms = (backoff_ms * 2).max(FIRST_BACKOFF_MS),
                // The decoder cannot be trusted after this seek: decode from the start.
                Outcome::Lost => break,
                done => return Ok(Some(done)),
            }
        }
        Ok(None)
    }

    /// Decodes forward from the demuxer's position until the first frame at or after the
    /// timeline's offset, or the end. `check_late` (a pass after a seek, to this target)
    /// makes a first frame past the target end the pass with `Late`, and a frame left out
    /// by the decoder end it with `Lost`.
    fn scan(&mut self, timeline: &Timeline, check_late: Option<i64>) -> Result<Outcome, Error> {
        let max_packets = self.source.options().max_decoded_frames.saturating_mul(4);
        let (mut packet, mut frame) = (Packet::new()?, Frame::new()?);
        let mut scan = Scan::new(timeline, check_late, predicts_from_blank(self.source.stream()));
        let mut packets: u64 = 0;
        // After a seek, packets before the first that can start a picture are left out where
        // the decoder would make up their references (see `makes_up_references`).
        let mut await_key = check_late.is_some() && makes_up_references(self.source.stream());
        // Container timestamps that are decoding times (every pts equal to its dts) in an
        // MPEG-4 Part 2 stream the decoder reorders (its VOL says B-frames may come, and
        // encoders say so only when they use them): the times of frames depend on which
        // were decoded. Other codecs declare reordering without B-frames (FFmpeg's MPEG-2
        // encoder, some H.264 headers), where pts = dts is right.
        let mut pts_is_dts = self.source.stream().codec_name == "mpeg4";
        let Selector { source, clock, budget, skip_before, skipped, mistimed, .. } = self;
        loop {
            source.poll()?;
            let more = source.read(&mut packet)?;
            if more {
                packets += 1;
                if packets > max_packets {
                    return Err(Error::new(
                        Status::LimitExceeded,
                        "read too many packets without a frame (the decode limit)",
                    ));
                }
                if await_key && !starts_picture(&packet, source.stream()) {
                    continue;
                }
                await_key = false;
                // Packed B-frames are decoded whatever their packet times say: stream-copied
                // into MP4 or MOV they carry decoding times as presentation times, and
                // which frames are B-frames changes how FFmpeg times the others.
                let skip =
                    skip_before.is_some_and(|t| packet.pts().is_some_and(|p| p < t)) && !source.packed_b_frames();
                *skipped |= skip;
                scan.packet(&packet, skip);
                source.decoder()?.skip_non_reference(skip);
                pts_is_dts &= packet.pts().is_some() && packet.pts() == packet.dts();
            }
            let decoder = source.decoder()?;
            let flow = decoder.decode(more.then_some(&packet), &mut frame, &mut |f| {
                budget.count()?;
                *mistimed |= f.times_disagree();
                scan.frame(f, clock)
            })?;
            // A picture refused for its size may have been the answer: never a fallback.
            decoder.limit_error()?;
            if !more || flow == Flow::Stop {
                break;
            }
        }
        *mistimed |= packets >= 2 && pts_is_dts && source.decoder()?.reorders();
        Ok(scan.outcome())
    }

    /// Makes `timed` the answer for `offset_ms`: the demuxer and decoder now stand just
    /// after it.
    fn settle(&mut self, timed: Timed, offset_ms: u64, ended: bool) -> Result<Located, Error> {
        self.position = Position::After { last: timed, offset_ms };
        self.repeat_last(offset_ms, ended)
    }

    /// Whether to skip non-reference frames before the target: only before the last
    /// frames. Past the end the answer is the last frame, which may be one nothing refers
    /// to; and where the container's duration is wrong, a pass that ends having skipped is
    /// redone without.
    fn skip_target(&self, start: Option<i64>, timeline: &Timeline) -> Option<i64> {
        let stream = self.source.stream();
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

    /// The fast mode's answer for `offset_ms`: the keyframe at or before it (the first
    /// keyframe when the offset is before it, the last one past the end), found from the
    /// container's keyframe flags after a seek and decoded alone. Where keyframes cannot be
    /// placed in time (pipes, streams without timestamps at their head) or no seek finds
    /// one, the exact frame instead. On an error the selector stays usable.
    pub fn keyframe_at(&mut self, offset_ms: u64) -> Result<Located, Error> {
        let result = self.find_keyframe(offset_ms);
        if result.is_err() {
            self.position = Position::Elsewhere;
        }
        result
    }

    fn find_keyframe(&mut self, offset_ms: u64) -> Result<Located, Error> {
        let stream = self.source.stream();
        let (Some(start), true, Some(0)) = (stream.start_time, self.source.seekable(), self.source.untimed_span())
        else {
            return self.next_at(offset_ms);
        };
        let timeline = Timeline::new(stream, offset_ms);
        let target = timeline.target(start);
        // Each target is looked up afresh, from packet flags: an index may list only some
        // keyframes (WebM cues), and a repeat decided from it would miss the others.
        self.reset();
        let seek_base = match self.source.stream().duration {
            Some(duration) if duration > 0 => target.min(start.saturating_add(duration)),
            _ => target,
        };
        let mut backoff_ms: i64 = 0;
        // Where a scan that found only false marks began (decoding time): the next stops there.
        let mut false_from: Option<i64> = None;
        let test_marks = predicts_from_blank(self.source.stream());
        // Where marks are tested, the steps back go on (each scan stops where the one
        // before began) until one reads from the start: a true keyframe minutes back is
        // found in a few dozen steps.
        for attempt in 0.. {
            if attempt >= MAX_SEEK_RETRIES && !test_marks {
                break;
            }
            let seek_to = seek_base.saturating_sub(timeline.ticks(i128::from(backoff_ms)));
            // At the stream's start a seek may land past its first keyframe (MPEG-TS): read
            // a fresh demuxer from its start instead; so too where the seek fails (an MP4
            // whose first sync sample is after the target).
            self.position = Position::Elsewhere;
            let from_start = seek_to <= start || self.source.seek(seek_to).is_err();
            if from_start {
                self.rewind()?;
                self.position = Position::Elsewhere;
            }
            if self.source.options().threads == 0 {
                // One keyframe per target: decoder threads would only add latency.
                self.source.open_decoder(1)?;
            } else {
                self.prepare(offset_ms)?;
            }
            let scan = if test_marks {
                self.scan_tested_keyframes(target, false_from, from_start)?
            } else {
                self.scan_keyframes(target)?
            };
            match scan {
                KeyScan::Found { packet, picture, eof_pts } => {
                    return self.decode_keyframe(&packet, picture, offset_ms, start, eof_pts);
                }
                // Before the first keyframe: the first keyframe.
                KeyScan::Late(packet, picture) if from_start => {
                    return self.decode_keyframe(&packet, picture, offset_ms, start, None);
                }
                _ if from_start => break,
                KeyScan::FalseFrom(began) => {
                    false_from = began.into_iter().chain(false_from).min();
                    backoff_ms = backoff_ms.saturating_mul(2).max(FIRST_BACKOFF_MS);
                }
                KeyScan::Late(..) | KeyScan::None => backoff_ms = backoff_ms.saturating_mul(2).max(FIRST_BACKOFF_MS),
            }
        }
        self.next_at(offset_ms)
    }

    /// Reads packets from where the demuxer stands: the last keyframe packet at or before
    /// `target`, or the first one after it when none came before.
    fn scan_keyframes(&mut self, target: i64) -> Result<KeyScan, Error> {
        let mut packet = Packet::new()?;
        let mut best: Option<Packet> = None;
        let mut packets: u64 = 0;
        let mut latest: Option<i64> = None;
        loop {
            if !self.next_scanned(&mut packet, &mut packets)? {
                return Ok(match best {
                    Some(packet) => KeyScan::Found { packet, picture: None, eof_pts: latest },
                    None => KeyScan::None,
                });
            }
            let pts = packet.pts();
            latest = latest.max(pts);
            if self.is_mark(&packet) {
                match pts {
                    Some(p) if p <= target => best = Some(packet.try_clone()?),
                    Some(_) if best.is_none() => return Ok(KeyScan::Late(packet, None)),
                    Some(_) => break,
                    None => {}
                }
            }
            // Packets come in decoding order and none shows before it is decoded: once one
            // is decoded after the target, no later keyframe is at or before it.
            if best.is_some() && packet.dts().or(pts).is_some_and(|t| t > target) {
                break;
            }
        }
        Ok(best.map_or(KeyScan::None, |packet| KeyScan::Found { packet, picture: None, eof_pts: None }))
    }

    /// [`Selector::scan_keyframes`] for the codecs whose decoders predict a P-frame from a
    /// blank picture (see [`predicts_from_blank`]), whose keyframe marks a container may set
    /// on every packet (Matroska does for H.263, an MP4 without a sync-sample table for
    /// anything): a mark counts only if its packet decodes alone to an intra picture.
    ///
    /// Marks are tested lazily, the latest first: the marks since the last one found true
    /// are held (at most [`RECENT_MARKS`]: more are tested, the latest first, and dropped),
    /// so a stream whose marks are true costs one decode, and a false one each of its marks
    /// at most once. Reading stops at the decoding time `stop` where a scan before began
    /// (that scan saw only false marks from there to the target). Where no mark is true,
    /// `FalseFrom` where this scan began; from the stream's start (`from_start`), the first
    /// true mark after the target instead.
    fn scan_tested_keyframes(&mut self, target: i64, stop: Option<i64>, from_start: bool) -> Result<KeyScan, Error> {
        let mut packet = Packet::new()?;
        let mut found: Option<(Packet, Frame)> = None;
        let mut held: Vec<Packet> = Vec::new();
        let mut began: Option<i64> = None;
        let mut past: Option<Packet> = None;
        let mut packets: u64 = 0;
        let mut latest: Option<i64> = None;
        let mut ended = false;
        loop {
            if !self.next_scanned(&mut packet, &mut packets)? {
                ended = true;
                break;
            }
            let (pts, order) = (packet.pts(), packet.dts().or(packet.pts()));
            latest = latest.max(pts);
            began = began.or(order);
            if stop.is_some_and(|stop| order.is_some_and(|o| o >= stop)) {
                break;
            }
            if self.is_mark(&packet) {
                match pts {
                    Some(p) if p <= target => {
                        held.push(packet.try_clone()?);
                        if held.len() > RECENT_MARKS {
                            self.test_marks(&mut held, &mut found)?;
                        }
                    }
                    Some(_) => {
                        past = Some(packet.try_clone()?);
                        break;
                    }
                    None => {}
                }
            }
            if order.is_some_and(|o| o > target) && (found.is_some() || !held.is_empty()) {
                break;
            }
        }
        self.test_marks(&mut held, &mut found)?;
        if let Some((packet, picture)) = found {
            return Ok(KeyScan::Found { packet, picture: Some(picture), eof_pts: if ended { latest } else { None } });
        }
        if !from_start {
            return Ok(KeyScan::FalseFrom(began));
        }
        // From the start, no true mark at or before the target: the first after it.
        loop {
            if let Some(mark) = past.take() {
                if let Some(picture) = self.decode_alone(&mark)?.filter(Frame::is_intra) {
                    return Ok(KeyScan::Late(mark, Some(picture)));
                }
            }
            if !self.next_scanned(&mut packet, &mut packets)? {
                return Ok(KeyScan::None);
            }
            if self.is_mark(&packet) && packet.pts().is_some_and(|p| p > target) {
                past = Some(packet.try_clone()?);
            }
        }
    }

    /// Reads a keyframe scan's next packet into `packet` (`false` at the input's end),
    /// counting it in `packets` against the decode limit (four packets a frame).
    fn next_scanned(&mut self, packet: &mut Packet, packets: &mut u64) -> Result<bool, Error> {
        self.source.poll()?;
        if !self.source.read(packet)? {
            return Ok(false);
        }
        *packets += 1;
        if *packets > self.source.options().max_decoded_frames.saturating_mul(4) {
            return Err(Error::new(
                Status::LimitExceeded,
                "read too many packets without a keyframe (the decode limit)",
            ));
        }
        Ok(true)
    }

    /// Whether `packet` is marked (or, for HEVC, shown by its NAL unit header) as a
    /// keyframe, and not left out by the demuxer.
    fn is_mark(&self, packet: &Packet) -> bool {
        starts_picture(packet, self.source.stream()) && !packet.is_discarded()
    }

    /// Tests the `held` marks, the latest first, until one decodes alone to an intra picture,
    /// which becomes `found`; empties `held` (the marks before a true one are passed over).
    fn test_marks(&mut self, held: &mut Vec<Packet>, found: &mut Option<(Packet, Frame)>) -> Result<(), Error> {
        while let Some(mark) = held.pop() {
            if let Some(picture) = self.decode_alone(&mark)?.filter(Frame::is_intra) {
                *found = Some((mark, picture));
                held.clear();
            }
        }
        Ok(())
    }

    /// The picture of `packet` decoded alone (the decoder flushed before and after), or
    /// `None` where the decoder would not give one on its own.
    fn decode_alone(&mut self, packet: &Packet) -> Result<Option<Frame>, Error> {
        let decoder = self.source.decoder()?;
        decoder.flush();
        decoder.skip_non_reference(false);
        let mut frame = Frame::new()?;
        let mut got: Option<Frame> = None;
        // The packet, then (unless it gave its frame at once) the end of the stream, which
        // makes the decoder give out what it holds.
        for input in [Some(packet), None] {
            decoder.decode(input, &mut frame, &mut |f: &mut Frame| {
                got = Some(std::mem::replace(f, Frame::new()?));
                Ok(Flow::Stop)
            })?;
            if got.is_some() {
                break;
            }
        }
        let limit = decoder.limit_error();
        decoder.flush();
        limit?;
        self.budget.count_keyframe()?;
        Ok(got)
    }

    /// Makes the keyframe `packet` the answer for `offset_ms`, from its `picture` where the
    /// scan decoded it already, else decoded alone now.
    fn decode_keyframe(
        &mut self,
        packet: &Packet,
        picture: Option<Frame>,
        offset_ms: u64,
        start: i64,
        eof_pts: Option<i64>,
    ) -> Result<Located, Error> {
        let picture = match picture {
            Some(picture) => Some(picture),
            None => self.decode_alone(packet)?,
        };
        let Some(frame) = picture else {
            // The decoder would not show the keyframe on its own: find it exactly.
            let ticks = packet.pts().unwrap_or(start).saturating_sub(start).max(0);
            let ms = (i128::from(ticks) * 1000 * i128::from(self.source.stream().time_base.num)
                / i128::from(self.source.stream().time_base.den)) as u64;
            return self.next_at(ms);
        };
        let pts = frame.pts().or(packet.pts()).unwrap_or(start);
        self.clock.start = Some(start);
        self.position = Position::AtKeyframe { last: Timed { frame, pts }, eof_pts };
        self.repeat_last(offset_ms, false)
    }

    /// The error for a stream of which no frame could be decoded.
    fn no_frame(&mut self) -> Error {
        let stream = self.source.stream();
        let (codec, format) = (stream.codec_name.clone(), stream.format_name.clone());
        let mut why = match self.source.decoder() {
            Ok(decoder) => decoder.last_error().map(|e| format!(": {e}")).unwrap_or_default(),
            Err(_) => String::new(),
        };
        if !self.source.seekable() && format.starts_with("mov,") {
            why.push_str(
                " (read from a pipe, an MP4 must have its index before its data: write it with \
                 `-movflags +faststart`, or give a file)",
            );
        }
        Error::new(
            Status::DecodeError,
            format!("no frame of the {codec} video stream (in {format}) could be decoded{why}"),
        )
    }
}
