//! Many images in one process: the jobs of `vframe INPUT SPEC SPEC... -o DIR` and of
//! `vframe --jobs FILE`.
//!
//! Each input is opened once, as a `vframe::Source`, for all its jobs, which are then run
//! in time order (a later offset in the GOP being decoded is reached by decoding on). Each
//! job's output follows `output`'s rules, the check that it is not the input included, and
//! may be neither another job's input, nor the jobs file, nor a file an earlier job writes
//! (checked for every
//! job before any work). A job that fails (a bad line or spec, an unwritable output, an
//! input that cannot be opened, an extraction error) is reported on its own line and the
//! others go on; the exit status says whether any failed.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use crate::output::{Output, Place};
use crate::progress::Progress;

/// The largest jobs file read (about 300,000 jobs of 200 bytes): `--jobs /dev/zero` or an
/// endless pipe fails instead of filling memory.
const MAX_JOBS_FILE_BYTES: u64 = 64 << 20;

/// The most jobs one jobs file may hold: each costs about a kilobyte until the run ends
/// (its names, its spec or why it fails, its places in the checks for outputs), so 64 MiB
/// of short or malformed lines (`yes | vframe --jobs -`) would otherwise take gigabytes;
/// at most about 100 MiB this way.
const MAX_JOBS: usize = 100_000;

/// One image to make.
pub struct Job {
    /// Where the job was asked for, for messages: `jobs.txt:12`, or `SPEC 3`.
    origin: String,
    pub input: PathBuf,
    /// The parsed spec, or why the job cannot run (a bad spec, a malformed line).
    spec: Result<vframe::Spec, String>,
    output: PathBuf,
    /// Whether vframe named the output in a folder of the user's (`-o DIR`): then it is
    /// [`Output::in_folder`], a link there replaced and never followed.
    named_in_folder: bool,
}

impl Job {
    /// The jobs of `vframe INPUT SPEC SPEC... -o DIR`: `DIR/<input name>-<n>.<ext>`, `n`
    /// the spec's place from 1, zero-padded to the width of the last. DIR is checked now
    /// and made (if missing) when the first image is written.
    pub fn for_specs(input: &Path, specs: &[OsString], dir: &Path) -> Result<Vec<Job>, String> {
        crate::folder::check_folder(dir)?;
        // The name's own bytes: two names that differ only in bytes that are not UTF-8
        // must not give one output name.
        let stem: OsString = input.file_stem().map_or_else(|| "frame".into(), OsStr::to_os_string);
        let width = specs.len().to_string().len();
        let jobs = specs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let spec = parse_spec(text);
                let ext = spec.as_ref().map_or("img", |s| s.format.as_str());
                let n = i + 1;
                let mut name = stem.clone();
                name.push(format!("-{n:0width$}.{ext}"));
                Job {
                    origin: format!("SPEC {n}"),
                    input: input.to_path_buf(),
                    spec,
                    output: dir.join(name),
                    named_in_folder: true,
                }
            })
            .collect();
        Ok(jobs)
    }

    /// The jobs of a jobs file (`-`: standard input): one `INPUT<TAB>SPEC<TAB>OUTPUT` a
    /// line; empty lines and lines starting with `#` are skipped; a malformed line is a
    /// job that fails.
    pub fn from_file(file: &Path) -> Result<Vec<Job>, Unreadable> {
        let mut text = Vec::new();
        let limit = MAX_JOBS_FILE_BYTES + 1;
        let read = if file.as_os_str() == "-" {
            std::io::stdin().lock().take(limit).read_to_end(&mut text)
        } else {
            std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut text))
        };
        let name = if file.as_os_str() == "-" { "standard input".into() } else { file.display().to_string() };
        if let Err(e) = read {
            return Err(Unreadable { message: format!("cannot read the jobs file {}: {e}", file.display()), text });
        }
        if text.len() as u64 > MAX_JOBS_FILE_BYTES {
            let message = format!(
                "the jobs file {} is larger than {} MiB (an endless stream, or too many jobs for one run: split it)",
                file.display(),
                MAX_JOBS_FILE_BYTES >> 20
            );
            text.truncate(MAX_JOBS_FILE_BYTES as usize);
            return Err(Unreadable { message, text });
        }
        if lines(&text).filter(|line| is_job(line)).nth(MAX_JOBS).is_some() {
            let message = format!(
                "the jobs file {} holds more than {MAX_JOBS} jobs (too many for one run: split it)",
                file.display()
            );
            return Err(Unreadable { message, text });
        }
        Ok(Job::parse(&text, &name))
    }

    /// The jobs of the text of a jobs file called `name` in messages.
    fn parse(text: &[u8], name: &str) -> Vec<Job> {
        let mut jobs = Vec::new();
        for (number, line) in lines(text).enumerate() {
            if !is_job(line) {
                continue;
            }
            let origin = format!("{name}:{}", number + 1);
            let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
            let job = match fields.as_slice() {
                // `-` is standard input on the command line, not here, where the jobs file
                // may be standard input itself: said, rather than read as a file `./-`.
                [b"-", _, output] if !output.is_empty() => Job {
                    origin,
                    input: PathBuf::new(),
                    spec: Err("INPUT '-' (standard input) is for the command line: a jobs line names \
                               its video (./- for a file named -)"
                        .to_string()),
                    output: PathBuf::from(OsStr::from_bytes(output)),
                    named_in_folder: false,
                },
                [input, spec, output] if !input.is_empty() && !output.is_empty() => Job {
                    origin,
                    input: PathBuf::from(OsStr::from_bytes(input)),
                    spec: parse_spec(OsStr::from_bytes(spec)),
                    output: PathBuf::from(OsStr::from_bytes(output)),
                    named_in_folder: false,
                },
                _ => Job {
                    origin,
                    input: PathBuf::new(),
                    spec: Err(match fields.as_slice() {
                        [[], _, _] => "the INPUT field (the first) is empty".to_string(),
                        [_, _, _] => "the OUTPUT field (the third) is empty".to_string(),
                        _ => format!(
                            "expected INPUT<TAB>SPEC<TAB>OUTPUT, got {} field(s) ('{}')",
                            fields.len(),
                            crate::one_line(&String::from_utf8_lossy(line).chars().take(60).collect::<String>())
                        ),
                    }),
                    output: PathBuf::new(),
                    named_in_folder: false,
                },
            };
            jobs.push(job);
        }
        jobs
    }
}

/// `text` without the byte order mark Windows editors write at a file's start: it is not
/// part of the first input's name.
fn without_bom(text: &[u8]) -> &[u8] {
    text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text)
}

/// The lines of a jobs file's text (byte order mark and CR line ends left out).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    without_bom(text).split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// Whether a line is a job (not empty, not a `#` comment).
fn is_job(line: &[u8]) -> bool {
    !line.is_empty() && !line.starts_with(b"#")
}

/// A jobs file that cannot be run: why, and what was read of it.
pub struct Unreadable {
    pub message: String,
    text: Vec<u8>,
}

impl Unreadable {
    /// The inputs the lines read name (no message may be written into one of them): the
    /// first field of each job line that has a TAB after it, the line cut short too if
    /// its INPUT field was read whole. Read from the text as asked, nothing kept per line.
    pub fn inputs(&self) -> impl Iterator<Item = &Path> {
        lines(&self.text)
            .filter(|line| is_job(line))
            .filter_map(|line| line.iter().position(|&b| b == b'\t').map(|tab| &line[..tab]))
            .filter(|input| !input.is_empty() && *input != b"-")
            .map(|input| Path::new(OsStr::from_bytes(input)))
    }
}

fn parse_spec(text: &OsStr) -> Result<vframe::Spec, String> {
    if crate::frames::is_frames_op(text) {
        return Err("vsample and storyboard make many images each: run them one to a call, \
                    `vframe INPUT SPEC -o FOLDER`"
            .to_string());
    }
    vframe::spec::parse_bytes(text.as_bytes()).map_err(|e| e.message().to_string())
}

/// A job ready to run: its spec parsed and its output resolved.
struct Ready<'a> {
    job: &'a Job,
    spec: vframe::Spec,
    output: Output,
    /// Where the job's input leads, if anywhere.
    input: Option<Place>,
}

/// Runs `jobs`, input by input, `parallel` inputs at a time, and says how it went.
/// `jobs_file`, the file the jobs were read from, if any: no job may write over it either.
pub fn run(jobs: Vec<Job>, jobs_file: Option<&Path>, parallel: usize) -> ExitCode {
    let total = jobs.len();
    let mut progress = Progress::new("images", Some(total as u64));
    // What can be checked without the video, first, for every job: a bad job costs no
    // decoding, and no job may write over a video, the jobs file, or an image another job
    // reads or writes.
    let mut inputs: HashMap<Place, String> = HashMap::new();
    // The jobs file, when it is a file on disk (`-`: standard input redirected from one).
    let list = jobs_file.map(|f| if f.as_os_str() == "-" { Path::new("/dev/stdin") } else { f });
    if let Some(place) = list.filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file())).and_then(Place::of) {
        inputs.insert(place, "the jobs file; writing it would destroy the list of jobs".to_string());
    }
    // Where each job's input leads, looked up once for every use below.
    let places: Vec<Option<Place>> = jobs.iter().map(|job| Place::of(&job.input)).collect();
    for (job, place) in jobs.iter().zip(&places) {
        if let Some(place) = place {
            inputs
                .entry(place.clone())
                .or_insert_with(|| format!("the input of {}; writing it would destroy that video", job.origin));
        }
    }
    // Messages written into a video or the jobs file would damage it: stop first, silently.
    if Place::of_stderr().is_some_and(|stderr| inputs.contains_key(&stderr)) {
        return ExitCode::FAILURE;
    }
    // Where each output leads: the first job to write there, and whether it writes in place.
    let mut claimed: HashMap<Place, (String, bool)> = HashMap::new();
    let mut ready = Vec::new();
    // With `--jobs -`, standard input held the list and has been read to its end: a job
    // reading it again (`/dev/stdin`, `/proc/self/fd/0`) would find nothing there.
    // However the list was named (`-`, `/dev/fd/0`, `/proc/self/fd/0`).
    let stdin_list = list.and_then(Place::of).filter(|list| Place::of(Path::new("/dev/stdin")).as_ref() == Some(list));
    for (job, place) in jobs.iter().zip(places) {
        if stdin_list.is_some() && place == stdin_list {
            progress.fail(&format!(
                "{}: INPUT {} is standard input, which held the list of jobs (--jobs -)",
                job.origin,
                job.input.display()
            ));
            continue;
        }
        match prepare(job, place, &inputs, &mut claimed) {
            Ok(r) => ready.push(r),
            Err(message) => progress.fail(&message),
        }
    }
    let mut groups = by_input(ready);
    for (_, ready) in &mut groups {
        ready.sort_by_key(|r| r.spec.offset_ms);
    }
    // Outputs written in place get their images in the order a serial run gives them.
    let in_order = groups.iter().flat_map(|g| &g.1).any(|r| r.output.in_place());
    let workers = if in_order { 1 } else { parallel.clamp(1, groups.len().max(1)) };
    let work =
        groups.iter().map(|(input, ready)| (input.to_path_buf(), ready.iter().map(|r| r.spec.clone()).collect()));
    let mut made: Vec<Vec<bool>> = groups.iter().map(|(_, ready)| vec![false; ready.len()]).collect();
    for (group, job, result) in extract_all(work.collect(), workers) {
        made[group][job] = true;
        let r = &groups[group].1[job];
        match result {
            Ok(data) => match r.output.write(&data) {
                Ok(()) => progress.done(),
                Err(e) => progress.fail(&format!("{}: cannot write {}: {e}", r.job.origin, r.output.shown().display())),
            },
            Err(why) => progress.fail(&format!("{}: {why}", r.job.origin)),
        }
    }
    // A job whose image never came (a worker that stopped on a bug) fails, never silently.
    for ((input, ready), made) in groups.iter().zip(&made) {
        for r in ready.iter().zip(made).filter(|(_, &made)| !made).map(|(r, _)| r) {
            progress.fail(&format!(
                "{}: {}: its worker stopped before making it (internal error)",
                r.job.origin,
                input.display()
            ));
        }
    }
    progress.finish()
}

/// One image of `work` (inputs, each with its specs in the order to make them): the
/// input's place in `work`, the spec's place among its specs, and the image or why not.
type Made = (usize, usize, Result<Vec<u8>, String>);

/// Makes the images of `work`, each input opened once, and yields them as they come (an
/// input's in its order). With one worker, on this thread, in order, as they are asked
/// for; with more, `workers` inputs at a time on threads of their own, the images waiting
/// for the caller (who writes them on its thread, one at a time) bounded at two a worker,
/// however many jobs there are. Where no thread can be started, as with one worker.
fn extract_all(work: Vec<(PathBuf, Vec<vframe::Spec>)>, workers: usize) -> Box<dyn Iterator<Item = Made>> {
    let work = Arc::new(work);
    if workers > 1 {
        if let Some(receiver) = start_workers(&work, workers) {
            return Box::new(receiver.into_iter());
        }
    }
    let options = vframe::Options::default();
    Box::new((0..work.len()).flat_map(move |group| {
        let (work, options) = (work.clone(), options.clone());
        let mut source = vframe::Source::open_path(&work[group].0, &options);
        (0..work[group].1.len()).map(move |job| (group, job, make(&work[group].0, &mut source, &work[group].1[job])))
    }))
}

/// The image of `spec` from `input`'s source, or why not.
fn make(
    input: &Path,
    source: &mut Result<vframe::Source, vframe::Error>,
    spec: &vframe::Spec,
) -> Result<Vec<u8>, String> {
    let why = |e: &vframe::Error| format!("{}: {} ({})", input.display(), e.message(), e.status().as_str());
    match source {
        Ok(source) => source.extract(spec).map(|image| image.data).map_err(|e| why(&e)),
        Err(e) => Err(why(e)),
    }
}

/// `workers` threads that take the inputs of `work` in turn; `None` if not one starts.
fn start_workers(work: &Arc<Vec<(PathBuf, Vec<vframe::Spec>)>>, workers: usize) -> Option<Receiver<Made>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Made>(2 * workers);
    let next = Arc::new(AtomicUsize::new(0));
    // Each decoder gets its share of the CPUs: with an input per CPU at once, one thread
    // each, nothing is spent on frame threads' hand-offs.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cpus / workers).max(1) as u32;
    let options = vframe::Options { threads, ..vframe::Options::default() };
    let mut started = false;
    for _ in 0..workers {
        let (sender, next, work, options) = (sender.clone(), next.clone(), work.clone(), options.clone());
        let worker = std::thread::Builder::new().name("vframe-batch".into()).spawn(move || loop {
            let group = next.fetch_add(1, Ordering::Relaxed);
            let Some((input, specs)) = work.get(group) else { break };
            let mut source = vframe::Source::open_path(input, &options);
            for (job, spec) in specs.iter().enumerate() {
                if sender.send((group, job, make(input, &mut source, spec))).is_err() {
                    return;
                }
            }
        });
        started |= worker.is_ok();
    }
    started.then_some(receiver)
}

/// The jobs grouped by input, inputs in the order they first appear (each named as its
/// first job names it). An input is the file a path leads to, however spelled (`v.mp4`,
/// `./v.mp4`, a link): a FIFO or standard input can be read once only, and a file read
/// once is decoded once; a path that leads nowhere groups by its text (it fails alone).
fn by_input<'a>(jobs: Vec<Ready<'a>>) -> Vec<(&'a Path, Vec<Ready<'a>>)> {
    #[derive(PartialEq, Eq, Hash)]
    enum Key<'a> {
        File(u64, u64),
        Text(&'a Path),
    }
    let mut groups: Vec<(&Path, Vec<Ready>)> = Vec::new();
    let mut place: HashMap<Key, usize> = HashMap::new();
    for job in jobs {
        let input = job.job.input.as_path();
        let key = match job.input {
            Some(Place::Existing { dev, ino }) => Key::File(dev, ino),
            _ => Key::Text(input),
        };
        let at = *place.entry(key).or_insert_with(|| {
            groups.push((input, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(job);
    }
    groups
}

/// The job with its spec parsed and its output resolved and checked (`input`: where its
/// input leads), or why it fails. The output may not be any job's input (`inputs`: where each leads, and the first job to read
/// it), nor a file an earlier job writes (`claimed`, which this job's output joins): what
/// one job writes would destroy another's video, the jobs file, or the image another made.
/// Outputs written in place (standard output, FIFOs, devices) take any number of jobs, but
/// a file written in place (standard output redirected into it) is no other job's to replace.
fn prepare<'a>(
    job: &'a Job,
    input: Option<Place>,
    inputs: &HashMap<Place, String>,
    claimed: &mut HashMap<Place, (String, bool)>,
) -> Result<Ready<'a>, String> {
    let spec = match &job.spec {
        Ok(spec) => spec.clone(),
        Err(why) => return Err(format!("{}: {why}", job.origin)),
    };
    let output = if job.named_in_folder { Output::in_folder(&job.output) } else { Output::resolve(&job.output) };
    let output = output.map_err(|why| format!("{}: cannot write {}: {why}", job.origin, job.output.display()))?;
    output.check_not_input(&job.input).map_err(|why| format!("{}: {why}", job.origin))?;
    if let Some(place) = output.place() {
        if let Some(what) = inputs.get(&place) {
            return Err(format!("{}: the output {} is {what}", job.origin, output.shown().display()));
        }
        match claimed.get(&place) {
            // Images written in place follow each other; any other pair loses one: a
            // replaced file, or the file a replacement unlinks under an in-place writer.
            Some((_, true)) if output.in_place() => {}
            Some((writer, _)) => {
                return Err(format!(
                    "{}: the output {} is also written by {writer}; one file takes one job's image",
                    job.origin,
                    output.shown().display()
                ))
            }
            None => {
                claimed.insert(place, (job.origin.clone(), output.in_place()));
            }
        }
    }
    output.check_replaceable().map_err(|why| format!("{}: {why}", job.origin))?;
    Ok(Ready { job, spec, output, input })
}
