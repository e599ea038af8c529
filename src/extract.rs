//! The one-shot entry points: input → source → selector → present, in one call.
//!
//! Thin: opening is `source`'s, choosing the frame `select`'s, the image `present`'s.

use crate::error::{Error, Status};
use crate::present::{self, Presenter};
use crate::select::Selector;
use crate::spec::{Mode, Spec};
use crate::{DecodedFrame, Image, Input, Options};

pub(crate) fn extract(input: Input<'_>, spec: &Spec, options: &Options) -> Result<Image, Error> {
    let located = Selector::open(input, options)?.next(spec.offset_ms, spec.mode)?;
    Presenter::new().present(&located, spec)
}

/// Many thumbnails of one input: visited in time order by one selector, which decodes on
/// instead of seeking when the next offset is in the same GOP. Each spec has its own
/// result; a failure that concerns the whole input (it cannot be opened, has no video,
/// the call timed out or was cancelled) is given to every spec not yet done.
pub(crate) fn extract_many(input: Input<'_>, specs: &[Spec], options: &Options) -> Vec<Result<Image, Error>> {
    if specs.is_empty() {
        return Vec::new();
    }
    let mut selector = match Selector::open(input, options) {
        Ok(selector) => selector,
        Err(e) => return vec![Err(e); specs.len()],
    };
    selector.expect_many();
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| (specs[i].offset_ms, specs[i].mode == crate::spec::Mode::Fast));
    let mut results: Vec<Option<Result<Image, Error>>> = vec![None; specs.len()];
    let mut presenter = Presenter::new();
    for (n, &i) in order.iter().enumerate() {
        let result =
            selector.next(specs[i].offset_ms, specs[i].mode).and_then(|located| presenter.present(&located, &specs[i]));
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

/// Whether an error ends every extraction from the same input, not just this one.
pub(crate) fn concerns_whole_input(e: &Error) -> bool {
    matches!(
        e.status(),
        Status::Timeout | Status::Cancelled | Status::CannotOpen | Status::UnsupportedInput | Status::NoVideoStream
    )
}

pub(crate) fn decode_frame(
    input: Input<'_>,
    offset_ms: u64,
    mode: Mode,
    options: &Options,
) -> Result<DecodedFrame, Error> {
    let located = Selector::open(input, options)?.next(offset_ms, mode)?;
    present::decoded_frame(&located)
}
