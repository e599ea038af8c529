//! An opened, probed input: the demuxer, the facts of its video stream and the stream's
//! decoder, which several extractions reuse (the frame selector in `select` drives them).
//!
//! Owns opening (path or memory, through `av`'s own I/O), the checks made once per input
//! (the pixel limit on the declared size, frames without timestamps at the stream's head)
//! and the choice of decoder threads. Safe Rust over the `av` wrappers; knows nothing of
//! which frame is wanted beyond a first target's distance from its keyframe.

use std::path::PathBuf;
use std::sync::Arc;

use crate::av::{Bytes, Decoder, Demuxer, Frame, Interrupt, OpenFile, Packet, Probe, Rational, Reader, StreamInfo};
use crate::error::{Error, Status};
use crate::{Input, Options};

/// Where a source's bytes come from, kept to open the input again.
#[derive(Clone, Debug)]
pub(crate) enum Origin<'a> {
    Path(PathBuf),
    Memory(Bytes<'a>),
    /// A file as the source first opened it: read again through that open file, never
    /// through its path, which may name another file by now (renamed over, deleted, or
    /// relative to a working folder that changed).
    Opened(OpenFile),
}

impl<'a> From<Input<'a>> for Origin<'a> {
    fn from(input: Input<'a>) -> Origin<'a> {
        match input {
            Input::Path(path) => Origin::Path(path.to_path_buf()),
            Input::Memory(bytes) => Origin::Memory(Bytes::Borrowed(bytes)),
        }
    }
}

/// Frames beyond the untimed packets at a stream's head that their placement may still
/// reach (decoder reordering), for [`Source::untimed_span`].
const UNTIMED_MARGIN_FRAMES: i64 = 16;

/// A target this many frames or fewer after its keyframe is decoded on one thread when the
/// caller leaves threads to vframe (see [`Source::prepare_decoder`]).
const FEW_FRAMES: i64 = 6;

/// The most pixels (640x360) of an H.264, HEVC or AV1 picture decoded on one thread when
/// the caller leaves threads to vframe (see [`light_to_decode`]).
const SMALL_PICTURE: u64 = 640 * 360;

/// Whether frame threads cost this stream more than they save, however far the target
/// lies from its keyframe: their hand-offs outweigh the work where a frame decodes in a
/// fraction of a millisecond. Measured on 2 cores (25 and 92 frames from a keyframe, wall
/// time with FFmpeg's threads over one thread): MPEG-4 Part 2 1.47-1.76x at 360p to
/// 720p and 1.11-1.16x at 1080p; at 640x360 H.264 1.05-1.35x, HEVC 1.24x, AV1
/// 1.12-1.24x, while from 854x480 up threads break even or win, and VP9 and MPEG-2 gain
/// from threads or break even at every size. For MPEG-4 Part 2 one thread is also the one
/// answer that does not depend on the machine: FFmpeg 5.1's decoder gives B-frames of
/// interlaced quarter-pel streams other pixels with frame threads, and other again with
/// two threads than with three (the same frame, up to 129 levels apart).
fn light_to_decode(stream: &StreamInfo) -> bool {
    match stream.codec_name.as_str() {
        "mpeg4" => true,
        "h264" | "hevc" | "av1" => u64::from(stream.width) * u64::from(stream.height) <= SMALL_PICTURE,
        _ => false,
    }
}

/// An open input and its video stream, ready to seek, read and decode.
pub(crate) struct Source<'a> {
    origin: Origin<'a>,
    options: Options,
    interrupt: Arc<Interrupt>,
    /// Field order is drop order: the decoder goes before the demuxer whose stream it
    /// was opened from.
    decoder: Option<Decoder>,
    /// Whether the decoder has one thread because vframe chose so for a target near its
    /// keyframe (a later, deeper target gets FFmpeg's threads).
    decoder_single_by_choice: bool,
    demuxer: Demuxer<'a>,
    stream: StreamInfo,
    /// False for pipes: no seeking, and no second pass from the start.
    seekable: bool,
    /// How far into the stream (ticks from its start) frames without timestamps at its
    /// head may reach; targets up to there are found by decoding from the start, never by
    /// seeking, which would skip them. `None`: the stream's timeline cannot be trusted at
    /// all (no timestamps in the first packets), so never seek.
    untimed_span: Option<i64>,
}

impl<'a> Source<'a> {
    /// Opens `input` and probes its video stream, under `options`' limits (its time limit
    /// starts now and covers everything done through this source).
    pub fn open(origin: Origin<'a>, options: &Options) -> Result<Source<'a>, Error> {
        let interrupt = Arc::new(Interrupt::new(options.timeout, options.cancel.clone()));
        Source::open_with(origin, options.clone(), interrupt)
    }

    fn open_with(origin: Origin<'a>, options: Options, interrupt: Arc<Interrupt>) -> Result<Source<'a>, Error> {
        let reader = Source::reader(&origin, &interrupt)?;
        let seekable = reader.is_seekable();
        let origin = match (origin, &reader) {
            (Origin::Path(_), Reader::File(file, None)) => Origin::Opened(file.again()),
            (origin, _) => origin,
        };
        let mut demuxer = Demuxer::open(reader, Arc::clone(&interrupt))?;
        let stream = match demuxer.video_stream(options.max_input_pixels, Probe::HeadersFirst)? {
            Some(stream) => stream,
            // The headers fell short after packets were read: probe a fresh demuxer.
            None => {
                drop(demuxer);
                demuxer = Demuxer::open(Source::reader(&origin, &interrupt)?, Arc::clone(&interrupt))?;
                demuxer
                    .video_stream(options.max_input_pixels, Probe::Full)?
                    .ok_or_else(|| Error::new(Status::Internal, "the full probe asked for another"))?
            }
        };
        let pixels = u64::from(stream.width) * u64::from(stream.height);
        if pixels > options.max_input_pixels {
            return Err(Error::new(
                Status::LimitExceeded,
                format!(
                    "input is {}x{}, over the limit of {} pixels",
                    stream.width, stream.height, options.max_input_pixels
                ),
            ));
        }
        // Without a probe nothing may have polled the time limit yet: an open is a call too.
        interrupt.poll()?;
        // Only a stream with a start time is ever seeked; find whether its head has frames
        // without timestamps (read ahead, then decoded normally).
        let untimed_span = match stream.start_time {
            Some(_) => demuxer.leading_untimed(&stream)?.map(|untimed| match untimed {
                0 => 0,
                n => (n as i64).saturating_add(UNTIMED_MARGIN_FRAMES).saturating_mul(frame_step(&stream)),
            }),
            None => None,
        };
        Ok(Source {
            origin,
            options,
            interrupt,
            decoder: None,
            decoder_single_by_choice: false,
            demuxer,
            stream,
            seekable,
            untimed_span,
        })
    }

    fn reader(origin: &Origin<'a>, interrupt: &Arc<Interrupt>) -> Result<Reader<'a>, Error> {
        Ok(match origin {
            Origin::Path(path) => Reader::open_path(path, interrupt)?,
            Origin::Memory(bytes) => Reader::Memory(std::io::Cursor::new(bytes.clone())),
            Origin::Opened(file) => Reader::File(file.again(), None),
        })
    }

    /// Opens the input again, from its start, with a new decoder: where seeking cannot be
    /// trusted, a fresh demuxer is (the time limit runs on). A pipe cannot be read again.
    pub fn reopen(&mut self) -> Result<(), Error> {
        *self = self.fresh(
            Arc::clone(&self.interrupt),
            "the input is a pipe, which is read once: this frame could only be found by reading it again from \
             the start (an offset before one already answered, or, in a stream without timestamps, any offset \
             after the first)",
        )?;
        Ok(())
    }

    /// The same input opened anew from its start (fresh demuxer and decoder) under
    /// `interrupt`; for a pipe, which cannot be read again, the error `pipe` says why.
    fn fresh(&self, interrupt: Arc<Interrupt>, pipe: &str) -> Result<Source<'a>, Error> {
        if !self.seekable {
            return Err(Error::new(Status::InvalidArgument, pipe));
        }
        Source::open_with(self.origin.clone(), self.options.clone(), interrupt)
    }

    /// Starts the time limit again: a new call on this source begins.
    pub fn restart_clock(&self) {
        self.interrupt.restart();
    }

    pub fn stream(&self) -> &StreamInfo {
        &self.stream
    }

    /// The same input opened anew, with nothing of this source's state: for a process
    /// made by `fork()`, where this source's decoder threads do not exist.
    pub fn open_again(&self) -> Result<Source<'a>, Error> {
        // A pipe's bytes go to the process that reads them: the child would read on from
        // wherever the pipe is now, and take them from the parent.
        self.fresh(
            Arc::new(Interrupt::new(self.options.timeout, self.options.cancel.clone())),
            "the input is a pipe, which the process that opened it reads: a process made by fork() cannot read \
             it too (open the video in this process)",
        )
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn seekable(&self) -> bool {
        self.seekable
    }

    /// See the field of the same name.
    pub fn untimed_span(&self) -> Option<i64> {
        self.untimed_span
    }

    /// The call's time limit or cancellation, as an error, once either has fired.
    pub fn poll(&self) -> Result<(), Error> {
        self.interrupt.poll()
    }

    /// Opens the decoder for a search from a seek or the start towards `offset_ms`, unless
    /// a suitable one is open. With threads left to vframe it gets one thread for a stream
    /// [`light_to_decode`], and when the index shows the target a few frames from its
    /// keyframe and `single_allowed` (starting
    /// FFmpeg's threads and filling their pipeline costs more than decoding a handful of
    /// frames: frame threads hold back the first frame until each has a packet), else as
    /// many as FFmpeg likes. The decoder is replaced when the next search wants the other
    /// kind: after a seek it holds nothing worth keeping.
    pub fn prepare_decoder(&mut self, offset_ms: u64, single_allowed: bool) -> Result<(), Error> {
        let single = self.options.threads == 0
            && ((single_allowed && self.near_keyframe(offset_ms)) || light_to_decode(&self.stream));
        if self.decoder.is_some() && single == self.decoder_single_by_choice {
            return Ok(());
        }
        let threads = if single { 1 } else { self.options.threads };
        self.decoder = None;
        self.decoder = Some(self.demuxer.decoder(&self.stream, threads, self.options.max_input_pixels)?);
        self.decoder_single_by_choice = single;
        Ok(())
    }

    /// Opens the decoder with `threads` threads (0: as many as FFmpeg likes) unless it is
    /// open.
    pub fn open_decoder(&mut self, threads: u32) -> Result<(), Error> {
        if self.decoder.is_none() {
            self.decoder = Some(self.demuxer.decoder(&self.stream, threads, self.options.max_input_pixels)?);
            self.decoder_single_by_choice = false;
        }
        Ok(())
    }

    /// Whether, after the frame for `from_ms`, the index has a keyframe at or before
    /// `to_ms`: a search for `to_ms` then seeks rather than decoding on. True when the index
    /// cannot tell.
    pub fn seeks_between(&self, from_ms: u64, to_ms: u64) -> bool {
        let Some(start) = self.stream.start_time else { return true };
        let from = crate::select::Timeline::new(&self.stream, from_ms).target(start);
        let to = crate::select::Timeline::new(&self.stream, to_ms).target(start);
        self.demuxer.keyframe_before(&self.stream, to).map_or(true, |keyframe| keyframe > from)
    }

    /// Whether the index puts `offset_ms` within a few frames of the keyframe before it.
    pub fn near_keyframe(&self, offset_ms: u64) -> bool {
        let Some(start) = self.stream.start_time else { return false };
        let target = crate::select::Timeline::new(&self.stream, offset_ms).target(start);
        self.demuxer.keyframe_before(&self.stream, target).is_some_and(|keyframe| {
            target.saturating_sub(keyframe) <= FEW_FRAMES.saturating_mul(frame_step(&self.stream))
        })
    }

    /// The decoder, once [`Source::prepare_decoder`] has opened it.
    pub fn decoder(&mut self) -> Result<&mut Decoder, Error> {
        self.decoder.as_mut().ok_or_else(|| Error::new(Status::Internal, "the decoder was used before it was opened"))
    }

    /// Reads the stream's next packet; `Ok(false)` at the end of the input.
    pub fn read(&mut self, packet: &mut Packet) -> Result<bool, Error> {
        self.demuxer.read(&self.stream, packet)
    }

    /// Whether the stream has shown packed B-frames (DivX/Xvid): their containers' packet
    /// times are no guide to which frames come before a target.
    pub fn packed_b_frames(&self) -> bool {
        self.demuxer.packed_b_frames()
    }

    /// Seeks to the keyframe at or before `timestamp` (as far as the index allows) and
    /// empties the decoder.
    pub fn seek(&mut self, timestamp: i64) -> Result<(), Error> {
        self.demuxer.seek(&self.stream, timestamp)?;
        if let Some(decoder) = &mut self.decoder {
            decoder.flush();
        }
        Ok(())
    }

    /// The timestamp of the last keyframe at or before `timestamp` in the container's
    /// index, if it has one: where a seek to `timestamp` would land.
    pub fn keyframe_before(&self, timestamp: i64) -> Option<i64> {
        self.demuxer.keyframe_before(&self.stream, timestamp)
    }

    /// The sample aspect ratio of `frame` (container first, then codec).
    pub fn sample_aspect_ratio(&self, frame: &Frame) -> Rational {
        self.demuxer.sample_aspect_ratio(&self.stream, frame)
    }
}

/// The duration of one frame in time-base units, for frames without timestamps.
pub(crate) fn frame_step(stream: &StreamInfo) -> i64 {
    let (rate, tb) = (stream.frame_rate, stream.time_base);
    if rate.is_valid() {
        let step = (i128::from(rate.den) * i128::from(tb.den)) / (i128::from(rate.num) * i128::from(tb.num));
        step.clamp(1, i128::from(i32::MAX)) as i64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use crate::av::{Demuxer, Interrupt, Probe, Reader, StreamInfo};
    use crate::error::Error;
    use crate::test_common as common;

    fn probe(path: &Path, probe: Probe) -> Result<Option<StreamInfo>, Error> {
        let interrupt = Arc::new(Interrupt::new(None, None));
        let mut demuxer = Demuxer::open(Reader::open_path(path, &interrupt)?, interrupt)?;
        demuxer.video_stream(crate::DEFAULT_MAX_INPUT_PIXELS, probe)
    }

    /// Every fixture and every file of the media collection: where the headers are taken
    /// to suffice, they give exactly the stream facts the full probe gives; and they are
    /// taken to suffice where this test expects (so that the fast path cannot silently
    /// vanish). The frames themselves are judged by tests/exact.rs and tests/corpus.rs.
    #[test]
    fn the_headers_give_what_the_full_probe_gives() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(common::fixtures_dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        if let Some(media) = common::media_dir() {
            let manifest = std::fs::read_to_string(media.join("MANIFEST.tsv")).unwrap();
            files.extend(manifest.lines().skip(1).filter_map(|line| line.split('\t').next()).map(|n| media.join(n)));
        }
        files.retain(|path| path.is_file());
        files.sort();
        let mut fast = Vec::new();
        let mut failures = Vec::new();
        for path in &files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let (headers, full) = (probe(path, Probe::HeadersFirst), probe(path, Probe::Full));
            match (headers, full) {
                (Ok(Some(headers)), Ok(Some(full))) => {
                    assert!(!full.from_headers, "{name}: the full probe was skipped");
                    if headers.from_headers {
                        fast.push(name.clone());
                    }
                    // The file's end is read only where the stream states no duration
                    // (sampling's span); FFmpeg 7.1's probe estimates it from packets the
                    // headers do not give, so it is compared only where it is used.
                    let file_end = if full.duration.is_some() { full.file_end } else { headers.file_end };
                    if (StreamInfo { from_headers: false, file_end, ..headers.clone() }) != full {
                        failures.push(format!("{name}:\n  headers {headers:?}\n  probe   {full:?}"));
                    }
                }
                (Ok(None), Ok(Some(_))) => {}
                (Err(a), Err(b)) if a.status() == b.status() => {}
                (a, b) => failures.push(format!("{name}: headers {a:?}, probe {b:?}")),
            }
        }
        eprintln!("from the headers alone: {}", fast.join(", "));
        assert!(failures.is_empty(), "the headers and the probe disagree:\n{}", failures.join("\n"));
        let mut expected = vec![
            "bframes_gop250.mp4",
            "gop25_25fps.mp4",
            "editlist.mp4",
            "vfr.mkv",
            "cut_untimed_head.mkv",
            "hdr10_pq.mkv",
            "vp9.webm",
            "tiny_hevc.mp4",
        ];
        // The fixtures are made by the system's ffmpeg CLI: FFmpeg 7's Matroska muxer writes
        // no default duration for a variable-rate stream, so its vfr.mkv states no frame
        // rate and is probed, as it must be.
        if cfg!(ffmpeg_7_0) {
            expected.retain(|name| *name != "vfr.mkv");
        }
        for name in expected {
            assert!(fast.iter().any(|f| f == name), "{name} was probed although its headers suffice");
        }
        // Not MP4 or Matroska; another codec; a fragmented MP4 (no samples in its index);
        // Matroska without a frame rate; several video streams.
        let probed = [
            "start600.ts",
            "mpeg4.avi",
            "tiny_h264.h264",
            "gray_ffv1.mkv",
            "tiny_mjpeg.mov",
            "fragmented.mp4",
            "h264_ac3_ass_subtitles_1080x720.mkv",
            "vp9_alpha_opus_chrome_mediarecorder_no_duration_vfr.webm",
        ];
        for name in probed {
            assert!(!fast.iter().any(|f| f == name), "{name} should be probed: its headers do not say enough");
        }
    }
}
