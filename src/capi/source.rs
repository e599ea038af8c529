//! `vframe_source`: a video opened and probed once, from which any number of thumbnails
//! are extracted (see `crate::Source`).

use std::ffi::c_char;
use std::sync::Mutex;

use super::{boundary, image_out_arg, vframe_image, vframe_options};
use crate::error::{Error, Status};
use crate::Source;

/// A video opened once (`vframe_source_open`, `vframe_source_open_memory`) for any number
/// of `vframe_source_extract` calls, each of which gives exactly the image a fresh
/// `vframe_extract_opts` call with the same options gives (except on the few files the
/// README lists as known to differ). Opening and probing the file, starting the decoder
/// and, for a later offset in the GOP being decoded, decoding up to it are paid once. Release it with `vframe_source_close`.
///
/// Thread rule: internally locked. Any thread may use a source; calls on one source run
/// one at a time (a second caller waits), so for parallel work open one source per
/// thread. Memory kept between calls: the demuxer, the decoder and its reference frames,
/// and the last frame returned (for a 1080p H.264 video, tens of MB).
///
/// The file is read through the descriptor opened here, never by its path again: renamed
/// over, deleted or given relative to a working folder that changed, it is still the video
/// this source gives frames of. After `fork()` a source works in the child (its first call
/// there opens the input again, leaving what the parent's decoder held allocated; one on a
/// pipe gives `VFRAME_STATUS_INVALID_ARGUMENT` there, the pipe's bytes being the parent's),
/// unless another thread was inside a call on it at the fork: then the child must neither
/// use nor close it (that call never ends in the child).
pub struct vframe_source {
    source: Mutex<Source<'static>>,
}

/// Opens the video file at `input_path` and probes it. The options (NULL: defaults) apply
/// to the open and to every extraction from this source, each call getting the whole time
/// limit.
///
/// On success returns `VFRAME_STATUS_OK` and stores a new source in `*out`; on failure
/// (the same statuses and messages as `vframe_extract_opts`) `*out` is NULL.
///
/// # Safety
/// `input_path` is a NUL-terminated string; `opts` is NULL or a `vframe_options`; `out`
/// points to a writable `vframe_source *`; `err_buf` (if not NULL) has `err_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_source_open(
    input_path: *const c_char,
    opts: *const vframe_options,
    out: *mut *mut vframe_source,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || {
        let out = source_out_arg(out)?;
        let options = boundary::options_arg(opts)?;
        let path = boundary::path_arg(input_path, "input_path")?;
        *out = into_handle(Source::open_path(path, &options)?);
        Ok(())
    })
}

/// `vframe_source_open` on the bytes of a whole video file in memory (`data`, `len`
/// bytes). The bytes are copied: the caller may release them as soon as this returns.
///
/// # Safety
/// As `vframe_source_open`; `data` points to `len` readable bytes (NULL only if `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn vframe_source_open_memory(
    data: *const u8,
    len: usize,
    opts: *const vframe_options,
    out: *mut *mut vframe_source,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || {
        let out = source_out_arg(out)?;
        let options = boundary::options_arg(opts)?;
        let bytes = boundary::slice_arg(data, len, "data")?;
        *out = into_handle(Source::open_bytes(bytes, &options)?);
        Ok(())
    })
}

/// Extracts the thumbnail `spec` describes from an open source: as `vframe_extract`, with
/// the options given at open. Offsets may come in any order; in time order, those in one
/// GOP are reached by decoding on. A failed call leaves the source usable.
///
/// # Safety
/// `source` comes from `vframe_source_open[_memory]` and is not closed; `spec` is a
/// NUL-terminated string; `out` points to a writable `vframe_image`; `err_buf` (if not
/// NULL) has `err_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_source_extract(
    source: *mut vframe_source,
    spec: *const c_char,
    out: *mut vframe_image,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || {
        let out = image_out_arg(out)?;
        let handle = boundary::ref_arg(source, "source")?;
        let spec = boundary::spec_arg(spec)?;
        // A panic inside an earlier call (caught at the boundary) leaves the lock poisoned:
        // such a source is not trusted again.
        let mut source = handle.source.lock().map_err(|_| {
            Error::new(Status::Internal, "this source failed with an internal error earlier and cannot be used")
        })?;
        *out = vframe_image::from_image(source.extract(&spec)?);
        Ok(())
    })
}

/// Closes a source and releases everything it holds. NULL is fine. No call may be running
/// on the source, or start after this.
///
/// # Safety
/// `source` is NULL or comes from `vframe_source_open[_memory]` and is not closed yet.
#[no_mangle]
pub unsafe extern "C" fn vframe_source_close(source: *mut vframe_source) {
    boundary::call(std::ptr::null_mut(), 0, || {
        if !source.is_null() {
            // SAFETY: the source came from Box::into_raw in into_handle and the caller
            // gives up its pointer.
            drop(unsafe { Box::from_raw(source) });
        }
        Ok(())
    });
}

/// The `out` argument of the open calls, set to NULL first so that it is NULL on failure.
fn source_out_arg<'a>(out: *mut *mut vframe_source) -> Result<&'a mut *mut vframe_source, Error> {
    let out = boundary::out_arg(out, "out")?;
    *out = std::ptr::null_mut();
    Ok(out)
}

fn into_handle(source: Source<'static>) -> *mut vframe_source {
    Box::into_raw(Box::new(vframe_source { source: Mutex::new(source) }))
}
