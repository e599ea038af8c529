//! `SwsContext`: one pass that converts any pixel format to 8-bit RGB with the stream's
//! colour matrix and range, and scales to the output size.

use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use super::{check, Frame};
use crate::error::{Error, Status};
use crate::image::RgbImage;

/// Reused across frames of one call (batch extraction): swscale keeps its context when the
/// input and output parameters do not change.
pub(crate) struct Scaler {
    ctx: Option<NonNull<ffi::SwsContext>>,
}

/// Bicubic with accurate rounding; full horizontal chroma interpolation only where the
/// image keeps every chroma sample (PNG). It costs 2-3x the scale's time, and a 4:2:0
/// encoder (JPEG, WebP) averages each 2x2 block's chroma, undoing it: without it, the two
/// pixels of a pair share their scaled chroma sample, which 4:2:0 then keeps as it is.
fn flags(full_chroma: bool) -> i32 {
    let flags = ffi::SWS_BICUBIC | ffi::SWS_ACCURATE_RND;
    if full_chroma {
        flags | ffi::SWS_FULL_CHR_H_INT
    } else {
        flags
    }
}

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

impl Scaler {
    pub fn new() -> Scaler {
        Scaler { ctx: None }
    }

    /// Converts `frame` to packed RGB24 of `width` x `height`; `full_chroma` interpolates
    /// chroma to every pixel (for images that keep it, see [`flags`]).
    pub fn convert_to_rgb(
        &mut self,
        frame: &Frame,
        width: u32,
        height: u32,
        full_chroma: bool,
    ) -> Result<RgbImage, Error> {
        let src_format =
            frame.pixel_format().ok_or_else(|| Error::new(Status::DecodeError, "decoded frame has no pixel format"))?;
        let (src_w, src_h) = (frame.width() as i32, frame.height() as i32);
        let colour = frame.colour();
        // SAFETY: all arguments are validated sizes and formats; getCachedContext frees
        // and replaces the old context itself when parameters change.
        let ctx = unsafe {
            ffi::sws_getCachedContext(
                self.ctx.map_or(ptr::null_mut(), |c| c.as_ptr()),
                src_w,
                src_h,
                unj(src_format),
                width as i32,
                height as i32,
                ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
                flags(full_chroma),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        self.ctx = NonNull::new(ctx);
        let ctx = self.ctx.ok_or_else(|| {
            Error::new(
                Status::DecodeError,
                format!("cannot convert {}x{} {} to RGB", src_w, src_h, frame.pixel_format_name()),
            )
        })?;
        let matrix = sws_matrix(colour.matrix, frame.height());
        // SAFETY: ctx is valid; the coefficient tables are static.
        unsafe {
            ffi::sws_setColorspaceDetails(
                ctx.as_ptr(),
                ffi::sws_getCoefficients(matrix),
                i32::from(colour.full_range),
                ffi::sws_getCoefficients(ffi::SWS_CS_DEFAULT),
                1,
                0,
                1 << 16,
                1 << 16,
            );
        }
        // Rows padded to 64 bytes: swscale's SIMD paths may write past the last pixel.
        let stride = (width as usize * 3).div_ceil(64) * 64;
        let mut data = vec![0u8; stride * height as usize + 64];
        let dst = [data.as_mut_ptr(), ptr::null_mut(), ptr::null_mut(), ptr::null_mut()];
        let dst_stride = [stride as i32, 0, 0, 0];
        // SAFETY: the frame's planes are valid for its size and format; `data` holds
        // `height` rows of `stride` bytes plus padding.
        let ret = unsafe {
            let raw = &*frame.as_ptr();
            ffi::sws_scale(
                ctx.as_ptr(),
                raw.data.as_ptr() as *const *const u8,
                raw.linesize.as_ptr(),
                0,
                src_h,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        check(ret, Status::DecodeError, "converting the frame to RGB")?;
        Ok(RgbImage { data, width, height, stride })
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx {
            // SAFETY: we own the context.
            unsafe { ffi::sws_freeContext(ctx.as_ptr()) };
        }
    }
}

// SAFETY: the context is used by one thread at a time (we hold it by &mut).
unsafe impl Send for Scaler {}
