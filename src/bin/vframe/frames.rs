//! `vframe INPUT 'vsample/…' -o DIR` and `vframe INPUT 'storyboard/…' -o DIR`: many files
//! into one folder, all or none: they are written into a hidden staging folder inside it
//! and moved into place together once every one is made (`folder::Staging`), so a run
//! that fails or is stopped leaves the folder as it was. For each name: a link there is
//! replaced, never followed; a FIFO, device or folder refused; never the input. The folder
//! is made (if missing) with the first file. A progress count on a terminal.
//!
//! - vsample: one image per frame, named by the spec's pattern (`$(count)` = 000001, ...)
//!   or `000001.jpg`, `000002.jpg`, ...
//! - storyboard: the sheets (named by the pattern, or `storyboard-000001.jpg`, ...), then
//!   `storyboard.vtt` and `storyboard.json`.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use vframe::{Input, Operation, Options, Sample, Step, Storyboard};

use crate::failure;
use crate::folder::{check_folder, Staging};
use crate::progress::Progress;

/// Whether `spec` names an operation of many outputs (this module's), not one frame.
pub fn is_frames_op(spec: &OsStr) -> bool {
    let text = spec.to_str().unwrap_or("");
    let text = text.strip_prefix('?').unwrap_or(text);
    let op = text.split('/').next().unwrap_or("");
    op == "vsample" || op == "storyboard"
}

/// A file name a pattern gave, refused if it could leave the folder or is no name at all.
fn file_name(name: &str) -> Result<&OsStr, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(format!("the pattern gives the name '{name}', which is not a file name in the folder"));
    }
    Ok(OsStr::new(name))
}

/// Refuses a file in the folder that is the input itself (replacing it would lose the
/// video).
fn not_the_input(input: &Path) -> impl Fn(&libc::stat) -> Result<(), String> + '_ {
    let video = std::fs::metadata(input).ok().map(|m| (m.dev(), m.ino()));
    move |st: &libc::stat| match video {
        Some(video) if video == (st.st_dev, st.st_ino) => Err(format!(
            "a file vframe would replace in the folder is the input {} itself; writing it would destroy the video",
            input.display()
        )),
        _ => Ok(()),
    }
}

/// Runs a vsample or storyboard spec (see the module's documentation).
pub fn run(input: &Path, spec: &OsStr, output: &Path) -> ExitCode {
    let op: Operation = match vframe::spec::parse_bytes(std::os::unix::ffi::OsStrExt::as_bytes(spec)) {
        Ok(op) => op,
        Err(e) => return failure(e.message()),
    };
    if output.as_os_str() == "-" {
        return failure("vsample and storyboard write several files: -o needs a folder, not -");
    }
    if let Err(why) = check_folder(output) {
        return failure(&why);
    }
    // An interactive tool: long videos take as long as they take (Ctrl-C stops them).
    let options = Options { timeout: None, ..Options::default() };
    let result = match op {
        Operation::Sample(spec) => sample(input, &spec, &options, output),
        Operation::Storyboard(spec) => storyboard(input, &spec, &options, output),
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

fn sample(input: &Path, spec: &vframe::SampleSpec, options: &Options, output: &Path) -> Result<ExitCode, String> {
    let frames = Sample::open(Input::Path(input), spec, options).map_err(|e| failed(input, e))?;
    let refuse = not_the_input(input);
    let mut staged = Staging::new(output);
    let mut progress = Progress::new("frames", frames.planned());
    for (done, frame) in frames.enumerate() {
        let frame = frame.map_err(|e| failed(input, e))?;
        let name =
            frame.key.clone().unwrap_or_else(|| format!("{:06}.{}", frame.index + 1, frame.image.format.as_str()));
        staged.add(file_name(&name)?, &frame.image.data, &refuse)?;
        progress.set(done as u64 + 1);
    }
    staged.commit(&refuse)?;
    Ok(progress.finish())
}

fn storyboard(
    input: &Path,
    spec: &vframe::StoryboardSpec,
    options: &Options,
    output: &Path,
) -> Result<ExitCode, String> {
    let mut board = Storyboard::open(Input::Path(input), spec, options).map_err(|e| failed(input, e))?;
    let refuse = not_the_input(input);
    let mut staged = Staging::new(output);
    let mut progress = Progress::new("tiles", board.planned());
    let mut tiles = 0;
    loop {
        match board.advance().map_err(|e| failed(input, e))? {
            Step::Tile => tiles += 1,
            Step::Sheet(sheet) => {
                tiles = sheet.first_tile + sheet.tile_count;
                staged.add(file_name(&sheet.name)?, &sheet.image.data, &refuse)?;
            }
            Step::Done => break,
        }
        progress.set(tiles as u64);
    }
    let index = board.index();
    staged.add(OsStr::new("storyboard.vtt"), index.vtt().as_bytes(), &refuse)?;
    staged.add(OsStr::new("storyboard.json"), index.json().as_bytes(), &refuse)?;
    staged.commit(&refuse)?;
    Ok(progress.finish())
}
