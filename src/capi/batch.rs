//! `vframe_extract_many` and `vframe_extract_many_errs`: many thumbnails of one file in one
//! call (see `crate::extract_many`).

use std::ffi::c_char;

use super::{boundary, vframe_image, vframe_options};
use crate::error::{Error, Status};
use crate::Input;

/// Extracts `count` thumbnails of the video file at `input_path` in one call, one per spec
/// of `specs` (an array of `count` NUL-terminated strings): cheaper than `count` calls of
/// `vframe_extract_opts`, since the file is opened once and the offsets are visited in time
/// order, decoding on instead of seeking within a GOP.
///
/// `images` and `statuses` are arrays of `count` elements the library fills: `statuses[i]`
/// is the result for `specs[i]` and, when it is `VFRAME_STATUS_OK`, `images[i]` holds the
/// image (release each with `vframe_image_free`; failed ones are left empty). Returns
/// `VFRAME_STATUS_OK` when every spec succeeded, otherwise the status of the first failing
/// spec (in the order given), whose message goes to `err_buf`. `opts` (NULL: defaults)
/// bounds the whole call.
///
/// In order: bad `opts` or `input_path` fail every spec with their status; a malformed spec
/// fails alone (`VFRAME_STATUS_INVALID_SPEC`); an input that cannot be opened fails every
/// other spec.
///
/// # Safety
/// `input_path` is a NUL-terminated string; `specs` points to `count` NUL-terminated
/// strings; `images` and `statuses` point to `count` writable elements; `opts` is NULL or
/// a `vframe_options`; `err_buf` (if not NULL) has `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_extract_many(
    input_path: *const c_char,
    specs: *const *const c_char,
    count: usize,
    opts: *const vframe_options,
    images: *mut vframe_image,
    statuses: *mut Status,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || extract_many(input_path, specs, count, opts, images, statuses, |_, _| {}))
}

/// `vframe_extract_many`, with each failing spec's own message: `errs` holds `count`
/// buffers of `err_len` bytes, one after the other, and spec `i`'s message goes to
/// `errs + i * err_len` ("" when it succeeded; truncated at a character boundary to fit with
/// its NUL). `vframe_extract_many` gives the first failing spec's message only. Returns as
/// `vframe_extract_many` does; when the call as a whole cannot run, every buffer gets its
/// message. NULL `errs` or an `err_len` of 0 writes no message.
///
/// # Safety
/// As `vframe_extract_many`, with `errs` NULL or `count * err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_extract_many_errs(
    input_path: *const c_char,
    specs: *const *const c_char,
    count: usize,
    opts: *const vframe_options,
    images: *mut vframe_image,
    statuses: *mut Status,
    errs: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(std::ptr::null_mut(), 0, || {
        let writes = !errs.is_null() && err_len > 0;
        let fits = count.checked_mul(err_len).is_some_and(|n| n <= isize::MAX as usize);
        if writes && !fits {
            return Err(Error::new(Status::InvalidArgument, "count * err_len is too large"));
        }
        let message = |i: usize, text: &str| {
            if writes {
                // SAFETY: i < count, and the caller promises count * err_len writable bytes.
                boundary::write_message(unsafe { errs.add(i * err_len) }, err_len, text);
            }
        };
        (0..count).for_each(|i| message(i, ""));
        extract_many(input_path, specs, count, opts, images, statuses, |i, e| message(i, e.message()))
    })
}

/// The two exports' work: fills `images` and `statuses`, calls `failed(i, error)` for each
/// failing spec (every one when the call cannot run), and returns the first failure.
fn extract_many(
    input_path: *const c_char,
    specs: *const *const c_char,
    count: usize,
    opts: *const vframe_options,
    images: *mut vframe_image,
    statuses: *mut Status,
    mut failed: impl FnMut(usize, &Error),
) -> Result<(), Error> {
    let mut fail_all = |e: Error| {
        (0..count).for_each(|i| failed(i, &e));
        Err(e)
    };
    if count > 0 && (specs.is_null() || images.is_null() || statuses.is_null()) {
        return fail_all(Error::new(Status::InvalidArgument, "specs, images and statuses must not be NULL"));
    }
    if count > isize::MAX as usize / std::mem::size_of::<vframe_image>() {
        return fail_all(Error::new(Status::InvalidArgument, "count is too large"));
    }
    // SAFETY: the caller promises `count` elements in each array (checked non-NULL).
    let (spec_ptrs, images, statuses) = unsafe {
        (
            std::slice::from_raw_parts(specs, count),
            std::slice::from_raw_parts_mut(images, count),
            std::slice::from_raw_parts_mut(statuses, count),
        )
    };
    images.iter_mut().for_each(|image| *image = vframe_image::EMPTY);
    statuses.iter_mut().for_each(|status| *status = Status::Internal);
    let arguments = boundary::options_arg(opts).and_then(|o| Ok((o, boundary::path_arg(input_path, "input_path")?)));
    // The call cannot run: every spec has failed.
    let (options, path) = match arguments {
        Ok(arguments) => arguments,
        Err(e) => {
            statuses.fill(e.status());
            return fail_all(e);
        }
    };
    // Specs that do not parse fail alone; the others are extracted together.
    let parsed: Vec<Result<crate::Spec, Error>> = spec_ptrs.iter().map(|&p| boundary::spec_arg(p)).collect();
    let valid: Vec<crate::Spec> = parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let mut extracted = crate::extract_many(Input::Path(&path), &valid, &options).into_iter();
    let mut first_error: Option<Error> = None;
    for (i, spec) in parsed.into_iter().enumerate() {
        let result = spec.and_then(|_| {
            extracted.next().unwrap_or_else(|| Err(Error::new(Status::Internal, "missing batch result")))
        });
        match result {
            Ok(image) => {
                images[i] = vframe_image::from_image(image);
                statuses[i] = Status::Ok;
            }
            Err(e) => {
                statuses[i] = e.status();
                failed(i, &e);
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
