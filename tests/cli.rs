//! The `vframe` command as a user runs it: `vframe INPUT SPEC -o OUTPUT`, several specs into
//! a folder, and a jobs file.
//!
//! Success writes exactly the image the library makes; failure prints one line on stderr,
//! exits non-zero (2 for usage errors) and leaves no output file and no temporary file; in
//! the batch forms a failing job fails alone.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::{fixture, OLD_THUMB};

const VFRAME: &str = env!("CARGO_BIN_EXE_vframe");

/// An empty folder of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vframe-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Names of the files in the folder, sorted (hidden ones included).
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vframe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(VFRAME).args(args).output().expect("the vframe binary runs")
}

/// Runs `vframe INPUT SPEC -o OUTPUT`.
fn run(input: &Path, spec: &str, output: &Path) -> Output {
    vframe(&[input.as_os_str(), spec.as_ref(), "-o".as_ref(), output.as_os_str()])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure as SPEC and the usage promise: exit 1, one line on stderr naming `names`,
/// nothing on stdout.
fn assert_fails(out: &Output, names: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(err.starts_with("vframe: ") && err.ends_with('\n'), "stderr: {err:?}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    for name in names {
        assert!(err.contains(name), "stderr {err:?} should contain {name:?}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

/// A run of several images where some failed: exit 1, stderr naming `names`.
fn assert_some_fail(out: &Output, names: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    for name in names {
        assert!(err.contains(name), "stderr {err:?} should contain {name:?}");
    }
}

fn assert_usage_error(out: &Output, names: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2; stderr: {err}");
    assert!(err.contains("usage: vframe INPUT SPEC -o OUTPUT"), "stderr: {err}");
    for name in names {
        assert!(err.contains(name), "stderr {err:?} should contain {name:?}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn writes_the_image_the_library_makes() {
    let scratch = Scratch::new("writes");
    let video = fixture("gop25_25fps.mp4");
    for (spec, name, magic, size) in [
        ("vframe/jpg/offset/1/w/160", "thumb.jpg", &b"\xFF\xD8\xFF"[..], (160, 120)),
        ("vframe/png/offset/2.04/h/60/rotate/90", "thumb.png", &b"\x89PNG\r\n\x1a\n"[..], (45, 60)),
    ] {
        let output = scratch.path(name);
        let out = run(&video, spec, &output);
        assert!(out.status.success(), "{spec}: {}", stderr(&out));
        assert!(out.stderr.is_empty() && out.stdout.is_empty(), "silent on success");
        let written = std::fs::read(&output).unwrap();
        assert!(written.starts_with(magic), "{spec}: a {name}");
        let expected = vframe::extract_path(&video, spec).unwrap();
        assert_eq!((expected.width, expected.height), size);
        assert!(written == expected.data, "{spec}: the file holds the library's image");
    }
    assert_eq!(scratch.files(), ["thumb.jpg", "thumb.png"], "no temporary file left");
}

#[test]
fn replaces_an_existing_output_file() {
    let scratch = Scratch::new("replaces");
    let output = scratch.path("thumb.jpg");
    std::fs::write(&output, OLD_THUMB).unwrap();
    let out = run(&fixture("gop25_25fps.mp4"), "vframe/jpg/offset/1", &output);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&output).unwrap().starts_with(b"\xFF\xD8"));
    assert_eq!(scratch.files(), ["thumb.jpg"]);
}

#[test]
fn dash_writes_to_standard_output() {
    let video = fixture("vp9.webm");
    let out = vframe(&[video.as_os_str(), "vframe/png/offset/1/w/64".as_ref(), "-o".as_ref(), "-".as_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty());
    let expected = vframe::extract_path(&video, "vframe/png/offset/1/w/64").unwrap();
    assert!(out.stdout == expected.data, "stdout holds exactly the PNG");
    // --output= is the long form.
    let out = vframe(&[video.as_os_str(), "vframe/jpg/offset/1".as_ref(), "--output=-".as_ref()]);
    assert!(out.status.success() && out.stdout.starts_with(b"\xFF\xD8"), "{}", stderr(&out));
}

#[test]
fn failures_print_one_line_and_write_nothing() {
    let scratch = Scratch::new("failures");
    let output = scratch.path("thumb.jpg");
    let video = fixture("gop25_25fps.mp4");

    // A bad spec is named, and reported before the input is even opened.
    assert_fails(&run(&video, "vframe/gif/offset/1", &output), &["invalid spec", "format 'gif'"]);
    assert_fails(&run(&video, "vframe/jpg/offset/-1", &output), &["offset '-1'"]);
    assert_fails(&run(Path::new("/nonexistent/x.mp4"), "vframe/jpg/offset/x", &output), &["offset 'x'"]);
    assert_fails(&run(&video, "vframe/jpg/offset/1\nrm -rf /", &output), &["offset '1\\nrm -rf '"]);

    let missing = scratch.path("missing.mp4");
    assert_fails(&run(&missing, "vframe/jpg/offset/1", &output), &["missing.mp4", "cannot open"]);
    assert_fails(&run(&scratch.0, "vframe/jpg/offset/1", &output), &["directory"]);
    assert_fails(&run(&fixture("audio_only.m4a"), "vframe/jpg/offset/1", &output), &["audio_only.m4a", "no video"]);

    let garbage = scratch.path("garbage.mp4");
    std::fs::write(&garbage, (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect::<Vec<u8>>())
        .unwrap();
    assert_fails(&run(&garbage, "vframe/jpg/offset/1", &output), &["garbage.mp4"]);
    let empty = scratch.path("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert_fails(&run(&empty, "vframe/jpg/offset/1", &output), &["empty.mp4"]);

    // An HLS playlist of a real local segment, even named .mp4, is refused.
    let segment = fixture("start600.ts");
    for name in ["list.m3u8", "list.mp4"] {
        let playlist = scratch.path(name);
        std::fs::write(
            &playlist,
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXTINF:8.0,\n{}\n#EXT-X-ENDLIST\n", segment.display()),
        )
        .unwrap();
        assert_fails(&run(&playlist, "vframe/jpg/offset/1", &output), &[name, "unsupported input"]);
    }

    // Nothing was written: not the output, not a temporary file.
    assert_eq!(scratch.files(), ["empty.mp4", "garbage.mp4", "list.m3u8", "list.mp4"]);
}

#[test]
fn a_failure_leaves_an_existing_output_file_alone() {
    let scratch = Scratch::new("keeps");
    let output = scratch.path("thumb.jpg");
    std::fs::write(&output, OLD_THUMB).unwrap();
    assert_fails(&run(&fixture("audio_only.m4a"), "vframe/jpg/offset/1", &output), &["no video"]);
    assert_eq!(std::fs::read(&output).unwrap(), OLD_THUMB);
    assert_eq!(scratch.files(), ["thumb.jpg"]);
}

#[test]
fn the_shared_hls_playlist_is_refused() {
    let Some(playlist) = common::media("hls/sd-hls.m3u8") else { return };
    let scratch = Scratch::new("hls");
    let out = run(&playlist, "vframe/jpg/offset/1", &scratch.path("thumb.jpg"));
    assert_fails(&out, &["sd-hls.m3u8", "unsupported input"]);
    assert!(scratch.files().is_empty());
}

#[test]
fn an_unwritable_output_is_a_failure() {
    let scratch = Scratch::new("unwritable");
    let video = fixture("gop25_25fps.mp4");
    let out = run(&video, "vframe/jpg/offset/1", &scratch.path("no/such/dir/thumb.jpg"));
    assert_fails(&out, &["cannot write", "thumb.jpg"]);
    // A folder where the file should go.
    std::fs::create_dir(scratch.path("taken.jpg")).unwrap();
    std::fs::write(scratch.path("taken.jpg/inside"), b"x").unwrap();
    assert_fails(&run(&video, "vframe/jpg/offset/1", &scratch.path("taken.jpg")), &["cannot write"]);
    assert_eq!(scratch.files(), ["taken.jpg"], "no temporary file left");
}

#[test]
fn usage_errors_exit_2() {
    let scratch = Scratch::new("usage");
    let video = fixture("gop25_25fps.mp4");
    let v = video.as_os_str();
    let spec = "vframe/jpg/offset/1".as_ref();
    let out = scratch.path("thumb.jpg");
    let o = out.as_os_str();
    assert_usage_error(&vframe(&[]), &["-o OUTPUT is missing"]);
    assert_usage_error(&vframe(&[v, spec]), &["-o OUTPUT is missing"]);
    assert_usage_error(&vframe(&[v, "-o".as_ref(), o]), &["expected INPUT and SPEC, got 1"]);
    assert_usage_error(&vframe(&[v, spec, spec, "-o".as_ref(), "-".as_ref()]), &["must name a folder"]);
    assert_usage_error(&vframe(&["--jobs".as_ref(), o, v, spec]), &["--jobs takes no INPUT"]);
    assert_usage_error(&vframe(&["--jobs".as_ref(), o, "-o".as_ref(), o]), &["--jobs takes no INPUT"]);
    assert_usage_error(&vframe(&["--jobs".as_ref()]), &["--jobs needs a file name"]);
    assert_usage_error(&vframe(&[v, spec, "-o".as_ref()]), &["-o needs a file name"]);
    assert_usage_error(&vframe(&[v, spec, "-o".as_ref(), "".as_ref()]), &["-o needs a file name"]);
    assert_usage_error(&vframe(&[v, spec, "-o".as_ref(), o, "-o".as_ref(), o]), &["more than once"]);
    assert_usage_error(&vframe(&[v, spec, "--quality".as_ref(), "90".as_ref(), "-o".as_ref(), o]), &["'--quality'"]);
    assert_usage_error(&vframe(&["".as_ref(), spec, "-o".as_ref(), o]), &["INPUT is empty"]);
    assert!(scratch.files().is_empty(), "nothing written");
}

#[test]
fn double_dash_ends_the_options() {
    let scratch = Scratch::new("dashdash");
    // A file whose name starts with '-'.
    let odd = scratch.path("-odd.mp4");
    std::fs::copy(fixture("gop25_25fps.mp4"), &odd).unwrap();
    let out = Command::new(VFRAME)
        .current_dir(&scratch.0)
        .args(["-o", "thumb.jpg", "--", "-odd.mp4", "vframe/jpg/offset/1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(scratch.path("thumb.jpg")).unwrap().starts_with(b"\xFF\xD8"));
}

#[test]
fn version_and_help() {
    let out = vframe(&["--version".as_ref()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("vframe {}\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(vframe(&["-V".as_ref()]).stdout, vframe(&["--version".as_ref()]).stdout);
    let out = vframe(&["--help".as_ref()]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.starts_with("usage: vframe INPUT SPEC -o OUTPUT"), "{help}");
    assert!(help.contains("vframe/<jpg|png>/offset/<seconds>"), "{help}");
}

#[test]
fn help_or_version_that_cannot_be_written_is_a_failure() {
    for flag in ["--help", "--version"] {
        let out =
            vframe_with(&[flag.as_ref()], None, std::fs::File::create("/dev/full").unwrap().into(), Stdio::piped());
        assert_fails(&out, &["cannot write to standard output"]);
        let closed = Command::new("sh").args(["-c", &format!("exec \"$0\" {flag} >&-"), VFRAME]).output().unwrap();
        assert_fails(&closed, &["not open"]);
    }
}

#[test]
fn mistakes_in_the_arguments_are_usage_errors_before_any_work() {
    let scratch = Scratch::new("mistakes");
    let video = scratch.path("a.mp4");
    std::fs::copy(fixture("gop25_25fps.mp4"), &video).unwrap();
    let other = scratch.path("b.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &other).unwrap();
    let (v, b) = (video.as_os_str(), other.as_os_str());
    let spec = "vframe/jpg/offset/1".as_ref();
    let dir = scratch.path("thumbs");
    let (d, o) = (dir.as_os_str(), "-o".as_ref());
    // The SPEC first: the order is said, nothing is opened.
    assert_usage_error(&vframe(&[spec, v, o, scratch.path("t.jpg").as_os_str()]), &["the order is INPUT SPEC"]);
    assert_usage_error(&vframe(&["?vframe/jpg/offset/1".as_ref(), v, o, d]), &["the order is INPUT SPEC"]);
    // A stray word among several SPECs (a second video, an output name) makes no folder
    // and writes nothing, rather than failing alone beside images written.
    assert_usage_error(&vframe(&[v, b, spec, o, d]), &["'", "b.mp4' is not a SPEC"]);
    assert_usage_error(&vframe(&[v, spec, "thumb.jpg".as_ref(), o, d]), &["'thumb.jpg' is not a SPEC"]);
    assert_eq!(scratch.files(), ["a.mp4", "b.mp4"]);
    // A malformed SPEC among several still fails alone (it is one).
    let out = vframe(&[v, spec, "vframe/jpg/offset/x".as_ref(), o, d]);
    assert_some_fail(&out, &["SPEC 2", "offset"]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "the good SPEC's image");
    // A URL: vframe reads local files, and says so.
    let url = "https://example.com/video.mp4";
    assert_fails(&run(Path::new(url), "vframe/jpg/offset/1", &scratch.path("u.jpg")), &["not URLs"]);
    assert!(!scratch.path("u.jpg").exists());
}

#[test]
fn dash_as_input_reads_standard_input() {
    let scratch = Scratch::new("dash-input");
    let video = fixture("gop25_25fps.mp4");
    let spec = "vframe/jpg/offset/1.5/w/64";
    let out = scratch.path("t.jpg");
    let args = ["-".as_ref(), spec.as_ref(), "-o".as_ref(), out.as_os_str()];
    let run = vframe_with(&args, Some(&video), Stdio::null(), Stdio::piped());
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read(&out).unwrap() == library_image(&video, spec), "the image of the video on standard input");
    // Standard input closed by the caller: said, nothing written.
    std::fs::remove_file(&out).unwrap();
    let closed = Command::new("sh")
        .args(["-c", "exec \"$0\" - \"$1\" -o \"$2\" <&-", VFRAME, spec, out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_fails(&closed, &["standard input", "not open"]);
    assert!(scratch.files().is_empty());
    // Standard error appended to the video read from standard input: nothing is said, so
    // nothing lands in the video, whatever the failure (a usage error included).
    let copy = scratch.path("in.mp4");
    std::fs::copy(&video, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    for args in [
        vec!["-", spec, spec, "notaspec", "-o", "dir"],
        vec!["-", spec, "--unknown", "-o", "x.jpg"],
        vec!["-", spec, spec, "-o", "-"],
    ] {
        let script = format!("cd \"$1\" && exec \"$0\" {} < in.mp4 2>> in.mp4", args.join(" "));
        let out = Command::new("sh").args(["-c", &script, VFRAME, scratch.0.to_str().unwrap()]).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(std::fs::read(&copy).unwrap() == before, "{args:?}: the video on standard input is as it was");
    }
    // A jobs line's INPUT `-` is said to be for the command line (the jobs file may be
    // standard input itself), never read as a file './-'.
    let jobs = scratch.path("jobs.txt");
    std::fs::write(&jobs, format!("-\t{spec}\t{}\n", scratch.path("j.jpg").display())).unwrap();
    assert_some_fail(&vframe(&["--jobs".as_ref(), jobs.as_os_str()]), &["jobs.txt:1", "INPUT '-'", "command line"]);
}

// ---- Where the image goes: nothing the user owns is ever replaced by mistake ----

#[test]
fn an_existing_file_that_is_not_an_image_is_never_replaced() {
    let scratch = Scratch::new("not-an-image");
    let video = scratch.path("a.mp4");
    std::fs::copy(fixture("gop25_25fps.mp4"), &video).unwrap();
    let spec = "vframe/jpg/offset/1/w/64";
    // `-o b.mp4` where b.mp4 was meant as another input, `-o notes.txt`: refused before
    // any work, kept byte for byte.
    let other = scratch.path("b.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &other).unwrap();
    let notes = scratch.path("notes.txt");
    std::fs::write(&notes, b"my notes\n").unwrap();
    for kept in [&other, &notes] {
        let before = std::fs::read(kept).unwrap();
        assert_fails(&run(&video, spec, kept), &["cannot write", "is not an image", "remove it first"]);
        assert!(std::fs::read(kept).unwrap() == before);
    }
    // Images (an earlier thumbnail, a PNG where a JPEG goes) and empty files are replaced.
    let png = scratch.path("earlier.png");
    std::fs::write(&png, library_image(&video, "vframe/png/offset/0/w/32")).unwrap();
    let empty = scratch.path("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    for replaced in [&png, &empty] {
        let out = run(&video, spec, replaced);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(std::fs::read(replaced).unwrap() == library_image(&video, spec));
    }
    // Several SPECs into a folder: the name holding a video fails alone.
    let dir = scratch.path("thumbs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("tiny_h264.mp4"), dir.join("a-1.jpg")).unwrap();
    let out = vframe(&[video.as_os_str(), spec.as_ref(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert_some_fail(&out, &["a-1.jpg", "is not an image"]);
    assert!(std::fs::read(dir.join("a-1.jpg")).unwrap() == std::fs::read(fixture("tiny_h264.mp4")).unwrap());
    assert!(dir.join("a-2.jpg").exists());
    // A jobs file: that line fails alone.
    let jobs = scratch.path("jobs.txt");
    let line = |out: &Path| format!("{}\t{spec}\t{}\n", video.display(), out.display());
    std::fs::write(&jobs, line(&notes) + &line(&scratch.path("new.jpg"))).unwrap();
    let out = vframe(&["--jobs".as_ref(), jobs.as_os_str()]);
    assert_some_fail(&out, &["jobs.txt:1", "is not an image"]);
    assert_eq!(std::fs::read(&notes).unwrap(), b"my notes\n");
    assert!(scratch.path("new.jpg").exists());
    // vsample into a folder where a frame's name holds a document: nothing is replaced.
    let frames = scratch.path("frames");
    std::fs::create_dir(&frames).unwrap();
    std::fs::write(frames.join("000002.jpg"), b"not a frame").unwrap();
    let out = vframe(&[video.as_os_str(), "vsample/jpg/frames/3/s/32x".as_ref(), "-o".as_ref(), frames.as_os_str()]);
    assert_fails(&out, &["000002.jpg", "is not an image"]);
    assert_eq!(std::fs::read_dir(&frames).unwrap().count(), 1);
    assert_eq!(std::fs::read(frames.join("000002.jpg")).unwrap(), b"not a frame");
    // JSON and WebVTT files are documents like any other outside a storyboard's own names.
    let package = scratch.path("package.json");
    std::fs::write(&package, b"{\"name\": \"mine\"}\n").unwrap();
    let subtitles = scratch.path("movie.vtt");
    std::fs::write(&subtitles, b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n").unwrap();
    for kept in [&package, &subtitles] {
        let before = std::fs::read(kept).unwrap();
        assert_fails(&run(&video, spec, kept), &["is not an image"]);
        assert!(std::fs::read(kept).unwrap() == before);
    }
    // A storyboard made again replaces its own sheets and index.
    let board = scratch.path("board");
    for _ in 0..2 {
        let spec = "storyboard/jpg/interval/1/s/32x/columns/2/rows/1";
        let out = vframe(&[video.as_os_str(), spec.as_ref(), "-o".as_ref(), board.as_os_str()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(temporary_files(&scratch.0).is_empty() && temporary_files(&dir).is_empty());
}

/// Pictures in sequence in an image's format are videos someone made (a webcam's raw
/// Motion-JPEG stream, an animated PNG or WebP): never replaced, though they begin like an
/// image. Single pictures, the ffmpeg CLI's or vframe's own, still are.
#[test]
fn pictures_in_sequence_are_never_replaced() {
    let scratch = Scratch::new("in-sequence");
    let video = scratch.path("a.mp4");
    std::fs::copy(fixture("gop25_25fps.mp4"), &video).unwrap();
    let spec = "vframe/jpg/offset/1/w/64";
    let make = |name: &str, args: &[&str]| {
        let path = scratch.path(name);
        let mut all: Vec<&OsStr> = ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10"].map(OsStr::new).to_vec();
        all.extend(args.iter().map(OsStr::new));
        all.extend([OsStr::new("-y"), path.as_os_str()]);
        common::ffmpeg(&all);
        path
    };
    let sequences = [
        make("cam.mjpeg", &["-t", "2", "-c:v", "mjpeg", "-f", "mjpeg"]),
        make("cam.jpg", &["-t", "2", "-c:v", "mjpeg", "-f", "mjpeg"]),
        make("anim.png", &["-t", "2", "-plays", "0", "-f", "apng"]),
        make("anim.webp", &["-t", "2", "-c:v", "libwebp_anim", "-loop", "0"]),
        make("pipe.png", &["-t", "0.3", "-c:v", "png", "-f", "image2pipe"]),
        make("pipe.webp", &["-t", "0.3", "-c:v", "libwebp", "-f", "image2pipe"]),
    ];
    // A picture with a video after it (a motion photo), in each format.
    let mut with_video = Vec::new();
    for (name, args) in [("motion.jpg", &["-frames:v", "1"][..]), ("motion.png", &["-frames:v", "1"][..])] {
        let path = make(name, args);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(&video).unwrap());
        std::fs::write(&path, bytes).unwrap();
        with_video.push(path);
    }
    for kept in sequences.iter().chain(&with_video) {
        let before = std::fs::read(kept).unwrap();
        assert_fails(&run(&video, spec, kept), &["cannot write", "not one whole still picture", "remove it first"]);
        assert!(std::fs::read(kept).unwrap() == before, "{}", kept.display());
    }
    // The same in a folder of several SPECs, and as a vsample frame: that name fails alone.
    let dir = scratch.path("thumbs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&sequences[0], dir.join("a-1.jpg")).unwrap();
    let out = vframe(&[video.as_os_str(), spec.as_ref(), spec.as_ref(), "-o".as_ref(), dir.as_os_str()]);
    assert_some_fail(&out, &["a-1.jpg", "not one whole still picture"]);
    assert!(std::fs::read(dir.join("a-1.jpg")).unwrap() == std::fs::read(&sequences[0]).unwrap());
    let frames = scratch.path("frames");
    std::fs::create_dir(&frames).unwrap();
    std::fs::copy(&sequences[2], frames.join("000002.png")).unwrap();
    let out = vframe(&[video.as_os_str(), "vsample/png/frames/3/s/32x".as_ref(), "-o".as_ref(), frames.as_os_str()]);
    assert_fails(&out, &["000002.png", "not one whole still picture"]);
    assert!(std::fs::read(frames.join("000002.png")).unwrap() == std::fs::read(&sequences[2]).unwrap());
    // Single pictures are replaced: the ffmpeg CLI's JPEG and WebP, vframe's own in every
    // format (a second run over the first).
    let stills = [
        make("still.jpg", &["-frames:v", "1"]),
        make("still.webp", &["-frames:v", "1", "-c:v", "libwebp"]),
        make("still.png", &["-frames:v", "1"]),
    ];
    for replaced in &stills {
        let out = run(&video, spec, replaced);
        assert!(out.status.success(), "{}: {}", replaced.display(), stderr(&out));
        assert!(std::fs::read(replaced).unwrap() == library_image(&video, spec));
    }
    for format in ["jpg", "png", "webp"] {
        let own = scratch.path(&format!("own.{format}"));
        for _ in 0..2 {
            let out = run(&video, &format!("vframe/{format}/offset/1/w/48"), &own);
            assert!(out.status.success(), "{format}: {}", stderr(&out));
        }
    }
    assert!(temporary_files(&scratch.0).is_empty());
}

/// Runs `command` under a limit on `resource` (soft and hard) of `value`: the child's alone.
fn limit(command: &mut Command, resource: libc::__rlimit_resource_t, value: libc::rlim_t) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            libc::setrlimit(resource, &limit);
            Ok(())
        });
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n")
}

fn mknod(path: &Path, kind: &str, major: u32, minor: u32) -> bool {
    Command::new("mknod")
        .arg(path)
        .args([kind, &major.to_string(), &minor.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Sets `path`'s permission bits to `mode`.
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn file_type(path: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path).unwrap().file_type()
}

#[test]
fn a_fifo_is_written_in_place_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let scratch = Scratch::new("fifo");
    let fifo = scratch.path("thumbs.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // The reader never blocks for good: if the FIFO were replaced, it would wait forever on
    // the unlinked one; instead it polls, and gives up after a deadline.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(fifo).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let (mut got, mut buf) = (Vec::new(), [0u8; 65536]);
            while std::time::Instant::now() < deadline {
                match file.read(&mut buf) {
                    Ok(0) if !got.is_empty() => break,
                    Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                    _ => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
            got
        })
    };
    let video = fixture("gop25_25fps.mp4");
    let out = run(&video, "vframe/jpg/offset/1/w/64", &fifo);
    assert!(out.status.success(), "{}", stderr(&out));
    let received = reader.join().unwrap();
    assert_eq!(received, vframe::extract_path(&video, "vframe/jpg/offset/1/w/64").unwrap().data);
    assert!(file_type(&fifo).is_fifo(), "the FIFO is still a FIFO");
    assert_eq!(scratch.files(), ["thumbs.fifo"]);
}

#[test]
fn character_devices_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let video = fixture("gop25_25fps.mp4");
    // A device node of our own first, so that a regression fails here before it could
    // replace the machine's /dev/null (as root it could).
    if is_root() {
        let scratch = Scratch::new("chardev");
        let null = scratch.path("null");
        assert!(mknod(&null, "c", 1, 3));
        let out = run(&video, "vframe/jpg/offset/1", &null);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(file_type(&null).is_char_device(), "the device node is still a device node");
        assert_eq!(scratch.files(), ["null"]);
        // Block devices are refused, never opened.
        let block = scratch.path("loop");
        assert!(mknod(&block, "b", 7, 200));
        assert_fails(&run(&video, "vframe/jpg/offset/1", &block), &["cannot write", "block device"]);
        assert!(file_type(&block).is_block_device());
    } else {
        eprintln!("skipped: the device-node half of this test needs root (mknod)");
    }
    let out = run(&video, "vframe/jpg/offset/1", Path::new("/dev/null"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(file_type(Path::new("/dev/null")).is_char_device());
}

#[test]
fn descriptors_of_other_processes_or_seen_from_a_pid_namespace_are_never_replaced() {
    let scratch = Scratch::new("other-fds");
    let video = fixture("tiny_h264.mp4");
    let spec = "vframe/jpg/offset/0.1";
    // Another process's descriptor: /proc's name for it reads as a link to its file.
    let victim = scratch.path("victim.txt");
    std::fs::write(&victim, b"victim\n").unwrap();
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .stdout(std::fs::OpenOptions::new().append(true).open(&victim).unwrap())
        .spawn()
        .unwrap();
    let out = run(&video, spec, Path::new(&format!("/proc/{}/fd/1", sleeper.id())));
    assert_fails(&out, &["another process's descriptor"]);
    // ... also reached through a bind mount of its descriptor folder under another name.
    let bound = scratch.path("bound");
    std::fs::create_dir(&bound).unwrap();
    let mounted = is_root()
        && Command::new("mount")
            .args(["--bind", &format!("/proc/{}/fd", sleeper.id())])
            .arg(&bound)
            .status()
            .is_ok_and(|s| s.success());
    if mounted {
        let out = run(&video, spec, &bound.join("1"));
        let _ = Command::new("umount").arg(&bound).status();
        assert_fails(&out, &["another process's descriptor"]);
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim\n");
    // ... also through a /proc mount detached (umount -l) while the run sits in it: no path
    // leads back to /proc there, so the link itself is asked where it lives.
    if is_root() {
        let script = r#"set -e
            sleep 30 6<"$1" & SP=$!
            mkdir "$2" && mount -t proc proc "$2"
            cd "$2/$SP/fd" && umount -l "$2"
            status=0; "$0" "$3" vframe/jpg/offset/0.1 -o 6 || status=$?
            kill $SP; exit $status"#;
        let out = Command::new("sh")
            .args(["-c", script, VFRAME])
            .arg(&victim)
            .arg(scratch.path("detached"))
            .arg(&video)
            .output()
            .unwrap();
        if out.status.code() == Some(1) || stderr(&out).contains("another process") {
            assert_fails(&out, &["another process's descriptor"]);
        } else {
            eprintln!("SKIP (detached /proc): {out:?}");
        }
        assert!(std::fs::read(&victim).unwrap() == b"victim\n", "the file the other process holds is intact");
    }
    // In a PID namespace whose /proc is the parent's, /proc/self is not /proc/<own pid>:
    // an odd spelling of a read-only descriptor is still that descriptor.
    if !is_root() || !Command::new("unshare").args(["--pid", "--fork", "true"]).status().is_ok_and(|s| s.success()) {
        eprintln!("SKIP (PID namespace): needs root and unshare");
        return;
    }
    let notes = scratch.path("notes.txt");
    std::fs::write(&notes, b"my notes\n").unwrap();
    for name in ["/dev//fd/3", "/proc/self/./fd/3"] {
        let script = format!("exec 3<'{}'; exec \"$0\" \"$1\" {spec} -o {name}", notes.display());
        let out = Command::new("unshare")
            .args(["--pid", "--fork", "sh", "-c", &script, VFRAME])
            .arg(&video)
            .output()
            .unwrap();
        assert_fails(&out, &["descriptor 3 is open for reading only"]);
        assert_eq!(std::fs::read(&notes).unwrap(), b"my notes\n", "{name}");
    }
}

#[test]
fn a_non_blocking_pipe_gets_the_whole_image() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    // A pipe whose write end is non-blocking (as some runtimes hand them out), smaller than
    // the image: vframe waits for the reader instead of stopping at the pipe's 64 KiB.
    let video = fixture("gop25_25fps.mp4");
    let spec = "vframe/png/offset/1/w/1280";
    let expected = library_image(&video, spec);
    assert!(expected.len() > 1 << 17, "larger than a pipe: {} bytes", expected.len());
    for name in ["-", "/dev/stdout"] {
        let mut ends = [0; 2];
        // SAFETY: pipe2 writes two descriptors, owned here from now on.
        assert_eq!(unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(ends[1], libc::F_SETFL, libc::O_NONBLOCK) };
        let child = Command::new(VFRAME)
            .args([video.as_os_str(), spec.as_ref(), "-o".as_ref(), name.as_ref()])
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut got = Vec::new();
        std::fs::File::from(read_end).read_to_end(&mut got).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(got == expected, "{name}: {} of {} bytes", got.len(), expected.len());
    }
}

#[test]
fn dev_stdout_writes_to_the_inherited_descriptor() {
    use std::os::unix::fs::MetadataExt;
    let scratch = Scratch::new("devstdout");
    let video = fixture("gop25_25fps.mp4");
    let spec = "vframe/png/offset/1/w/32";
    let expected = vframe::extract_path(&video, spec).unwrap().data;
    // To a pipe.
    let out = run(&video, spec, Path::new("/dev/stdout"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, expected);
    // To a file opened for appending (`>> log`): appended, and the file is the same file.
    for name in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "/dev//fd/1", "/proc/self/./fd/1"] {
        let log = scratch.path("log.bin");
        std::fs::write(&log, b"earlier output\n").unwrap();
        let inode = std::fs::metadata(&log).unwrap().ino();
        let appending = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let status = Command::new(VFRAME)
            .args([video.as_os_str(), spec.as_ref(), "-o".as_ref(), name.as_ref()])
            .stdout(appending)
            .status()
            .unwrap();
        assert!(status.success(), "{name}");
        let mut want = b"earlier output\n".to_vec();
        want.extend_from_slice(&expected);
        assert!(std::fs::read(&log).unwrap() == want, "{name}: the image is appended, nothing lost");
        assert_eq!(std::fs::metadata(&log).unwrap().ino(), inode, "{name}: the same file, not a new one");
    }
    // A descriptor other than 1 and 2, given as /dev/fd/N by a shell.
    let log = scratch.path("fd3.bin");
    std::fs::write(&log, b"kept\n").unwrap();
    let script = format!("exec 3>>'{}'; exec \"$0\" \"$1\" \"$2\" -o /dev/fd/3", log.display());
    let status = Command::new("sh").args(["-c", &script, VFRAME]).arg(&video).arg(spec).status().unwrap();
    assert!(status.success());
    let mut want = b"kept\n".to_vec();
    want.extend_from_slice(&expected);
    assert!(std::fs::read(&log).unwrap() == want, "/dev/fd/3 appends to the descriptor's file");
    // The descriptor itself is written, at its offset (`3<>`: read-write, from the start).
    std::fs::write(&log, vec![b'x'; expected.len() + 4]).unwrap();
    let script = format!("exec 3<>'{}'; exec \"$0\" \"$1\" \"$2\" -o /dev/fd/3", log.display());
    let status = Command::new("sh").args(["-c", &script, VFRAME]).arg(&video).arg(spec).status().unwrap();
    assert!(status.success());
    let mut want = expected.clone();
    want.extend_from_slice(b"xxxx");
    assert!(std::fs::read(&log).unwrap() == want, "written at the descriptor's offset, not appended");
    // One open for reading only is refused, as the shell's `>&3` refuses it: the file the
    // caller opened to read is not written (it was appended to), and neither is a pipe's
    // read end given as /dev/stdin (the image went nowhere, or a large one blocked).
    // Other spellings of a descriptor's name are the descriptor too, never the file behind it
    // (read as a link, /proc's name gives the file's path, which was replaced).
    let notes = scratch.path("notes.txt");
    std::fs::write(&notes, b"my notes\n").unwrap();
    std::os::unix::fs::symlink("/dev/fd", scratch.path("fdlink")).unwrap();
    let fdlink = format!("{}/3", scratch.path("fdlink").display());
    let names = [
        ("3<", "/dev/fd/3", 3),
        ("<", "/dev/stdin", 0),
        ("3<", "/proc/self/fd/3", 3),
        ("3<", "/dev//fd/3", 3),
        ("3<", "/proc/self/./fd/3", 3),
        ("3<", fdlink.as_str(), 3),
    ];
    for (redirect, name, fd) in names {
        let script = format!("exec {redirect}'{}'; exec \"$0\" \"$1\" \"$2\" -o {name}", notes.display());
        let out = Command::new("sh").args(["-c", &script, VFRAME]).arg(&video).arg(spec).output().unwrap();
        assert_fails(&out, &[&format!("descriptor {fd} is open for reading only")]);
        assert_eq!(std::fs::read(&notes).unwrap(), b"my notes\n", "{name}");
    }
    let out = Command::new(VFRAME)
        .args([video.as_os_str(), spec.as_ref(), "-o".as_ref(), "/dev/stdin".as_ref()])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_fails(&out, &["descriptor 0 is open for reading only"]);
    assert_fails(&run(&video, spec, Path::new("/dev/fd/9")), &["descriptor 9 is not open"]);
    // A standard descriptor the caller closed is not open either, though the runtime puts
    // /dev/null there: the image would vanish with exit 0.
    for (close, name, why) in [
        (">&-", "-", "standard output is not open"),
        (">&-", "/dev/stdout", "descriptor 1 is not open"),
        ("<&-", "/dev/stdin", "descriptor 0 is not open"),
        ("2>&-", "/dev/stderr", ""),
    ] {
        let script = format!("exec \"$0\" \"$1\" \"$2\" -o {name} {close}");
        let out = Command::new("sh").args(["-c", &script, VFRAME]).arg(&video).arg(spec).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name} {close}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{name} {close}: {}", stderr(&out));
    }
}

#[test]
fn a_symlink_is_followed_and_its_target_replaced() {
    let scratch = Scratch::new("symlink");
    let video = fixture("gop25_25fps.mp4");
    let spec = "vframe/jpg/offset/1/w/48";
    let expected = vframe::extract_path(&video, spec).unwrap().data;
    std::fs::create_dir(scratch.path("real")).unwrap();
    std::fs::write(scratch.path("real/thumb.jpg"), OLD_THUMB).unwrap();
    std::os::unix::fs::symlink("real/thumb.jpg", scratch.path("latest.jpg")).unwrap();
    std::os::unix::fs::symlink(scratch.path("latest.jpg"), scratch.path("chain.jpg")).unwrap();
    for link in ["latest.jpg", "chain.jpg"] {
        let out = run(&video, spec, &scratch.path(link));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(file_type(&scratch.path(link)).is_symlink(), "{link} is still a link");
        assert!(std::fs::read(scratch.path("real/thumb.jpg")).unwrap() == expected, "{link}: target replaced");
    }
    // A link to a file that does not exist yet: the file is created where it points.
    std::os::unix::fs::symlink("real/new.jpg", scratch.path("dangling.jpg")).unwrap();
    let out = run(&video, spec, &scratch.path("dangling.jpg"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(scratch.path("real/new.jpg")).unwrap() == expected);
    assert_eq!(scratch.files(), ["chain.jpg", "dangling.jpg", "latest.jpg", "real"]);
    // A loop of links is an error, not a hang.
    std::os::unix::fs::symlink("loop-b", scratch.path("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", scratch.path("loop-b")).unwrap();
    assert_fails(&run(&video, spec, &scratch.path("loop-a")), &["cannot write", "symbolic links"]);
}

#[test]
fn links_planted_at_temporary_names_are_never_written_through() {
    let scratch = Scratch::new("planted");
    let victim = scratch.path("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    // Every name the temporary file could have had with a predictable scheme (process ids
    // near ours), and the obvious fixed ones, point at the victim.
    let base = std::process::id();
    for pid in base.saturating_sub(50)..base + 400 {
        let _ = std::os::unix::fs::symlink(&victim, scratch.path(&format!(".thumb.jpg.vframe-{pid}.tmp")));
    }
    for name in [".thumb.jpg.tmp", "thumb.jpg.tmp", ".thumb.jpg.vframe-tmp"] {
        std::os::unix::fs::symlink(&victim, scratch.path(name)).unwrap();
    }
    let out = run(&fixture("gop25_25fps.mp4"), "vframe/jpg/offset/1", &scratch.path("thumb.jpg"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(file_type(&scratch.path("thumb.jpg")).is_file());
    assert!(std::fs::read(scratch.path("thumb.jpg")).unwrap().starts_with(b"\xFF\xD8"));
}

#[test]
fn new_files_get_the_usual_mode_and_replaced_files_keep_theirs() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("modes");
    let video = fixture("gop25_25fps.mp4");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    for (umask, want) in [("022", 0o644), ("027", 0o640), ("077", 0o600)] {
        let output = scratch.path(&format!("new-{umask}.jpg"));
        let status = Command::new("sh")
            .args(["-c", &format!("umask {umask}; exec \"$0\" \"$@\""), VFRAME])
            .args([video.as_os_str(), "vframe/jpg/offset/1".as_ref(), "-o".as_ref(), output.as_os_str()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(mode(&output), want, "umask {umask}");
    }
    let kept = scratch.path("kept.jpg");
    std::fs::write(&kept, OLD_THUMB).unwrap();
    chmod(&kept, 0o604);
    assert!(run(&video, "vframe/jpg/offset/1", &kept).status.success());
    assert_eq!(mode(&kept), 0o604);
    assert!(std::fs::read(&kept).unwrap().starts_with(b"\xFF\xD8"));
}

#[test]
fn replaced_files_keep_their_extended_attributes_and_acl() {
    use common::{access_acl, set_xattr, xattrs};
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("xattrs");
    let video = fixture("tiny_h264.mp4");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let kept = scratch.path("kept.jpg");
    std::fs::write(&kept, OLD_THUMB).unwrap();
    if !set_xattr(&kept, "user.origin", b"https://example.com/a.mp4") {
        eprintln!("SKIP: the file system of {} keeps no extended attributes", scratch.0.display());
        return;
    }
    // An ACL granting a web server's user (uid 4242) read access, as setfacl would set it.
    assert!(set_xattr(&kept, "system.posix_acl_access", &access_acl(4242)));
    let before = (xattrs(&kept), mode(&kept));
    assert_eq!(before.0.len(), 2, "{:?}", before.0.keys());
    let out = run(&video, "vframe/jpg/offset/0.1", &kept);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&kept).unwrap().starts_with(b"\xFF\xD8"));
    assert_eq!((xattrs(&kept), mode(&kept)), before);

    // Several specs into a folder: a file already at one of the names keeps its own.
    let dir = scratch.path("thumbs");
    std::fs::create_dir(&dir).unwrap();
    let second = dir.join("tiny_h264-2.jpg");
    std::fs::write(&second, OLD_THUMB).unwrap();
    assert!(set_xattr(&second, "user.note", b"keep me"));
    let out = vframe(&[
        video.as_os_str(),
        "vframe/jpg/offset/0".as_ref(),
        "vframe/jpg/offset/0.1".as_ref(),
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&second).unwrap(), library_image(&video, "vframe/jpg/offset/0.1"));
    assert_eq!(xattrs(&second).get("user.note").map(Vec::as_slice), Some(&b"keep me"[..]));
    assert!(xattrs(&dir.join("tiny_h264-1.jpg")).is_empty(), "a new file gets none");

    // A folder given a default ACL (uid 4242 may read) after its file was made: the
    // replacement keeps the file's own access, not the ACL the folder gives new files.
    let shared = scratch.path("shared");
    std::fs::create_dir(&shared).unwrap();
    let private = shared.join("private.jpg");
    std::fs::write(&private, OLD_THUMB).unwrap();
    chmod(&private, 0o640);
    assert!(set_xattr(&shared, "system.posix_acl_default", &access_acl(4242)));
    let out = run(&video, "vframe/jpg/offset/0.1", &private);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((xattrs(&private), mode(&private)), (Default::default(), 0o640), "no ACL widens its access");
    let new = shared.join("new.jpg");
    assert!(run(&video, "vframe/jpg/offset/0.1", &new).status.success());
    assert!(xattrs(&new).contains_key("system.posix_acl_access"), "a new file gets the folder's default");

    if !is_root() {
        eprintln!("SKIP (the rest): needs root (to run as another user)");
        return;
    }
    // File capabilities (setcap), which any write of the file clears: set after the data.
    let capable = scratch.path("capable.jpg");
    std::fs::write(&capable, OLD_THUMB).unwrap();
    // VFS_CAP_REVISION_2 with the effective flag, CAP_NET_BIND_SERVICE permitted.
    let capability = [[1, 0, 0, 2], [0, 4, 0, 0], [0; 4], [0; 4], [0; 4]].concat();
    assert!(set_xattr(&capable, "security.capability", &capability));
    let out = run(&video, "vframe/jpg/offset/0.1", &capable);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(xattrs(&capable).get("security.capability"), Some(&capability));

    // The caller's own file it may write but not read: its attributes are read by path; one
    // the caller may not read (a user.* attribute needs read access) refuses the replacement.
    chmod(&scratch.0, 0o755);
    std::os::unix::fs::chown(&scratch.0, Some(65534), Some(65534)).unwrap();
    std::fs::copy(&video, scratch.path("in.mp4")).unwrap();
    for (name, attribute) in [("plain.jpg", None), ("noted.jpg", Some("user.note"))] {
        let file = scratch.path(name);
        std::fs::write(&file, b"mine").unwrap();
        if let Some(attribute) = attribute {
            assert!(set_xattr(&file, attribute, b"mine"));
        }
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        chmod(&file, 0o200);
        let out = as_nobody(&scratch.0, &["in.mp4", "vframe/jpg/offset/0.1", "-o", name]);
        if attribute.is_none() {
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(mode(&file), 0o200);
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("cannot read its extended attribute user.note"), "{}", stderr(&out));
        assert_eq!(std::fs::read(&file).unwrap(), b"mine");
        assert_eq!(xattrs(&file).get("user.note").map(Vec::as_slice), Some(&b"mine"[..]));
    }
    // Its set-id bits, which its write would clear for a caller without CAP_FSETID.
    let setid = scratch.path("setid.jpg");
    std::fs::write(&setid, OLD_THUMB).unwrap();
    std::os::unix::fs::chown(&setid, Some(65534), Some(65534)).unwrap();
    chmod(&setid, 0o6755);
    let out = as_nobody(&scratch.0, &["in.mp4", "vframe/jpg/offset/0.1", "-o", "setid.jpg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&setid), 0o6755);
    assert!(temporary_files(&scratch.0).is_empty(), "{:?}", scratch.files());
}

#[test]
fn an_append_only_folder_is_refused_and_left_as_it_was() {
    if !is_root() {
        eprintln!("SKIP: needs root (chattr +a)");
        return;
    }
    let scratch = Scratch::new("append-only");
    let dir = scratch.path("ap");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("t.jpg"), OLD_THUMB).unwrap();
    /// Clears the flag however the test ends, so that the scratch folder can go.
    struct AppendOnly<'a>(&'a Path);
    impl Drop for AppendOnly<'_> {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-a").arg(self.0).status();
        }
    }
    let set = Command::new("chattr").arg("+a").arg(&dir).output();
    if !set.as_ref().is_ok_and(|out| out.status.success()) {
        eprintln!("SKIP: chattr +a does not work on {} ({set:?})", dir.display());
        return;
    }
    let _clear = AppendOnly(&dir);
    // A file made there could not be renamed into place nor removed: each run would have
    // left its temporary file, or its staging folder, there for good.
    let (video, file) = (fixture("tiny_h264.mp4"), dir.join("t.jpg"));
    let runs: [&[&std::ffi::OsStr]; 3] = [
        &[video.as_os_str(), "vframe/jpg/offset/0.1".as_ref(), "-o".as_ref(), file.as_os_str()],
        &[video.as_os_str(), "vsample/jpg/frames/2".as_ref(), "-o".as_ref(), dir.as_os_str()],
        &[
            video.as_os_str(),
            "vframe/jpg/offset/0".as_ref(),
            "vframe/jpg/offset/0.1".as_ref(),
            "-o".as_ref(),
            dir.as_os_str(),
        ],
    ];
    for args in runs {
        let out = vframe(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("the folder is append-only"), "{}", stderr(&out));
    }
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["t.jpg"], "nothing left beside the user's file");
    assert_eq!(std::fs::read(dir.join("t.jpg")).unwrap(), OLD_THUMB);
}

#[test]
fn the_output_may_not_be_the_input() {
    let scratch = Scratch::new("same");
    let video = scratch.path("movie.mp4");
    std::fs::copy(fixture("gop25_25fps.mp4"), &video).unwrap();
    let original = std::fs::read(&video).unwrap();
    std::fs::hard_link(&video, scratch.path("hardlink.mp4")).unwrap();
    std::os::unix::fs::symlink("movie.mp4", scratch.path("link.mp4")).unwrap();
    let spellings = [
        video.clone(),
        scratch.0.join(".").join("movie.mp4"),
        scratch.0.join("..").join(scratch.0.file_name().unwrap()).join("movie.mp4"),
        scratch.path("hardlink.mp4"),
        scratch.path("link.mp4"),
    ];
    for output in &spellings {
        assert_fails(&run(&video, "vframe/jpg/offset/1", output), &["is the input file itself"]);
        assert!(std::fs::read(&video).unwrap() == original, "{}: the video is intact", output.display());
    }
    // Through standard output appended to the input.
    let appending = std::fs::OpenOptions::new().append(true).open(&video).unwrap();
    let out = Command::new(VFRAME)
        .args([video.as_os_str(), "vframe/jpg/offset/1".as_ref(), "-o".as_ref(), "-".as_ref()])
        .stdout(appending)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is the input file itself"));
    assert!(std::fs::read(&video).unwrap() == original, "the video is intact");
}

// ---- Several images in one process ----

/// The image the library makes for `spec` of `video`.
fn library_image(video: &Path, spec: &str) -> Vec<u8> {
    vframe::extract_path(video, spec).unwrap_or_else(|e| panic!("{spec}: {e}")).data
}

#[test]
fn several_specs_write_numbered_images_into_a_folder() {
    let scratch = Scratch::new("many");
    let video = fixture("bframes_gop250.mp4");
    let specs = ["vframe/jpg/offset/7/w/160", "vframe/png/offset/2", "vframe/jpg/offset/7.01", "vframe/jpg/offset/60"];
    let dir = scratch.path("thumbs/new");
    let mut args: Vec<&std::ffi::OsStr> = vec![video.as_os_str()];
    args.extend(specs.iter().map(std::ffi::OsStr::new));
    args.extend(["-o".as_ref(), dir.as_os_str()]);
    let out = vframe(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty() && out.stdout.is_empty(), "silent when stderr is not a terminal");
    let names = ["bframes_gop250-1.jpg", "bframes_gop250-2.png", "bframes_gop250-3.jpg", "bframes_gop250-4.jpg"];
    for (spec, name) in specs.iter().zip(names) {
        let written = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(written == library_image(&video, spec), "{name} holds {spec}'s image");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4, "nothing else in the folder");

    // Ten or more: the numbers are zero-padded to one width, so they sort.
    let specs: Vec<String> = (0..11).map(|i| format!("vframe/jpg/offset/{i}.5/w/32")).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec![video.as_os_str()];
    args.extend(specs.iter().map(std::ffi::OsStr::new));
    let dir = scratch.path("eleven");
    args.extend(["-o".as_ref(), dir.as_os_str()]);
    let out = vframe(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files.first().map(String::as_str), Some("bframes_gop250-01.jpg"));
    assert_eq!(files.last().map(String::as_str), Some("bframes_gop250-11.jpg"));
    assert_eq!(files.len(), 11);

    // -o naming a file: refused as not a folder (it said "cannot make the folder: File
    // exists"), and the file is left as it was.
    let file = scratch.path("a-file");
    std::fs::write(&file, b"mine").unwrap();
    assert_fails(
        &vframe(&[video.as_os_str(), specs[0].as_ref(), specs[1].as_ref(), "-o".as_ref(), file.as_os_str()]),
        &["it is not a folder"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    // ... or a link to nothing (it said "File exists").
    let dangling = scratch.path("dangling");
    std::os::unix::fs::symlink("nowhere", &dangling).unwrap();
    assert_fails(
        &vframe(&[video.as_os_str(), specs[0].as_ref(), specs[1].as_ref(), "-o".as_ref(), dangling.as_os_str()]),
        &["a symbolic link to nowhere, which does not exist"],
    );
}

#[test]
fn a_failing_spec_fails_alone() {
    let scratch = Scratch::new("many-fail");
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch.path("out");
    let out = vframe(&[
        video.as_os_str(),
        "vframe/jpg/offset/1".as_ref(),
        "vframe/gif/offset/2".as_ref(),
        "vframe/png/offset/3".as_ref(),
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "one line for the failure and a summary: {err}");
    assert!(lines[0].starts_with("vframe: SPEC 2: invalid spec") && lines[0].contains("'gif'"), "{err}");
    assert_eq!(lines[1], "vframe: 1 of 3 images failed");
    assert!(std::fs::read(dir.join("gop25_25fps-1.jpg")).unwrap() == library_image(&video, "vframe/jpg/offset/1"));
    assert!(std::fs::read(dir.join("gop25_25fps-3.png")).unwrap() == library_image(&video, "vframe/png/offset/3"));
    assert!(!dir.join("gop25_25fps-2.img").exists());
    // The same video as input: every image fails, nothing is written over it.
    let copy = scratch.path("copy.mp4");
    std::fs::copy(&video, &copy).unwrap();
    let out = vframe(&[
        copy.as_os_str(),
        "vframe/jpg/offset/1".as_ref(),
        "vframe/jpg/offset/5".as_ref(),
        "-o".as_ref(),
        "/dev/null/x".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot write into /dev/null/x: /dev/null is not a folder"), "{}", stderr(&out));
}

#[test]
fn a_jobs_file_runs_every_job_it_can() {
    let scratch = Scratch::new("jobs");
    let (gop, bframes) = (fixture("gop25_25fps.mp4"), fixture("bframes_gop250.mp4"));
    let input_copy = scratch.path("input.mp4");
    std::fs::copy(&gop, &input_copy).unwrap();
    let out = |name: &str| scratch.path(name).display().to_string();
    let jobs = [
        "# thumbnails for the catalogue".to_string(),
        format!("{}\tvframe/jpg/offset/7.01/w/160\t{}", bframes.display(), out("b1.jpg")),
        format!("{}\tvframe/jpg/offset/1\t{}", gop.display(), out("g1.jpg")),
        String::new(),
        format!("{}\tvframe/png/offset/2\t{}", bframes.display(), out("b2.png")),
        format!("{}\tvframe/jpg/offset/nope\t{}", gop.display(), out("bad-spec.jpg")),
        format!("{}\tvframe/jpg/offset/1\t{}", scratch.path("missing.mp4").display(), out("missing.jpg")),
        format!("{}\tvframe/jpg/offset/1\t{}", input_copy.display(), input_copy.display()),
        "only one field".to_string(),
        format!("{}\tvframe/png/offset/9.99\t{}\r", bframes.display(), out("b3.png")),
        format!("\tvframe/jpg/offset/1\t{}", out("no-input.jpg")),
        format!("{}\tvframe/jpg/offset/1\t", gop.display()),
    ];
    let file = scratch.path("jobs.txt");
    std::fs::write(&file, jobs.join("\n")).unwrap();
    let run = vframe(&["--jobs".as_ref(), file.as_os_str()]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let err = stderr(&run);
    let shown = file.display().to_string();
    for (line, needle) in [
        (6, "offset 'nope'"),
        (7, "missing.mp4"),
        (8, "is the input file itself"),
        (9, "got 1 field"),
        (11, "the INPUT field (the first) is empty"),
        (12, "the OUTPUT field (the third) is empty"),
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(&format!("vframe: {shown}:{line}: ")) && l.contains(needle)),
            "line {line} should fail with {needle:?}: {err}"
        );
    }
    assert!(err.ends_with("vframe: 6 of 10 images failed\n"), "{err}");
    for (name, video, spec) in [
        ("b1.jpg", &bframes, "vframe/jpg/offset/7.01/w/160"),
        ("g1.jpg", &gop, "vframe/jpg/offset/1"),
        ("b2.png", &bframes, "vframe/png/offset/2"),
        ("b3.png", &bframes, "vframe/png/offset/9.99"),
    ] {
        assert!(std::fs::read(scratch.path(name)).unwrap() == library_image(video, spec), "{name}");
    }
    assert!(std::fs::read(&input_copy).unwrap() == std::fs::read(&gop).unwrap(), "the input is untouched");
    assert!(!scratch.path("bad-spec.jpg").exists() && !scratch.path("missing.jpg").exists());

    // From standard input; all good: exit 0, silent.
    let line = format!("{}\tvframe/jpg/offset/2/w/64\t{}\n", gop.display(), out("stdin.jpg"));
    let mut child = Command::new(VFRAME)
        .args(["--jobs", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success() && done.stderr.is_empty(), "{}", stderr(&done));
    assert!(std::fs::read(scratch.path("stdin.jpg")).unwrap() == library_image(&gop, "vframe/jpg/offset/2/w/64"));
    // An unreadable jobs file is one failure.
    assert_fails(&vframe(&["--jobs".as_ref(), scratch.path("nope.txt").as_os_str()]), &["cannot read the jobs file"]);
}

/// One input named two ways in a jobs file (`v`, `./v`, a link) is opened once: a FIFO
/// can be read once only (opened twice, the second open waited out the time limit). With
/// `--jobs -`, standard input named as a job's input is refused: it held the list.
#[test]
fn an_input_named_two_ways_is_opened_once() {
    let scratch = Scratch::new("jobs-two-names");
    let video = fixture("hevc_gop30.ts");
    let fifo = scratch.path("in.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::os::unix::fs::symlink(&fifo, scratch.path("link.fifo")).unwrap();
    let (a, b) = (scratch.path("a.jpg"), scratch.path("b.jpg"));
    let spec = |o: &str| format!("vframe/jpg/offset/{o}/w/64");
    let jobs = scratch.path("jobs.txt");
    std::fs::write(
        &jobs,
        format!(
            "{}\t{}\t{}\n{}\t{}\t{}\n",
            fifo.display(),
            spec("1"),
            a.display(),
            scratch.path("link.fifo").display(),
            spec("0.5"),
            b.display()
        ),
    )
    .unwrap();
    let writer = {
        let (fifo, video) = (fifo.clone(), video.clone());
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let _ = std::io::copy(&mut std::fs::File::open(video).unwrap(), &mut out);
        })
    };
    let start = std::time::Instant::now();
    let out = vframe(&["--jobs".as_ref(), jobs.as_os_str()]);
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(start.elapsed().as_secs() < 30, "the FIFO was opened once");
    assert!(std::fs::read(&a).unwrap() == library_image(&video, &spec("1")));
    assert!(std::fs::read(&b).unwrap() == library_image(&video, &spec("0.5")));

    // `--jobs -`: the list came on standard input; a job reading it again fails alone.
    let list = format!(
        "/dev/stdin\t{}\t{}\n{}\t{}\t{}\n",
        spec("1"),
        scratch.path("c.jpg").display(),
        video.display(),
        spec("1"),
        scratch.path("d.jpg").display()
    );
    let mut child =
        Command::new(VFRAME).args(["--jobs", "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), list.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_some_fail(&out, &["standard input:1", "/dev/stdin is standard input, which held the list of jobs"]);
    assert!(!scratch.path("c.jpg").exists() && scratch.path("d.jpg").exists());
    // The list named as standard input by another name: the same.
    for list_name in ["/dev/fd/0", "/proc/self/fd/0"] {
        let _ = std::fs::remove_file(scratch.path("d.jpg"));
        let mut child = Command::new(VFRAME)
            .args(["--jobs", list_name])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), list.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_some_fail(&out, &[":1", "/dev/stdin is standard input, which held the list of jobs"]);
        assert!(!scratch.path("c.jpg").exists() && scratch.path("d.jpg").exists(), "{list_name}");
    }
}

#[test]
fn jobs_over_several_inputs_run_in_parallel_with_a_serial_runs_results() {
    let scratch = Scratch::new("jobs-parallel");
    let videos = ["gop25_25fps.mp4", "bframes_gop250.mp4", "mpeg4.avi", "tiny_hevc.mp4", "rotate90.mp4"].map(fixture);
    // Two or three jobs per input, the inputs interleaved and offsets out of order.
    let specs = ["vframe/jpg/offset/1.5/w/96", "vframe/png/offset/0.2/h/40", "vframe/jpg/offset/0.9/rotate/auto"];
    let mut lines = Vec::new();
    let mut wanted = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        for (v, video) in videos.iter().enumerate() {
            if (k + v) % 4 == 3 {
                continue;
            }
            let name = format!("v{v}-s{k}.{}", if spec.contains("png") { "png" } else { "jpg" });
            lines.push((video.display().to_string(), spec.to_string(), name.clone()));
            wanted.push((name, library_image(video, spec)));
        }
    }
    let jobs_to = |dir: &str| {
        std::fs::create_dir_all(scratch.path(dir)).unwrap();
        let text: String = lines
            .iter()
            .map(|(input, spec, name)| format!("{input}\t{spec}\t{}\n", scratch.path(dir).join(name).display()))
            .collect();
        let file = scratch.path(&format!("{dir}.txt"));
        std::fs::write(&file, text).unwrap();
        file
    };
    for (dir, parallel) in [("serial", "1"), ("two", "2"), ("five", "5"), ("default", "")] {
        let file = jobs_to(dir);
        let mut args: Vec<&std::ffi::OsStr> = vec!["--jobs".as_ref(), file.as_os_str()];
        if !parallel.is_empty() {
            args.extend::<[&std::ffi::OsStr; 2]>(["--parallel".as_ref(), parallel.as_ref()]);
        }
        let run = vframe(&args);
        assert!(run.status.success() && run.stderr.is_empty(), "--parallel {parallel:?}: {}", stderr(&run));
        for (name, image) in &wanted {
            let made = std::fs::read(scratch.path(dir).join(name)).unwrap();
            assert!(&made == image, "--parallel {parallel:?}: {name} is not the library's image");
        }
    }

    // Images written in place (here all to standard output) come in a serial run's order:
    // input by input as they first appear, each input's in time order.
    let text: String = lines.iter().map(|(input, spec, _)| format!("{input}\t{spec}\t-\n")).collect();
    let file = scratch.path("stdout.txt");
    std::fs::write(&file, text).unwrap();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    let first_seen = |i: usize| lines.iter().position(|l| l.0 == lines[i].0).unwrap();
    let offset = |i: usize| lines[i].1.split('/').nth(3).unwrap().parse::<f64>().unwrap();
    order.sort_by(|&a, &b| first_seen(a).cmp(&first_seen(b)).then(offset(a).total_cmp(&offset(b))));
    let expected: Vec<u8> = order.iter().flat_map(|&i| wanted[i].1.clone()).collect();
    let run = vframe(&["--jobs".as_ref(), file.as_os_str(), "--parallel=4".as_ref()]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(run.stdout == expected, "standard output holds the images in a serial run's order");

    for bad in ["0", "-1", "two", "257", ""] {
        assert_usage_error(
            &vframe(&["--jobs".as_ref(), file.as_os_str(), "--parallel".as_ref(), bad.as_ref()]),
            &["--parallel takes a number of inputs at once"],
        );
    }
    assert_usage_error(&vframe(&["--jobs".as_ref(), file.as_os_str(), "--parallel".as_ref()]), &["needs a number"]);
    let video = videos[0].as_os_str();
    let out = scratch.path("x.jpg");
    assert_usage_error(
        &vframe(&[video, "vframe/jpg/offset/1".as_ref(), "-o".as_ref(), out.as_os_str(), "--parallel=2".as_ref()]),
        &["--parallel is for --jobs"],
    );
}

#[test]
fn jobs_run_one_at_a_time_where_no_thread_can_start() {
    if !is_root() {
        eprintln!("skipped: needs root, to run vframe as another user with a process limit");
        return;
    }
    // As `nobody`, with RLIMIT_NPROC 1 (root is exempt from it): the process can start no
    // thread, so the workers of a parallel run cannot either; every job still runs.
    let scratch = Scratch::new("jobs-no-threads");
    chmod(&scratch.0, 0o777);
    let mut text = String::new();
    let mut wanted = Vec::new();
    for (k, name) in ["gop25_25fps.mp4", "mpeg4.avi", "tiny_hevc.mp4"].into_iter().enumerate() {
        let video = scratch.path(name);
        std::fs::copy(fixture(name), &video).unwrap();
        chmod(&video, 0o644);
        text +=
            &format!("{}\tvframe/jpg/offset/0.5\t{}\n", video.display(), scratch.path(&format!("{k}.jpg")).display());
        wanted.push(library_image(&video, "vframe/jpg/offset/0.5"));
    }
    let file = scratch.path("jobs.txt");
    std::fs::write(&file, text).unwrap();
    chmod(&file, 0o644);
    let run = as_nobody_with_processes(&scratch.0, Some(1), &["--jobs", "jobs.txt", "--parallel", "3"]);
    assert!(run.status.success() && run.stderr.is_empty(), "{}", stderr(&run));
    for (k, image) in wanted.iter().enumerate() {
        assert!(&std::fs::read(scratch.path(&format!("{k}.jpg"))).unwrap() == image, "{k}.jpg");
    }
    // One image, AV1: libdav1d reports the thread it cannot start as ENOMEM.
    let video = scratch.path("tiny_av1.ivf");
    std::fs::copy(fixture("tiny_av1.ivf"), &video).unwrap();
    chmod(&video, 0o644);
    let out = scratch.path("av1.jpg");
    let run =
        as_nobody_with_processes(&scratch.0, Some(1), &["tiny_av1.ivf", "vframe/jpg/offset/0.5", "-o", "av1.jpg"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read(&out).unwrap() == library_image(&video, "vframe/jpg/offset/0.5"), "{}", out.display());
}

#[test]
fn jobs_run_one_at_a_time_by_default_under_an_address_space_limit() {
    // Under `ulimit -v` every worker's decoder, threads and malloc arena reserve address
    // space: measured here, 200 MB is enough for these jobs one at a time and aborts two
    // at a time, so the default is one at a time there.
    let scratch = Scratch::new("jobs-ulimit-v");
    let mut text = String::new();
    let mut wanted = Vec::new();
    for (k, name) in
        ["gop25_25fps.mp4", "bframes_gop250.mp4", "mpeg4.avi", "tiny_hevc.mp4", "tiny_av1.ivf"].iter().enumerate()
    {
        for offset in ["0.5", "1.5"] {
            let spec = format!("vframe/jpg/offset/{offset}");
            let out = scratch.path(&format!("{k}-{offset}.jpg"));
            text += &format!("{}\t{spec}\t{}\n", fixture(name).display(), out.display());
            wanted.push((out, library_image(&fixture(name), &spec)));
        }
    }
    let jobs = scratch.path("jobs.txt");
    std::fs::write(&jobs, text).unwrap();
    let run = Command::new("prlimit").arg("--as=200000000").args([VFRAME, "--jobs"]).arg(&jobs).output().unwrap();
    assert!(run.status.success(), "{:?}: {}", run.status, stderr(&run));
    for (out, image) in &wanted {
        assert!(&std::fs::read(out).unwrap() == image, "{}", out.display());
    }
}

#[test]
fn progress_is_shown_on_a_terminal_only() {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    let scratch = Scratch::new("progress");
    let video = fixture("gop25_25fps.mp4");
    let dir = scratch.path("out");
    let command = format!(
        "{VFRAME} {} vframe/jpg/offset/1 vframe/jpg/offset/2 vframe/jpg/offset/3 -o {}",
        video.display(),
        dir.display()
    );
    let log = scratch.path("typescript");
    let on_terminal = |command: &str| {
        let out = Command::new("script").args(["-q", "-e", "-c", command]).arg(&log).output().expect("script runs");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, shown) = on_terminal(&command);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("vframe: 3/3 images"), "the count on the terminal: {shown:?}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    // A failure gets its own line; the count goes on and says it.
    let command = format!("{VFRAME} {} vframe/jpg/offset/1 vframe/gif/offset/2 -o {}", video.display(), dir.display());
    let (code, shown) = on_terminal(&command);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("\r\x1b[Kvframe: SPEC 2: "), "the failure on a line of its own: {shown:?}");
    assert!(shown.contains("vframe: 2/2 images, 1 failed"), "{shown:?}");
    assert!(shown.contains("vframe: 1 of 2 images failed"), "{shown:?}");
    // The many-frames ops count the same way: frames of a sample, tiles of a storyboard.
    for (spec, what) in [("vsample/jpg/interval/1/s/32x", "frames"), ("storyboard/jpg/interval/1", "tiles")] {
        let out = scratch.path(spec.split('/').next().unwrap());
        let (code, shown) = on_terminal(&format!("{VFRAME} {} {spec} -o {}", video.display(), out.display()));
        assert_eq!(code, Some(0), "{shown}");
        let all = (2..100).find(|n| shown.contains(&format!("vframe: {n}/{n} {what}\r\n")));
        assert!(all.is_some(), "{spec}: the whole count on the terminal, then a new line: {shown:?}");
    }
}

#[test]
fn a_job_never_writes_over_another_jobs_input_or_output() {
    let scratch = Scratch::new("jobs-clash");
    let gop = fixture("gop25_25fps.mp4");
    let (a, b) = (scratch.path("a.mp4"), scratch.path("b.mp4"));
    std::fs::copy(&gop, &a).unwrap();
    std::fs::copy(fixture("tiny_h264.mp4"), &b).unwrap();
    let video_b = std::fs::read(&b).unwrap();
    std::fs::create_dir(scratch.path("sub")).unwrap();
    std::os::unix::fs::symlink("../x.jpg", scratch.path("sub/link.jpg")).unwrap();
    let p = |name: &str| scratch.path(name).display().to_string();
    let jobs = [
        // Line 1 writes over b.mp4, the video line 2 reads (a swapped column, say).
        format!("{}\tvframe/jpg/offset/1\t{}", p("a.mp4"), p("b.mp4")),
        format!("{}\tvframe/jpg/offset/0\t{}", p("b.mp4"), p("y.jpg")),
        // Lines 3 to 5 name one new file three ways: only the first writes it.
        format!("{}\tvframe/jpg/offset/1\t{}", p("a.mp4"), p("x.jpg")),
        format!("{}\tvframe/jpg/offset/0\t{}", p("b.mp4"), p("sub/../x.jpg")),
        format!("{}\tvframe/jpg/offset/2\t{}", p("a.mp4"), p("sub/link.jpg")),
        // Standard output and /dev/null are written in place: any number of jobs may.
        format!("{}\tvframe/jpg/offset/2/w/16\t/dev/null", p("a.mp4")),
        format!("{}\tvframe/jpg/offset/3/w/16\t/dev/null", p("a.mp4")),
        // Line 8 would write over the jobs file itself, spelled another way.
        format!("{}\tvframe/jpg/offset/1\t{}", p("a.mp4"), p("sub/../jobs.txt")),
        // Line 9: a many-images op has no one output file.
        format!("{}\tvsample/jpg/interval/1\t{}", p("a.mp4"), p("z.jpg")),
    ];
    let file = scratch.path("jobs.txt");
    std::fs::write(&file, jobs.join("\n")).unwrap();
    let run = vframe(&["--jobs".as_ref(), file.as_os_str()]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    let shown = file.display().to_string();
    for (line, needle) in [
        (1, "the input of"),
        (4, "also written by"),
        (5, "also written by"),
        (8, "is the jobs file"),
        (9, "vsample and storyboard make many images each"),
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(&format!("vframe: {shown}:{line}: ")) && l.contains(needle)),
            "line {line} should fail with {needle:?}: {err}"
        );
    }
    assert!(err.ends_with("vframe: 5 of 9 images failed\n"), "{err}");
    assert!(std::fs::read(&file).unwrap() == jobs.join("\n").as_bytes(), "the jobs file is untouched");
    assert!(!scratch.path("z.jpg").exists());
    assert!(std::fs::read(&b).unwrap() == video_b, "b.mp4, another job's video, is untouched");
    assert!(std::fs::read(scratch.path("y.jpg")).unwrap() == library_image(&b, "vframe/jpg/offset/0"));
    assert!(std::fs::read(scratch.path("x.jpg")).unwrap() == library_image(&a, "vframe/jpg/offset/1"), "line 3's");
}

// ---- What an attacker and a careless user tried ----

/// Runs the CLI with `args`, its standard input read from `stdin` (a file) and its stdout
/// and stderr as given.
fn vframe_with(args: &[&std::ffi::OsStr], stdin: Option<&Path>, stdout: Stdio, stderr: Stdio) -> Output {
    let mut command = Command::new(VFRAME);
    command.args(args).stdout(stdout).stderr(stderr);
    if let Some(file) = stdin {
        command.stdin(std::fs::File::open(file).unwrap());
    }
    command.output().unwrap()
}

#[test]
fn jobs_read_from_standard_input_never_write_over_their_file() {
    let scratch = Scratch::new("jobs-stdin");
    let video = scratch.path("in.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &video).unwrap();
    let jobs = scratch.path("jobs.txt");
    // Standard input, open for reading only, is refused as an output before anything else.
    let refusals = [
        (jobs.display().to_string(), "is the jobs file"),
        ("/dev/stdin".into(), "reading only"),
        ("/dev/fd/0".into(), "reading only"),
    ];
    for (output, why) in refusals {
        let text = format!("{}\tvframe/jpg/offset/0.1\t{output}\n", video.display());
        std::fs::write(&jobs, &text).unwrap();
        let run = vframe_with(&["--jobs".as_ref(), "-".as_ref()], Some(&jobs), Stdio::null(), Stdio::piped());
        assert_eq!(run.status.code(), Some(1), "{output}: {}", stderr(&run));
        assert!(stderr(&run).contains(why), "{output}: {}", stderr(&run));
        assert_eq!(std::fs::read_to_string(&jobs).unwrap(), text, "{output}: the jobs file is intact");
    }
    // `-` (standard output) with standard output appended to the jobs file.
    let text = format!("{}\tvframe/jpg/offset/0.1\t-\n", video.display());
    std::fs::write(&jobs, &text).unwrap();
    let appending = std::fs::OpenOptions::new().append(true).open(&jobs).unwrap();
    let run = vframe_with(&["--jobs".as_ref(), "-".as_ref()], Some(&jobs), appending.into(), Stdio::piped());
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(&jobs).unwrap(), text, "the jobs file is intact");
}

#[test]
fn a_file_written_in_place_is_no_other_jobs_to_replace() {
    // Standard output redirected into a file, and another job naming that file: replacing
    // it would unlink the file the first job's image goes into. In either order, the
    // second job fails and the first job's image is the file's.
    let scratch = Scratch::new("jobs-in-place-clash");
    let (a, b) = (fixture("gop25_25fps.mp4"), fixture("tiny_h264.mp4"));
    let out = scratch.path("out.jpg");
    let jobs = scratch.path("jobs.txt");
    for (lines, kept) in [
        ([(&a, "-".to_string()), (&b, out.display().to_string())], &a),
        ([(&a, out.display().to_string()), (&b, "-".to_string())], &a),
    ] {
        let text: String =
            lines.iter().map(|(v, o)| format!("{}\tvframe/jpg/offset/0.5\t{o}\n", v.display())).collect();
        std::fs::write(&jobs, text).unwrap();
        let _ = std::fs::remove_file(&out);
        let stdout = std::fs::File::create(&out).unwrap();
        let run = vframe_with(&["--jobs".as_ref(), jobs.as_os_str()], None, stdout.into(), Stdio::piped());
        assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
        assert!(
            stderr(&run).contains(":2: the output") && stderr(&run).contains("is also written by"),
            "{}",
            stderr(&run)
        );
        assert!(std::fs::read(&out).unwrap() == library_image(kept, "vframe/jpg/offset/0.5"), "the first job's image");
    }
}

#[test]
fn usage_errors_are_not_written_into_the_jobs_file() {
    // Each run: its arguments and whether the jobs file is its standard input; standard
    // error goes to the end of `victim`, which a usage error must leave as it was.
    fn usage_errors_leave_intact(victim: &Path, jobs: &Path, runs: &[(&[&str], bool)]) {
        let before = std::fs::read(victim).unwrap();
        for &(args, from_stdin) in runs {
            let appending = std::fs::OpenOptions::new().append(true).open(victim).unwrap();
            let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
            let run = vframe_with(&args, from_stdin.then_some(jobs), Stdio::piped(), appending.into());
            assert_eq!(run.status.code(), Some(2), "{args:?}");
            assert!(std::fs::read(victim).unwrap() == before, "{args:?}: {} is intact", victim.display());
        }
    }
    // Standard error appended to the jobs file, named as `--jobs=FILE` or given as
    // standard input: a usage error says nothing rather than write into the list.
    let scratch = Scratch::new("jobs-usage-quiet");
    let jobs = scratch.path("jobs.txt");
    let text =
        format!("{}\tvframe/jpg/offset/0.5\t{}\n", fixture("tiny_h264.mp4").display(), scratch.path("o.jpg").display());
    std::fs::write(&jobs, &text).unwrap();
    let jobs_arg = format!("--jobs={}", jobs.display());
    usage_errors_leave_intact(
        &jobs,
        &jobs,
        &[
            (&[&jobs_arg, "--parallel", "0"], false),
            (&["--jobs", "-", "--parallel=x"], true),
            (&["--jobs=-", "--parallel", "-1"], true),
        ],
    );
    assert_eq!(std::fs::read_to_string(&jobs).unwrap(), text, "the jobs file is intact");
    // Standard error appended to a video the jobs file names: the same.
    let video = scratch.path("v.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &video).unwrap();
    std::fs::write(&jobs, format!("{}\tvframe/jpg/offset/0.5\t{}\n", video.display(), scratch.path("o.jpg").display()))
        .unwrap();
    let jobs_arg = format!("--jobs={}", jobs.display());
    usage_errors_leave_intact(
        &video,
        &jobs,
        &[
            (&["--jobs", &jobs.display().to_string(), "--parallel", "0"], false),
            (&[&jobs_arg, "--bogus"], false),
            (&["--jobs", "-", "x"], true),
            // Only the second of two jobs files names the video.
            (&["--jobs", "/dev/null", "--jobs", &jobs.display().to_string()], false),
        ],
    );
    assert!(std::fs::read(&video).unwrap() == std::fs::read(fixture("tiny_h264.mp4")).unwrap(), "the video is intact");
    // The jobs on a pipe are read as the run would have read them: into the video named
    // there, nothing; into a log, the usage error.
    let listed = format!("{}\tvframe/jpg/offset/0.5\t{}\n", video.display(), scratch.path("o.jpg").display());
    let log = scratch.path("log.txt");
    std::fs::write(&log, b"").unwrap();
    for target in [&video, &log] {
        let appending = std::fs::OpenOptions::new().append(true).open(target).unwrap();
        let mut child = Command::new(VFRAME)
            .args(["--jobs", "-", "--parallel", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(appending)
            .spawn()
            .unwrap();
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), listed.as_bytes());
        assert_eq!(child.wait().unwrap().code(), Some(2));
    }
    assert!(std::fs::read(&video).unwrap() == std::fs::read(fixture("tiny_h264.mp4")).unwrap(), "the video is intact");
    assert!(std::fs::read_to_string(&log).unwrap().contains("usage: vframe"), "the log has the usage error");
}

/// Under an address-space limit (`ulimit -v`) a 4K picture's buffers may not fit: the
/// call fails with a message, exit 1, the earlier image left whole, never an abort of
/// the process (an allocation that fails in Rust aborts unless it was asked for). The
/// limits sweep the steps where the decoder, the scaler, the turn and the encoders each
/// run short.
#[test]
fn short_memory_is_an_error_not_an_abort() {
    let scratch = Scratch::new("short-memory");
    let video = scratch.path("4k.mp4");
    common::ffmpeg(&[
        "-f".as_ref(),
        "lavfi".as_ref(),
        "-i".as_ref(),
        "testsrc2=size=3840x2160:rate=25".as_ref(),
        "-frames:v".as_ref(),
        "2".as_ref(),
        "-c:v".as_ref(),
        "libx264".as_ref(),
        "-metadata:s:v".as_ref(),
        "rotate=90".as_ref(),
        video.as_os_str(),
    ]);
    let mut outcomes = std::collections::BTreeMap::new();
    for spec in ["vframe/png/offset/0/rotate/auto", "vframe/jpg/offset/0", "vsample/png/frames/2"] {
        for mib in (180..=600).step_by(15) {
            let output = scratch.path(if spec.starts_with("vsample") { "frames" } else { "out.img" });
            if !spec.starts_with("vsample") {
                std::fs::write(&output, OLD_THUMB).unwrap();
            }
            let mut command = Command::new(VFRAME);
            command.args([video.as_os_str(), spec.as_ref(), "-o".as_ref(), output.as_os_str()]);
            command.stdout(Stdio::null()).stderr(Stdio::piped());
            limit(&mut command, libc::RLIMIT_AS, mib << 20);
            let out = command.output().unwrap();
            if stderr(&out).contains("error while loading shared libraries") {
                continue; // too little to start at all: the loader's refusal, not vframe's
            }
            let code = out.status.code();
            assert!(matches!(code, Some(0 | 1)), "{spec} in {mib} MiB: {:?}: {}", out.status, stderr(&out));
            if code == Some(1) && !spec.starts_with("vsample") {
                assert!(std::fs::read(&output).unwrap() == OLD_THUMB, "{spec} in {mib} MiB: the old image is kept");
            }
            *outcomes.entry((spec, code)).or_insert(0) += 1;
            assert!(temporary_files(&scratch.0).is_empty() && temporary_files(&output).is_empty());
            let _ = std::fs::remove_dir_all(scratch.path("frames"));
        }
    }
    // The sweep reaches both sides: failures for want of memory, and successes.
    for spec in ["vframe/png/offset/0/rotate/auto", "vframe/jpg/offset/0", "vsample/png/frames/2"] {
        assert!(outcomes.contains_key(&(spec, Some(0))) && outcomes.contains_key(&(spec, Some(1))), "{outcomes:?}");
    }
}

#[test]
fn an_endless_jobs_file_fails_instead_of_filling_memory() {
    let run = vframe(&["--jobs".as_ref(), "/dev/zero".as_ref()]);
    assert_fails(&run, &["larger than 64 MiB"]);
    // `yes | vframe --jobs -`: 64 MiB of one-letter lines, and a file under that size
    // holding more than 100,000 of them, are refused before any line becomes a job (each
    // would hold its own message: gigabytes), within a small address space.
    let limited = |file: &str, stdin: Stdio| {
        let mut command = Command::new(VFRAME);
        command.args(["--jobs", file]).stdin(stdin).stdout(Stdio::null()).stderr(Stdio::piped());
        limit(&mut command, libc::RLIMIT_AS, 1 << 30);
        command
    };
    let mut child = limited("-", Stdio::piped()).spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = b"y\n".repeat(1 << 15);
        while std::io::Write::write_all(&mut pipe, &chunk).is_ok() {}
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_fails(&out, &["larger than 64 MiB"]);
    let scratch = Scratch::new("jobs-many-lines");
    let many = scratch.path("many.txt");
    std::fs::write(&many, b"y\n".repeat(100_001)).unwrap();
    assert_fails(&limited(many.to_str().unwrap(), Stdio::null()).output().unwrap(), &["more than 100000 jobs"]);
    // Too large to run, with stderr appended to a video its lines name (as a file, or on
    // a pipe): nothing is said into the video; a log gets the message.
    let scratch = Scratch::new("jobs-too-large");
    let video = scratch.path("v.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &video).unwrap();
    let line = format!("{}\tvframe/jpg/offset/0.1\t{}\n", video.display(), scratch.path("o.jpg").display());
    let jobs = scratch.path("jobs.txt");
    std::fs::write(&jobs, line.repeat((65 << 20) / line.len() + 1)).unwrap();
    let log = scratch.path("log.txt");
    std::fs::write(&log, b"").unwrap();
    for (stderr_to, from_stdin) in [(&video, false), (&video, true), (&log, false)] {
        let appending = std::fs::OpenOptions::new().append(true).open(stderr_to).unwrap();
        let (file, stdin) = if from_stdin { ("-", Some(jobs.as_path())) } else { (jobs.to_str().unwrap(), None) };
        let run = vframe_with(&["--jobs".as_ref(), file.as_ref()], stdin, Stdio::null(), appending.into());
        assert_eq!(run.status.code(), Some(1));
    }
    assert!(std::fs::read(&video).unwrap() == std::fs::read(fixture("tiny_h264.mp4")).unwrap(), "the video is intact");
    assert!(std::fs::read_to_string(&log).unwrap().contains("larger than 64 MiB"));
    // The video named only on the line the limit cuts, its INPUT field read whole.
    let other = format!(
        "{}\tvframe/jpg/offset/0.1\t{}\n",
        scratch.path("other.mp4").display(),
        scratch.path("o.jpg").display()
    );
    let mut text = other.repeat((64 << 20) / other.len()).into_bytes();
    text.resize((64 << 20) - video.as_os_str().len() - 8, b'#');
    text.push(b'\n');
    text.extend_from_slice(line.as_bytes());
    std::fs::write(&jobs, &text).unwrap();
    let appending = std::fs::OpenOptions::new().append(true).open(&video).unwrap();
    let run = vframe_with(&["--jobs".as_ref(), jobs.as_os_str()], None, Stdio::null(), appending.into());
    assert_eq!(run.status.code(), Some(1));
    assert!(std::fs::read(&video).unwrap() == std::fs::read(fixture("tiny_h264.mp4")).unwrap(), "the video is intact");
    // ... nor on a first line that starts with a byte order mark.
    let mut text = b"\xef\xbb\xbf".to_vec();
    text.extend_from_slice(format!("{}\tvframe/jpg/offset/0.1\t", video.display()).as_bytes());
    text.resize(65 << 20, b'x');
    std::fs::write(&jobs, &text).unwrap();
    let appending = std::fs::OpenOptions::new().append(true).open(&video).unwrap();
    let run = vframe_with(&["--jobs".as_ref(), jobs.as_os_str()], None, Stdio::null(), appending.into());
    assert_eq!(run.status.code(), Some(1));
    assert!(std::fs::read(&video).unwrap() == std::fs::read(fixture("tiny_h264.mp4")).unwrap(), "the video is intact");
    // Standard input closed by the caller is no empty list, however it is named.
    std::os::unix::fs::symlink("/dev/stdin", scratch.path("stdin-link")).unwrap();
    for name in ["-", "/dev/stdin", scratch.path("stdin-link").to_str().unwrap()] {
        let script = format!("exec \"$0\" --jobs '{name}' <&-");
        let closed = Command::new("sh").args(["-c", &script, VFRAME]).output().unwrap();
        assert_fails(&closed, &["standard input is not open"]);
    }
}

#[test]
fn an_unwritable_standard_error_is_no_crash() {
    // /dev/full: every write fails. The message is lost; the exit status still says 1.
    let scratch = Scratch::new("full");
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let run = vframe_with(
        &["missing.mp4".as_ref(), "vframe/jpg/offset/0".as_ref(), "-o".as_ref(), scratch.path("x.jpg").as_os_str()],
        None,
        Stdio::null(),
        full().into(),
    );
    assert_eq!(run.status.code(), Some(1));
    let jobs = scratch.path("jobs.txt");
    std::fs::write(&jobs, "missing.mp4\tvframe/jpg/offset/0\tx.jpg\nmissing.mp4\tbad\ty.jpg\n").unwrap();
    let run = vframe_with(&["--jobs".as_ref(), jobs.as_os_str()], None, Stdio::null(), full().into());
    assert_eq!(run.status.code(), Some(1));
    let run = vframe_with(&["--help".as_ref()], None, full().into(), Stdio::null());
    assert_eq!(run.status.code(), Some(1), "help written to a full disk fails, and is no crash");
}

#[test]
fn standard_error_redirected_into_the_input_stops_the_run_unsaid() {
    // Any message would be written into the video (or the jobs file): nothing is written.
    let scratch = Scratch::new("stderr-input");
    let video = scratch.path("in.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &video).unwrap();
    let original = std::fs::read(&video).unwrap();
    let into_video = || std::fs::OpenOptions::new().read(true).write(true).open(&video).unwrap();
    let run = vframe_with(
        &[video.as_os_str(), "vframe/jpg/offset/0.1".as_ref(), "-o".as_ref(), "/dev/stderr".as_ref()],
        None,
        Stdio::null(),
        into_video().into(),
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(std::fs::read(&video).unwrap() == original, "the video is intact");
    // A usage error too (here: no -o), with stderr appended to the video or opened over it.
    let appending = || std::fs::OpenOptions::new().append(true).open(&video).unwrap();
    for stderr_into in [into_video(), appending()] {
        let run = vframe_with(
            &[video.as_os_str(), "vframe/jpg/offset/0.1".as_ref()],
            None,
            Stdio::null(),
            stderr_into.into(),
        );
        assert_eq!(run.status.code(), Some(2));
        assert!(std::fs::read(&video).unwrap() == original, "the video is intact");
    }
    let jobs = scratch.path("jobs.txt");
    let text = format!("{}\tvframe/gif/offset/0\t{}\n", video.display(), scratch.path("x.jpg").display());
    std::fs::write(&jobs, &text).unwrap();
    let appending = std::fs::OpenOptions::new().append(true).open(&jobs).unwrap();
    let run = vframe_with(&["--jobs".as_ref(), jobs.as_os_str()], None, Stdio::null(), appending.into());
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&jobs).unwrap(), text, "the jobs file is intact");
}

#[test]
fn names_near_the_file_systems_limit_are_written() {
    // 254 bytes: the temporary name (a dot, six random characters, .vframe-tmp) must not
    // push it past 255.
    let scratch = Scratch::new("long-name");
    let output = scratch.path(&format!("{}.jpg", "a".repeat(250)));
    let run = run(&fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.1", &output);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read(&output).unwrap().starts_with(b"\xFF\xD8"));
    assert_eq!(scratch.files().len(), 1, "no temporary file left: {:?}", scratch.files());
}

/// Runs the CLI as user `nobody` (uid and gid 65534), from a copy of it in `dir`, in `dir`.
fn as_nobody(dir: &Path, args: &[&str]) -> Output {
    as_nobody_with_processes(dir, None, args)
}

/// The same, with at most `processes` processes and threads for the user (`RLIMIT_NPROC`,
/// which root would not be held to).
fn as_nobody_with_processes(dir: &Path, processes: Option<u32>, args: &[&str]) -> Output {
    let binary = dir.join("vframe-copy");
    if !binary.exists() {
        std::fs::copy(VFRAME, &binary).unwrap();
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if let Some(n) = processes {
        command.args(["prlimit".to_string(), format!("--nproc={n}")]);
    }
    command.arg(&binary).args(args).current_dir(dir).output().expect("setpriv and prlimit (util-linux) run")
}

#[test]
fn files_the_caller_may_not_write_or_own_are_not_replaced() {
    if !is_root() {
        eprintln!("SKIP: needs root (to run as another user)");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("not-mine");
    let dir = &scratch.0;
    chmod(dir, 0o755);
    std::os::unix::fs::chown(dir, Some(65534), Some(65534)).unwrap();
    std::fs::copy(fixture("tiny_h264.mp4"), scratch.path("in.mp4")).unwrap();
    // Read-only, though the caller owns it and may write the folder: as the shell's `>`.
    let read_only = scratch.path("mine.jpg");
    std::fs::write(&read_only, OLD_THUMB).unwrap();
    std::os::unix::fs::chown(&read_only, Some(65534), Some(65534)).unwrap();
    chmod(&read_only, 0o444);
    let out = as_nobody(dir, &["in.mp4", "vframe/jpg/offset/0.1", "-o", "mine.jpg"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("only files you may write"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&read_only).unwrap(), OLD_THUMB);
    // Writable by all, owned by root: a replacement would be nobody's file.
    let roots = scratch.path("root.jpg");
    std::fs::write(&roots, OLD_THUMB).unwrap();
    chmod(&roots, 0o666);
    let out = as_nobody(dir, &["in.mp4", "vframe/jpg/offset/0.1", "-o", "root.jpg"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("belongs to another user"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&roots).unwrap(), OLD_THUMB);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&roots).unwrap()), 0);
    // The caller's own file in a group the caller is not in: the owner stays, the group
    // cannot, so the group's bits go rather than pass to the caller's group.
    let grouped = scratch.path("grouped.jpg");
    std::fs::write(&grouped, OLD_THUMB).unwrap();
    std::os::unix::fs::chown(&grouped, Some(65534), Some(0)).unwrap();
    chmod(&grouped, 0o640);
    let out = as_nobody(dir, &["in.mp4", "vframe/jpg/offset/0.1", "-o", "grouped.jpg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&grouped).unwrap().permissions().mode() & 0o7777, 0o600);
    // A new file, and the caller's own writable file, are written.
    for name in ["new.jpg", "new.jpg"] {
        let out = as_nobody(dir, &["in.mp4", "vframe/jpg/offset/0.1", "-o", name]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(temporary_files(&scratch.0).is_empty(), "{:?}", scratch.files());
}

#[test]
fn links_in_a_shared_sticky_folder_are_followed_only_as_the_kernel_would() {
    if !is_root() {
        eprintln!("SKIP: needs root (to give a link to another user)");
        return;
    }
    let scratch = Scratch::new("sticky");
    let shared = scratch.path("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let secret = scratch.path("secret.txt");
    std::fs::write(&secret, b"secret").unwrap();
    // Another user's link: not followed (fs.protected_symlinks).
    let planted = shared.join("thumb.jpg");
    std::os::unix::fs::symlink(&secret, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
    assert_fails(&run(&fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.1", &planted), &["protected_symlinks"]);
    assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
    // Anywhere on the path: a folder link planted there, as the output's folder, as the
    // folder of several specs or of a sample, or on the way to one vframe makes.
    let victims = scratch.path("victims");
    std::fs::create_dir(&victims).unwrap();
    std::fs::write(victims.join("a.jpg"), b"precious").unwrap();
    let folder = shared.join("thumbs");
    std::os::unix::fs::symlink(&victims, &folder).unwrap();
    std::os::unix::fs::lchown(&folder, Some(65534), Some(65534)).unwrap();
    let video = fixture("gop25_25fps.mp4");
    assert_fails(&run(&video, "vframe/jpg/offset/1", &folder.join("a.jpg")), &["protected_symlinks"]);
    for dir in [folder.clone(), folder.join("new/deeper")] {
        for specs in [&["vframe/jpg/offset/1", "vframe/jpg/offset/2"][..], &["vsample/jpg/interval/2/s/32x"]] {
            let mut args: Vec<&std::ffi::OsStr> = vec![video.as_os_str()];
            args.extend(specs.iter().map(std::ffi::OsStr::new));
            args.extend(["-o".as_ref(), dir.as_os_str()]);
            assert_fails(&vframe(&args), &["protected_symlinks"]);
        }
    }
    assert_eq!(std::fs::read_dir(&victims).unwrap().count(), 1, "nothing written into the folder the link names");
    assert_eq!(std::fs::read(victims.join("a.jpg")).unwrap(), b"precious");
    // The caller's own link there is followed.
    let own = shared.join("own.jpg");
    std::os::unix::fs::symlink(scratch.path("target.jpg"), &own).unwrap();
    assert!(run(&fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.1", &own).status.success());
    assert!(std::fs::read(scratch.path("target.jpg")).unwrap().starts_with(b"\xFF\xD8"));
}

#[test]
fn a_cpu_time_limit_ends_a_run_that_cleans_up() {
    // `ulimit -t` sets the hard limit too, whose SIGKILL no handler sees: the run gets
    // SIGXCPU a second before it and leaves nothing.
    let scratch = Scratch::new("ulimit-t");
    let dir = scratch.path("frames");
    let script = format!(
        "ulimit -c 0; ulimit -t 2; exec \"$0\" '{}' vsample/png/interval/1/s/1280x720 -o '{}'",
        common::two_hour_video().display(),
        dir.display()
    );
    let status = Command::new("sh")
        .args(["-c", &script, VFRAME])
        .current_dir(&scratch.0)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGXCPU), "{status:?}");
    let left: Vec<_> = std::fs::read_dir(&dir).map_or(Vec::new(), |d| d.map(|e| e.unwrap().path()).collect());
    assert!(left.is_empty(), "files left in the folder: {left:?}");
}

/// The temporary files in `dir`, and the staging folders of vsample and storyboard runs.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map_or(Vec::new(), |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.ends_with(".vframe-tmp") || (name.starts_with(".vframe-") && name.ends_with(".tmp"))
            })
            .collect()
    })
}

#[test]
fn a_stopped_run_leaves_no_temporary_file() {
    // The run is frozen (SIGSTOP) at a moment its staging folder exists, then sent the
    // signal: the frames made so far go with the process, none is moved into the folder.
    let video = common::two_hour_video();
    // Those sent to stop a command, and others whose default action ends it (a timer, a
    // CPU-time limit from `ulimit -t`, a user-defined signal, the real-time signals).
    let signals = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGALRM,
        libc::SIGXCPU,
        libc::SIGRTMIN(),
        libc::SIGRTMAX(),
    ];
    for signal in signals {
        let scratch = Scratch::new(&format!("signal-{signal}"));
        let dir = scratch.path("frames");
        let mut child = Command::new(VFRAME)
            .args([video.as_os_str(), "vsample/png/interval/1".as_ref(), "-o".as_ref(), dir.as_os_str()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let start = std::time::Instant::now();
        loop {
            assert!(start.elapsed().as_secs() < 120, "no temporary file seen while frames were written");
            let seen = temporary_files(&dir);
            if seen.is_empty() {
                continue;
            }
            // SAFETY: pid is our child, not yet waited for.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            if seen.iter().any(|p| p.exists()) {
                break;
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, signal);
            libc::kill(pid, libc::SIGCONT);
        }
        let status = child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(signal), "{status:?}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "signal {signal}: files left in the folder: {left:?}");
    }
}

#[test]
fn a_file_size_limit_fails_the_write_and_keeps_the_file() {
    // Past `ulimit -f` the kernel sends SIGXFSZ, which killed vframe with its temporary
    // file left beside the output and no word said. The write fails instead: one line,
    // exit 1, the output as it was, no temporary file; other jobs go on.
    let scratch = Scratch::new("fsize");
    let video = fixture("gop25_25fps.mp4");
    let output = scratch.path("thumb.png");
    std::fs::write(&output, OLD_THUMB).unwrap();
    let limited = |args: &[&std::ffi::OsStr]| {
        let mut command = Command::new(VFRAME);
        command.args(args);
        limit(&mut command, libc::RLIMIT_FSIZE, 4096);
        command.output().unwrap()
    };
    let out = limited(&[video.as_os_str(), "vframe/png/offset/1".as_ref(), "-o".as_ref(), output.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("File too large"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&output).unwrap(), OLD_THUMB);
    assert_eq!(scratch.files(), ["thumb.png"]);
    // A jobs file: the large image fails, the small one is written.
    let jobs = scratch.path("jobs.txt");
    let small = scratch.path("small.jpg");
    let line = |spec: &str, out: &Path| format!("{}\t{spec}\t{}\n", video.display(), out.display());
    let text = line("vframe/png/offset/1", &output) + &line("vframe/jpg/offset/2/w/32", &small);
    std::fs::write(&jobs, text).unwrap();
    let out = limited(&["--jobs".as_ref(), jobs.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read(&output).unwrap(), OLD_THUMB);
    assert!(std::fs::read(&small).unwrap().starts_with(b"\xFF\xD8"));
    assert_eq!(scratch.files(), ["jobs.txt", "small.jpg", "thumb.png"]);
}

#[test]
fn links_in_the_folder_of_several_specs_are_replaced_never_followed() {
    // `-o DIR` names the files itself: a link planted at one of the names sends nothing
    // outside the folder.
    let scratch = Scratch::new("dir-links");
    let video = scratch.path("in.mp4");
    std::fs::copy(fixture("tiny_h264.mp4"), &video).unwrap();
    let notes = scratch.path("notes.txt");
    std::fs::write(&notes, b"notes").unwrap();
    let dir = scratch.path("out");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(&notes, dir.join("in-1.jpg")).unwrap();
    let out = vframe(&[
        video.as_os_str(),
        "vframe/jpg/offset/0.1".as_ref(),
        "vframe/jpg/offset/0.2".as_ref(),
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&notes).unwrap(), b"notes");
    assert!(std::fs::symlink_metadata(dir.join("in-1.jpg")).unwrap().is_file());
    assert!(std::fs::read(dir.join("in-1.jpg")).unwrap() == library_image(&video, "vframe/jpg/offset/0.1"));
}

#[test]
fn signals_the_caller_ignores_stay_ignored() {
    // nohup, `trap '' INT` and a script's background jobs ignore signals; the handlers that
    // remove temporary files must not undo that.
    use std::os::unix::process::CommandExt;
    let video = common::two_hour_video();
    for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
        let scratch = Scratch::new(&format!("ignored-{signal}"));
        let dir = scratch.path("frames");
        let mut command = Command::new(VFRAME);
        command.args([
            video.as_os_str(),
            "vsample/jpg/interval/1/s/32x/t/120".as_ref(),
            "-o".as_ref(),
            dir.as_os_str(),
        ]);
        // SAFETY: signal is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(move || {
                libc::signal(signal, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = command.stderr(Stdio::null()).spawn().unwrap();
        let start = std::time::Instant::now();
        while std::fs::read_dir(&dir).map_or(0, Iterator::count) == 0 {
            assert!(start.elapsed().as_secs() < 60, "the sample makes frames");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: the child is ours and not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        assert!(status.success(), "signal {signal}, ignored by the caller, ended the run: {status:?}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 120);
    }
}

/// The input read from a pipe (standard input): the image `vframe /dev/stdin SPEC -o -`
/// gives when `bytes` are written to it.
fn from_a_pipe(bytes: &[u8], spec: &str) -> Output {
    from_a_pipe_with(bytes, &[spec, "-o", "-"])
}

/// `vframe /dev/stdin ARGS...` reading `bytes` from a pipe.
fn from_a_pipe_with(bytes: &[u8], args: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new(VFRAME)
        .arg("/dev/stdin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The reader may stop early (an error): a broken pipe here is its answer, not ours.
    let _ = stdin.write_all(bytes);
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn an_mp4_is_read_from_a_pipe_when_its_index_comes_first() {
    let scratch = Scratch::new("pipe-mp4");
    let faststart = scratch.path("faststart.mp4");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(fixture("gop25_25fps.mp4"))
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&faststart)
        .status()
        .unwrap();
    assert!(made.success());
    let spec = "vframe/png/offset/1.2";
    let piped = from_a_pipe(&std::fs::read(&faststart).unwrap(), spec);
    assert!(piped.status.success(), "{}", stderr(&piped));
    let from_file = run(&faststart, spec, &scratch.path("file.png"));
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    assert!(piped.stdout == std::fs::read(scratch.path("file.png")).unwrap(), "the same image as from the file");
    // With the index at the end (moov after mdat) a pipe cannot go back to the data: the
    // error says what to do.
    let piped = from_a_pipe(&std::fs::read(fixture("gop25_25fps.mp4")).unwrap(), spec);
    assert_eq!(piped.status.code(), Some(1));
    assert!(stderr(&piped).contains("+faststart"), "{}", stderr(&piped));
    // Several specs: the first search reads the pipe to its end; the others say that
    // failure, not that the offsets came out of order (they are taken in time order).
    let dir = scratch.path("several");
    let args = ["vframe/png/offset/5", "vframe/png/offset/1", "vframe/png/offset/3", "-o", dir.to_str().unwrap()];
    let piped = from_a_pipe_with(&std::fs::read(fixture("gop25_25fps.mp4")).unwrap(), &args);
    assert_eq!(piped.status.code(), Some(1));
    let err = stderr(&piped);
    assert_eq!(err.lines().filter(|l| l.contains("+faststart")).count(), 3, "{err}");
    assert!(!err.contains("time order"), "{err}");
}

#[test]
fn several_specs_name_their_outputs_exactly_and_make_the_folder_only_for_an_image() {
    let scratch = Scratch::new("many-names");
    let video = fixture("gop25_25fps.mp4");
    // Every spec bad: nothing to write, no folder made.
    let dir = scratch.path("never");
    let out = vframe(&[
        video.as_os_str(),
        "vframe/gif/offset/1".as_ref(),
        "vframe/x".as_ref(),
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!dir.exists(), "a run that wrote nothing made its folder");
    // Names that differ only in bytes that are not UTF-8 give different outputs (both
    // were 'caf\u{FFFD}-1.jpg', the second run replacing the first's).
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch.path("out");
    for byte in [0xe9u8, 0xe8] {
        let name = [b'c', b'a', b'f', byte, b'.', b'm', b'p', b'4'];
        let input = scratch.path("").join(std::ffi::OsStr::from_bytes(&name));
        std::fs::copy(&video, &input).unwrap();
        let out = vframe(&[
            input.as_os_str(),
            "vframe/jpg/offset/1/w/32".as_ref(),
            "vframe/jpg/offset/2/w/32".as_ref(),
            "-o".as_ref(),
            dir.as_os_str(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut made: Vec<Vec<u8>> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
    made.sort();
    assert_eq!(
        made,
        [b"caf\xe8-1.jpg".to_vec(), b"caf\xe8-2.jpg".to_vec(), b"caf\xe9-1.jpg".to_vec(), b"caf\xe9-2.jpg".to_vec()]
    );
    // A link at one of the names to another of them is replaced, not taken for a clash
    // ("also written by SPEC 1"), and a link to the video is replaced, the video kept.
    let links = scratch.path("links");
    std::fs::create_dir_all(&links).unwrap();
    let copy = scratch.path("v.mp4");
    std::fs::copy(&video, &copy).unwrap();
    std::os::unix::fs::symlink("v-2.jpg", links.join("v-1.jpg")).unwrap();
    std::os::unix::fs::symlink(&copy, links.join("v-3.jpg")).unwrap();
    let specs = ["vframe/jpg/offset/1/w/32", "vframe/jpg/offset/2/w/32", "vframe/jpg/offset/3/w/32"];
    let mut args: Vec<&std::ffi::OsStr> = vec![copy.as_os_str()];
    args.extend(specs.iter().map(std::ffi::OsStr::new));
    args.extend(["-o".as_ref(), links.as_os_str()]);
    let out = vframe(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    for (n, spec) in specs.iter().enumerate() {
        let path = links.join(format!("v-{}.jpg", n + 1));
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert!(std::fs::read(&path).unwrap() == library_image(&copy, spec), "{}", path.display());
    }
    assert!(std::fs::read(&copy).unwrap() == std::fs::read(&video).unwrap(), "the video is untouched");
}

#[test]
fn a_jobs_file_with_a_byte_order_mark_reads_its_first_line() {
    let scratch = Scratch::new("bom");
    let video = fixture("gop25_25fps.mp4");
    let jobs = scratch.path("jobs.txt");
    let out = scratch.path("a.jpg");
    std::fs::write(&jobs, format!("\u{FEFF}{}\tvframe/jpg/offset/1/w/32\t{}\n", video.display(), out.display()))
        .unwrap();
    let run = vframe(&["--jobs".as_ref(), jobs.as_os_str()]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read(&out).unwrap() == library_image(&video, "vframe/jpg/offset/1/w/32"));
}

#[test]
fn an_output_ending_in_a_slash_is_a_folder_not_an_image_file() {
    // `-o thumbs/` wrote an image file called `thumbs`.
    let scratch = Scratch::new("slash");
    let video = fixture("gop25_25fps.mp4");
    let out = run(&video, "vframe/jpg/offset/1", &scratch.path("thumbs/"));
    assert_fails(&out, &["ends with '/'"]);
    assert!(!scratch.path("thumbs").exists());
    assert_fails(&run(&video, "vframe/jpg/offset/1", &scratch.path("thumbs/.")), &["names a folder"]);
    assert!(!scratch.path("thumbs").exists());
    std::fs::create_dir(scratch.path("dir")).unwrap();
    assert_fails(&run(&video, "vframe/jpg/offset/1", &scratch.path("dir/")), &["it is a directory"]);
}

#[test]
fn a_deep_output_path_needs_no_descriptor_per_folder() {
    // The walk to the output folder held a descriptor for every folder on the way: under
    // `ulimit -n 20`, 30 folders deep failed with "Too many open files".
    let scratch = Scratch::new("deep");
    let video = fixture("gop25_25fps.mp4");
    let mut deep = scratch.path("");
    for n in 0..30 {
        deep.push(format!("d{n}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let output = deep.join("a.jpg");
    let mut command = Command::new(VFRAME);
    command.args([video.as_os_str(), "vframe/jpg/offset/1/w/32".as_ref(), "-o".as_ref(), output.as_os_str()]);
    limit(&mut command, libc::RLIMIT_NOFILE, 20);
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&output).unwrap() == library_image(&video, "vframe/jpg/offset/1/w/32"));
}

/// What the dynamic loader did to start a program (`LD_DEBUG=scopes,bindings`, with every
/// reference bound at load, `LD_BIND_NOW`, so none is left out for being lazy): the order it
/// searches for symbols (the main program's scope) and, for every symbol reference it resolved,
/// which object asked, for what, and which object defined it.
struct LoaderReport {
    scope: Vec<String>,
    bindings: Vec<(String, String, String)>,
}

impl LoaderReport {
    fn of(program: &Path, args: &[&OsStr], scratch: &Scratch, name: &str) -> LoaderReport {
        let prefix = scratch.path(&format!("ld-{name}"));
        let out = Command::new(program)
            .args(args)
            .env("LD_DEBUG", "scopes,bindings")
            .env("LD_DEBUG_OUTPUT", &prefix)
            .env("LD_BIND_NOW", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{} failed: {}", program.display(), stderr(&out));
        // The loader writes PREFIX.PID.
        let file = scratch
            .files()
            .into_iter()
            .find(|f| f.starts_with(&format!("ld-{name}.")))
            .expect("LD_DEBUG_OUTPUT wrote its file");
        let text = std::fs::read_to_string(scratch.path(&file)).unwrap();
        let scope = text
            .lines()
            .find_map(|l| l.split_once("scope 0:"))
            .map(|(_, list)| list.split_whitespace().map(str::to_owned).collect())
            .expect("the main program's scope");
        let bindings = text
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once("binding file ")?;
                let (file, rest) = rest.split_once(" [")?;
                let (_, rest) = rest.split_once("] to ")?;
                let (definer, rest) = rest.split_once(" [")?;
                let (_, rest) = rest.split_once('`')?;
                let (symbol, _) = rest.split_once('\'')?;
                Some((file.to_owned(), symbol.to_owned(), definer.to_owned()))
            })
            .collect();
        LoaderReport { scope, bindings }
    }

    /// How far the lookups walked: for each binding, the definer's place in the search order.
    fn walk(&self) -> usize {
        let place = |definer: &str| self.scope.iter().position(|s| s == definer);
        self.bindings.iter().map(|(_, _, d)| place(d).unwrap_or(self.scope.len())).sum()
    }

    /// Checks that every symbol a library bound here binds to the same object in `plain`
    /// (a library's own references: the main programs differ), but for C++ inline functions
    /// and template members: defined, the same, in every library that uses them (weak or
    /// unique symbols), so all references bind to the first copy in the order, which may now
    /// be another library's. Returns how many bindings were compared.
    fn binds_as(&self, plain: &LoaderReport, main_programs: &[&str]) -> usize {
        let resolved: std::collections::HashMap<(&str, &str), &str> = plain
            .bindings
            .iter()
            .filter(|(file, _, _)| !main_programs.contains(&file.as_str()))
            .map(|(file, symbol, definer)| ((file.as_str(), symbol.as_str()), definer.as_str()))
            .collect();
        let mut kinds = std::collections::HashMap::new();
        let mut compared = 0;
        let mut moved = 0;
        for (file, symbol, definer) in &self.bindings {
            let Some(plain_definer) = resolved.get(&(file.as_str(), symbol.as_str())) else {
                continue;
            };
            compared += 1;
            if definer == plain_definer {
                continue;
            }
            moved += 1;
            for lib in [definer.as_str(), plain_definer] {
                let kind = kinds.entry((lib, symbol)).or_insert_with(|| defined_symbol_kind(lib, symbol));
                assert!(
                    matches!(kind, Some('W' | 'V' | 'u')),
                    "{file}'s `{symbol}' binds to {definer} in the CLI, to {plain_definer} when \
                     linked plainly, and {lib} defines it as {kind:?}, not weak or unique"
                );
            }
        }
        // The libraries' own references are nearly all of them (thousands with Debian's FFmpeg).
        assert!(compared * 10 >= resolved.len() * 9, "{compared} of {} compared", resolved.len());
        assert!(moved * 100 <= compared, "{moved} of {compared} bindings moved");
        compared
    }
}

/// build.rs names the libraries that most symbols resolve to as the CLI's own, so the loader
/// finds them early (a shorter start). That must not change what anything resolves to: every
/// symbol a library binds, at start and when an HDR picture loads libavfilter, resolves to the
/// same object as in a program that links FFmpeg's libraries alone (and loads libavfilter the
/// same way), and the lookups walk less far than there.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn startup_link_order_keeps_every_binding() {
    let scratch = Scratch::new("link-order");
    // FFmpeg's four libraries, from where ffmpeg-sys-next took them: FFMPEG_DIR, or pkg-config.
    let four = ["avutil", "avformat", "swscale", "avcodec"];
    let libs: Vec<String> = match std::env::var("FFMPEG_DIR") {
        Ok(dir) => std::iter::once(format!("-L{dir}/lib")).chain(four.iter().map(|l| format!("-l{l}"))).collect(),
        Err(_) => {
            let pkg_config = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
            let out = Command::new(&pkg_config).arg("--libs").args(four.map(|l| format!("lib{l}"))).output().unwrap();
            assert!(out.status.success(), "{pkg_config}: {}", stderr(&out));
            String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
        }
    };
    let main_c = scratch.path("plain.c");
    // Given a library, loads it as vframe loads libavfilter (src/av/tonemap.rs).
    let program = "#include <dlfcn.h>\n\
                   int main(int argc, char **argv) {\n\
                       return argc > 1 && !dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);\n\
                   }\n";
    std::fs::write(&main_c, program).unwrap();
    let plain = scratch.path("plain");
    let cc =
        Command::new("cc").arg("-o").arg(&plain).arg(&main_c).arg("-Wl,--no-as-needed").args(&libs).output().unwrap();
    assert!(cc.status.success(), "cc: {}", stderr(&cc));
    let main_programs = [VFRAME, plain.to_str().unwrap()];

    let ours = LoaderReport::of(Path::new(VFRAME), &["--version".as_ref()], &scratch, "ours");
    let base = LoaderReport::of(&plain, &[], &scratch, "plain");
    ours.binds_as(&base, &main_programs);
    // build.rs says whether it ordered the libraries (it links plainly when told to, or where
    // it cannot count them, and warns then).
    if option_env!("VFRAME_LINK_ORDERED") == Some("1") {
        assert!(ours.scope.len() > base.scope.len().min(8), "{:?}", ours.scope);
        assert!(
            ours.walk() < base.walk(),
            "lookups walk {} places in the CLI, {} plainly (scope {:?})",
            ours.walk(),
            base.walk(),
            &ours.scope[..12.min(ours.scope.len())]
        );
    }

    // An HDR picture: libavfilter loaded with dlopen, its bindings searched through the same
    // order first.
    if !common::has_tone_mapping() {
        eprintln!("SKIP the HDR half: this FFmpeg has no tone mapping");
        return;
    }
    let out = scratch.path("hdr.jpg");
    let hdr = fixture("hdr10_pq.mkv");
    let args: [&OsStr; 4] = [hdr.as_ref(), "vframe/jpg/offset/0.5/w/160".as_ref(), "-o".as_ref(), out.as_ref()];
    let ours = LoaderReport::of(Path::new(VFRAME), &args, &scratch, "ours-hdr");
    let avfilter = ours
        .bindings
        .iter()
        .map(|(file, _, _)| file)
        .find(|file| file.contains("/libavfilter.so"))
        .expect("the HDR picture loaded libavfilter")
        .clone();
    let base = LoaderReport::of(&plain, &[avfilter.as_ref()], &scratch, "plain-hdr");
    assert!(base.bindings.iter().any(|(file, _, _)| *file == avfilter), "the plain program loaded {avfilter}");
    ours.binds_as(&base, &main_programs);
}
/// The `nm -D` letter of a symbol a shared object defines (`T` a function, `W` weak, `u`
/// unique, ...), or None when it does not define it.
fn defined_symbol_kind(lib: &str, symbol: &str) -> Option<char> {
    let out = Command::new("nm").args(["-D", "--defined-only", lib]).output().unwrap();
    assert!(out.status.success(), "nm {lib}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).lines().find_map(|line| {
        let mut fields = line.split_whitespace().rev();
        let name = fields.next()?;
        let kind = fields.next()?;
        (name.split('@').next() == Some(symbol)).then(|| kind.chars().next())?
    })
}
