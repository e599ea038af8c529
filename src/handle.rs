//! [`Source`], the public handle: a video opened and probed once, from which any number of
//! thumbnails are extracted.
//!
//! It holds one frame selector (`select`) over one opened input (`source`) and one
//! presenter (`present`), so each extraction pays neither the open and probe nor a new
//! decoder: a later target in the GOP being decoded is reached by decoding on, any other
//! by a seek on the same demuxer and decoder. The one-shot calls of `extract` are this
//! handle used once.

use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::Arc;

use crate::av::Bytes;
use crate::error::{Error, Status};
use crate::present::{self, Presenter};
use crate::select::Selector;
use crate::source::Origin;
use crate::spec::Mode;
use crate::{DecodedFrame, Image, Input, Options, Spec};

/// A video opened once for many extractions.
///
/// ```no_run
/// let options = vframe::Options::default();
/// let mut video = vframe::Source::open_path("movie.mp4", &options)?;
/// for spec in ["vframe/jpg/offset/1/w/320", "vframe/jpg/offset/1.5/w/320", "vframe/jpg/offset/60/w/320"] {
///     let image = video.extract(&spec.parse()?)?;
///     std::fs::write(format!("thumb-{}.jpg", image.width), &image.data)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Each extraction gives exactly the image a fresh [`crate::extract`] call gives, in any
/// order of offsets (except on the few files the README lists as known to differ). `options` (given at open) apply to every call: each call (`open`,
/// `extract`, `extract_many`, `decode_frame`) gets the whole time limit, and each frame
/// looked for the whole decoded-frame limit. A `Source` may move between threads; its
/// methods take `&mut self`, so one thread uses it at a time. Memory held between calls:
/// the demuxer, the decoder with its reference frames, and the last frame returned.
///
/// After `fork()`, a source the parent opened still works in the child: its first call
/// there opens the input again (the same open file, or the same bytes), because the
/// decoder's threads stayed in the parent; what the parent's decoder held is left
/// allocated in the child, never freed (freeing it would wait for those threads).
pub struct Source<'a> {
    selector: ManuallyDrop<Selector<'a>>,
    presenter: Presenter,
    /// The process whose threads the selector's decoder has.
    pid: u32,
}

impl<'a> Source<'a> {
    /// Opens `input` and probes its video stream. A path is opened now and again only if a
    /// frame must be decoded from the start; memory is borrowed for the source's life.
    pub fn open(input: Input<'a>, options: &Options) -> Result<Source<'a>, Error> {
        Source::from_origin(Origin::from(input), options)
    }

    fn from_origin(origin: Origin<'a>, options: &Options) -> Result<Source<'a>, Error> {
        let selector = ManuallyDrop::new(Selector::open(origin, options)?);
        Ok(Source { selector, presenter: Presenter::new(), pid: std::process::id() })
    }

    /// The selector, opened again first in a process made by `fork()` since it was.
    fn selector(&mut self) -> Result<&mut Selector<'a>, Error> {
        let pid = std::process::id();
        if pid != self.pid {
            // The old selector is never dropped here (see the type's documentation).
            self.selector = ManuallyDrop::new(self.selector.open_again()?);
            self.pid = pid;
        }
        Ok(&mut self.selector)
    }

    /// The thumbnail `spec` describes.
    pub fn extract(&mut self, spec: &Spec) -> Result<Image, Error> {
        let selector = self.selector()?;
        selector.restart_time_limit();
        let located = selector.next(spec.offset_ms, spec.mode)?;
        self.presenter.present(&located, spec)
    }

    /// Many thumbnails, one result per spec in the order given: the offsets are visited in
    /// time order, so that frames in one GOP are reached by decoding on. A failure that
    /// concerns the whole input (time limit, cancellation, the input unreadable) is given
    /// to every spec not yet done; the time limit covers the whole call.
    pub fn extract_many(&mut self, specs: &[Spec]) -> Vec<Result<Image, Error>> {
        if let Err(e) = self.selector() {
            return specs.iter().map(|_| Err(e.clone())).collect();
        }
        self.selector.restart_time_limit();
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by_key(|&i| (specs[i].offset_ms, specs[i].mode == Mode::Fast));
        let mut results: Vec<Option<Result<Image, Error>>> = vec![None; specs.len()];
        for (n, &i) in order.iter().enumerate() {
            self.selector.expect_next(order.get(n + 1).map(|&j| specs[j].offset_ms));
            let result = self
                .selector
                .next(specs[i].offset_ms, specs[i].mode)
                .and_then(|located| self.presenter.present(&located, &specs[i]));
            if let Err(e) = &result {
                if concerns_whole_input(e) {
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

    /// The decoded frame SPEC §2 selects for `offset_ms`, unconverted (see
    /// [`crate::decode_frame`]).
    pub fn decode_frame(&mut self, offset_ms: u64) -> Result<DecodedFrame, Error> {
        self.decode(offset_ms, Mode::Exact)
    }

    /// The decoded frame `mode` selects for `offset_ms`, unconverted.
    pub(crate) fn decode(&mut self, offset_ms: u64, mode: Mode) -> Result<DecodedFrame, Error> {
        let selector = self.selector()?;
        selector.restart_time_limit();
        present::decoded_frame(&selector.next(offset_ms, mode)?)
    }
}

impl Source<'static> {
    /// Opens the video file at `path` (see [`Source::open`]); the source keeps its own
    /// copy of the path.
    pub fn open_path(path: impl AsRef<Path>, options: &Options) -> Result<Source<'static>, Error> {
        Source::from_origin(Origin::Path(path.as_ref().to_path_buf()), options)
    }

    /// Opens the bytes of a whole video file, which the source shares (an `Arc<[u8]>` is
    /// not copied; a `Vec<u8>` or `&[u8]` is copied into one, once).
    pub fn open_bytes(bytes: impl Into<Arc<[u8]>>, options: &Options) -> Result<Source<'static>, Error> {
        Source::from_origin(Origin::Memory(Bytes::Shared(bytes.into())), options)
    }
}

impl Drop for Source<'_> {
    fn drop(&mut self) {
        if std::process::id() == self.pid {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.selector) };
        }
    }
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

/// Whether an error ends every extraction from the same input, not just this one.
fn concerns_whole_input(e: &Error) -> bool {
    matches!(
        e.status(),
        Status::Timeout | Status::Cancelled | Status::CannotOpen | Status::UnsupportedInput | Status::NoVideoStream
    )
}
