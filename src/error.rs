//! Failure classes ([`Status`]) and the error type every fallible operation returns.
//!
//! `Status` is also the C ABI's `vframe_status`: its values are part of the ABI and are
//! never renumbered; new classes are only ever appended.

use std::ffi::CStr;
use std::fmt;

/// The outcome class of a call. `Ok` is 0; every other value is one failure class.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// The spec string is malformed (SPEC §1); the message names the bad part.
    InvalidSpec = 1,
    /// A NULL or otherwise unusable argument (C ABI), or an option out of range.
    InvalidArgument = 2,
    /// The input cannot be opened or read, or is not a media file FFmpeg understands.
    CannotOpen = 3,
    /// The input is a playlist or an indirection format (HLS, concat, DASH, image
    /// sequences, ...), which vframe refuses (SPEC §5).
    UnsupportedInput = 4,
    /// The input has no video stream, or its codec has no decoder here.
    NoVideoStream = 5,
    /// The video stream exists but no frame could be decoded.
    DecodeError = 6,
    /// The image encoder failed.
    EncodeError = 7,
    /// The call ran past its time limit.
    Timeout = 8,
    /// A work limit was hit: decoded frames, packets, or input dimensions.
    LimitExceeded = 9,
    /// The caller cancelled the call.
    Cancelled = 10,
    /// A bug: an internal invariant failed or a panic was caught at the C boundary.
    Internal = 11,
    /// A worker pool's queue is full: a submit that may not wait was refused at once, or
    /// the queue stayed full for as long as the submit could wait. Try again later.
    Busy = 12,
}

impl Status {
    /// Every status, in ABI order.
    pub const ALL: [Status; 13] = [
        Status::Ok,
        Status::InvalidSpec,
        Status::InvalidArgument,
        Status::CannotOpen,
        Status::UnsupportedInput,
        Status::NoVideoStream,
        Status::DecodeError,
        Status::EncodeError,
        Status::Timeout,
        Status::LimitExceeded,
        Status::Cancelled,
        Status::Internal,
        Status::Busy,
    ];

    /// The status with ABI value `code`, if there is one.
    pub fn from_code(code: u32) -> Option<Status> {
        Status::ALL.get(code as usize).copied()
    }

    /// A short, static description of the class, NUL-terminated for C.
    pub fn as_c_str(self) -> &'static CStr {
        match self {
            Status::Ok => c"ok",
            Status::InvalidSpec => c"invalid spec",
            Status::InvalidArgument => c"invalid argument",
            Status::CannotOpen => c"cannot open input",
            Status::UnsupportedInput => c"unsupported input",
            Status::NoVideoStream => c"no video stream",
            Status::DecodeError => c"decode error",
            Status::EncodeError => c"encode error",
            Status::Timeout => c"timeout",
            Status::LimitExceeded => c"limit exceeded",
            Status::Cancelled => c"cancelled",
            Status::Internal => c"internal error",
            Status::Busy => c"busy",
        }
    }

    /// A short, static description of the class.
    pub fn as_str(self) -> &'static str {
        self.as_c_str().to_str().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn codes_round_trip() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
            assert_eq!(Status::from_code(i as u32), Some(*s));
        }
        assert_eq!(Status::from_code(Status::ALL.len() as u32), None);
    }
}

/// A failed call: its class ([`Status`]) and a readable, one-line message (also its `Display`).
///
/// ```
/// use vframe::{Spec, Status};
///
/// let err = vframe::extract_path("missing.mp4", "vframe/jpg/offset/1").unwrap_err();
/// match err.status() {
///     Status::InvalidSpec | Status::InvalidArgument => panic!("a bug in the caller: {err}"),
///     Status::Timeout | Status::Cancelled => println!("try again later"),
///     status => println!("the video cannot be thumbnailed ({}): {err}", status.as_str()),
/// }
/// assert_eq!(err.status(), Status::CannotOpen);
/// assert_eq!((Status::CannotOpen as u32, Status::from_code(3)), (3, Some(Status::CannotOpen)));
///
/// let err = "vframe/jpg/offset/abc".parse::<Spec>().unwrap_err();
/// assert_eq!(err.status(), Status::InvalidSpec);
/// assert!(err.message().starts_with("invalid spec: offset 'abc' is not a number of seconds"));
/// assert_eq!(err.to_string(), err.message());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

/// A zeroed buffer of `len` bytes, or an error saying memory ran out for `what` where the
/// allocator refuses it (an address-space limit such as `ulimit -v`), instead of the
/// process aborting as a plain allocation would: a picture's buffers are the largest a
/// call makes, and their size comes from the input.
pub(crate) fn zeroed(len: usize, what: &str) -> Result<Vec<u8>, Error> {
    let mut buffer = Vec::new();
    reserve(&mut buffer, len, what)?;
    buffer.resize(len, 0);
    Ok(buffer)
}

/// Room for `len` more bytes in `buffer`, or the error [`zeroed`] gives.
pub(crate) fn reserve(buffer: &mut Vec<u8>, len: usize, what: &str) -> Result<(), Error> {
    buffer
        .try_reserve_exact(len)
        .map_err(|_| Error::new(Status::Internal, format!("out of memory for {what} ({len} bytes)")))
}

impl Error {
    /// An error of class `status`.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    /// The failure class.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message, without the class prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
