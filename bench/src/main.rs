//! `vframe-bench`: the in-process side of `make bench`.
//!
//! A long-lived worker driven by `bench/bench.py` over stdin/stdout, one request per line,
//! fields separated by tabs, one reply line per request (`ok\t...` or `err\t<message>`).
//! Keeping one process alive for all calls is what a server embedding vframe does, so the
//! times it reports are per call, without process start. Each call's time is taken here,
//! around the library call only; the caller's pipe round trip is not in it.
//!
//! Requests:
//! - `extract\tPATH\tSPEC\tOUT\tTHREADS`: one `vframe::extract` call (spec parsing
//!   included in the time). Replies `ok\tSECONDS\tPEAK_KB\tBYTES\tCPU_SECONDS`, where
//!   PEAK_KB is the process's peak resident set during the call (the peak is reset just
//!   before it) and CPU_SECONDS the CPU time of all its threads during the call. The
//!   image is written to OUT (after the clock stops) unless OUT is empty.
//! - `decode\tPATH\tOFFSET_MS\tTHREADS`: one `vframe::decode_frame` call (find and decode the
//!   frame, no scaling or encoding). Replies `ok\tSECONDS`. With `extract` on the same
//!   file it splits vframe's time into "find the frame" and "present it".
//! - `soak\tPATH\tSPEC\tCALLS\tEVERY`: CALLS extract calls in a row; replies
//!   `ok\tSECONDS\tRSS0,RSS1,...` with the resident set (kB) before the first call and
//!   after every EVERY calls.
//! - `rss`: replies `ok\tRSS_KB\tPEAK_KB`.
//! - `quit`.
//!
//! - `many\tPATH\tSPEC1,SPEC2,...`: one `vframe::extract_many` call for N specs of one file
//!   (the batch API), N `vframe::extract` calls for the same specs, and a `vframe::Source`
//!   opened and asked for each spec in turn (open included); replies
//!   `ok\tMANY_SECONDS\tSINGLES_SECONDS\tHANDLE_SECONDS` after checking that all three give
//!   the same images.
//! - `warm\tPATH\tFIRST\tSECOND`: the warm handle. A fresh `vframe::extract` of SECOND,
//!   timed; then a `Source` opened and asked for FIRST (untimed), then for SECOND (timed).
//!   Replies `ok\tFRESH_SECONDS\tWARM_SECONDS` after checking both images are the same.
//! - `open\tPATH\tSPEC`: `Source::open_path` then one `extract`, each timed; replies
//!   `ok\tOPEN_SECONDS\tEXTRACT_SECONDS\tOPEN_CPU_SECONDS\tEXTRACT_CPU_SECONDS` (the
//!   in-process part of the CLI's start-up).
//! - `sample\tPATH\tVSAMPLE`: one `vframe::sample` call, then one `vframe::extract` per
//!   frame it gave, at that frame's moment with the same look; replies
//!   `ok\tSAMPLE_SECONDS\tSINGLES_SECONDS\tFRAMES` after checking the images are the same.
//! - `storyboard\tPATH\tSTORYBOARD`: one `vframe::storyboard` call, then one `vframe::extract`
//!   per tile (its moment, the tile's size; the sheet is not assembled, which favours the
//!   single calls); replies `ok\tSTORYBOARD_SECONDS\tSINGLES_SECONDS\tTILES\tSHEETS`.
//!
//! The many-frames requests run without a time limit, as the CLI does.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use vframe::{Input, Options, SampleSpec, Source, Spec, StoryboardSpec};

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS, so the next reading
/// is the peak of what follows (Linux: writing 5 to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time (user + system) of the whole process so far: every thread, including the
/// decoder threads of earlier calls that have already exited.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage it is given; the pointer is valid and aligned, and
    // the memory is zeroed beforehand, so it is initialised even if the call were to fail.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn options(threads: &str) -> Options {
    Options { threads: threads.parse().unwrap_or(0), ..Options::default() }
}

fn parse<T: std::str::FromStr<Err = vframe::Error>>(text: &str) -> Result<T, String> {
    text.parse().map_err(|e: vframe::Error| e.to_string())
}

fn handle(fields: &[&str]) -> Result<String, String> {
    match fields {
        ["extract", path, spec, out, threads] => {
            let options = options(threads);
            reset_peak();
            let cpu = cpu_seconds();
            let start = Instant::now();
            let image =
                spec.parse::<Spec>().and_then(|spec| vframe::extract(Input::Path(Path::new(path)), &spec, &options));
            let seconds = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu;
            let peak = status_kb("VmHWM");
            let image = image.map_err(|e| e.to_string())?;
            if !out.is_empty() {
                std::fs::write(out, &image.data).map_err(|e| format!("cannot write {out}: {e}"))?;
            }
            Ok(format!("{seconds:.6}\t{peak}\t{}\t{cpu:.6}", image.data.len()))
        }
        ["decode", path, offset_ms, threads] => {
            let offset_ms: u64 = offset_ms.parse().map_err(|_| format!("bad offset_ms {offset_ms}"))?;
            let options = options(threads);
            let start = Instant::now();
            let frame = vframe::decode_frame(Input::Path(Path::new(path)), offset_ms, &options);
            let seconds = start.elapsed().as_secs_f64();
            frame.map_err(|e| e.to_string())?;
            Ok(format!("{seconds:.6}"))
        }
        ["soak", path, spec, calls, every] => {
            let spec: Spec = spec.parse().map_err(|e: vframe::Error| e.to_string())?;
            let calls: u64 = calls.parse().map_err(|_| format!("bad call count {calls}"))?;
            let every: u64 = every.parse::<u64>().map_err(|_| format!("bad interval {every}"))?.max(1);
            let options = Options::default();
            let mut rss = vec![status_kb("VmRSS")];
            let start = Instant::now();
            for call in 1..=calls {
                vframe::extract(Input::Path(Path::new(path)), &spec, &options).map_err(|e| e.to_string())?;
                if call % every == 0 {
                    rss.push(status_kb("VmRSS"));
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let rss: Vec<String> = rss.iter().map(u64::to_string).collect();
            Ok(format!("{seconds:.6}\t{}", rss.join(",")))
        }
        ["many", path, specs] => {
            let specs = specs
                .split(',')
                .map(|s| s.parse::<Spec>().map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let (input, options) = (Input::Path(Path::new(path)), Options::default());
            let start = Instant::now();
            let many = vframe::extract_many(input, &specs, &options);
            let many_seconds = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let singles: Vec<_> = specs.iter().map(|spec| vframe::extract(input, spec, &options)).collect();
            let singles_seconds = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let mut source = Source::open(input, &options).map_err(|e| e.to_string())?;
            let handle: Vec<_> = specs.iter().map(|spec| source.extract(spec)).collect();
            let handle_seconds = start.elapsed().as_secs_f64();
            if many != singles || handle != singles {
                return Err("extract_many, a Source and extract calls gave different results".into());
            }
            Ok(format!("{many_seconds:.6}\t{singles_seconds:.6}\t{handle_seconds:.6}"))
        }
        ["warm", path, first, second] => {
            let (first, second) = (parse::<Spec>(first)?, parse::<Spec>(second)?);
            let (input, options) = (Input::Path(Path::new(path)), Options::default());
            let start = Instant::now();
            let fresh = vframe::extract(input, &second, &options);
            let fresh_seconds = start.elapsed().as_secs_f64();
            let mut source = Source::open(input, &options).map_err(|e| e.to_string())?;
            source.extract(&first).map_err(|e| e.to_string())?;
            let start = Instant::now();
            let warm = source.extract(&second);
            let warm_seconds = start.elapsed().as_secs_f64();
            if warm != fresh {
                return Err("a second extraction on a Source and a fresh call gave different results".into());
            }
            Ok(format!("{fresh_seconds:.6}\t{warm_seconds:.6}"))
        }
        ["open", path, spec] => {
            let spec = parse::<Spec>(spec)?;
            let (start, cpu) = (Instant::now(), cpu_seconds());
            let mut source = Source::open_path(path, &Options::default()).map_err(|e| e.to_string())?;
            let (open_seconds, open_cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
            let (start, cpu) = (Instant::now(), cpu_seconds());
            source.extract(&spec).map_err(|e| e.to_string())?;
            let (extract_seconds, extract_cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
            Ok(format!("{open_seconds:.6}\t{extract_seconds:.6}\t{open_cpu:.6}\t{extract_cpu:.6}"))
        }
        ["sample", path, spec] => {
            let spec = parse::<SampleSpec>(spec)?;
            let (input, options) = (Input::Path(Path::new(path)), Options { timeout: None, ..Options::default() });
            let start = Instant::now();
            let frames = vframe::sample(input, &spec, &options).map_err(|e| e.to_string())?;
            let sample_seconds = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let singles: Vec<_> =
                frames.iter().map(|frame| vframe::extract(input, &spec.look.at(frame.offset_ms), &options)).collect();
            let singles_seconds = start.elapsed().as_secs_f64();
            if frames.iter().zip(&singles).any(|(frame, single)| single.as_ref() != Ok(&frame.image)) {
                return Err("a sample's frame differs from the single call at its moment".into());
            }
            Ok(format!("{sample_seconds:.6}\t{singles_seconds:.6}\t{}", frames.len()))
        }
        ["storyboard", path, spec] => {
            let spec = parse::<StoryboardSpec>(spec)?;
            let (input, options) = (Input::Path(Path::new(path)), Options { timeout: None, ..Options::default() });
            let start = Instant::now();
            let (sheets, index) = vframe::storyboard(input, &spec, &options).map_err(|e| e.to_string())?;
            let storyboard_seconds = start.elapsed().as_secs_f64();
            let start = Instant::now();
            for tile in &index.tiles {
                let single = Spec {
                    width: Some(index.tile_width),
                    height: Some(index.tile_height),
                    ..spec.look.at(tile.start_ms)
                };
                vframe::extract(input, &single, &options).map_err(|e| e.to_string())?;
            }
            let singles_seconds = start.elapsed().as_secs_f64();
            Ok(format!("{storyboard_seconds:.6}\t{singles_seconds:.6}\t{}\t{}", index.tiles.len(), sheets.len()))
        }
        ["rss"] => Ok(format!("{}\t{}", status_kb("VmRSS"), status_kb("VmHWM"))),
        _ => Err(format!("unknown request: {}", fields.join(" "))),
    }
}

fn main() {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        let fields: Vec<&str> = line.split('\t').collect();
        if fields == ["quit"] {
            break;
        }
        let reply = match handle(&fields) {
            Ok(result) => format!("ok\t{result}"),
            Err(message) => format!("err\t{}", message.replace(['\t', '\n'], " ")),
        };
        if writeln!(stdout, "{reply}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
}
