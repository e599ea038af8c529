//! `AVFormatContext` for input: probing against an allow-list of real media containers,
//! the video stream's facts, packet reading and seeking.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use ffmpeg_sys_next as ffi;

use super::io::{Avio, Reader};
use super::{check, compat, interrupt, ts, Decoder, Interrupt, Packet, Rational};
use crate::error::{Error, Status};

/// Demuxers vframe opens: real media containers and elementary streams. Everything else is
/// refused, above all playlists and indirection formats (hls, concat, dash, image2, ...),
/// which would make FFmpeg open other files or URLs (SPEC §5).
const ALLOWED_FORMATS: &[&str] = &[
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "mpegts",
    "mpeg",
    "mpegvideo",
    "flv",
    "asf",
    "ogg",
    "mxf",
    "nut",
    "dv",
    "rm",
    "wtv",
    "ivf",
    "obu",
    "h261",
    "h263",
    "h264",
    "hevc",
    "vvc",
    "av1",
    "m4v",
    "vc1",
    "cavsvideo",
    "mjpeg",
    "gif",
    "yuv4mpegpipe",
];

/// Audio-only containers. They can hold no video, only cover art (an attached picture),
/// which is not video either (SPEC §5): such a file is refused as having no video stream
/// straight from the probe, without opening these demuxers at all.
const AUDIO_FORMATS: &[&str] = &[
    "mp3", "flac", "wav", "w64", "aiff", "aac", "ac3", "eac3", "dts", "truehd", "mlp", "amr", "amrnb", "amrwb", "ape",
    "wv", "tta", "caf", "au", "mpc", "mpc8", "tak", "dsf", "shn", "s337m", "spdif", "loas", "latm",
];

/// Whether a demuxer reads still images (FFmpeg's `image2` and its `*_pipe` variants).
fn is_image_format(name: &str) -> bool {
    name == "image2" || name == "image2pipe" || name.ends_with("_pipe")
}

/// The facts about the chosen video stream that frame selection and geometry need.
#[derive(Clone, Debug)]
pub(crate) struct StreamInfo {
    pub index: i32,
    pub time_base: Rational,
    /// The stream's first presentation timestamp, in `time_base`.
    pub start_time: Option<i64>,
    /// Duration in `time_base`, when the container knows it.
    pub duration: Option<i64>,
    /// Where the container says the file ends (its start plus its duration), in
    /// `time_base`: how long the video runs where the stream states no duration (Matroska).
    pub file_end: Option<i64>,
    /// Average frame rate, or the container's base rate when the average is unknown.
    pub frame_rate: Rational,
    pub display_matrix: Option<[i32; 9]>,
    /// The legacy `rotate` metadata tag, in clockwise degrees.
    pub rotate_tag: Option<i32>,
    pub width: u32,
    pub height: u32,
    pub codec_name: String,
    pub format_name: String,
}

/// An open input. Field order is drop order: the format context is closed (in `Drop`)
/// before the AVIO it reads through, and both before the interrupt they point to.
pub(crate) struct Demuxer<'a> {
    ctx: NonNull<ffi::AVFormatContext>,
    _io: Avio<'a>,
    interrupt: Arc<Interrupt>,
    /// Packets read ahead (by `leading_untimed`) and handed out again by `read`.
    queued: VecDeque<Packet>,
}

/// The most packets, and bytes, `leading_untimed` reads ahead looking for a timestamp.
const MAX_LOOKAHEAD_PACKETS: u64 = 1024;
const MAX_LOOKAHEAD_BYTES: usize = 32 << 20;

/// `AVFormatContext.io_open`: refuses every nested open, so no demuxer can reach another
/// file or URL whatever the input says.
unsafe extern "C" fn refuse_io_open(
    _s: *mut ffi::AVFormatContext,
    _pb: *mut *mut ffi::AVIOContext,
    _url: *const c_char,
    _flags: c_int,
    _options: *mut *mut ffi::AVDictionary,
) -> c_int {
    ffi::AVERROR(libc::EPERM)
}

/// The refusal of input format `name` (SPEC §5).
fn unsupported(name: &str) -> Error {
    Error::new(
        Status::UnsupportedInput,
        format!(
            "input format '{name}' is not supported (playlists such as HLS/m3u8, concat, DASH, image sequences and non-video formats are refused)"
        ),
    )
}

fn c_str(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: FFmpeg hands out NUL-terminated static or context-owned strings.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

impl<'a> Demuxer<'a> {
    /// Opens `source`, refusing any container that is not on the allow-list.
    pub fn open(mut source: Reader<'a>, interrupt: Arc<Interrupt>) -> Result<Demuxer<'a>, Error> {
        super::init();
        // M3U playlists are recognised here, not by FFmpeg's probe, which misses them after a
        // byte order mark, without HLS tags and (FFmpeg 7.1 on) without an .m3u8 file name,
        // which custom I/O never has: they would then fail as "not a recognised media file".
        let head = source.head(16).unwrap_or_default();
        if head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head).starts_with(b"#EXTM3U") {
            return Err(unsupported("hls"));
        }
        let io = Avio::new(source)?;
        let mut format: *const ffi::AVInputFormat = ptr::null();
        // SAFETY: io is a valid read context; probing only reads (and rewinds) it.
        let ret = unsafe { ffi::av_probe_input_buffer2(io.as_ptr(), &mut format, ptr::null(), ptr::null_mut(), 0, 0) };
        if let Some(e) = interrupt.error() {
            return Err(e);
        }
        if ret < 0 || format.is_null() {
            let why = if ret == ffi::AVERROR_EOF { "the input is empty".to_string() } else { super::error_text(ret) };
            return Err(Error::new(Status::CannotOpen, format!("not a recognised media file ({why})")));
        }
        // SAFETY: format points to a static AVInputFormat.
        let name = c_str(unsafe { (*format).name });
        if AUDIO_FORMATS.contains(&name.as_str()) {
            return Err(Error::new(
                Status::NoVideoStream,
                format!("the input is {name} audio, which holds no video (cover art, if any, is not video)"),
            ));
        }
        if is_image_format(&name) {
            let kind = name.strip_suffix("_pipe").unwrap_or(&name);
            return Err(Error::new(
                Status::UnsupportedInput,
                format!("the input is a still image ({kind}), not a video (images and image sequences are refused)"),
            ));
        }
        if !ALLOWED_FORMATS.contains(&name.as_str()) {
            return Err(unsupported(&name));
        }

        // SAFETY: returns NULL or a fresh context.
        let ctx = NonNull::new(unsafe { ffi::avformat_alloc_context() })
            .ok_or_else(|| Error::new(Status::Internal, "out of memory for the format context"))?;
        let mut raw = ctx.as_ptr();
        // SAFETY: ctx is fresh and ours; pb, io_open and the interrupt callback point to
        // objects the Demuxer keeps alive longer than the context.
        unsafe {
            (*raw).pb = io.as_ptr();
            (*raw).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
            (*raw).io_open = Some(refuse_io_open);
            (*raw).interrupt_callback = ffi::AVIOInterruptCB {
                callback: Some(interrupt::callback),
                opaque: Arc::as_ptr(&interrupt) as *mut c_void,
            };
        }
        let mut options: *mut ffi::AVDictionary = ptr::null_mut();
        let set = |opts: &mut *mut ffi::AVDictionary, k: &str, v: &str| {
            let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
            // SAFETY: av_dict_set copies both strings.
            unsafe { ffi::av_dict_set(opts, k.as_ptr(), v.as_ptr(), 0) };
        };
        // Belt and braces over io_open: no protocol may be opened by name.
        set(&mut options, "protocol_whitelist", "none");
        set(&mut options, "format_whitelist", &ALLOWED_FORMATS.join(","));
        // SAFETY: raw is an allocated context with custom IO; on failure FFmpeg frees it
        // and sets raw to NULL (but never frees our custom pb).
        let ret = unsafe { ffi::avformat_open_input(&mut raw, ptr::null(), format, &mut options) };
        // SAFETY: frees whatever options FFmpeg did not consume.
        unsafe { ffi::av_dict_free(&mut options) };
        if ret < 0 {
            return Err(interrupt.error().unwrap_or_else(|| {
                Error::new(Status::CannotOpen, format!("cannot open input as {name}: {}", super::error_text(ret)))
            }));
        }
        let ctx = NonNull::new(raw).expect("avformat_open_input succeeded");
        Ok(Demuxer { ctx, _io: io, interrupt, queued: VecDeque::new() })
    }

    fn raw(&self) -> *mut ffi::AVFormatContext {
        self.ctx.as_ptr()
    }

    fn stream(&self, index: i32) -> *mut ffi::AVStream {
        // SAFETY: index was validated against nb_streams when StreamInfo was built.
        unsafe { *(*self.raw()).streams.add(index as usize) }
    }

    /// Reads stream parameters and picks the best video stream; all others are discarded
    /// so the demuxer does not even hand out their packets.
    pub fn video_stream(&mut self, max_pixels: u64) -> Result<StreamInfo, Error> {
        let raw = self.raw();
        // Audio and data streams and attached pictures (cover art) are never needed:
        // discard them before probing so that avformat_find_stream_info does not decode them.
        let mut cover_art = false;
        // SAFETY: streams[0..nb_streams] are valid streams of this context.
        unsafe {
            for i in 0..(*raw).nb_streams as usize {
                let st = *(*raw).streams.add(i);
                let attached = (*st).disposition & ffi::AV_DISPOSITION_ATTACHED_PIC != 0;
                cover_art |= attached;
                if (*(*st).codecpar).codec_type != ffi::AVMediaType::AVMEDIA_TYPE_VIDEO || attached {
                    (*st).discard = ffi::AVDiscard::AVDISCARD_ALL;
                }
            }
        }
        // The probing decoders get the pixel limit too: without it, a stream claiming a huge
        // size is decoded here, before the caller's limit is checked.
        // SAFETY: raw is an open context.
        let streams = unsafe { (*raw).nb_streams } as usize;
        let mut per_stream: Vec<*mut ffi::AVDictionary> = vec![ptr::null_mut(); streams];
        let limit = CString::new(max_pixels.min(i64::MAX as u64).to_string()).unwrap();
        for dict in &mut per_stream {
            // SAFETY: av_dict_set copies both strings into a dictionary it allocates.
            unsafe { ffi::av_dict_set(dict, c"max_pixels".as_ptr(), limit.as_ptr(), 0) };
        }
        // SAFETY: raw is an open context; per_stream holds one dictionary per stream it had
        // on entry, which is all FFmpeg reads.
        let ret = unsafe { ffi::avformat_find_stream_info(raw, per_stream.as_mut_ptr()) };
        for dict in &mut per_stream {
            // SAFETY: frees what FFmpeg left of each dictionary.
            unsafe { ffi::av_dict_free(dict) };
        }
        if let Some(e) = self.interrupt.error() {
            return Err(e);
        }
        check(ret, Status::CannotOpen, "reading stream parameters")?;
        let index = self.best_video_stream().ok_or_else(|| {
            let why = if cover_art { " (its only picture is attached cover art, which is not video)" } else { "" };
            Error::new(Status::NoVideoStream, format!("the input has no video stream{why}"))
        })?;
        // SAFETY: streams are valid; index < nb_streams per av_find_best_stream.
        unsafe {
            for i in 0..(*raw).nb_streams as i32 {
                if i != index {
                    (**(*raw).streams.add(i as usize)).discard = ffi::AVDiscard::AVDISCARD_ALL;
                }
            }
        }
        let st = self.stream(index);
        // SAFETY: st and its codecpar are valid while the context is open.
        let info = unsafe {
            let par = &*(*st).codecpar;
            let avg = Rational::from_av((*st).avg_frame_rate);
            let rate = if avg.is_valid() { avg } else { Rational::from_av((*st).r_frame_rate) };
            let codec = ffi::avcodec_get_name(par.codec_id);
            let key = CString::new("rotate").unwrap();
            let tag = ffi::av_dict_get((*st).metadata, key.as_ptr(), ptr::null(), 0);
            let rotate_tag = tag.as_ref().and_then(|t| c_str(t.value).trim().parse::<i32>().ok());
            StreamInfo {
                index,
                time_base: Rational::from_av((*st).time_base),
                start_time: ts((*st).start_time),
                duration: ts((*st).duration),
                file_end: ts((*raw).duration).map(|duration| {
                    let end = ts((*raw).start_time).unwrap_or(0).saturating_add(duration);
                    ffi::av_rescale_q(end, ffi::AVRational { num: 1, den: ffi::AV_TIME_BASE }, (*st).time_base)
                }),
                frame_rate: rate,
                display_matrix: compat::stream_display_matrix(st),
                rotate_tag,
                width: par.width.max(0) as u32,
                height: par.height.max(0) as u32,
                codec_name: c_str(codec),
                format_name: c_str((*(*raw).iformat).name),
            }
        };
        if !info.time_base.is_valid() {
            return Err(Error::new(Status::CannotOpen, "the video stream has no valid time base"));
        }
        Ok(info)
    }

    /// FFmpeg's best video stream, attached pictures left out (they are still images in an
    /// audio file or beside the video, not video).
    fn best_video_stream(&self) -> Option<i32> {
        let raw = self.raw();
        // SAFETY: streams[0..nb_streams] are valid streams of this open context.
        let candidates: Vec<i32> = unsafe {
            (0..(*raw).nb_streams as i32)
                .filter(|&i| {
                    let st = *(*raw).streams.add(i as usize);
                    (*(*st).codecpar).codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
                        && (*st).disposition & ffi::AV_DISPOSITION_ATTACHED_PIC == 0
                })
                .collect()
        };
        // SAFETY: raw is an open context; no decoder is requested.
        let best =
            unsafe { ffi::av_find_best_stream(raw, ffi::AVMediaType::AVMEDIA_TYPE_VIDEO, -1, -1, ptr::null_mut(), 0) };
        if candidates.contains(&best) {
            Some(best)
        } else {
            candidates.first().copied()
        }
    }

    /// The sample aspect ratio FFmpeg settles on for `frame` of `stream` (container first,
    /// then codec), as `av_guess_sample_aspect_ratio` decides it.
    pub fn sample_aspect_ratio(&self, stream: &StreamInfo, frame: &super::Frame) -> Rational {
        // SAFETY: context, stream and frame are valid.
        Rational::from_av(unsafe {
            ffi::av_guess_sample_aspect_ratio(self.raw(), self.stream(stream.index), frame.as_ptr())
        })
    }

    /// The timestamp of the last keyframe at or before `timestamp` in the container's index,
    /// if it has one: where a seek to `timestamp` would land.
    pub fn keyframe_before(&self, stream: &StreamInfo, timestamp: i64) -> Option<i64> {
        // SAFETY: the stream is valid; the entry pointer is read at once, before any other
        // call on the context could invalidate it.
        unsafe {
            let entry = ffi::avformat_index_get_entry_from_timestamp(
                self.stream(stream.index),
                timestamp,
                ffi::AVSEEK_FLAG_BACKWARD,
            );
            entry.as_ref().map(|e| e.timestamp)
        }
    }

    /// A decoder for `stream`, with `threads` threads (0: as many as FFmpeg likes).
    pub fn decoder(&self, stream: &StreamInfo, threads: u32, max_pixels: u64) -> Result<Decoder, Error> {
        Decoder::open(self.stream(stream.index), threads, max_pixels)
    }

    /// Reads the next packet of `stream` into `pkt`. `Ok(false)` at the end of the input;
    /// read errors in the middle of a file (damage, truncation) also end it, as in ffmpeg.
    pub fn read(&mut self, stream: &StreamInfo, pkt: &mut Packet) -> Result<bool, Error> {
        if let Some(mut queued) = self.queued.pop_front() {
            std::mem::swap(pkt, &mut queued);
            return Ok(true);
        }
        self.read_next(stream, pkt)
    }

    /// How many of the stream's first packets have no presentation timestamp (frames cut
    /// in front of a keyframe with `-avoid_negative_ts disabled`, for one): `Some(0)` when
    /// the first has one, `None` when none of the first 1024 packets (or 32 MiB) has one or
    /// the input ends first. The packets read are handed out again by `read`.
    pub fn leading_untimed(&mut self, stream: &StreamInfo) -> Result<Option<u64>, Error> {
        let (mut untimed, mut bytes) = (0u64, 0usize);
        while untimed < MAX_LOOKAHEAD_PACKETS && bytes < MAX_LOOKAHEAD_BYTES {
            let mut pkt = Packet::new()?;
            if !self.read_next(stream, &mut pkt)? {
                return Ok(None);
            }
            let timed = pkt.pts().is_some();
            bytes += pkt.size();
            self.queued.push_back(pkt);
            if timed {
                return Ok(Some(untimed));
            }
            untimed += 1;
        }
        Ok(None)
    }

    /// `read` straight from the container.
    fn read_next(&mut self, stream: &StreamInfo, pkt: &mut Packet) -> Result<bool, Error> {
        loop {
            pkt.unref();
            // SAFETY: context and packet are valid; the packet is blank.
            let ret = unsafe { ffi::av_read_frame(self.raw(), pkt.as_ptr()) };
            if let Some(e) = self.interrupt.error() {
                return Err(e);
            }
            if ret == ffi::AVERROR(libc::EAGAIN) {
                continue;
            }
            if ret < 0 {
                return Ok(false);
            }
            if pkt.stream_index() == stream.index {
                return Ok(true);
            }
        }
    }

    /// Seeks so that the next packets start at or before `timestamp` (in the stream's
    /// time base) at a keyframe, as far as the container's index allows.
    pub fn seek(&mut self, stream: &StreamInfo, timestamp: i64) -> Result<(), Error> {
        self.queued.clear();
        // SAFETY: context is open; the index is a valid stream.
        let ret = unsafe { ffi::av_seek_frame(self.raw(), stream.index, timestamp, ffi::AVSEEK_FLAG_BACKWARD) };
        if let Some(e) = self.interrupt.error() {
            return Err(e);
        }
        check(ret, Status::DecodeError, "seeking").map(drop)
    }
}

impl Drop for Demuxer<'_> {
    fn drop(&mut self) {
        let mut raw = self.ctx.as_ptr();
        // SAFETY: we own the context; with AVFMT_FLAG_CUSTOM_IO closing it leaves our pb
        // alone, which `io` frees right after.
        unsafe { ffi::avformat_close_input(&mut raw) };
    }
}
