//! Where the CLI writes an image, and how, so that nothing the user owns is lost.
//!
//! - An existing regular file is replaced only if it holds an image (or a storyboard's own
//!   index at its names), or nothing: another video or a document at a mistyped `-o` is
//!   refused and kept.
//! - A regular file (new or existing) is replaced atomically: the image goes to a temporary
//!   file with an unpredictable name, created exclusively beside it, synced, then renamed
//!   over it. An existing file keeps its permission bits, owner and extended attributes
//!   (its ACL too: `xattr`); one the caller may not write, or whose owner or attributes
//!   could not be kept, is refused (as the shell's `>` would refuse the first). A new one
//!   gets 0666 less the umask. The file's folder is opened once and written through its
//!   descriptor (`folder`), and a temporary file is removed when the command is stopped by
//!   a signal.
//! - A symbolic link is followed: the file it points to is written by the rule for its kind,
//!   except a link the kernel's `protected_symlinks` rule would not follow (in a sticky,
//!   world-writable folder such as /tmp, owned by neither the caller nor the folder's
//!   owner), anywhere on the path: a folder on the way, the output folder, the last name.
//! - Files vframe names itself in a folder it writes (vsample's frames, storyboard's files)
//!   are [`Output::in_folder`]: a link there is replaced, never followed, and anything but a
//!   regular file is refused.
//! - `-` and `/dev/stdout`, `/dev/stderr`, `/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`
//!   write to the inherited descriptor itself (its offset and append mode are respected); one
//!   open for reading only is refused, as the shell's `>&N` refuses it.
//! - An existing FIFO or character device is opened and written in place, never replaced.
//! - Directories, block devices and sockets are refused.
//! - The output may not be the input (same device and inode, however spelled).

use std::ffi::OsString;
use std::fs::{Metadata, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::folder::{check_links_on_path, holds_what_vframe_writes, AtName, Folder, Holds, MAX_LINKS, NAME_MAX};

/// A resolved output.
#[derive(Debug)]
pub enum Output {
    /// Standard output (`-`, `/dev/stdout`, `/dev/fd/1`).
    Stdout,
    /// Standard error (`/dev/stderr`, `/dev/fd/2`).
    Stderr,
    /// Another inherited descriptor (`/dev/fd/N`, `/dev/stdin`), open for writing: written
    /// through itself.
    Descriptor { fd: RawFd, shown: PathBuf },
    /// Written in place: a FIFO or a character device, opened for writing (no `O_CREAT`,
    /// no `O_TRUNC`).
    InPlace { path: PathBuf, shown: PathBuf },
    /// A regular file, existing or not: replaced atomically. `path` has its symbolic links
    /// followed; `existing` is what is there now; `at_name` what the write may replace.
    File { path: PathBuf, shown: PathBuf, existing: Option<Metadata>, at_name: AtName },
}

/// The descriptor a `/dev/stdout`-style path names, if it is one: by its usual spellings,
/// or by any other (`/dev//fd/3`, `/proc/self/./fd/3`, `/proc/<pid>/fd/3`, `fd/3` in /dev,
/// a link to /dev/fd) whose folder is this process's descriptor folder: the very folder
/// (device and inode) `/proc/self/fd` or `/proc/thread-self/fd` is, whatever pid /proc
/// shows (in a PID namespace it is not this process's own). Such a name is a magic link:
/// read as a link it gives the file's path, and that file would be replaced, not written
/// through the descriptor.
fn descriptor(path: &Path) -> Option<u32> {
    let text = path.to_str()?;
    match text {
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        "/dev/stdin" => return Some(0),
        _ => {}
    }
    let usual = ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .and_then(|n| n.parse().ok());
    usual.or_else(|| {
        let fd = path.file_name()?.to_str()?.parse().ok()?;
        let folder = std::fs::metadata(folder_of(path)).ok()?;
        let ours = ["/proc/self/fd", "/proc/thread-self/fd"].iter().filter_map(|own| std::fs::metadata(own).ok());
        ours.into_iter().any(|own| (own.dev(), own.ino()) == (folder.dev(), folder.ino())).then_some(fd)
    })
}

/// Whether the link `path` lives on /proc (however reached: a bind mount, a detached or
/// covered mount): its links are magic links to what a process has open (`fd/N`, `cwd`,
/// `exe`...), never files to replace; this process's own descriptors are [`descriptor`]'s.
/// The kernel is asked about the link itself (opened without following it), not about a
/// path rebuilt from link texts; a link that cannot be asked about counts as one in /proc.
fn link_in_proc(path: &Path) -> bool {
    const PROC_SUPER_MAGIC: libc::c_long = 0x9fa0;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return true };
    // SAFETY: the path is NUL-terminated; a descriptor returned is owned here.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return true;
    }
    // SAFETY: just opened, owned by nobody else.
    let link = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fstatfs writes into the zeroed struct.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    let read = unsafe { libc::fstatfs(link.as_raw_fd(), &mut fs) };
    read != 0 || fs.f_type as libc::c_long == PROC_SUPER_MAGIC
}

/// The descriptor `path` names once the links of its last name are followed (a link to
/// /dev/stdin), if it names one.
pub(crate) fn names_descriptor(path: &Path) -> Option<u32> {
    descriptor(&follow_links(path).ok()?)
}

/// The folder `path` is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if dir.components().next().is_some() => dir,
        _ => Path::new("."),
    }
}

/// `path` with the symbolic links of its last component followed (those of the folders
/// above are the kernel's business), stopping at a `/dev/stdout`-style path. Which links
/// may be followed at all is [`check_links_on_path`]'s to say, before any write.
fn follow_links(path: &Path) -> Result<PathBuf, String> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        if descriptor(&current).is_some() {
            return Ok(current);
        }
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() && link_in_proc(&current) => {
                return Err("it is another process's descriptor or link in /proc, not a file vframe may replace".into())
            }
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
        let meta = std::fs::metadata(folder_of(&resolved)).ok()?;
        Some(Place::New { dev: meta.dev(), ino: meta.ino(), name })
    }

    /// Where standard error leads, when it is a regular file (a message written there
    /// would land in that file).
    pub fn of_stderr() -> Option<Place> {
        let meta = std::fs::metadata("/proc/self/fd/2").ok().filter(Metadata::is_file)?;
        Some(Place::Existing { dev: meta.dev(), ino: meta.ino() })
    }
}

impl Output {
    /// Decides how to write to `path` (`-` is standard output).
    pub fn resolve(path: &Path) -> Result<Output, String> {
        if path.as_os_str() == "-" {
            if crate::closed_at_start(1) {
                return Err("standard output is not open (closed by the caller)".into());
            }
            return Ok(Output::Stdout);
        }
        let shown = path.to_path_buf();
        // `thumbs/` (or `thumbs/.`) names a folder: never an image file called `thumbs`.
        let bytes = path.as_os_str().as_bytes();
        if bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b"." {
            return Err(match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => "it is a directory".into(),
                _ => "it names a folder (it ends with '/' or '/.'), not an image file".into(),
            });
        }
        if descriptor(path).is_none() {
            check_links_on_path(path)?;
        }
        let resolved = follow_links(path)?;
        match descriptor(&resolved) {
            Some(fd) if crate::closed_at_start(fd) => return Err(format!("descriptor {fd} is not open")),
            Some(1) => return Ok(Output::Stdout),
            Some(2) => return Ok(Output::Stderr),
            Some(fd) => return Output::descriptor(fd, shown),
            None => {}
        }
        Folder::note(folder_of(&resolved));
        let meta = match std::fs::metadata(&resolved) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Output::File { path: resolved, shown, existing: None, at_name: AtName::LinkRefused })
            }
            Err(e) => return Err(e.to_string()),
        };
        let kind = meta.file_type();
        if kind.is_file() {
            Ok(Output::File { path: resolved, shown, existing: Some(meta), at_name: AtName::LinkRefused })
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

    /// An inherited descriptor other than 1 and 2, which must be open for writing.
    fn descriptor(fd: u32, shown: PathBuf) -> Result<Output, String> {
        let fd = RawFd::try_from(fd).map_err(|_| format!("there is no descriptor {fd}"))?;
        // SAFETY: F_GETFL only reads the descriptor's flags; a closed one gives EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(format!("descriptor {fd} is not open"));
        }
        if flags & libc::O_PATH != 0 || flags & libc::O_ACCMODE == libc::O_RDONLY {
            return Err(format!("descriptor {fd} is open for reading only"));
        }
        Ok(Output::Descriptor { fd, shown })
    }

    /// A file vframe names itself in a folder it writes: a symbolic link there is replaced
    /// (a link planted in the folder never sends an image elsewhere), a regular file
    /// replaced atomically, anything else (a FIFO, a device, a folder) refused.
    pub fn in_folder(path: &Path) -> Result<Output, String> {
        let shown = path.to_path_buf();
        Folder::note(folder_of(path));
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Ok(Output::File { path: shown.clone(), shown, existing: None, at_name: AtName::LinkReplaced })
            }
            Ok(meta) if meta.is_file() => {
                Ok(Output::File { path: shown.clone(), shown, existing: Some(meta), at_name: AtName::LinkReplaced })
            }
            Ok(_) => Err("it is not a regular file, and vframe writes only files in its output folder".into()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                Ok(Output::File { path: shown.clone(), shown, existing: None, at_name: AtName::LinkReplaced })
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The name to show in messages.
    pub fn shown(&self) -> &Path {
        match self {
            Output::Stdout => Path::new("standard output"),
            Output::Stderr => Path::new("standard error"),
            Output::Descriptor { shown, .. } | Output::InPlace { shown, .. } | Output::File { shown, .. } => shown,
        }
    }

    /// What is at the output now, if anything (following descriptors and links).
    fn current(&self) -> Option<Metadata> {
        match self {
            Output::Stdout => std::fs::metadata("/proc/self/fd/1").ok(),
            Output::Stderr => std::fs::metadata("/proc/self/fd/2").ok(),
            // SAFETY: as in `write`.
            Output::Descriptor { fd, .. } => unsafe { BorrowedFd::borrow_raw(*fd) }
                .try_clone_to_owned()
                .and_then(|fd| std::fs::File::from(fd).metadata())
                .ok(),
            Output::InPlace { path, .. } => std::fs::metadata(path).ok(),
            Output::File { existing, .. } => existing.clone(),
        }
    }

    /// Where this output leads, if a file a job could destroy: `None` for what is written
    /// in place and harmless to read and write at once (character devices, a terminal).
    pub fn place(&self) -> Option<Place> {
        match self {
            // A link at a name vframe chose is replaced: the name is the place, not the
            // link's target.
            Output::File { path, at_name: AtName::LinkReplaced, .. }
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                let meta = std::fs::metadata(folder_of(path)).ok()?;
                Some(Place::New { dev: meta.dev(), ino: meta.ino(), name: path.file_name()?.to_os_string() })
            }
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

    /// Refuses, before any work, an existing file this output would replace that holds
    /// something vframe does not replace (see [`holds_what_vframe_writes`]; checked again
    /// when it is replaced).
    pub fn check_replaceable(&self) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let Output::File { path, existing: Some(meta), .. } = self else { return Ok(()) };
        let open = || {
            let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
            OpenOptions::new().read(true).custom_flags(flags).open(path).map(OwnedFd::from)
        };
        let name = path.file_name().unwrap_or(path.as_os_str());
        holds_what_vframe_writes(open, name, meta.size(), Holds::Image)
            .map_err(|e| format!("cannot write {}: {e}", self.shown().display()))
    }

    /// Writes `data` by the rule for this kind of output.
    pub fn write(&self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => {
                let out = std::io::stdout().lock();
                write_all_waiting(out.as_fd(), data)
            }
            Output::Stderr => {
                let out = std::io::stderr().lock();
                write_all_waiting(out.as_fd(), data)
            }
            // SAFETY: the descriptor was open when resolved, and nothing in this process
            // closes inherited descriptors; were it closed, the write fails with EBADF.
            Output::Descriptor { fd, .. } => write_all_waiting(unsafe { BorrowedFd::borrow_raw(*fd) }, data),
            Output::InPlace { path, .. } => {
                // No O_CREAT, no O_TRUNC: what is there is written to, never replaced; and
                // never a file put in its place since the run started.
                let mut file = match path.file_name() {
                    Some(name) => Folder::reach_same(folder_of(path), false)
                        .map_err(std::io::Error::other)?
                        .open_in_place(name)?,
                    None => OpenOptions::new().append(true).open(path)?,
                };
                file.write_all(data).and_then(|()| file.flush())
            }
            Output::File { path, at_name, .. } => write_atomically(path, *at_name, data),
        }
    }
}

/// Writes all of `data` through the descriptor `fd` (at its offset, in its append mode),
/// waiting while one set non-blocking by whoever shares it (a pipe's reader, a terminal) is
/// full, rather than stopping half way.
fn write_all_waiting(fd: BorrowedFd<'_>, data: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::from(fd.try_clone_to_owned()?);
    let mut rest = data;
    while !rest.is_empty() {
        match file.write(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut ready = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                // SAFETY: one valid pollfd; -1 waits until the descriptor can take bytes
                // (or fails, which the next write reports).
                unsafe { libc::poll(&mut ready, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Replaces (or creates) the regular file `path` with `data` atomically, through its
/// folder's descriptor (made if missing: a name vframe chose in a folder it makes).
fn write_atomically(path: &Path, at_name: AtName, data: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().filter(|_| !matches!(path.components().next_back(), Some(Component::ParentDir)));
    let Some(name) = name else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the output names no file"));
    };
    // Before a folder is made for it.
    if name.len() > NAME_MAX {
        return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let dir = folder_of(path);
    let folder = Folder::reach_same(dir, at_name == AtName::LinkReplaced)
        .map_err(|why| std::io::Error::other(format!("cannot create a file in {}: {why}", dir.display())))?;
    folder.replace(name, data, at_name)
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
