//! `vframe INPUT 'vsample/…' -o DIR` and `vframe INPUT 'storyboard/…' -o DIR`: many files
//! into one folder, each written by `output`'s rules for files in a folder vframe writes
//! (atomic replacement; a link there replaced, never followed; a FIFO or device refused;
//! never the input), with a progress count on a terminal.
//!
//! - vsample: one image per frame, named by the spec's pattern (`$(count)` = 000001, ...)
//!   or `000001.jpg`, `000002.jpg`, ...
//! - storyboard: the sheets (named by the pattern, or `storyboard-000001.jpg`, ...), then
//!   `storyboard.vtt` and `storyboard.json`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vframe::{Input, Operation, Options, Sample, Step, Storyboard};

use crate::failure;
use crate::output::Output;
use crate::progress::Progress;

/// Whether `spec` names an operation of many outputs (this module's), not one frame.
pub fn is_frames_op(spec: &OsStr) -> bool {
    let text = spec.to_str().unwrap_or("");
    let text = text.strip_prefix('?').unwrap_or(text);
    let op = text.split('/').next().unwrap_or("");
    op == "vsample" || op == "storyboard"
}

/// A file name a pattern gave, refused if it could leave the folder or is no name at all.
fn file_in(dir: &Path, name: &str) -> Result<PathBuf, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(format!("the pattern gives the name '{name}', which is not a file name in the folder"));
    }
    Ok(dir.join(name))
}

/// Writes one of the run's files: as [`Output::in_folder`] says (a link there is replaced,
/// never followed; a FIFO or device refused), never over the input. The names a run writes
/// are all different (each holds its `$(count)`, or is storyboard.vtt or .json), and with
/// links replaced, two names never reach one file.
fn write(input: &Path, path: &Path, data: &[u8]) -> Result<(), String> {
    let output = Output::in_folder(path).map_err(|why| format!("cannot write {}: {why}", path.display()))?;
    output.check_not_input(input)?;
    output.write(data).map_err(|e| format!("cannot write {}: {e}", output.shown().display()))
}

/// The output folder: made if missing; `-` and anything but a folder refused.
fn folder(output: &Path) -> Result<PathBuf, String> {
    if output.as_os_str() == "-" {
        return Err("vsample and storyboard write several files: -o needs a folder, not -".into());
    }
    crate::output::folder(output)
}

/// Runs a vsample or storyboard spec (see the module's documentation).
pub fn run(input: &Path, spec: &OsStr, output: &Path) -> ExitCode {
    let op: Operation = match spec.to_str().map(str::parse) {
        Some(Ok(op)) => op,
        Some(Err(e)) => return failure(e.message()),
        None => return failure("invalid spec: it is not valid UTF-8"),
    };
    let dir = match folder(output) {
        Ok(dir) => dir,
        Err(why) => return failure(&why),
    };
    // An interactive tool: long videos take as long as they take (Ctrl-C stops them).
    let options = Options { timeout: None, ..Options::default() };
    let result = match op {
        Operation::Sample(spec) => sample(input, &spec, &options, &dir),
        Operation::Storyboard(spec) => storyboard(input, &spec, &options, &dir),
        Operation::Frame(_) => Err("a vframe spec writes one file (use -o FILE)".into()),
    };
    match result {
        Ok(code) => code,
        Err(why) => failure(&why),
    }
}

fn failed(input: &Path, e: vframe::Error) -> String {
    format!("{}: {} ({})", input.display(), e.message(), e.status().as_str())
}

fn sample(input: &Path, spec: &vframe::SampleSpec, options: &Options, dir: &Path) -> Result<ExitCode, String> {
    let frames = Sample::open(Input::Path(input), spec, options).map_err(|e| failed(input, e))?;
    let mut progress = Progress::new("frames", frames.planned());
    for (done, frame) in frames.enumerate() {
        let frame = frame.map_err(|e| failed(input, e))?;
        let name =
            frame.key.clone().unwrap_or_else(|| format!("{:06}.{}", frame.index + 1, frame.image.format.as_str()));
        write(input, &file_in(dir, &name)?, &frame.image.data)?;
        progress.set(done as u64 + 1);
    }
    Ok(progress.finish())
}

fn storyboard(input: &Path, spec: &vframe::StoryboardSpec, options: &Options, dir: &Path) -> Result<ExitCode, String> {
    let mut board = Storyboard::open(Input::Path(input), spec, options).map_err(|e| failed(input, e))?;
    let mut progress = Progress::new("tiles", board.planned());
    let mut tiles = 0;
    loop {
        match board.advance().map_err(|e| failed(input, e))? {
            Step::Tile => tiles += 1,
            Step::Sheet(sheet) => {
                tiles = sheet.first_tile + sheet.tile_count;
                write(input, &file_in(dir, &sheet.name)?, &sheet.image.data)?;
            }
            Step::Done => break,
        }
        progress.set(tiles as u64);
    }
    let index = board.index();
    write(input, &dir.join("storyboard.vtt"), index.vtt().as_bytes())?;
    write(input, &dir.join("storyboard.json"), index.json().as_bytes())?;
    Ok(progress.finish())
}
