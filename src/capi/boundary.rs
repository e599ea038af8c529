//! The C boundary's plumbing: every export runs inside [`call`], which catches panics,
//! turns errors into a status, and writes the message for this very call into the caller's
//! buffer (never a thread-local "last error": a goroutine may switch OS threads).

use std::any::Any;
use std::ffi::{c_char, CStr, OsStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use super::options::vframe_options;
use crate::error::{Error, Status};
use crate::{Options, Spec};

/// Runs `body` at the ABI boundary.
pub(super) fn call(err_buf: *mut c_char, err_len: usize, body: impl FnOnce() -> Result<(), Error>) -> Status {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| Err(panic_error(&*panic)));
    match result {
        Ok(()) => {
            write_message(err_buf, err_len, "");
            Status::Ok
        }
        Err(e) => {
            write_message(err_buf, err_len, e.message());
            e.status()
        }
    }
}

/// The error that reports a caught panic.
pub(super) fn panic_error(panic: &(dyn Any + Send)) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::new(Status::Internal, format!("internal error (a bug in vframe): {what}"))
}

/// Copies `message` into the caller's buffer, truncated at a character boundary so that
/// it fits with its NUL. A NULL buffer or zero length writes nothing.
pub(super) fn write_message(buf: *mut c_char, len: usize, message: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut n = message.len().min(len - 1);
    while !message.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller promises `len` writable bytes at `buf`; we write n + 1 <= len.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
}

fn null_argument(name: &str) -> Error {
    Error::new(Status::InvalidArgument, format!("{name} is NULL"))
}

/// A NUL-terminated C string argument, as bytes.
pub(super) fn bytes_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: the caller promises a NUL-terminated string that outlives the call.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// A file path argument: any bytes but NUL, as the OS takes them.
pub(super) fn path_arg(ptr: *const c_char, name: &str) -> Result<PathBuf, Error> {
    let bytes = bytes_arg(ptr, name)?;
    if bytes.is_empty() {
        return Err(Error::new(Status::InvalidArgument, format!("{name} is empty")));
    }
    #[cfg(unix)]
    let path = {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(OsStr::from_bytes(bytes))
    };
    #[cfg(not(unix))]
    let path = PathBuf::from(OsStr::new(
        std::str::from_utf8(bytes)
            .map_err(|_| Error::new(Status::InvalidArgument, format!("{name} is not valid UTF-8")))?,
    ));
    Ok(path)
}

/// A byte-slice argument (`data`, `len`); NULL is allowed only with length 0.
pub(super) fn slice_arg<'a>(data: *const u8, len: usize, name: &str) -> Result<&'a [u8], Error> {
    if data.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null_argument(name)) };
    }
    // SAFETY: the caller promises `len` readable bytes at `data` for the whole call.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// An out-pointer argument, as a mutable reference.
pub(super) fn out_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Error> {
    // SAFETY: the caller promises a valid, writable, exclusive T behind a non-NULL pointer.
    unsafe { ptr.as_mut() }.ok_or_else(|| null_argument(name))
}

/// A pointer argument that must not be NULL, as a shared reference.
pub(super) fn ref_arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller promises a valid T behind a non-NULL pointer for the whole call.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_argument(name))
}

/// A pointer argument that may be NULL ("use the default").
pub(super) fn optional_ref_arg<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: the caller promises NULL or a valid T for the whole call.
    unsafe { ptr.as_ref() }
}

/// An out-pointer argument that may be NULL ("not wanted").
pub(super) fn optional_out_arg<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: the caller promises NULL or a valid, writable, exclusive T.
    unsafe { ptr.as_mut() }
}

/// The spec string argument, parsed (bytes that are not UTF-8 are a malformed spec).
pub(super) fn spec_arg(ptr: *const c_char) -> Result<Spec, Error> {
    crate::spec::parse_bytes(bytes_arg(ptr, "spec")?)
}

/// The options argument (NULL: the defaults), converted for the core.
pub(super) fn options_arg(ptr: *const vframe_options) -> Result<Options, Error> {
    optional_ref_arg(ptr).copied().unwrap_or_default().to_options(None)
}
