//! SPEC §3 and §4 end to end: the size, orientation, colours and file format of the
//! thumbnails `vframe::extract_path` makes from real videos.
//!
//! Pixels are checked against the ffmpeg CLI doing the same job on the same frame: the same
//! swscale flags as vframe (`bicubic+accurate_rnd+full_chroma_int`), the colour matrix and
//! range the stream says, and ffmpeg's own `transpose`/`hflip`/`vflip` filters. Each such
//! check also has a control that a wrong answer (the other rotation, the other matrix or
//! range) fails, so the thresholds are known to separate right from wrong.

use std::path::Path;
use std::process::Command;

use vframe::{Format, Image};

mod common;

use common::{fixture, media, png_rgb as png_pixels, psnr, Probe, SCALE_FLAGS};

// ---------------------------------------------------------------------------------------
// Helpers

fn thumbnail(path: &Path, spec: &str) -> Image {
    vframe::extract_path(path, spec).unwrap_or_else(|e| panic!("{} {spec}: {e}", path.display()))
}

/// Our PNG thumbnail's pixels, checked to be `width` x `height`.
fn our_pixels(path: &Path, spec: &str, width: u32, height: u32) -> Vec<u8> {
    let image = thumbnail(path, spec);
    assert_eq!(image.format, Format::Png);
    assert_eq!((image.width, image.height), (width, height), "{spec}: size reported");
    let (w, h, pixels) = png_pixels(&image.data);
    assert_eq!((w, h), (width, height), "{spec}: size of the PNG");
    pixels
}

/// How the ffmpeg CLI should present a frame for comparison.
struct Reference<'a> {
    /// Output size of the scale step (before any rotation filter).
    scale: (u32, u32),
    /// `in_color_matrix` of ffmpeg's scale filter (`bt601`, `bt709`, ...).
    matrix: &'a str,
    /// `in_range`: `tv` or `pc`.
    range: &'a str,
    /// Filters after the conversion to RGB (`transpose=clock`, ...), or "".
    then: &'a str,
    /// Let ffmpeg apply the stream's rotation metadata (it does so before any filter).
    autorotate: bool,
}

impl Default for Reference<'_> {
    fn default() -> Self {
        Reference { scale: (0, 0), matrix: "bt601", range: "tv", then: "", autorotate: false }
    }
}

/// The frame at `offset` seconds as the ffmpeg CLI renders it: packed RGB24.
fn ffmpeg_pixels(path: &Path, offset: &str, r: &Reference) -> Vec<u8> {
    let (w, h) = r.scale;
    let mut filters =
        format!("scale={w}:{h}:flags={SCALE_FLAGS}:in_color_matrix={}:in_range={},format=rgb24", r.matrix, r.range);
    if !r.then.is_empty() {
        filters = format!("{filters},{}", r.then);
    }
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
    if !r.autorotate {
        cmd.arg("-noautorotate");
    }
    cmd.arg("-i").arg(path);
    cmd.args(["-ss", offset, "-frames:v", "1", "-vf", &filters, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
    let out = cmd.output().expect("the ffmpeg CLI runs");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A reference with the colour matrix and range the stream says (per ffprobe), by vframe's
/// rule where it says nothing (BT.709 from 720 lines up, else BT.601).
fn stream_colours(path: &Path, scale: (u32, u32)) -> Reference<'static> {
    let probe = Probe::new(path);
    Reference {
        scale,
        matrix: common::colour_matrix(&probe),
        range: common::colour_range(&probe),
        ..Default::default()
    }
}

/// The same picture through the same scaler: only rounding may differ.
const SAME: f64 = 45.0;
/// Below this, the pictures differ (a wrong matrix, range or orientation). Measured: a wrong
/// orientation gives under 10 dB, the wrong matrix about 25 dB, the wrong range on testsrc2
/// about 37 dB (its saturated colours clip to the same values either way; only the
/// mid-tones differ), while right answers give 68 dB or more.
const DIFFERENT: f64 = 40.0;

fn assert_same(what: &str, ours: &[u8], reference: &[u8]) {
    let db = psnr(ours, reference);
    assert!(db >= SAME, "{what}: PSNR {db:.1} dB against ffmpeg, want >= {SAME}");
}

fn assert_different(what: &str, ours: &[u8], wrong: &[u8]) {
    let db = psnr(ours, wrong);
    assert!(db < DIFFERENT, "{what}: PSNR {db:.1} dB against a wrong answer, want < {DIFFERENT}");
}

// ---------------------------------------------------------------------------------------
// Size

#[test]
fn no_size_given_gives_the_display_size() {
    // 480x360 coded with SAR 4:3 displays as 640x360.
    let video = fixture("anamorphic_sar4x3.mp4");
    let ours = our_pixels(&video, "vframe/png/offset/1", 640, 360);
    let reference = ffmpeg_pixels(&video, "1", &Reference { scale: (640, 360), ..Default::default() });
    assert_same("anamorphic at display size", &ours, &reference);
    // Square pixels: the coded size.
    let image = thumbnail(&fixture("gop25_25fps.mp4"), "vframe/jpg/offset/1");
    assert_eq!((image.width, image.height), (320, 240));
}

#[test]
fn one_side_given_the_other_follows_the_display_aspect() {
    let anamorphic = fixture("anamorphic_sar4x3.mp4"); // displays 640x360
    let square = fixture("gop25_25fps.mp4"); // 320x240
    let wide = fixture("wide_4000x1000.mp4");
    for (video, spec, size) in [
        (&anamorphic, "w/320", (320, 180)),
        (&anamorphic, "h/100", (178, 100)), // 177.8 rounds to 178
        (&anamorphic, "w/101", (101, 57)),  // 56.8
        (&square, "w/100", (100, 75)),
        (&square, "h/100", (133, 100)), // 133.3
        (&square, "w/2", (2, 2)),       // 1.5 rounds half up
        (&wide, "h/1", (4, 1)),
        (&wide, "w/1", (1, 1)), // 0.25 would round to 0: at least 1
        (&wide, "w/3", (3, 1)),
    ] {
        let image = thumbnail(video, &format!("vframe/png/offset/0/{spec}"));
        assert_eq!((image.width, image.height), size, "{}: {spec}", video.display());
        let (w, h, _) = png_pixels(&image.data);
        assert_eq!((w, h), size);
    }
    // The content is the whole picture, scaled.
    let ours = our_pixels(&anamorphic, "vframe/png/offset/1/w/320", 320, 180);
    let reference = ffmpeg_pixels(&anamorphic, "1", &Reference { scale: (320, 180), ..Default::default() });
    assert_same("anamorphic w/320", &ours, &reference);
}

#[test]
fn one_side_given_uses_the_exact_display_aspect_of_anamorphic_video() {
    // 720x480 at SAR 32:27 is exactly 16:9; its display width (853.3) rounds to 853, and a
    // side derived from that rounded width would be off by one (1919 for h/1080).
    let video = fixture("ntsc_wide_sar32x27.mp4");
    for (spec, size) in [
        ("h/1080", (1920, 1080)),
        ("w/1920", (1920, 1080)),
        ("w/3840", (3840, 2160)),
        ("h/2160", (3840, 2160)),
        ("h/480", (853, 480)),
        ("", (853, 480)),
        ("rotate/90/w/1080", (1080, 1920)),
        ("rotate/90/w/2160", (1215, 2160)), // 3840 high is capped at 2160, 9:16 kept
    ] {
        let spec = format!("vframe/png/offset/0.5/{spec}");
        let image = thumbnail(&video, spec.trim_end_matches('/'));
        assert_eq!((image.width, image.height), size, "{spec}");
    }
}

#[test]
fn both_sides_given_stretch_to_exactly_that_size() {
    let video = fixture("gop25_25fps.mp4");
    let ours = our_pixels(&video, "vframe/png/offset/1/w/100/h/100", 100, 100);
    let reference = ffmpeg_pixels(&video, "1", &Reference { scale: (100, 100), ..Default::default() });
    assert_same("320x240 stretched to 100x100", &ours, &reference);
    let image = thumbnail(&fixture("anamorphic_sar4x3.mp4"), "vframe/jpg/offset/0/w/3840/h/1");
    assert_eq!((image.width, image.height), (3840, 1));
}

#[test]
fn sizes_over_3840x2160_are_scaled_down_keeping_the_aspect() {
    let wide = fixture("wide_4000x1000.mp4");
    for (spec, size) in [
        ("", (3840, 960)),
        ("/h/2160", (3840, 960)),            // 8640x2160 asked for
        ("/rotate/90", (540, 2160)),         // 1000x4000 after rotation
        ("/w/3840/rotate/270", (540, 2160)), // 3840x15360 asked for
        ("/w/3000", (3000, 750)),            // within the limits: as asked
    ] {
        let image = thumbnail(&wide, &format!("vframe/jpg/offset/0{spec}"));
        assert_eq!((image.width, image.height), size, "{spec}");
    }
    // The whole picture, scaled (not cropped). An untagged picture 720 or more high is
    // converted with BT.709; BT.601 would be visibly off.
    let ours = our_pixels(&wide, "vframe/png/offset/0", 3840, 960);
    let bt709 = stream_colours(&wide, (3840, 960));
    assert_eq!(bt709.matrix, "bt709");
    assert_same("4000x1000 capped", &ours, &ffmpeg_pixels(&wide, "0", &bt709));
    let bt601 = Reference { matrix: "bt601", ..bt709 };
    assert_different("HD with BT.601", &ours, &ffmpeg_pixels(&wide, "0", &bt601));
}

// ---------------------------------------------------------------------------------------
// Orientation

#[test]
fn quarter_turns_match_ffmpegs_transpose_and_flips() {
    let video = fixture("gop25_25fps.mp4"); // 320x240; w is the width after rotation
    let cases = [
        ("90", (120, 160), (160, 120), "transpose=clock"),
        ("180", (120, 90), (120, 90), "hflip,vflip"),
        ("270", (120, 160), (160, 120), "transpose=cclock"),
    ];
    let mut turned = Vec::new();
    for (degrees, (w, h), scale, filter) in cases {
        let ours = our_pixels(&video, &format!("vframe/png/offset/1/w/120/rotate/{degrees}"), w, h);
        let reference = ffmpeg_pixels(&video, "1", &Reference { scale, then: filter, ..Default::default() });
        assert_same(&format!("rotate/{degrees}"), &ours, &reference);
        turned.push(ours);
    }
    // Controls: 90 and 270 are told apart, and 180 is not the unrotated picture.
    assert_different("rotate/90 vs 270", &turned[0], &turned[2]);
    let upright = our_pixels(&video, "vframe/png/offset/1/w/120", 120, 90);
    assert_different("rotate/180 vs none", &turned[1], &upright);
}

#[test]
fn width_and_height_describe_the_rotated_image() {
    let video = fixture("gop25_25fps.mp4");
    for (spec, size) in [
        ("rotate/90", (240, 320)),
        ("rotate/90/w/120", (120, 160)),
        ("rotate/270/h/160", (120, 160)),
        ("rotate/180/w/160", (160, 120)),
        ("rotate/90/w/100/h/50", (100, 50)),
    ] {
        let image = thumbnail(&video, &format!("vframe/jpg/offset/1/{spec}"));
        assert_eq!((image.width, image.height), size, "{spec}");
    }
    // Stretched after rotation: ffmpeg scales to 50x100 and then turns it.
    let ours = our_pixels(&video, "vframe/png/offset/1/rotate/90/w/100/h/50", 100, 50);
    let reference =
        ffmpeg_pixels(&video, "1", &Reference { scale: (50, 100), then: "transpose=clock", ..Default::default() });
    assert_same("rotate/90/w/100/h/50", &ours, &reference);
    // Aspect correction comes before rotation: 480x360 at SAR 4:3 displays 640x360, then turns.
    let anamorphic = fixture("anamorphic_sar4x3.mp4");
    let ours = our_pixels(&anamorphic, "vframe/png/offset/1/rotate/90", 360, 640);
    let reference = ffmpeg_pixels(
        &anamorphic,
        "1",
        &Reference { scale: (640, 360), then: "transpose=clock", ..Default::default() },
    );
    assert_same("anamorphic rotate/90", &ours, &reference);
    assert_eq!(thumbnail(&anamorphic, "vframe/jpg/offset/1/rotate/270/h/320").width, 180);
}

#[test]
fn rotate_auto_follows_the_display_matrix_like_ffmpeg() {
    // rotate270.mp4 holds the matrix phones write for portrait video (-90), rotate90.mp4
    // its inverse (+90): both directions are covered.
    for name in ["rotate90.mp4", "rotate270.mp4"] {
        let video = fixture(name);
        let ours = our_pixels(&video, "vframe/png/offset/1/rotate/auto", 240, 320);
        let auto = Reference { scale: (240, 320), autorotate: true, ..Default::default() };
        let reference = ffmpeg_pixels(&video, "1", &auto);
        // (ffmpeg turns the YUV picture before converting it, vframe after, so the chroma
        // interpolation differs slightly: about 70 dB, not identical.)
        assert_same(&format!("{name} rotate/auto"), &ours, &reference);
        let clock = our_pixels(&video, "vframe/png/offset/1/rotate/90", 240, 320);
        let cclock = our_pixels(&video, "vframe/png/offset/1/rotate/270", 240, 320);
        assert!(ours == clock || ours == cclock, "{name}: auto is one of the quarter turns");
        assert_different(&format!("{name} turned the other way"), &ours, if ours == clock { &cclock } else { &clock });
        // Without rotate, the frame as coded.
        let coded = our_pixels(&video, "vframe/png/offset/1", 320, 240);
        let reference = ffmpeg_pixels(&video, "1", &Reference { scale: (320, 240), ..Default::default() });
        assert_same(&format!("{name} as coded"), &coded, &reference);
    }
    // A file without rotation metadata: auto changes nothing.
    let plain = fixture("gop25_25fps.mp4");
    assert_eq!(thumbnail(&plain, "vframe/png/offset/1/rotate/auto"), thumbnail(&plain, "vframe/png/offset/1"));
}

#[test]
fn rotate_auto_on_real_phone_videos() {
    // Portrait phone HEVC: matrix -90, 1920x1080 coded, full-range BT.601.
    if let Some(video) = media("rotation_minus90_phone_hevc_video_is_stream2.mp4") {
        let ours = our_pixels(&video, "vframe/png/offset/0/w/270/rotate/auto", 270, 480);
        let reference = ffmpeg_pixels(
            &video,
            "0",
            &Reference { scale: (480, 270), range: "pc", then: "transpose=clock", ..Default::default() },
        );
        assert_same("phone HEVC rotate/auto", &ours, &reference);
    }
    // A mirrored matrix [0 1; 1 0]: a transpose, as ffmpeg 6.1+ shows it (cclock_flip).
    // Coded 1080x720 with no matrix tagged: BT.709 (720 high or more).
    if let Some(video) = media("rotation_minus90_mirrored_matrix_h264.mp4") {
        let ours = our_pixels(&video, "vframe/png/offset/0.5/w/360/rotate/auto", 360, 540);
        let transpose = |filter| Reference { scale: (540, 360), matrix: "bt709", then: filter, ..Default::default() };
        let reference = ffmpeg_pixels(&video, "0.5", &transpose("transpose=cclock_flip"));
        assert_same("mirrored matrix rotate/auto", &ours, &reference);
        let unmirrored = ffmpeg_pixels(&video, "0.5", &transpose("transpose=clock"));
        assert_different("mirrored matrix read as a plain rotation", &ours, &unmirrored);
    }
}

#[test]
fn real_anamorphic_videos_display_at_their_display_size() {
    for (name, size) in [
        ("h264_high_bpyramid_anamorphic_sar64x45.mp4", (1138, 640)), // 800 * 64/45 = 1137.8
        ("mpeg1_program_stream_768x576_sar187x200.mpg", (718, 576)), // 768 * 187/200 = 718.1
        ("h263_aac_vfr_352x288_sar12x11.3gp", (384, 288)),
        ("av1_10bit_hdr10_pq_bt2020_426x240.webm", (426, 240)), // SAR 427:426 is rounding, not anamorphic
    ] {
        if let Some(video) = media(name) {
            let image = thumbnail(&video, "vframe/jpg/offset/1");
            assert_eq!((image.width, image.height), size, "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Colour

#[test]
fn ten_bit_422_is_converted_with_the_streams_matrix_and_range() {
    let video = fixture("yuv422p10.mkv");
    let ours = our_pixels(&video, "vframe/png/offset/1", 320, 240);
    let right = stream_colours(&video, (320, 240));
    // Limited range, no matrix tagged and 240 lines high: BT.601.
    assert_eq!((right.matrix, right.range), ("bt601", "tv"));
    assert_same("yuv422p10le", &ours, &ffmpeg_pixels(&video, "1", &right));
    let full = Reference { range: "pc", ..right };
    assert_different("yuv422p10le read as full range", &ours, &ffmpeg_pixels(&video, "1", &full));
    let bt709 = Reference { matrix: "bt709", ..right };
    assert_different("yuv422p10le read as BT.709", &ours, &ffmpeg_pixels(&video, "1", &bt709));
}

#[test]
fn full_range_444_is_converted_with_the_streams_range() {
    let video = fixture("yuv444p_fullrange.mp4");
    let ours = our_pixels(&video, "vframe/png/offset/1", 320, 240);
    let right = stream_colours(&video, (320, 240));
    assert_eq!((right.matrix, right.range), ("bt601", "pc"));
    assert_same("yuvj444p", &ours, &ffmpeg_pixels(&video, "1", &right));
    // (swscale takes every yuvj format as full range whatever in_range says, so the
    // control for a misread range is in the next test.)
}

#[test]
fn full_range_444_matches_the_bt601_formula() {
    // Independent of swscale: RGB computed here from the decoded planes with the BT.601
    // equations (no chroma interpolation at 4:4:4, no scaling).
    let video = fixture("yuv444p_fullrange.mp4");
    let frame = vframe::decode_frame(vframe::Input::Path(&video), 1000, &vframe::Options::default()).unwrap();
    assert_eq!(frame.pixel_format, "yuvj444p");
    let n = (frame.width * frame.height) as usize;
    let (y, rest) = frame.data.split_at(n);
    let (u, v) = rest.split_at(n);
    let clamp = |x: f64| x.round().clamp(0.0, 255.0) as u8;
    // (luma offset, luma gain, chroma gain) of full and limited range.
    let bt601 = |(offset, luma, chroma): (f64, f64, f64)| -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let y = (f64::from(y[i]) - offset) * luma;
                let (cb, cr) = ((f64::from(u[i]) - 128.0) * chroma, (f64::from(v[i]) - 128.0) * chroma);
                [clamp(y + 1.402 * cr), clamp(y - 0.344_136 * cb - 0.714_136 * cr), clamp(y + 1.772 * cb)]
            })
            .collect()
    };
    let ours = our_pixels(&video, "vframe/png/offset/1", frame.width, frame.height);
    assert_same("yuvj444p against the full-range formula", &ours, &bt601((0.0, 1.0, 1.0)));
    let limited = bt601((16.0, 255.0 / 219.0, 255.0 / 224.0));
    assert_different("yuvj444p against the limited-range formula", &ours, &limited);
}

#[test]
fn rgb_and_gray_sources_keep_their_values() {
    // Planar RGB at its own size: the same bytes ffmpeg gives, no YUV round trip.
    let rgb = fixture("rgb_x264rgb.mkv");
    let frame = vframe::decode_frame(vframe::Input::Path(&rgb), 500, &vframe::Options::default()).unwrap();
    assert_eq!(frame.pixel_format, "gbrp");
    let ours = our_pixels(&rgb, "vframe/png/offset/0.5", 320, 240);
    let reference = common::ffmpeg(&[
        "-i".as_ref(),
        rgb.as_os_str(),
        "-ss".as_ref(),
        "0.5".as_ref(),
        "-frames:v".as_ref(),
        "1".as_ref(),
        "-f".as_ref(),
        "rawvideo".as_ref(),
        "-pix_fmt".as_ref(),
        "rgb24".as_ref(),
        "-".as_ref(),
    ]);
    assert!(ours == reference, "gbrp converts to exactly ffmpeg's rgb24");
    // Full-range gray: every pixel is (Y, Y, Y).
    let gray = fixture("gray_ffv1.mkv");
    let frame = vframe::decode_frame(vframe::Input::Path(&gray), 500, &vframe::Options::default()).unwrap();
    assert_eq!(frame.pixel_format, "gray");
    let ours = our_pixels(&gray, "vframe/png/offset/0.5", 320, 240);
    let expected: Vec<u8> = frame.data.iter().flat_map(|&y| [y, y, y]).collect();
    assert!(ours == expected, "gray converts to R = G = B = Y");
}

// ---------------------------------------------------------------------------------------
// File formats

/// The JPEG markers of `data` up to the start of the scan: (marker, segment payload).
fn jpeg_segments(data: &[u8]) -> Vec<(u8, &[u8])> {
    assert_eq!(&data[..2], [0xFF, 0xD8], "starts with SOI");
    assert_eq!(&data[data.len() - 2..], [0xFF, 0xD9], "ends with EOI");
    let mut segments = Vec::new();
    let mut at = 2;
    loop {
        assert_eq!(data[at], 0xFF, "a marker at byte {at}");
        let marker = data[at + 1];
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        segments.push((marker, &data[at + 4..at + 2 + len]));
        if marker == 0xDA {
            return segments;
        }
        at += 2 + len;
    }
}

/// The quantisation tables of a DQT payload, in natural (row-major) order, by table id.
fn quant_tables(payload: &[u8]) -> Vec<(u8, [u16; 64])> {
    const ZIGZAG: [usize; 64] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
        21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60,
        61, 54, 47, 55, 62, 63,
    ];
    let mut tables = Vec::new();
    let mut rest = payload;
    while let Some((&pq_tq, tail)) = rest.split_first() {
        assert_eq!(pq_tq >> 4, 0, "8-bit quantisation table (baseline)");
        let mut table = [0u16; 64];
        for (k, &q) in tail[..64].iter().enumerate() {
            table[ZIGZAG[k]] = u16::from(q);
        }
        tables.push((pq_tq & 15, table));
        rest = &tail[64..];
    }
    tables
}

/// The Annex K table scaled to `quality` the way libjpeg (IJG) does.
fn ijg_table(base: &[u16; 64], quality: u32) -> [u16; 64] {
    let scale = if quality < 50 { 5000 / quality } else { 200 - 2 * quality };
    base.map(|q| ((u32::from(q) * scale + 50) / 100).clamp(1, 255) as u16)
}

#[test]
fn jpeg_is_baseline_420_quality_85() {
    const ANNEX_K_LUMA: [u16; 64] = [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29,
        51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121,
        120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ];
    const ANNEX_K_CHROMA: [u16; 64] = [
        17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99,
    ];
    let video = fixture("gop25_25fps.mp4");
    let image = thumbnail(&video, "vframe/jpg/offset/1/w/200");
    assert_eq!((image.format, image.width, image.height), (Format::Jpeg, 200, 150));
    let segments = jpeg_segments(&image.data);
    let markers: Vec<u8> = segments.iter().map(|s| s.0).collect();
    assert!(
        !markers.iter().any(|m| (0xC1..=0xCF).contains(m) && ![0xC4, 0xC8, 0xCC].contains(m)),
        "only baseline frames (SOF0), got markers {markers:02X?}"
    );
    let sof = segments.iter().find(|s| s.0 == 0xC0).expect("a baseline SOF0 frame").1;
    assert_eq!(sof[0], 8, "8-bit samples");
    assert_eq!(u16::from_be_bytes([sof[1], sof[2]]), 150, "height");
    assert_eq!(u16::from_be_bytes([sof[3], sof[4]]), 200, "width");
    assert_eq!(sof[5], 3, "three components");
    // Component: id, sampling (H<<4 | V), quantisation table.
    let sampling: Vec<u8> = sof[6..15].chunks(3).map(|c| c[1]).collect();
    assert_eq!(sampling, [0x22, 0x11, 0x11], "4:2:0: luma 2x2, chroma 1x1");
    let table_of: Vec<u8> = sof[6..15].chunks(3).map(|c| c[2]).collect();
    let tables: Vec<(u8, [u16; 64])> =
        segments.iter().filter(|s| s.0 == 0xDB).flat_map(|s| quant_tables(s.1)).collect();
    let table = |id: u8| tables.iter().find(|t| t.0 == id).expect("the table a component uses").1;
    assert_eq!(table(table_of[0]), ijg_table(&ANNEX_K_LUMA, 85), "luma table of quality 85");
    assert_eq!(table(table_of[1]), ijg_table(&ANNEX_K_CHROMA, 85), "chroma table of quality 85");
    assert_eq!(table(table_of[2]), ijg_table(&ANNEX_K_CHROMA, 85), "chroma table of quality 85");
    assert_ne!(ijg_table(&ANNEX_K_LUMA, 85), ijg_table(&ANNEX_K_LUMA, 75), "the check can tell qualities apart");

    // It is the same picture as the PNG, within JPEG's loss (checked by ffmpeg's decoder).
    let png = our_pixels(&video, "vframe/png/offset/1/w/200", 200, 150);
    let decoded = common::decoded_rgb(&image.data, "jpg");
    // Luma only: 4:2:0 drops most of the chroma of testsrc2's saturated edges, by design.
    let luma = |rgb: &[u8]| -> Vec<u8> {
        rgb.chunks(3)
            .map(|p| (0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])).round() as u8)
            .collect()
    };
    let db = psnr(&luma(&decoded), &luma(&png));
    assert!(db > 30.0, "JPEG vs PNG of the same thumbnail: luma PSNR {db:.1} dB");
}

#[test]
fn flat_colours_keep_their_levels_in_every_format() {
    // A losslessly coded flat colour, limited-range 4:2:0 as video is, comes back at its
    // level, scaled or not: PNG within one step (limited range rounds), JPEG at quality
    // 100 within one more, WebP (whose own 4:2:0 conversion rounds too) within two. A
    // conversion that drifts (swscale's table-based packed-RGB path gives white as 253)
    // fails here, where the PSNR of a busy picture would hide it.
    for colour in [[255u8, 255, 255], [128, 128, 128], [191, 191, 191], [255, 0, 0], [0, 0, 255], [16, 160, 64]] {
        let hex: String = colour.iter().map(|c| format!("{c:02X}")).collect();
        let video = common::TempPath::new(&format!("flat-{hex}-{}.mp4", common::unique_id()));
        common::ffmpeg(&[
            "-f".as_ref(),
            "lavfi".as_ref(),
            "-i".as_ref(),
            format!("color=c=0x{hex}:s=64x64:r=5:d=1").as_ref(),
            "-pix_fmt".as_ref(),
            "yuv420p".as_ref(),
            "-c:v".as_ref(),
            "libx264".as_ref(),
            "-qp".as_ref(),
            "0".as_ref(),
            video.0.as_os_str(),
        ]);
        for (spec, tolerance) in [
            ("vframe/png/offset/0.4", 1),
            ("vframe/png/offset/0.4/w/40", 1),
            ("vframe/jpg/offset/0.4/q/100", 1),
            ("vframe/jpg/offset/0.4/w/40/q/100", 1),
            ("vframe/webp/offset/0.4/q/100", 2),
        ] {
            let image = thumbnail(&video.0, spec);
            let pixels = match image.format {
                Format::Png => png_pixels(&image.data).2,
                format => common::decoded_rgb(&image.data, format.as_str()),
            };
            assert!(!pixels.is_empty(), "{hex} {spec}: no pixels");
            let worst = pixels.chunks(3).flat_map(|p| p.iter().zip(colour).map(|(&a, b)| a.abs_diff(b))).max().unwrap();
            assert!(worst <= tolerance, "{hex} {spec}: a channel is {worst} levels off, want <= {tolerance}");
        }
    }
}

#[test]
fn pictures_kept_at_their_size_match_ffmpegs_conversion_in_any_pixel_format() {
    // Unscaled, swscale's converters to planar RGB differ from its scaler's arithmetic for
    // some formats (limited-range gray by up to 19 levels, P010 and RGB565 by 7): a picture
    // kept at its size must come out as ffmpeg converts it with vframe's flags.
    for pix_fmt in ["gray", "p010le", "rgb565le", "nv24", "yuv420p"] {
        let video = common::TempPath::new(&format!("native-{pix_fmt}-{}.nut", common::unique_id()));
        let mut args: Vec<String> = [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=332x186:r=10:d=1",
            "-vf",
            &format!("format={pix_fmt}"),
            "-c:v",
            "rawvideo",
        ]
        .map(String::from)
        .into();
        if pix_fmt == "gray" {
            args.extend(["-color_range".into(), "tv".into()]);
        }
        args.push(video.0.display().to_string());
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        common::ffmpeg(&args);
        let ours = our_pixels(&video.0, "vframe/png/offset/0.5", 332, 186);
        let filter = format!("scale=flags={SCALE_FLAGS},format=rgb24");
        let theirs = common::ffmpeg(&[
            "-i".as_ref(),
            video.0.as_os_str(),
            "-ss".as_ref(),
            "0.5".as_ref(),
            "-frames:v".as_ref(),
            "1".as_ref(),
            "-vf".as_ref(),
            filter.as_ref(),
            "-f".as_ref(),
            "rawvideo".as_ref(),
            "-".as_ref(),
        ]);
        assert_eq!(ours.len(), theirs.len(), "{pix_fmt}: size");
        let worst = ours.iter().zip(&theirs).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "{pix_fmt}: a channel is {worst} levels from ffmpeg's conversion");
    }
}

#[test]
fn png_is_8_bit_rgb() {
    let image = thumbnail(&fixture("vp9.webm"), "vframe/png/offset/0.5/h/60");
    assert_eq!((image.format, image.width, image.height), (Format::Png, 80, 60));
    assert_eq!(&image.data[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width, height, bit depth 8, colour type 2 (RGB), no interlace.
    assert_eq!(&image.data[12..16], b"IHDR");
    assert_eq!(&image.data[16..24], [0, 0, 0, 80, 0, 0, 0, 60]);
    assert_eq!((image.data[24], image.data[25], image.data[28]), (8, 2, 0));
    let (w, h, pixels) = png_pixels(&image.data);
    assert_eq!((w, h, pixels.len()), (80, 60, 80 * 60 * 3));
}

#[test]
fn extreme_downscales_give_the_same_pixels_every_time() {
    // FFmpeg 5.1's scaler reads memory it never wrote into the picture when one pass
    // narrows it about 45 times or lowers it about 50 times: repeated calls in one process
    // gave other pixels (and the file other bytes) each time. vframe divides each side by
    // at most 32 in a pass.
    let wide = fixture("wide_4000x1000.mp4");
    let specs = [
        "vframe/png/offset/0/w/50",
        "vframe/jpg/offset/0/w/80",
        "vframe/png/offset/0/h/50/rotate/90",
        "vframe/png/offset/0/w/3840/h/20",
        "vframe/png/offset/0/w/3840/h/1",
    ];
    for spec in specs {
        let first = thumbnail(&wide, spec);
        for _ in 0..3 {
            // A decode between the calls leaves other contents on the stack.
            vframe::extract_path(fixture("gop25_25fps.mp4"), "vframe/jpg/offset/3.3").unwrap();
            assert!(thumbnail(&wide, spec).data == first.data, "{spec}: another image from the same call");
        }
    }
    // The passes are ffmpeg's scale filter twice (to 1600 wide, then to 50x13), bit for
    // bit. Both are closer to the exact box average of the full picture (35 dB) than
    // ffmpeg's one 80-fold pass (24 dB), which reads the stale memory too.
    let ours = our_pixels(&wide, "vframe/png/offset/0/w/50", 50, 13);
    let then = format!("scale=50:13:flags={SCALE_FLAGS}");
    let two_passes = ffmpeg_pixels(&wide, "0", &Reference { then: &then, ..stream_colours(&wide, (1600, 1000)) });
    assert_same("4000x1000 to 50x13", &ours, &two_passes);
    let then = format!("{then},hflip");
    let wrong = ffmpeg_pixels(&wide, "0", &Reference { then: &then, ..stream_colours(&wide, (1600, 1000)) });
    assert_different("4000x1000 to 50x13, mirrored", &ours, &wrong);
}
