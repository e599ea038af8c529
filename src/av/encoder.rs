//! `AVCodecContext` for encoding still images with FFmpeg's own encoders: WebP through
//! libavcodec's `libwebp` wrapper (Debian's FFmpeg links libwebp; no second copy of it).

use std::ffi::{c_int, CString};
use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use super::{check, Frame, Packet};
use crate::error::{Error, Status};

/// Largest side libwebp encodes (`WEBP_MAX_DIMENSION`).
pub(crate) const WEBP_MAX_SIDE: u32 = 16383;

/// An open encoder. Freed (with its private options) in `Drop`.
struct Encoder {
    ctx: NonNull<ffi::AVCodecContext>,
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let mut raw = self.ctx.as_ptr();
        // SAFETY: we own the context; avcodec_free_context closes and frees it.
        unsafe { ffi::avcodec_free_context(&mut raw) };
    }
}

fn encode_error(what: &str) -> Error {
    Error::new(Status::EncodeError, format!("webp encoder: {what}"))
}

/// Encodes `width` x `height` packed RGB24 pixels as a lossy WebP of `quality` (1-100),
/// with libwebp's default method (4).
pub(crate) fn encode_webp(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, Error> {
    super::init();
    if width == 0 || height == 0 || width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
        return Err(encode_error(&format!("{width}x{height} is beyond WebP's {WEBP_MAX_SIDE}x{WEBP_MAX_SIDE}")));
    }
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(Error::new(Status::Internal, "webp encoder: the picture's size does not match its pixels"));
    }
    // SAFETY: a static, NUL-terminated name; returns NULL or a static codec.
    let codec = unsafe { ffi::avcodec_find_encoder_by_name(c"libwebp".as_ptr()) };
    if codec.is_null() {
        return Err(encode_error(
            "this FFmpeg has no libwebp encoder (WebP output needs libavcodec built with --enable-libwebp)",
        ));
    }
    // SAFETY: codec is a valid encoder; returns NULL or a fresh context with its defaults.
    let ctx = NonNull::new(unsafe { ffi::avcodec_alloc_context3(codec) })
        .ok_or_else(|| Error::new(Status::Internal, "out of memory for the webp encoder"))?;
    let encoder = Encoder { ctx };
    let raw = encoder.ctx.as_ptr();
    let quality = CString::new(quality.clamp(1, 100).to_string()).expect("digits have no NUL");
    // SAFETY: raw is a fresh context of this codec; the fields are plain values and the
    // option is set on its private data (which the codec's class describes).
    unsafe {
        (*raw).width = width as c_int;
        (*raw).height = height as c_int;
        (*raw).pix_fmt = ffi::AVPixelFormat::AV_PIX_FMT_BGRA;
        (*raw).time_base = ffi::AVRational { num: 1, den: 1 };
        check(
            ffi::av_opt_set((*raw).priv_data, c"quality".as_ptr(), quality.as_ptr(), 0),
            Status::EncodeError,
            "webp encoder quality",
        )?;
        check(ffi::avcodec_open2(raw, codec, ptr::null_mut()), Status::EncodeError, "opening the webp encoder")?;
    }
    let frame = Frame::new()?;
    let f = frame.as_ptr();
    // SAFETY: f is a blank frame; av_frame_get_buffer allocates planes for its size and format.
    unsafe {
        (*f).width = width as c_int;
        (*f).height = height as c_int;
        (*f).format = ffi::AVPixelFormat::AV_PIX_FMT_BGRA as c_int;
        (*f).pts = 0;
        check(ffi::av_frame_get_buffer(f, 0), Status::Internal, "a frame for the webp encoder")?;
    }
    // SAFETY: the frame's plane 0 holds `height` rows of `linesize[0]` >= width * 4 bytes.
    let (data, stride) = unsafe { ((*f).data[0], (*f).linesize[0] as usize) };
    for (y, row) in rgb.chunks_exact(width as usize * 3).enumerate() {
        // SAFETY: row y of plane 0 is `width * 4` writable bytes (see above).
        let out = unsafe { std::slice::from_raw_parts_mut(data.add(y * stride), width as usize * 4) };
        for (px, rgb) in out.chunks_exact_mut(4).zip(row.chunks_exact(3)) {
            px.copy_from_slice(&[rgb[2], rgb[1], rgb[0], 255]);
        }
    }
    // SAFETY: the encoder is open and the frame matches its size and format; a NULL frame
    // then drains it. The packet is a fresh, owned one.
    unsafe {
        check(ffi::avcodec_send_frame(raw, f), Status::EncodeError, "webp encoder")?;
        check(ffi::avcodec_send_frame(raw, ptr::null()), Status::EncodeError, "webp encoder")?;
    }
    let packet = Packet::new()?;
    // SAFETY: as above; one image gives one packet.
    check(unsafe { ffi::avcodec_receive_packet(raw, packet.as_ptr()) }, Status::EncodeError, "webp encoder")?;
    // SAFETY: the packet holds `size` bytes at `data` until it is unreferenced.
    let bytes = unsafe {
        let p = &*packet.as_ptr();
        std::slice::from_raw_parts(p.data, p.size.max(0) as usize).to_vec()
    };
    if bytes.is_empty() {
        return Err(encode_error("no output"));
    }
    Ok(bytes)
}
