//! Where the CLI writes an image, and how, so that nothing the user owns is lost.
//!
//! - A regular file (new or existing) is replaced atomically: the image goes to a temporary
//!   file with an unpredictable name, created exclusively beside it, synced, then renamed
//!   over it. An existing file keeps its permission bits and owner; one the caller may not
//!   write, or whose owner could not be kept, is refused (as the shell's `>` would refuse
//!   the first). A new one gets 0666 less the umask. A temporary file is removed when the
//!   command is stopped by SIGINT, SIGTERM or SIGHUP (unless the caller ignores them).
//! - A symbolic link is followed: the file it points to is written by the rule for its kind,
//!   except a link the kernel's `protected_symlinks` rule would not follow (in a sticky,
//!   world-writable folder such as /tmp, owned by neither the caller nor the folder's
//!   owner), anywhere on the path: a folder on the way, the output folder, the last name.
//! - Files vframe names itself in a folder it writes (vsample's frames, storyboard's files)
//!   are [`Output::in_folder`]: a link there is replaced, never followed, and anything but a
//!   regular file is refused.
//! - `-` and `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N` write to the
//!   inherited descriptor in place (its offset and append mode are respected).
//! - An existing FIFO or character device is opened and written in place, never replaced.
//! - Directories, block devices and sockets are refused.
//! - The output may not be the input (same device and inode, however spelled).

use std::ffi::{CString, OsString};
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
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

/// The folder `path` is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if dir.components().next().is_some() => dir,
        _ => Path::new("."),
    }
}

/// Refuses to follow `link` (whose metadata is `meta`) where the kernel's
/// `fs.protected_symlinks` would: in a sticky, world-writable folder, a link owned by
/// neither the caller nor the folder's owner. vframe reads links itself, so the kernel's
/// rule would not otherwise apply to it.
fn check_protected_link(link: &Path, meta: &Metadata) -> Result<(), String> {
    let Ok(folder) = std::fs::metadata(folder_of(link)) else { return Ok(()) };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let shared = folder.mode() & 0o1002 == 0o1002;
    if shared && meta.uid() != me && meta.uid() != folder.uid() {
        return Err(format!(
            "{} is a symbolic link in a shared sticky folder, owned by another user (uid {}): \
             not followed, as the kernel's protected_symlinks rule",
            link.display(),
            meta.uid()
        ));
    }
    Ok(())
}

/// One step of a path, owned (a link's target joins the steps still to walk).
enum Step {
    Root,
    Parent,
    Name(OsString),
}

fn steps(path: &Path) -> impl Iterator<Item = Step> + '_ {
    path.components().filter_map(|component| match component {
        Component::RootDir | Component::Prefix(_) => Some(Step::Root),
        Component::CurDir => None,
        Component::ParentDir => Some(Step::Parent),
        Component::Normal(name) => Some(Step::Name(name.to_os_string())),
    })
}

/// Walks `path` as the kernel resolves it, link by link (at most [`MAX_LINKS`]), refusing
/// at every step a link the kernel's `protected_symlinks` rule would not follow (see
/// [`check_protected_link`]): a folder on the way, the output folder itself, the last name.
/// Stops quietly where the path leads nowhere yet (what is missing, vframe makes).
pub fn check_links_on_path(path: &Path) -> Result<(), String> {
    let mut current =
        if path.is_absolute() { PathBuf::from("/") } else { std::env::current_dir().map_err(|e| e.to_string())? };
    let mut todo: std::collections::VecDeque<Step> = steps(path).collect();
    let mut links = 0;
    while let Some(step) = todo.pop_front() {
        let name = match step {
            Step::Root => {
                current = PathBuf::from("/");
                continue;
            }
            Step::Parent => {
                current.pop();
                continue;
            }
            Step::Name(name) => name,
        };
        let next = current.join(&name);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                check_protected_link(&next, &meta)?;
                links += 1;
                if links > MAX_LINKS {
                    return Err("too many levels of symbolic links".into());
                }
                let target = std::fs::read_link(&next).map_err(|e| e.to_string())?;
                for step in steps(&target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(step);
                }
            }
            Ok(_) => current = next,
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A folder to write into: checked for links as [`check_links_on_path`] does, made if
/// missing, refused if something else (a file, a device) has its name.
pub fn folder(output: &Path) -> Result<PathBuf, String> {
    check_links_on_path(output).map_err(|why| format!("cannot write into {}: {why}", output.display()))?;
    match std::fs::metadata(output) {
        Ok(meta) if meta.is_dir() => Ok(output.to_path_buf()),
        Ok(_) => Err(format!("cannot write into {}: it is not a folder", output.display())),
        // `components()` drops a trailing slash, which would make read_link follow the link.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_link(output.components().as_path()) {
            Ok(target) => Err(format!(
                "cannot write into {}: it is a symbolic link to {}, which does not exist",
                output.display(),
                target.display()
            )),
            Err(_) => std::fs::create_dir_all(output)
                .map(|()| output.to_path_buf())
                .map_err(|e| format!("cannot make the folder {}: {e}", output.display())),
        },
        Err(e) => Err(format!("cannot write into {}: {e}", output.display())),
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
            return Ok(Output::Stdout);
        }
        let shown = path.to_path_buf();
        if descriptor(path).is_none() {
            check_links_on_path(path)?;
        }
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

    /// A file vframe names itself in a folder it writes: a symbolic link there is replaced
    /// (a link planted in the folder never sends an image elsewhere), a regular file
    /// replaced atomically, anything else (a FIFO, a device, a folder) refused.
    pub fn in_folder(path: &Path) -> Result<Output, String> {
        let shown = path.to_path_buf();
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Ok(Output::File { path: shown.clone(), shown, existing: None })
            }
            Ok(meta) if meta.is_file() => Ok(Output::File { path: shown.clone(), shown, existing: Some(meta) }),
            Ok(_) => Err("it is not a regular file, and vframe writes only files in its output folder".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Output::File { path: shown.clone(), shown, existing: None })
            }
            Err(e) => Err(e.to_string()),
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

/// The longest part of the output's name kept in its temporary file's name (which adds a
/// dot, six random characters and `.vframe-tmp`), so a name near the file system's limit
/// of 255 bytes still has a temporary name.
const TEMP_NAME_KEEP: usize = 200;

fn error(kind: std::io::ErrorKind, message: String) -> std::io::Error {
    std::io::Error::new(kind, message)
}

/// Replaces (or creates) the regular file `path` with `data` atomically.
fn write_atomically(path: &Path, existing: Option<&Metadata>, data: &[u8]) -> std::io::Result<()> {
    let dir = folder_of(path);
    let name = path.file_name().filter(|_| !matches!(path.components().next_back(), Some(Component::ParentDir)));
    let Some(name) = name else {
        return Err(error(std::io::ErrorKind::InvalidInput, "the output names no file".into()));
    };
    if existing.is_some() {
        may_replace(path)?;
    }
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(std::ffi::OsStr::from_bytes(&name.as_bytes()[..name.len().min(TEMP_NAME_KEEP)]));
    prefix.push(".");
    // O_CREAT | O_EXCL with a random name: a file or link planted in the folder is never
    // written through. The mode asked for is 0666; the umask applies, as for any new file.
    // Dropped in reverse order: on an error, the file is removed before it is unregistered.
    let (_registered, mut tmp) = cleanup::create(|| {
        tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".vframe-tmp")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
    })
    .map_err(|e| {
        // tempfile's message names the temporary file, which was never made: name the folder.
        // (Its error keeps only the kind of the system's.)
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "the folder does not exist (any more)".to_string(),
            kind => kind.to_string(),
        };
        error(e.kind(), format!("cannot create a file in {}: {why}", dir.display()))
    })?;
    if let Some(meta) = existing {
        // The replaced file's owner stays (or nothing is replaced), its group where we may
        // set it, and its permission bits.
        let mut mode = meta.mode() & 0o7777;
        if std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid())).is_err() {
            // Only the group may be lost (a group the caller is not in), never the owner;
            // the group's bits then go too (as cp does), not to the caller's group.
            mode &= !0o2070;
            if tmp.as_file().metadata()?.uid() != meta.uid() {
                return Err(error(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "it belongs to another user (uid {}), whom a replacement would not keep as owner",
                        meta.uid()
                    ),
                ));
            }
        }
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
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

/// Refuses to replace a file the caller may not write (the shell's `>` would refuse it too):
/// making a file read-only keeps vframe from replacing it.
fn may_replace(path: &Path) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| error(std::io::ErrorKind::InvalidInput, "the name holds a NUL byte".into()))?;
    // SAFETY: c_path is a valid C string; faccessat only reads it.
    let ret = unsafe { libc::faccessat(libc::AT_FDCWD, c_path.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if ret != 0 {
        let why = std::io::Error::last_os_error();
        return Err(error(why.kind(), format!("{why}: vframe replaces only files you may write")));
    }
    Ok(())
}

/// Temporary files removed when a signal stops the command: the one being written is
/// registered (its name copied into static storage) and the handlers of SIGINT, SIGTERM
/// and SIGHUP unlink it, then die of the signal as the default action would. A signal that
/// comes while a temporary file is being created and registered waits until it is (on
/// whichever thread the handler runs), so none escapes. Only async-signal-safe calls in the
/// handler: atomics, `unlink`, `signal`, `raise`.
pub mod cleanup {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicUsize, Ordering};

    const CAPACITY: usize = 4096;
    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU8 = AtomicU8::new(0);
    static NAME: [AtomicU8; CAPACITY] = [ZERO; CAPACITY];
    /// The registered name's length; 0 while none is (or while it is being changed).
    static LENGTH: AtomicUsize = AtomicUsize::new(0);
    /// Whether a temporary file is being created and registered.
    static CREATING: AtomicBool = AtomicBool::new(false);
    /// A signal that came meanwhile (0: none).
    static PENDING: AtomicI32 = AtomicI32::new(0);

    /// Installs the handlers; called once, at start. A signal the caller set to be ignored
    /// (`nohup`, `trap '' INT`, a script's background job) stays ignored.
    pub fn install() {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: sigaction with a null new action only reads the current one into
            // `old`; the handler only makes async-signal-safe calls.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
                    continue;
                }
                libc::signal(signal, handler as extern "C" fn(libc::c_int) as libc::sighandler_t);
            }
        }
    }

    extern "C" fn handler(signal: libc::c_int) {
        if CREATING.load(Ordering::SeqCst) {
            PENDING.store(signal, Ordering::SeqCst);
        } else {
            die(signal);
        }
    }

    /// Removes the registered file and ends the process as `signal` would.
    fn die(signal: libc::c_int) {
        let length = LENGTH.load(Ordering::SeqCst);
        if length > 0 && length < CAPACITY {
            let mut name = [0u8; CAPACITY];
            for (byte, stored) in name.iter_mut().zip(NAME.iter()).take(length) {
                *byte = stored.load(Ordering::Relaxed);
            }
            // SAFETY: `name` is NUL-terminated (length < CAPACITY).
            unsafe { libc::unlink(name.as_ptr().cast()) };
        }
        // SAFETY: restoring the default action and raising the signal again ends the
        // process as the signal would have.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    /// Creates a temporary file with `make` and registers it; a signal that comes meanwhile
    /// is acted on once it is registered.
    pub fn create(
        make: impl FnOnce() -> std::io::Result<tempfile::NamedTempFile>,
    ) -> std::io::Result<(Registered, tempfile::NamedTempFile)> {
        CREATING.store(true, Ordering::SeqCst);
        let made = make().map(|file| (Registered::new(file.path()), file));
        CREATING.store(false, Ordering::SeqCst);
        let signal = PENDING.swap(0, Ordering::SeqCst);
        if signal != 0 {
            die(signal);
        }
        made
    }

    /// The temporary file `path` is registered while this lives.
    pub struct Registered;

    impl Registered {
        fn new(path: &Path) -> Registered {
            let bytes = path.as_os_str().as_bytes();
            LENGTH.store(0, Ordering::SeqCst);
            if bytes.len() < CAPACITY && !bytes.contains(&0) {
                for (stored, &byte) in NAME.iter().zip(bytes) {
                    stored.store(byte, Ordering::Relaxed);
                }
                LENGTH.store(bytes.len(), Ordering::SeqCst);
            }
            Registered
        }
    }

    impl Drop for Registered {
        fn drop(&mut self) {
            LENGTH.store(0, Ordering::SeqCst);
        }
    }
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
