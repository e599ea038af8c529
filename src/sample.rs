//! Many frames of one video in one pass: Qiniu's `vsample` ([`Sample`]), and the moments
//! a storyboard tiles ([`Visits`], shared with `storyboard`).
//!
//! The moments of the span are visited in time order by one selector, which decodes on
//! within a GOP and seeks when the next moment is far: no span of the video is decoded
//! twice. Frames stream out one at a time (an iterator), so memory does not grow with
//! their number. Each frame is the one a single `vframe/…/offset/T` call gives at its
//! moment T, byte for byte.
//!
//! Safe Rust over `select` and `present`.

use crate::error::{Error, Status};
use crate::present::Presenter;
use crate::select::{Located, Selector};
use crate::spec::{Every, Mode, SampleSpec, MAX_SAMPLE_FRAMES};
use crate::{Image, Input, Options};

/// The moments of a span: `start_ms + i * interval`, or `count` moments spread evenly
/// over the span, each a whole number of milliseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Moments {
    start_ms: u64,
    /// Where the span ends (exclusive), when known: `t`, or the video's end.
    end_ms: Option<u64>,
    /// The interval, or (`Every::Frames`) the span and the count.
    step: Step,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Interval(u64),
    Spread { span_ms: u64, count: u64 },
}

impl Moments {
    /// The moments `ss`, `t` and `interval`/`frames` name, on a video `video_ms` long
    /// (when the container says).
    pub fn new(start_ms: u64, duration_ms: Option<u64>, every: Every, video_ms: Option<u64>) -> Result<Moments, Error> {
        if let Some(video_ms) = video_ms.filter(|&v| start_ms >= v) {
            return Err(past_the_end(start_ms, Some(video_ms)));
        }
        let video_end = video_ms.map(|v| v.max(start_ms));
        let end_ms = match (duration_ms.map(|t| start_ms.saturating_add(t)), video_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let step = match every {
            Every::Interval(ms) => Step::Interval(ms.max(1)),
            Every::Frames(count) => {
                let Some(end_ms) = end_ms else {
                    return Err(Error::new(
                        Status::InvalidArgument,
                        "frames/<N> spreads frames over the span, but the video states no duration: give /t/<seconds>",
                    ));
                };
                Step::Spread { span_ms: end_ms - start_ms, count }
            }
        };
        let moments = Moments { start_ms, end_ms, step };
        if let Some(count) = moments.count().filter(|&n| n > MAX_SAMPLE_FRAMES) {
            return Err(Error::new(
                Status::LimitExceeded,
                format!("the span holds {count} moments, more than {MAX_SAMPLE_FRAMES} (ask for a longer interval)"),
            ));
        }
        Ok(moments)
    }

    /// How many moments there are, when the span's end is known.
    pub fn count(&self) -> Option<u64> {
        match self.step {
            Step::Interval(ms) => self.end_ms.map(|end| (end - self.start_ms).div_ceil(ms)),
            Step::Spread { count, .. } => Some(count),
        }
    }

    /// Moment `i` (0-based), in milliseconds.
    pub fn at(&self, i: u64) -> u64 {
        match self.step {
            Step::Interval(ms) => self.start_ms.saturating_add(i.saturating_mul(ms)),
            Step::Spread { span_ms, count } => {
                self.start_ms + (u128::from(i) * u128::from(span_ms) / u128::from(count.max(1))) as u64
            }
        }
    }

    /// Where a cue starting at moment `start` ends when no moment follows it.
    pub fn last_end(&self, start: u64) -> u64 {
        let step = match self.step {
            Step::Interval(ms) => ms,
            Step::Spread { span_ms, count } => (span_ms / count.max(1)).max(1),
        };
        let end = start.saturating_add(step);
        self.end_ms.map_or(end, |e| end.min(e)).max(start + 1)
    }

    /// Whether frames that answer two moments are given once (`frames/N` on a video with
    /// fewer frames than N gives each frame once, as Qiniu documents).
    fn once_each(&self) -> bool {
        matches!(self.step, Step::Spread { .. })
    }
}

fn past_the_end(start_ms: u64, video_ms: Option<u64>) -> Error {
    let ends = video_ms.map(|v| format!(" (the video ends at {} s)", v as f64 / 1000.0)).unwrap_or_default();
    Error::new(
        Status::InvalidArgument,
        format!("the span starts at {} s, at or after the end of the video{ends}", start_ms as f64 / 1000.0),
    )
}

/// How long the video runs, in milliseconds (rounded up), when the container says: the
/// stream's duration, else where the file ends.
fn video_ms(selector: &Selector<'_>) -> Option<u64> {
    let stream = selector.stream();
    let start = stream.start_time.unwrap_or(0);
    let ticks = stream.duration.or_else(|| stream.file_end.map(|end| end.saturating_sub(start)))?;
    let (num, den) = (i128::from(stream.time_base.num), i128::from(stream.time_base.den));
    let ms = (i128::from(ticks) * num * 1000 + den - 1).div_euclid(den);
    (ms > 0).then(|| ms.min(i128::from(u64::MAX)) as u64)
}

/// One moment and the frame that answers it.
pub(crate) struct Visit {
    /// The frame's number among those given (0-based).
    pub index: usize,
    pub offset_ms: u64,
    pub located: Located,
}

/// The moments of a span visited in time order by one selector.
pub(crate) struct Visits<'a> {
    selector: Selector<'a>,
    moments: Moments,
    mode: Mode,
    next: u64,
    given: usize,
    last_ticks: Option<Option<i64>>,
    done: bool,
}

impl<'a> Visits<'a> {
    pub fn open(
        input: Input<'a>,
        start_ms: u64,
        duration_ms: Option<u64>,
        every: Every,
        mode: Mode,
        options: &Options,
    ) -> Result<Visits<'a>, Error> {
        let selector = Selector::open(input, options)?;
        let moments = Moments::new(start_ms, duration_ms, every, video_ms(&selector))?;
        Ok(Visits { selector, moments, mode, next: 0, given: 0, last_ticks: None, done: false })
    }

    pub fn moments(&self) -> &Moments {
        &self.moments
    }

    /// The next moment and its frame; `None` after the last (or after an error).
    pub fn next_visit(&mut self) -> Option<Result<Visit, Error>> {
        let result = self.visit();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }

    fn visit(&mut self) -> Option<Result<Visit, Error>> {
        loop {
            if self.done || self.moments.count().is_some_and(|n| self.next >= n) {
                return None;
            }
            if self.next >= MAX_SAMPLE_FRAMES {
                return Some(Err(Error::new(
                    Status::LimitExceeded,
                    format!("the span holds more than {MAX_SAMPLE_FRAMES} moments (ask for a longer interval)"),
                )));
            }
            let offset_ms = self.moments.at(self.next);
            self.next += 1;
            let following = self.moments.count().map_or(true, |n| self.next < n).then(|| self.moments.at(self.next));
            self.selector.expect_next(following);
            let located = match self.selector.next(offset_ms, self.mode) {
                Ok(located) => located,
                Err(e) => return Some(Err(e)),
            };
            // Past the video's last frame (where the container overstated its duration, or
            // stated none): the sample ends.
            if located.past_end {
                self.done = true;
                return (self.given == 0).then(|| Err(past_the_end(self.moments.start_ms, None)));
            }
            if self.moments.once_each() && self.last_ticks == Some(located.ticks) {
                continue;
            }
            self.last_ticks = Some(located.ticks);
            self.given += 1;
            return Some(Ok(Visit { index: self.given - 1, offset_ms, located }));
        }
    }
}

/// One frame of a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleFrame {
    /// Its number in the sample (0-based); the pattern's `$(count)` is `index + 1`.
    pub index: usize,
    /// The moment sampled: `vframe/<fmt>/offset/<offset_ms / 1000>/...` gives this image.
    pub offset_ms: u64,
    /// The frame's own presentation time, in seconds from the stream's first frame.
    pub time: f64,
    pub image: Image,
    /// The name the spec's pattern gives it, if the spec has one: an object key as the
    /// pattern writes it (`/` and `..` included), not a checked file name.
    pub key: Option<String>,
}

/// A `vsample` in progress: an iterator over its frames, in time order, made one at a
/// time (see the module's documentation).
pub struct Sample<'a> {
    visits: Visits<'a>,
    presenter: Presenter,
    spec: SampleSpec,
}

impl<'a> Sample<'a> {
    /// Opens `input` and plans the moments of `spec`. `options.timeout` bounds the whole
    /// sample, from now until the last frame.
    pub fn open(input: Input<'a>, spec: &SampleSpec, options: &Options) -> Result<Sample<'a>, Error> {
        let visits = Visits::open(input, spec.start_ms, spec.duration_ms, spec.every, spec.look.mode, options)?;
        Ok(Sample { visits, presenter: Presenter::new(), spec: spec.clone() })
    }

    /// How many moments the span holds, when its end is known (frames may be fewer: the
    /// video may end early, and `frames/N` gives each frame once).
    pub fn planned(&self) -> Option<u64> {
        self.visits.moments().count()
    }
}

impl Iterator for Sample<'_> {
    type Item = Result<SampleFrame, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let visit = match self.visits.next_visit()? {
            Ok(visit) => visit,
            Err(e) => return Some(Err(e)),
        };
        let spec = self.spec.look.at(visit.offset_ms);
        let result = self.presenter.present(&visit.located, &spec).map(|image| SampleFrame {
            index: visit.index,
            offset_ms: visit.offset_ms,
            time: visit.located.seconds(),
            image,
            key: self.spec.key(visit.index),
        });
        if result.is_err() {
            self.visits.done = true;
        }
        Some(result)
    }
}
