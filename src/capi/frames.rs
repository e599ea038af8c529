//! Many frames of one video in one call: `vframe_sample*` (Qiniu's vsample) and
//! `vframe_storyboard*` (sheets with a WebVTT and JSON index). Each has a form whose
//! result is one array the library owns (freed whole by `vframe_frames_free` /
//! `vframe_sheets_free`) and a streaming form that calls the caller back with each frame
//! or sheet as it is made (memory stays bounded whatever the video's length).

use std::ffi::{c_char, c_int, c_void, CString};

use super::{boundary, vframe_image, vframe_options};
use crate::error::{Error, Status};
use crate::{Input, Sample, SampleFrame, SampleSpec, Sheet, Storyboard, StoryboardIndex, StoryboardSpec};

/// One frame of a sample.
#[repr(C)]
#[derive(Debug)]
pub struct vframe_frame {
    /// The encoded image (JPEG, PNG or WebP bytes).
    pub image: vframe_image,
    /// The moment sampled, in milliseconds: `vframe/<fmt>/offset/<offset_ms / 1000>/...`
    /// gives this very image.
    pub offset_ms: u64,
    /// The frame's own presentation time, in seconds from the stream's first frame.
    pub time: f64,
    /// Its number in the sample (0-based; the pattern's `$(count)` is `index + 1`).
    pub index: u64,
    /// The name the spec's `pattern` gives it (NUL-terminated), or NULL without one: an
    /// object key as the pattern writes it (`/` and `..` included), not a checked file name.
    pub key: *mut c_char,
}

/// A whole sample, owned by the library: release it with `vframe_frames_free`.
#[repr(C)]
#[derive(Debug)]
pub struct vframe_frames {
    /// `count` frames in time order; NULL when there are none.
    pub frames: *mut vframe_frame,
    pub count: usize,
}

/// One sheet of a storyboard.
#[repr(C)]
#[derive(Debug)]
pub struct vframe_sheet {
    /// The encoded sheet.
    pub image: vframe_image,
    /// Its name, as the WebVTT and JSON index refer to it (NUL-terminated).
    pub name: *mut c_char,
    /// Its tiles are tiles `first_tile .. first_tile + tile_count` of the index.
    pub first_tile: u64,
    pub tile_count: u64,
}

/// A storyboard, owned by the library: release it with `vframe_sheets_free`.
#[repr(C)]
#[derive(Debug)]
pub struct vframe_sheets {
    /// `count` sheets in order; NULL when there are none (and in the streaming form).
    pub sheets: *mut vframe_sheet,
    pub count: usize,
    /// The WebVTT index (`vtt_len` bytes of UTF-8 and a NUL).
    pub vtt: *mut c_char,
    pub vtt_len: usize,
    /// The JSON index (`json_len` bytes of UTF-8 and a NUL).
    pub json: *mut c_char,
    pub json_len: usize,
}

/// Called with each frame as it is made, on the calling thread. The frame and its image
/// are the library's and valid only during the call (copy what you keep). Return 0 to go
/// on, anything else to stop: the call then returns `VFRAME_STATUS_CANCELLED`.
pub type vframe_frame_fn = Option<unsafe extern "C" fn(frame: *const vframe_frame, user: *mut c_void) -> c_int>;

/// Called with each sheet as it is complete; as `vframe_frame_fn`.
pub type vframe_sheet_fn = Option<unsafe extern "C" fn(sheet: *const vframe_sheet, user: *mut c_void) -> c_int>;

const NO_FRAMES: vframe_frames = vframe_frames { frames: std::ptr::null_mut(), count: 0 };
const NO_SHEETS: vframe_sheets = vframe_sheets {
    sheets: std::ptr::null_mut(),
    count: 0,
    vtt: std::ptr::null_mut(),
    vtt_len: 0,
    json: std::ptr::null_mut(),
    json_len: 0,
};

/// A Rust string as a C string the library owns (NUL-free by construction of names).
fn c_string(text: &str) -> *mut c_char {
    CString::new(text.replace('\0', "")).map_or(std::ptr::null_mut(), CString::into_raw)
}

/// Frees a string made by `c_string`.
fn free_c_string(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: text came from CString::into_raw in c_string and was not freed since
        // (every free empties the struct that held it).
        drop(unsafe { CString::from_raw(text) });
    }
}

fn frame_to_c(frame: SampleFrame) -> vframe_frame {
    vframe_frame {
        image: vframe_image::from_image(frame.image),
        offset_ms: frame.offset_ms,
        time: frame.time,
        index: frame.index as u64,
        key: frame.key.as_deref().map_or(std::ptr::null_mut(), c_string),
    }
}

fn free_frame(frame: &mut vframe_frame) {
    // SAFETY: the image was made by vframe_image::from_image (or is empty).
    unsafe { super::vframe_image_free(&mut frame.image) };
    free_c_string(std::mem::replace(&mut frame.key, std::ptr::null_mut()));
}

fn sheet_to_c(sheet: Sheet) -> vframe_sheet {
    vframe_sheet {
        name: c_string(&sheet.name),
        image: vframe_image::from_image(sheet.image),
        first_tile: sheet.first_tile as u64,
        tile_count: sheet.tile_count as u64,
    }
}

fn free_sheet(sheet: &mut vframe_sheet) {
    // SAFETY: as in free_frame.
    unsafe { super::vframe_image_free(&mut sheet.image) };
    free_c_string(std::mem::replace(&mut sheet.name, std::ptr::null_mut()));
}

/// A boxed slice handed to C as (pointer, count).
fn into_raw_array<T>(items: Vec<T>) -> (*mut T, usize) {
    if items.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let items = items.into_boxed_slice();
    let count = items.len();
    (Box::into_raw(items) as *mut T, count)
}

/// Takes back an array made by `into_raw_array`.
///
/// # Safety
/// `items`/`count` must come from `into_raw_array` and not have been taken back before.
unsafe fn from_raw_array<T>(items: *mut T, count: usize) -> Vec<T> {
    if items.is_null() {
        return Vec::new();
    }
    // SAFETY: per the contract, a boxed slice of `count` elements.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(items, count)) }.into_vec()
}

fn stopped() -> Error {
    Error::new(Status::Cancelled, "stopped by the callback")
}

/// The caller's input, a path or bytes in memory, its arguments checked when it is used:
/// after `*out` is emptied, so that every failure leaves it empty.
enum Source {
    Path(*const c_char),
    Memory(*const u8, usize),
}

impl Source {
    fn with<T>(&self, f: impl FnOnce(Input<'_>) -> Result<T, Error>) -> Result<T, Error> {
        match self {
            Source::Path(path) => f(Input::Path(&boundary::path_arg(*path, "input_path")?)),
            Source::Memory(data, len) => f(Input::Memory(boundary::slice_arg(*data, *len, "data")?)),
        }
    }
}

fn sample_arg(spec: *const c_char) -> Result<SampleSpec, Error> {
    crate::spec::parse_bytes(boundary::bytes_arg(spec, "spec")?)
}

fn storyboard_arg(spec: *const c_char) -> Result<StoryboardSpec, Error> {
    crate::spec::parse_bytes(boundary::bytes_arg(spec, "spec")?)
}

/// Runs a sample, handing each frame to `each`.
fn run_sample(
    source: Source,
    spec: *const c_char,
    opts: *const vframe_options,
    each: &mut dyn FnMut(SampleFrame) -> Result<(), Error>,
) -> Result<(), Error> {
    let (spec, options) = (sample_arg(spec)?, boundary::options_arg(opts)?);
    source.with(|input| {
        for frame in Sample::open(input, &spec, &options)? {
            each(frame?)?;
        }
        Ok(())
    })
}

/// Runs a storyboard, handing each sheet to `each`; returns the index.
fn run_storyboard(
    source: Source,
    spec: *const c_char,
    opts: *const vframe_options,
    each: &mut dyn FnMut(Sheet) -> Result<(), Error>,
) -> Result<StoryboardIndex, Error> {
    let (spec, options) = (storyboard_arg(spec)?, boundary::options_arg(opts)?);
    source.with(|input| {
        let mut board = Storyboard::open(input, &spec, &options)?;
        for sheet in board.by_ref() {
            each(sheet?)?;
        }
        Ok(board.index().clone())
    })
}

fn sample_into(
    source: Source,
    spec: *const c_char,
    opts: *const vframe_options,
    out: *mut vframe_frames,
) -> Result<(), Error> {
    let out = boundary::out_arg(out, "out")?;
    *out = NO_FRAMES;
    let mut frames: Vec<vframe_frame> = Vec::new();
    let result = run_sample(source, spec, opts, &mut |frame| {
        frames.push(frame_to_c(frame));
        Ok(())
    });
    if let Err(e) = result {
        frames.iter_mut().for_each(free_frame);
        return Err(e);
    }
    (out.frames, out.count) = into_raw_array(frames);
    Ok(())
}

fn sample_each(
    source: Source,
    spec: *const c_char,
    opts: *const vframe_options,
    each: vframe_frame_fn,
    user: *mut c_void,
) -> Result<(), Error> {
    let each = each.ok_or_else(|| Error::new(Status::InvalidArgument, "each is NULL"))?;
    run_sample(source, spec, opts, &mut |frame| {
        let mut frame = frame_to_c(frame);
        // SAFETY: the caller promises a function safe to call with `user`; the frame is
        // valid for the call and freed right after.
        let go_on = unsafe { each(&frame, user) } == 0;
        free_frame(&mut frame);
        go_on.then_some(()).ok_or_else(stopped)
    })
}

fn index_into(out: &mut vframe_sheets, index: &StoryboardIndex) {
    let (vtt, json) = (index.vtt(), index.json());
    (out.vtt_len, out.json_len) = (vtt.len(), json.len());
    (out.vtt, out.json) = (c_string(&vtt), c_string(&json));
}

fn storyboard_into(
    source: Source,
    spec: *const c_char,
    opts: *const vframe_options,
    out: *mut vframe_sheets,
) -> Result<(), Error> {
    let out = boundary::out_arg(out, "out")?;
    *out = NO_SHEETS;
    let mut sheets: Vec<vframe_sheet> = Vec::new();
    let result = run_storyboard(source, spec, opts, &mut |sheet| {
        sheets.push(sheet_to_c(sheet));
        Ok(())
    });
    match result {
        Ok(index) => {
            (out.sheets, out.count) = into_raw_array(sheets);
            index_into(out, &index);
            Ok(())
        }
        Err(e) => {
            sheets.iter_mut().for_each(free_sheet);
            Err(e)
        }
    }
}

fn storyboard_each(
    source: Source,
    spec: *const c_char,
    opts: *const vframe_options,
    each: vframe_sheet_fn,
    user: *mut c_void,
    out: *mut vframe_sheets,
) -> Result<(), Error> {
    let out = boundary::out_arg(out, "out")?;
    *out = NO_SHEETS;
    let each = each.ok_or_else(|| Error::new(Status::InvalidArgument, "each is NULL"))?;
    let index = run_storyboard(source, spec, opts, &mut |sheet| {
        let mut sheet = sheet_to_c(sheet);
        // SAFETY: as in sample_each.
        let go_on = unsafe { each(&sheet, user) } == 0;
        free_sheet(&mut sheet);
        go_on.then_some(()).ok_or_else(stopped)
    })?;
    index_into(out, &index);
    Ok(())
}

/// Every frame of a `vsample` spec (e.g. `"vsample/jpg/interval/10/s/320x"`) of the video
/// file at `input_path`, in one pass: the moments in time order, each frame the image a
/// single `vframe_extract` call at its moment gives. On success `*out` holds the frames
/// (release them all with `vframe_frames_free`); on failure it is empty and `err_buf` has
/// the message. `opts` (NULL: defaults) bounds the whole call: raise `timeout_ms` (or set
/// 0) for long videos.
///
/// # Safety
/// `input_path` and `spec` are NUL-terminated strings; `opts` is NULL or a
/// `vframe_options`; `out` points to a writable `vframe_frames`; `err_buf` is NULL or has
/// `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn vframe_sample(
    input_path: *const c_char,
    spec: *const c_char,
    opts: *const vframe_options,
    out: *mut vframe_frames,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || sample_into(Source::Path(input_path), spec, opts, out))
}

/// `vframe_sample` on the bytes of a whole video file (`data`, `len` bytes).
///
/// # Safety
/// As `vframe_sample`; `data` points to `len` readable bytes (NULL only if `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn vframe_sample_memory(
    data: *const u8,
    len: usize,
    spec: *const c_char,
    opts: *const vframe_options,
    out: *mut vframe_frames,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || sample_into(Source::Memory(data, len), spec, opts, out))
}

/// `vframe_sample` that streams: `each(frame, user)` is called with every frame as it is
/// made, in time order, and nothing is kept (memory stays bounded for any length).
///
/// # Safety
/// As `vframe_sample`; `each` is a function safe to call with `user` on this thread.
#[no_mangle]
pub unsafe extern "C" fn vframe_sample_each(
    input_path: *const c_char,
    spec: *const c_char,
    opts: *const vframe_options,
    each: vframe_frame_fn,
    user: *mut c_void,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || sample_each(Source::Path(input_path), spec, opts, each, user))
}

/// `vframe_sample_each` on the bytes of a whole video file.
///
/// # Safety
/// As `vframe_sample_each` and `vframe_sample_memory`.
#[no_mangle]
pub unsafe extern "C" fn vframe_sample_each_memory(
    data: *const u8,
    len: usize,
    spec: *const c_char,
    opts: *const vframe_options,
    each: vframe_frame_fn,
    user: *mut c_void,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || sample_each(Source::Memory(data, len), spec, opts, each, user))
}

/// Releases every frame of a sample and empties it. NULL is fine, and so is a second call.
///
/// # Safety
/// `frames` is NULL or points to a `vframe_frames` filled by this library (or emptied).
#[no_mangle]
pub unsafe extern "C" fn vframe_frames_free(frames: *mut vframe_frames) {
    boundary::call(std::ptr::null_mut(), 0, || {
        let Some(frames) = boundary::optional_out_arg(frames) else { return Ok(()) };
        // SAFETY: frames/count came from into_raw_array in sample_into (emptied after).
        let mut items = unsafe { from_raw_array(frames.frames, frames.count) };
        items.iter_mut().for_each(free_frame);
        *frames = NO_FRAMES;
        Ok(())
    });
}

/// A storyboard of the video file at `input_path` (spec e.g.
/// `"storyboard/jpg/interval/10/s/160x/columns/10/rows/10"`): its sheets, and its WebVTT
/// and JSON index, in `*out` (release with `vframe_sheets_free`). Each tile is the image a
/// single `vframe_extract` call at its moment gives at the tile size.
///
/// # Safety
/// As `vframe_sample`, with `out` a writable `vframe_sheets`.
#[no_mangle]
pub unsafe extern "C" fn vframe_storyboard(
    input_path: *const c_char,
    spec: *const c_char,
    opts: *const vframe_options,
    out: *mut vframe_sheets,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || storyboard_into(Source::Path(input_path), spec, opts, out))
}

/// `vframe_storyboard` on the bytes of a whole video file.
///
/// # Safety
/// As `vframe_storyboard` and `vframe_sample_memory`.
#[no_mangle]
pub unsafe extern "C" fn vframe_storyboard_memory(
    data: *const u8,
    len: usize,
    spec: *const c_char,
    opts: *const vframe_options,
    out: *mut vframe_sheets,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || storyboard_into(Source::Memory(data, len), spec, opts, out))
}

/// `vframe_storyboard` that streams: `each(sheet, user)` is called with every sheet as it
/// is complete; `*out` receives the WebVTT and JSON index only (no sheets; release it with
/// `vframe_sheets_free`).
///
/// # Safety
/// As `vframe_storyboard`; `each` is a function safe to call with `user` on this thread.
#[no_mangle]
pub unsafe extern "C" fn vframe_storyboard_each(
    input_path: *const c_char,
    spec: *const c_char,
    opts: *const vframe_options,
    each: vframe_sheet_fn,
    user: *mut c_void,
    out: *mut vframe_sheets,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || storyboard_each(Source::Path(input_path), spec, opts, each, user, out))
}

/// `vframe_storyboard_each` on the bytes of a whole video file.
///
/// # Safety
/// As `vframe_storyboard_each` and `vframe_sample_memory`.
#[no_mangle]
pub unsafe extern "C" fn vframe_storyboard_each_memory(
    data: *const u8,
    len: usize,
    spec: *const c_char,
    opts: *const vframe_options,
    each: vframe_sheet_fn,
    user: *mut c_void,
    out: *mut vframe_sheets,
    err_buf: *mut c_char,
    err_len: usize,
) -> Status {
    boundary::call(err_buf, err_len, || storyboard_each(Source::Memory(data, len), spec, opts, each, user, out))
}

/// Releases a storyboard's sheets and index and empties it. NULL is fine, and so is a
/// second call.
///
/// # Safety
/// `sheets` is NULL or points to a `vframe_sheets` filled by this library (or emptied).
#[no_mangle]
pub unsafe extern "C" fn vframe_sheets_free(sheets: *mut vframe_sheets) {
    boundary::call(std::ptr::null_mut(), 0, || {
        let Some(sheets) = boundary::optional_out_arg(sheets) else { return Ok(()) };
        // SAFETY: sheets/count came from into_raw_array in storyboard_into (emptied after).
        let mut items = unsafe { from_raw_array(sheets.sheets, sheets.count) };
        items.iter_mut().for_each(free_sheet);
        free_c_string(sheets.vtt);
        free_c_string(sheets.json);
        *sheets = NO_SHEETS;
        Ok(())
    });
}
