//! Helpers shared by the integration tests: where the test videos are, the ffmpeg/ffprobe
//! CLIs that give the ground truth, and image comparison.
//!
//! Use it from a test file with `mod common;`. Each test binary compiles its own copy and
//! uses only part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository's root folder.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folder of small generated fixtures (`scripts/fixtures.sh`), generated on first use.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = repo_root().join("target/fixtures");
        let status = Command::new(repo_root().join("scripts/fixtures.sh"))
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("scripts/fixtures.sh runs (it needs the ffmpeg CLI)");
        assert!(status.success(), "scripts/fixtures.sh failed: {status}");
        dir
    })
}

/// A generated fixture by file name.
pub fn fixture(name: &str) -> PathBuf {
    let path = fixtures_dir().join(name);
    assert!(path.is_file(), "fixture {} was not generated", path.display());
    path
}

/// 320x180 at 1 frame/s for two hours (7200 frames, a keyframe every 10), made once with
/// the ffmpeg CLI (~15 s) and kept in target/fixtures: long runs (memory over a whole film,
/// a run stopped by a signal).
pub fn two_hour_video() -> PathBuf {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(make_two_hour_video).clone()
}

fn make_two_hour_video() -> PathBuf {
    let path = fixtures_dir().join("long_2h_1fps.mp4");
    if !path.is_file() {
        let tmp = path.with_extension(format!("tmp{}.mp4", std::process::id()));
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x180:rate=1")
            .args(["-t", "7200", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10"])
            .arg(&tmp)
            .stdin(Stdio::null())
            .status()
            .expect("the ffmpeg CLI runs");
        assert!(status.success(), "ffmpeg could not make the two-hour video");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// The shared media collection: `$VFRAME_MEDIA`, else `../shared/media` beside the
/// repository. When it is absent, tests that need it skip **loudly** (a line straight to
/// the terminal, past the test harness's capture, and a line in
/// `target/media-skips.log`, which `make test` prints at the end) — and under `CI=true`
/// they fail instead: CI must never pass without the real videos.
pub fn media_dir() -> Option<PathBuf> {
    let dir =
        std::env::var_os("VFRAME_MEDIA").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/media"));
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but the media collection is missing at {} (set VFRAME_MEDIA): {test} cannot run",
        dir.display()
    );
    note_media_skip(&format!("SKIPPED {test}: no media collection at {} (set VFRAME_MEDIA)", dir.display()));
    None
}

/// A file of the media collection, or `None` (skipped loudly, as `media_dir`) when absent.
pub fn media(name: &str) -> Option<PathBuf> {
    let path = media_dir()?.join(name);
    if path.is_file() {
        Some(path)
    } else {
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but {} is missing from the media collection: {test} cannot run",
            path.display()
        );
        note_media_skip(&format!("SKIPPED {test}: {} is absent", path.display()));
        None
    }
}

/// Says that a test skipped for want of media, where a person will see it.
fn note_media_skip(line: &str) {
    use std::io::Write;
    // Straight to the terminal: eprintln! output of a passing test is swallowed.
    let _ = writeln!(std::io::stderr(), "vframe tests: {line}");
    let log = repo_root().join("target/media-skips.log");
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "{line}");
    }
}

/// Runs the ffmpeg CLI (quiet, no stdin) with `args` and returns its stdout; panics with
/// ffmpeg's stderr if it fails.
pub fn ffmpeg(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the ffmpeg CLI runs");
    assert!(out.status.success(), "ffmpeg {:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs ffprobe with `args` on `path` and returns its stdout as text (panics on failure).
pub fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe {} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What ffprobe says about a file's container and first video stream (the one ffmpeg and
/// vframe pick on every file of the collection).
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// `format.start_time`: the file's start, the minimum over all its streams.
    pub file_start: f64,
    /// The video stream's `start_time` (seconds), if known.
    pub video_start: Option<f64>,
    /// Container duration in seconds, if known.
    pub duration: Option<f64>,
    /// The demuxer's name (`mpegts`, `mov,mp4,m4a,3gp,3g2,mj2`, ...).
    pub format_name: String,
    /// Every `stream.*` key of the video stream (`width`, `pix_fmt`, `color_space`, ...).
    pub stream: HashMap<String, String>,
    /// The display matrix (nine int32, row-major as FFmpeg stores it), if the stream has one.
    pub display_matrix: Option<[i64; 9]>,
    /// `rotation` of the display matrix side data (counter-clockwise degrees), if any.
    pub rotation: Option<f64>,
}

impl Probe {
    pub fn new(path: &Path) -> Probe {
        let text = ffprobe(
            path,
            &["-select_streams", "v:0", "-show_streams", "-show_format", "-of", "default=noprint_wrappers=0"],
        );
        let mut probe = Probe::default();
        // Sections nest ([STREAM] holds [SIDE_DATA]); `[/X]` closes the innermost.
        let mut sections: Vec<String> = Vec::new();
        let mut matrix_rows: Vec<i64> = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("[/") && line.ends_with(']') {
                sections.pop();
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                sections.push(line.trim_matches(|c| c == '[' || c == ']').to_string());
                continue;
            }
            let section = sections.last().map_or("", String::as_str);
            // The display matrix prints as three "0000000N: a b c" rows.
            if section == "SIDE_DATA" {
                if let Some((idx, rest)) = line.split_once(':') {
                    if idx.len() == 8 && idx.chars().all(|c| c.is_ascii_hexdigit()) {
                        matrix_rows.extend(rest.split_whitespace().filter_map(|v| v.parse::<i64>().ok()));
                        continue;
                    }
                }
            }
            let Some((key, value)) = line.split_once('=') else { continue };
            match section {
                "FORMAT" => match key {
                    "start_time" => probe.file_start = value.parse().unwrap_or(0.0),
                    "duration" => probe.duration = value.parse().ok(),
                    "format_name" => probe.format_name = value.to_string(),
                    _ => {}
                },
                "STREAM" => {
                    probe.stream.insert(key.to_string(), value.to_string());
                }
                "SIDE_DATA" if key == "rotation" => probe.rotation = value.parse().ok(),
                _ => {}
            }
        }
        if matrix_rows.len() == 9 {
            probe.display_matrix = Some(matrix_rows.try_into().unwrap());
        }
        // From the stream's start in its own time base: `start_time` is rounded to 6 decimals.
        let start_pts = probe.stream.get("start_pts").and_then(|v| v.parse::<i64>().ok());
        let time_base = probe.stream.get("time_base").and_then(|v| {
            let (n, d) = v.split_once('/')?;
            Some((n.parse::<f64>().ok()?, d.parse::<f64>().ok()?))
        });
        probe.video_start = match (start_pts, time_base) {
            (Some(pts), Some((n, d))) if d > 0.0 => Some(pts as f64 * n / d),
            _ => probe.stream.get("start_time").and_then(|v| v.parse().ok()),
        };
        if probe.duration.is_none() {
            probe.duration = probe.stream.get("duration").and_then(|v| v.parse().ok());
        }
        probe
    }

    /// A `stream.*` value, `""` when absent.
    pub fn get(&self, key: &str) -> &str {
        self.stream.get(key).map_or("", String::as_str)
    }

    pub fn width(&self) -> u32 {
        self.get("width").parse().unwrap_or(0)
    }

    pub fn height(&self) -> u32 {
        self.get("height").parse().unwrap_or(0)
    }

    /// The ffmpeg CLI's `-ss` for `offset` seconds on the video stream's own timeline
    /// (SPEC §2), when ffmpeg outputs the video alone (as every ground truth here does).
    ///
    /// The CLI counts from the file's start time, the minimum over all streams, while vframe
    /// counts from the video stream's. But for demuxers flagged `AVFMT_TS_DISCONT` (MPEG-TS,
    /// MPEG-PS, Ogg, ...) the CLI moves its start to the earliest stream it actually uses
    /// ("Correcting start time by ..." in its verbose log), which is then the video.
    pub fn cli_offset(&self, offset: f64) -> f64 {
        const TS_DISCONT: &[&str] = &["mpegts", "mpegtsraw", "mpeg", "ogg", "m4v", "live_flv", "dhav", "ty", "hls"];
        if TS_DISCONT.contains(&self.format_name.as_str()) {
            return offset;
        }
        offset + self.video_start.unwrap_or(self.file_start) - self.file_start
    }

    /// The sample aspect ratio as (num, den), (1, 1) when unknown.
    pub fn sar(&self) -> (u32, u32) {
        let sar = self.get("sample_aspect_ratio");
        let parsed = sar.split_once(':').and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)));
        match parsed {
            Some((n, d)) if n > 0 && d > 0 => (n, d),
            _ => (1, 1),
        }
    }
}

/// Seconds as the ffmpeg CLI takes them, in whole microseconds, rounded down: a frame at
/// 2/30 s (66666.67 µs) is at or after `-ss 0.066666`, not after `0.066667`. Below zero
/// too: the CLI counts from the file's start rounded to a µs, so a stream in a finer time
/// base can start just before it (0.3 µs in an ISMV starting at 0.0666667 s), and only a
/// negative `-ss` names that first frame. (The margin keeps a time that is a whole number
/// of µs, such as 2.9, from losing one to float error.)
pub fn seconds_arg(seconds: f64) -> String {
    let micros = (seconds * 1e6 + 1e-3).floor() as i64;
    let sign = if micros < 0 { "-" } else { "" };
    format!("{sign}{}.{:06}", micros.unsigned_abs() / 1_000_000, micros.unsigned_abs() % 1_000_000)
}

/// Peak signal-to-noise ratio of two 8-bit images, in dB (infinite when identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images of different sizes");
    let sum: u64 = a.iter().zip(b).map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2) as u64).sum();
    if sum == 0 {
        return f64::INFINITY;
    }
    let mse = sum as f64 / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// An image file's pixels (JPEG, WebP, anything ffmpeg reads) as RGB24, decoded by the
/// ffmpeg CLI.
pub fn decoded_rgb(data: &[u8], extension: &str) -> Vec<u8> {
    let file = TempPath::new(&format!("decoded-{}.{extension}", unique_id()));
    std::fs::write(&file.0, data).unwrap();
    ffmpeg(&[
        "-i".as_ref(),
        file.0.as_os_str(),
        "-f".as_ref(),
        "rawvideo".as_ref(),
        "-pix_fmt".as_ref(),
        "rgb24".as_ref(),
        "-".as_ref(),
    ])
}

/// A PNG file's pixels, which must be 8-bit RGB: (width, height, packed RGB24).
pub fn png_rgb(data: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
    let info = reader.next_frame(&mut pixels).expect("a decodable PNG");
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight), "PNG is not 8-bit RGB");
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// A scratch file path unique to this process and `name`, removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(name: &str) -> TempPath {
        let dir = std::env::temp_dir().join(format!("vframe-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempPath(dir.join(name))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Which frame an [`Shot`] takes.
#[derive(Clone, Copy, Debug)]
pub enum At {
    /// `-ss SECONDS -frames:v 1` (output seeking: decode from the start, drop earlier
    /// frames), with the ffmpeg CLI's seconds (see [`Probe::cli_offset`]).
    Offset(f64),
    /// The last frame ffmpeg decodes; it decodes from the start but keeps only frames from
    /// `from` seconds on (a guess near the end, to keep the output small). Its frames are
    /// `frame_bytes` long each.
    Last { from: f64, frame_bytes: usize },
}

/// One picture the ffmpeg CLI should produce from a file.
#[derive(Clone, Debug)]
pub struct Shot {
    pub at: At,
    /// `-pix_fmt` of the raw output (`yuv420p`, `rgb24`, ...).
    pub pix_fmt: String,
    /// A `-vf` filter chain, or empty.
    pub filter: String,
    /// Let ffmpeg apply the stream's rotation metadata (its autorotate) before `filter`.
    pub autorotate: bool,
}

/// The pictures ffmpeg produces for `shots`, all in one run over `path` (one output file
/// per shot, one decoding pass per autorotate setting used); `None` where ffmpeg wrote
/// nothing (an offset past the end).
pub fn ffmpeg_shots(path: &Path, shots: &[Shot]) -> Vec<Option<Vec<u8>>> {
    let outputs: Vec<TempPath> =
        (0..shots.len()).map(|i| TempPath::new(&format!("shot-{}-{i}.raw", unique_id()))).collect();
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    // Input 0 as coded; input 1 (the same file) rotated by ffmpeg, only if a shot wants it.
    // Autorotate is ffmpeg's default: spelling it out differs between versions (5.1's
    // `-autorotate` takes a value, 7.x's is a flag that takes none).
    args.extend(["-noautorotate".into(), "-i".into(), path.into()]);
    if shots.iter().any(|s| s.autorotate) {
        args.extend(["-i".into(), path.into()]);
    }
    for (shot, out) in shots.iter().zip(&outputs) {
        let from = match shot.at {
            At::Offset(s) => s,
            At::Last { from, .. } => from,
        };
        let input = if shot.autorotate { "1:v:0" } else { "0:v:0" };
        args.extend(["-map".into(), input.into(), "-ss".into(), seconds_arg(from).into()]);
        match shot.at {
            At::Offset(_) => args.extend(["-frames:v".into(), "1".into()]),
            // Every frame from `from` on, none dropped or repeated.
            At::Last { .. } => args.extend(["-fps_mode".into(), "passthrough".into()]),
        }
        if !shot.filter.is_empty() {
            // ffmpeg trims for -ss after the -vf chain, and keeps feeding an output's chain
            // after its last frame: without this first trim (the same start, so the same
            // frames) and select the filter would run on every frame of the file.
            let first_only = if matches!(shot.at, At::Offset(_)) { "select=eq(n\\,0)," } else { "" };
            let chain = format!("trim=start={},{first_only}{}", seconds_arg(from), shot.filter);
            args.extend(["-vf".into(), chain.into()]);
        }
        args.extend(["-f".into(), "rawvideo".into(), "-pix_fmt".into(), shot.pix_fmt.clone().into()]);
        args.push("-y".into());
        args.push(out.0.clone().into());
    }
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    ffmpeg(&refs);
    shots
        .iter()
        .zip(&outputs)
        .map(|(shot, out)| {
            let data = std::fs::read(&out.0).unwrap_or_default();
            if data.is_empty() {
                return None;
            }
            match shot.at {
                At::Offset(_) => Some(data),
                At::Last { frame_bytes, .. } => {
                    assert!(
                        frame_bytes > 0 && data.len() % frame_bytes == 0,
                        "ffmpeg wrote {} bytes, not whole frames of {frame_bytes}",
                        data.len()
                    );
                    Some(data[data.len() - frame_bytes..].to_vec())
                }
            }
        })
        .collect()
}

/// Every frame ffmpeg decodes from `path` (first video stream, no rotation), in
/// `pix_fmt`, each `frame_bytes` long. For small fixtures only.
pub fn ffmpeg_all_frames(path: &Path, pix_fmt: &str, frame_bytes: usize) -> Vec<Vec<u8>> {
    let data = ffmpeg(&[
        "-noautorotate".as_ref(),
        "-i".as_ref(),
        path.as_os_str(),
        "-map".as_ref(),
        "0:v:0".as_ref(),
        "-fps_mode".as_ref(),
        "passthrough".as_ref(),
        "-f".as_ref(),
        "rawvideo".as_ref(),
        "-pix_fmt".as_ref(),
        pix_fmt.as_ref(),
        "-".as_ref(),
    ]);
    assert!(frame_bytes > 0 && data.len() % frame_bytes == 0, "ffmpeg's frames are not {frame_bytes} bytes each");
    data.chunks_exact(frame_bytes).map(<[u8]>::to_vec).collect()
}

/// A number unique within this process, for scratch file names.
pub fn unique_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The swscale flags vframe uses (`src/av/scaler.rs`), for ffmpeg's scale filter.
pub const SCALE_FLAGS: &str = "bicubic+accurate_rnd+full_chroma_int";

/// ffmpeg's `in_color_matrix` name for the matrix vframe applies to a stream: the tagged
/// one, or, when the stream says nothing, BT.709 for pictures 720 lines or taller and
/// BT.601 below.
pub fn colour_matrix(probe: &Probe) -> &'static str {
    match probe.get("color_space") {
        "bt709" => "bt709",
        "fcc" => "fcc",
        "smpte240m" => "smpte240m",
        "bt2020nc" | "bt2020c" => "bt2020",
        "smpte170m" | "bt470bg" => "bt601",
        _ if probe.height() >= 720 => "bt709",
        _ => "bt601",
    }
}

/// ffmpeg's `in_range` for a stream: `pc` for full range (tagged, or a `yuvj` format).
pub fn colour_range(probe: &Probe) -> &'static str {
    if probe.get("color_range") == "pc" || probe.get("pix_fmt").starts_with("yuvj") {
        "pc"
    } else {
        "tv"
    }
}

/// The tone mapping vframe applies to HDR (PQ, HLG) pictures (`src/av/tonemap.rs`), as an
/// ffmpeg filter chain ending in 8-bit BT.709 RGB.
pub const HDR_TO_SDR: &str =
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709,format=gbrp";

/// Whether the stream is HDR: a PQ (`smpte2084`) or HLG (`arib-std-b67`) transfer.
pub fn is_hdr(probe: &Probe) -> bool {
    matches!(probe.get("color_transfer"), "smpte2084" | "arib-std-b67")
}

/// Whether this FFmpeg has the filters tone mapping needs (zimg's zscale, tonemap).
pub fn has_tone_mapping() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let out = Command::new("ffmpeg").args(["-hide_banner", "-filters"]).output().expect("ffmpeg runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let has = |name: &str| text.lines().any(|l| l.split_whitespace().nth(1) == Some(name));
        has("zscale") && has("tonemap")
    })
}

/// ffmpeg's filters doing what vframe does to a frame: tone mapping for HDR (where FFmpeg
/// can), then scaling to `width` x `height` and converting to RGB24 with the stream's
/// matrix and range.
pub fn rgb_filter(probe: &Probe, width: u32, height: u32) -> String {
    if is_hdr(probe) && has_tone_mapping() {
        return format!("{HDR_TO_SDR},scale={width}:{height}:flags={SCALE_FLAGS},format=rgb24");
    }
    format!(
        "scale={width}:{height}:flags={SCALE_FLAGS}:in_color_matrix={}:in_range={},format=rgb24",
        colour_matrix(probe),
        colour_range(probe)
    )
}

/// Sets the extended attribute `name` of `path` (not following a link) to `value`; false
/// where the file system keeps no such attributes.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (path, name) = (cstring(path.as_os_str().as_bytes()), cstring(name.as_bytes()));
    // SAFETY: NUL-terminated strings; `value` is valid for its length.
    let set = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if set == 0 {
        return true;
    }
    let e = std::io::Error::last_os_error();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTSUP), "setting {name:?}: {e}");
    false
}

/// The extended attributes of `path` (not following a link), by name.
pub fn xattrs(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = cstring(path.as_os_str().as_bytes());
    let mut names = vec![0u8; 65536];
    // SAFETY: the buffer is valid for its length; `path` is NUL-terminated.
    let len = unsafe { libc::llistxattr(path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(len >= 0, "listing the attributes: {}", std::io::Error::last_os_error());
    names.truncate(len as usize);
    let mut all = std::collections::BTreeMap::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let c_name = cstring(name);
        let mut value = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe { libc::lgetxattr(path.as_ptr(), c_name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        assert!(len >= 0, "reading {c_name:?}: {}", std::io::Error::last_os_error());
        value.truncate(len as usize);
        all.insert(String::from_utf8_lossy(name).into_owned(), value);
    }
    all
}

fn cstring(bytes: &[u8]) -> std::ffi::CString {
    std::ffi::CString::new(bytes).expect("no NUL")
}

/// A POSIX access ACL in the kernel's `system.posix_acl_access` form: the owner `rw-`, user
/// `uid` `r--`, the group and others `r--`, the mask `r--` (so `getfacl` shows `user:UID:r--`).
pub fn access_acl(uid: u32) -> Vec<u8> {
    const ANY: u32 = u32::MAX;
    let entries: [(u16, u16, u32); 5] =
        [(0x01, 6, ANY), (0x02, 4, uid), (0x04, 4, ANY), (0x10, 4, ANY), (0x20, 4, ANY)];
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    acl
}

/// An earlier thumbnail at an output (a JPEG's structure: start, a comment, end): the CLI
/// replaces whole still pictures, and refuses to replace anything else.
pub const OLD_THUMB: &[u8] = b"\xFF\xD8\xFF\xFE\x00\x16an earlier thumbnail\xFF\xD9";
