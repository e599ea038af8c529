//! Many calls at once: 8 threads making hundreds of calls each over a mix of good and bad
//! inputs, from memory and from files, with every result checked against the same call made
//! alone beforehand, and the process's resident memory stable across the run.
//!
//! Uses the tiny (64x48, 10 frame) fixtures so the whole test takes seconds.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vframe::{Input, Options, Spec, Status};

/// Resident memory of this process in KiB, from /proc/self/status.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// Where a case's input comes from.
enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// What a case must give every time.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    /// This exact image (size and a hash of its bytes): good input is deterministic.
    Image(u32, u32, u64),
    /// This failure class.
    Fails(Status),
    /// Any clean end (an image or a non-internal error): damaged input, whose concealment
    /// may legitimately depend on decoder thread timing.
    Clean,
}

struct Case {
    name: String,
    source: Source,
    spec: Spec,
    options: Options,
    expect: Expect,
}

/// What a call gave, in the terms of [`Expect`].
fn outcome(case: &Case) -> Expect {
    let input = match &case.source {
        Source::File(p) => Input::Path(p),
        Source::Bytes(b) => Input::Memory(b),
    };
    match vframe::extract(input, &case.spec, &case.options) {
        Ok(image) => {
            let mut hasher = DefaultHasher::new();
            image.data.hash(&mut hasher);
            Expect::Image(image.width, image.height, hasher.finish())
        }
        Err(e) => {
            assert!(!e.message().is_empty(), "{}: {:?} without a message", case.name, e.status());
            Expect::Fails(e.status())
        }
    }
}

fn check(case: &Case, got: &Expect) {
    match (&case.expect, got) {
        (Expect::Clean, Expect::Fails(Status::Internal)) => panic!("{}: internal error", case.name),
        (Expect::Clean, _) => {}
        (want, got) => assert_eq!(got, want, "{}", case.name),
    }
}

/// The mix: every tiny fixture from a file and from memory with varied specs, plus truncated,
/// damaged, garbage, playlist, empty and missing inputs, a frame limit and a cancelled call.
fn cases() -> Vec<Case> {
    let specs = [
        "vframe/jpg/offset/0.5",
        "vframe/png/offset/0/w/32",
        "vframe/jpg/offset/9/rotate/90",
        "vframe/png/offset/0.3/h/20/rotate/auto",
    ];
    let mut tiny: Vec<PathBuf> = std::fs::read_dir(common::fixtures_dir())
        .expect("the fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("tiny_")))
        .collect();
    tiny.sort();
    assert!(tiny.len() >= 10, "scripts/fixtures.sh makes the tiny_* fixtures");

    let case = |name: String, source, spec: &str, options: Options, expect| Case {
        name,
        source,
        spec: spec.parse().expect("a valid spec"),
        options,
        expect,
    };
    let mut cases = Vec::new();
    for (i, path) in tiny.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).expect("a fixture");
        let threads = Options { threads: (i % 2) as u32, ..Options::default() };
        let (a, b) = (specs[i % specs.len()], specs[(i + 1) % specs.len()]);
        cases.push(case(format!("{name} file {a}"), Source::File(path.clone()), a, threads.clone(), Expect::Clean));
        cases.push(case(format!("{name} memory {b}"), Source::Bytes(bytes.clone()), b, threads.clone(), Expect::Clean));
        let mut damaged = bytes.clone();
        for k in 1..6 {
            let at = damaged.len() * k / 7;
            damaged[at] ^= 0x5a;
        }
        cases.push(case(format!("{name} damaged"), Source::Bytes(damaged), a, threads.clone(), Expect::Clean));
        let half = bytes[..bytes.len() / 2].to_vec();
        cases.push(case(format!("{name} cut in half"), Source::Bytes(half), b, threads, Expect::Clean));
    }
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n".to_vec();
    let quick = Options::default();
    cases.push(case(
        "garbage".into(),
        Source::Bytes(garbage),
        specs[0],
        quick.clone(),
        Expect::Fails(Status::CannotOpen),
    ));
    cases.push(case(
        "HLS playlist".into(),
        Source::Bytes(playlist),
        specs[0],
        quick.clone(),
        Expect::Fails(Status::UnsupportedInput),
    ));
    cases.push(case(
        "empty".into(),
        Source::Bytes(Vec::new()),
        specs[0],
        quick.clone(),
        Expect::Fails(Status::CannotOpen),
    ));
    let missing = common::fixtures_dir().join("no such file.mp4");
    cases.push(case("missing file".into(), Source::File(missing), specs[0], quick, Expect::Fails(Status::CannotOpen)));
    let h264 = common::fixtures_dir().join("tiny_h264.mp4");
    let limited = Options { max_decoded_frames: 2, ..Options::default() };
    cases.push(case(
        "frame limit".into(),
        Source::File(h264.clone()),
        "vframe/jpg/offset/0.9",
        limited,
        Expect::Fails(Status::LimitExceeded),
    ));
    let cancelled = Options { cancel: Some(Arc::new(AtomicBool::new(true))), ..Options::default() };
    cases.push(case("cancelled".into(), Source::File(h264), specs[0], cancelled, Expect::Fails(Status::Cancelled)));
    cases
}

const THREADS: usize = 8;
/// Rounds (each thread through the whole mix once) before memory is first measured.
const WARM_UP_ROUNDS: usize = 2;
/// Rounds measured: resident memory is sampled after each.
const ROUNDS: usize = 12;
/// Samples at each end of the run whose medians are compared.
const WINDOW: usize = 4;

/// How much the median resident memory of the last rounds may exceed that of the first.
///
/// After the warm-up every allocator arena and FFmpeg's lazily built tables exist, so what
/// remains is leaks plus heap fragmentation noise: samples after single rounds swing by
/// up to ~10 MiB here (glibc's per-thread arenas), which medians over four rounds damp.
/// The two windows are 8 rounds apart: 8 x 8 threads x ~74 cases, about 4,700 calls. A call
/// that leaked its I/O buffer (64 KiB) or a decoder would add hundreds of MiB; one leaked
/// 64x48 frame (about 8 KiB with FFmpeg's padding) per call about 37 MiB. Checked by leaking
/// on purpose in each call: 8 KiB gave +40 MiB, 3 KiB +19 MiB, both caught. Smaller leaks are
/// for the valgrind run (`make test-hostile`), which sees every byte.
const MAX_GROWTH_KIB: u64 = 14 * 1024;

fn median(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

#[test]
fn eight_threads_of_mixed_calls_agree_and_do_not_grow() {
    let cases = cases();
    // The reference: each case alone, on this thread. Good input must give an image.
    let mut cases: Vec<Case> = cases
        .into_iter()
        .map(|mut case| {
            let got = outcome(&case);
            if case.expect == Expect::Clean && !case.name.contains("damaged") && !case.name.contains("cut") {
                assert!(matches!(got, Expect::Image(..)), "{}: good input failed: {got:?}", case.name);
                case.expect = got;
            } else {
                check(&case, &got);
            }
            case
        })
        .collect();
    cases.shrink_to_fit();
    let cases = Arc::new(cases);

    let run = |rounds: usize| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let cases = Arc::clone(&cases);
                std::thread::spawn(move || {
                    let n = cases.len();
                    for i in 0..rounds * n {
                        // Each thread walks the mix in its own order.
                        let case = &cases[(i * (2 * t + 1) + t * 7) % n];
                        check(case, &outcome(case));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a worker thread panicked");
        }
    };

    let started = Instant::now();
    run(WARM_UP_ROUNDS);
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        run(1);
        samples.push(rss_kib());
    }
    let (first, last) = (median(&samples[..WINDOW]), median(&samples[ROUNDS - WINDOW..]));
    let calls = THREADS * ROUNDS * cases.len();
    eprintln!(
        "{calls} calls on {THREADS} threads (+{} warm-up) in {:.1} s; RSS after each round (KiB): {samples:?}; median of the first {WINDOW} {first}, of the last {WINDOW} {last} ({:+} KiB)",
        THREADS * WARM_UP_ROUNDS * cases.len(),
        started.elapsed().as_secs_f64(),
        last as i64 - first as i64
    );
    assert!(
        last <= first + MAX_GROWTH_KIB,
        "resident memory grew {} KiB (medians) over {calls} calls (limit {MAX_GROWTH_KIB} KiB): {samples:?}",
        last - first
    );
    assert!(started.elapsed() < Duration::from_secs(600));
}
