//! Custom AVIO: FFmpeg reads the input only through these callbacks, over a file vframe
//! opened itself or over the caller's bytes, so no FFmpeg protocol ever opens anything.

use std::ffi::{c_int, c_void};
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use ffmpeg_sys_next as ffi;

use super::Interrupt;
use crate::error::{Error, Status};

/// What FFmpeg reads from.
pub(crate) enum Reader<'a> {
    /// A file; for a pipe (FIFO), the call's interrupt, which its reads wait on.
    File(OpenFile, Option<Arc<Interrupt>>),
    Memory(Cursor<Bytes<'a>>),
}

/// A file vframe opened, read at a position of its own (`pread`): every reader of one open
/// file (a source reading its input again from the start, a probe after a header-only
/// open) reads the file it opened, whatever its path names since, and no reader moves
/// another's position, nor does a process sharing the descriptor after `fork()`.
#[derive(Debug)]
pub(crate) struct OpenFile {
    file: Arc<File>,
    pos: u64,
}

impl Clone for OpenFile {
    /// Another reader of the same open file, at its start.
    fn clone(&self) -> OpenFile {
        self.again()
    }
}

impl OpenFile {
    /// A reader of the same open file, at its start.
    pub fn again(&self) -> OpenFile {
        OpenFile { file: Arc::clone(&self.file), pos: 0 }
    }

    /// The file's size in bytes; for a block device (whose metadata says 0) its end.
    fn size(&self) -> std::io::Result<u64> {
        use std::os::unix::fs::FileTypeExt;
        use std::os::unix::io::AsRawFd;
        let meta = self.file.metadata()?;
        if !meta.file_type().is_block_device() {
            return Ok(meta.len());
        }
        // SAFETY: lseek on the descriptor `file` owns; reads here are positioned, so the
        // descriptor's own offset is used by nothing.
        let end = unsafe { libc::lseek(self.file.as_raw_fd(), 0, libc::SEEK_END) };
        u64::try_from(end).map_err(|_| std::io::Error::last_os_error())
    }
}

impl Read for OpenFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for OpenFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let (base, delta) = match pos {
            SeekFrom::Start(to) => (to, 0),
            SeekFrom::Current(delta) => (self.pos, delta),
            SeekFrom::End(delta) => (self.size()?, delta),
        };
        self.pos = base.checked_add_signed(delta).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "a seek before the start of the file")
        })?;
        Ok(self.pos)
    }
}

/// The bytes of a whole file in memory: the caller's, or shared with whoever keeps them
/// (an input held open past the caller's buffer).
#[derive(Clone, Debug)]
pub(crate) enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Shared(Arc<[u8]>),
}

impl AsRef<[u8]> for Bytes<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(bytes) => bytes,
            Bytes::Shared(bytes) => bytes,
        }
    }
}

/// What to add to a failed open's message when `path`, not found, reads as a URL
/// (`https://…`): vframe opens local files only.
fn url_hint(path: &std::path::Path, e: &std::io::Error) -> &'static str {
    let text = path.to_string_lossy();
    let scheme = text.split_once("://").map(|(scheme, _)| scheme).filter(|s| {
        s.len() > 1
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if e.kind() == std::io::ErrorKind::NotFound && scheme.is_some() {
        " (vframe opens local files only, not URLs: download the video first)"
    } else {
        ""
    }
}

impl<'a> Reader<'a> {
    /// Opens the file at `path` for reading, and nothing else: no protocol, no URL.
    ///
    /// The open itself never blocks (`O_NONBLOCK`: a FIFO without a writer would otherwise
    /// hang before any time limit applies); directories, character devices and sockets are
    /// refused. Regular files, block devices and FIFOs are read normally afterwards.
    pub fn open_path(path: &std::path::Path, interrupt: &Arc<Interrupt>) -> Result<Reader<'static>, Error> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        use std::os::unix::io::AsRawFd;
        let shown = path.display();
        let file =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| {
                Error::new(Status::CannotOpen, format!("cannot open '{shown}': {e}{}", url_hint(path, &e)))
            })?;
        let kind = file
            .metadata()
            .map_err(|e| Error::new(Status::CannotOpen, format!("cannot open '{shown}': {e}")))?
            .file_type();
        let refused = if kind.is_dir() {
            Some("a directory")
        } else if kind.is_char_device() {
            Some("a character device")
        } else if kind.is_socket() {
            Some("a socket")
        } else {
            None
        };
        if let Some(what) = refused {
            return Err(Error::new(Status::CannotOpen, format!("cannot open '{shown}': it is {what}, not a file")));
        }
        let fd = file.as_raw_fd();
        // SAFETY: fd is the open descriptor `file` owns; F_GETFL/F_SETFL only change its
        // status flags (back to blocking reads).
        let cleared = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) >= 0
        };
        if !cleared {
            let e = std::io::Error::last_os_error();
            return Err(Error::new(Status::CannotOpen, format!("cannot open '{shown}': {e}")));
        }
        let pipe = !(kind.is_file() || kind.is_block_device());
        Ok(Reader::File(OpenFile { file: Arc::new(file), pos: 0 }, pipe.then(|| Arc::clone(interrupt))))
    }

    /// Whether the input can be read again from the start and seeked (not a pipe).
    pub fn is_seekable(&self) -> bool {
        match self {
            Reader::File(_, pipe) => pipe.is_none(),
            Reader::Memory(_) => true,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Reader::File(f, Some(interrupt)) => read_pipe(&f.file, buf, interrupt),
            Reader::File(f, None) => f.read(buf),
            Reader::Memory(c) => c.read(buf),
        }
    }

    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            // A pipe cannot go back: nothing may read ahead of FFmpeg there (`head`).
            Reader::File(_, Some(_)) => Err(std::io::Error::from_raw_os_error(libc::ESPIPE)),
            Reader::File(f, None) => f.seek(pos),
            Reader::Memory(c) => c.seek(pos),
        }
    }

    fn len(&mut self) -> std::io::Result<u64> {
        match self {
            Reader::File(f, _) => f.size(),
            Reader::Memory(c) => Ok(c.get_ref().as_ref().len() as u64),
        }
    }

    /// Up to `len` bytes from the start of the input, leaving the position at the start.
    pub fn head(&mut self, len: usize) -> std::io::Result<Vec<u8>> {
        self.seek(SeekFrom::Start(0))?;
        let mut head = Vec::with_capacity(len);
        match self {
            Reader::File(f, _) => f.by_ref().take(len as u64).read_to_end(&mut head)?,
            Reader::Memory(c) => c.by_ref().take(len as u64).read_to_end(&mut head)?,
        };
        self.seek(SeekFrom::Start(0))?;
        Ok(head)
    }
}

/// Reads a pipe without blocking past the call's time limit or cancellation: waits for data
/// (or the writer's end) in short polls, checking the interrupt between them.
fn read_pipe(file: &File, buf: &mut [u8], interrupt: &Interrupt) -> std::io::Result<usize> {
    use std::os::unix::io::AsRawFd;
    loop {
        if interrupt.should_stop() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let mut fd = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the descriptor `file` owns.
        let ready = unsafe { libc::poll(&mut fd, 1, 100) };
        if ready > 0 {
            let mut file = file;
            return file.read(buf);
        }
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

const BUFFER_SIZE: usize = 64 * 1024;

/// The AVIO seek callback's type.
type SeekFn = unsafe extern "C" fn(*mut c_void, i64, c_int) -> i64;

/// An `AVIOContext` reading from a boxed [`Reader`]. Dropped after the format context that
/// uses it has been closed (field order in `Demuxer`).
pub(crate) struct Avio<'a> {
    ctx: NonNull<ffi::AVIOContext>,
    source: *mut Reader<'a>,
    _borrow: PhantomData<&'a [u8]>,
}

impl<'a> Avio<'a> {
    pub fn new(source: Reader<'a>) -> Result<Avio<'a>, Error> {
        // SAFETY: av_malloc returns NULL or a buffer of BUFFER_SIZE bytes.
        let buffer = unsafe { ffi::av_malloc(BUFFER_SIZE) } as *mut u8;
        if buffer.is_null() {
            return Err(Error::new(Status::Internal, "out of memory for the I/O buffer"));
        }
        // A pipe gets no seek callback: FFmpeg then knows it cannot seek, nor learn the
        // size, and skips forward by reading, as over its own pipe: protocol (the MP4
        // demuxer gives up on a failed seek past an atom).
        let seek = if source.is_seekable() { Some(seek as SeekFn) } else { None };
        let source = Box::into_raw(Box::new(source));
        // SAFETY: buffer was allocated by av_malloc (AVIO may reallocate it); `source`
        // stays valid until Drop, after FFmpeg's last use of the context.
        let ctx = unsafe {
            ffi::avio_alloc_context(
                buffer,
                BUFFER_SIZE as c_int,
                0,
                source as *mut c_void,
                Some(read_packet),
                None,
                seek,
            )
        };
        match NonNull::new(ctx) {
            Some(ctx) => Ok(Avio { ctx, source, _borrow: PhantomData }),
            None => {
                // SAFETY: both were allocated above and are not referenced elsewhere.
                unsafe {
                    ffi::av_free(buffer as *mut c_void);
                    drop(Box::from_raw(source));
                }
                Err(Error::new(Status::Internal, "out of memory for the I/O context"))
            }
        }
    }

    pub fn as_ptr(&self) -> *mut ffi::AVIOContext {
        self.ctx.as_ptr()
    }
}

impl Drop for Avio<'_> {
    fn drop(&mut self) {
        // SAFETY: AVIO may have swapped its buffer, so free the one it holds now, then the
        // context, then the source the callbacks read; nothing uses any of them after this.
        unsafe {
            ffi::av_freep(&mut (*self.ctx.as_ptr()).buffer as *mut *mut u8 as *mut c_void);
            let mut ctx = self.ctx.as_ptr();
            ffi::avio_context_free(&mut ctx);
            drop(Box::from_raw(self.source));
        }
    }
}

/// Runs `f` on the source behind `opaque`, turning panics and I/O errors into `AVERROR(EIO)`.
fn with_source<T>(opaque: *mut c_void, f: impl FnOnce(&mut Reader<'_>) -> std::io::Result<T>) -> Result<T, c_int> {
    // SAFETY: opaque is the Box<Reader> owned by the Avio whose context FFmpeg is using.
    let source = unsafe { &mut *(opaque as *mut Reader<'_>) };
    match catch_unwind(AssertUnwindSafe(|| f(source))) {
        Ok(Ok(v)) => Ok(v),
        _ => Err(ffi::AVERROR(libc::EIO)),
    }
}

unsafe extern "C" fn read_packet(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    if size <= 0 {
        return 0;
    }
    // SAFETY: FFmpeg passes a writable buffer of `size` bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, size as usize) };
    match with_source(opaque, |s| loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    }) {
        Ok(0) => ffi::AVERROR_EOF, // never 0: FFmpeg reads 0 as "try again"
        Ok(n) => n as c_int,
        Err(code) => code,
    }
}

unsafe extern "C" fn seek(opaque: *mut c_void, offset: i64, whence: c_int) -> i64 {
    let whence = whence & !ffi::AVSEEK_FORCE;
    let result = with_source(opaque, |s| {
        let pos = match whence {
            ffi::AVSEEK_SIZE => return s.len().map(|n| n as i64),
            libc::SEEK_SET if offset >= 0 => SeekFrom::Start(offset as u64),
            libc::SEEK_CUR => SeekFrom::Current(offset),
            libc::SEEK_END => SeekFrom::End(offset),
            _ => return Err(std::io::ErrorKind::InvalidInput.into()),
        };
        s.seek(pos).map(|p| p as i64)
    });
    result.unwrap_or_else(i64::from)
}
