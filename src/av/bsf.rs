//! FFmpeg's `mpeg4_unpack_bframes` bitstream filter, owned: DivX/Xvid "packed" B-frames
//! (a P-frame and the B-frame shown before it in one packet, then a placeholder N-VOP)
//! become one frame per packet, so that a packet's timestamp belongs to its own frame.

use std::ptr::NonNull;

use ffmpeg_sys_next as ffi;

use super::{check, Packet};
use crate::error::{Error, Status};

pub(crate) struct Unpacker {
    ctx: NonNull<ffi::AVBSFContext>,
    /// Whether the filter has unpacked a packet (or dropped a placeholder): the stream
    /// is packed.
    unpacked: bool,
}

impl Unpacker {
    /// The filter for `stream` when it is MPEG-4 Part 2 (the only codec with packed
    /// B-frames), `None` for any other codec or where FFmpeg was built without it. It
    /// passes unpacked streams through unchanged.
    pub(super) fn open(stream: *const ffi::AVStream) -> Result<Option<Unpacker>, Error> {
        // SAFETY: stream and its codecpar are valid while the demuxer is open;
        // av_bsf_get_by_name takes a NUL-terminated name and returns a static or NULL.
        unsafe {
            let par = (*stream).codecpar;
            if (*par).codec_id != ffi::AVCodecID::AV_CODEC_ID_MPEG4 {
                return Ok(None);
            }
            let filter = ffi::av_bsf_get_by_name(c"mpeg4_unpack_bframes".as_ptr());
            if filter.is_null() {
                return Ok(None);
            }
            let mut raw: *mut ffi::AVBSFContext = std::ptr::null_mut();
            check(ffi::av_bsf_alloc(filter, &mut raw), Status::Internal, "allocating the B-frame unpacker")?;
            let unpacker = Unpacker {
                ctx: NonNull::new(raw).ok_or_else(|| Error::new(Status::Internal, "out of memory for a filter"))?,
                unpacked: false,
            };
            check(ffi::avcodec_parameters_copy((*raw).par_in, par), Status::Internal, "B-frame unpacker parameters")?;
            (*raw).time_base_in = (*stream).time_base;
            check(ffi::av_bsf_init(raw), Status::DecodeError, "starting the B-frame unpacker")?;
            Ok(Some(unpacker))
        }
    }

    /// Passes `pkt` through the filter: `Ok(true)` when `pkt` now holds the packet to
    /// decode, `Ok(false)` when the filter kept it (an N-VOP whose B-frame it already gave
    /// out, or a packed B-frame it holds for the next placeholder).
    pub fn filter(&mut self, pkt: &mut Packet) -> Result<bool, Error> {
        let ctx = self.ctx.as_ptr();
        let size = pkt.size();
        // SAFETY: ctx is an initialised filter and pkt a valid packet; send takes over its
        // reference (leaving it blank) and receive fills the blank packet.
        unsafe {
            check(ffi::av_bsf_send_packet(ctx, pkt.as_ptr()), Status::DecodeError, "unpacking B-frames")?;
            let ret = ffi::av_bsf_receive_packet(ctx, pkt.as_ptr());
            if ret == ffi::AVERROR(libc::EAGAIN) {
                self.unpacked = true;
                return Ok(false);
            }
            check(ret, Status::DecodeError, "unpacking B-frames")?;
        }
        self.unpacked |= pkt.size() != size;
        Ok(true)
    }

    /// Whether the stream has shown itself packed: a packet split or a placeholder dropped.
    pub fn unpacked(&self) -> bool {
        self.unpacked
    }

    /// Forgets any B-frame held back: after a seek it belongs to the wrong place.
    pub fn flush(&mut self) {
        // SAFETY: ctx is an initialised filter.
        unsafe { ffi::av_bsf_flush(self.ctx.as_ptr()) }
    }
}

impl Drop for Unpacker {
    fn drop(&mut self) {
        let mut raw = self.ctx.as_ptr();
        // SAFETY: we own the context; av_bsf_free frees it and its parameters.
        unsafe { ffi::av_bsf_free(&mut raw) }
    }
}

// SAFETY: the filter context is used by one thread at a time (through &mut), as the
// demuxer that owns it.
unsafe impl Send for Unpacker {}
