//! `SwsContext`: one pass that converts any pixel format to 8-bit RGB with the stream's
//! colour matrix and range, and scales to the output size.
//!
//! A scaled picture is written as planar RGB (`GBRP`), which this module interleaves: the
//! scaler's planar output is the same arithmetic as packed `RGB24` with full chroma
//! interpolation (bit for bit on 8- and 10-bit 4:2:0 and 4:2:2, BT.601 and BT.709, up- and
//! downscales, and on 30 pixel formats scaled; one level off in a pixel or two of extreme
//! downscales, 4000 pixels wide to 3), and has SIMD code where packed RGB24's has none:
//! 720x576 to 640x512 takes 1.2 ms instead of 7.2 ms. (Packed RGB24 without full chroma
//! interpolation is as fast, but its table-based conversion is off by up to two levels:
//! white comes out 253.) A picture kept at its size is written as packed RGB24; one made
//! more than [`MAX_STEP`] times narrower or lower is scaled in passes.

use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use super::{check, Frame};
use crate::error::{Error, Status};
use crate::image::RgbImage;

/// Reused across frames of one call (batch extraction): swscale keeps its context when the
/// input and output parameters do not change.
pub(crate) struct Scaler {
    ctx: Context,
    /// The G, B and R planes swscale writes, kept for the next frame of the call.
    planes: Vec<u8>,
    /// The passes before the last one of an extreme downscale (see [`MAX_STEP`]), each
    /// with its context and its planes.
    steps: Vec<(Context, Vec<u8>)>,
}

/// A swscale context (none yet, or one that failed), freed when dropped.
#[derive(Default)]
struct Context(Option<NonNull<ffi::SwsContext>>);

impl Drop for Context {
    fn drop(&mut self) {
        if let Some(ctx) = self.0 {
            // SAFETY: we own the context.
            unsafe { ffi::sws_freeContext(ctx.as_ptr()) };
        }
    }
}

const FLAGS: i32 = ffi::SWS_BICUBIC | ffi::SWS_ACCURATE_RND | ffi::SWS_FULL_CHR_H_INT;

/// The most a width or a height is divided by in one swscale pass. FFmpeg 5.1's scaler
/// reads memory it never wrote (stale stack contents, buffers it allocated, valgrind says)
/// into the picture when one pass narrows it about 45 times or more (4000 pixels wide to
/// 80, 1920 to 40) or lowers it about 50 times or more (1000 lines to 20, 1080 to 10): the
/// same call gave other pixels each time. Such a thumbnail is made in passes that divide
/// each side by at most this much, in planar RGB after the first.
const MAX_STEP: u32 = 32;

/// swscale's matrix id for an `AVColorSpace`; unspecified matrices follow the convention
/// of players (mpv, browsers): BT.709 for HD and larger, BT.601 below.
fn sws_matrix(colorspace: i32, height: u32) -> i32 {
    const UNSPECIFIED: i32 = ffi::AVColorSpace::AVCOL_SPC_UNSPECIFIED as i32;
    const RESERVED: i32 = ffi::AVColorSpace::AVCOL_SPC_RESERVED as i32;
    match colorspace {
        UNSPECIFIED | RESERVED if height >= 720 => ffi::SWS_CS_ITU709,
        UNSPECIFIED | RESERVED => ffi::SWS_CS_ITU601,
        ffi::SWS_CS_ITU709 | ffi::SWS_CS_FCC | ffi::SWS_CS_SMPTE240M | ffi::SWS_CS_BT2020 => colorspace,
        c if c == ffi::AVColorSpace::AVCOL_SPC_BT2020_CL as i32 => ffi::SWS_CS_BT2020,
        _ => ffi::SWS_CS_ITU601,
    }
}

/// The non-deprecated twin of a `yuvj*` format (the "j" only meant full range).
fn unj(format: ffi::AVPixelFormat) -> ffi::AVPixelFormat {
    use ffi::AVPixelFormat::*;
    match format {
        AV_PIX_FMT_YUVJ420P => AV_PIX_FMT_YUV420P,
        AV_PIX_FMT_YUVJ422P => AV_PIX_FMT_YUV422P,
        AV_PIX_FMT_YUVJ444P => AV_PIX_FMT_YUV444P,
        AV_PIX_FMT_YUVJ440P => AV_PIX_FMT_YUV440P,
        AV_PIX_FMT_YUVJ411P => AV_PIX_FMT_YUV411P,
        other => other,
    }
}

/// What one swscale pass reads: the decoded frame (with its colour matrix and range) or
/// the planar RGB of the pass before.
struct Picture {
    data: [*const u8; 4],
    linesize: [i32; 4],
    width: i32,
    height: i32,
    format: ffi::AVPixelFormat,
    /// swscale's matrix id and whether the range is full, for YUV; `None` for RGB.
    colour: Option<(i32, bool)>,
}

/// Bytes per row of each plane swscale writes (G, B, R), or of packed rows: padded to 64,
/// and 64 bytes after the last row, as swscale's SIMD paths may write past the last pixel.
fn stride(bytes_per_row: usize) -> usize {
    bytes_per_row.div_ceil(64) * 64
}

/// Where planar RGB of `width` x `height` lies in a pass's buffer: bytes per row, and bytes
/// per plane (G, then B, then R).
fn planar_layout(width: u32, height: u32) -> (usize, usize) {
    let line = stride(width as usize);
    (line, line * height as usize)
}

/// The planar RGB of a pass in `planes` (see [`planar_layout`]), as what the next pass
/// reads.
fn planar_picture(planes: &[u8], width: u32, height: u32) -> Picture {
    let (line, plane) = planar_layout(width, height);
    let base = planes.as_ptr();
    // SAFETY: the offsets are within `planes` (3 planes and the padding).
    let data = unsafe { [base, base.add(plane), base.add(2 * plane), ptr::null()] };
    let line = line as i32;
    Picture {
        data,
        linesize: [line, line, line, 0],
        width: width as i32,
        height: height as i32,
        format: ffi::AVPixelFormat::AV_PIX_FMT_GBRP,
        colour: None,
    }
}

/// One swscale pass of `from` to `width` x `height`, into `out`: planar RGB (`GBRP`), or
/// packed `RGB24` when `packed`. The context in `slot` is reused when its parameters hold.
fn pass(
    slot: &mut Context,
    from: &Picture,
    width: u32,
    height: u32,
    packed: bool,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let dst_format = if packed { ffi::AVPixelFormat::AV_PIX_FMT_RGB24 } else { ffi::AVPixelFormat::AV_PIX_FMT_GBRP };
    // SAFETY: all arguments are validated sizes and formats; getCachedContext frees and
    // replaces the old context itself when parameters change.
    let ctx = unsafe {
        ffi::sws_getCachedContext(
            slot.0.map_or(ptr::null_mut(), |c| c.as_ptr()),
            from.width,
            from.height,
            from.format,
            width as i32,
            height as i32,
            dst_format,
            FLAGS,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null(),
        )
    };
    // getCachedContext freed the old context if it made a new one.
    std::mem::forget(std::mem::replace(slot, Context(NonNull::new(ctx))));
    let ctx = slot.0.ok_or_else(|| {
        Error::new(
            Status::DecodeError,
            format!("cannot convert {}x{} to {width}x{height} RGB", from.width, from.height),
        )
    })?;
    if let Some((matrix, full_range)) = from.colour {
        // SAFETY: ctx is valid; the coefficient tables are static.
        unsafe {
            ffi::sws_setColorspaceDetails(
                ctx.as_ptr(),
                ffi::sws_getCoefficients(matrix),
                i32::from(full_range),
                ffi::sws_getCoefficients(ffi::SWS_CS_DEFAULT),
                1,
                0,
                1 << 16,
                1 << 16,
            );
        }
    }
    let (line, plane) = if packed {
        let line = stride(width as usize * 3);
        (line, line * height as usize)
    } else {
        planar_layout(width, height)
    };
    let planes = if packed { 1 } else { 3 };
    // Zeroed each time: the next pass's SIMD may read into a row's padding, which then
    // never holds an earlier frame's pixels.
    out.clear();
    let size = planes * plane + 64;
    crate::error::reserve(out, size, "a scaled picture")?;
    out.resize(size, 0);
    let base = out.as_mut_ptr();
    // SAFETY: the offsets are within `out` (the planes and the padding).
    let dst = unsafe {
        if packed {
            [base, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()]
        } else {
            [base, base.add(plane), base.add(2 * plane), ptr::null_mut()]
        }
    };
    let dst_stride = if packed { [line as i32, 0, 0, 0] } else { [line as i32, line as i32, line as i32, 0] };
    // SAFETY: `from`'s planes are valid for its size and format; each destination plane
    // holds `height` rows of `line` bytes, the last one 64 more; `out` is not touched
    // until sws_scale returns.
    let ret = unsafe {
        ffi::sws_scale(
            ctx.as_ptr(),
            from.data.as_ptr(),
            from.linesize.as_ptr(),
            0,
            from.height,
            dst.as_ptr(),
            dst_stride.as_ptr(),
        )
    };
    check(ret, Status::DecodeError, "converting the frame to RGB").map(|_| ())
}

impl Scaler {
    pub fn new() -> Scaler {
        Scaler { ctx: Context::default(), planes: Vec::new(), steps: Vec::new() }
    }

    /// Converts `frame` to packed RGB24 of `width` x `height`.
    pub fn convert_to_rgb(&mut self, frame: &Frame, width: u32, height: u32) -> Result<RgbImage, Error> {
        let src_format =
            frame.pixel_format().ok_or_else(|| Error::new(Status::DecodeError, "decoded frame has no pixel format"))?;
        let colour = frame.colour();
        // SAFETY: the frame is valid; its planes stay so while `frame` is borrowed.
        let raw = unsafe { &*frame.as_ptr() };
        let mut from = Picture {
            data: raw.data.map(|p| p as *const u8)[..4].try_into().expect("four planes"),
            linesize: raw.linesize[..4].try_into().expect("four planes"),
            width: frame.width() as i32,
            height: frame.height() as i32,
            format: unj(src_format),
            colour: Some((sws_matrix(colour.matrix, frame.height()), colour.full_range)),
        };
        // Planar RGB where the picture is scaled; packed RGB24 at its own size, where
        // swscale's unscaled converters to planar RGB differ from the scaler's arithmetic
        // for some formats (gray, P010, NV24, RGB565: up to 19 levels).
        if (from.width, from.height) == (width as i32, height as i32) {
            let mut packed = Vec::new();
            pass(&mut self.ctx, &from, width, height, true, &mut packed).map_err(|e| named(e, frame))?;
            return Ok(RgbImage { data: packed, width, height, stride: stride(width as usize * 3) });
        }
        // An extreme downscale: passes dividing each side by at most MAX_STEP, from the
        // largest; the last one below makes the thumbnail.
        let (src_w, src_h) = (frame.width(), frame.height());
        let mut sizes = Vec::new();
        let (mut w, mut h) = (width.saturating_mul(MAX_STEP), height.saturating_mul(MAX_STEP));
        while w < src_w || h < src_h {
            sizes.push((w.min(src_w), h.min(src_h)));
            (w, h) = (w.saturating_mul(MAX_STEP), h.saturating_mul(MAX_STEP));
        }
        self.steps.resize_with(sizes.len(), Default::default);
        for (step, &(w, h)) in self.steps.iter_mut().zip(sizes.iter().rev()) {
            pass(&mut step.0, &from, w, h, false, &mut step.1).map_err(|e| named(e, frame))?;
            from = planar_picture(&step.1, w, h);
        }
        pass(&mut self.ctx, &from, width, height, false, &mut self.planes).map_err(|e| named(e, frame))?;
        let (w, h) = (width as usize, height as usize);
        let (line, plane) = planar_layout(width, height);
        let (g, rest) = self.planes.split_at(plane);
        let (b, r) = rest.split_at(plane);
        let mut data = crate::error::zeroed(w * 3 * h, "a picture")?;
        for (y, row) in data.chunks_exact_mut(w * 3).enumerate() {
            let from = y * line;
            let pixels =
                row.chunks_exact_mut(3).zip(&r[from..from + w]).zip(&g[from..from + w]).zip(&b[from..from + w]);
            for (((px, &r), &g), &b) in pixels {
                px.copy_from_slice(&[r, g, b]);
            }
        }
        Ok(RgbImage { data, width, height, stride: w * 3 })
    }
}

/// A scaler's error, naming the frame's size and pixel format.
fn named(e: Error, frame: &Frame) -> Error {
    Error::new(
        e.status(),
        format!("{} (a {}x{} {} frame)", e.message(), frame.width(), frame.height(), frame.pixel_format_name()),
    )
}

// SAFETY: the context is used by one thread at a time (we hold it by &mut).
unsafe impl Send for Scaler {}
