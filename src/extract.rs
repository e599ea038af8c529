//! The one-shot entry points: a [`Source`] opened for one call.
//!
//! Thin: opening is `source`'s, choosing the frame `select`'s, the image `present`'s, and
//! the handle that strings them together `handle`'s.

use crate::error::Error;
use crate::spec::{Mode, Spec};
use crate::{DecodedFrame, Image, Input, Options, Source};

pub(crate) fn extract(input: Input<'_>, spec: &Spec, options: &Options) -> Result<Image, Error> {
    Source::open(input, options)?.extract(spec)
}

/// Many thumbnails of one input: one source, offsets visited in time order. A failure to
/// open the input is every spec's.
pub(crate) fn extract_many(input: Input<'_>, specs: &[Spec], options: &Options) -> Vec<Result<Image, Error>> {
    if specs.is_empty() {
        return Vec::new();
    }
    match Source::open(input, options) {
        Ok(mut source) => source.extract_many(specs),
        Err(e) => vec![Err(e); specs.len()],
    }
}

pub(crate) fn decode_frame(
    input: Input<'_>,
    offset_ms: u64,
    mode: Mode,
    options: &Options,
) -> Result<DecodedFrame, Error> {
    Source::open(input, options)?.decode(offset_ms, mode)
}
