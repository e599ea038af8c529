//! `AVFormatContext` for input: probing against an allow-list of real media containers,
//! the video stream's facts, packet reading and seeking.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use ffmpeg_sys_next as ffi;

use super::bsf::Unpacker;
use super::io::{Avio, Reader};
use super::{check, compat, interrupt, ts, Decoder, Interrupt, NalFraming, Packet, Rational};
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
#[derive(Clone, Debug, PartialEq)]
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
    /// Whether the container's headers gave all this, without `avformat_find_stream_info`
    /// (tests check that they give what the probe gives).
    #[cfg_attr(not(test), allow(dead_code))]
    pub from_headers: bool,
    /// For HEVC, how its packets delimit NAL units (to tell IRAP pictures from their
    /// headers); `None` for other codecs.
    pub nal_framing: Option<NalFraming>,
}

/// How [`Demuxer::video_stream`] may learn the stream's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// From the container's headers where they say enough, else by probing.
    HeadersFirst,
    /// Always by probing (`avformat_find_stream_info`).
    Full,
}

/// An open input. Field order is drop order: the format context is closed (in `Drop`)
/// before the AVIO it reads through, and both before the interrupt they point to.
pub(crate) struct Demuxer<'a> {
    ctx: NonNull<ffi::AVFormatContext>,
    _io: Avio<'a>,
    interrupt: Arc<Interrupt>,
    /// Packets read ahead (by `leading_untimed`) and handed out again by `read`.
    queued: VecDeque<Packet>,
    /// The H.264 reorder delay measured on the first packets where the probe was skipped
    /// (0 otherwise: the stream's parameters say it).
    reorder_delay: i32,
    /// The packed-B-frame unpacker for the video stream (by index) once it is read from;
    /// `None` inside for codecs that never pack.
    unpacker: Option<(i32, Option<Unpacker>)>,
}

/// The reorder delay of packets with these presentation times, in decode order: for each,
/// how many of the 16 before it come after it, at most (`mov_estimate_video_delay`'s
/// measure).
fn reorder_delay(pts: &[i64]) -> i32 {
    const MAX_REORDER_DELAY: usize = 16;
    (0..pts.len())
        .map(|i| pts[i.saturating_sub(MAX_REORDER_DELAY)..i].iter().filter(|&&earlier| earlier > pts[i]).count())
        .max()
        .unwrap_or(0) as i32
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
        Ok(Demuxer { ctx, _io: io, interrupt, queued: VecDeque::new(), reorder_delay: 0, unpacker: None })
    }

    fn raw(&self) -> *mut ffi::AVFormatContext {
        self.ctx.as_ptr()
    }

    fn stream(&self, index: i32) -> *mut ffi::AVStream {
        // SAFETY: index was validated against nb_streams when StreamInfo was built.
        unsafe { *(*self.raw()).streams.add(index as usize) }
    }

    /// Picks the best video stream and reads its parameters; all other streams are
    /// discarded so the demuxer does not even hand out their packets.
    ///
    /// With `Probe::HeadersFirst`, a container whose headers already say all that frame
    /// selection and decoding need (see [`Demuxer::headers_suffice`]) is not probed: no
    /// `avformat_find_stream_info`, which decodes the first frames of every stream (9 to
    /// 40 ms a call, hundreds on a 4K phone video). `Ok(None)` only when that path read
    /// packets and then found the headers short after all: open the input again and use
    /// `Probe::Full`.
    pub fn video_stream(&mut self, max_pixels: u64, probe: Probe) -> Result<Option<StreamInfo>, Error> {
        let cover_art = self.discard_all_but_video();
        if probe == Probe::HeadersFirst {
            if let Some(index) = self.sole_video_stream().filter(|&index| self.headers_suffice(index)) {
                self.discard_all_but(index);
                let mut info = self.describe(index, true)?;
                if self.needs_reorder_delay(index) {
                    self.reorder_delay = self.measure_reorder_delay(&info)?;
                }
                if info.start_time.is_none() {
                    // Matroska leaves the start to the first packets: that of the first one
                    // with a timestamp, as the full probe finds it in the packets it reads.
                    self.leading_untimed(&info)?;
                    // SAFETY: the stream is valid while the context is open.
                    let set = ts(unsafe { (*self.stream(index)).start_time });
                    info.start_time = set.or_else(|| self.queued.iter().find_map(Packet::pts));
                    if info.start_time.is_none() {
                        return Ok(None);
                    }
                }
                if let Some(end) = self.file_end_without_probe(&info) {
                    info.file_end = Some(end);
                }
                return Ok(Some(info));
            }
        }
        self.find_stream_info(max_pixels)?;
        let index = self.best_video_stream().ok_or_else(|| {
            let why = if cover_art { " (its only picture is attached cover art, which is not video)" } else { "" };
            Error::new(Status::NoVideoStream, format!("the input has no video stream{why}"))
        })?;
        self.discard_all_but(index);
        self.describe(index, false).map(Some)
    }

    /// Where the file ends, in the video's time base, when FFmpeg has not set the file's
    /// start (the probe does): the earliest start the streams' headers give (the video's
    /// when none does) plus the file's duration, or the latest stream end where the file
    /// states no duration either, as the probe computes them.
    fn file_end_without_probe(&self, info: &StreamInfo) -> Option<i64> {
        let raw = self.raw();
        let av_time_base = ffi::AVRational { num: 1, den: ffi::AV_TIME_BASE };
        // SAFETY: the context and streams[0..nb_streams] are valid; av_rescale_q is pure.
        unsafe {
            if ts((*raw).start_time).is_some() {
                return None;
            }
            let time_base = ffi::AVRational { num: info.time_base.num, den: info.time_base.den };
            let earliest = (0..(*raw).nb_streams as usize)
                .filter_map(|i| {
                    let st = *(*raw).streams.add(i);
                    ts((*st).start_time).map(|start| ffi::av_rescale_q(start, (*st).time_base, av_time_base))
                })
                .min();
            let video = info.start_time.map(|start| ffi::av_rescale_q(start, time_base, av_time_base));
            let start = earliest.or(video).unwrap_or(0);
            let end = match ts((*raw).duration) {
                Some(duration) => start.saturating_add(duration),
                // FFmpeg 7 leaves the file's duration to the probe too: the latest stream end,
                // as the probe takes it.
                None => (0..(*raw).nb_streams as usize)
                    .filter_map(|i| {
                        let st = *(*raw).streams.add(i);
                        let (start, duration) = (ts((*st).start_time)?, ts((*st).duration)?);
                        let duration = ffi::av_rescale_q(duration, (*st).time_base, av_time_base);
                        Some(ffi::av_rescale_q(start, (*st).time_base, av_time_base).saturating_add(duration))
                    })
                    .max()?,
            };
            Some(ffi::av_rescale_q(end, av_time_base, time_base))
        }
    }

    /// Discards every stream but video ones, attached pictures (cover art) included: they
    /// are never needed, and a probe must not decode them. Whether there was cover art.
    fn discard_all_but_video(&mut self) -> bool {
        let raw = self.raw();
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
        cover_art
    }

    fn discard_all_but(&mut self, index: i32) {
        let raw = self.raw();
        // SAFETY: streams are valid; index < nb_streams.
        unsafe {
            for i in 0..(*raw).nb_streams as i32 {
                if i != index {
                    (**(*raw).streams.add(i as usize)).discard = ffi::AVDiscard::AVDISCARD_ALL;
                }
            }
        }
    }

    /// `avformat_find_stream_info`, with the pixel limit given to its probing decoders.
    fn find_stream_info(&mut self, max_pixels: u64) -> Result<(), Error> {
        let raw = self.raw();
        // Without the limit, a stream claiming a huge size is decoded here, before the
        // caller's limit is checked.
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
        check(ret, Status::CannotOpen, "reading stream parameters").map(drop)
    }

    /// Whether the headers say, for video stream `index`, everything the full probe would
    /// tell frame selection and the decoder; each condition is why the probe is needed
    /// elsewhere:
    /// - MP4/MOV or Matroska/WebM: their demuxers read size, time base, frame rate,
    ///   duration, display matrix and the codec's configuration (`avcC`, `hvcC`, `av1C`)
    ///   from the headers; MP4's start time too (Matroska's comes from the first packets);
    /// - one video stream: with several, FFmpeg's choice of the best weighs frames probed;
    /// - H.264, HEVC, VP8, VP9 or AV1, with their configuration record where they have one:
    ///   codecs whose decoders take nothing else from a probe. The one thing the probe
    ///   learns by decoding is H.264's reorder delay (`has_b_frames`, which its decoder
    ///   does not take from the SPS until a slice activates it, and without the SPS's
    ///   bitstream restriction only guesses from the frames it has seen: too small, and it
    ///   drops frames that come out of order). The MP4 demuxer measures it on the
    ///   composition offsets of every sample in the index (so a fragmented MP4, whose
    ///   index starts empty, is probed); for Matroska it is measured the same way on the
    ///   presentation times of the first packets (see `measure_reorder_delay`). HEVC's
    ///   decoder orders frames by its SPS alone; VP8, VP9 and AV1 do not reorder;
    /// - a known size and average frame rate (frames without timestamps are placed by it).
    fn headers_suffice(&self, index: i32) -> bool {
        const FORMATS: &[&str] = &["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"];
        use ffi::AVCodecID::*;
        let st = self.stream(index);
        // SAFETY: the context, its format and the stream with its parameters are valid.
        let (format, par, avg_rate, time_base) =
            unsafe { (c_str((*(*self.raw()).iformat).name), &*(*st).codecpar, (*st).avg_frame_rate, (*st).time_base) };
        if !FORMATS.contains(&format.as_str()) {
            return false;
        }
        let needs_config = match par.codec_id {
            AV_CODEC_ID_H264 | AV_CODEC_ID_HEVC | AV_CODEC_ID_AV1 => true,
            AV_CODEC_ID_VP8 | AV_CODEC_ID_VP9 => false,
            _ => return false,
        };
        let config = !par.extradata.is_null() && par.extradata_size > 0;
        if (needs_config && !config)
            || par.width <= 0
            || par.height <= 0
            || !Rational::from_av(avg_rate).is_valid()
            || !Rational::from_av(time_base).is_valid()
        {
            return false;
        }
        // SAFETY: the stream is valid.
        let indexed = unsafe { (*st).nb_frames > 0 && ffi::avformat_index_get_entries_count(st) > 0 };
        par.codec_id != AV_CODEC_ID_H264 || format == FORMATS[1] || indexed
    }

    /// Whether stream `index`'s reorder delay must be measured on its first packets: H.264
    /// outside MP4 (see `headers_suffice`).
    fn needs_reorder_delay(&self, index: i32) -> bool {
        // SAFETY: the context, its format and the stream with its parameters are valid.
        let (codec, format) =
            unsafe { ((*(*self.stream(index)).codecpar).codec_id, c_str((*(*self.raw()).iformat).name)) };
        codec == ffi::AVCodecID::AV_CODEC_ID_H264 && format == "matroska,webm"
    }

    /// The reorder delay of the stream's first packets (read ahead; `read` hands them out
    /// again), measured as the MP4 demuxer measures it on composition offsets: the most
    /// packets of the 16 before it that any packet, in decode order, comes before in
    /// presentation order. It reads on to the third keyframe, or 64 packets.
    fn measure_reorder_delay(&mut self, stream: &StreamInfo) -> Result<i32, Error> {
        const PACKETS: usize = 64;
        const KEYFRAMES: usize = 3;
        let mut bytes: usize = self.queued.iter().map(Packet::size).sum();
        while self.queued.len() < PACKETS
            && bytes < MAX_LOOKAHEAD_BYTES
            && self.queued.iter().filter(|p| p.is_key()).count() < KEYFRAMES
        {
            let mut pkt = Packet::new()?;
            if !self.read_next(stream, &mut pkt)? {
                break;
            }
            bytes += pkt.size();
            self.queued.push_back(pkt);
        }
        let pts: Vec<i64> = self.queued.iter().filter_map(Packet::pts).collect();
        Ok(reorder_delay(&pts))
    }

    /// The one video stream (attached pictures aside), if there is exactly one.
    fn sole_video_stream(&self) -> Option<i32> {
        match self.video_candidates().as_slice() {
            &[index] => Some(index),
            _ => None,
        }
    }

    /// The facts of stream `index`.
    fn describe(&self, index: i32, from_headers: bool) -> Result<StreamInfo, Error> {
        let raw = self.raw();
        let st = self.stream(index);
        // SAFETY: st and its codecpar are valid while the context is open.
        let info = unsafe {
            let par = &*(*st).codecpar;
            let rate = Rational::from_av(compat::frame_rate(raw, st));
            let codec = ffi::avcodec_get_name(par.codec_id);
            let key = CString::new("rotate").unwrap();
            let tag = ffi::av_dict_get((*st).metadata, key.as_ptr(), ptr::null(), 0);
            let rotate_tag = tag.as_ref().and_then(|t| c_str(t.value).trim().parse::<i32>().ok());
            let nal_framing = (par.codec_id == ffi::AVCodecID::AV_CODEC_ID_HEVC).then(|| {
                let extradata = if par.extradata.is_null() || par.extradata_size <= 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(par.extradata, par.extradata_size as usize)
                };
                NalFraming::from_extradata(extradata)
            });
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
                from_headers,
                nal_framing,
            }
        };
        if !info.time_base.is_valid() {
            return Err(Error::new(Status::CannotOpen, "the video stream has no valid time base"));
        }
        Ok(info)
    }

    /// The video stream the ffmpeg CLI outputs (the ground truth's, SPEC §2), after the
    /// probe: the largest picture, plus a bonus for one the probe read packets of and a
    /// smaller one for the default disposition, the first on a tie (fftools'
    /// `map_auto_video`). Attached pictures (still images in an audio file or beside the
    /// video) are left out, and so are streams without a decoder where one has one; where
    /// no stream scores (no size, no packets, no default), FFmpeg's `av_find_best_stream`.
    fn best_video_stream(&self) -> Option<i32> {
        let candidates = self.video_candidates();
        // SAFETY: the candidates are valid streams of this open context.
        let decodable =
            |&i: &i32| unsafe { !ffi::avcodec_find_decoder((*(*self.stream(i)).codecpar).codec_id).is_null() };
        let choice: Vec<i32> = match candidates.iter().copied().filter(decodable).collect::<Vec<_>>() {
            some if !some.is_empty() => some,
            _ => candidates.clone(),
        };
        // SAFETY: as above.
        let score = |i: i32| unsafe {
            let st = self.stream(i);
            let par = (*st).codecpar;
            i64::from((*par).width.max(0)) * i64::from((*par).height.max(0))
                + 100_000_000 * i64::from((*st).event_flags & ffi::AVSTREAM_EVENT_FLAG_NEW_PACKETS != 0)
                + 5_000_000 * i64::from((*st).disposition & ffi::AV_DISPOSITION_DEFAULT != 0)
        };
        let mut best: Option<(i32, i64)> = None;
        for i in choice {
            let s = score(i);
            if s > best.map_or(0, |(_, b)| b) {
                best = Some((i, s));
            }
        }
        if let Some((index, _)) = best {
            return Some(index);
        }
        // SAFETY: the context is open; no decoder is requested.
        let found = unsafe {
            ffi::av_find_best_stream(self.raw(), ffi::AVMediaType::AVMEDIA_TYPE_VIDEO, -1, -1, ptr::null_mut(), 0)
        };
        if candidates.contains(&found) {
            Some(found)
        } else {
            candidates.first().copied()
        }
    }

    /// The video streams that are not attached pictures.
    fn video_candidates(&self) -> Vec<i32> {
        let raw = self.raw();
        // SAFETY: streams[0..nb_streams] are valid streams of this open context.
        unsafe {
            (0..(*raw).nb_streams as i32)
                .filter(|&i| {
                    let st = *(*raw).streams.add(i as usize);
                    (*(*st).codecpar).codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
                        && (*st).disposition & ffi::AV_DISPOSITION_ATTACHED_PIC == 0
                })
                .collect()
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

    /// A decoder for `stream`, with `threads` threads (0: as many as FFmpeg likes), told
    /// the reorder delay measured in place of a probe, if any.
    pub fn decoder(&self, stream: &StreamInfo, threads: u32, max_pixels: u64) -> Result<Decoder, Error> {
        Decoder::open(self.stream(stream.index), threads, max_pixels, self.reorder_delay)
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
    /// the input ends first. The packets read are handed out again by `read`; called again,
    /// it counts them without reading more.
    pub fn leading_untimed(&mut self, stream: &StreamInfo) -> Result<Option<u64>, Error> {
        let mut bytes: usize = self.queued.iter().map(Packet::size).sum();
        loop {
            if let Some(timed) = self.queued.iter().position(|p| p.pts().is_some()) {
                return Ok(Some(timed as u64));
            }
            if self.queued.len() as u64 >= MAX_LOOKAHEAD_PACKETS || bytes >= MAX_LOOKAHEAD_BYTES {
                return Ok(None);
            }
            let mut pkt = Packet::new()?;
            if !self.read_next(stream, &mut pkt)? {
                return Ok(None);
            }
            bytes += pkt.size();
            self.queued.push_back(pkt);
        }
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
            if pkt.stream_index() != stream.index {
                continue;
            }
            let kept = match self.unpacker(stream)? {
                Some(unpacker) => !unpacker.filter(pkt)?,
                None => false,
            };
            if !kept {
                return Ok(true);
            }
        }
    }

    /// Whether the packets read so far show packed B-frames (see [`Unpacker`]).
    pub fn packed_b_frames(&self) -> bool {
        matches!(&self.unpacker, Some((_, Some(unpacker))) if unpacker.unpacked())
    }

    /// The unpacker of `stream`'s packed B-frames, made on first use: without it a packed
    /// B-frame is decoded from the packet timed before it and `skip_frame` before a target
    /// could skip the answer itself, where ffmpeg's output seeking decodes it.
    fn unpacker(&mut self, stream: &StreamInfo) -> Result<Option<&mut Unpacker>, Error> {
        if !matches!(&self.unpacker, Some((index, _)) if *index == stream.index) {
            self.unpacker = Some((stream.index, Unpacker::open(self.stream(stream.index))?));
        }
        Ok(self.unpacker.as_mut().and_then(|(_, unpacker)| unpacker.as_mut()))
    }

    /// Seeks so that the next packets start at or before `timestamp` (in the stream's
    /// time base) at a keyframe, as far as the container's index allows.
    pub fn seek(&mut self, stream: &StreamInfo, timestamp: i64) -> Result<(), Error> {
        self.queued.clear();
        if let Some((_, Some(unpacker))) = &mut self.unpacker {
            unpacker.flush();
        }
        // SAFETY: context is open; the index is a valid stream.
        let ret = unsafe { ffi::av_seek_frame(self.raw(), stream.index, timestamp, ffi::AVSEEK_FLAG_BACKWARD) };
        if let Some(e) = self.interrupt.error() {
            return Err(e);
        }
        check(ret, Status::DecodeError, "seeking").map(drop)
    }
}

// SAFETY: the format context, its AVIO and the reader behind it are used by one thread at a
// time (we hold them by &mut); FFmpeg keeps no thread affinity for them. The interrupt
// they point to is shared through an Arc and is Sync.
unsafe impl Send for Demuxer<'_> {}

impl Drop for Demuxer<'_> {
    fn drop(&mut self) {
        let mut raw = self.ctx.as_ptr();
        // SAFETY: we own the context; with AVFMT_FLAG_CUSTOM_IO closing it leaves our pb
        // alone, which `io` frees right after.
        unsafe { ffi::avformat_close_input(&mut raw) };
    }
}

#[cfg(test)]
mod tests {
    use super::reorder_delay;

    #[test]
    fn reorder_delay_is_the_deepest_wait() {
        assert_eq!(reorder_delay(&[]), 0);
        assert_eq!(reorder_delay(&[0, 1, 2, 3, 4]), 0);
        // I P B B: each B comes before the P decoded ahead of it.
        assert_eq!(reorder_delay(&[0, 3, 1, 2, 6, 4, 5]), 1);
        // A B-pyramid: b1 waits behind P4 and B2.
        assert_eq!(reorder_delay(&[0, 4, 2, 1, 3, 8, 6, 5, 7]), 2);
        // Only the 16 packets before one count, as in the MP4 demuxer.
        let backwards: Vec<i64> = (0..40).rev().collect();
        assert_eq!(reorder_delay(&backwards), 16);
    }
}
