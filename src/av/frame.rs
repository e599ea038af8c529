//! `AVFrame`, owned: a decoded picture and what the decoder says about it.

use std::ptr::NonNull;

use ffmpeg_sys_next as ffi;

use super::{compat, Rational};
use crate::error::{Error, Status};

pub(crate) struct Frame {
    ptr: NonNull<ffi::AVFrame>,
}

/// How the frame's YUV values map to RGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Colour {
    /// The `AVColorSpace` value (the matrix coefficients), as FFmpeg numbers it.
    pub matrix: i32,
    /// The `AVColorTransferCharacteristic` value.
    pub transfer: i32,
    /// Full (JPEG) range rather than limited (TV) range.
    pub full_range: bool,
}

impl Colour {
    /// Whether the transfer is a high-dynamic-range one: PQ (SMPTE ST 2084, HDR10) or HLG
    /// (ARIB STD-B67).
    pub fn is_hdr(self) -> bool {
        const PQ: i32 = ffi::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084 as i32;
        const HLG: i32 = ffi::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67 as i32;
        matches!(self.transfer, PQ | HLG)
    }
}

impl Frame {
    pub fn new() -> Result<Frame, Error> {
        // SAFETY: av_frame_alloc returns NULL or a fresh, blank frame.
        NonNull::new(unsafe { ffi::av_frame_alloc() })
            .map(|ptr| Frame { ptr })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for a frame"))
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::AVFrame {
        self.ptr.as_ptr()
    }

    fn raw(&self) -> &ffi::AVFrame {
        // SAFETY: ptr is a valid frame for the life of self, and we hand out no &mut.
        unsafe { self.ptr.as_ref() }
    }

    /// A second reference to the same picture (no pixel copy).
    pub fn try_clone(&self) -> Result<Frame, Error> {
        // SAFETY: ptr is a valid frame; av_frame_clone returns NULL or a new reference.
        NonNull::new(unsafe { ffi::av_frame_clone(self.ptr.as_ptr()) })
            .map(|ptr| Frame { ptr })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for a frame reference"))
    }

    /// Releases the picture, keeping the allocation.
    pub fn unref(&mut self) {
        // SAFETY: ptr is valid; unref leaves a blank frame.
        unsafe { ffi::av_frame_unref(self.ptr.as_ptr()) }
    }

    /// Whether the decoder marked this picture neither as a keyframe nor as an intra or a
    /// bidirectional one: a P-frame, predicted from an earlier picture (an intra-refresh
    /// recovery point is marked as a keyframe), or a picture of no type (FFmpeg 7's MPEG-4
    /// Part 2 decoder gives a P-frame decoded without its reference no type).
    pub fn is_predicted(&self) -> bool {
        use ffi::AVPictureType::{AV_PICTURE_TYPE_B, AV_PICTURE_TYPE_BI, AV_PICTURE_TYPE_I};
        let kind = self.raw().pict_type;
        // SAFETY: ptr is a valid frame for the life of self.
        let key = unsafe { compat::frame_is_key(self.raw()) };
        !key && !matches!(kind, AV_PICTURE_TYPE_I | AV_PICTURE_TYPE_B | AV_PICTURE_TYPE_BI)
    }

    /// Whether the decoder marked this picture as a keyframe or an intra one: made from
    /// nothing but itself.
    pub fn is_intra(&self) -> bool {
        use ffi::AVPictureType::{AV_PICTURE_TYPE_I, AV_PICTURE_TYPE_SI};
        // SAFETY: ptr is a valid frame for the life of self.
        let key = unsafe { compat::frame_is_key(self.raw()) };
        key || matches!(self.raw().pict_type, AV_PICTURE_TYPE_I | AV_PICTURE_TYPE_SI)
    }

    /// Whether the decoder's best-effort time differs from the frame's own timestamp: it
    /// found the presentation times out of order and now times frames by their decoding
    /// times, a choice that depends on every frame it decoded before.
    pub fn times_disagree(&self) -> bool {
        let raw = self.raw();
        super::ts(raw.pts).is_some_and(|pts| super::ts(raw.best_effort_timestamp).is_some_and(|best| best != pts))
    }

    /// The presentation time the decoder settled on (best effort), in stream time base.
    pub fn pts(&self) -> Option<i64> {
        super::ts(self.raw().best_effort_timestamp).or_else(|| super::ts(self.raw().pts))
    }

    pub fn width(&self) -> u32 {
        self.raw().width.max(0) as u32
    }

    pub fn height(&self) -> u32 {
        self.raw().height.max(0) as u32
    }

    pub(super) fn pixel_format(&self) -> Option<ffi::AVPixelFormat> {
        pixel_format(self.raw().format)
    }

    /// FFmpeg's name of the pixel format, as `-pix_fmt` takes it.
    pub fn pixel_format_name(&self) -> String {
        match self.pixel_format() {
            // SAFETY: av_get_pix_fmt_name returns NULL or a static string.
            Some(f) => unsafe {
                let name = ffi::av_get_pix_fmt_name(f);
                if name.is_null() {
                    return "unknown".into();
                }
                std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
            },
            None => "none".into(),
        }
    }

    pub fn sample_aspect_ratio(&self) -> Rational {
        Rational::from_av(self.raw().sample_aspect_ratio)
    }

    pub fn colour(&self) -> Colour {
        let raw = self.raw();
        let full = raw.color_range == ffi::AVColorRange::AVCOL_RANGE_JPEG
            || matches!(
                self.pixel_format(),
                Some(
                    ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P
                        | ffi::AVPixelFormat::AV_PIX_FMT_YUVJ422P
                        | ffi::AVPixelFormat::AV_PIX_FMT_YUVJ444P
                        | ffi::AVPixelFormat::AV_PIX_FMT_YUVJ440P
                        | ffi::AVPixelFormat::AV_PIX_FMT_YUVJ411P
                )
            );
        Colour { matrix: raw.colorspace as i32, transfer: raw.color_trc as i32, full_range: full }
    }

    /// The display matrix the decoder attached to this frame (e.g. from an H.264 SEI).
    pub fn display_matrix(&self) -> Option<[i32; 9]> {
        // SAFETY: the side data, if present, belongs to this frame and is at least as
        // large as its `size` says; we check it holds nine int32 before reading.
        unsafe {
            let sd =
                ffi::av_frame_get_side_data(self.ptr.as_ptr(), ffi::AVFrameSideDataType::AV_FRAME_DATA_DISPLAYMATRIX);
            super::compat::read_matrix(sd.as_ref().map(|sd| (sd.data as *const u8, sd.size)))
        }
    }

    /// The picture's planes, packed one after another without padding: exactly what
    /// `ffmpeg -f rawvideo -pix_fmt <same>` writes for the frame.
    pub fn packed_bytes(&self) -> Result<Vec<u8>, Error> {
        let raw = self.raw();
        let format = self.pixel_format().ok_or_else(|| Error::new(Status::Internal, "frame without a pixel format"))?;
        // SAFETY: plain size computation on validated arguments.
        let size = unsafe { ffi::av_image_get_buffer_size(format, raw.width, raw.height, 1) };
        let size = super::check(size, Status::Internal, "image size")? as usize;
        let mut out = crate::error::zeroed(size, "a frame's planes")?;
        // SAFETY: `out` has exactly the size FFmpeg asked for; the frame's planes are
        // valid for its width, height and format.
        let ret = unsafe {
            ffi::av_image_copy_to_buffer(
                out.as_mut_ptr(),
                size as i32,
                raw.data.as_ptr() as *const *const u8,
                raw.linesize.as_ptr(),
                format,
                raw.width,
                raw.height,
                1,
            )
        };
        super::check(ret, Status::Internal, "copying the picture")?;
        Ok(out)
    }
}

/// The `AVPixelFormat` for an `AVFrame.format` value, if it names one.
pub(super) fn pixel_format(value: i32) -> Option<ffi::AVPixelFormat> {
    let count = ffi::AVPixelFormat::AV_PIX_FMT_NB as i32;
    // SAFETY: AVPixelFormat is a C enum with contiguous values 0..AV_PIX_FMT_NB.
    (0..count).contains(&value).then(|| unsafe { std::mem::transmute::<i32, ffi::AVPixelFormat>(value) })
}

impl Drop for Frame {
    fn drop(&mut self) {
        let mut ptr = self.ptr.as_ptr();
        // SAFETY: we own the frame; av_frame_free unrefs and frees it.
        unsafe { ffi::av_frame_free(&mut ptr) }
    }
}

// SAFETY: a frame is owned data with refcounted, thread-safe buffers.
unsafe impl Send for Frame {}
