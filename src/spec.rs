//! The operation strings: Qiniu's `vframe` (SPEC §1) and `vsample`, the `storyboard`
//! extension, and the extensions every one of them takes (SPEC §8):
//!
//! ```text
//! vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Degree>][/q/<1-100>][/mode/<exact|fast>]
//! vsample/<Format>[/ss/<s>][/t/<s>][/s/<W>x<H>][/rotate/<Degree>][/interval/<s>|/frames/<N>][/pattern/<b64>]...
//! storyboard/<Format>[/ss/..][/t/..][/s/..][/rotate/..][/interval/..|/frames/..][/columns/<n>][/rows/<n>]
//!            [/margin/<px>][/padding/<px>][/color/<RRGGBB>][/pattern/<b64>][/q/..][/mode/..]
//! ```
//!
//! Owns parsing and printing of [`Spec`], [`SampleSpec`], [`StoryboardSpec`] and
//! [`Operation`]. Pure, safe Rust; calls nothing else in the crate but the error type.
//! Extensions never change how a standard Qiniu string parses: they are keys and a format
//! that Qiniu's strings never contain.
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

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::error::{Error, Status};

/// Largest output width SPEC §1 allows for `w`.
pub const MAX_WIDTH: u32 = 3840;
/// Largest output height SPEC §1 allows for `h`.
pub const MAX_HEIGHT: u32 = 2160;
/// Largest offset accepted, in milliseconds (10^7 s, about 115 days): far beyond any real
/// video, small enough that no timestamp arithmetic can overflow.
pub const MAX_OFFSET_MS: u64 = 10_000_000_000;
/// The most frames one sample (or tiles one storyboard) may have.
pub const MAX_SAMPLE_FRAMES: u64 = 100_000;
/// vsample's interval when neither `interval` nor `frames` is given (Qiniu's default).
pub const DEFAULT_SAMPLE_INTERVAL_MS: u64 = 5000;
/// A storyboard's interval when neither `interval` nor `frames` is given.
pub const DEFAULT_STORYBOARD_INTERVAL_MS: u64 = 10_000;
/// A storyboard's tile width when `s` is not given (the height follows the aspect ratio).
pub const DEFAULT_TILE_WIDTH: u32 = 160;
/// A storyboard's grid when `columns` / `rows` are not given.
pub const DEFAULT_COLUMNS: u32 = 10;
pub const DEFAULT_ROWS: u32 = 10;
/// Largest `columns` and `rows` of a storyboard sheet.
pub const MAX_GRID: u32 = 100;
/// Largest `margin` and `padding` of a storyboard sheet, in pixels.
pub const MAX_GAP: u32 = 1000;
/// Longest decoded `pattern`, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// JPEG quality SPEC §4 prescribes when `q` is not given.
pub const DEFAULT_JPEG_QUALITY: u8 = 85;
/// WebP quality when `q` is not given.
pub const DEFAULT_WEBP_QUALITY: u8 = 80;

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
    /// Baseline JPEG, 4:2:0, quality 85 unless `q` says otherwise.
    Jpeg,
    /// 8-bit RGB PNG.
    Png,
    /// Lossy WebP (FFmpeg's libwebp encoder), quality 80 unless `q` says otherwise.
    Webp,
}

impl Format {
    /// The canonical name used in spec strings, which is also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// The MIME type of images in this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }

    /// The quality used when `q` is not given (`None` for lossless PNG).
    pub fn default_quality(self) -> Option<u8> {
        match self {
            Format::Jpeg => Some(DEFAULT_JPEG_QUALITY),
            Format::Png => None,
            Format::Webp => Some(DEFAULT_WEBP_QUALITY),
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

/// Which frame answers an offset (`/mode/...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// SPEC §2: the first frame at or after the offset (the default).
    #[default]
    Exact,
    /// The keyframe at or before the offset (the first keyframe when the offset is before
    /// it): only that keyframe is decoded. Opt-in, for speed over exactness.
    Fast,
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
    /// Quality 1..=100 of a lossy format (`None`: the format's default); never set for PNG.
    pub quality: Option<u8>,
    /// Exact (the default) or fast.
    pub mode: Mode,
}

impl Spec {
    /// A spec with only the required parts: `format` at `offset_ms`, display size, as coded.
    pub fn new(format: Format, offset_ms: u64) -> Spec {
        Spec { format, offset_ms, width: None, height: None, rotate: None, quality: None, mode: Mode::Exact }
    }

    /// Everything but the offset.
    pub fn look(&self) -> Look {
        Look {
            format: self.format,
            width: self.width,
            height: self.height,
            rotate: self.rotate,
            quality: self.quality,
            mode: self.mode,
        }
    }
}

/// How each frame of an operation is made, whatever its moment: what a `vframe` spec says
/// besides the offset. `look.at(t)` is the single-frame spec whose image a sample gives at
/// `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub format: Format,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub rotate: Option<Rotate>,
    pub quality: Option<u8>,
    pub mode: Mode,
}

impl Look {
    /// The `vframe` spec for the frame at `offset_ms`.
    pub fn at(&self, offset_ms: u64) -> Spec {
        Spec {
            format: self.format,
            offset_ms,
            width: self.width,
            height: self.height,
            rotate: self.rotate,
            quality: self.quality,
            mode: self.mode,
        }
    }

    /// The quality the encoder uses (`q`, else the format's default).
    pub fn effective_quality(&self) -> Option<u8> {
        self.quality.or(self.format.default_quality())
    }
}

/// How the moments of a sample are spread over its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// A frame every so many milliseconds from the start (`/interval/<s>`).
    Interval(u64),
    /// This many frames spread evenly over the span (`/frames/<N>`): the span cut into N
    /// equal parts, a frame at the start of each.
    Frames(u64),
}

/// Qiniu's `vsample`: frames at an interval, or a count of them, over a span of the video.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleSpec {
    /// Format, size (`s/<W>x<H>`), rotation, quality and mode of every frame.
    pub look: Look,
    /// `ss`: where the span starts, in milliseconds (default 0).
    pub start_ms: u64,
    /// `t`: the span's length in milliseconds (default: to the end of the video).
    pub duration_ms: Option<u64>,
    pub every: Every,
    /// `pattern` (or `savePattern`), decoded: the name of each output, in which `$(count)`
    /// stands for the frame's number. Kept for the service; the library names nothing.
    pub pattern: Option<String>,
}

impl SampleSpec {
    /// The name the pattern gives frame `index` (0-based): `$(count)` and `${count}` become
    /// `index + 1` in six digits with leading zeros, as Qiniu numbers outputs (`000001`).
    /// Other `$(...)` variables are left for the caller (the service knows the key).
    pub fn key(&self, index: usize) -> Option<String> {
        self.pattern.as_deref().map(|p| expand_count(p, index))
    }
}

/// The storyboard extension: frames as tiles of one or more sheets, with an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoryboardSpec {
    /// Format of the sheets; size of each tile (`s`, default 160 wide); rotation, quality
    /// and mode of every tile.
    pub look: Look,
    pub start_ms: u64,
    pub duration_ms: Option<u64>,
    pub every: Every,
    /// Tiles across and down one sheet; more tiles go to more sheets.
    pub columns: u32,
    pub rows: u32,
    /// Pixels around the grid (`margin`) and between tiles (`padding`).
    pub margin: u32,
    pub padding: u32,
    /// Background of margins and padding, RGB.
    pub color: [u8; 3],
    /// The name of each sheet (`$(count)` is its number); the default is
    /// `storyboard-$(count).<format>`.
    pub pattern: Option<String>,
}

impl StoryboardSpec {
    /// The name of sheet `index` (0-based), as the WebVTT and JSON index refer to it.
    pub fn sheet_name(&self, index: usize) -> String {
        match &self.pattern {
            Some(p) => expand_count(p, index),
            None => format!("storyboard-{:06}.{}", index + 1, self.look.format.as_str()),
        }
    }
}

/// Any operation string vframe takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Frame(Spec),
    Sample(SampleSpec),
    Storyboard(StoryboardSpec),
}

fn invalid(message: String) -> Error {
    Error::new(Status::InvalidSpec, format!("invalid spec: {message}"))
}

/// Parses a spec given as bytes (the C ABI's `char *`, a command line's argument): bytes
/// that are not UTF-8 are an `InvalidSpec` error naming the first bad byte, where it is,
/// and what comes before it.
pub fn parse_bytes<T: std::str::FromStr<Err = Error>>(bytes: &[u8]) -> Result<T, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.parse(),
        Err(e) => {
            let at = e.valid_up_to();
            let all = String::from_utf8_lossy(&bytes[..at]);
            let count = all.chars().count();
            let tail: String = all.chars().skip(count.saturating_sub(MAX_QUOTED_CHARS)).collect();
            let before = if count > MAX_QUOTED_CHARS { format!("...{}", quoted(&tail)) } else { quoted(&tail) };
            Err(invalid(format!("byte {:#04x} at position {} is not UTF-8 (after {before})", bytes[at], at + 1,)))
        }
    }
}

/// Longest part of the input quoted in an error message: enough to recognise it, while a
/// megabyte of garbage does not become a megabyte of message.
const MAX_QUOTED_CHARS: usize = 40;

/// Characters that show nothing themselves yet change what is shown around them: zero-width
/// and joiner characters, bidirectional marks and overrides (U+202E in `7<U+202E>gpj.exe`
/// would show it reversed on a terminal or in a log), the byte order mark. Quoted escaped.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `part` in single quotes, one line (control and invisible characters escaped) and shortened
/// if long.
fn quoted(part: &str) -> String {
    let mut out = String::with_capacity(part.len().min(MAX_QUOTED_CHARS) + 8);
    out.push('\'');
    for (i, c) in part.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() || is_invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Parses `<digits>[.<digits>]` seconds (the value of `key`) into milliseconds, rounding
/// sub-millisecond digits to the nearest millisecond (the precision SPEC §1 gives offsets).
/// An exponent (`1e-05`, `1.5E+3`) is read too: Qiniu's Python SDK writes a float below
/// 0.0001 that way (`str(0.00001)`), and SPEC §1 takes the SDKs' strings as they are.
fn parse_seconds(key: &str, value: &str) -> Result<u64, Error> {
    let bad = || {
        invalid(format!(
            "{key} {} is not a number of seconds (expected digits with an optional decimal part, e.g. 7 or 7.5)",
            quoted(value)
        ))
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match value.split_once(['e', 'E']) {
        Some((m, e)) => {
            let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
            if !digits(unsigned) {
                return Err(bad());
            }
            // An exponent of more digits than any integer type holds is as large as one.
            let significant = unsigned.trim_start_matches('0');
            let size = if significant.len() > 30 { i128::MAX / 4 } else { significant.parse::<i128>().unwrap_or(0) };
            (m, if e.starts_with('-') { -size } else { size })
        }
        None => (value, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if !digits(int_part) || frac_part.is_some_and(|f| !digits(f)) {
        return Err(bad());
    }
    // The decimal point moved by the exponent: `1.5e-3` is `0.0015`. Only the digits from
    // the first significant one matter: past 12 whole digits the value is out of range,
    // and one first at the fifth decimal or later rounds to 0 ms, so the point is kept
    // within those bounds and the digits written out stay as few as the mantissa's.
    let shifted;
    let (int_part, frac_part) = if exponent == 0 {
        (int_part, frac_part)
    } else {
        let all: String = [int_part, frac_part.unwrap_or("")].concat();
        let Some(first) = all.bytes().position(|b| b != b'0') else { return Ok(0) };
        let (first, len) = (first as i128, all.len() as i128);
        let point = (int_part.len() as i128).saturating_add(exponent).clamp(first - 5, first + 13);
        shifted = if point <= 0 {
            (String::from("0"), "0".repeat(point.unsigned_abs() as usize) + &all)
        } else if point >= len {
            (all.clone() + &"0".repeat((point - len) as usize), String::new())
        } else {
            (all[..point as usize].to_string(), all[point as usize..].to_string())
        };
        (shifted.0.as_str(), Some(shifted.1.as_str()))
    };
    let int_part = int_part.trim_start_matches('0');
    let out_of_range =
        || invalid(format!("{key} {} is out of range (0 to {} seconds)", quoted(value), MAX_OFFSET_MS / 1000));
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

/// Seconds that must be more than zero once rounded to the millisecond (`t`, `interval`).
fn parse_positive_seconds(key: &str, value: &str) -> Result<u64, Error> {
    match parse_seconds(key, value)? {
        // 0.0004 rounds to 0 ms: say so, not "more than 0" of a value that is.
        0 => Err(invalid(format!(
            "{key} {} must be at least 0.001 seconds (times count in milliseconds)",
            quoted(value)
        ))),
        ms => Ok(ms),
    }
}

/// A whole number in `min..=max` (digits only).
fn parse_count(key: &str, value: &str, min: u64, max: u64, unit: &str) -> Result<u64, Error> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("{key} {} is not a whole number{unit}", quoted(value))));
    }
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!("{key} {} is out of range ({min} to {max})", quoted(value)))),
    }
}

fn parse_dimension(key: &str, value: &str, max: u32) -> Result<u32, Error> {
    parse_count(key, value, 1, u64::from(max), " of pixels").map(|n| n as u32)
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

fn parse_mode(value: &str) -> Result<Mode, Error> {
    match value {
        "exact" => Ok(Mode::Exact),
        "fast" => Ok(Mode::Fast),
        _ => Err(invalid(format!("mode {} is not exact or fast", quoted(value)))),
    }
}

/// `s/<W>x<H>`: either side may be empty (it then follows the aspect ratio; both empty is
/// the video's own size), as Qiniu documents.
fn parse_size(value: &str) -> Result<(Option<u32>, Option<u32>), Error> {
    let Some((w, h)) = value.split_once('x') else {
        return Err(invalid(format!("s {} is not <width>x<height> (e.g. 480x360, 480x or x360)", quoted(value))));
    };
    let w = (!w.is_empty()).then(|| parse_dimension("s width", w, MAX_WIDTH)).transpose()?;
    let h = (!h.is_empty()).then(|| parse_dimension("s height", h, MAX_HEIGHT)).transpose()?;
    Ok((w, h))
}

/// `color/<RRGGBB>` in hexadecimal.
fn parse_color(value: &str) -> Result<[u8; 3], Error> {
    let bad = || invalid(format!("color {} is not six hexadecimal digits RRGGBB (e.g. 000000)", quoted(value)));
    if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let byte = |i: usize| u8::from_str_radix(&value[i..i + 2], 16).map_err(|_| bad());
    Ok([byte(0)?, byte(2)?, byte(4)?])
}

/// URL-safe base64 as Qiniu's SDKs write it (with `=` padding, which may also be left out).
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `pattern/<urlsafe base64>`: a UTF-8 name that holds `$(count)` (or `${count}`).
fn parse_pattern(key: &str, value: &str) -> Result<String, Error> {
    let bytes =
        URL_SAFE.decode(value).map_err(|_| invalid(format!("{key} {} is not URL-safe base64", quoted(value))))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(format!("{key} {} is not UTF-8 text", quoted(value))))?;
    if text.len() > MAX_PATTERN_BYTES {
        return Err(invalid(format!("{key} is {} bytes long, more than {MAX_PATTERN_BYTES}", text.len())));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!("{key} {} holds control characters", quoted(&text))));
    }
    if !text.contains("$(count)") && !text.contains("${count}") {
        return Err(invalid(format!("{key} {} has no $(count), which numbers the outputs", quoted(&text))));
    }
    Ok(text)
}

fn expand_count(pattern: &str, index: usize) -> String {
    let count = format!("{:06}", index.saturating_add(1));
    pattern.replace("$(count)", &count).replace("${count}", &count)
}

/// Walks the `key/value` pairs after an operation's format, checking the structure every
/// operation shares (empty segments, unknown and repeated keys, missing values), and hands
/// each pair to `take` in order, so that the first bad part is the one reported.
fn for_each_pair<'s>(
    rest: std::str::Split<'s, char>,
    allowed: &[&str],
    mut take: impl FnMut(&'s str, &'s str) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut parts = rest;
    let mut seen: Vec<&str> = Vec::with_capacity(allowed.len());
    while let Some(key) = parts.next() {
        if key.is_empty() {
            let at = if parts.clone().next().is_none() { "a trailing '/'" } else { "a doubled '/'" };
            return Err(invalid(format!("empty segment ({at})")));
        }
        if !allowed.contains(&key) {
            let expected = match allowed.split_last() {
                Some((last, init)) => format!("{} or {last}", init.join(", ")),
                None => String::new(),
            };
            return Err(invalid(format!("unknown key {} (expected {expected})", quoted(key))));
        }
        if seen.contains(&key) {
            return Err(invalid(format!("key '{key}' is given more than once")));
        }
        seen.push(key);
        let value = match parts.next() {
            Some(v) if !v.is_empty() => v,
            _ => return Err(invalid(format!("key '{key}' has no value"))),
        };
        take(key, value)?;
    }
    Ok(())
}

fn parse_format(part: Option<&str>, op: &str) -> Result<Format, Error> {
    match part.unwrap_or("") {
        "jpg" | "jpeg" => Ok(Format::Jpeg),
        "png" => Ok(Format::Png),
        "webp" => Ok(Format::Webp),
        "" => Err(invalid(format!("format is missing (expected {op}/<jpg|png|webp>/...)"))),
        other => Err(invalid(format!("format {} is not jpg, jpeg, png or webp", quoted(other)))),
    }
}

/// `q` with a format: PNG is lossless and takes none.
fn check_quality(format: Format, quality: Option<u8>) -> Result<(), Error> {
    if format == Format::Png && quality.is_some() {
        return Err(invalid("q applies to jpg and webp only (png is lossless)".into()));
    }
    Ok(())
}

fn parse_quality(value: &str) -> Result<u8, Error> {
    parse_count("q", value, 1, 100, "").map(|q| q as u8)
}

/// The keys `vsample` and `storyboard` share, and what they set.
#[derive(Default)]
struct SpanKeys {
    start_ms: u64,
    duration_ms: Option<u64>,
    interval_ms: Option<u64>,
    frames: Option<u64>,
    size: Option<(Option<u32>, Option<u32>)>,
    rotate: Option<Rotate>,
    quality: Option<u8>,
    mode: Mode,
    pattern: Option<String>,
    pattern_key: Option<&'static str>,
}

impl SpanKeys {
    /// Takes `key` if it is one of the shared keys; `Ok(false)` if it is not.
    fn take(&mut self, key: &str, value: &str) -> Result<bool, Error> {
        match key {
            "ss" => self.start_ms = parse_seconds("ss", value)?,
            "t" => self.duration_ms = Some(parse_positive_seconds("t", value)?),
            "interval" => self.interval_ms = Some(parse_positive_seconds("interval", value)?),
            "frames" => self.frames = Some(parse_count("frames", value, 1, MAX_SAMPLE_FRAMES, "")?),
            "s" => self.size = Some(parse_size(value)?),
            "rotate" => self.rotate = parse_rotate(value)?,
            "q" => self.quality = Some(parse_quality(value)?),
            "mode" => self.mode = parse_mode(value)?,
            "pattern" | "savePattern" => {
                let name = if key == "pattern" { "pattern" } else { "savePattern" };
                if let Some(other) = self.pattern_key {
                    return Err(invalid(format!("{other} and {name} are the same key: give one")));
                }
                self.pattern = Some(parse_pattern(name, value)?);
                self.pattern_key = Some(name);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn every(&self, default_interval_ms: u64) -> Result<Every, Error> {
        match (self.interval_ms, self.frames) {
            (Some(_), Some(_)) => Err(invalid("interval and frames cannot both be given".into())),
            (Some(ms), None) => Ok(Every::Interval(ms)),
            (None, Some(n)) => Ok(Every::Frames(n)),
            (None, None) => Ok(Every::Interval(default_interval_ms)),
        }
    }

    fn look(&self, format: Format, default_size: (Option<u32>, Option<u32>)) -> Result<Look, Error> {
        check_quality(format, self.quality)?;
        let (width, height) = self.size.unwrap_or(default_size);
        Ok(Look { format, width, height, rotate: self.rotate, quality: self.quality, mode: self.mode })
    }
}

const SPAN_KEYS: [&str; 10] = ["ss", "t", "s", "rotate", "interval", "frames", "pattern", "savePattern", "q", "mode"];

/// Strips the one `?` a URL query may leave in front, and refuses an empty string, saying
/// which grammar was `expected` (the operation's own).
fn unquery<'a>(input: &'a str, expected: &str) -> Result<&'a str, Error> {
    let s = input.strip_prefix('?').unwrap_or(input);
    if s.is_empty() {
        return Err(invalid(format!("empty string (expected {expected})")));
    }
    Ok(s)
}

impl FromStr for Spec {
    type Err = Error;

    fn from_str(input: &str) -> Result<Spec, Error> {
        let s = unquery(input, "vframe/<format>/offset/<seconds>...")?;
        let rest = match s.strip_prefix("vframe/") {
            Some(rest) => rest,
            None if s == "vframe" => {
                return Err(invalid("format is missing (expected vframe/<format>/offset/<seconds>)".into()))
            }
            None => return Err(invalid(format!("{} does not start with 'vframe/'", quoted(input)))),
        };
        let mut parts = rest.split('/');
        let format = parse_format(parts.next(), "vframe")?;
        let mut offset = None;
        let mut spec = Spec::new(format, 0);
        for_each_pair(parts, &["offset", "w", "h", "rotate", "q", "mode"], |key, value| {
            match key {
                "offset" => offset = Some(parse_seconds("offset", value)?),
                "w" => spec.width = Some(parse_dimension("w", value, MAX_WIDTH)?),
                "h" => spec.height = Some(parse_dimension("h", value, MAX_HEIGHT)?),
                "q" => spec.quality = Some(parse_quality(value)?),
                "mode" => spec.mode = parse_mode(value)?,
                _ => spec.rotate = parse_rotate(value)?,
            }
            Ok(())
        })?;
        spec.offset_ms = offset.ok_or_else(|| invalid("offset is missing (it is required)".into()))?;
        check_quality(format, spec.quality)?;
        Ok(spec)
    }
}

impl FromStr for SampleSpec {
    type Err = Error;

    fn from_str(input: &str) -> Result<SampleSpec, Error> {
        let s = unquery(input, "vsample/<format>/...")?;
        let Some(rest) = s.strip_prefix("vsample/").or((s == "vsample").then_some("")) else {
            return Err(invalid(format!("{} does not start with 'vsample/'", quoted(input))));
        };
        let mut parts = rest.split('/');
        let format = parse_format(parts.next(), "vsample")?;
        let mut keys = SpanKeys::default();
        for_each_pair(parts, &SPAN_KEYS, |key, value| keys.take(key, value).map(drop))?;
        Ok(SampleSpec {
            look: keys.look(format, (None, None))?,
            start_ms: keys.start_ms,
            duration_ms: keys.duration_ms,
            every: keys.every(DEFAULT_SAMPLE_INTERVAL_MS)?,
            pattern: keys.pattern,
        })
    }
}

impl FromStr for StoryboardSpec {
    type Err = Error;

    fn from_str(input: &str) -> Result<StoryboardSpec, Error> {
        let s = unquery(input, "storyboard/<format>/...")?;
        let Some(rest) = s.strip_prefix("storyboard/").or((s == "storyboard").then_some("")) else {
            return Err(invalid(format!("{} does not start with 'storyboard/'", quoted(input))));
        };
        let mut parts = rest.split('/');
        let format = parse_format(parts.next(), "storyboard")?;
        let mut keys = SpanKeys::default();
        let (mut columns, mut rows) = (DEFAULT_COLUMNS, DEFAULT_ROWS);
        let (mut margin, mut padding, mut color) = (0, 0, [0, 0, 0]);
        let allowed: Vec<&str> =
            SPAN_KEYS.iter().copied().chain(["columns", "rows", "margin", "padding", "color"]).collect();
        for_each_pair(parts, &allowed, |key, value| {
            if keys.take(key, value)? {
                return Ok(());
            }
            let grid = |v| parse_count(key, v, 1, u64::from(MAX_GRID), "").map(|n| n as u32);
            let gap = |v| parse_count(key, v, 0, u64::from(MAX_GAP), " of pixels").map(|n| n as u32);
            match key {
                "columns" => columns = grid(value)?,
                "rows" => rows = grid(value)?,
                "margin" => margin = gap(value)?,
                "padding" => padding = gap(value)?,
                _ => color = parse_color(value)?,
            }
            Ok(())
        })?;
        Ok(StoryboardSpec {
            look: keys.look(format, (Some(DEFAULT_TILE_WIDTH), None))?,
            start_ms: keys.start_ms,
            duration_ms: keys.duration_ms,
            every: keys.every(DEFAULT_STORYBOARD_INTERVAL_MS)?,
            columns,
            rows,
            margin,
            padding,
            color,
            pattern: keys.pattern,
        })
    }
}

impl FromStr for Operation {
    type Err = Error;

    fn from_str(input: &str) -> Result<Operation, Error> {
        let s = unquery(input, "vframe/..., vsample/... or storyboard/...")?;
        let op = s.split('/').next().unwrap_or("");
        match op {
            "vframe" => input.parse().map(Operation::Frame),
            "vsample" => input.parse().map(Operation::Sample),
            "storyboard" => input.parse().map(Operation::Storyboard),
            _ => Err(invalid(format!("{} is not a vframe, vsample or storyboard operation", quoted(input)))),
        }
    }
}

/// `ms` as seconds, with only the decimals needed (`7`, `7.5`, `0.04`).
pub(crate) fn seconds_text(ms: u64) -> String {
    let (secs, millis) = (ms / 1000, ms % 1000);
    if millis == 0 {
        return secs.to_string();
    }
    let frac = format!("{millis:03}");
    format!("{secs}.{}", frac.trim_end_matches('0'))
}

/// The `/rotate`, `/q` and `/mode` parts of a look (nothing for the defaults).
fn write_look_tail(f: &mut fmt::Formatter<'_>, look: &Look) -> fmt::Result {
    if let Some(r) = look.rotate {
        write!(f, "/rotate/{}", r.as_str())?;
    }
    if let Some(q) = look.quality {
        write!(f, "/q/{q}")?;
    }
    if look.mode == Mode::Fast {
        f.write_str("/mode/fast")?;
    }
    Ok(())
}

/// The span keys of a sample or storyboard, canonical: defaults left out.
fn write_span(
    f: &mut fmt::Formatter<'_>,
    start_ms: u64,
    duration_ms: Option<u64>,
    every: Every,
    default_interval_ms: u64,
) -> fmt::Result {
    if start_ms != 0 {
        write!(f, "/ss/{}", seconds_text(start_ms))?;
    }
    if let Some(t) = duration_ms {
        write!(f, "/t/{}", seconds_text(t))?;
    }
    match every {
        Every::Interval(ms) if ms == default_interval_ms => Ok(()),
        Every::Interval(ms) => write!(f, "/interval/{}", seconds_text(ms)),
        Every::Frames(n) => write!(f, "/frames/{n}"),
    }
}

fn write_size(f: &mut fmt::Formatter<'_>, width: Option<u32>, height: Option<u32>) -> fmt::Result {
    let side = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    write!(f, "/s/{}x{}", side(width), side(height))
}

impl fmt::Display for Spec {
    /// The canonical spec string; parsing it gives back the same `Spec`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vframe/{}/offset/{}", self.format.as_str(), seconds_text(self.offset_ms))?;
        if let Some(w) = self.width {
            write!(f, "/w/{w}")?;
        }
        if let Some(h) = self.height {
            write!(f, "/h/{h}")?;
        }
        write_look_tail(f, &self.look())
    }
}

impl fmt::Display for SampleSpec {
    /// The canonical vsample string; parsing it gives back the same `SampleSpec`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vsample/{}", self.look.format.as_str())?;
        write_span(f, self.start_ms, self.duration_ms, self.every, DEFAULT_SAMPLE_INTERVAL_MS)?;
        if self.look.width.is_some() || self.look.height.is_some() {
            write_size(f, self.look.width, self.look.height)?;
        }
        write_look_tail(f, &self.look)?;
        if let Some(p) = &self.pattern {
            write!(f, "/pattern/{}", URL_SAFE.encode(p))?;
        }
        Ok(())
    }
}

impl fmt::Display for StoryboardSpec {
    /// The canonical storyboard string; parsing it gives back the same `StoryboardSpec`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storyboard/{}", self.look.format.as_str())?;
        write_span(f, self.start_ms, self.duration_ms, self.every, DEFAULT_STORYBOARD_INTERVAL_MS)?;
        if (self.look.width, self.look.height) != (Some(DEFAULT_TILE_WIDTH), None) {
            write_size(f, self.look.width, self.look.height)?;
        }
        write_look_tail(f, &self.look)?;
        if self.columns != DEFAULT_COLUMNS {
            write!(f, "/columns/{}", self.columns)?;
        }
        if self.rows != DEFAULT_ROWS {
            write!(f, "/rows/{}", self.rows)?;
        }
        if self.margin != 0 {
            write!(f, "/margin/{}", self.margin)?;
        }
        if self.padding != 0 {
            write!(f, "/padding/{}", self.padding)?;
        }
        if self.color != [0, 0, 0] {
            let [r, g, b] = self.color;
            write!(f, "/color/{r:02x}{g:02x}{b:02x}")?;
        }
        if let Some(p) = &self.pattern {
            write!(f, "/pattern/{}", URL_SAFE.encode(p))?;
        }
        Ok(())
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Frame(spec) => spec.fmt(f),
            Operation::Sample(spec) => spec.fmt(f),
            Operation::Storyboard(spec) => spec.fmt(f),
        }
    }
}
