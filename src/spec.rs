//! The operation string of SPEC §1: `vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Degree>]`.
//!
//! Owns parsing and printing of [`Spec`]. Pure, safe Rust; calls nothing else in the crate
//! but the error type.
//!
//! ```
//! use vframe::{Format, Rotate, Spec};
//!
//! let spec: Spec = "vframe/jpg/offset/7.5/w/480/rotate/auto".parse()?;
//! assert_eq!(spec, Spec { width: Some(480), rotate: Some(Rotate::Auto), ..Spec::new(Format::Jpeg, 7_500) });
//! // Printing gives the canonical string, which parses back to the same spec.
//! assert_eq!(spec.to_string(), "vframe/jpg/offset/7.5/w/480/rotate/auto");
//! assert_eq!("?vframe/jpeg/offset/07.50/rotate/0".parse::<Spec>()?.to_string(), "vframe/jpg/offset/7.5");
//! # Ok::<(), vframe::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Status};

/// Largest output width SPEC §1 allows for `w`.
pub const MAX_WIDTH: u32 = 3840;
/// Largest output height SPEC §1 allows for `h`.
pub const MAX_HEIGHT: u32 = 2160;
/// Largest offset accepted, in milliseconds (10^7 s, about 115 days): far beyond any real
/// video, small enough that no timestamp arithmetic can overflow.
pub const MAX_OFFSET_MS: u64 = 10_000_000_000;

/// Output image format: `jpg` (or `jpeg`) and `png` in a spec.
///
/// ```
/// use vframe::{Format, Spec};
///
/// let spec: Spec = "vframe/jpeg/offset/1".parse()?;
/// assert_eq!(spec.format, Format::Jpeg);
/// assert_eq!((spec.format.as_str(), spec.format.mime_type()), ("jpg", "image/jpeg"));
/// # Ok::<(), vframe::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Baseline JPEG, 4:2:0, quality 85.
    Jpeg,
    /// 8-bit RGB PNG.
    Png,
}

impl Format {
    /// The canonical name used in spec strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
        }
    }

    /// The MIME type of images in this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }
}

/// The `rotate` parameter (`rotate/0`, accepted, is no rotation: `Spec::rotate` is `None`).
///
/// ```
/// use vframe::{Rotate, Spec};
///
/// assert_eq!("vframe/png/offset/1/rotate/270".parse::<Spec>()?.rotate, Some(Rotate::Cw270));
/// assert_eq!("vframe/png/offset/1/rotate/auto".parse::<Spec>()?.rotate, Some(Rotate::Auto));
/// assert_eq!("vframe/png/offset/1/rotate/0".parse::<Spec>()?.rotate, None);
/// # Ok::<(), vframe::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotate {
    /// Clockwise by 90 degrees.
    Cw90,
    /// By 180 degrees.
    Cw180,
    /// Clockwise by 270 degrees (counter-clockwise by 90).
    Cw270,
    /// Follow the video's own display matrix (rotation and mirroring).
    Auto,
}

impl Rotate {
    fn as_str(self) -> &'static str {
        match self {
            Rotate::Cw90 => "90",
            Rotate::Cw180 => "180",
            Rotate::Cw270 => "270",
            Rotate::Auto => "auto",
        }
    }
}

/// A parsed vframe operation: `"...".parse::<Spec>()` (an [`Error`] of status
/// [`Status::InvalidSpec`] that quotes the bad part when malformed), or built in code.
/// `to_string()` gives the canonical spec string.
///
/// ```
/// use vframe::{Format, Spec, Status};
///
/// let spec = Spec { height: Some(360), ..Spec::new(Format::Png, 61_500) };
/// assert_eq!(spec.to_string(), "vframe/png/offset/61.5/h/360");
///
/// let err = "vframe/jpg/offset/7/w/0".parse::<Spec>().unwrap_err();
/// assert_eq!(err.status(), Status::InvalidSpec);
/// assert_eq!(err.to_string(), "invalid spec: w '0' is out of range (1 to 3840)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Output format.
    pub format: Format,
    /// The moment to capture, in milliseconds from the video stream's first frame.
    pub offset_ms: u64,
    /// Final width in pixels (after rotation), 1..=3840.
    pub width: Option<u32>,
    /// Final height in pixels (after rotation), 1..=2160.
    pub height: Option<u32>,
    /// Rotation; `None` keeps the frame as coded.
    pub rotate: Option<Rotate>,
}

impl Spec {
    /// A spec with only the required parts: `format` at `offset_ms`, display size, as coded.
    pub fn new(format: Format, offset_ms: u64) -> Spec {
        Spec { format, offset_ms, width: None, height: None, rotate: None }
    }
}

fn invalid(message: String) -> Error {
    Error::new(Status::InvalidSpec, format!("invalid spec: {message}"))
}

/// Longest part of the input quoted in an error message: enough to recognise it, while a
/// megabyte of garbage does not become a megabyte of message.
const MAX_QUOTED_CHARS: usize = 40;

/// `part` in single quotes, one line (control characters escaped) and shortened if long.
fn quoted(part: &str) -> String {
    let mut out = String::with_capacity(part.len().min(MAX_QUOTED_CHARS) + 8);
    out.push('\'');
    for (i, c) in part.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Parses `<digits>[.<digits>]` seconds into milliseconds, rounding sub-millisecond digits
/// to the nearest millisecond (the precision SPEC §1 gives offsets).
fn parse_offset(value: &str) -> Result<u64, Error> {
    let bad = || {
        invalid(format!(
            "offset {} is not a number of seconds (expected digits with an optional decimal part, e.g. 7 or 7.5)",
            quoted(value)
        ))
    };
    let (int_part, frac_part) = match value.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (value, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || frac_part.is_some_and(|f| !digits(f)) {
        return Err(bad());
    }
    let int_part = int_part.trim_start_matches('0');
    let out_of_range =
        || invalid(format!("offset {} is out of range (0 to {} seconds)", quoted(value), MAX_OFFSET_MS / 1000));
    if int_part.len() > 11 {
        return Err(out_of_range());
    }
    let seconds: u64 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| bad())? };
    let frac = frac_part.unwrap_or("");
    let mut millis: u64 = 0;
    for i in 0..3 {
        millis = millis * 10 + frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
    }
    if frac.as_bytes().get(3).is_some_and(|&b| b >= b'5') {
        millis += 1;
    }
    let total = seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(millis))
        .filter(|&ms| ms <= MAX_OFFSET_MS)
        .ok_or_else(out_of_range)?;
    Ok(total)
}

fn parse_dimension(key: &str, value: &str, max: u32) -> Result<u32, Error> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("{key} {} is not a whole number of pixels", quoted(value))));
    }
    match value.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!("{key} {} is out of range (1 to {max})", quoted(value)))),
    }
}

fn parse_rotate(value: &str) -> Result<Option<Rotate>, Error> {
    match value {
        "90" => Ok(Some(Rotate::Cw90)),
        "180" => Ok(Some(Rotate::Cw180)),
        "270" => Ok(Some(Rotate::Cw270)),
        "auto" => Ok(Some(Rotate::Auto)),
        "0" => Ok(None),
        _ => Err(invalid(format!("rotate {} is not one of 90, 180, 270, auto", quoted(value)))),
    }
}

impl FromStr for Spec {
    type Err = Error;

    fn from_str(input: &str) -> Result<Spec, Error> {
        let s = input.strip_prefix('?').unwrap_or(input);
        if s.is_empty() {
            return Err(invalid("empty string (expected vframe/<format>/offset/<seconds>...)".into()));
        }
        let rest = match s.strip_prefix("vframe/") {
            Some(rest) => rest,
            None if s == "vframe" => {
                return Err(invalid("format is missing (expected vframe/<format>/offset/<seconds>)".into()))
            }
            None => return Err(invalid(format!("{} does not start with 'vframe/'", quoted(input)))),
        };
        let mut parts = rest.split('/');
        let format = match parts.next().unwrap_or("") {
            "jpg" | "jpeg" => Format::Jpeg,
            "png" => Format::Png,
            "" => return Err(invalid("format is missing (expected jpg, jpeg or png)".into())),
            other => return Err(invalid(format!("format {} is not jpg, jpeg or png", quoted(other)))),
        };
        let mut offset = None;
        let mut spec = Spec::new(format, 0);
        let mut seen: Vec<&str> = Vec::with_capacity(4);
        while let Some(key) = parts.next() {
            if key.is_empty() {
                let at = if parts.clone().next().is_none() { "a trailing '/'" } else { "a doubled '/'" };
                return Err(invalid(format!("empty segment ({at})")));
            }
            if !matches!(key, "offset" | "w" | "h" | "rotate") {
                return Err(invalid(format!("unknown key {} (expected offset, w, h or rotate)", quoted(key))));
            }
            if seen.contains(&key) {
                return Err(invalid(format!("key '{key}' is given more than once")));
            }
            seen.push(key);
            let value = match parts.next() {
                Some(v) if !v.is_empty() => v,
                _ => return Err(invalid(format!("key '{key}' has no value"))),
            };
            match key {
                "offset" => offset = Some(parse_offset(value)?),
                "w" => spec.width = Some(parse_dimension("w", value, MAX_WIDTH)?),
                "h" => spec.height = Some(parse_dimension("h", value, MAX_HEIGHT)?),
                _ => spec.rotate = parse_rotate(value)?,
            }
        }
        spec.offset_ms = offset.ok_or_else(|| invalid("offset is missing (it is required)".into()))?;
        Ok(spec)
    }
}

impl fmt::Display for Spec {
    /// The canonical spec string; parsing it gives back the same `Spec`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, millis) = (self.offset_ms / 1000, self.offset_ms % 1000);
        write!(f, "vframe/{}/offset/{secs}", self.format.as_str())?;
        if millis != 0 {
            let frac = format!("{millis:03}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        if let Some(w) = self.width {
            write!(f, "/w/{w}")?;
        }
        if let Some(h) = self.height {
            write!(f, "/h/{h}")?;
        }
        if let Some(r) = self.rotate {
            write!(f, "/rotate/{}", r.as_str())?;
        }
        Ok(())
    }
}
