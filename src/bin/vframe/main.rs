//! The `vframe` command: `vframe INPUT SPEC -o OUTPUT` (`-o -` writes to stdout).
//!
//! Exit 0 on success. On failure: one line on stderr, exit 1 (2 for usage errors), and the
//! output untouched. The spec is checked before the input is opened; how each kind of
//! output (file, link, FIFO, device, `/dev/stdout`) is written is in `output`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

mod frames;
mod output;

use output::Output;

const USAGE: &str = "usage: vframe INPUT SPEC -o OUTPUT
  INPUT   a video file
  SPEC    vframe/<jpg|png>/offset/<seconds>[/w/<width>][/h/<height>][/rotate/<90|180|270|auto>]
            extensions: the format webp, [/q/<1-100>] (jpg, webp), [/mode/<exact|fast>]
          or vsample/<fmt>[/ss/<s>][/t/<s>][/s/<W>x<H>][/interval/<s>|/frames/<n>]... (many frames)
          or storyboard/<fmt>[/interval/<s>][/s/<W>x<H>][/columns/<n>][/rows/<n>]... (sprite sheets)
  OUTPUT  the image file to write (replaced atomically; a symlink is followed), or - for
          standard output; a FIFO, character device or /dev/stdout is written in place.
          For vsample and storyboard, a folder (made if missing): numbered images, or the
          sheets with storyboard.vtt and storyboard.json
options:
  -o, --output OUTPUT  where to write the image (required)
  -h, --help           this help
  -V, --version        the version
  --                   ends the options (for an INPUT that starts with '-')
exit status: 0 written, 1 failed (one line on stderr, the output untouched), 2 usage error";

/// A usage error: the problem and the synopsis on stderr, exit 2.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("vframe: {message}\nusage: vframe INPUT SPEC -o OUTPUT (vframe --help for more)");
    ExitCode::from(2)
}

/// A failure: one line on stderr, exit 1.
fn failure(message: &str) -> ExitCode {
    // Messages quote file names and FFmpeg's words; keep them to one line whatever they hold.
    let line: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    eprintln!("vframe: {line}");
    ExitCode::FAILURE
}

/// The command line: `INPUT SPEC -o OUTPUT`, or a request for help or the version.
enum Command {
    Help,
    Version,
    Extract { input: PathBuf, spec: OsString, output: PathBuf },
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut positional: Vec<OsString> = Vec::new();
    let mut output: Option<PathBuf> = None;
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
            _ => match text.strip_prefix("--output=") {
                Some(path) => set_output(path.into())?,
                None => return Err(format!("unknown option '{text}'")),
            },
        }
    }
    let output = output.ok_or("-o OUTPUT is missing")?;
    let [input, spec] = <[OsString; 2]>::try_from(positional)
        .map_err(|p| format!("expected INPUT and SPEC, got {} argument(s)", p.len()))?;
    if input.is_empty() {
        return Err("INPUT is empty".to_string());
    }
    Ok(Command::Extract { input: PathBuf::from(input), spec, output })
}

fn main() -> ExitCode {
    let (input, spec, output) = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("vframe {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Extract { input, spec, output }) => (input, spec, output),
        Err(message) => return usage_error(&message),
    };
    if frames::is_frames_op(&spec) {
        return frames::run(&input, &spec, &output);
    }
    // The spec first: a typo is reported as such, before any file is opened.
    let spec: vframe::Spec = match spec.to_str().map(str::parse) {
        Some(Ok(spec)) => spec,
        Some(Err(e)) => return failure(e.message()),
        None => return failure("invalid spec: it is not valid UTF-8"),
    };
    let output = match Output::resolve(&output) {
        Ok(target) => target,
        Err(why) => return failure(&format!("cannot write {}: {why}", output.display())),
    };
    // Before any work: the output must not be the video itself.
    if let Err(why) = output.check_not_input(&input) {
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
