//! SPEC §5 against hostile input, through the public Rust API: playlists and other
//! indirection formats are refused without opening anything they name, protocol URLs given
//! as paths are plain (missing) file names, corrupt input of every kind ends in a status and
//! a message, and the time, frame, pixel and cancel controls stop a call.
//!
//! "Nothing else was opened" is proved with a [`Canary`]: a FIFO that a watcher thread sees
//! being opened (and then releases, so the opener gets EOF instead of blocking forever), a
//! regular file whose access time is set in the past (the kernel's relatime rule updates it
//! on the first read), and a TCP listener on 127.0.0.1 that counts connections. A control
//! test shows the canary does fire when the ffmpeg CLI follows the same playlists.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vframe::{Error, Image, Input, Options, Spec, Status};

// ---------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join(name)
}

/// Every tiny (64x48, 10 frame) fixture: one per container and codec.
fn tiny_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(common::fixtures_dir())
        .expect("the fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("tiny_")))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "scripts/fixtures.sh makes the tiny_* fixtures");
    files
}

fn spec(s: &str) -> Spec {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The error of a call that must fail; a success is reported by its size, not its bytes.
fn failure<T: std::fmt::Debug>(result: Result<Image, Error>, what: T) -> Error {
    match result {
        Ok(image) => panic!("{what:?}: accepted, gave a {}x{} image", image.width, image.height),
        Err(e) => e,
    }
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A folder under the system's temporary folder, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("vframe-hostile-{}-{tag}-{n}", std::process::id()));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A deterministic pseudo-random sequence (xorshift64*), so every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Asserts that a call on hostile input ended cleanly: a usable image, or an error with a
/// failure class other than `Internal` (a bug) and a message. Returns the status.
fn assert_clean(result: &Result<Image, Error>, what: &str) -> Status {
    match result {
        Ok(image) => {
            assert!(image.width >= 1 && image.height >= 1, "{what}: an image of {}x{}", image.width, image.height);
            assert!(image.data.len() > 100, "{what}: an image of {} bytes", image.data.len());
            Status::Ok
        }
        Err(e) => {
            assert_ne!(e.status(), Status::Internal, "{what}: internal error: {e}");
            assert_ne!(e.status(), Status::Ok, "{what}: an error with status Ok: {e}");
            assert!(!e.message().trim().is_empty(), "{what}: {:?} with an empty message", e.status());
            e.status()
        }
    }
}

/// Counts outcomes per status, for the summary a corpus test prints.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, status: Status) {
        *self.0.entry(format!("{status:?}")).or_default() += 1;
    }

    fn total(&self) -> usize {
        self.0.values().sum()
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} calls:", self.total())?;
        for (status, n) in &self.0 {
            write!(f, " {status} {n}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The canary: bait that tells whether anything opened it

/// A FIFO, a regular file and a TCP port that report being opened, read or connected to.
/// Playlists under test point at them; after the call, [`Canary::assert_untouched`].
struct Canary {
    dir: TempDir,
    /// A FIFO: opening it for reading blocks until a writer comes, so the watcher sees the
    /// reader (a non-blocking open for writing succeeds) and then lets it go with EOF.
    fifo: PathBuf,
    /// A regular file holding a real video, with its access time set in the past.
    bait: PathBuf,
    /// Whether this file system updates access times on read (relatime or strictatime).
    atime_works: bool,
    port: u16,
    touched: Arc<Mutex<Vec<String>>>,
    /// How many times the watcher has looked, so a check can wait for one more look.
    rounds: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

/// The access time the bait files are given: 2001, well before their modification time.
fn bait_atime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

fn set_atime(path: &Path, time: SystemTime) {
    let file = File::options().write(true).open(path).expect("the bait file");
    file.set_times(FileTimes::new().set_accessed(time)).expect("setting the access time");
}

fn accessed(path: &Path) -> SystemTime {
    fs::metadata(path).and_then(|m| m.accessed()).expect("the access time")
}

impl Canary {
    fn new() -> Canary {
        Canary::named("segment.ts", "bait.ts")
    }

    /// A canary whose FIFO and bait file have the given names.
    fn named(fifo_name: &str, bait_name: &str) -> Canary {
        let dir = TempDir::new("canary");
        let fifo = dir.join(fifo_name);
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", fifo.display());
        let bait = dir.write(bait_name, &read(&fixture("tiny_h264.ts")));
        set_atime(&bait, bait_atime());
        // Does reading update the access time here? (Not on noatime mounts.)
        let control = dir.write("control", b"read me");
        set_atime(&control, bait_atime());
        let _ = read(&control);
        let atime_works = accessed(&control) != bait_atime();
        if !atime_works {
            eprintln!("note: {} does not update access times; the bait file check is off", dir.0.display());
        }

        let listener = TcpListener::bind("127.0.0.1:0").expect("a local TCP port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let port = listener.local_addr().expect("the port").port();
        let touched = Arc::new(Mutex::new(Vec::new()));
        let rounds = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (fifo, touched, rounds, stop) =
                (fifo.clone(), Arc::clone(&touched), Arc::clone(&rounds), Arc::clone(&stop));
            std::thread::spawn(move || {
                let note = |what: String| touched.lock().unwrap().push(what);
                while !stop.load(Ordering::Relaxed) {
                    match OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo) {
                        // A reader has it open: closing our end gives the reader EOF.
                        Ok(_) => note(format!("the FIFO {} was opened", fifo.display())),
                        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
                        Err(e) => note(format!("the FIFO watcher failed: {e}")),
                    }
                    match listener.accept() {
                        Ok((stream, from)) => {
                            drop(stream);
                            note(format!("a TCP connection came from {from}"));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => note(format!("the TCP watcher failed: {e}")),
                    }
                    rounds.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Canary { dir, fifo, bait, atime_works, port, touched, rounds, stop, watcher: Some(watcher) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/segment.ts", self.port)
    }

    /// What the watcher and the bait file saw, after the watcher has looked twice more.
    fn touched(&self) -> Vec<String> {
        let start = self.rounds.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.rounds.load(Ordering::Relaxed) < start + 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut touched = self.touched.lock().unwrap().clone();
        if self.atime_works && accessed(&self.bait) != bait_atime() {
            touched.push(format!("the file {} was read", self.bait.display()));
        }
        touched
    }

    fn assert_untouched(&self, what: &str) {
        let touched = self.touched();
        assert!(touched.is_empty(), "{what}: {}", touched.join("; "));
    }

    /// The references a playlist may use to reach the canary.
    fn targets(&self) -> Vec<(String, String)> {
        vec![
            ("the FIFO by absolute path".into(), self.fifo.display().to_string()),
            ("the bait file by absolute path".into(), self.bait.display().to_string()),
            ("the bait file as a file: URL".into(), format!("file:{}", self.bait.display())),
            ("an http URL".into(), self.url()),
        ]
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Playlists and indirection formats (SPEC §5)

/// A text format that makes FFmpeg open what it names, with the demuxer name FFmpeg gives it.
struct Indirection {
    demuxer: &'static str,
    what: &'static str,
    extension: &'static str,
    /// The file's text, given what it should make FFmpeg open.
    text: fn(&str) -> String,
}

const INDIRECTIONS: &[Indirection] = &[
    Indirection {
        demuxer: "hls",
        what: "an HLS media playlist",
        extension: "m3u8",
        text: |t| {
            format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n{t}\n#EXT-X-ENDLIST\n")
        },
    },
    Indirection {
        demuxer: "hls",
        what: "an HLS master playlist",
        extension: "m3u8",
        text: |t| format!("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000,RESOLUTION=64x48\n{t}\n"),
    },
    Indirection {
        demuxer: "hls",
        what: "an HLS playlist with an AES key URI",
        extension: "m3u8",
        text: |t| {
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-KEY:METHOD=AES-128,URI=\"{t}\"\n#EXTINF:10.0,\n{t}\n#EXT-X-ENDLIST\n")
        },
    },
    Indirection {
        demuxer: "concat",
        what: "an ffconcat script",
        extension: "ffconcat",
        text: |t| format!("ffconcat version 1.0\nfile '{t}'\nfile '{t}'\n"),
    },
    Indirection {
        demuxer: "concat",
        what: "an ffconcat script with the subfile trick",
        extension: "ffconcat",
        text: |t| format!("ffconcat version 1.0\nfile 'subfile,,start,0,end,4096,,:{t}'\n"),
    },
    Indirection {
        demuxer: "dash",
        what: "a DASH manifest",
        extension: "mpd",
        text: |t| {
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1S" minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-main:2011">
 <Period>
  <AdaptationSet mimeType="video/mp4">
   <Representation id="v" bandwidth="100000" width="64" height="48" codecs="avc1.64000a">
    <BaseURL>{t}</BaseURL>
    <SegmentList duration="1"><Initialization sourceURL="{t}"/><SegmentURL media="{t}"/></SegmentList>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>
"#
            )
        },
    },
];

/// Asserts that `input` is refused as unsupported and names the format it was taken for.
fn assert_refused(input: Input<'_>, demuxer: &str, what: &str) {
    match vframe::extract(input, &spec("vframe/jpg/offset/0"), &Options::default()) {
        Ok(image) => panic!("{what}: accepted, gave a {}x{} image", image.width, image.height),
        Err(e) => {
            assert_eq!(e.status(), Status::UnsupportedInput, "{what}: {e}");
            assert!(e.message().contains(demuxer), "{what}: the message names '{demuxer}': {e}");
        }
    }
}

/// Each indirection format, pointing at each kind of target, given as memory, as a file with
/// its own extension and as a file renamed to `.mp4`: refused, and nothing opened.
#[test]
fn playlists_and_indirection_formats_are_refused_and_open_nothing() {
    let canary = Canary::new();
    let dir = TempDir::new("playlists");
    for format in INDIRECTIONS {
        let mut targets = canary.targets();
        if format.what.contains("subfile") {
            targets.retain(|(_, t)| t.starts_with('/'));
        }
        for (target_name, target) in targets {
            let text = (format.text)(&target);
            let what = format!("{} naming {target_name}", format.what);
            assert_refused(Input::Memory(text.as_bytes()), format.demuxer, &format!("{what} (in memory)"));
            let named = dir.write(&format!("playlist.{}", format.extension), text.as_bytes());
            assert_refused(Input::Path(&named), format.demuxer, &format!("{what} ({})", named.display()));
            let renamed = dir.write("video.mp4", text.as_bytes());
            assert_refused(Input::Path(&renamed), format.demuxer, &format!("{what} (renamed to .mp4)"));
            canary.assert_untouched(&what);
        }
    }
}

/// The classic exploits aim at local secrets: same refusal.
#[test]
fn playlists_naming_local_secrets_are_refused() {
    let cases = [
        ("concat", "ffconcat version 1.0\nfile /etc/passwd\n".to_string()),
        ("concat", "ffconcat version 1.0\nfile 'subfile,,start,0,end,1048576,,:/etc/passwd'\n".into()),
        ("hls", (INDIRECTIONS[0].text)("file:///etc/passwd")),
        ("hls", (INDIRECTIONS[0].text)("concat:/etc/passwd|/etc/hostname")),
        ("dash", (INDIRECTIONS[5].text)("/etc/passwd")),
    ];
    for (demuxer, text) in cases {
        let what = format!("{:?}", text.lines().last().unwrap_or_default());
        assert_refused(Input::Memory(text.as_bytes()), demuxer, &what);
    }
}

/// M3U playlists FFmpeg's own probe does not name: a plain M3U (no HLS tags), an HLS
/// playlist after a UTF-8 byte order mark. FFmpeg 7.1 and later also stop naming any HLS
/// playlist that has no .m3u8 file name, which a custom I/O never gives; vframe recognises
/// them itself, so each is refused as a playlist on every FFmpeg version.
#[test]
fn playlists_ffmpeg_does_not_recognise_are_refused_as_playlists() {
    let canary = Canary::new();
    let fifo = canary.fifo.display().to_string();
    let cases = [
        ("a plain M3U playlist", format!("#EXTM3U\n#EXTINF:-1,x\n{fifo}\n")),
        ("an HLS playlist after a byte order mark", format!("\u{feff}{}", (INDIRECTIONS[0].text)(&fifo))),
    ];
    for (what, text) in cases {
        assert_refused(Input::Memory(text.as_bytes()), "hls", what);
        let path = canary.dir.write("list.mp4", text.as_bytes());
        assert_refused(Input::Path(&path), "hls", &format!("{what} in a file"));
    }
    canary.assert_untouched("M3U playlists");
}

/// An SDP file makes FFmpeg listen for RTP on UDP ports it names: refused like a playlist.
#[test]
fn session_descriptions_are_refused() {
    let sdp = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n";
    assert_refused(Input::Memory(sdp.as_bytes()), "sdp", "an SDP file");
    let dir = TempDir::new("sdp");
    let renamed = dir.write("stream.mp4", sdp.as_bytes());
    assert_refused(Input::Path(&renamed), "sdp", "an SDP file renamed to .mp4");
}

/// The HLS sample of the shared media collection (a real playlist with a byte-range
/// segment), as it is and copied beside a FIFO standing in for its segment.
#[test]
fn the_shared_hls_playlist_is_refused_without_reading_its_segment() {
    let Some(media) = common::media_dir() else { return };
    let playlist = media.join("hls/sd-hls.m3u8");
    if !playlist.is_file() {
        eprintln!("skipped: {} is absent", playlist.display());
        return;
    }
    assert_refused(Input::Path(&playlist), "hls", "the shared sd-hls.m3u8");
    let text = read(&playlist);
    assert_refused(Input::Memory(&text), "hls", "the shared sd-hls.m3u8 in memory");

    let canary = Canary::named("sd-hls0000000000.ts", "unused.ts");
    let copy = canary.dir.write("sd-hls.m3u8", &text);
    let renamed = canary.dir.write("sd-hls.mp4", &text);
    assert_refused(Input::Path(&copy), "hls", "sd-hls.m3u8 beside a FIFO segment");
    assert_refused(Input::Path(&renamed), "hls", "sd-hls.m3u8 renamed to .mp4 beside a FIFO segment");
    canary.assert_untouched("sd-hls.m3u8 beside a FIFO segment");
}

/// The control for the tests above: the ffmpeg CLI does follow these playlists, and the
/// canary sees it. Without this, "untouched" could mean a canary that cannot see anything.
#[test]
fn the_canary_sees_ffmpeg_follow_a_playlist() {
    let ffprobe = |args: &[&str]| {
        let output = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0"])
            .args(args)
            .output()
            .expect("ffprobe runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    // FFmpeg resolves a playlist's relative names beside the playlist.
    let canary = Canary::new();
    let playlist = canary.dir.write("playlist.m3u8", (INDIRECTIONS[0].text)("segment.ts").as_bytes());
    ffprobe(&[playlist.to_str().unwrap()]);
    let touched = canary.touched();
    assert!(touched.iter().any(|t| t.contains("FIFO")), "ffprobe opened the FIFO segment: {touched:?}");

    let canary = Canary::new();
    let script = canary.dir.write("list.ffconcat", (INDIRECTIONS[3].text)("bait.ts").as_bytes());
    let format = ffprobe(&[script.to_str().unwrap()]);
    assert_eq!(format, "concat", "ffprobe read the bait video through the script");
    if canary.atime_works {
        let touched = canary.touched();
        assert!(touched.iter().any(|t| t.contains("was read")), "the bait file was read: {touched:?}");
    }

    let canary = Canary::new();
    let playlist = canary.dir.write("remote.m3u8", (INDIRECTIONS[0].text)(&canary.url()).as_bytes());
    ffprobe(&["-protocol_whitelist", "file,http,tcp", playlist.to_str().unwrap()]);
    let touched = canary.touched();
    assert!(touched.iter().any(|t| t.contains("TCP")), "ffprobe connected to the listener: {touched:?}");
}

/// Image sequences: a still image is not a video, and an image2 pattern is a file name like
/// any other (so it names no file), whose would-be first frames are never read.
#[test]
fn image_sequences_are_refused() {
    let canary = Canary::named("img000.png", "img001.png");
    let png = canary.dir.join("still.png");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"])
        .arg(&png)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg made a PNG");
    assert_refused(Input::Path(&png), "png", "a PNG image");
    let renamed = canary.dir.write("still.mp4", &read(&png));
    assert_refused(Input::Path(&renamed), "png", "a PNG image renamed to .mp4");

    for pattern in ["img%03d.png", "img%d.png", "img*.png", "img00?.png"] {
        let path = canary.dir.join(pattern);
        let error =
            failure(vframe::extract(Input::Path(&path), &spec("vframe/jpg/offset/0"), &Options::default()), pattern);
        assert_eq!(error.status(), Status::CannotOpen, "{pattern}: {error}");
        assert!(error.message().contains(pattern), "{pattern}: the message names the path: {error}");
    }
    canary.assert_untouched("image2 patterns");
}

/// Protocol syntax given as a path is a file name: nothing is fetched or joined.
#[test]
fn protocol_urls_given_as_paths_are_plain_file_names() {
    let canary = Canary::new();
    let video = fixture("tiny_h264.mp4");
    let v = video.display();
    let urls = [
        format!("concat:{v}|{v}"),
        format!("subfile,,start,0,end,0,,:{v}"),
        format!("file:{v}"),
        format!("file://{v}"),
        canary.url(),
        "http://127.0.0.1:1/x.mp4".into(),
        "tcp://127.0.0.1:1".into(),
        "pipe:0".into(),
        "data:video/mp4;base64,AAAA".into(),
        format!("async:file:{v}"),
        format!("cache:{v}"),
    ];
    for url in &urls {
        let error = failure(
            vframe::extract(Input::Path(Path::new(url)), &spec("vframe/jpg/offset/0"), &Options::default()),
            url,
        );
        assert_eq!(error.status(), Status::CannotOpen, "{url}: {error}");
    }
    canary.assert_untouched("protocol URLs as paths");

    // And a file that really has such a name is opened as that file.
    let dir = TempDir::new("urlnames");
    let odd = dir.write("concat:a|b.mp4", &read(&video));
    let image = vframe::extract(Input::Path(&odd), &spec("vframe/jpg/offset/0"), &Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", odd.display()));
    assert_eq!((image.width, image.height), (64, 48));
}

/// The name says nothing: a video named `.m3u8` is a video.
#[test]
fn a_video_named_like_a_playlist_is_still_a_video() {
    let dir = TempDir::new("misnamed");
    let path = dir.write("video.m3u8", &read(&fixture("tiny_h264.mp4")));
    let image = vframe::extract(Input::Path(&path), &spec("vframe/png/offset/0.5"), &Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!((image.width, image.height), (64, 48));
}

// ---------------------------------------------------------------------------------------
// Special files given as paths

/// Runs `f` on another thread and waits at most `limit` for it. On overrun, `release` is
/// called (to unblock it) and the test fails, so a hang is reported instead of hanging.
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    release: impl FnOnce(),
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = worker.join();
            v
        }
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker ended without sending"),
        },
        Err(RecvTimeoutError::Timeout) => {
            release();
            let _ = worker.join();
            panic!("{what}: still running after {limit:?}");
        }
    }
}

fn extract_path_owned(path: PathBuf, options: Options) -> Result<Image, Error> {
    vframe::extract(Input::Path(&path), &spec("vframe/jpg/offset/1"), &options)
}

/// A directory, an empty device and endless devices: an error each, within the time limit.
#[test]
fn directories_and_devices_fail_cleanly() {
    let dir = TempDir::new("special");
    let options = Options { timeout: Some(Duration::from_secs(5)), ..Options::default() };
    for path in [dir.0.clone(), "/dev/null".into(), "/dev/zero".into(), "/dev/urandom".into()] {
        let what = path.display().to_string();
        let result = within(Duration::from_secs(30), &what, || {}, {
            let options = options.clone();
            move || extract_path_owned(path, options)
        });
        let status = assert_clean(&result, &what);
        assert_ne!(status, Status::Ok, "{what}");
        eprintln!("{what}: {:?}", result.err().map(|e| e.to_string()));
    }
}

/// A FIFO nobody writes to: opening it for reading would block forever; the call must fail
/// (it is not a regular file) instead of hanging past its time limit.
#[test]
fn a_fifo_given_as_the_input_does_not_hang() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("input.mp4");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    let options = Options { timeout: Some(Duration::from_secs(2)), ..Options::default() };
    let release = {
        let fifo = fifo.clone();
        move || drop(OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo))
    };
    let result = within(Duration::from_secs(10), "a FIFO as the input", release, {
        let fifo = fifo.clone();
        move || extract_path_owned(fifo, options)
    });
    let status = assert_clean(&result, "a FIFO as the input");
    assert_ne!(status, Status::Ok);
}

// ---------------------------------------------------------------------------------------
// Corrupt, truncated, empty and random input

/// The offsets the corpus tests ask for, in turn: the start, inside, past the end.
const OFFSETS: [&str; 3] = ["vframe/jpg/offset/0", "vframe/jpg/offset/0.55", "vframe/png/offset/30"];

/// Runs `data` as memory and, every `path_every` cases, as a file too; asserts clean ends.
struct Corpus {
    dir: TempDir,
    tally: Tally,
    cases: usize,
    path_every: usize,
}

impl Corpus {
    fn new(path_every: usize) -> Corpus {
        Corpus { dir: TempDir::new("corpus"), tally: Tally::default(), cases: 0, path_every }
    }

    fn check(&mut self, data: &[u8], what: &str) {
        let spec = spec(OFFSETS[self.cases % OFFSETS.len()]);
        let options = Options::default();
        let result = vframe::extract(Input::Memory(data), &spec, &options);
        self.tally.add(assert_clean(&result, &format!("{what} (in memory, {spec})")));
        if self.cases % self.path_every == 0 {
            let path = self.dir.write("case.bin", data);
            let from_file = vframe::extract(Input::Path(&path), &spec, &options);
            self.tally.add(assert_clean(&from_file, &format!("{what} (as a file, {spec})")));
            // The same bytes give the same outcome whichever way they come.
            assert_eq!(
                from_file.as_ref().map_err(Error::status).err(),
                result.as_ref().map_err(Error::status).err(),
                "{what}: memory and file disagree"
            );
        }
        self.cases += 1;
    }
}

#[test]
fn empty_and_random_inputs_are_refused() {
    let mut rng = Rng(0x5eed_0001);
    let empty =
        failure(vframe::extract(Input::Memory(&[]), &spec("vframe/jpg/offset/0"), &Options::default()), "empty input");
    assert_eq!(empty.status(), Status::CannotOpen, "{empty}");
    let dir = TempDir::new("empty");
    let path = dir.write("empty.mp4", b"");
    let empty =
        failure(vframe::extract(Input::Path(&path), &spec("vframe/jpg/offset/0"), &Options::default()), "empty file");
    assert_eq!(empty.status(), Status::CannotOpen, "{empty}");

    let mut corpus = Corpus::new(4);
    for len in [1, 2, 3, 4, 7, 8, 12, 16, 64, 188, 512, 4096, 65536, 300_000] {
        let random: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        corpus.check(&random, &format!("{len} random bytes"));
        corpus.check(&vec![0; len], &format!("{len} zero bytes"));
        corpus.check(&vec![0xff; len], &format!("{len} 0xff bytes"));
    }
    // Magic numbers of real containers followed by garbage.
    let magics: [&[u8]; 10] = [
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
        b"\x1a\x45\xdf\xa3",
        b"RIFF\x00\x10\x00\x00AVI LIST",
        b"\x47\x40\x00\x10",
        b"FLV\x01\x05\x00\x00\x00\x09",
        b"OggS\x00\x02",
        b"YUV4MPEG2 ",
        b"DKIF\x00\x00\x20\x00",
        b"\x00\x00\x00\x01\x67",
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",
    ];
    for magic in magics {
        for len in [0, 1, 100, 5000] {
            let mut data = magic.to_vec();
            data.extend((0..len).map(|_| rng.next() as u8));
            corpus.check(&data, &format!("{:?}... with {len} random bytes", &magic[..4]));
        }
    }
    eprintln!("random and magic inputs: {}", corpus.tally);
    assert_eq!(corpus.tally.0.get("Ok"), None, "garbage was taken for a video: {}", corpus.tally);
}

/// Every tiny fixture cut short at many points: near the start every byte, then evenly.
#[test]
fn truncated_videos_fail_cleanly_at_every_cut() {
    let mut corpus = Corpus::new(5);
    for path in tiny_fixtures() {
        let data = read(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut cuts: Vec<usize> = (1..=24).collect();
        cuts.extend((1..32).map(|i| data.len() * i / 32));
        cuts.push(data.len() - 1);
        for cut in cuts {
            corpus.check(&data[..cut], &format!("{name} cut to {cut} of {} bytes", data.len()));
        }
    }
    eprintln!("truncated inputs: {}", corpus.tally);
}

/// Every tiny fixture with bytes changed at random: a few bit flips, runs of garbage, zeroed
/// blocks, and a header region hit hard.
#[test]
fn damaged_videos_fail_cleanly() {
    let mut corpus = Corpus::new(5);
    let mut rng = Rng(0x5eed_0002);
    for path in tiny_fixtures() {
        let original = read(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for round in 0..24 {
            let mut data = original.clone();
            let how = match round % 4 {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(data.len());
                        data[at] ^= 1 << rng.below(8);
                    }
                    "bit flips"
                }
                1 => {
                    let at = rng.below(data.len());
                    let end = (at + 1 + rng.below(64)).min(data.len());
                    data[at..end].iter_mut().for_each(|b| *b = rng.next() as u8);
                    "a run of garbage"
                }
                2 => {
                    let at = rng.below(data.len());
                    let end = (at + 1 + rng.below(1024)).min(data.len());
                    data[at..end].fill(0);
                    "a zeroed block"
                }
                _ => {
                    let head = data.len().min(256);
                    for _ in 0..4 {
                        let at = rng.below(head);
                        data[at] = rng.next() as u8;
                    }
                    "header bytes replaced"
                }
            };
            corpus.check(&data, &format!("{name} with {how} (round {round})"));
        }
    }
    eprintln!("damaged inputs: {}", corpus.tally);
}

/// The corrupt and truncated files of the shared media collection.
#[test]
fn corrupt_files_of_the_media_collection_fail_cleanly() {
    let Some(media) = common::media_dir() else { return };
    let mut files: Vec<PathBuf> = fs::read_dir(&media)
        .expect("the media folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("corrupt_") || n.starts_with("truncated_"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the media folder has corrupt_* and truncated_* files");
    for path in files {
        for s in OFFSETS {
            let result = vframe::extract(Input::Path(&path), &spec(s), &Options::default());
            let status = assert_clean(&result, &format!("{} {s}", path.display()));
            eprintln!("{} {s}: {status:?} {}", path.display(), result.err().map(|e| e.to_string()).unwrap_or_default());
            let data = read(&path);
            let in_memory = vframe::extract(Input::Memory(&data), &spec(s), &Options::default());
            assert_eq!(assert_clean(&in_memory, &format!("{} {s} in memory", path.display())), status);
        }
    }
}

/// A YUV4MPEG2 header claiming `width` x `height`, followed by `body` bytes of one frame.
fn y4m(width: u64, height: u64, body: usize) -> Vec<u8> {
    let mut data = format!("YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n").into_bytes();
    data.resize(data.len() + body, 0x80);
    data
}

/// Headers that claim enormous pictures are refused before anything that size is allocated;
/// the pixel limit counts exactly.
#[test]
fn huge_claimed_dimensions_hit_the_pixel_limit() {
    for (w, h) in [(65535, 65535), (16385, 16384), (1 << 20, 1 << 20), (1 << 31, 1 << 31)] {
        let result =
            vframe::extract(Input::Memory(&y4m(w, h, 1000)), &spec("vframe/jpg/offset/0"), &Options::default());
        let status = assert_clean(&result, &format!("a {w}x{h} y4m header"));
        assert!(matches!(status, Status::LimitExceeded | Status::CannotOpen), "a {w}x{h} y4m header: {result:?}");
    }
    // Extreme shapes within the limit, with too little data: a clean error.
    for (w, h) in [(100_000, 3), (3, 100_000), (1, 1)] {
        let result =
            vframe::extract(Input::Memory(&y4m(w, h, 1000)), &spec("vframe/jpg/offset/0"), &Options::default());
        assert_clean(&result, &format!("a {w}x{h} y4m header"));
    }
    // Within the default limit but far bigger than the data: a clean error, not a huge read.
    let result =
        vframe::extract(Input::Memory(&y4m(16384, 16384, 1000)), &spec("vframe/jpg/offset/0"), &Options::default());
    assert_ne!(assert_clean(&result, "a 16384x16384 y4m header with 1000 bytes"), Status::Ok);

    // The limit is exact: a 64x48 video passes at 3072 pixels and not at 3071.
    let video = read(&fixture("tiny_h264.mp4"));
    let limit = |max_input_pixels| Options { max_input_pixels, ..Options::default() };
    vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/0"), &limit(64 * 48)).expect("at the limit");
    let error = failure(
        vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/0"), &limit(64 * 48 - 1)),
        "over the limit",
    );
    assert_eq!(error.status(), Status::LimitExceeded, "{error}");
    assert!(error.message().contains("64x48"), "the message gives the size: {error}");
}

/// A raw H.264 stream that starts at 64x48 and switches (a new SPS) to 320x240: the pixel
/// limit must hold for every decoded picture, not only for the size the stream declares
/// first. (Otherwise a small header in front of a 16384x16384 stream passes any limit.)
#[test]
fn the_pixel_limit_holds_when_the_picture_grows_mid_stream() {
    let dir = TempDir::new("grow");
    let big = dir.join("big.h264");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10"])
        .args(["-frames:v", "1", "-c:v", "libx264", "-preset", "ultrafast", "-f", "h264"])
        .arg(&big)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg made a 320x240 H.264 frame");
    let mut stream = read(&fixture("tiny_h264.h264"));
    stream.extend(read(&big));
    // The limit trips, and says so: never an earlier, smaller frame (a fallback) and never a
    // decode error. The same with one decoder thread, with automatic threads, from a path.
    let path = dir.join("grow.h264");
    fs::write(&path, &stream).unwrap();
    for threads in [0, 1] {
        let options = Options { max_input_pixels: 64 * 48, threads, ..Options::default() };
        for (what, result) in [
            ("memory", vframe::extract(Input::Memory(&stream), &spec("vframe/png/offset/30"), &options)),
            ("path", vframe::extract(Input::Path(&path), &spec("vframe/png/offset/30"), &options)),
        ] {
            let error = failure(result, format!("{what}, {threads} threads: the grown picture"));
            assert_eq!(error.status(), Status::LimitExceeded, "{what}, {threads} threads: {error}");
            assert!(error.message().contains("320x240"), "the message gives the size: {error}");
        }
        // The frames before the growth are still there for offsets that reach no further.
        let image = vframe::extract(Input::Memory(&stream), &spec("vframe/png/offset/0"), &options)
            .unwrap_or_else(|e| panic!("the first, small frame: {e}"));
        assert_eq!((image.width, image.height), (64, 48));
    }
    // Within the limit the grown picture is the answer.
    let options = Options { max_input_pixels: 320 * 240, ..Options::default() };
    let image = vframe::extract(Input::Memory(&stream), &spec("vframe/png/offset/30"), &options).unwrap();
    assert_eq!((image.width, image.height), (320, 240));
}

/// The same for AV1, whose decoder (libdav1d) allocates its pictures itself and never asks
/// FFmpeg's `get_buffer2` for them: a 64x48 stream followed by a 320x240 one (a new sequence
/// header) must trip the limit, not return the grown picture as if it were within it.
#[test]
fn the_pixel_limit_holds_when_an_av1_picture_grows_mid_stream() {
    let dir = TempDir::new("grow-av1");
    let mut stream = Vec::new();
    for (size, frames) in [("64x48", "10"), ("320x240", "2")] {
        let part = dir.join(&format!("{size}.obu"));
        let made = Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"])
            .arg("-i")
            .arg(format!("testsrc2=size={size}:rate=10"))
            .args(["-frames:v", frames, "-c:v", "libaom-av1", "-cpu-used", "8", "-f", "obu"])
            .arg(&part)
            .status()
            .expect("ffmpeg runs");
        assert!(made.success(), "ffmpeg made a {size} AV1 stream");
        stream.extend(read(&part));
    }
    let path = dir.join("grow.obu");
    fs::write(&path, &stream).unwrap();
    for threads in [0, 1] {
        let options = Options { max_input_pixels: 64 * 48, threads, ..Options::default() };
        for offset in ["1.05", "5"] {
            let result = vframe::extract(Input::Path(&path), &spec(&format!("vframe/png/offset/{offset}")), &options);
            let error = failure(result, format!("{threads} threads, offset {offset}: the grown picture"));
            assert_eq!(error.status(), Status::LimitExceeded, "{threads} threads, offset {offset}: {error}");
            assert!(error.message().contains("320x240"), "the message gives the size: {error}");
        }
        let image = vframe::extract(Input::Path(&path), &spec("vframe/png/offset/0.3"), &options)
            .unwrap_or_else(|e| panic!("a small frame before the growth: {e}"));
        assert_eq!((image.width, image.height), (64, 48));
    }
    let options = Options { max_input_pixels: 320 * 240, ..Options::default() };
    let image = vframe::extract(Input::Path(&path), &spec("vframe/png/offset/1.05"), &options).unwrap();
    assert_eq!((image.width, image.height), (320, 240));
}

// ---------------------------------------------------------------------------------------
// Work limits: time, frames, cancel

/// A long video in memory: the 8 s MPEG-TS fixture `copies` times over (TS files
/// concatenate), with one time base and a repeating clock, so no seek can shortcut it.
fn long_ts(copies: usize) -> Vec<u8> {
    read(&fixture("start600.ts")).repeat(copies)
}

/// How long a slow stop may take past its trigger on a loaded two-core machine: the decode
/// loop checks between packets, so this is one packet's decode plus scheduling, with room.
const PROMPT: Duration = Duration::from_secs(2);

/// One minute in a single GOP: the frame at 59 s needs every frame before it decoded.
fn single_gop_minute() -> Vec<u8> {
    read(&fixture("long_single_gop.ts"))
}

#[test]
fn a_small_time_limit_stops_a_long_decode_promptly() {
    let video = single_gop_minute();
    // The whole decode takes about 0.6 s here: the limit is a sixth of it.
    let timeout = Duration::from_millis(100);
    let options = Options { timeout: Some(timeout), ..Options::default() };
    let started = Instant::now();
    let error = failure(
        vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/59"), &options),
        "a minute of video decoded in 100 ms",
    );
    let took = started.elapsed();
    assert_eq!(error.status(), Status::Timeout, "{error}");
    assert!(took < timeout + PROMPT, "stopped after {took:?}");
    assert!(took >= timeout, "stopped after {took:?}, before the limit");
    assert!(error.message().contains("0.100"), "the message gives the limit: {error}");
}

#[test]
fn the_frame_limit_stops_a_long_decode() {
    let options = Options { max_decoded_frames: 20, ..Options::default() };
    // Keyframes at 0 and 8.33 s: frame 240 needs the 240 frames before it (at least the
    // reference frames among them, far more than 20).
    let error = failure(
        vframe::extract(Input::Path(&fixture("bframes_gop250.mp4")), &spec("vframe/jpg/offset/8"), &options),
        "240 frames decoded under a limit of 20",
    );
    assert_eq!(error.status(), Status::LimitExceeded, "{error}");
    assert!(error.message().contains("20"), "the message gives the limit: {error}");
    let video = long_ts(10);
    let error = failure(
        vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/79"), &options),
        "80 s decoded under a limit of 20 frames",
    );
    assert_eq!(error.status(), Status::LimitExceeded, "{error}");
    // Fast mode tests keyframe marks by decoding them alone: on H.263+ in Matroska, whose
    // every packet is marked a keyframe (here one true keyframe in 24 s), the tests count
    // against the limit too, and the message says what the frames were decoded for.
    let error = failure(
        vframe::extract(Input::Path(&fixture(".h263p_gop600.mkv")), &spec("vframe/jpg/offset/20/mode/fast"), &options),
        "keyframe marks tested under a limit of 20 frames",
    );
    assert_eq!(error.status(), Status::LimitExceeded, "{error}");
    assert!(error.message().contains("looking for a keyframe"), "says what was decoded: {error}");
    // Under the limit the same call works.
    let options = Options { max_decoded_frames: 400, ..Options::default() };
    vframe::extract(Input::Path(&fixture("bframes_gop250.mp4")), &spec("vframe/jpg/offset/8"), &options)
        .expect("240 frames under a limit of 400");
}

#[test]
fn cancel_stops_a_call_from_another_thread() {
    let video = single_gop_minute();
    let cancel = Arc::new(AtomicBool::new(false));
    let options = Options { cancel: Some(Arc::clone(&cancel)), ..Options::default() };
    let canceller = std::thread::spawn({
        let cancel = Arc::clone(&cancel);
        move || {
            std::thread::sleep(Duration::from_millis(100));
            cancel.store(true, Ordering::Relaxed);
            Instant::now()
        }
    });
    let error = failure(
        vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/59"), &options),
        "a minute of video decoded in 100 ms",
    );
    let stopped = Instant::now();
    let cancelled = canceller.join().unwrap();
    assert_eq!(error.status(), Status::Cancelled, "{error}");
    assert!(stopped.duration_since(cancelled) < PROMPT, "stopped {:?} after the cancel", stopped - cancelled);

    // A flag already set stops the call before it decodes anything.
    let started = Instant::now();
    let error = failure(
        vframe::extract(Input::Path(&fixture("tiny_h264.mp4")), &spec("vframe/jpg/offset/0"), &options),
        "a call cancelled before it starts",
    );
    assert_eq!(error.status(), Status::Cancelled, "{error}");
    assert!(started.elapsed() < PROMPT);
}

// ---------------------------------------------------------------------------------------
// Extreme but valid requests and options

/// The largest offset, the largest and smallest sizes, on a tiny video: an image each.
#[test]
fn extreme_specs_work_on_a_tiny_video() {
    let video = fixture("tiny_h264.mp4");
    for (s, size) in [
        ("vframe/jpg/offset/10000000", (64, 48)),
        ("vframe/png/offset/0/w/3840/h/2160", (3840, 2160)),
        ("vframe/jpg/offset/0.999/w/1/h/1", (1, 1)),
        ("vframe/jpg/offset/0/w/3840", (2880, 2160)),
        ("vframe/png/offset/0/h/1/rotate/90", (1, 1)),
    ] {
        let image =
            vframe::extract(Input::Path(&video), &spec(s), &Options::default()).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!((image.width, image.height), size, "{s}");
    }
}

/// Options at their extremes: a clean error or an image, never a crash or a hang.
#[test]
fn extreme_options_end_cleanly() {
    let video = read(&fixture("tiny_h264.mp4"));
    let cases = [
        ("no time at all", Options { timeout: Some(Duration::ZERO), ..Options::default() }, Some(Status::Timeout)),
        ("no frames", Options { max_decoded_frames: 0, ..Options::default() }, Some(Status::LimitExceeded)),
        ("no pixels", Options { max_input_pixels: 0, ..Options::default() }, Some(Status::LimitExceeded)),
        ("u32::MAX threads", Options { threads: u32::MAX, ..Options::default() }, None),
        ("1000 threads", Options { threads: 1000, ..Options::default() }, None),
        ("no time limit", Options { timeout: None, ..Options::default() }, Some(Status::Ok)),
        (
            "very high limits",
            Options {
                timeout: Some(Duration::from_secs(1 << 40)),
                max_decoded_frames: u64::MAX,
                max_input_pixels: u64::MAX,
                ..Options::default()
            },
            Some(Status::Ok),
        ),
    ];
    for (what, options, want) in cases {
        let result = within(Duration::from_secs(60), what, || {}, {
            let video = video.clone();
            move || vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/0.5"), &options)
        });
        let status = assert_clean(&result, what);
        eprintln!("{what}: {status:?} {}", result.as_ref().err().map(Error::to_string).unwrap_or_default());
        if let Some(want) = want {
            assert_eq!(status, want, "{what}: {:?}", result.err());
        }
    }
}

/// A timeout too long for the clock to represent (`Duration::MAX`) means no time limit; it
/// must not panic inside the library (`Instant + Duration` overflows).
#[test]
fn a_timeout_beyond_the_clock_means_no_limit() {
    let video = read(&fixture("tiny_h264.mp4"));
    let options = Options { timeout: Some(Duration::MAX), ..Options::default() };
    let image = vframe::extract(Input::Memory(&video), &spec("vframe/jpg/offset/0.5"), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((image.width, image.height), (64, 48));
}
