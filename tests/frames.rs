//! Many frames in one pass (SPEC §8), on generated fixtures and the real media collection:
//! every frame of a `vsample` and every tile of a storyboard is the image a single
//! `vframe/…/offset/T` call gives at its moment T; fast mode answers with the keyframe at
//! or before the offset (ffprobe's key frames are the ground truth) and exact stays the
//! default; `q` changes sizes monotonically; WebP decodes to the PNG's picture.

mod common;

use std::path::Path;

use common::{decoded_rgb, fixture, png_rgb, psnr};
use vframe::{Input, Options, SampleSpec, Spec, StoryboardSpec};

fn options() -> Options {
    Options { timeout: None, ..Options::default() }
}

/// Samples `path` with `spec` and checks every frame against a single call at its moment;
/// returns the moments.
fn sample_equals_single_calls(path: &Path, spec: &str) -> Vec<u64> {
    let spec: SampleSpec = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
    let name = path.file_name().unwrap().to_string_lossy();
    let frames = vframe::sample(Input::Path(path), &spec, &options()).unwrap_or_else(|e| panic!("{name} {spec}: {e}"));
    assert!(!frames.is_empty(), "{name} {spec}: no frame");
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.index, i);
        let single = spec.look.at(frame.offset_ms);
        let image = vframe::extract(Input::Path(path), &single, &options())
            .unwrap_or_else(|e| panic!("{name} {single}: a single call failed: {e}"));
        assert!(image == frame.image, "{name} {spec}: frame {i} at {} ms differs from {single}", frame.offset_ms);
        assert_eq!(frame.key, spec.key(i));
    }
    let moments: Vec<u64> = frames.iter().map(|f| f.offset_ms).collect();
    assert!(moments.windows(2).all(|w| w[0] < w[1]), "{name} {spec}: moments not in time order: {moments:?}");
    moments
}

#[test]
fn samples_equal_single_calls_on_fixtures() {
    // A long GOP with B-frames: several moments per GOP (decoding on) and a seek between.
    let moments = sample_equals_single_calls(&fixture("bframes_gop250.mp4"), "vsample/png/interval/0.7/s/160x");
    assert_eq!(moments, (0..15).map(|i| i * 700).collect::<Vec<_>>(), "every 0.7 s over the 10 s video");
    // A span and a count: 7 frames spread over 1.5 s .. 4.5 s.
    let moments = sample_equals_single_calls(&fixture("gop25_25fps.mp4"), "vsample/jpg/ss/1.5/t/3/frames/7/s/x120");
    assert_eq!(moments, vec![1500, 1928, 2357, 2785, 3214, 3642, 4071]);
    // MPEG-TS starting at 600 s (no index: seeks land late and go back), VFR Matroska
    // (no stream duration: the file's), untimed frames at a cut's head, rotation.
    sample_equals_single_calls(&fixture("start600.ts"), "vsample/png/interval/0.9");
    sample_equals_single_calls(&fixture("vfr.mkv"), "vsample/png/interval/0.4/s/120x");
    sample_equals_single_calls(&fixture("cut_untimed_head.mkv"), "vsample/png/interval/0.3");
    sample_equals_single_calls(&fixture("rotate270.mp4"), "vsample/jpg/frames/4/rotate/auto/q/60");
    sample_equals_single_calls(&fixture("mpeg4.avi"), "vsample/webp/interval/0.5/s/100x");
}

#[test]
fn fast_samples_equal_fast_single_calls() {
    sample_equals_single_calls(&fixture("bframes_gop250.mp4"), "vsample/png/interval/1/mode/fast");
    sample_equals_single_calls(&fixture("start600.ts"), "vsample/png/interval/0.5/mode/fast");
    sample_equals_single_calls(&fixture("gop25_25fps.mp4"), "vsample/jpg/frames/9/mode/fast");
}

#[test]
fn a_span_past_the_end_stops_at_the_last_frame() {
    // The 6 s video sampled for 100 s: moments stop at the end, the last is inside it.
    let moments = sample_equals_single_calls(&fixture("gop25_25fps.mp4"), "vsample/png/ss/4/t/100/interval/1.5");
    assert_eq!(moments, vec![4000, 5500]);
    // More frames asked than the span has: each frame once (as Qiniu documents).
    let spec: SampleSpec = "vsample/png/ss/1/t/0.2/frames/20".parse().unwrap();
    let frames = vframe::sample(Input::Path(&fixture("gop25_25fps.mp4")), &spec, &options()).unwrap();
    // Moments 1.00, 1.01, ... 1.19 s: answered by the frames at 1.00 ... 1.16 s and, for
    // 1.17-1.19 s, the first frame at or after them, 1.20 s.
    let times: Vec<i64> = frames.iter().map(|f| (f.time * 1000.0).round() as i64).collect();
    assert_eq!(times, vec![1000, 1040, 1080, 1120, 1160, 1200]);
    // A start after the end is an error, not an empty sample.
    let spec: SampleSpec = "vsample/png/ss/60".parse().unwrap();
    let err = vframe::sample(Input::Path(&fixture("gop25_25fps.mp4")), &spec, &options()).unwrap_err();
    assert!(err.message().contains("after the end of the video"), "{err}");
}

#[test]
fn samples_stream_and_report_failures() {
    let spec: SampleSpec = "vsample/jpg/interval/1".parse().unwrap();
    let err = vframe::sample(Input::Path(&fixture("audio_only.m4a")), &spec, &options()).unwrap_err();
    assert_eq!(err.status(), vframe::Status::NoVideoStream);
    let bytes = std::fs::read(fixture("gop25_25fps.mp4")).unwrap();
    let mut stream = vframe::Sample::open(Input::Memory(&bytes), &spec, &options()).unwrap();
    assert_eq!(stream.planned(), Some(6));
    let first = stream.next().unwrap().unwrap();
    assert_eq!((first.offset_ms, first.image.format), (0, vframe::Format::Jpeg));
    assert_eq!(stream.count(), 5);
}

/// The crop of a packed RGB24 image.
fn crop(rgb: &[u8], width: u32, (x, y, w, h): (u32, u32, u32, u32)) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        let at = ((row * width + x) * 3) as usize;
        out.extend_from_slice(&rgb[at..at + (w * 3) as usize]);
    }
    out
}

/// Makes a PNG storyboard of `path` and checks every tile against a single call at its
/// moment, the cues against the tiles, and the background; returns the index.
fn storyboard_equals_single_calls(path: &Path, spec: &str) -> vframe::StoryboardIndex {
    let spec: StoryboardSpec = spec.parse().unwrap();
    let (sheets, index) = vframe::storyboard(Input::Path(path), &spec, &options()).unwrap();
    assert_eq!(sheets.len(), index.sheets.len());
    let decoded: Vec<(u32, u32, Vec<u8>)> = sheets.iter().map(|s| png_rgb(&s.image.data)).collect();
    let look = spec.look;
    for (i, tile) in index.tiles.iter().enumerate() {
        let single = Spec { width: Some(index.tile_width), height: Some(index.tile_height), ..look.at(tile.start_ms) };
        let (w, h, want) = png_rgb(&vframe::extract(Input::Path(path), &single, &options()).unwrap().data);
        assert_eq!((w, h), (index.tile_width, index.tile_height));
        let (sw, _, sheet) = &decoded[tile.sheet];
        let got = crop(sheet, *sw, (tile.x, tile.y, w, h));
        assert!(got == want, "tile {i} (sheet {}, {},{}) differs from {single}", tile.sheet, tile.x, tile.y);
    }
    for (n, sheet) in sheets.iter().enumerate() {
        assert_eq!((sheet.index, &sheet.name), (n, &index.sheets[n].name));
        assert_eq!((sheet.image.width, sheet.image.height), (decoded[n].0, decoded[n].1));
        let (first, count) = (sheet.first_tile, sheet.tile_count);
        assert!(index.tiles[first..first + count].iter().all(|t| t.sheet == n));
    }
    // Cues follow each other without gaps.
    assert!(index.tiles.windows(2).all(|w| w[0].end_ms == w[1].start_ms && w[0].start_ms < w[1].start_ms));
    let vtt = index.vtt();
    assert!(vtt.starts_with("WEBVTT\n"));
    assert_eq!(vtt.matches("#xywh=").count(), index.tiles.len());
    index
}

#[test]
fn storyboards_equal_single_calls() {
    let spec = "storyboard/png/interval/0.5/s/64x48/columns/4/rows/2/margin/3/padding/2/color/ff0000";
    let index = storyboard_equals_single_calls(&fixture("bframes_gop250.mp4"), spec);
    // 10 s every 0.5 s: 20 tiles, 8 a sheet: sheets of 8, 8 and 4 (one row, cropped).
    assert_eq!(index.tiles.len(), 20);
    let sizes: Vec<(u32, u32, usize)> = index.sheets.iter().map(|s| (s.width, s.height, s.tiles)).collect();
    let full = (3 * 2 + 4 * 64 + 3 * 2, 3 * 2 + 2 * 48 + 2);
    assert_eq!(sizes, vec![(full.0, full.1, 8), (full.0, full.1, 8), (full.0, 3 * 2 + 48, 4)]);
    assert_eq!((index.tiles[9].x, index.tiles[9].y, index.tiles[9].sheet), (3 + 66, 3, 1));
    assert_eq!((index.tiles[19].start_ms, index.tiles[19].end_ms), (9500, 10_000));
    // The margin has the colour asked for.
    let (sheets, _) =
        vframe::storyboard(Input::Path(&fixture("bframes_gop250.mp4")), &spec.parse().unwrap(), &options()).unwrap();
    let (_, _, rgb) = png_rgb(&sheets[0].image.data);
    assert_eq!(&rgb[..3], &[255, 0, 0]);
    // Rotation and the default tile width; a count; fast mode.
    let index = storyboard_equals_single_calls(&fixture("rotate270.mp4"), "storyboard/png/frames/6/rotate/auto");
    assert_eq!((index.tile_width, index.tile_height), (160, 213));
    storyboard_equals_single_calls(&fixture("start600.ts"), "storyboard/png/interval/1/s/80x/mode/fast/columns/3");
}

#[test]
fn storyboard_index_files() {
    let spec: StoryboardSpec = "storyboard/jpg/interval/2/s/80x60/columns/2/rows/1".parse().unwrap();
    let (sheets, index) = vframe::storyboard(Input::Path(&fixture("gop25_25fps.mp4")), &spec, &options()).unwrap();
    assert_eq!(sheets.len(), 2);
    assert_eq!(
        index.vtt(),
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard-000001.jpg#xywh=0,0,80,60\n\n\
         00:00:02.000 --> 00:00:04.000\nstoryboard-000001.jpg#xywh=80,0,80,60\n\n\
         00:00:04.000 --> 00:00:06.000\nstoryboard-000002.jpg#xywh=0,0,80,60\n"
    );
    let json = index.json();
    assert!(
        json.starts_with("{\"format\":\"jpg\",\"tile_width\":80,\"tile_height\":60,\"columns\":2,\"rows\":1,"),
        "{json}"
    );
    assert!(json.contains("\"sheets\":[{\"name\":\"storyboard-000001.jpg\",\"width\":160,\"height\":60,\"tiles\":2},"));
    assert!(json.contains("{\"sheet\":1,\"x\":0,\"y\":0,\"start\":4.000,\"end\":6.000,\"time\":4.000000}"), "{json}");
    // Sheets too large are refused at the tile that makes them so: ten 2000-pixel tiles
    // a row would be 20000 wide; the ninth already makes 18000, past the 16383 limit.
    let spec: StoryboardSpec = "storyboard/jpg/s/2000x/interval/0.5/columns/10".parse().unwrap();
    let err = vframe::storyboard(Input::Path(&fixture("gop25_25fps.mp4")), &spec, &options()).unwrap_err();
    assert_eq!(err.status(), vframe::Status::LimitExceeded);
    assert!(err.message().contains("a sheet of 9x1 tiles of 2000x1500 would be 18000x1500"), "{err}");
    // A span with fewer moments than a sheet holds is judged by the sheet it makes: one
    // tile (the default interval over a 6 s video) is a 2000x1500 sheet, not a 10x10 grid.
    let spec: StoryboardSpec = "storyboard/jpg/s/2000x/columns/10".parse().unwrap();
    let (sheets, index) = vframe::storyboard(Input::Path(&fixture("gop25_25fps.mp4")), &spec, &options()).unwrap();
    assert_eq!((sheets.len(), sheets[0].image.width, sheets[0].image.height), (1, 2000, 1500));
    assert_eq!((index.columns, index.rows, index.tiles.len()), (10, 10, 1));
    // Fewer frames than moments (`frames/10` of a one-frame video gives that frame once):
    // the sheet is judged by the tile it got, not by the ten moments planned.
    let one = common::TempPath::new("one-frame.mp4");
    common::ffmpeg(&[
        "-f".as_ref(),
        "lavfi".as_ref(),
        "-i".as_ref(),
        "testsrc2=size=64x48:rate=25".as_ref(),
        "-frames:v".as_ref(),
        "1".as_ref(),
        "-y".as_ref(),
        one.0.as_os_str(),
    ]);
    let spec: StoryboardSpec = "storyboard/png/s/3840x/frames/10/columns/10/rows/1".parse().unwrap();
    let (sheets, index) = vframe::storyboard(Input::Path(&one.0), &spec, &options()).unwrap();
    assert_eq!(index.tiles.len(), 1);
    assert_eq!((sheets.len(), sheets[0].image.width, sheets[0].image.height), (1, index.tile_width, index.tile_height));
    assert!(index.tile_width * 10 > vframe::MAX_SHEET_SIDE, "ten such tiles a row would be refused");
}

/// Key frame times (seconds from the stream's start) as ffprobe decodes them with
/// `-skip_frame nokey`.
fn keyframe_times(path: &Path) -> Vec<f64> {
    let probe = common::Probe::new(path);
    let start = probe.video_start.unwrap_or(0.0);
    let text = common::ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-skip_frame",
            "nokey",
            "-show_entries",
            "frame=pts_time,key_frame",
            "-of",
            "csv=p=0",
        ],
    );
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(',');
            let (key, pts) = (fields.next()?, fields.next()?);
            (key.trim() == "1").then(|| pts.trim().parse::<f64>().ok()).flatten()
        })
        .map(|t| t - start)
        .collect();
    assert!(times.len() >= 2, "{}: ffprobe found {} key frames", path.display(), times.len());
    times
}

#[test]
fn fast_mode_returns_the_keyframe_at_or_before_and_exact_stays_the_default() {
    for (name, offsets) in [
        ("bframes_gop250.mp4", &[0.0, 4.2, 8.3, 8.34, 9.9, 30.0][..]),
        ("gop25_25fps.mp4", &[0.5, 1.0, 3.99, 5.2][..]),
        ("start600.ts", &[0.1, 2.5, 5.0, 7.5][..]),
        ("yuv422p10.mkv", &[0.5, 1.0, 2.9][..]),
        ("tiny_h264.mkv", &[0.25, 0.55, 5.0][..]),
    ] {
        let path = fixture(name);
        let keys = keyframe_times(&path);
        for &offset in offsets {
            let ms = (offset * 1000.0) as u64;
            let fast = vframe::decode_keyframe(Input::Path(&path), ms, &options()).unwrap();
            let want = keys.iter().copied().filter(|&k| k <= offset + 1e-6).fold(keys[0], f64::max);
            assert!(
                (fast.time - want).abs() < 0.002,
                "{name} at {offset}: fast gave {} s, the keyframe is {want} s",
                fast.time
            );
            // The same picture exact selection decodes at the keyframe's time.
            let exact = vframe::decode_frame(Input::Path(&path), (want * 1000.0).floor() as u64, &options()).unwrap();
            assert!(exact.data == fast.data, "{name} at {offset}: the keyframe's picture differs");
            // Exact is the default: without /mode the frame at the offset.
            let spec: Spec = format!("vframe/png/offset/{offset}").parse().unwrap();
            let default = vframe::extract(Input::Path(&path), &spec, &options()).unwrap();
            let exact_frame = vframe::decode_frame(Input::Path(&path), ms, &options()).unwrap();
            let fast_png =
                vframe::extract(Input::Path(&path), &Spec { mode: vframe::Mode::Fast, ..spec.clone() }, &options())
                    .unwrap();
            if (exact_frame.time - fast.time).abs() > 0.001 {
                assert!(default != fast_png, "{name} at {offset}: the default must be exact, not the keyframe");
            }
        }
    }
}

fn sizes(spec: &str) -> Vec<usize> {
    [10, 30, 50, 70, 90, 100]
        .iter()
        .map(|q| {
            let spec: Spec = format!("{spec}/q/{q}").parse().unwrap();
            vframe::extract(Input::Path(&fixture("bframes_gop250.mp4")), &spec, &options()).unwrap().data.len()
        })
        .collect()
}

#[test]
fn quality_changes_size_monotonically_and_defaults_are_85_and_80() {
    for spec in ["vframe/jpg/offset/3", "vframe/webp/offset/3"] {
        let sizes = sizes(spec);
        assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{spec}: sizes {sizes:?} do not grow with q");
    }
    let path = fixture("bframes_gop250.mp4");
    let get = |s: &str| vframe::extract(Input::Path(&path), &s.parse().unwrap(), &options()).unwrap().data;
    assert_eq!(get("vframe/jpg/offset/3"), get("vframe/jpg/offset/3/q/85"));
    assert_eq!(get("vframe/webp/offset/3"), get("vframe/webp/offset/3/q/80"));
}

#[test]
fn webp_decodes_to_the_png_picture() {
    let path = fixture("bframes_gop250.mp4");
    let get = |s: &str| vframe::extract(Input::Path(&path), &s.parse().unwrap(), &options()).unwrap();
    let (w, h, want) = png_rgb(&get("vframe/png/offset/4.2/w/240").data);
    // The yardstick: the default JPEG, decoded the same way (testsrc2's saturated edges and
    // 4:2:0 chroma bound both formats' PSNR).
    let jpeg_db = psnr(&decoded_rgb(&get("vframe/jpg/offset/4.2/w/240").data, "jpg"), &want);
    let mut last = 0.0;
    for q in [30, 80, 100] {
        let webp = get(&format!("vframe/webp/offset/4.2/w/240/q/{q}"));
        assert_eq!(&webp.data[..4], b"RIFF");
        assert_eq!(&webp.data[8..12], b"WEBP");
        assert_eq!((webp.width, webp.height, webp.format), (w, h, vframe::Format::Webp));
        let db = psnr(&decoded_rgb(&webp.data, "webp"), &want);
        eprintln!("webp q {q}: {} bytes, {db:.1} dB against the PNG (jpg q 85: {jpeg_db:.1} dB)", webp.data.len());
        assert!(db > 20.0 && db > last, "webp q {q}: {db:.1} dB against the PNG (previous {last:.1})");
        if q >= 80 {
            assert!(db >= jpeg_db, "webp q {q}: {db:.1} dB, below the default JPEG's {jpeg_db:.1} dB");
        }
        last = db;
    }
}

/// The real media collection: on every video, a sample (4 moments over its length, PNG,
/// rotation followed) and a fast sample equal single calls, and a storyboard's tiles equal
/// single thumbnails.
#[test]
fn samples_equal_single_calls_on_the_media_collection() {
    let Some(dir) = common::media_dir() else { return };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let name = fields[0];
        if name.starts_with("corrupt_") || name.starts_with("hls/") || name.starts_with("truncated_") {
            continue;
        }
        let Some(path) = common::media(name) else { return };
        let duration: f64 = fields.get(14).and_then(|d| d.parse().ok()).unwrap_or(4.0);
        let interval = format!("{:.3}", (duration / 4.0).max(0.05));
        sample_equals_single_calls(&path, &format!("vsample/png/interval/{interval}/s/96x/rotate/auto"));
        sample_equals_single_calls(&path, &format!("vsample/jpg/interval/{interval}/s/96x/mode/fast"));
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} videos checked");
    for name in [
        "h264_high_bframes_960x540_aac.mp4",
        "rotation_minus90_phone_h264_4k60.mp4",
        "mpeg2_interlaced_bff_480i_sar32x27_ac3.ts",
    ] {
        let Some(path) = common::media(name) else { return };
        storyboard_equals_single_calls(
            &path,
            "storyboard/png/interval/0.5/s/64x/columns/4/rows/3/rotate/auto/padding/1",
        );
    }
}
