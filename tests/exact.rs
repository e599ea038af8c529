//! SPEC §2 on the generated fixtures: for each file and a spread of offsets (the start, an
//! exact frame boundary, just after one, a frame in the middle of a GOP, just before the
//! end, past the end) `vframe::decode_frame` returns the same decoded picture, bit for bit,
//! as the ground truth `ffmpeg -i FILE -ss T -frames:v 1` (output seeking), and the PNG
//! thumbnail matches ffmpeg's RGB rendering of that frame.
//!
//! Every file is also decoded whole by ffmpeg, so a failure says which frame vframe took
//! ("frame 212, want 211"), and each check first proves that the neighbouring frames differ
//! from the expected one — a test that could not tell frames apart would prove nothing.

mod common;

use std::path::Path;

use common::{At, Probe, Shot};
use vframe::{Input, Options};

/// Same frame through the same scaler: only rounding in filter order may differ.
const SAME_PICTURE_DB: f64 = 45.0;

/// What one offset should give.
struct Case {
    /// The vframe offset, in milliseconds.
    offset_ms: u64,
    /// The index (in ffmpeg's decoding order of output frames) of the frame SPEC §2 names.
    want_frame: usize,
}

/// Checks `offsets_ms` of the fixture `name` (all must be exact) and returns nothing;
/// panics with every failing offset listed.
fn check_fixture(name: &str, offsets_ms: &[u64]) {
    let path = common::fixture(name);
    let probe = Probe::new(&path);
    let options = Options::default();

    let ours: Vec<vframe::DecodedFrame> = offsets_ms
        .iter()
        .map(|&ms| {
            vframe::decode_frame(Input::Path(&path), ms, &options).unwrap_or_else(|e| panic!("{name} at {ms} ms: {e}"))
        })
        .collect();
    let pix_fmt = ours[0].pixel_format.clone();
    let frame_bytes = ours[0].data.len();
    let all = common::ffmpeg_all_frames(&path, &pix_fmt, frame_bytes);
    assert!(all.len() >= 3, "{name}: ffmpeg decoded only {} frames", all.len());

    // The ground truth, literally: one `-ss T -frames:v 1` output per offset.
    let shots: Vec<Shot> = offsets_ms
        .iter()
        .map(|&ms| Shot {
            at: At::Offset(probe.cli_offset(ms as f64 / 1000.0)),
            pix_fmt: pix_fmt.clone(),
            filter: String::new(),
            autorotate: false,
        })
        .collect();
    let truth = common::ffmpeg_shots(&path, &shots);

    let mut failures = Vec::new();
    for ((&ms, ours), truth) in offsets_ms.iter().zip(&ours).zip(&truth) {
        // Past the end ffmpeg's `-ss` writes nothing: SPEC §2 then wants the last frame.
        let want = match truth {
            Some(t) => t,
            None => all.last().unwrap(),
        };
        let case = Case {
            offset_ms: ms,
            want_frame: all.iter().position(|f| f == want).expect("ffmpeg's -ss frame is one of its frames"),
        };
        // The control: the frames either side are different pictures, so a frame off by
        // one cannot pass.
        for n in [case.want_frame.wrapping_sub(1), case.want_frame + 1] {
            if let Some(other) = all.get(n) {
                assert_ne!(other, want, "{name}: frames {n} and {} are identical", case.want_frame);
            }
        }
        if ours.data != *want {
            let got = all.iter().position(|f| *f == ours.data);
            failures.push(format!(
                "{name} at {} ms: got {}, want frame {} (vframe says t={:.4})",
                case.offset_ms,
                got.map_or("a picture ffmpeg never decodes".to_string(), |n| format!("frame {n}")),
                case.want_frame,
                ours.time
            ));
        }
    }
    assert!(failures.is_empty(), "not the frame ffmpeg gives:\n{}", failures.join("\n"));
}

/// The PNG thumbnail (display size, no rotation) of `name` at each offset against ffmpeg
/// converting the same frame with the same swscale flags, matrix and range.
fn check_thumbnails(name: &str, offsets_ms: &[u64]) {
    let path = common::fixture(name);
    let probe = Probe::new(&path);
    let (num, den) = probe.sar();
    let width = if num == den { probe.width() } else { (probe.width() * num + den / 2) / den };
    let height = probe.height();
    let filter = common::rgb_filter(&probe, width, height);
    let rgb_bytes = (width * height * 3) as usize;
    let shots: Vec<Shot> = offsets_ms
        .iter()
        .map(|&ms| Shot {
            at: At::Offset(probe.cli_offset(ms as f64 / 1000.0)),
            pix_fmt: "rgb24".into(),
            filter: filter.clone(),
            autorotate: false,
        })
        .chain(std::iter::once(Shot {
            at: At::Last { from: 0.0, frame_bytes: rgb_bytes },
            pix_fmt: "rgb24".into(),
            filter: filter.clone(),
            autorotate: false,
        }))
        .collect();
    let mut truth = common::ffmpeg_shots(&path, &shots);
    let last = truth.pop().unwrap().expect("ffmpeg decodes the fixture");

    let mut failures = Vec::new();
    for (&ms, truth) in offsets_ms.iter().zip(&truth) {
        let spec = format!("vframe/png/offset/{}.{:03}", ms / 1000, ms % 1000);
        let image = vframe::extract_path(&path, &spec).unwrap_or_else(|e| panic!("{name} {spec}: {e}"));
        let (w, h, pixels) = common::png_rgb(&image.data);
        assert_eq!((w, h), (width, height), "{name} {spec}: size");
        let want = truth.as_ref().unwrap_or(&last);
        let db = common::psnr(&pixels, want);
        if db < SAME_PICTURE_DB {
            failures.push(format!("{name} {spec}: PSNR {db:.1} dB against ffmpeg, want >= {SAME_PICTURE_DB}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The fixtures. Offsets: start, exact boundary, just after it, mid-GOP, just before the
// end, past the end.

#[test]
fn long_gop_with_b_frames() {
    // 30 fps, 10 s, one keyframe: 7 s is frame 210 exactly, 7.01 s is frame 211.
    check_fixture("bframes_gop250.mp4", &[0, 7000, 7010, 4567, 9950, 60_000]);
}

#[test]
fn short_gop_25_fps() {
    check_fixture("gop25_25fps.mp4", &[0, 3000, 3010, 2500, 5950, 100_000]);
}

#[test]
fn mpeg_ts_starting_at_600_s() {
    // Offsets count from the video's first frame, not from 0 or 600 s.
    check_fixture("start600.ts", &[0, 5000, 5010, 3300, 7950, 1_000_000]);
}

#[test]
fn mpeg_ts_with_audio_first() {
    // Time 0 is the video's first frame, 0.5 s after the file's start.
    check_fixture("audio_first.ts", &[0, 2000, 2010, 1300, 3950, 100_000]);
}

#[test]
fn variable_frame_rate_matroska() {
    // Frame n is at n*n*4 ms: frame 50 at exactly 10 s, frame 51 at 10.404 s, the last
    // (179) at 128.164 s.
    check_fixture("vfr.mkv", &[0, 10_000, 10_001, 77_700, 128_000, 500_000]);
}

#[test]
fn fragmented_mp4() {
    // Its headers list no samples: the stream is probed (avformat_find_stream_info), as
    // every input whose headers do not say enough is.
    check_fixture("fragmented.mp4", &[0, 2000, 2010, 1234, 3950, 99_000]);
}

/// The same offsets through one `vframe::Source`, backwards then forwards, give the
/// pictures fresh calls give (after a seek back, decoding on, and a seek forward).
fn check_source_matches_fresh_calls(name: &str, offsets_ms: &[u64]) {
    let path = common::fixture(name);
    let options = Options::default();
    let mut source = vframe::Source::open(Input::Path(&path), &options).expect("opens");
    let mut order: Vec<u64> = offsets_ms.to_vec();
    order.sort_unstable();
    let order: Vec<u64> = order.iter().rev().chain(order.iter()).copied().collect();
    for ms in order {
        let fresh = vframe::decode_frame(Input::Path(&path), ms, &options).expect("fresh call");
        let kept = source.decode_frame(ms).expect("through the source");
        assert!(
            fresh.data == kept.data,
            "{name} at {ms} ms: the source gives t={:.4}, a fresh call t={:.4}",
            kept.time,
            fresh.time
        );
    }
}

#[test]
fn hevc_in_mpeg_ts() {
    // An MPEG-TS seek lands on any packet, and FFmpeg's HEVC decoder shows pictures whose
    // references it made up: the frames come from the keyframe packet on, or from the start.
    let offsets = [0, 34, 300, 1000, 1246, 2400, 3500, 3966, 99_000];
    for name in ["hevc_gop30.ts", "hevc_bframes.ts"] {
        check_fixture(name, &offsets);
        check_source_matches_fresh_calls(name, &offsets);
    }
}

#[test]
fn hevc_mp4_without_sync_samples() {
    // Without an stss box every sample counts as a keyframe: a seek lands on pictures
    // that need others, and decoding starts at the first IRAP picture the NAL unit headers
    // show (a seek, not a decode from the start).
    let offsets = [100, 1000, 2000, 7530, 12_345, 18_500, 19_960, 99_000];
    check_fixture("hevc_no_stss_20s.mp4", &offsets);
    check_source_matches_fresh_calls("hevc_no_stss_20s.mp4", &offsets);
    found_by_a_seek("hevc_no_stss_20s.mp4", 60);
    // The fast mode's keyframe is an IDR, not a sample the container marks.
    let path = common::fixture("hevc_no_stss_20s.mp4");
    let fast = vframe::decode_keyframe(Input::Path(&path), 18_500, &Options::default()).expect("fast mode");
    let idr = vframe::decode_frame(Input::Path(&path), 18_000, &Options::default()).expect("the IDR at 18 s");
    assert!(fast.data == idr.data, "fast mode gave t={:.3}, not the IDR at 18 s", fast.time);
}

#[test]
fn hevc_radl_pictures_after_a_seek() {
    // RADL pictures come out before their IDR and are no keyframes, yet need nothing
    // before it: a seek to the IDR is sound.
    let offsets = [0, 940, 960, 1000, 7530, 18_500, 19_960, 99_000];
    check_fixture("hevc_radl.mp4", &offsets);
    check_source_matches_fresh_calls("hevc_radl.mp4", &offsets);
    found_by_a_seek("hevc_radl.mp4", 60);
}

#[test]
fn h263_in_matroska_marked_key_on_every_packet() {
    // Matroska marks all 100 packets as keyframes; only 4 are I-frames. The exact mode
    // distrusts a first picture predicted from nothing; the fast mode must find the I-frame.
    let offsets = [0, 40, 1190, 1200, 1240, 2450, 3960, 99_000];
    check_fixture("h263p_every_packet_key.mkv", &offsets);
    check_source_matches_fresh_calls("h263p_every_packet_key.mkv", &offsets);
    check_fast_mode(
        "h263p_every_packet_key.mkv",
        &[(0, 0), (1190, 0), (1200, 1200), (2450, 2400), (3960, 3600), (99_000, 3600)],
        Options::default(),
    );
}

/// Checks that the fast mode gives, for each `(offset, keyframe)` in ms, the frame exactly
/// at the keyframe, in fresh calls and through one source.
fn check_fast_mode(name: &str, cases: &[(u64, u64)], options: Options) {
    let path = common::fixture(name);
    let mut source = vframe::Source::open_path(&path, &options).expect("opens");
    let spec = |mode: &str, ms: u64| format!("vframe/png/offset/{}{mode}", ms as f64 / 1000.0).parse().unwrap();
    for &(ms, keyframe_ms) in cases {
        let fast = vframe::decode_keyframe(Input::Path(&path), ms, &options)
            .unwrap_or_else(|e| panic!("{name}: fast mode at {ms} ms: {e}"));
        let want = vframe::decode_frame(Input::Path(&path), keyframe_ms, &Options::default()).expect("the keyframe");
        assert!(
            fast.data == want.data,
            "{name}: fast mode at {ms} ms gave t={:.3}, not the keyframe at {keyframe_ms} ms",
            fast.time
        );
        let kept = source.extract(&spec("/mode/fast", ms)).expect("fast mode through the source");
        let want = vframe::extract(Input::Path(&path), &spec("", keyframe_ms), &Options::default()).expect("keyframe");
        assert!(kept.data == want.data, "{name}: the source's fast mode at {ms} ms is not the keyframe");
    }
}

#[test]
fn fast_mode_past_false_keyframe_marks() {
    // Every sample marked a keyframe (no stss): a P-frame alone gives no picture from
    // FFmpeg's MPEG-2 decoder, a B-frame one predicted from nothing.
    // The keyframes are those of the same file with its table (with B-frames, the I-frame
    // of each GOP comes after the two B-frames shown before it: 2.04 s, not 2 s). With an
    // open GOP, each I-frame is decoded before B-frames shown earlier; with a 12 s GOP, the
    // search steps back past hundreds of false marks.
    let cases: [(&str, &[u64]); 4] = [
        ("mpeg2_bf0_no_stss.mov", &[0, 100, 2300, 2960, 5500, 99_000]),
        ("mpeg2_bf2_no_stss.mov", &[0, 100, 2300, 2960, 5500, 99_000]),
        ("mpeg2_open_gop_no_stss.mov", &[0, 700, 2999, 3000, 3100, 5950]),
        ("mpeg2_gop300_no_stss.mov", &[11_900, 12_000, 13_000, 14_000, 16_000, 26_000, 99_000]),
    ];
    let options = Options::default();
    for (name, offsets) in cases {
        let (path, with_table) = (common::fixture(name), common::fixture(&format!(".{name}")));
        for &ms in offsets {
            let fast = vframe::decode_keyframe(Input::Path(&path), ms, &options).expect("fast mode");
            let want = vframe::decode_keyframe(Input::Path(&with_table), ms, &options).expect("with the table");
            assert!(
                fast.data == want.data,
                "{name} at {ms} ms: t={:.3}, not the keyframe t={:.3}",
                fast.time,
                want.time
            );
            let key_ms = (want.time * 1000.0).round() as u64;
            check_fast_mode(name, &[(ms, key_ms)], options.clone());
        }
    }
    // H.263+ in Matroska, a 24 s GOP: hundreds of false marks back to the I-frame; cut 4 s
    // in, 500 P-frames before the first I-frame (at 20 s).
    check_fast_mode(".h263p_gop600.mkv", &[(20_000, 0), (23_999, 0), (29_000, 24_000)], options.clone());
    check_fast_mode(
        "h263p_gop600_cut.mkv",
        &[(0, 20_000), (3000, 20_000), (10_000, 20_000), (25_000, 20_000)],
        options,
    );
    // Streams that begin with P-frames: before the first I-frame, the first I-frame. The
    // MP4 keeps its sync samples, so a seek before the first fails (the scan then reads
    // from the start); the Matroska marks every packet.
    check_fast_mode(
        "h263p_starts_with_p.mkv",
        &[(0, 1600), (500, 1600), (1599, 1600), (2500, 1600), (4000, 3600)],
        Options::default(),
    );
    check_fast_mode("mpeg4_starts_with_p.mp4", &[(0, 600), (300, 600), (1000, 600), (1700, 1600)], Options::default());
    // All intra, every mark true: one decode, whatever the span the seek leaves to scan
    // (the limit also caps packets read, at 4 per frame: a 1 s step back reads 25).
    let options = Options { max_decoded_frames: 15, ..Options::default() };
    check_fast_mode("mpeg2_all_intra.ts", &[(0, 0), (2300, 2280), (3960, 3960)], options);
}

#[test]
fn several_video_streams_the_one_ffmpeg_outputs() {
    // The ground truth is what `ffmpeg -i F -ss T -frames:v 1` outputs, with no -map: the
    // CLI takes the video stream with the largest picture, not the first or the one with
    // the highest bitrate.
    for name in ["two_video_streams.ts", "two_video_streams_no_default.mkv"] {
        let path = common::fixture(name);
        let probe = Probe::new(&path);
        let options = Options::default();
        let mut source = vframe::Source::open_path(&path, &options).expect("opens");
        for ms in [0, 1000, 1960, 99_000] {
            let ours = vframe::decode_frame(Input::Path(&path), ms, &options).expect("decodes");
            assert_eq!((ours.width, ours.height), (640, 480), "{name} at {ms} ms: not the largest stream");
            let ss = common::seconds_arg(probe.cli_offset(ms as f64 / 1000.0).min(2.96));
            let truth = common::ffmpeg(&[
                "-i".as_ref(),
                path.as_os_str(),
                "-ss".as_ref(),
                ss.as_ref(),
                "-frames:v".as_ref(),
                "1".as_ref(),
                "-f".as_ref(),
                "rawvideo".as_ref(),
                "-pix_fmt".as_ref(),
                ours.pixel_format.as_ref(),
                "-".as_ref(),
            ]);
            assert!(ours.data == truth, "{name} at {ms} ms: not the frame ffmpeg outputs (t={:.3})", ours.time);
            let kept = source.decode_frame(ms).expect("through the source");
            assert!(kept.data == ours.data, "{name} at {ms} ms: the source differs from a fresh call");
        }
    }
}

#[test]
fn video_starting_between_two_microseconds() {
    // The ground truth's `-ss` has whole µs and counts from the file's start rounded to one:
    // frame 3 of this file is at 0.0999997 s on the CLI's clock, so `-ss 0.1` would name
    // frame 4, and frame 0 (at -0.3 µs) only a negative `-ss`. The harness asks for each
    // frame at its own time rounded down; vframe counts from the stream's exact start.
    let offsets = [0, 33, 34, 100, 101, 1000, 1500, 2967, 99_000];
    check_fixture("ismv_start_between_microseconds.ismv", &offsets);
    check_source_matches_fresh_calls("ismv_start_between_microseconds.ismv", &offsets);
}

#[test]
fn mp4_edit_list_with_audio_first() {
    check_fixture("editlist.mp4", &[0, 2000, 2010, 1234, 4950, 99_000]);
}

#[test]
fn vp9_webm() {
    check_fixture("vp9.webm", &[0, 1000, 1010, 1500, 2950, 10_000]);
}

#[test]
fn mpeg4_part2_avi_with_b_frames() {
    // AVI's time base is 1/25 here; ffmpeg rounds the offset to the nearest tick, so 2.01 s
    // gives the frame at 2.00 s, 2.02 s (a tie, rounded up) and 2.03 s the one at 2.04 s.
    check_fixture("mpeg4.avi", &[0, 2000, 2010, 2020, 2030, 1300, 2950, 10_000]);
}

#[test]
fn xvid_avi_with_packed_b_frames() {
    // One keyframe at 0 s and one at 2 s (the second GOP is reached by a seek). Frame
    // times come from the decoder's delay over packets without timestamps, as in ffmpeg:
    // 0.2 s is a B-frame whose data travels in the packet timed before it.
    check_fixture("xvid_packed.avi", &[0, 200, 1000, 1960, 2000, 2120, 2560, 3640, 3960, 10_000]);
}

#[test]
fn xvid_avi_unpacked_by_stream_copy() {
    check_fixture("xvid_unpacked.avi", &[0, 200, 1000, 1960, 2000, 2120, 2560, 3640, 3960, 10_000]);
}

#[test]
fn xvid_packed_b_frames_stream_copied_into_mp4() {
    // The packets' times are decoding times; ffmpeg times the frames from the decoder's
    // view of all of them, B-frames included.
    check_fixture("xvid_packed.mp4", &[0, 200, 330, 480, 1000, 1960, 2000, 2120, 2560, 3640, 3960, 10_000]);
}

#[test]
fn faulty_timestamps_are_timed_as_a_decode_from_the_start_times_them() {
    // Every packet's pts equals its dts in an Xvid stream with B-frames: FFmpeg then times
    // frames by their decoding times once it has seen the pts go back, and which frames it
    // has seen decides it. Offsets at and around the keyframes (every 1.2 s).
    check_fixture("xvid.mp4", &[0, 500, 1180, 1190, 1200, 1300, 1320, 2400, 2520, 3600, 3720, 10_000]);
}

/// Asserts that the frame at 18.5 s of the 25 fps fixture `name` (the one at 18.52 s) is
/// found within a decode budget of `max_decoded_frames`: by a seek, where a decode from the
/// start would need 463 frames.
fn found_by_a_seek(name: &str, max_decoded_frames: u64) {
    let path = common::fixture(name);
    let options = Options { max_decoded_frames, ..Options::default() };
    let frame = vframe::decode_frame(Input::Path(&path), 18_500, &options)
        .unwrap_or_else(|e| panic!("{name}: not found by a seek: {e}"));
    assert!((frame.time - 18.52).abs() < 0.021, "{name}: t={}", frame.time);
}

#[test]
fn pts_equal_to_dts_without_b_frames_is_no_fault() {
    // MPEG-2 I/P-frames in MP4, pts = dts on every packet, and a decoder that declares
    // reordering: the times are right, and a seek must do.
    check_fixture("mpeg2_ip_pts_is_dts.mp4", &[0, 600, 7010, 18_500, 19_960, 30_000]);
    found_by_a_seek("mpeg2_ip_pts_is_dts.mp4", 60);
}

#[test]
fn h264_intra_refresh_in_mpeg_ts() {
    check_fixture("intra_refresh.ts", &[0, 2000, 7010, 11_960, 18_500, 19_960, 30_000]);
    // The recovery points are P-frames marked as keyframes: a seek to one is sound (the
    // decoder shows nothing before it has rebuilt a whole picture, 50 frames on).
    found_by_a_seek("intra_refresh.ts", 200);
}

#[test]
fn ten_bit_422() {
    check_fixture("yuv422p10.mkv", &[0, 1000, 1010, 2500, 2950, 10_000]);
}

#[test]
fn full_range_444() {
    check_fixture("yuv444p_fullrange.mp4", &[0, 1000, 1010, 2500, 2950, 10_000]);
}

/// A Matroska file cut with `-c copy -avoid_negative_ts disabled`: the 32 frames between
/// the keyframe and the cut have no timestamps. The ffmpeg CLI places each such frame one
/// frame after the one before (the first at the start), so they answer the first 1.2 s;
/// vframe places them the same way, and reaches them by decoding from the start, since a
/// seek (to a later keyframe) would skip them. The choice is monotonic in the offset.
#[test]
fn frames_without_timestamps_at_the_head_are_placed_from_their_neighbours() {
    let name = "cut_untimed_head.mkv";
    let offsets: Vec<u64> = (0..=3200).step_by(80).chain([10, 190, 210, 1190, 1210, 1250, 1290, 1310]).collect();
    check_fixture(name, &offsets);
    let path = common::fixture(name);
    let options = Options::default();
    let mut sorted = offsets.clone();
    sorted.sort_unstable();
    let frames: Vec<vframe::DecodedFrame> =
        sorted.iter().map(|&ms| vframe::decode_frame(Input::Path(&path), ms, &options).unwrap()).collect();
    let all = common::ffmpeg_all_frames(&path, &frames[0].pixel_format, frames[0].data.len());
    let positions: Vec<usize> = frames.iter().map(|f| all.iter().position(|a| *a == f.data).unwrap()).collect();
    for (pair, ms) in positions.windows(2).zip(sorted.windows(2)) {
        assert!(
            pair[0] <= pair[1],
            "{name}: frame {} at {} ms, then frame {} at {} ms",
            pair[0],
            ms[0],
            pair[1],
            ms[1]
        );
    }
}

/// Elementary streams carry no timestamps (H.264) or only the parser's (MPEG-2): frame n
/// is shown at n / fps from the first frame. The ffmpeg CLI gives such frames times from
/// its own clock, which adds whole microseconds per frame and drifts (at 30 fps its frame
/// 30 is at 0.99999 s, so its `-ss 1` gives frame 31); vframe counts exactly, so the ground
/// truth here is ffmpeg's frame number `ceil(offset * fps)`.
fn check_elementary_stream(name: &str, fps: u64, offsets_ms: &[u64]) {
    let path = common::fixture(name);
    let options = Options::default();
    let first = vframe::decode_frame(Input::Path(&path), 0, &options).unwrap();
    let all = common::ffmpeg_all_frames(&path, &first.pixel_format, first.data.len());
    let mut failures = Vec::new();
    for &ms in offsets_ms {
        let want = ((ms * fps).div_ceil(1000) as usize).min(all.len() - 1);
        let ours =
            vframe::decode_frame(Input::Path(&path), ms, &options).unwrap_or_else(|e| panic!("{name} at {ms} ms: {e}"));
        for n in [want.wrapping_sub(1), want + 1] {
            if let Some(other) = all.get(n) {
                assert_ne!(other, &all[want], "{name}: frames {n} and {want} are identical");
            }
        }
        let expected_time = want as f64 / fps as f64;
        if ours.data != all[want] || (ours.time - expected_time).abs() > 0.0005 {
            let got = all.iter().position(|f| *f == ours.data);
            failures.push(format!(
                "{name} at {ms} ms: got frame {got:?} at t={:.4}, want frame {want} at {expected_time:.4}",
                ours.time
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn h264_elementary_stream_without_timestamps() {
    check_elementary_stream("bframes_annexb.h264", 30, &[0, 1000, 3500, 4567, 9950, 60_000]);
}

#[test]
fn mpeg2_elementary_stream() {
    check_elementary_stream("mpeg2_bframes.m2v", 25, &[0, 1000, 2010, 3990, 10_000]);
}

#[test]
fn thumbnails_show_the_exact_frame() {
    check_thumbnails("bframes_gop250.mp4", &[7000, 7010, 60_000]);
    check_thumbnails("start600.ts", &[5010, 1_000_000]);
    check_thumbnails("vfr.mkv", &[10_001]);
    check_thumbnails("yuv422p10.mkv", &[1010]);
    check_thumbnails("yuv444p_fullrange.mp4", &[2500]);
    check_thumbnails("anamorphic_sar4x3.mp4", &[1010]);
}

#[test]
fn a_neighbouring_frame_fails_the_thumbnail_check() {
    // The control for the PSNR threshold: frame 211 rendered by ffmpeg against vframe's
    // frame 210 must fall below it.
    let path = common::fixture("bframes_gop250.mp4");
    let probe = Probe::new(&path);
    let filter = common::rgb_filter(&probe, probe.width(), probe.height());
    let shot = Shot { at: At::Offset(probe.cli_offset(7.01)), pix_fmt: "rgb24".into(), filter, autorotate: false };
    let next = common::ffmpeg_shots(&path, &[shot]).pop().unwrap().unwrap();
    let image = vframe::extract_path(&path, "vframe/png/offset/7").unwrap();
    let (_, _, pixels) = common::png_rgb(&image.data);
    let db = common::psnr(&pixels, &next);
    assert!(db < SAME_PICTURE_DB, "the next frame scores {db:.1} dB, not below {SAME_PICTURE_DB}");
}

#[test]
fn decoded_time_is_on_the_streams_own_timeline() {
    let path = common::fixture("start600.ts");
    let frame = vframe::decode_frame(Input::Path(Path::new(&path)), 5000, &Options::default()).unwrap();
    assert!((frame.time - 5.0).abs() < 0.0005, "frame time {} for offset 5 s", frame.time);
    let memory = std::fs::read(&path).unwrap();
    let from_memory = vframe::decode_frame(Input::Memory(&memory), 5000, &Options::default()).unwrap();
    assert_eq!(from_memory.data, frame.data, "memory input gives another frame");
}

/// HDR (PQ and HLG) is tone-mapped to SDR with the zscale/tonemap chain ffmpeg users run
/// (`common::HDR_TO_SDR`); where FFmpeg lacks zimg, the BT.2020 matrix alone is used.
/// The control: the two renderings differ by more than the threshold.
#[test]
fn hdr_is_tone_mapped_to_sdr() {
    for name in ["hdr10_pq.mkv", "hlg.mp4"] {
        let path = common::fixture(name);
        let probe = Probe::new(&path);
        assert!(common::is_hdr(&probe), "{name} is not tagged HDR");
        let (w, h) = (probe.width(), probe.height());
        let plain =
            format!("scale={w}:{h}:flags={}:in_color_matrix=bt2020:in_range=tv,format=rgb24", common::SCALE_FLAGS);
        let shots = [common::rgb_filter(&probe, w, h), plain].map(|filter| Shot {
            at: At::Offset(probe.cli_offset(0.5)),
            pix_fmt: "rgb24".into(),
            filter,
            autorotate: false,
        });
        let [mapped, plain] = common::ffmpeg_shots(&path, &shots).try_into().unwrap();
        let (mapped, plain) = (mapped.unwrap(), plain.unwrap());
        let image = vframe::extract_path(&path, "vframe/png/offset/0.5").unwrap();
        let (_, _, ours) = common::png_rgb(&image.data);
        let want = if common::has_tone_mapping() { &mapped } else { &plain };
        let db = common::psnr(&ours, want);
        assert!(db >= SAME_PICTURE_DB, "{name}: PSNR {db:.1} dB against ffmpeg, want >= {SAME_PICTURE_DB}");
        let between = common::psnr(&mapped, &plain);
        eprintln!("{name}: {db:.1} dB against ffmpeg, tone-mapped vs plain BT.2020 {between:.1} dB");
        assert!(between < 40.0, "{name}: tone mapping changes little ({between:.1} dB), the check proves nothing");
    }
}

/// A file cut short (an upload that stopped): past its end the answer is the last frame a
/// whole decode gives (ffmpeg's), whatever the decoder's threads. With frame threads the
/// decoder reports the cut packet's error while it drains, before the frames still in
/// flight: stopping at that error gave an earlier frame, and a different one from a
/// single-threaded decode.
#[test]
fn a_truncated_file_ends_with_the_last_frame_it_decodes() {
    let full = std::fs::read(common::fixture("tiny_h264_faststart.mp4")).unwrap();
    let path = std::env::temp_dir().join(format!("vframe-exact-{}-truncated.mp4", std::process::id()));
    let mut failures = Vec::new();
    // From 60%: the first keyframe is whole (ffmpeg decodes nothing below).
    for percent in (60..100).step_by(5) {
        std::fs::write(&path, &full[..full.len() * percent / 100]).unwrap();
        let all = common::ffmpeg_all_frames(&path, "yuv420p", 64 * 48 * 3 / 2);
        for threads in [0, 1, 4] {
            let options = Options { threads, ..Options::default() };
            for (ms, want) in [(0, 0), (3000, all.len() - 1)] {
                match vframe::decode_frame(Input::Path(&path), ms, &options) {
                    Ok(got) if got.data == all[want] => {}
                    Ok(got) => failures.push(format!(
                        "cut at {percent}%, {threads} threads, {ms} ms: frame {:?}, want {want}",
                        all.iter().position(|f| *f == got.data)
                    )),
                    Err(e) => failures.push(format!("cut at {percent}%, {threads} threads, {ms} ms: {e}")),
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    assert!(failures.is_empty(), "{failures:#?}");
}
