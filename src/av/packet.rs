//! `AVPacket`, owned.

use std::ptr::NonNull;

use ffmpeg_sys_next as ffi;

use crate::error::{Error, Status};

pub(crate) struct Packet {
    ptr: NonNull<ffi::AVPacket>,
}

impl Packet {
    pub fn new() -> Result<Packet, Error> {
        // SAFETY: av_packet_alloc returns NULL or a fresh, blank packet.
        NonNull::new(unsafe { ffi::av_packet_alloc() })
            .map(|ptr| Packet { ptr })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for a packet"))
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::AVPacket {
        self.ptr.as_ptr()
    }

    pub fn stream_index(&self) -> i32 {
        // SAFETY: ptr is a valid packet for the life of self.
        unsafe { (*self.ptr.as_ptr()).stream_index }
    }

    /// The payload's size in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: ptr is a valid packet for the life of self.
        unsafe { (*self.ptr.as_ptr()).size }.max(0) as usize
    }

    /// The payload.
    pub fn data(&self) -> &[u8] {
        // SAFETY: ptr is a valid packet; its data holds size bytes for the life of self
        // (null only when empty).
        unsafe {
            let raw = &*self.ptr.as_ptr();
            if raw.data.is_null() || raw.size <= 0 {
                return &[];
            }
            std::slice::from_raw_parts(raw.data, raw.size as usize)
        }
    }

    /// Presentation timestamp, if the container gave one.
    pub fn pts(&self) -> Option<i64> {
        // SAFETY: as above.
        super::ts(unsafe { (*self.ptr.as_ptr()).pts })
    }

    /// Decoding timestamp, if the container gave one.
    pub fn dts(&self) -> Option<i64> {
        // SAFETY: as above.
        super::ts(unsafe { (*self.ptr.as_ptr()).dts })
    }

    /// Whether the container marks the packet as a keyframe (decodable on its own).
    pub fn is_key(&self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.ptr.as_ptr()).flags & ffi::AV_PKT_FLAG_KEY != 0 }
    }

    /// A second reference to the same payload (no copy).
    pub fn try_clone(&self) -> Result<Packet, Error> {
        // SAFETY: ptr is a valid packet; av_packet_clone returns NULL or a new reference.
        NonNull::new(unsafe { ffi::av_packet_clone(self.ptr.as_ptr()) })
            .map(|ptr| Packet { ptr })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for a packet reference"))
    }

    /// Whether the demuxer marked the packet as one to decode but never show (the part
    /// of a GOP before an edit list's start).
    pub fn is_discarded(&self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.ptr.as_ptr()).flags & ffi::AV_PKT_FLAG_DISCARD != 0 }
    }

    /// Drops the payload, keeping the allocation for the next read.
    pub fn unref(&mut self) {
        // SAFETY: ptr is valid; unref leaves a blank packet.
        unsafe { ffi::av_packet_unref(self.ptr.as_ptr()) }
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        let mut ptr = self.ptr.as_ptr();
        // SAFETY: we own the packet; av_packet_free unrefs and frees it.
        unsafe { ffi::av_packet_free(&mut ptr) }
    }
}

// SAFETY: a packet is plain owned data with refcounted, thread-safe buffers.
unsafe impl Send for Packet {}
