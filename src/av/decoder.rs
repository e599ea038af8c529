//! `AVCodecContext` for decoding, and the one send/receive loop that handles EAGAIN/EOF.

use std::ffi::c_int;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};

use ffmpeg_sys_next as ffi;

use super::{check, error_text, Frame, Packet};
use crate::error::{Error, Status};

/// Field order is drop order: the codec context is freed (in `Drop`) while the guard its
/// callbacks read is still alive.
pub(crate) struct Decoder {
    ctx: NonNull<ffi::AVCodecContext>,
    /// The most recent decode error, kept for the message when no frame ever comes out.
    last_error: Option<String>,
    guard: Box<PixelGuard>,
}

/// FFmpeg's own ceiling on picture sizes, used for the decoder's internal checks when the
/// caller's limit is lower (the caller's limit is then enforced, observably, by the guard).
const FFMPEG_CEILING: u64 = 16384 * 16384;

/// Padding a decoder may add to a picture's allocation (alignment), not counted as pixels.
const ALIGNMENT_SLACK: u64 = 64;

/// Errors taken while draining before giving up on the frames still in the decoder: one per
/// packet in flight is expected (FFmpeg has at most a few dozen), a decoder that never
/// reaches the end is not.
const MAX_DRAIN_ERRORS: u32 = 1024;

/// The caller's pixel limit, checked by the decoder's `get_format` and `get_buffer2`
/// callbacks on every picture the decoder sets up, and on every frame it releases (some
/// decoders, libdav1d among them, allocate their pictures themselves), and the first size
/// that broke it.
///
/// FFmpeg's `max_pixels` alone would refuse such a picture too, but silently: the decode
/// error looks like damage and an earlier frame would be returned. The guard makes the
/// refusal a `LIMIT_EXCEEDED`, never a fallback frame.
struct PixelGuard {
    max_pixels: u64,
    /// `width << 32 | height` of the first picture over the limit; 0 while none.
    tripped: AtomicU64,
}

impl PixelGuard {
    /// Whether a `width` x `height` picture is over the limit (and remembers the first).
    fn refuses(&self, width: c_int, height: c_int) -> bool {
        self.refuses_size(width.max(0) as u64, height.max(0) as u64)
    }

    /// The same for a size known to be non-negative.
    fn refuses_size(&self, w: u64, h: u64) -> bool {
        if w.saturating_mul(h) <= self.max_pixels {
            return false;
        }
        let _ = self.tripped.compare_exchange(0, (w << 32) | h, Ordering::Relaxed, Ordering::Relaxed);
        true
    }
}

/// `AVCodecContext.get_format`: called when a decoder (re)initialises for a new picture
/// size, before it allocates anything for it.
unsafe extern "C" fn guarded_get_format(
    ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    // SAFETY: ctx is the decoder's context (or a frame thread's copy of it), whose opaque is
    // the guard the Decoder owns and keeps alive longer than the context.
    unsafe {
        let guard = &*((*ctx).opaque as *const PixelGuard);
        if guard.refuses((*ctx).width, (*ctx).height) {
            return ffi::AVPixelFormat::AV_PIX_FMT_NONE;
        }
        ffi::avcodec_default_get_format(ctx, formats)
    }
}

/// `AVCodecContext.get_buffer2`: called for every picture buffer the decoder allocates.
unsafe extern "C" fn guarded_get_buffer(
    ctx: *mut ffi::AVCodecContext,
    frame: *mut ffi::AVFrame,
    flags: c_int,
) -> c_int {
    // SAFETY: as in guarded_get_format; frame is the frame FFmpeg asks a buffer for.
    unsafe {
        let guard = &*((*ctx).opaque as *const PixelGuard);
        let (cw, ch) = ((*ctx).width, (*ctx).height);
        let (fw, fh) = ((*frame).width, (*frame).height);
        // The context's size is the picture's; the frame's may add alignment padding. A
        // frame much larger than its context is judged by its own size.
        let padded = |f: c_int, c: c_int| i64::from(f) > i64::from(c) + ALIGNMENT_SLACK as i64;
        let (w, h) = if padded(fw, cw) || padded(fh, ch) { (fw, fh) } else { (cw, ch) };
        if guard.refuses(w, h) {
            return ffi::AVERROR(libc::EINVAL);
        }
        ffi::avcodec_default_get_buffer2(ctx, frame, flags)
    }
}

/// What the frame sink wants after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

impl Decoder {
    /// A decoder for `stream` with `threads` threads (0: one per CPU this process may run
    /// on); `reorder_delay` is the least `has_b_frames` it starts with (a measure taken in
    /// place of the probe's; 0 keeps the stream parameters' own).
    pub(super) fn open(
        stream: *mut ffi::AVStream,
        threads: u32,
        max_pixels: u64,
        reorder_delay: i32,
    ) -> Result<Decoder, Error> {
        // SAFETY: stream and its codecpar are valid while the demuxer is open; the codec
        // context copies what it needs from them.
        unsafe {
            let par = (*stream).codecpar;
            if (*par).codec_id == ffi::AVCodecID::AV_CODEC_ID_NONE {
                return Err(Error::new(
                    Status::NoVideoStream,
                    "the video stream names no codec FFmpeg knows (a damaged or truncated file?)",
                ));
            }
            let codec = ffi::avcodec_find_decoder((*par).codec_id);
            if codec.is_null() {
                let name = std::ffi::CStr::from_ptr(ffi::avcodec_get_name((*par).codec_id));
                return Err(Error::new(
                    Status::NoVideoStream,
                    format!("no decoder for video codec '{}'", name.to_string_lossy()),
                ));
            }
            let ctx = NonNull::new(ffi::avcodec_alloc_context3(codec))
                .ok_or_else(|| Error::new(Status::Internal, "out of memory for the decoder"))?;
            let guard = Box::new(PixelGuard { max_pixels, tripped: AtomicU64::new(0) });
            let decoder = Decoder { ctx, last_error: None, guard };
            let raw = ctx.as_ptr();
            check(ffi::avcodec_parameters_to_context(raw, par), Status::DecodeError, "decoder parameters")?;
            (*raw).pkt_timebase = (*stream).time_base;
            (*raw).has_b_frames = (*raw).has_b_frames.max(reorder_delay);
            // 0 would let FFmpeg choose one thread more than CPUs; each frame thread holds
            // its own pictures (about 44 MB more for 4K H.264 on FFmpeg 5.1) and on 2 cores
            // the extra one made calls no faster (`make bench`: 2160p and 1080p H.264
            // slightly faster, less CPU, with 2 threads than with 3).
            (*raw).thread_count = if threads == 0 { ffi::av_cpu_count().max(1) } else { threads.min(1024) as i32 };
            // Every picture, not only the size the stream declares first (a later SPS may
            // claim up to 16384x16384): the guard refuses, and reports, any picture over the
            // caller's limit before its buffers are allocated; FFmpeg's own check stays at
            // its ceiling so that it does not refuse first, silently.
            (*raw).max_pixels = i64::try_from(max_pixels.max(FFMPEG_CEILING)).unwrap_or(i64::MAX);
            (*raw).opaque = &*decoder.guard as *const PixelGuard as *mut std::ffi::c_void;
            (*raw).get_format = Some(guarded_get_format);
            (*raw).get_buffer2 = Some(guarded_get_buffer);
            (*raw).thread_type = ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE;
            let opened = ffi::avcodec_open2(raw, codec, ptr::null_mut());
            let no_thread = opened == ffi::AVERROR(libc::EAGAIN) || opened == ffi::AVERROR(libc::ENOMEM);
            if no_thread && (*raw).thread_count > 1 {
                // No thread could be started (a process's or a container's limit on
                // threads; libdav1d says ENOMEM for it): one thread decodes the same
                // frames, only slower. Memory truly short fails again, and says so.
                drop(decoder);
                return Decoder::open(stream, 1, max_pixels, reorder_delay);
            }
            check(opened, Status::DecodeError, "opening the decoder")?;
            Ok(decoder)
        }
    }

    /// Whether the decoder holds frames back to put them in presentation order (its
    /// `has_b_frames`, which it raises once it sees reordering).
    pub fn reorders(&self) -> bool {
        // SAFETY: ctx is an open codec context.
        unsafe { (*self.ctx.as_ptr()).has_b_frames > 0 }
    }

    /// Whether to skip decoding frames no other frame refers to (`skip_frame = nonref`).
    /// Frames that are decoded stay bit-exact.
    pub fn skip_non_reference(&mut self, skip: bool) {
        let mode = if skip { ffi::AVDiscard::AVDISCARD_NONREF } else { ffi::AVDiscard::AVDISCARD_DEFAULT };
        // SAFETY: ctx is an open codec context; skip_frame may change between packets.
        unsafe { (*self.ctx.as_ptr()).skip_frame = mode };
    }

    /// Forgets all buffered state, as after a seek.
    pub fn flush(&mut self) {
        // SAFETY: ctx is an open codec context.
        unsafe { ffi::avcodec_flush_buffers(self.ctx.as_ptr()) };
    }

    /// `LIMIT_EXCEEDED` if the decoder met a picture over the pixel limit (it was refused,
    /// so frames from then on may be missing: no frame decoded since can be trusted as the
    /// answer).
    pub fn limit_error(&self) -> Result<(), Error> {
        match self.guard.tripped.load(Ordering::Relaxed) {
            0 => Ok(()),
            size => Err(Error::new(
                Status::LimitExceeded,
                format!(
                    "the video has a picture of {}x{}, over the limit of {} pixels (max_input_pixels)",
                    size >> 32,
                    size & 0xFFFF_FFFF,
                    self.guard.max_pixels
                ),
            )),
        }
    }

    /// The last decode error FFmpeg reported, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Feeds `packet` (or, with `None`, the end of the stream) and hands each frame the
    /// decoder releases to `sink`, which may take it (the frame is then blank) or leave it.
    /// Decode errors in a packet are remembered and skipped, as the ffmpeg CLI does, also
    /// while draining.
    /// Returns `Flow::Stop` when the sink stopped or, after `None`, the decoder is drained.
    pub fn decode(
        &mut self,
        packet: Option<&Packet>,
        frame: &mut Frame,
        sink: &mut dyn FnMut(&mut Frame) -> Result<Flow, Error>,
    ) -> Result<Flow, Error> {
        let raw = self.ctx.as_ptr();
        let pkt = packet.map_or(ptr::null(), |p| p.as_ptr() as *const ffi::AVPacket);
        let mut drain_errors = 0;
        loop {
            // SAFETY: ctx is open; pkt is NULL (drain) or a valid packet FFmpeg refs.
            let sent = unsafe { ffi::avcodec_send_packet(raw, pkt) };
            let again = sent == ffi::AVERROR(libc::EAGAIN);
            if sent < 0 && !again && sent != ffi::AVERROR_EOF {
                if sent == ffi::AVERROR(libc::ENOMEM) {
                    return Err(Error::new(Status::Internal, "decoder out of memory"));
                }
                self.last_error = Some(error_text(sent));
            }
            let mut received = false;
            loop {
                frame.unref();
                // SAFETY: ctx is open; frame is a valid blank frame.
                let got = unsafe { ffi::avcodec_receive_frame(raw, frame.as_ptr()) };
                if got == ffi::AVERROR(libc::EAGAIN) {
                    break;
                }
                if got == ffi::AVERROR_EOF {
                    return Ok(Flow::Stop);
                }
                if got < 0 {
                    self.last_error = Some(error_text(got));
                    // While draining, an error is one packet's: with frame threads, frames
                    // of later packets are still to come (the ffmpeg CLI goes on too).
                    if packet.is_none() {
                        drain_errors += 1;
                        if drain_errors > MAX_DRAIN_ERRORS {
                            return Ok(Flow::Stop);
                        }
                        continue;
                    }
                    break;
                }
                received = true;
                // Decoders that allocate their own pictures (libdav1d for AV1) never call
                // get_buffer2: every frame that comes out is judged too, and one over the
                // limit is refused, never handed on as the answer.
                if self.guard.refuses_size(u64::from(frame.width()), u64::from(frame.height())) {
                    frame.unref();
                    return self.limit_error().map(|()| Flow::Stop);
                }
                if sink(frame)? == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            // A decoder that refuses input yet has no output would loop forever: drop the packet.
            if !again || !received {
                return Ok(Flow::Continue);
            }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let mut raw = self.ctx.as_ptr();
        // SAFETY: we own the context; avcodec_free_context closes and frees it.
        unsafe { ffi::avcodec_free_context(&mut raw) };
    }
}

// SAFETY: the codec context is used by one thread at a time (we hold it by &mut).
unsafe impl Send for Decoder {}
