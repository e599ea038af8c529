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

use crate::output::{Output, Place};
use crate::progress::Progress;

/// The largest jobs file read (about 300,000 jobs of 200 bytes): `--jobs /dev/zero` or an
/// endless pipe fails instead of filling memory.
const MAX_JOBS_FILE_BYTES: u64 = 64 << 20;

/// One image to make.
pub struct Job {
    /// Where the job was asked for, for messages: `jobs.txt:12`, or `SPEC 3`.
    origin: String,
    input: PathBuf,
    /// The parsed spec, or why the job cannot run (a bad spec, a malformed line).
    spec: Result<vframe::Spec, String>,
    output: PathBuf,
    /// Whether vframe named the output in a folder of the user's (`-o DIR`): then it is
    /// [`Output::in_folder`], a link there replaced and never followed.
    named_in_folder: bool,
}

impl Job {
    /// The jobs of `vframe INPUT SPEC SPEC... -o DIR`: `DIR/<input name>-<n>.<ext>`, `n`
    /// the spec's place from 1, zero-padded to the width of the last. DIR is made if
    /// missing.
    pub fn for_specs(input: &Path, specs: &[OsString], dir: &Path) -> Result<Vec<Job>, String> {
        crate::output::check_links_on_path(dir).map_err(|why| format!("cannot write into {}: {why}", dir.display()))?;
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot make the folder {}: {e}", dir.display()))?;
        let stem = input.file_stem().map_or_else(|| "frame".into(), |s| s.to_string_lossy().into_owned());
        let width = specs.len().to_string().len();
        let jobs = specs
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let spec = parse_spec(text);
                let ext = spec.as_ref().map_or("img", |s| s.format.as_str());
                let n = i + 1;
                Job {
                    origin: format!("SPEC {n}"),
                    input: input.to_path_buf(),
                    spec,
                    output: dir.join(format!("{stem}-{n:0width$}.{ext}")),
                    named_in_folder: true,
                }
            })
            .collect();
        Ok(jobs)
    }

    /// The jobs of a jobs file (`-`: standard input): one `INPUT<TAB>SPEC<TAB>OUTPUT` a
    /// line; empty lines and lines starting with `#` are skipped; a malformed line is a
    /// job that fails.
    pub fn from_file(file: &Path) -> Result<Vec<Job>, String> {
        let mut text = Vec::new();
        let limit = MAX_JOBS_FILE_BYTES + 1;
        let read = if file.as_os_str() == "-" {
            std::io::stdin().lock().take(limit).read_to_end(&mut text)
        } else {
            std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut text))
        };
        read.map_err(|e| format!("cannot read the jobs file {}: {e}", file.display()))?;
        if text.len() as u64 > MAX_JOBS_FILE_BYTES {
            return Err(format!(
                "the jobs file {} is larger than {} MiB (an endless stream, or too many jobs for one run: split it)",
                file.display(),
                MAX_JOBS_FILE_BYTES >> 20
            ));
        }
        let name = if file.as_os_str() == "-" { "standard input".into() } else { file.display().to_string() };
        let mut jobs = Vec::new();
        for (number, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let origin = format!("{name}:{}", number + 1);
            let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
            let job = match fields.as_slice() {
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
                    spec: Err(format!(
                        "expected INPUT<TAB>SPEC<TAB>OUTPUT, got {} field(s) ('{}')",
                        fields.len(),
                        crate::one_line(&String::from_utf8_lossy(line).chars().take(60).collect::<String>())
                    )),
                    output: PathBuf::new(),
                    named_in_folder: false,
                },
            };
            jobs.push(job);
        }
        Ok(jobs)
    }
}

fn parse_spec(text: &OsStr) -> Result<vframe::Spec, String> {
    if crate::frames::is_frames_op(text) {
        return Err("vsample and storyboard make many images each: run them one to a call, \
                    `vframe INPUT SPEC -o FOLDER`"
            .to_string());
    }
    match text.to_str().map(str::parse::<vframe::Spec>) {
        Some(Ok(spec)) => Ok(spec),
        Some(Err(e)) => Err(e.message().to_string()),
        None => Err("invalid spec: it is not valid UTF-8".to_string()),
    }
}

/// A job ready to run: its spec parsed and its output resolved.
struct Ready<'a> {
    job: &'a Job,
    spec: vframe::Spec,
    output: Output,
}

/// Runs `jobs`, input by input, and says how it went. `jobs_file`, the file the jobs were
/// read from, if any: no job may write over it either.
pub fn run(jobs: Vec<Job>, jobs_file: Option<&Path>) -> ExitCode {
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
    for job in &jobs {
        if let Some(place) = Place::of(&job.input) {
            inputs
                .entry(place)
                .or_insert_with(|| format!("the input of {}; writing it would destroy that video", job.origin));
        }
    }
    // Messages written into a video or the jobs file would damage it: stop first, silently.
    if Place::of_stderr().is_some_and(|stderr| inputs.contains_key(&stderr)) {
        return ExitCode::FAILURE;
    }
    let mut claimed: HashMap<Place, String> = HashMap::new();
    let mut ready = Vec::new();
    for job in &jobs {
        match prepare(job, &inputs, &mut claimed) {
            Ok(r) => ready.push(r),
            Err(message) => progress.fail(&message),
        }
    }
    for (input, mut ready) in by_input(ready) {
        let mut source = match vframe::Source::open_path(input, &vframe::Options::default()) {
            Ok(source) => source,
            Err(e) => {
                for r in ready {
                    progress.fail(&format!(
                        "{}: {}: {} ({})",
                        r.job.origin,
                        input.display(),
                        e.message(),
                        e.status().as_str()
                    ));
                }
                continue;
            }
        };
        ready.sort_by_key(|r| r.spec.offset_ms);
        for r in ready {
            match source.extract(&r.spec) {
                Ok(image) => match r.output.write(&image.data) {
                    Ok(()) => progress.done(),
                    Err(e) => {
                        progress.fail(&format!("{}: cannot write {}: {e}", r.job.origin, r.output.shown().display()))
                    }
                },
                Err(e) => progress.fail(&format!(
                    "{}: {}: {} ({})",
                    r.job.origin,
                    input.display(),
                    e.message(),
                    e.status().as_str()
                )),
            }
        }
    }
    progress.finish()
}

/// The jobs grouped by input, inputs in the order they first appear.
fn by_input<'a>(jobs: Vec<Ready<'a>>) -> Vec<(&'a Path, Vec<Ready<'a>>)> {
    let mut groups: Vec<(&Path, Vec<Ready>)> = Vec::new();
    let mut place: HashMap<&Path, usize> = HashMap::new();
    for job in jobs {
        let input = job.job.input.as_path();
        let at = *place.entry(input).or_insert_with(|| {
            groups.push((input, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(job);
    }
    groups
}

/// The job with its spec parsed and its output resolved and checked, or why it fails. The
/// output may not be any job's input (`inputs`: where each leads, and the first job to read
/// it), nor a file an earlier job writes (`claimed`, which this job's output joins): what
/// one job writes would destroy another's video, the jobs file, or the image another made.
/// Outputs written in place (standard output, FIFOs, devices) take any number of jobs.
fn prepare<'a>(
    job: &'a Job,
    inputs: &HashMap<Place, String>,
    claimed: &mut HashMap<Place, String>,
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
        if !output.in_place() {
            if let Some(writer) = claimed.get(&place) {
                return Err(format!(
                    "{}: the output {} is also written by {writer}; one file takes one job's image",
                    job.origin,
                    output.shown().display()
                ));
            }
            claimed.insert(place, job.origin.clone());
        }
    }
    Ok(Ready { job, spec, output })
}
