//! `AVCodecContext` for decoding, and the one send/receive loop that handles EAGAIN/EOF.

use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use super::{check, error_text, Frame, Packet};
use crate::error::{Error, Status};

pub(crate) struct Decoder {
    ctx: NonNull<ffi::AVCodecContext>,
    /// The most recent decode error, kept for the message when no frame ever comes out.
    last_error: Option<String>,
}

/// What the frame sink wants after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

impl Decoder {
    pub(super) fn open(stream: *mut ffi::AVStream, threads: u32, max_pixels: u64) -> Result<Decoder, Error> {
        // SAFETY: stream and its codecpar are valid while the demuxer is open; the codec
        // context copies what it needs from them.
        unsafe {
            let par = (*stream).codecpar;
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
            let decoder = Decoder { ctx, last_error: None };
            let raw = ctx.as_ptr();
            check(ffi::avcodec_parameters_to_context(raw, par), Status::DecodeError, "decoder parameters")?;
            (*raw).pkt_timebase = (*stream).time_base;
            (*raw).thread_count = threads.min(1024) as i32;
            // Every picture, not only the size the stream declares first: FFmpeg refuses to
            // allocate a bigger one (a later SPS may claim up to 16384x16384).
            (*raw).max_pixels = i64::try_from(max_pixels).unwrap_or(i64::MAX);
            (*raw).thread_type = ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE;
            check(ffi::avcodec_open2(raw, codec, ptr::null_mut()), Status::DecodeError, "opening the decoder")?;
            Ok(decoder)
        }
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

    /// The last decode error FFmpeg reported, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Feeds `packet` (or, with `None`, the end of the stream) and hands each frame the
    /// decoder releases to `sink`, which may take it (the frame is then blank) or leave it.
    /// Decode errors in a packet are remembered and skipped, as the ffmpeg CLI does.
    /// Returns `Flow::Stop` when the sink stopped or, after `None`, the decoder is drained.
    pub fn decode(
        &mut self,
        packet: Option<&Packet>,
        frame: &mut Frame,
        sink: &mut dyn FnMut(&mut Frame) -> Result<Flow, Error>,
    ) -> Result<Flow, Error> {
        let raw = self.ctx.as_ptr();
        let pkt = packet.map_or(ptr::null(), |p| p.as_ptr() as *const ffi::AVPacket);
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
                    if packet.is_none() {
                        return Ok(Flow::Stop);
                    }
                    break;
                }
                received = true;
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
