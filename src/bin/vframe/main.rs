//! The `vframe` command.
//!
//! - `vframe INPUT SPEC -o OUTPUT` writes one image (`-o -`: standard output). Exit 0 on
//!   success; on failure one line on stderr, exit 1, and the output untouched.
//! - `vframe INPUT SPEC SPEC... -o DIR` writes one image per spec into DIR, opening the
//!   video once (see `batch`).
//! - `vframe --jobs FILE [--parallel N]` runs the jobs of FILE, one
//!   `INPUT<TAB>SPEC<TAB>OUTPUT` a line, N inputs at a time (one per CPU by default).
//!
//! Usage errors exit 2. The spec is checked before the input is opened; how each kind of
//! output (file, link, FIFO, device, `/dev/stdout`) is written is in `output`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

mod batch;
mod folder;
mod frames;
mod output;
mod progress;
mod still;
mod xattr;

use output::{Output, Place};

/// The most inputs `--parallel` works on at once.
const MAX_PARALLEL: usize = 256;

const USAGE: &str = "usage: vframe INPUT SPEC -o OUTPUT
       vframe INPUT SPEC SPEC... -o DIR
       vframe --jobs FILE [--parallel N]
  INPUT   a video file, or - for standard input
  SPEC    vframe/<jpg|png>/offset/<seconds>[/w/<width>][/h/<height>][/rotate/<90|180|270|auto>]
            extensions: the format webp, [/q/<1-100>] (jpg, webp), [/mode/<exact|fast>]
          or vsample/<fmt>[/ss/<s>][/t/<s>][/s/<W>x<H>][/interval/<s>|/frames/<n>]... (many frames)
          or storyboard/<fmt>[/interval/<s>][/s/<W>x<H>][/columns/<n>][/rows/<n>]... (sprite sheets)
  OUTPUT  the image file to write (replaced atomically, and only if it holds an image or
          nothing: another video or a document is kept; a symlink is followed), or - for
          standard output; a FIFO, character device or /dev/stdout is written in place.
          For vsample and storyboard, a folder (made if missing): numbered images, or the
          sheets with storyboard.vtt and storyboard.json, all written or none
  DIR     with several SPECs: the folder (made if missing) to write INPUT's images into,
          named <input name>-<n>.<jpg|png>, n the SPEC's place (1, 2, ...; zero-padded
          to the same width); a link at one of these names is replaced, not followed
  FILE    one job a line, INPUT<TAB>SPEC<TAB>OUTPUT (- reads standard input); empty lines
          and lines starting with # are skipped. Each input is opened once for its jobs
options:
  -o, --output OUTPUT  where to write the image(s)
  --jobs FILE          run the jobs in FILE
  --parallel N         with --jobs: work on N inputs at once (default: one per CPU, one
                       under ulimit -v); jobs whose outputs are written in place (-, FIFOs,
                       devices) run in order
  -h, --help           this help
  -V, --version        the version
  --                   ends the options (for an INPUT that starts with '-')
exit status: 0 every image written; 1 a failure (one line on stderr for each, the output
untouched; with several images the others are still written); 2 usage error
progress: with several images and stderr a terminal, a count on stderr as they are written";

/// Which of descriptors 0, 1 and 2 the caller left closed (bit n: descriptor n), noted before
/// Rust's runtime opens /dev/null on them: an image written to `-` with standard output
/// closed (`>&-`) would vanish into /dev/null with exit 0.
static CLOSED_AT_START: AtomicU8 = AtomicU8::new(0);

/// Runs before `main` and before the runtime's own start-up (as a C constructor).
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_AT_START: extern "C" fn() = note_closed_at_start;

extern "C" fn note_closed_at_start() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            CLOSED_AT_START.fetch_or(1 << fd, Ordering::Relaxed);
        }
    }
}

/// Whether standard descriptor `fd` (0, 1 or 2) was closed when the command started.
pub(crate) fn closed_at_start(fd: u32) -> bool {
    fd < 3 && CLOSED_AT_START.load(Ordering::Relaxed) & (1 << fd) != 0
}

/// Set when stderr is redirected into a file named on the command line (the input, the
/// jobs file): nothing is written there, not even a usage error.
static QUIET: AtomicBool = AtomicBool::new(false);

/// `text` and a new line on stderr; a stderr that cannot be written (closed, a full disk,
/// a reader gone) loses the message, and the exit status still tells.
pub(crate) fn say(text: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

/// A usage error: the problem and the synopsis on stderr, exit 2.
fn usage_error(message: &str) -> ExitCode {
    say(&format!("vframe: {message}\nusage: vframe INPUT SPEC -o OUTPUT (vframe --help for more)"));
    ExitCode::from(2)
}

/// A failure: one line on stderr, exit 1.
fn failure(message: &str) -> ExitCode {
    say(&format!("vframe: {}", one_line(message)));
    ExitCode::FAILURE
}

/// Whether stderr is redirected into one of `files` (a video, the jobs file): then no
/// message may be written at all.
fn stderr_is_one_of<'a>(files: impl IntoIterator<Item = &'a std::path::Path>) -> bool {
    Place::of_stderr().is_some_and(|stderr| files.into_iter().any(|file| Place::of(file).as_ref() == Some(&stderr)))
}

/// Every file the command line may name: each argument (`-` as standard input too), the
/// value of `--output=`, and the jobs files (see [`jobs_files`]).
fn named_files(args: &[OsString]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    // `-` as INPUT is standard input (as an output, standard output: counting it too only
    // keeps a message out of a file that is both).
    if args.iter().any(|arg| arg == "-") {
        files.push(PathBuf::from("/dev/stdin"));
    }
    let outputs = args.iter().filter_map(|arg| arg.as_bytes().strip_prefix(b"--output="));
    files.extend(outputs.map(|value| PathBuf::from(std::ffi::OsStr::from_bytes(value))));
    files.extend(jobs_files(args));
    files
}

/// The jobs files the command line names, however often (`--jobs FILE`, `--jobs=FILE`),
/// standard input as `/dev/stdin` (`-`).
fn jobs_files(args: &[OsString]) -> Vec<PathBuf> {
    let named = args.iter().enumerate().filter_map(|(k, arg)| match arg.as_bytes() {
        b"--jobs" => args.get(k + 1).cloned(),
        text => text.strip_prefix(b"--jobs=").map(|v| std::ffi::OsStr::from_bytes(v).to_os_string()),
    });
    named.map(|file| if file == "-" { PathBuf::from("/dev/stdin") } else { PathBuf::from(file) }).collect()
}

/// `message` on one line whatever it holds (messages quote file names and FFmpeg's words).
pub(crate) fn one_line(message: &str) -> String {
    message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The command line.
enum Command {
    Help,
    Version,
    /// One image of one input.
    Extract {
        input: PathBuf,
        spec: OsString,
        output: PathBuf,
    },
    /// Several images of one input, into a folder.
    Many {
        input: PathBuf,
        specs: Vec<OsString>,
        dir: PathBuf,
    },
    /// The jobs of a file (`-`: standard input).
    Jobs {
        file: PathBuf,
        /// How many inputs are worked on at once.
        parallel: usize,
    },
}

/// Inputs worked on at once when `--parallel` is not given: one per CPU, or one under an
/// address-space limit (`ulimit -v`), where each worker's decoder, threads and malloc arena
/// reserve address space that a serial run does not need.
fn default_parallel() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the limit into `limit`.
    let limited = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0 && limit.rlim_cur != libc::RLIM_INFINITY;
    if limited {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut positional: Vec<OsString> = Vec::new();
    let mut output: Option<PathBuf> = None;
    let mut jobs: Option<PathBuf> = None;
    let mut set_output = |path: OsString| {
        if output.is_some() {
            return Err("-o is given more than once".to_string());
        }
        if path.is_empty() {
            return Err("-o needs a file name (or - for standard output)".to_string());
        }
        output = Some(PathBuf::from(path));
        Ok(())
    };
    let mut set_jobs = |path: OsString| {
        if jobs.is_some() {
            return Err("--jobs is given more than once".to_string());
        }
        if path.is_empty() {
            return Err("--jobs needs a file name (or - for standard input)".to_string());
        }
        jobs = Some(PathBuf::from(path));
        Ok(())
    };
    let mut parallel: Option<usize> = None;
    let mut set_parallel = |text: &OsString| {
        if parallel.is_some() {
            return Err("--parallel is given more than once".to_string());
        }
        match text.to_str().and_then(|t| t.parse::<usize>().ok()) {
            Some(n) if (1..=MAX_PARALLEL).contains(&n) => {
                parallel = Some(n);
                Ok(())
            }
            _ => Err(format!(
                "--parallel takes a number of inputs at once, 1 to {MAX_PARALLEL}, not '{}'",
                text.to_string_lossy()
            )),
        }
    };
    let mut options_ended = false;
    while let Some(arg) = args.next() {
        let text = arg.to_str().unwrap_or("");
        if options_ended || text == "-" || !text.starts_with('-') {
            positional.push(arg);
            continue;
        }
        match text {
            "--" => options_ended = true,
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-o" | "--output" => match args.next() {
                Some(path) => set_output(path)?,
                None => return Err(format!("{text} needs a file name")),
            },
            "--jobs" => match args.next() {
                Some(path) => set_jobs(path)?,
                None => return Err("--jobs needs a file name".to_string()),
            },
            "--parallel" => match args.next() {
                Some(n) => set_parallel(&n)?,
                None => return Err("--parallel needs a number".to_string()),
            },
            _ => {
                if let Some(path) = text.strip_prefix("--output=") {
                    set_output(path.into())?;
                } else if let Some(path) = text.strip_prefix("--jobs=") {
                    set_jobs(path.into())?;
                } else if let Some(n) = text.strip_prefix("--parallel=") {
                    set_parallel(&n.into())?;
                } else {
                    return Err(format!("unknown option '{text}'"));
                }
            }
        }
    }
    if let Some(file) = jobs {
        if output.is_some() || !positional.is_empty() {
            return Err("--jobs takes no INPUT, SPEC or -o: the jobs file names them".to_string());
        }
        return Ok(Command::Jobs { file, parallel: parallel.unwrap_or_else(default_parallel) });
    }
    if parallel.is_some() {
        return Err("--parallel is for --jobs: one INPUT is decoded in one pass".to_string());
    }
    let output = output.ok_or("-o OUTPUT is missing")?;
    if positional.len() < 2 {
        return Err(format!("expected INPUT and SPEC, got {} argument(s)", positional.len()));
    }
    let input = PathBuf::from(positional.remove(0));
    if input.as_os_str().is_empty() {
        return Err("INPUT is empty".to_string());
    }
    // `-` is standard input, as for most tools (a file named `-` is `./-`).
    let input = if input.as_os_str() == "-" { PathBuf::from("/dev/stdin") } else { input };
    if looks_like_spec(input.as_os_str()) && std::fs::symlink_metadata(&input).is_err() {
        return Err(format!("INPUT '{}' is a SPEC: the order is INPUT SPEC, the video first", input.to_string_lossy()));
    }
    // Several SPECs: each must be one, so that a stray word (a second video, an output
    // name) is a usage error before anything is written, not a SPEC that fails alone.
    if let (true, Some(stray)) = (positional.len() > 1, positional.iter().find(|spec| !looks_like_spec(spec))) {
        return Err(format!(
            "'{}' is not a SPEC (a SPEC starts with vframe/, vsample/ or storyboard/; vframe takes one INPUT)",
            stray.to_string_lossy()
        ));
    }
    if positional.len() == 1 {
        let spec = positional.remove(0);
        return Ok(Command::Extract { input, spec, output });
    }
    if output.as_os_str() == "-" {
        return Err("several SPECs write several images: -o must name a folder, not -".to_string());
    }
    Ok(Command::Many { input, specs: positional, dir: output })
}

fn main() -> ExitCode {
    folder::cleanup::install();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if stderr_is_one_of(named_files(&args).iter().map(PathBuf::as_path)) {
        QUIET.store(true, Ordering::Relaxed);
    }
    match parse_args(args.clone().into_iter()) {
        Ok(Command::Help) => print(USAGE),
        Ok(Command::Version) => print(&format!("vframe {}", env!("CARGO_PKG_VERSION"))),
        // `-` (or /dev/stdin) with standard input closed by the caller: the runtime's
        // /dev/null is no video.
        Ok(Command::Extract { input, .. } | Command::Many { input, .. })
            if closed_at_start(0) && output::names_descriptor(&input) == Some(0) =>
        {
            failure("cannot read INPUT from standard input: it is not open")
        }
        Ok(Command::Extract { input, spec, output }) => extract_one(input, spec, output),
        Ok(Command::Many { input, specs, dir }) => match batch::Job::for_specs(&input, &specs, &dir) {
            Ok(jobs) => batch::run(jobs, None, 1),
            Err(why) => failure(&why),
        },
        // Standard input closed by the caller: the runtime's /dev/null is no empty list.
        Ok(Command::Jobs { file, .. })
            if closed_at_start(0) && (file == Path::new("-") || output::names_descriptor(&file) == Some(0)) =>
        {
            failure(&format!("cannot read the jobs file {}: standard input is not open", file.display()))
        }
        Ok(Command::Jobs { file, parallel }) => match batch::Job::from_file(&file) {
            Ok(jobs) => batch::run(jobs, Some(&file), parallel),
            // Stderr into a video the lines read name: nothing said.
            Err(unreadable) if stderr_is_one_of(unreadable.inputs()) => ExitCode::FAILURE,
            Err(unreadable) => failure(&unreadable.message),
        },
        Err(message) => {
            // The jobs file names the videos; the run that would check them never comes.
            if stderr_is_one_of(jobs_inputs(&args).iter().map(PathBuf::as_path)) {
                return ExitCode::from(2);
            }
            usage_error(&message)
        }
    }
}

/// `text` and a new line on standard output (help, version): exit 0, or 1 when it could not
/// be written (closed, a full disk), as for an image.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) if !closed_at_start(1) => ExitCode::SUCCESS,
        Ok(()) => failure("cannot write to standard output: it is not open"),
        Err(e) => failure(&format!("cannot write to standard output: {e}")),
    }
}

/// Whether `arg` reads as an operation string (`vframe/…`, `vsample/…`, `storyboard/…`, a
/// leading `?` allowed, any case), however malformed the rest: a SPEC, not a file.
fn looks_like_spec(arg: &std::ffi::OsStr) -> bool {
    let text = arg.as_bytes();
    let text = text.strip_prefix(b"?").unwrap_or(text);
    ["vframe/", "vsample/", "storyboard/"]
        .iter()
        .any(|op| text.len() >= op.len() && text[..op.len()].eq_ignore_ascii_case(op.as_bytes()))
}

/// The inputs the jobs files on the command line name ([`jobs_files`]; standard input
/// too), read only when stderr goes to a regular file (a terminal or a pipe cannot be one
/// of them), and where a file can be read: a file, or a pipe, read to its end as the run
/// would have read it; not a terminal, which is typed at, not read ahead of a message. A
/// file too large to run still names the inputs of the lines read.
fn jobs_inputs(args: &[OsString]) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    if Place::of_stderr().is_none() {
        return Vec::new();
    }
    let mut inputs = Vec::new();
    for file in jobs_files(args) {
        let readable =
            std::fs::metadata(&file).is_ok_and(|m| m.is_file() || m.file_type().is_fifo() || m.file_type().is_socket());
        if !readable {
            continue;
        }
        // Standard input is read as the run reads it (a socket cannot be opened by its path).
        let file = if file == Path::new("/dev/stdin") { PathBuf::from("-") } else { file };
        match batch::Job::from_file(&file) {
            Ok(jobs) => inputs.extend(jobs.into_iter().map(|job| job.input)),
            Err(unreadable) => inputs.extend(unreadable.inputs().map(Path::to_path_buf)),
        }
    }
    inputs
}

/// `vframe INPUT SPEC -o OUTPUT`.
fn extract_one(input: PathBuf, spec: OsString, output: PathBuf) -> ExitCode {
    // Stderr into the video: the run stops before any work, with nothing said.
    if stderr_is_one_of([input.as_path()]) {
        return ExitCode::FAILURE;
    }
    if frames::is_frames_op(&spec) {
        return frames::run(&input, &spec, &output);
    }
    // The spec first: a typo is reported as such, before any file is opened.
    let spec: vframe::Spec = match vframe::spec::parse_bytes(spec.as_bytes()) {
        Ok(spec) => spec,
        Err(e) => return failure(e.message()),
    };
    let output = match Output::resolve(&output) {
        Ok(target) => target,
        Err(why) => return failure(&format!("cannot write {}: {why}", output.display())),
    };
    // Before any work: the output must not be the video itself.
    if let Err(why) = output.check_not_input(&input).and_then(|()| output.check_replaceable()) {
        return failure(&why);
    }
    let image = match vframe::extract(vframe::Input::Path(&input), &spec, &vframe::Options::default()) {
        Ok(image) => image,
        Err(e) => return failure(&format!("{}: {} ({})", input.display(), e.message(), e.status().as_str())),
    };
    match output.write(&image.data) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure(&format!("cannot write {}: {e}", output.shown().display())),
    }
}
