//! The `vframe` command: `vframe INPUT SPEC -o OUTPUT` (`-o -` writes to stdout).
//!
//! Exit 0 on success. On failure: one line on stderr, exit 1 (2 for usage errors), and no
//! output file (the image is written to a temporary file and renamed into place).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: vframe INPUT SPEC -o OUTPUT
  INPUT   a video file
  SPEC    vframe/<jpg|png>/offset/<seconds>[/w/<width>][/h/<height>][/rotate/<90|180|270|auto>]
  OUTPUT  the image file to write, or - for standard output";

fn usage_error(message: &str) -> ExitCode {
    eprintln!("vframe: {message}\n{USAGE}");
    ExitCode::from(2)
}

/// Writes `data` to `path` atomically: a temporary file beside it, renamed into place.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.vframe-{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn main() -> ExitCode {
    let mut positional: Vec<String> = Vec::new();
    let mut output: Option<PathBuf> = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some("-V" | "--version") => {
                println!("vframe {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            Some("-o" | "--output") => match args.next() {
                Some(path) => output = Some(PathBuf::from(path)),
                None => return usage_error("-o needs a file name"),
            },
            _ => positional.push(arg.to_string_lossy().into_owned()),
        }
    }
    let ([input, spec], Some(output)) = (<[String; 2]>::try_from(positional).unwrap_or_default(), output) else {
        return usage_error("expected INPUT SPEC -o OUTPUT");
    };
    if input.is_empty() {
        return usage_error("expected INPUT SPEC -o OUTPUT");
    }
    let image = match vframe::extract_path(&input, &spec) {
        Ok(image) => image,
        Err(e) => {
            eprintln!("vframe: {input}: {} ({})", e.message(), e.status().as_str());
            return ExitCode::FAILURE;
        }
    };
    let written = if output.as_os_str() == "-" {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&image.data).and_then(|()| stdout.flush())
    } else {
        write_atomically(&output, &image.data)
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vframe: cannot write {}: {e}", output.display());
            ExitCode::FAILURE
        }
    }
}
