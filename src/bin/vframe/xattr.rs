//! The extended attributes a replaced file keeps: its ACL (`system.posix_acl_access`), the
//! user's own attributes (`user.*`) and whatever else the file system lists, copied to the
//! replacement before it takes the name, as `cp -a` and editors that save by renaming do.
//! An attribute that cannot be read or copied refuses the replacement (the old file stays),
//! except a `security.*` label, which the system sets on every new file itself. The old
//! file's access is the new one's: an ACL the new file got from the folder's default ACL,
//! where the old file had none, is removed (else a replaced file could be read by users the
//! old one kept out).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Copies the extended attributes of `from` (the file about to be replaced) to `to`.
pub fn copy(from: &Source, to: BorrowedFd<'_>) -> io::Result<()> {
    let names = match list(from) {
        Ok(names) => names,
        // A file system without extended attributes has none to keep.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot list its extended attributes: {e}"))),
    };
    const ACL: &[u8] = b"system.posix_acl_access";
    if !names.split(|&b| b == 0).any(|n| n == ACL) {
        let acl = CString::new(ACL).expect("no NUL");
        // SAFETY: `acl` is NUL-terminated.
        if unsafe { libc::fremovexattr(to.as_raw_fd(), acl.as_ptr()) } != 0 {
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ENODATA | libc::ENOTSUP)) {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot remove the ACL its folder gave the new file: {e}"),
                ));
            }
        }
    }
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = CString::new(name) else { continue };
        let label = name.as_bytes().starts_with(b"security.");
        let shown = name.to_string_lossy();
        let value = match get(from, &name) {
            Ok(value) => value,
            // Removed since it was listed: nothing to keep.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(_) if label => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("cannot read its extended attribute {shown}: {e}"))),
        };
        // SAFETY: `name` is NUL-terminated and `value` is valid for its length.
        let set = unsafe { libc::fsetxattr(to.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        if set != 0 && !label {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("cannot keep its extended attribute {shown}: {e}")));
        }
    }
    Ok(())
}

/// The file whose attributes are read: a descriptor open for reading, or, for a file the
/// caller may not read, its `O_PATH` descriptor, read through `/proc/self/fd`.
pub enum Source {
    Readable(OwnedFd),
    /// The `O_PATH` descriptor (held open while its path is used) and that path.
    Path(OwnedFd, CString),
}

impl Source {
    pub fn path(fd: OwnedFd) -> Source {
        let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL in a number");
        Source::Path(fd, path)
    }
}

/// Calls `read` with a buffer until it fits: the attribute may grow between the calls.
fn sized(read: impl Fn(*mut libc::c_void, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    loop {
        let len = read(std::ptr::null_mut(), 0);
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; len as usize];
        let got = read(buf.as_mut_ptr().cast(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

fn list(from: &Source) -> io::Result<Vec<u8>> {
    // SAFETY: the buffer pointer and length come from `sized`, which owns the buffer.
    match from {
        Source::Readable(fd) => sized(|buf, len| unsafe { libc::flistxattr(fd.as_raw_fd(), buf.cast(), len) }),
        Source::Path(_, path) => sized(|buf, len| unsafe { libc::listxattr(path.as_ptr(), buf.cast(), len) }),
    }
}

fn get(from: &Source, name: &CStr) -> io::Result<Vec<u8>> {
    // SAFETY: as in `list`; `name` is NUL-terminated.
    match from {
        Source::Readable(fd) => sized(|buf, len| unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf, len) }),
        Source::Path(_, path) => sized(|buf, len| unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), buf, len) }),
    }
}
