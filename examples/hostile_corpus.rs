//! Runs vframe over a corpus of good and hostile inputs and counts the outcomes; made to be
//! run under valgrind (`scripts/hostile-valgrind.sh`, `make test-hostile`), which then sees
//! every allocation and memory access of each call, FFmpeg's included.
//!
//! `hostile_corpus [--mutants N] FILE... [--mutants M FILE...]`: each FILE is extracted as
//! it is (from a path and from memory, several specs), then as N truncated and N damaged
//! copies (in memory; N is the last `--mutants` before the file, 8 by default), the file
//! and every fourth cut copy also through a `Source` and a short `vsample`; to that come
//! built-in hostile inputs: playlists and indirection formats, empty, random and zero
//! bytes, huge claimed dimensions, and calls stopped by the frame limit and by cancel.
//!
//! Exit status 0 when every call ended in an image or a non-internal error; 1 otherwise
//! (a panic also ends the process with a failure).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use vframe::{Input, Options, Spec, Status};

const SPECS: [&str; 4] = [
    "vframe/jpg/offset/0",
    "vframe/png/offset/0.55/w/32",
    "vframe/jpg/offset/30/rotate/90",
    "vframe/png/offset/0.2/h/20/rotate/auto",
];

struct Run {
    tally: BTreeMap<String, usize>,
    internal: Vec<String>,
    calls: usize,
}

impl Run {
    fn call(&mut self, input: Input<'_>, spec: &str, options: &Options, what: &str) {
        let spec: Spec = spec.parse().expect("a valid spec");
        let status = match vframe::extract(input, &spec, options) {
            Ok(image) => {
                assert!(image.width >= 1 && image.height >= 1 && !image.data.is_empty(), "{what}: an empty image");
                Status::Ok
            }
            Err(e) => {
                if e.status() == Status::Internal || e.message().is_empty() {
                    self.internal.push(format!("{what}: {:?} {e}", e.status()));
                }
                e.status()
            }
        };
        *self.tally.entry(format!("{status:?}")).or_default() += 1;
        self.calls += 1;
    }

    /// The same input through a `Source` (offsets backwards, past the end, fast mode) and
    /// a short `vsample`: the handle's and the sample's paths over the same bytes. (Widths
    /// stay above 1/50 of the picture's: FFmpeg 5.1's swscale reads the uninitialised
    /// padding of its own intermediate image when it cascades such a downscale, 720p to
    /// 24x14, which valgrind reports; the image does not depend on it.)
    fn handle(&mut self, input: Input<'_>, options: &Options, what: &str) {
        let mut statuses = Vec::new();
        match vframe::Source::open(input, options) {
            Ok(mut source) => {
                for spec in ["vframe/png/offset/30/w/48", "vframe/jpg/offset/0.55", "vframe/jpg/offset/0.2/mode/fast"] {
                    statuses.push(source.extract(&spec.parse().expect("a valid spec")).map(|_| ()));
                }
            }
            Err(e) => statuses.push(Err(e)),
        }
        let sample: vframe::SampleSpec = "vsample/jpg/interval/0.4/s/48x".parse().expect("a valid spec");
        match vframe::Sample::open(input, &sample, options) {
            Ok(frames) => statuses.extend(frames.map(|frame| frame.map(|_| ()))),
            Err(e) => statuses.push(Err(e)),
        }
        for status in statuses {
            let status = match status {
                Ok(()) => Status::Ok,
                Err(e) => {
                    if e.status() == Status::Internal || e.message().is_empty() {
                        self.internal.push(format!("{what} (source or sample): {:?} {e}", e.status()));
                    }
                    e.status()
                }
            };
            *self.tally.entry(format!("{status:?}")).or_default() += 1;
            self.calls += 1;
        }
    }
}

/// xorshift64*: the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut mutants = 8;
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    let mut extreme: Vec<PathBuf> = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--mutants" {
            mutants = args.next().and_then(|n| n.parse().ok()).expect("--mutants N");
        } else if arg == "--extreme" {
            extreme.push(args.next().expect("--extreme FILE").into());
        } else {
            files.push((arg.into(), mutants));
        }
    }
    let mut run = Run { tally: BTreeMap::new(), internal: Vec::new(), calls: 0 };
    let mut rng = Rng(0x5eed_cafe);
    let default = Options::default();
    let single = Options { threads: 1, ..Options::default() };

    for (i, (path, mutants)) in files.iter().enumerate() {
        let name = path.display().to_string();
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Alternate FFmpeg's own threading and one thread, so both code paths run.
        let options = if i % 2 == 0 { &default } else { &single };
        run.call(Input::Path(path), SPECS[i % SPECS.len()], options, &name);
        run.call(Input::Memory(&data), SPECS[(i + 1) % SPECS.len()], options, &name);
        run.handle(Input::Memory(&data), options, &name);
        for m in 0..*mutants {
            let cut = 1 + rng.below(data.len().saturating_sub(1));
            let what = format!("{name} cut to {cut} bytes");
            run.call(Input::Memory(&data[..cut]), SPECS[m % SPECS.len()], options, &what);
            if m % 4 == 0 {
                run.handle(Input::Memory(&data[..cut]), options, &what);
            }
            let mut damaged = data.clone();
            for _ in 0..1 + rng.below(16) {
                let at = rng.below(damaged.len());
                damaged[at] = rng.below(256) as u8;
            }
            run.call(Input::Memory(&damaged), SPECS[(m + 2) % SPECS.len()], options, &format!("{name} damaged ({m})"));
        }
    }

    // Thumbnails far narrower or lower than the picture, through one source: swscale
    // read memory it never wrote in one such pass, and passes of other counts in turn
    // leaked the contexts of the passes no longer needed.
    for path in &extreme {
        let name = path.display().to_string();
        match vframe::Source::open(Input::Path(path), &default) {
            Ok(mut source) => {
                for spec in ["vframe/png/offset/0/w/1", "vframe/png/offset/0/w/200", "vframe/png/offset/0/w/3840/h/2"] {
                    run.calls += 1;
                    let spec = spec.parse().expect("a valid spec");
                    if let Err(e) = source.extract(&spec) {
                        run.internal.push(format!("{name} {spec}: {e}"));
                    }
                }
            }
            Err(e) => run.internal.push(format!("{name}: {e}")),
        }
    }

    let texts: [&[u8]; 6] = [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n",
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://127.0.0.1:1/x.m3u8\n",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
        b"ffconcat version 1.0\nfile 'subfile,,start,0,end,4096,,:/etc/passwd'\n",
        b"<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\"><Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\"><BaseURL>/etc/passwd</BaseURL></Representation></AdaptationSet></Period></MPD>\n",
        b"YUV4MPEG2 W65535 H65535 F25:1 C420jpeg\nFRAME\n",
    ];
    for text in texts {
        run.call(Input::Memory(text), SPECS[0], &default, "a playlist or huge header");
    }
    let random: Vec<u8> = (0..20_000).map(|_| rng.below(256) as u8).collect();
    run.call(Input::Memory(&[]), SPECS[0], &default, "empty");
    run.call(Input::Memory(&random), SPECS[0], &default, "random bytes");
    run.call(Input::Memory(&[0; 20_000]), SPECS[0], &default, "zero bytes");
    run.call(Input::Path(Path::new("/nonexistent/video.mp4")), SPECS[0], &default, "a missing file");
    run.call(Input::Path(Path::new("/")), SPECS[0], &default, "a directory");
    if let Some((first, _)) = files.first() {
        let limited = Options { max_decoded_frames: 1, ..Options::default() };
        run.call(Input::Path(first), "vframe/jpg/offset/0.9", &limited, "the frame limit");
        let cancelled = Options { cancel: Some(Arc::new(AtomicBool::new(true))), ..Options::default() };
        run.call(Input::Path(first), SPECS[0], &cancelled, "cancelled");
        let tiny_limit = Options { max_input_pixels: 1, ..Options::default() };
        run.call(Input::Path(first), SPECS[0], &tiny_limit, "the pixel limit");
    }

    let summary: Vec<String> = run.tally.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("hostile corpus: {} calls: {}", run.calls, summary.join(", "));
    if !run.internal.is_empty() {
        for line in &run.internal {
            eprintln!("internal error: {line}");
        }
        std::process::exit(1);
    }
}
