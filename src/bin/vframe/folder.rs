//! Folders the CLI writes into, held by a descriptor from the moment they are checked.
//!
//! A folder is reached by a walk of its path, one name at a time, each folder on the way
//! opened relative to the one before with `O_NOFOLLOW` and each symbolic link read and
//! followed by vframe itself, after the kernel's `protected_symlinks` rule (see
//! [`check_protected_link`]). Every later step (the temporary file, the rename, the sync)
//! goes through the folder's descriptor: a folder moved away, or replaced by a link,
//! after the check cannot send an image anywhere else, whatever `fs.protected_symlinks`
//! says on this machine.
//!
//! - [`Folder::replace`] writes one file atomically: a temporary file created exclusively
//!   beside it, synced, renamed over it.
//! - [`Staging`] writes a whole set of files (vsample's frames, storyboard's sheets and
//!   index) into a hidden folder inside the output folder, then moves them all into place
//!   at the end, holding a lock on the folder: a run that fails or is stopped before the
//!   end leaves what was there untouched, and two runs into one folder leave one run's set.
//!
//! The temporary file or the staging folder is removed when the command is stopped by
//! a signal that would end it ([`cleanup::signals`]); SIGXFSZ (a file size limit) is ignored
//! so that the write fails with an error the command reports and cleans up after.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use crate::still::{self, is_image};
use crate::xattr;

/// Symbolic links followed before giving up, as the kernel's own limit.
pub const MAX_LINKS: usize = 40;

/// The longest file name, in bytes (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;

/// The longest part of the output's name kept in its temporary file's name (which adds a
/// dot, six random characters and `.vframe-tmp`), so a name near the file system's limit
/// of 255 bytes still has a temporary name.
const TEMP_NAME_KEEP: usize = 200;

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the name holds a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`, retried when a signal interrupts it.
fn open_at(dir: RawFd, name: &OsStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    loop {
        // SAFETY: `name` is a NUL-terminated string; a descriptor returned is owned here.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, libc::c_uint::from(mode)) };
        if fd >= 0 {
            // SAFETY: `fd` was just opened and nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What `name` in `dir` is, its links not followed.
pub fn stat_at(dir: RawFd, name: &OsStr) -> io::Result<libc::stat> {
    let name = c_name(name)?;
    // SAFETY: an all-zero `stat` is a valid value for fstatat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated and `st` writable.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn stat_fd(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: as in `stat_at`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn kind(st: &libc::stat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

fn read_link_at(dir: RawFd, name: &OsStr) -> io::Result<PathBuf> {
    let name = c_name(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` has room for `buf.len()` bytes; readlinkat writes no more.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsString::from_vec(buf)))
}

/// Refuses to follow the link `name` in `dir` (its own metadata `link`) where the kernel's
/// `fs.protected_symlinks` would: in a sticky, world-writable folder, a link owned by
/// neither the caller nor the folder's owner. vframe reads links itself, so the kernel's
/// rule would not otherwise apply to it.
fn check_protected_link(dir: RawFd, link: &libc::stat, shown: &Path) -> Result<(), String> {
    let Ok(folder) = stat_fd(dir) else { return Ok(()) };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let shared = folder.st_mode & 0o1002 == 0o1002;
    if shared && link.st_uid != me && link.st_uid != folder.st_uid {
        return Err(format!(
            "{} is a symbolic link in a shared sticky folder, owned by another user (uid {}): \
             not followed, as the kernel's protected_symlinks rule",
            shown.display(),
            link.st_uid
        ));
    }
    Ok(())
}

/// One step of a path, owned (a link's target joins the steps still to walk).
enum Step {
    Root,
    Parent,
    /// A name, and, when it is the last name of a link's target, that link (for saying
    /// that the link leads nowhere).
    Name(OsString, Option<(PathBuf, PathBuf)>),
}

fn steps(path: &Path) -> Vec<Step> {
    path.components()
        .filter_map(|component| match component {
            Component::RootDir | Component::Prefix(_) => Some(Step::Root),
            Component::CurDir => None,
            Component::ParentDir => Some(Step::Parent),
            Component::Normal(name) => Some(Step::Name(name.to_os_string(), None)),
        })
        .collect()
}

fn open_dir(dir: RawFd, name: &str) -> io::Result<OwnedFd> {
    open_at(dir, OsStr::new(name), libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// The folders this run has written into or checked, by the path that named them, and
/// which folder (device and inode) each led to the first time.
static SEEN: std::sync::Mutex<Option<HashMap<PathBuf, (u64, u64)>>> = std::sync::Mutex::new(None);

/// A folder held open for writing.
pub struct Folder {
    fd: OwnedFd,
    shown: PathBuf,
}

impl Folder {
    /// As [`Folder::reach`], and the folder must be the one `path` led to the first time
    /// this run reached it ([`Folder::note`]): a folder replaced, or a link put in its place,
    /// while vframe works gets nothing written into it.
    pub fn reach_same(path: &Path, make: bool) -> Result<Folder, String> {
        let folder = Folder::reach(path, make)?;
        folder.same_as_before()?;
        Ok(folder)
    }

    /// Notes which folder `path` leads to now, if it leads to one (see [`Folder::reach_same`]).
    pub fn note(path: &Path) {
        if let Ok(folder) = Folder::reach(path, false) {
            let _ = folder.same_as_before();
        }
    }

    fn same_as_before(&self) -> Result<(), String> {
        let now = identity(&stat_fd(self.fd()).map_err(|e| e.to_string())?);
        let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get_or_insert_with(HashMap::new).entry(self.shown.clone()) {
            Entry::Occupied(before) if *before.get() != now => {
                Err("it was replaced (by another folder or a link) while vframe worked: nothing is written there"
                    .into())
            }
            Entry::Occupied(_) => Ok(()),
            Entry::Vacant(first) => {
                first.insert(now);
                Ok(())
            }
        }
    }

    /// Opens the folder `path` by the walk described in the module's documentation,
    /// making what is missing when `make` (as `mkdir -p`, but never at the end of a link
    /// that leads nowhere). Refuses a name on the way that is not a folder, and a link the
    /// `protected_symlinks` rule would not follow. The error says only why.
    pub fn reach(path: &Path, make: bool) -> Result<Folder, String> {
        Folder::walked(path, walk(path, make)?)
    }

    /// The folder where the walk of `path` ended, or why there is none.
    fn walked(path: &Path, walked: Walked) -> Result<Folder, String> {
        let it = |here: &Path, last: bool| if last { "it".to_string() } else { here.display().to_string() };
        match walked {
            Walked::Folder(fd) => Ok(Folder { fd, shown: path.to_path_buf() }),
            Walked::NotFolder { here, last } => Err(format!("{} is not a folder", it(&here, last))),
            Walked::Missing { link: Some((link, target)), last, .. } => {
                Err(format!("{} is a symbolic link to {}, which does not exist", it(&link, last), target.display()))
            }
            Walked::Missing { here, last, .. } => Err(format!("{} does not exist", it(&here, last))),
        }
    }

    /// Opens `name` here to be written in place (appended to, never truncated): a FIFO or
    /// a character device, never through a link.
    pub fn open_in_place(&self, name: &OsStr) -> io::Result<std::fs::File> {
        let fd = open_at(self.fd(), name, libc::O_WRONLY | libc::O_APPEND | libc::O_NOFOLLOW, 0)?;
        if !matches!(kind(&stat_fd(fd.as_raw_fd())?), libc::S_IFIFO | libc::S_IFCHR) {
            return Err(io::Error::other("it is no longer a FIFO or a character device"));
        }
        Ok(std::fs::File::from(fd))
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Refuses a folder marked append-only (`chattr +a`), where a file can be made but
    /// neither renamed into place nor removed, so each run would leave its temporary file,
    /// or immutable (`chattr +i`), where nothing can be made. A folder whose flags cannot be
    /// read (an `O_PATH` descriptor, a file system without them) is not refused: there a
    /// failed rename is cleaned up as usual.
    fn check_flags(&self) -> io::Result<()> {
        const FS_IMMUTABLE_FL: libc::c_int = 0x10;
        const FS_APPEND_FL: libc::c_int = 0x20;
        let mut flags: libc::c_int = 0;
        // SAFETY: FS_IOC_GETFLAGS writes an int (the kernel's size, whatever the ioctl's
        // number says) through the pointer.
        let read = unsafe { libc::ioctl(self.fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        let why = match flags {
            _ if read != 0 => return Ok(()),
            f if f & FS_IMMUTABLE_FL != 0 => {
                "the folder is immutable (chattr +i): nothing can be made or changed there"
            }
            f if f & FS_APPEND_FL != 0 => {
                "the folder is append-only (chattr +a): a file made there could neither replace another nor be removed"
            }
            _ => return Ok(()),
        };
        Err(io::Error::new(io::ErrorKind::PermissionDenied, why))
    }

    /// `name` in this folder, for messages.
    pub fn shown(&self, name: &OsStr) -> PathBuf {
        self.shown.join(name)
    }

    /// Replaces (or creates) the regular file `name` in this folder with `data`, atomically.
    /// An existing file keeps its permission bits, owner and extended attributes; one the
    /// caller may not write, or whose owner or attributes could not be kept, is refused.
    /// What else may be at `name` is `at_name`'s to say (a link replaced, or refused).
    pub fn replace(&self, name: &OsStr, data: &[u8], at_name: AtName) -> io::Result<()> {
        let existing = self.existing(name, at_name, Holds::Image)?;
        let (tmp_name, file, mut registered) = self.temporary(name)?;
        // The metadata after the data: a write by a caller without CAP_FSETID clears the
        // set-id bits and security.capability the file is to keep.
        let written = write_synced(file, data, |file| match &existing {
            Some(st) => keep_metadata(file, st, self.fd(), name),
            None => Ok(()),
        });
        // Swapped with what is there, which is checked once more as it comes out: a file
        // that became a video since the first check goes back (see `move_in`). Signals wait
        // meanwhile: the temporary name may hold what was there.
        let mut kept = false;
        let written = written.and_then(|()| {
            cleanup::creating(|| match move_in_as(self.fd(), &tmp_name, self.fd(), name, Holds::Image) {
                Ok(Moved::Exchanged) => {
                    // The old image, now at the temporary name, goes.
                    let _ = unlink_at(self.fd(), &tmp_name, 0);
                    Ok(())
                }
                Ok(Moved::Placed | Moved::Replaced) => Ok(()),
                Err(NotMoved { error, left_in_staging: false }) => Err(error),
                // Swapped, and not back: what was there is at the temporary name, and stays.
                Err(NotMoved { error, left_in_staging: true }) => {
                    registered.keep();
                    kept = true;
                    let kept = self.shown(&tmp_name);
                    Err(io::Error::other(format!(
                        "{error}; it could not be put back, and is kept as {}",
                        kept.display()
                    )))
                }
            })
        });
        if kept {
            return written;
        }
        if let Err(e) = written {
            // A folder made append-only or immutable meanwhile is the likelier cause.
            let e = self.check_flags().err().unwrap_or(e);
            if let Err(left) = unlink_at(self.fd(), &tmp_name, 0) {
                let tmp = self.shown(&tmp_name);
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; its temporary file {} could not be removed: {left}", tmp.display()),
                ));
            }
            return Err(e);
        }
        // The rename itself is durable once the folder is synced.
        // SAFETY: fsync on a descriptor we own; O_PATH descriptors refuse it harmlessly.
        unsafe { libc::fsync(self.fd()) };
        Ok(())
    }

    /// What is at `name` now: a regular file (kept as its metadata), nothing, or a link
    /// (replaced, or refused, as `at_name` says); anything else is refused.
    pub fn existing(&self, name: &OsStr, at_name: AtName, holds: Holds) -> io::Result<Option<libc::stat>> {
        match stat_at(self.fd(), name) {
            Ok(st) if kind(&st) == libc::S_IFREG => {
                may_replace(self.fd(), name)?;
                holds_at(self.fd(), name, name, &st, holds)?;
                Ok(Some(st))
            }
            Ok(st) if kind(&st) == libc::S_IFLNK && at_name == AtName::LinkReplaced => Ok(None),
            Ok(st) if kind(&st) == libc::S_IFLNK => Err(io::Error::other(
                "it became a symbolic link while vframe worked (a link there is followed only when the run starts)",
            )),
            Ok(_) if at_name == AtName::LinkReplaced => {
                Err(io::Error::other("it is not a regular file, and vframe writes only files in its output folder"))
            }
            Ok(_) => Err(io::Error::other("it is no longer a regular file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A new temporary file beside `name` (mode 0666 less the umask).
    fn temporary(&self, name: &OsStr) -> io::Result<(OsString, OwnedFd, cleanup::Registered)> {
        let keep = &name.as_bytes()[..name.len().min(TEMP_NAME_KEEP)];
        self.check_flags()?;
        let dir = self.fd();
        // Created and registered before a signal is acted on.
        let made = cleanup::creating(|| {
            let made = create_unique(dir, |random| {
                let mut tmp = b".".to_vec();
                tmp.extend_from_slice(keep);
                tmp.push(b'.');
                tmp.extend_from_slice(random);
                tmp.extend_from_slice(b".vframe-tmp");
                OsString::from_vec(tmp)
            });
            made.map(|(tmp_name, fd)| {
                let registered = cleanup::Registered::file(dir, &tmp_name);
                (tmp_name, fd, registered)
            })
        });
        let (tmp_name, fd, registered) = made.map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::NotFound => "the folder does not exist (any more)".to_string(),
                _ => e.to_string(),
            };
            io::Error::new(e.kind(), format!("cannot create a file in {}: {why}", self.shown.display()))
        })?;
        Ok((tmp_name, fd, registered))
    }
}

/// What a file vframe writes may replace at its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtName {
    /// A name vframe chose in a folder: a link there is replaced, never followed.
    LinkReplaced,
    /// A name whose links were followed when the run started: a link now is refused.
    LinkRefused,
}

/// Where a walk of a path ended.
enum Walked {
    /// At a folder, held open.
    Folder(OwnedFd),
    /// At a name that does not exist (`here`; the last name of the path when `last`),
    /// reached through `link` (the link and its target) when that link leads nowhere.
    Missing { here: PathBuf, last: bool, link: Option<(PathBuf, PathBuf)> },
    /// At something that is not a folder (`here`; the last name of the path when `last`).
    NotFolder { here: PathBuf, last: bool },
}

/// Refuses a path whose walk meets a link the kernel's `protected_symlinks` rule would not
/// follow: a folder on the way, the output folder itself, the last name. Where the path
/// leads nowhere yet (what is missing, vframe makes) or ends at a file, the walk stops there.
pub fn check_links_on_path(path: &Path) -> Result<(), String> {
    walk(path, false).map(drop)
}

/// Refuses, before any work, an output folder that cannot be one (a file, a link to
/// nothing, a link the `protected_symlinks` rule would not follow); a missing one is fine
/// (it is made when the first file is written).
pub fn check_folder(path: &Path) -> Result<(), String> {
    let fail = |why: String| format!("cannot write into {}: {why}", path.display());
    match walk(path, false).map_err(fail)? {
        Walked::Missing { link: None, .. } => Ok(()),
        walked => Folder::walked(path, walked).and_then(|folder| folder.same_as_before()).map_err(fail),
    }
}

/// Walks `path` (see the module's documentation), making missing folders when `make`.
fn walk(path: &Path, make: bool) -> Result<Walked, String> {
    let start = if path.is_absolute() { "/" } else { "." };
    // One descriptor at a time, the folder reached so far: `..` is its parent on disk,
    // as the kernel resolves it (links are walked from the folder they are in).
    let mut current = open_dir(libc::AT_FDCWD, start).map_err(|e| e.to_string())?;
    let mut todo: VecDeque<Step> = steps(path).into();
    // The path walked so far, for messages.
    let mut walked = PathBuf::from(start);
    let mut links = 0;
    while let Some(step) = todo.pop_front() {
        let top = current.as_raw_fd();
        let (name, link) = match step {
            Step::Root => {
                current = open_dir(libc::AT_FDCWD, "/").map_err(|e| e.to_string())?;
                walked = PathBuf::from("/");
                continue;
            }
            Step::Parent => {
                current = open_dir(top, "..").map_err(|e| e.to_string())?;
                walked.push("..");
                continue;
            }
            Step::Name(name, link) => (name, link),
        };
        let here = walked.join(&name);
        let last = todo.is_empty();
        match stat_at(top, &name) {
            Ok(st) if kind(&st) == libc::S_IFLNK => {
                check_protected_link(top, &st, &here)?;
                links += 1;
                if links > MAX_LINKS {
                    return Err("too many levels of symbolic links".into());
                }
                let target = read_link_at(top, &name).map_err(|e| format!("{}: {e}", here.display()))?;
                let mut more = steps(&target);
                if let Some(Step::Name(_, end)) = more.last_mut() {
                    *end = Some((here.clone(), target.clone()));
                }
                for step in more.into_iter().rev() {
                    todo.push_front(step);
                }
            }
            Ok(st) if kind(&st) == libc::S_IFDIR => {
                // O_NOFOLLOW: a link put in its place since the stat is not followed.
                let fd = open_at(top, &name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).map_err(|e| {
                    let changed = matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR | libc::ENOENT));
                    let why = if changed { " (it changed while vframe opened it)" } else { "" };
                    format!("{}: {e}{why}", here.display())
                })?;
                current = fd;
                walked = here;
            }
            Ok(_) => return Ok(Walked::NotFolder { here, last }),
            Err(e) if e.kind() == io::ErrorKind::NotFound && make && link.is_none() => {
                let c = c_name(&name).map_err(|e| e.to_string())?;
                // SAFETY: `c` is NUL-terminated. 0777 less the umask, as mkdir -p.
                if let Err(e) = check(unsafe { libc::mkdirat(top, c.as_ptr(), 0o777) }) {
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(format!("cannot make the folder {}: {e}", here.display()));
                    }
                }
                // Walked again: opened if a folder, whoever made it.
                todo.push_front(Step::Name(name, None));
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(Walked::Missing { here, last, link })
            }
            Err(e) => return Err(format!("{}: {e}", here.display())),
        }
    }
    // Reopened readable where it may be (fsync and flock need more than O_PATH).
    let fd = open_at(current.as_raw_fd(), OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap_or(current);
    Ok(Walked::Folder(fd))
}

/// Creates a new file exclusively in `dir` under a name `name_for` makes from six random
/// characters (another six on a clash): a file or link planted in the folder is never
/// written through. The mode asked for is 0666; the umask applies, as for any new file.
fn create_unique(dir: RawFd, name_for: impl Fn(&[u8]) -> OsString) -> io::Result<(OsString, OwnedFd)> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..100 {
        let name = name_for(&random_chars());
        match open_at(dir, &name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o666) {
            Ok(fd) => return Ok((name, fd)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn random_chars() -> [u8; 6] {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 6];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        // No random bytes: the time and the process still make clashes unlikely, and
        // O_EXCL makes them harmless.
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let seed = seed ^ u128::from(std::process::id()) << 64;
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = (seed >> (i * 8)) as u8);
    }
    bytes.map(|b| ALPHABET[usize::from(b) % ALPHABET.len()])
}

/// The replaced file's owner stays (or nothing is replaced), its group where we may set
/// it, its extended attributes (ACL included; see `xattr`) and its permission bits. `st` is
/// the file at `name` in `dir`, which `fd` is to replace.
fn keep_metadata(fd: BorrowedFd<'_>, st: &libc::stat, dir: RawFd, name: &OsStr) -> io::Result<()> {
    let mut mode = st.st_mode & 0o7777;
    // SAFETY: fchown/fchmod on a descriptor we own.
    if unsafe { libc::fchown(fd.as_raw_fd(), st.st_uid, st.st_gid) } != 0 {
        // Only the group may be lost (a group the caller is not in), never the owner;
        // the group's bits then go too (as cp does), not to the caller's group.
        mode &= !0o2070;
        if stat_fd(fd.as_raw_fd())?.st_uid != st.st_uid {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("it belongs to another user (uid {}), whom a replacement would not keep as owner", st.st_uid),
            ));
        }
    }
    xattr::copy(&attributes_of(dir, name, st)?, fd)?;
    // After the ACL, which sets the bits its entries stand for: the same bits, and the
    // set-id bits a new ACL may have cleared.
    // SAFETY: as above.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) })?;
    Ok(())
}

/// The file at `name` in `dir`, opened to read its extended attributes: for reading where
/// it opens at once, else by path only. It must still be the file `st` describes.
fn attributes_of(dir: RawFd, name: &OsStr, st: &libc::stat) -> io::Result<xattr::Source> {
    let flags = libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK;
    let source = match open_at(dir, name, libc::O_RDONLY | flags, 0) {
        Ok(fd) => xattr::Source::Readable(fd),
        // Not readable by the caller, or held under a lease another process must give up first.
        Err(e) if matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::WouldBlock) => {
            xattr::Source::path(open_at(dir, name, libc::O_PATH | flags, 0)?)
        }
        Err(e) => return Err(e),
    };
    let fd = match &source {
        xattr::Source::Readable(fd) | xattr::Source::Path(fd, _) => fd,
    };
    if identity(&stat_fd(fd.as_raw_fd())?) != identity(st) {
        return Err(io::Error::other("it was replaced by another file while vframe worked"));
    }
    Ok(source)
}

/// Writes `data` to the new file `fd`, then has `finish` set its metadata, then syncs both.
fn write_synced(fd: OwnedFd, data: &[u8], finish: impl FnOnce(BorrowedFd<'_>) -> io::Result<()>) -> io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)?;
    finish(file.as_fd())?;
    file.sync_all()
}

fn unlink_at(dir: RawFd, name: &OsStr, flags: libc::c_int) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) }).map(drop)
}

/// Refuses to replace a file the caller may not write (the shell's `>` would refuse it too):
/// making a file read-only keeps vframe from replacing it.
fn may_replace(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: `c` is NUL-terminated; faccessat only reads it.
    let ret = unsafe { libc::faccessat(dir, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if ret != 0 {
        let why = io::Error::last_os_error();
        return Err(io::Error::new(why.kind(), format!("{why}: vframe replaces only files you may write")));
    }
    Ok(())
}

/// What a file vframe replaces may hold besides an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Only an image (or nothing).
    Image,
    /// A storyboard's index at its own names (`storyboard.vtt`: WebVTT, `storyboard.json`:
    /// a JSON object), written again by a storyboard run into its folder.
    Index,
}

/// Refuses to replace a file that holds something vframe would not have written there: an
/// image (JPEG, PNG or WebP, by its first bytes), or, where `holds` says so, a storyboard's
/// index; an empty file holds nothing to lose. A mistyped `-o` (another video, a document)
/// then loses nothing; the user removes such a file to write there. `open` opens the file
/// for reading.
pub fn holds_what_vframe_writes(
    open: impl FnOnce() -> io::Result<OwnedFd>,
    name: &OsStr,
    size: u64,
    holds: Holds,
) -> io::Result<()> {
    if size == 0 {
        return Ok(());
    }
    let refused = |why: String| {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{why}: vframe replaces only images (JPEG, PNG, WebP) and its own storyboard files, so that a mistyped output never destroys a video or a document; remove it first to write there"),
        )
    };
    let ext = Path::new(name).extension().map(|e| e.to_ascii_lowercase());
    let ext = ext.as_deref().and_then(OsStr::to_str);
    let file = match open() {
        Ok(file) => file,
        // A file the caller may write but not read: its name must say it is an image.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return match ext {
                Some("jpg" | "jpeg" | "png" | "webp") => Ok(()),
                Some("vtt" | "json") if holds == Holds::Index => Ok(()),
                _ => Err(refused(format!(
                    "it exists, cannot be read to see what it holds ({e}), and its name is not an image's"
                ))),
            };
        }
        Err(e) => return Err(refused(format!("it exists and cannot be read to see what it holds ({e})"))),
    };
    let mut head = [0u8; 16];
    let mut got = 0;
    let mut file = std::fs::File::from(file);
    while got < head.len() {
        match io::Read::read(&mut file, &mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(refused(format!("it exists and cannot be read to see what it holds ({e})"))),
        }
    }
    let head = &head[..got];
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let index = holds == Holds::Index;
    if is_image(head) {
        return match still::is_still(&mut file) {
            Ok(true) => Ok(()),
            Ok(false) => Err(refused(
                "it exists and is not one whole still picture (pictures one after another, as in a Motion-JPEG \
                 stream, an animation, a picture with more after it such as a motion photo's video, or one cut \
                 short)"
                    .to_string(),
            )),
            Err(e) => Err(refused(format!("it exists and cannot be read to see what it holds ({e})"))),
        };
    }
    let ours = (index && ext == Some("vtt") && text.starts_with(b"WEBVTT"))
        || (index && ext == Some("json") && text.trim_ascii_start().starts_with(b"{"));
    if ours || got == 0 {
        return Ok(());
    }
    Err(refused("it exists and is not an image".to_string()))
}

/// [`holds_what_vframe_writes`] for the regular file `name` in `dir` (whose metadata is
/// `st`), judged as the file at `shown_as` (the name whose extension counts).
fn holds_at(dir: RawFd, name: &OsStr, shown_as: &OsStr, st: &libc::stat, holds: Holds) -> io::Result<()> {
    let open = || open_at(dir, name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK, 0);
    holds_what_vframe_writes(open, shown_as, st.st_size as u64, holds)
}

/// What a staged file's name may hold now: a storyboard's index at its two names, else an
/// image.
fn holds(name: &OsStr) -> Holds {
    match name.as_bytes() {
        b"storyboard.vtt" | b"storyboard.json" => Holds::Index,
        _ => Holds::Image,
    }
}

/// A set of files written into a hidden folder inside the output folder, then moved into
/// place together by [`Staging::commit`]; dropped before that, it is removed with what it
/// holds. The output folder is opened (and made, if missing) with the first file, so a run
/// that fails before it makes none. A name written twice keeps the last.
pub struct Staging {
    output: PathBuf,
    open: Option<Staged>,
    /// The files staged, in order.
    files: Vec<OsString>,
    /// Names whose earlier file is in the staging folder and could not be put back: never
    /// removed (the staging folder then stays, and the message says where they are).
    keep: Vec<OsString>,
}

/// The output folder, and the staging folder in it.
struct Staged {
    folder: Folder,
    name: OsString,
    fd: OwnedFd,
    _registered: cleanup::Registered,
}

impl Staged {
    fn new(folder: Folder) -> Result<Staged, String> {
        let fail = |e: io::Error| format!("cannot write into {}: {e}", folder.shown.display());
        folder.check_flags().map_err(fail)?;
        for _ in 0..100 {
            let mut name = b".vframe-".to_vec();
            name.extend_from_slice(&random_chars());
            name.extend_from_slice(b".tmp");
            let name = OsString::from_vec(name);
            // Made, opened and registered before a signal is acted on. 0700: only the
            // caller may enter it while it fills.
            let made = cleanup::creating(|| Staged::make(&folder, &name));
            match made {
                Ok((fd, registered)) => return Ok(Staged { folder, name, fd, _registered: registered }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(fail(e)),
            }
        }
        Err(fail(io::Error::from(io::ErrorKind::AlreadyExists)))
    }

    /// Makes the staging folder `name` and opens it, checking that what was opened is the
    /// empty folder just made (another user who may write the output folder could have
    /// put another folder at its name in between).
    fn make(folder: &Folder, name: &OsStr) -> io::Result<(OwnedFd, cleanup::Registered)> {
        let c = c_name(name)?;
        // SAFETY: `c` is NUL-terminated.
        check(unsafe { libc::mkdirat(folder.fd(), c.as_ptr(), 0o700) })?;
        let opened = open_at(folder.fd(), name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        let st = stat_fd(opened.as_raw_fd())?;
        // Ours: an empty folder of the caller's (not its mode, which a setgid folder, a
        // default ACL or the umask change, nor its link count: btrfs gives folders one).
        let mut empty = true;
        cleanup::for_each_entry(opened.as_raw_fd(), &mut |_| empty = false);
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if st.st_uid == me && kind(&st) == libc::S_IFDIR && empty {
            let registered = cleanup::Registered::folder(folder.fd(), name, opened.as_raw_fd(), &st);
            return Ok((opened, registered));
        }
        Err(io::Error::other("its staging folder was replaced while vframe made it"))
    }

    /// Removes the staging folder, if it is still the one made (by device and inode).
    fn remove(&self) -> io::Result<()> {
        let same = match (stat_fd(self.fd.as_raw_fd()), stat_at(self.folder.fd(), &self.name)) {
            (Ok(ours), Ok(there)) => (ours.st_dev, ours.st_ino) == (there.st_dev, there.st_ino),
            _ => false,
        };
        if same {
            unlink_at(self.folder.fd(), &self.name, libc::AT_REMOVEDIR)?;
        }
        Ok(())
    }
}

/// How a staged file went into place, to put it back.
#[derive(Clone, Copy)]
enum Moved {
    /// Swapped with the file that was there (now in the staging folder under its name).
    Exchanged,
    /// Put where nothing was.
    Placed,
    /// Renamed over what was there, which is gone (a file system that cannot swap).
    Replaced,
}

fn rename2(from_dir: RawFd, name: &OsStr, to_dir: RawFd, flags: libc::c_uint) -> io::Result<()> {
    rename2_as(from_dir, name, to_dir, name, flags)
}

fn rename2_as(from_dir: RawFd, from: &OsStr, to_dir: RawFd, to: &OsStr, flags: libc::c_uint) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    // SAFETY: the names are NUL-terminated.
    check(unsafe { libc::renameat2(from_dir, from.as_ptr(), to_dir, to.as_ptr(), flags) }).map(drop)
}

fn identity(st: &libc::stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// Why a file could not be moved into place, and whether what was at its name is now in the
/// staging folder (to be kept, never removed with it).
struct NotMoved {
    error: io::Error,
    left_in_staging: bool,
}

/// Moves `name` from `staging` into `dir`: swapped with what is there (so it can be swapped
/// back), or put where nothing is; renamed over it only where the file system cannot swap.
/// What came out of the swap is checked again ([`holds_what_vframe_writes`]): a file changed
/// since the first check into something vframe does not replace goes straight back.
fn move_in(staging: RawFd, dir: RawFd, name: &OsStr, holds: Holds) -> Result<Moved, NotMoved> {
    move_in_as(staging, name, dir, name, holds)
}

/// [`move_in`] from the name `from` to the name `to` (a temporary file beside its target).
fn move_in_as(staging: RawFd, from: &OsStr, dir: RawFd, to: &OsStr, holds: Holds) -> Result<Moved, NotMoved> {
    let failed = |error: io::Error| NotMoved { error, left_in_staging: false };
    for _ in 0..3 {
        match rename2_as(staging, from, dir, to, libc::RENAME_EXCHANGE) {
            // What came out must be a file or a link (checked before, but it may have
            // changed since): a folder, FIFO or device goes straight back where it was, and
            // so does a file that no longer holds what vframe replaces.
            Ok(()) => {
                let refused = match stat_at(staging, from) {
                    Ok(st) if kind(&st) == libc::S_IFLNK => None,
                    Ok(st) if kind(&st) == libc::S_IFREG => holds_at(staging, from, to, &st, holds).err(),
                    _ => Some(io::Error::other("it is no longer a regular file")),
                };
                let Some(error) = refused else { return Ok(Moved::Exchanged) };
                let back = rename2_as(staging, from, dir, to, libc::RENAME_EXCHANGE);
                return Err(NotMoved { error, left_in_staging: back.is_err() });
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                match rename2_as(staging, from, dir, to, libc::RENAME_NOREPLACE) {
                    Ok(()) => return Ok(Moved::Placed),
                    // Made meanwhile: swap with it.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        return rename2_as(staging, from, dir, to, 0).map(|()| Moved::Placed).map_err(failed)
                    }
                    Err(e) => return Err(failed(e)),
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return rename2_as(staging, from, dir, to, 0).map(|()| Moved::Replaced).map_err(failed)
            }
            Err(e) => return Err(failed(e)),
        }
    }
    Err(failed(io::Error::other("another process keeps making and removing it")))
}

/// Puts back what [`move_in`] moved (each name with the identity of the file vframe put
/// there), last first, where the name still holds that file: what another process put
/// there since is left alone. Returns the names whose earlier file is still in the staging
/// folder (not put back: to be kept), and how many names could not be put back at all.
fn move_back(staging: RawFd, dir: RawFd, moved: &[(&OsStr, Moved, (u64, u64))]) -> (Vec<OsString>, usize) {
    let (mut kept, mut failed) = (Vec::new(), 0);
    for &(name, how, ours) in moved.iter().rev() {
        let still_ours = stat_at(dir, name).is_ok_and(|st| identity(&st) == ours);
        let back = match how {
            Moved::Exchanged if still_ours => rename2(staging, name, dir, libc::RENAME_EXCHANGE),
            Moved::Placed if still_ours => rename2(dir, name, staging, libc::RENAME_NOREPLACE),
            _ => Err(io::Error::from(io::ErrorKind::Unsupported)),
        };
        if back.is_err() {
            failed += 1;
            if matches!(how, Moved::Exchanged) {
                kept.push(name.to_os_string());
            }
        }
    }
    (kept, failed)
}

impl Staging {
    pub fn new(output: &Path) -> Staging {
        Staging { output: output.to_path_buf(), open: None, files: Vec::new(), keep: Vec::new() }
    }

    fn staged(&mut self) -> Result<&Staged, String> {
        if self.open.is_none() {
            let folder = Folder::reach_same(&self.output, true)
                .map_err(|why| format!("cannot write into {}: {why}", self.output.display()))?;
            self.open = Some(Staged::new(folder)?);
        }
        self.open.as_ref().ok_or_else(String::new)
    }

    /// Writes `name`'s bytes into the staging folder. What is at `name` in the output
    /// folder is checked now (a link there will be replaced; a folder, FIFO or device, or
    /// a file the caller may not write, is refused, and so is what `refuse` refuses), and
    /// again at the commit.
    pub fn add(
        &mut self,
        name: &OsStr,
        data: &[u8],
        refuse: &dyn Fn(&libc::stat) -> Result<(), String>,
    ) -> Result<(), String> {
        // Before the folder is made for it.
        if name.len() > NAME_MAX {
            let e = io::Error::from_raw_os_error(libc::ENAMETOOLONG);
            return Err(format!("cannot write {}: {e}", self.output.join(name).display()));
        }
        let staged = self.staged()?;
        let shown = staged.folder.shown(name);
        let fail = |e: io::Error| format!("cannot write {}: {e}", shown.display());
        if let Some(st) = staged.folder.existing(name, AtName::LinkReplaced, holds(name)).map_err(fail)? {
            refuse(&st)?;
        }
        let dir = staged.fd.as_raw_fd();
        if self.files.iter().any(|f| f == name) {
            unlink_at(dir, name, 0).map_err(fail)?;
            self.files.retain(|f| f != name);
        }
        let fd = cleanup::creating(|| {
            open_at(dir, name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o666)
        })
        .map_err(fail)?;
        self.files.push(name.to_os_string());
        use std::io::Write;
        std::fs::File::from(fd).write_all(data).map_err(fail)
    }

    /// Moves every staged file into the output folder, under an exclusive lock on it (a
    /// second run into the same folder waits), after checking every name again, then
    /// removes the staging folder. Files that replace existing ones keep their owner and
    /// permission bits. `refuse` refuses a name (the input's, say) before anything moves.
    /// Signals wait from the first move to the end: one that came during the moves puts
    /// every file back; one after the last move ends the run once it is complete.
    pub fn commit(mut self, refuse: &dyn Fn(&libc::stat) -> Result<(), String>) -> Result<(), String> {
        let dir = self.staged()?.folder.fd();
        // SAFETY: flock on a descriptor we own; released when it closes (or at exit).
        let locked = unsafe { libc::flock(dir, libc::LOCK_EX) } == 0;
        cleanup::creating(move || {
            let result = self.move_all(refuse);
            // SAFETY: fsync on a descriptor we own.
            unsafe { libc::fsync(dir) };
            if locked {
                // SAFETY: as above.
                unsafe { libc::flock(dir, libc::LOCK_UN) };
            }
            // The staging folder goes now, signals still held; one that cannot (its folder
            // made append-only or immutable meanwhile) is named.
            let left = self.discard();
            match (result, left) {
                (result, None) => result,
                (Ok(()), Some(left)) => Err(format!("the files are in place, but {left}")),
                (Err(e), Some(left)) => Err(format!("{e}; {left}")),
            }
        })
    }

    /// Empties and removes the staging folder now (dropping does it too); says so when the
    /// folder is still there after.
    fn discard(&mut self) -> Option<String> {
        let staged = self.open.take()?;
        // What is left in it: the run's files, or after a commit those they replaced, but
        // what could not be put back (the folder then stays).
        for name in self.files.iter().filter(|name| !self.keep.contains(name)) {
            let _ = unlink_at(staged.fd.as_raw_fd(), name, 0);
        }
        // One still holding what could not be put back stays by design, and is named.
        match staged.remove() {
            Err(e) if self.keep.is_empty() => Some(format!(
                "the staging folder {} could not be removed: {e}",
                staged.folder.shown(&staged.name).display()
            )),
            _ => None,
        }
    }

    fn move_all(&mut self, refuse: &dyn Fn(&libc::stat) -> Result<(), String>) -> Result<(), String> {
        let Some(staged) = &self.open else { return Ok(()) };
        let (dir, staging) = (staged.folder.fd(), staged.fd.as_raw_fd());
        // Made append-only or immutable since the run began: nothing could be swapped in.
        if let Err(e) = staged.folder.check_flags() {
            return Err(format!(
                "cannot write into {}: {e}; the files are left as they were",
                staged.folder.shown.display()
            ));
        }
        // Everything on disk before any name changes.
        // SAFETY: syncfs on a descriptor we own.
        unsafe { libc::syncfs(staging) };
        let mut ours = Vec::with_capacity(self.files.len());
        for name in &self.files {
            let shown = staged.folder.shown(name);
            let fail = |e: io::Error| format!("cannot write {}: {e}", shown.display());
            if let Some(st) = staged.folder.existing(name, AtName::LinkReplaced, holds(name)).map_err(fail)? {
                refuse(&st)?;
                let file = open_at(staging, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0).map_err(fail)?;
                keep_metadata(file.as_fd(), &st, staged.folder.fd(), name).map_err(fail)?;
            }
            ours.push(stat_at(staging, name).map(|st| identity(&st)).map_err(fail)?);
        }
        // Each file swapped into place: a name that cannot be replaced (an append-only file,
        // a mount point) or a signal meanwhile puts every one back, and the folder is as it
        // was. The files it replaced are left in the staging folder, removed with it.
        let mut moved = Vec::with_capacity(self.files.len());
        let mut failure = None;
        for (name, &ours) in self.files.iter().zip(&ours) {
            match move_in(staging, dir, name, holds(name)) {
                Ok(how) => moved.push((name.as_os_str(), how, ours)),
                Err(not) => {
                    if not.left_in_staging {
                        self.keep.push(name.clone());
                    }
                    failure = Some(format!("cannot write {}: {}", staged.folder.shown(name).display(), not.error));
                    break;
                }
            }
        }
        if failure.is_none() && cleanup::signal_pending() {
            failure = Some("stopped by a signal".to_string());
        }
        let Some(failure) = failure else { return Ok(()) };
        let (kept, failed) = move_back(staging, dir, &moved);
        self.keep.extend(kept);
        if failed == 0 && self.keep.is_empty() {
            return Err(format!("{failure}; the folder is left as it was"));
        }
        let mut message = format!("{failure}; {failed} of the files moved could not be put back");
        if !self.keep.is_empty() {
            let names: Vec<_> = self.keep.iter().map(|n| n.to_string_lossy().into_owned()).collect();
            message += &format!(
                " (what was there is kept in {}: {})",
                staged.folder.shown(&staged.name).display(),
                names.join(", ")
            );
        }
        Err(message)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = self.discard();
    }
}

/// Temporary files and staging folders removed when a signal stops the command: the one
/// being written is registered (its folder's descriptor and its name, copied into static
/// storage) and the handlers of the signals in [`signals`] remove it, then die of
/// the signal as the default action would. A signal that comes while a file is being
/// created, or files moved into place, waits until that is done (on whichever thread the
/// handler runs), so none escapes and no set is left half moved. Only async-signal-safe
/// calls in the handler: atomics, `lseek`, `getdents64`, `fstatat`, `unlinkat`, `signal`,
/// `raise`.
pub mod cleanup {
    use std::ffi::OsStr;
    use std::os::fd::RawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

    const CAPACITY: usize = 4096;
    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU8 = AtomicU8::new(0);
    static NAME: [AtomicU8; CAPACITY] = [ZERO; CAPACITY];
    /// The registered name's length; 0 while none is (or while it is being changed).
    static LENGTH: AtomicUsize = AtomicUsize::new(0);
    /// The folder the registered name is in.
    static DIR: AtomicI32 = AtomicI32::new(-1);
    /// Whether the registered name is a staging folder (removed with what it holds).
    static IS_FOLDER: AtomicBool = AtomicBool::new(false);
    /// The staging folder's descriptor, device and inode.
    static STAGING: AtomicI32 = AtomicI32::new(-1);
    static DEV: AtomicU64 = AtomicU64::new(0);
    static INO: AtomicU64 = AtomicU64::new(0);
    /// Whether a file is being created and registered, or files moved into place.
    static BUSY: AtomicBool = AtomicBool::new(false);
    /// A signal that came meanwhile (0: none).
    static PENDING: AtomicI32 = AtomicI32::new(0);

    /// The signals sent to end a process, or whose default action ends it without a bug of
    /// its own (a timer, a CPU-time limit, a user-defined signal nobody handles), with the
    /// real-time signals the C library leaves to programs ([`signals`]). Not SIGKILL, which
    /// no handler sees, nor the signals of a crash (SIGSEGV, SIGABRT...), after which
    /// nothing is safe to run.
    const SIGNALS: [libc::c_int; 13] = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGXCPU,
        libc::SIGPWR,
        libc::SIGIO,
        libc::SIGSTKFLT,
    ];

    /// [`SIGNALS`] and the real-time signals (SIGRTMIN to SIGRTMAX, whose default action
    /// ends a process too).
    pub fn signals() -> impl Iterator<Item = libc::c_int> {
        SIGNALS.into_iter().chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
    }

    /// Installs the handlers; called once, at start. A signal the caller set to be ignored
    /// (`nohup`, `trap '' INT`, a script's background job) stays ignored. SIGXFSZ is
    /// ignored: past a file size limit a write fails (EFBIG), and the command says so.
    pub fn install() {
        for signal in signals() {
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
        // SAFETY: ignoring a signal is always allowed.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        // `ulimit -t N` sets the soft and the hard CPU-time limit at once, and at the hard
        // one the kernel sends SIGKILL, which no handler sees (it checks that one first):
        // one second less on the soft limit lets SIGXCPU come first, so the run cleans up.
        let mut cpu = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit with a valid struct; only this process's soft limit
        // is lowered, never raised.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_CPU, &mut cpu) == 0
                && cpu.rlim_cur == cpu.rlim_max
                && cpu.rlim_max != libc::RLIM_INFINITY
                && cpu.rlim_max > 1
            {
                cpu.rlim_cur = cpu.rlim_max - 1;
                libc::setrlimit(libc::RLIMIT_CPU, &cpu);
            }
        }
    }

    extern "C" fn handler(signal: libc::c_int) {
        if BUSY.load(Ordering::SeqCst) {
            PENDING.store(signal, Ordering::SeqCst);
        } else {
            die(signal);
        }
    }

    /// Removes the registered file or folder and ends the process as `signal` would.
    fn die(signal: libc::c_int) {
        let length = LENGTH.load(Ordering::SeqCst);
        if length > 0 && length < CAPACITY {
            let mut name = [0u8; CAPACITY];
            for (byte, stored) in name.iter_mut().zip(NAME.iter()).take(length) {
                *byte = stored.load(Ordering::Relaxed);
            }
            let dir = DIR.load(Ordering::SeqCst);
            if IS_FOLDER.load(Ordering::SeqCst) {
                // Emptied through its own descriptor, removed by name only while the name
                // is still that folder: a folder another user put at the name is not
                // touched.
                let staging = STAGING.load(Ordering::SeqCst);
                empty_folder(staging);
                // SAFETY: an all-zero stat is a valid value for fstatat to overwrite; `name`
                // is NUL-terminated (length < CAPACITY).
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                let there = unsafe { libc::fstatat(dir, name.as_ptr().cast(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
                if there == 0 && st.st_dev == DEV.load(Ordering::SeqCst) && st.st_ino == INO.load(Ordering::SeqCst) {
                    // SAFETY: as above.
                    unsafe { libc::unlinkat(dir, name.as_ptr().cast(), libc::AT_REMOVEDIR) };
                }
            } else {
                // SAFETY: `name` is NUL-terminated (length < CAPACITY).
                unsafe { libc::unlinkat(dir, name.as_ptr().cast(), 0) };
            }
        }
        // SAFETY: restoring the default action and raising the signal again ends the
        // process as the signal would have.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    /// Unlinks every file in the folder open as `fd` (no allocation: this runs in a signal
    /// handler).
    fn empty_folder(fd: RawFd) {
        // SAFETY: each name is NUL-terminated (see `for_each_entry`).
        for_each_entry(fd, &mut |name| unsafe {
            libc::unlinkat(fd, name.as_ptr().cast(), 0);
        });
    }

    /// Calls `f` with the name (NUL-terminated) of every entry of the folder open as `fd`
    /// but `.` and `..`, from its start, with system calls only (`lseek`, `getdents64`): no
    /// allocation, so it may run in a signal handler.
    pub fn for_each_entry(fd: RawFd, f: &mut dyn FnMut(&[u8])) {
        if fd < 0 {
            return;
        }
        // SAFETY: lseek on a directory descriptor rewinds its listing.
        unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: getdents64 writes at most `buf.len()` bytes into `buf`.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
            if n <= 0 {
                break;
            }
            let mut at = 0usize;
            while at + 19 < n as usize {
                // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
                let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
                if reclen == 0 {
                    break;
                }
                let entry = &buf[at + 19..(at + reclen).min(n as usize)];
                let is_dot = entry.starts_with(b".\0") || entry.starts_with(b"..\0");
                if !is_dot && entry.contains(&0) {
                    f(entry);
                }
                at += reclen;
            }
        }
    }

    /// Whether a signal came while signals were held back ([`creating`]).
    pub fn signal_pending() -> bool {
        PENDING.load(Ordering::SeqCst) != 0
    }

    /// Runs `work` (the creation of a file, or moving files into place) with signals
    /// held back until it is done; a signal that came meanwhile is then acted on.
    pub fn creating<T>(work: impl FnOnce() -> T) -> T {
        let nested = BUSY.swap(true, Ordering::SeqCst);
        let result = work();
        if !nested {
            BUSY.store(false, Ordering::SeqCst);
            let signal = PENDING.swap(0, Ordering::SeqCst);
            if signal != 0 {
                die(signal);
            }
        }
        result
    }

    /// The temporary file or staging folder registered while this lives.
    pub struct Registered(bool);

    impl Registered {
        /// Unregisters the name now: what it holds is no longer vframe's to remove (a file
        /// swapped out that could not be swapped back).
        pub fn keep(&mut self) {
            if self.0 {
                LENGTH.store(0, Ordering::SeqCst);
                IS_FOLDER.store(false, Ordering::SeqCst);
            }
            self.0 = false;
        }

        pub fn file(dir: RawFd, name: &OsStr) -> Registered {
            Registered::new(dir, name, false)
        }

        /// The staging folder `name` in `dir`, open as `staging` (whose metadata is `st`).
        pub fn folder(dir: RawFd, name: &OsStr, staging: RawFd, st: &libc::stat) -> Registered {
            STAGING.store(staging, Ordering::SeqCst);
            DEV.store(st.st_dev, Ordering::SeqCst);
            INO.store(st.st_ino, Ordering::SeqCst);
            Registered::new(dir, name, true)
        }

        fn new(dir: RawFd, name: &OsStr, is_folder: bool) -> Registered {
            let bytes = name.as_bytes();
            // A staging folder stays registered while the files in it are: those are
            // removed with it.
            if IS_FOLDER.load(Ordering::SeqCst) && LENGTH.load(Ordering::SeqCst) > 0 {
                return Registered(false);
            }
            LENGTH.store(0, Ordering::SeqCst);
            if bytes.len() < CAPACITY && !bytes.contains(&0) {
                for (stored, &byte) in NAME.iter().zip(bytes) {
                    stored.store(byte, Ordering::Relaxed);
                }
                DIR.store(dir, Ordering::SeqCst);
                IS_FOLDER.store(is_folder, Ordering::SeqCst);
                LENGTH.store(bytes.len(), Ordering::SeqCst);
            }
            Registered(true)
        }
    }

    impl Drop for Registered {
        fn drop(&mut self) {
            if self.0 {
                LENGTH.store(0, Ordering::SeqCst);
                IS_FOLDER.store(false, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> (PathBuf, OwnedFd, OwnedFd) {
        let root = std::env::temp_dir().join(format!("vframe-folder-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("out")).unwrap();
        std::fs::create_dir_all(root.join("stage")).unwrap();
        let open =
            |name: &str| open_at(libc::AT_FDCWD, root.join(name).as_os_str(), libc::O_RDONLY | libc::O_DIRECTORY, 0);
        let (out, stage) = (open("out").unwrap(), open("stage").unwrap());
        (root, out, stage)
    }

    /// Replaces `path` by a new file (a new inode, as an atomic writer leaves it).
    fn replace(path: &Path, data: &[u8]) {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, data).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn putting_back_touches_only_what_vframe_put_there() {
        let (root, out, stage) = scratch("put-back");
        let (dir, staging) = (out.as_raw_fd(), stage.as_raw_fd());
        // Earlier images (WebP's structure around text for a picture): what vframe replaces.
        let image = |text: &str| {
            let chunk = [b"VP8 ".as_slice(), &(text.len() as u32).to_le_bytes(), text.as_bytes()].concat();
            let padded = [chunk.as_slice(), if text.len() % 2 == 1 { b"\0" } else { b"" }].concat();
            [b"RIFF".as_slice(), &(4 + padded.len() as u32).to_le_bytes(), b"WEBP", &padded].concat()
        };
        for (name, old) in [("a", "old a"), ("b", "old b")] {
            std::fs::write(root.join("out").join(name), image(old)).unwrap();
        }
        let mut moved = Vec::new();
        let names: Vec<OsString> = ["a", "b", "c"].iter().map(OsString::from).collect();
        for name in &names {
            std::fs::write(root.join("stage").join(name), format!("new {}", name.to_string_lossy())).unwrap();
            let ours = identity(&stat_at(staging, name).unwrap());
            let how = move_in(staging, dir, name, Holds::Image).map_err(|e| e.error).unwrap();
            moved.push((name.as_os_str(), how, ours));
        }
        assert!(matches!(
            moved.iter().map(|m| m.1).collect::<Vec<_>>()[..],
            [Moved::Exchanged, Moved::Exchanged, Moved::Placed]
        ));
        // Another process writes b and c meanwhile: theirs stay, and the old b is kept.
        replace(&root.join("out/b"), b"theirs b");
        replace(&root.join("out/c"), b"theirs c");
        let (kept, failed) = move_back(staging, dir, &moved);
        assert_eq!((kept, failed), (vec![OsString::from("b")], 2));
        let read = |path: &str| std::fs::read(root.join(path)).unwrap();
        assert_eq!(
            [read("out/a"), read("out/b"), read("out/c")],
            [image("old a"), b"theirs b".to_vec(), b"theirs c".to_vec()]
        );
        assert_eq!(read("stage/b"), image("old b"), "the file that could not be put back is kept");
        assert_eq!(read("stage/a"), b"new a");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A file that became something vframe does not replace after the first check (another
    /// process wrote a video there meanwhile) is checked again as the swap brings it out,
    /// and goes straight back: both files are where they were.
    #[test]
    fn a_file_that_is_no_image_by_the_swap_goes_back() {
        let (root, out, stage) = scratch("swap-check");
        let (dir, staging) = (out.as_raw_fd(), stage.as_raw_fd());
        let video = b"\0\0\0\x20ftypisom a video written meanwhile";
        for (name, holds) in [("t.jpg", Holds::Image), ("storyboard.json", Holds::Index), ("notes.json", Holds::Image)]
        {
            std::fs::write(root.join("out").join(name), video).unwrap();
            std::fs::write(root.join("stage").join(name), b"\xFF\xD8\xFF new").unwrap();
            let not = move_in(staging, dir, OsStr::new(name), holds).err().expect("refused");
            assert!(!not.left_in_staging && not.error.to_string().contains("not an image"), "{}", not.error);
            assert_eq!(std::fs::read(root.join("out").join(name)).unwrap(), video, "{name}");
            assert_eq!(std::fs::read(root.join("stage").join(name)).unwrap(), b"\xFF\xD8\xFF new");
        }
        // An index at its own name, with Holds::Index, is swapped; with Holds::Image it is not.
        std::fs::write(root.join("out/storyboard.vtt"), b"WEBVTT\n\nold").unwrap();
        std::fs::write(root.join("stage/storyboard.vtt"), b"WEBVTT\n\nnew").unwrap();
        assert!(move_in(staging, dir, OsStr::new("storyboard.vtt"), Holds::Image).is_err());
        assert!(matches!(move_in(staging, dir, OsStr::new("storyboard.vtt"), Holds::Index), Ok(Moved::Exchanged)));
        assert_eq!(std::fs::read(root.join("out/storyboard.vtt")).unwrap(), b"WEBVTT\n\nnew");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_folder_replaced_by_a_link_during_the_run_is_refused() {
        let (root, _out, _stage) = scratch("same");
        let path = root.join("out");
        assert!(Folder::reach_same(&path, false).is_ok());
        std::fs::rename(&path, root.join("moved")).unwrap();
        std::os::unix::fs::symlink(root.join("stage"), &path).unwrap();
        let why = Folder::reach_same(&path, false).err().expect("refused");
        assert!(why.contains("replaced"), "{why}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_folder_or_fifo_at_a_name_goes_back_where_it_was() {
        let (root, out, stage) = scratch("not-a-file");
        std::fs::create_dir(root.join("out/d")).unwrap();
        std::fs::write(root.join("out/d/doc.txt"), b"mine").unwrap();
        std::fs::write(root.join("stage/d"), b"new").unwrap();
        let not = move_in(stage.as_raw_fd(), out.as_raw_fd(), OsStr::new("d"), Holds::Image).err().expect("refused");
        assert!(!not.left_in_staging && not.error.to_string().contains("no longer a regular file"));
        assert_eq!(std::fs::read(root.join("out/d/doc.txt")).unwrap(), b"mine");
        assert_eq!(std::fs::read(root.join("stage/d")).unwrap(), b"new");
        let _ = std::fs::remove_dir_all(&root);
    }
}
