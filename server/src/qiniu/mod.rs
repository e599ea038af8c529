//! Qiniu's wire protocol as pure functions: no I/O, no clock (callers pass `now`), no global
//! state. Everything a request carries passes through here before it touches the store, and
//! every parser bounds what it accepts; the fuzz targets in `fuzz/` drive these functions.
//!
//! - [`base64`]: URL-safe base64 as Qiniu uses it.
//! - [`auth`]: credentials, HMAC-SHA1 signing, the QBox and Qiniu v2 request signatures.
//! - [`uptoken`]: upload tokens and their put-policy.
//! - [`download`]: private download URLs (`e=` and `token=`).
//! - [`etag`]: Qiniu's etag (SHA-1 over 4 MiB blocks).
//! - [`fop`]: persistent operation strings (`vframe/...|saveas/...;...`).
//! - [`key`]: which bucket names and object keys are acceptable.
//! - [`resumable`]: the two resumable-upload protocols' paths, contexts and bodies.
//! - [`form`]: `application/x-www-form-urlencoded` bodies (pfop) and multipart uploads.
//! - [`wire`]: the JSON shapes the SDKs read (prefop status, errors).

pub mod auth;
pub mod base64;
pub mod download;
pub mod etag;
pub mod fop;
pub mod form;
pub mod key;
pub mod resumable;
pub mod uptoken;
pub mod wire;

use std::fmt;

/// A request that cannot be served, as Qiniu reports it: an HTTP status (Qiniu's own codes
/// such as 612 or 614 included) and the message of the JSON body `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(401, message)
    }
    /// 401 for a signature or token that does not verify (unknown access key included).
    pub fn bad_token() -> ApiError {
        ApiError::new(401, "bad token")
    }
    /// 401 for a token or URL past its deadline.
    pub fn expired() -> ApiError {
        ApiError::new(401, "token out of date")
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(599, message)
    }
    /// A request body that could not be read: 408 when the server gave up waiting for it (an
    /// `io::Error` of kind `TimedOut`), else 400.
    pub fn body(e: &(dyn std::error::Error + 'static)) -> ApiError {
        match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => ApiError::new(408, io.to_string()),
            _ => ApiError::bad_request(format!("cannot read the request body: {e}")),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Quotes untrusted text for an error message: escaped, cut at 64 characters.
pub fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    format!("\"{out}\"")
}
