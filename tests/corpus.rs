//! Every video of the shared media collection (`MANIFEST.tsv` in `$VFRAME_MEDIA` or
//! `../shared/media`), at several offsets: the frame and the thumbnail against the ffmpeg
//! CLI's ground truth.
//!
//! For each file the offsets are the start, a frame in the middle that is not a keyframe,
//! an exact frame boundary, just before the end and past the end (chosen from the file's
//! packet timestamps). At each:
//! - `vframe::decode_frame` must equal `ffmpeg -i F -ss T -frames:v 1 -f rawvideo` bit
//!   for bit (past the end: the last frame ffmpeg decodes);
//! - `vframe/png/offset/T/rotate/auto` must have the SPEC §3 size (display size after
//!   SAR correction and the rotation ffmpeg's autorotate applies, capped at 3840x2160) and
//!   match ffmpeg's RGB of that frame (same swscale flags, matrix and range; ffmpeg
//!   rotates) within `SAME_PICTURE_DB`;
//! - the same offsets through one `vframe::Source` (backwards, then forwards) must give
//!   the same images and frames as the fresh calls.
//!
//! Corrupt inputs (`corrupt_*`, the HLS playlist) must fail with a status and a message.
//! The test prints a table (run with `--nocapture` to see it) and writes it to
//! `target/corpus-report.md`. Without the media folder it skips (and passes).

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use common::{At, Probe, Shot};
use vframe::{Input, Options, Status};

/// The same frame through the same scaler (ffmpeg may rotate before scaling, vframe after).
const SAME_PICTURE_DB: f64 = 45.0;

/// The SPEC §3 caps.
const MAX_WIDTH: u32 = 3840;
const MAX_HEIGHT: u32 = 2160;

/// One offset to check, with why it was chosen.
#[derive(Clone, Debug)]
struct Offset {
    ms: u64,
    label: &'static str,
}

/// The video's frame times (seconds from the video stream's first timestamp, sorted) and
/// which are keyframes, from its packets: no decoding needed.
fn frame_times(path: &Path, probe: &Probe) -> Vec<(f64, bool)> {
    let tb = probe.get("time_base");
    let (num, den) =
        tb.split_once('/').map_or((1.0, 1.0), |(n, d)| (n.parse().unwrap_or(1.0), d.parse().unwrap_or(1.0)));
    let text =
        common::ffprobe(path, &["-select_streams", "v:0", "-show_entries", "packet=pts,dts,flags", "-of", "csv=p=0"]);
    let start = probe.video_start.unwrap_or(0.0);
    let mut times: Vec<(f64, bool)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(',');
            let (pts, dts, flags) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            if flags.contains('D') {
                return None; // dropped by an edit list: never shown
            }
            let ticks: f64 = pts.parse().or_else(|_| dts.parse()).ok()?;
            Some((ticks * num / den - start, flags.contains('K')))
        })
        .collect();
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    times.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9);
    times
}

/// The offsets to check on a video with these frame times.
fn offsets(times: &[(f64, bool)], duration: Option<f64>) -> Vec<Offset> {
    let mut out = vec![Offset { ms: 0, label: "start" }];
    let ms = |t: f64| (t * 1000.0).round().max(0.0) as u64;
    let n = times.len();
    if n >= 3 {
        // A non-keyframe near the middle, aimed at half-way between it and the frame before.
        if let Some(k) = (n / 2..n).chain(1..n / 2).find(|&k| !times[k].1 && times[k].0 - times[k - 1].0 > 0.004) {
            out.push(Offset { ms: ms((times[k - 1].0 + times[k].0) / 2.0), label: "mid non-key" });
        }
        // A frame whose time is a whole millisecond, from a third of the way in.
        let exact = (n / 3..n - 1).find(|&k| {
            let t = times[k].0 * 1000.0;
            k > 0 && (t - t.round()).abs() < 1e-6
        });
        match exact {
            Some(k) => out.push(Offset { ms: ms(times[k].0), label: "boundary" }),
            None => out.push(Offset { ms: ms(times[n / 3].0), label: "≈boundary" }),
        }
    }
    let last = times.last().map_or(0.0, |t| t.0);
    if last > 0.005 {
        out.push(Offset { ms: (last * 1000.0).floor() as u64 - 1, label: "before end" });
    }
    let end = duration.unwrap_or(0.0).max(last);
    out.push(Offset { ms: ms(end) + 5000, label: "past end" });
    out.dedup_by_key(|o| o.ms);
    out
}

/// The size SPEC §3 gives with no w/h: display size (SAR-corrected; SARs within 1% of 1:1
/// are square), turned by the rotation, capped at 3840x2160 keeping the aspect.
fn expected_size(probe: &Probe, transposed: bool) -> (u32, u32) {
    let (num, den) = probe.sar();
    let square = (f64::from(num) / f64::from(den) - 1.0).abs() < 0.01;
    let width = if square {
        probe.width()
    } else {
        ((u64::from(probe.width()) * u64::from(num) * 2 + u64::from(den)) / (2 * u64::from(den))) as u32
    };
    let (mut w, mut h) = if transposed { (probe.height(), width) } else { (width, probe.height()) };
    let round =
        |a: u32, b: u32, c: u32| ((2 * u64::from(a) * u64::from(b) + u64::from(c)) / (2 * u64::from(c))).max(1) as u32;
    if w > MAX_WIDTH || h > MAX_HEIGHT {
        if u64::from(w) * u64::from(MAX_HEIGHT) >= u64::from(h) * u64::from(MAX_WIDTH) {
            (w, h) = (MAX_WIDTH, round(h, MAX_WIDTH, w));
        } else {
            (w, h) = (round(w, MAX_HEIGHT, h), MAX_HEIGHT);
        }
    }
    (w, h)
}

/// How ffmpeg should orient the reference thumbnail: its own autorotate, except for a
/// mirrored display matrix, which ffmpeg 5.1's autorotate turns without mirroring (6.1+
/// honours the mirror); there the answer is spelled out as ffmpeg ≥ 6.1 gives it.
struct Orientation {
    autorotate: bool,
    /// Filters before scaling (with autorotate off).
    filters: &'static str,
    transposed: bool,
}

fn orientation(probe: &Probe) -> Orientation {
    let quarter = probe.rotation.map(|r| (r / 90.0).round() as i64 % 2 != 0);
    let mirrored = probe.display_matrix.is_some_and(|m| m[0] * m[4] - m[1] * m[3] < 0);
    let rotate_tag = probe.get("TAG:rotate").parse::<i64>().ok();
    match (quarter, mirrored) {
        (Some(_), true) => {
            // Only the transpose matrix [0 1; 1 0] is in the collection.
            let m = probe.display_matrix.unwrap();
            assert!(m[0] == 0 && m[4] == 0 && m[1] > 0 && m[3] > 0, "unexpected mirrored matrix {m:?}");
            Orientation { autorotate: false, filters: "transpose=cclock_flip,", transposed: true }
        }
        (Some(q), false) => Orientation { autorotate: true, filters: "", transposed: q },
        // Nothing to turn (or only a legacy tag): one decoding pass serves raw and RGB.
        (None, _) => Orientation {
            autorotate: rotate_tag.is_some(),
            filters: "",
            transposed: rotate_tag.is_some_and(|r| r.rem_euclid(180) == 90),
        },
    }
}

/// PSNR of two raw pictures of `pix_fmt`: 16-bit little-endian samples scaled to their
/// bit depth for high-bit-depth formats, bytes otherwise.
fn raw_psnr(pix_fmt: &str, a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    let bits: Option<u32> = ["9le", "10le", "12le", "14le", "16le"]
        .iter()
        .find(|s| pix_fmt.ends_with(*s))
        .map(|s| s.trim_end_matches("le").parse().unwrap());
    match bits {
        None => common::psnr(a, b),
        Some(bits) => {
            let peak = f64::from((1u32 << bits) - 1);
            let sum: f64 = a
                .chunks_exact(2)
                .zip(b.chunks_exact(2))
                .map(|(x, y)| {
                    let d = f64::from(u16::from_le_bytes([x[0], x[1]])) - f64::from(u16::from_le_bytes([y[0], y[1]]));
                    d * d
                })
                .sum();
            if sum == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (peak * peak / (sum / (a.len() / 2) as f64)).log10()
            }
        }
    }
}

fn db(v: f64) -> String {
    if v.is_infinite() {
        "exact".into()
    } else if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.1} dB")
    }
}

/// One row of the report.
struct Row {
    file: String,
    offset: String,
    raw: String,
    rgb: String,
    size: String,
    ms: u128,
    pass: bool,
    note: String,
}

/// vframe's answers at one offset, from fresh calls.
struct Ours {
    raw: Result<vframe::DecodedFrame, vframe::Error>,
    png: Result<vframe::Image, vframe::Error>,
    ms: u128,
}

fn check_video(path: &Path, name: &str, rows: &mut Vec<Row>) {
    let probe = Probe::new(path);
    let times = frame_times(path, &probe);
    let offsets = offsets(&times, probe.duration);
    let orient = orientation(&probe);
    let (want_w, want_h) = expected_size(&probe, orient.transposed);
    let options = Options::default();

    // vframe first: its pixel format names the raw format to ask ffmpeg for.
    let ours: Vec<Ours> = offsets
        .iter()
        .map(|o| {
            let started = Instant::now();
            let raw = vframe::decode_frame(Input::Path(path), o.ms, &options);
            let spec = format!("vframe/png/offset/{}.{:03}/rotate/auto", o.ms / 1000, o.ms % 1000);
            let png = vframe::extract(Input::Path(path), &spec.parse().unwrap(), &options);
            Ours { raw, png, ms: started.elapsed().as_millis() }
        })
        .collect();
    let pix_fmt = ours
        .iter()
        .find_map(|o| o.raw.as_ref().ok().map(|f| f.pixel_format.clone()))
        .unwrap_or_else(|| probe.get("pix_fmt").to_string());
    let raw_bytes = ours.iter().find_map(|o| o.raw.as_ref().ok().map(|f| f.data.len())).unwrap_or(0);
    let rgb_bytes = (want_w * want_h * 3) as usize;

    let filter = format!("{}{}", orient.filters, common::rgb_filter(&probe, want_w, want_h));
    let last_from = probe.cli_offset(times.last().map_or(0.0, |t| t.0) - 2.0);
    let shots_for = |from: f64| -> Vec<Shot> {
        let mut shots = Vec::new();
        for o in &offsets {
            let at = At::Offset(probe.cli_offset(o.ms as f64 / 1000.0));
            shots.push(Shot { at, pix_fmt: pix_fmt.clone(), filter: String::new(), autorotate: false });
            shots.push(Shot { at, pix_fmt: "rgb24".into(), filter: filter.clone(), autorotate: orient.autorotate });
        }
        if raw_bytes > 0 {
            let at = At::Last { from, frame_bytes: raw_bytes };
            shots.push(Shot { at, pix_fmt: pix_fmt.clone(), filter: String::new(), autorotate: false });
        }
        let at = At::Last { from, frame_bytes: rgb_bytes };
        shots.push(Shot { at, pix_fmt: "rgb24".into(), filter: filter.clone(), autorotate: orient.autorotate });
        shots
    };
    let ffmpeg_started = Instant::now();
    let mut truth = common::ffmpeg_shots(path, &shots_for(last_from.max(0.0)));
    if truth.last().unwrap().is_none() && last_from > 0.0 {
        // The packet times misled the guess of where the end is: decode it all.
        truth = common::ffmpeg_shots(path, &shots_for(0.0));
    }
    eprintln!("{name}: ground truth in {:.1} s", ffmpeg_started.elapsed().as_secs_f64());
    let last_rgb = truth.pop().unwrap();
    let last_raw = if raw_bytes > 0 { truth.pop().unwrap() } else { None };
    let through_handle = handle_differences(path, &offsets, &ours, &options);

    for (i, (o, ours)) in offsets.iter().zip(&ours).enumerate() {
        let (raw_truth, rgb_truth) = (&truth[2 * i], &truth[2 * i + 1]);
        let raw_truth = raw_truth.as_ref().or(last_raw.as_ref());
        let rgb_truth = rgb_truth.as_ref().or(last_rgb.as_ref());
        let mut notes = Vec::new();
        let raw = match (&ours.raw, raw_truth) {
            (Ok(f), Some(t)) => raw_psnr(&pix_fmt, &f.data, t),
            (Ok(_), None) => {
                notes.push("ffmpeg decodes no frame".to_string());
                f64::NAN
            }
            (Err(e), _) => {
                notes.push(format!("decode_frame: {e}"));
                f64::NAN
            }
        };
        let (rgb, size) = match (&ours.png, rgb_truth) {
            (Ok(image), truth) => {
                let (w, h, pixels) = common::png_rgb(&image.data);
                let size = format!("{w}x{h}");
                if (w, h) != (want_w, want_h) {
                    notes.push(format!("size {w}x{h}, want {want_w}x{want_h}"));
                    (f64::NAN, size)
                } else {
                    (truth.map_or(f64::NAN, |t| common::psnr(&pixels, t)), size)
                }
            }
            (Err(e), _) => {
                notes.push(format!("extract: {e}"));
                (f64::NAN, "-".into())
            }
        };
        if let Some(why) = &through_handle[i] {
            notes.push(format!("handle: {why}"));
        }
        let pass = raw.is_infinite() && rgb >= SAME_PICTURE_DB && notes.is_empty();
        if !raw.is_infinite() && !raw.is_nan() {
            notes.push("not bit-exact".into());
        }
        if rgb < SAME_PICTURE_DB {
            notes.push(format!("RGB under {SAME_PICTURE_DB} dB"));
        }
        rows.push(Row {
            file: name.to_string(),
            offset: format!("{}.{:03} ({})", o.ms / 1000, o.ms % 1000, o.label),
            raw: db(raw),
            rgb: db(rgb),
            size,
            ms: ours.ms,
            pass,
            note: notes.join("; "),
        });
    }
}

/// The same offsets through one `vframe::Source`, backwards (every target a seek back)
/// then forwards (decoding on where no keyframe is between): for each offset, what differs
/// from the fresh calls' frame and image, if anything.
fn handle_differences(path: &Path, offsets: &[Offset], fresh: &[Ours], options: &Options) -> Vec<Option<String>> {
    let mut differences: Vec<Option<String>> = vec![None; offsets.len()];
    let mut source = match vframe::Source::open(Input::Path(path), options) {
        Ok(source) => source,
        Err(e) => return vec![Some(format!("open: {e}")); offsets.len()],
    };
    let order = (0..offsets.len()).rev().chain(0..offsets.len());
    for i in order {
        let ms = offsets[i].ms;
        let spec = format!("vframe/png/offset/{}.{:03}/rotate/auto", ms / 1000, ms % 1000);
        let png = source.extract(&spec.parse().unwrap());
        let raw = source.decode_frame(ms);
        let same_png = match (&png, &fresh[i].png) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.status() == b.status(),
            _ => false,
        };
        let same_raw = match (&raw, &fresh[i].raw) {
            (Ok(a), Ok(b)) => a.data == b.data && a.time == b.time,
            (Err(a), Err(b)) => a.status() == b.status(),
            _ => false,
        };
        if !(same_png && same_raw) && differences[i].is_none() {
            differences[i] = Some(format!(
                "through one Source the {} differs from a fresh call's",
                if same_png { "decoded frame" } else { "image" }
            ));
        }
    }
    differences
}

/// A file that must be refused: both entry points fail with a status and a message.
fn check_refused(path: &Path, name: &str, rows: &mut Vec<Row>) {
    let started = Instant::now();
    let raw = vframe::decode_frame(Input::Path(path), 1000, &Options::default());
    let png = vframe::extract_path(path, "vframe/png/offset/1");
    let ms = started.elapsed().as_millis();
    let describe = |e: &vframe::Error| format!("{:?}: {}", e.status(), e);
    let (pass, note) = match (raw, png) {
        (Err(a), Err(b)) => {
            let clear = |e: &vframe::Error| {
                !matches!(e.status(), Status::Ok | Status::Internal) && !e.message().trim().is_empty()
            };
            (clear(&a) && clear(&b), describe(&b))
        }
        (Ok(_), _) | (_, Ok(_)) => (false, "accepted a corrupt input".into()),
    };
    rows.push(Row {
        file: name.into(),
        offset: "1.000".into(),
        raw: "-".into(),
        rgb: "-".into(),
        size: "-".into(),
        ms,
        pass,
        note,
    });
}

#[test]
fn every_video_of_the_collection_gives_ffmpegs_frame() {
    let Some(dir) = common::media_dir() else { return };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv is readable");
    let started = Instant::now();
    // VFRAME_CORPUS_ONLY=part checks only the files whose name contains `part`.
    let only = std::env::var("VFRAME_CORPUS_ONLY").ok();
    let mut rows = Vec::new();
    for line in manifest.lines().skip(1) {
        let name = line.split('\t').next().unwrap_or("");
        let path = dir.join(name);
        if name.is_empty() || !path.is_file() {
            continue;
        }
        if only.as_ref().is_some_and(|only| !name.contains(only.as_str())) {
            continue;
        }
        let refused = name.starts_with("corrupt_") || name.ends_with(".m3u8");
        if refused {
            check_refused(&path, name, &mut rows);
        } else {
            check_video(&path, name, &mut rows);
        }
    }

    let mut report = String::from(
        "| file | offset s | raw planes | RGB PSNR | size | ms | result | note |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let result = if r.pass { "pass" } else { "FAIL" };
        writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} | {result} | {} |",
            r.file, r.offset, r.raw, r.rgb, r.size, r.ms, r.note
        )
        .unwrap();
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    writeln!(report, "\n{} checks, {failed} failed, {:.0} s", rows.len(), started.elapsed().as_secs_f64()).unwrap();
    println!("{report}");
    let _ = std::fs::write(common::repo_root().join("target/corpus-report.md"), &report);
    assert!(only.is_some() || rows.len() > 10, "the manifest lists almost nothing");
    assert_eq!(failed, 0, "{failed} corpus checks failed:\n{report}");
}
