//! Where the CLI writes an image, and how, so that nothing the user owns is lost.
//!
//! - A regular file (new or existing) is replaced atomically: the image goes to a temporary
//!   file with an unpredictable name, created exclusively beside it, then renamed over it.
//!   An existing file keeps its permission bits; a new one gets 0666 less the umask.
//! - A symbolic link is followed: the file it points to is written by the rule for its kind.
//! - `-` and `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N` write to the
//!   inherited descriptor in place (its offset and append mode are respected).
//! - An existing FIFO or character device is opened and written in place, never replaced.
//! - Directories, block devices and sockets are refused.
//! - The output may not be the input (same device and inode, however spelled).

use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed before giving up, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// A resolved output.
#[derive(Debug)]
pub enum Output {
    /// Standard output (`-`, `/dev/stdout`, `/dev/fd/1`).
    Stdout,
    /// Standard error (`/dev/stderr`, `/dev/fd/2`).
    Stderr,
    /// Written in place: a FIFO, a character device, or another inherited descriptor's path
    /// (`/dev/fd/N`), opened for appending.
    InPlace { path: PathBuf, shown: PathBuf },
    /// A regular file, existing or not: replaced atomically. `path` has its symbolic links
    /// followed; `existing` is what is there now.
    File { path: PathBuf, shown: PathBuf, existing: Option<Metadata> },
}

/// The descriptor a `/dev/stdout`-style path names, if it is one.
fn descriptor(path: &Path) -> Option<u32> {
    let text = path.to_str()?;
    match text {
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        "/dev/stdin" => return Some(0),
        _ => {}
    }
    let own_pid = format!("/proc/{}/fd/", std::process::id());
    ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", own_pid.as_str()]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .and_then(|n| n.parse().ok())
}

/// `path` with the symbolic links of its last component followed (those of the folders
/// above are the kernel's business), stopping at a `/dev/stdout`-style path.
fn follow_links(path: &Path) -> Result<PathBuf, String> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        if descriptor(&current).is_some() {
            return Ok(current);
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current).map_err(|e| e.to_string())?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err("too many levels of symbolic links".into())
}

/// Where a path leads on the file system, to tell whether two paths name one file: the
/// file's device and inode, or, for a file not there yet, its folder's and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    Existing { dev: u64, ino: u64 },
    New { dev: u64, ino: u64, name: OsString },
}

impl Place {
    /// Where `path` leads (its links followed), if anywhere: `None` for a path whose
    /// folder does not exist either.
    pub fn of(path: &Path) -> Option<Place> {
        let resolved = follow_links(path).ok()?;
        if let Ok(meta) = std::fs::metadata(&resolved) {
            return Some(Place::Existing { dev: meta.dev(), ino: meta.ino() });
        }
        let name = resolved.file_name()?.to_os_string();
        let dir = resolved.parent().filter(|dir| dir.components().next().is_some()).unwrap_or(Path::new("."));
        let meta = std::fs::metadata(dir).ok()?;
        Some(Place::New { dev: meta.dev(), ino: meta.ino(), name })
    }
}

impl Output {
    /// Decides how to write to `path` (`-` is standard output).
    pub fn resolve(path: &Path) -> Result<Output, String> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout);
        }
        let shown = path.to_path_buf();
        let resolved = follow_links(path)?;
        match descriptor(&resolved) {
            Some(1) => return Ok(Output::Stdout),
            Some(2) => return Ok(Output::Stderr),
            Some(_) => return Ok(Output::InPlace { path: resolved, shown }),
            None => {}
        }
        let meta = match std::fs::metadata(&resolved) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Output::File { path: resolved, shown, existing: None })
            }
            Err(e) => return Err(e.to_string()),
        };
        let kind = meta.file_type();
        if kind.is_file() {
            Ok(Output::File { path: resolved, shown, existing: Some(meta) })
        } else if kind.is_fifo() || kind.is_char_device() {
            Ok(Output::InPlace { path: resolved, shown })
        } else if kind.is_dir() {
            Err("it is a directory".into())
        } else if kind.is_block_device() {
            Err("it is a block device (vframe does not write images onto devices)".into())
        } else {
            Err("it is not a file, a FIFO or a character device".into())
        }
    }

    /// The name to show in messages.
    pub fn shown(&self) -> &Path {
        match self {
            Output::Stdout => Path::new("standard output"),
            Output::Stderr => Path::new("standard error"),
            Output::InPlace { shown, .. } | Output::File { shown, .. } => shown,
        }
    }

    /// What is at the output now, if anything (following descriptors and links).
    fn current(&self) -> Option<Metadata> {
        match self {
            Output::Stdout => std::fs::metadata("/proc/self/fd/1").ok(),
            Output::Stderr => std::fs::metadata("/proc/self/fd/2").ok(),
            Output::InPlace { path, .. } => std::fs::metadata(path).ok(),
            Output::File { existing, .. } => existing.clone(),
        }
    }

    /// Where this output leads, if a file a job could destroy: `None` for what is written
    /// in place and harmless to read and write at once (character devices, a terminal).
    pub fn place(&self) -> Option<Place> {
        match self {
            Output::File { path, .. } => Place::of(path),
            _ => self
                .current()
                .filter(|meta| !meta.file_type().is_char_device())
                .map(|meta| Place::Existing { dev: meta.dev(), ino: meta.ino() }),
        }
    }

    /// Whether the output is written in place (appended to): several writers lose nothing.
    pub fn in_place(&self) -> bool {
        !matches!(self, Output::File { .. })
    }

    /// Refuses an output that is the input file itself (writing it would destroy the video).
    pub fn check_not_input(&self, input: &Path) -> Result<(), String> {
        let (Some(out), Ok(inp)) = (self.current(), std::fs::metadata(input)) else { return Ok(()) };
        // Character devices (/dev/null, a terminal) may be read and written at once harmlessly.
        if out.dev() == inp.dev() && out.ino() == inp.ino() && !out.file_type().is_char_device() {
            return Err(format!(
                "the output {} is the input file itself; writing it would destroy the video",
                self.shown().display()
            ));
        }
        Ok(())
    }

    /// Writes `data` by the rule for this kind of output.
    pub fn write(&self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(data).and_then(|()| out.flush())
            }
            Output::Stderr => {
                let mut out = std::io::stderr().lock();
                out.write_all(data).and_then(|()| out.flush())
            }
            Output::InPlace { path, .. } => {
                // No O_CREAT, no O_TRUNC: what is there is written to, never replaced.
                let mut file = OpenOptions::new().append(true).open(path)?;
                file.write_all(data).and_then(|()| file.flush())
            }
            Output::File { path, existing, .. } => write_atomically(path, existing.as_ref(), data),
        }
    }
}

/// Replaces (or creates) the regular file `path` with `data` atomically.
fn write_atomically(path: &Path, existing: Option<&Metadata>, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if dir.components().next().is_some() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().filter(|_| !matches!(path.components().next_back(), Some(Component::ParentDir)));
    let Some(name) = name else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the output names no file"));
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    // O_CREAT | O_EXCL with a random name: a file or link planted in the folder is never
    // written through. The mode asked for is 0666; the umask applies, as for any new file.
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".vframe-tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    if let Some(meta) = existing {
        // The replaced file's permission bits stay, and its owner where we may set it.
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
    }
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    // On failure the temporary file is removed when `persist`'s error is dropped.
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable once the folder is synced.
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_paths() {
        assert_eq!(descriptor(Path::new("/dev/stdout")), Some(1));
        assert_eq!(descriptor(Path::new("/dev/stderr")), Some(2));
        assert_eq!(descriptor(Path::new("/dev/fd/7")), Some(7));
        assert_eq!(descriptor(Path::new("/proc/self/fd/1")), Some(1));
        assert_eq!(descriptor(Path::new(&format!("/proc/{}/fd/3", std::process::id()))), Some(3));
        assert_eq!(descriptor(Path::new("/proc/1/fd/3")), None);
        assert_eq!(descriptor(Path::new("/dev/fd/x")), None);
        assert_eq!(descriptor(Path::new("thumb.jpg")), None);
    }
}
