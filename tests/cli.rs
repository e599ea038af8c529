//! The `vframe` command as a user runs it: `vframe INPUT SPEC -o OUTPUT`.
//!
//! Success writes exactly the image the library makes; failure prints one line on stderr,
//! exits non-zero (2 for usage errors) and leaves no output file and no temporary file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::fixture;

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
    std::fs::write(&output, b"old").unwrap();
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
    std::fs::write(&output, b"previous thumbnail").unwrap();
    assert_fails(&run(&fixture("audio_only.m4a"), "vframe/jpg/offset/1", &output), &["no video"]);
    assert_eq!(std::fs::read(&output).unwrap(), b"previous thumbnail");
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
    assert_usage_error(&vframe(&[v, spec, spec, "-o".as_ref(), o]), &["got 3"]);
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
