//! Everything the server keeps: objects (bytes in files, metadata in SQLite), jobs, and the
//! state of resumable uploads. Synchronous (SQLite and fsync); async callers use
//! `spawn_blocking`.
//!
//! The data directory:
//! ```text
//! DATA/lock              held (flock) while a server uses the directory
//! DATA/vframe.db         SQLite in WAL mode, synchronous=FULL: objects, buckets, jobs, uploads
//! DATA/objects/ab/<id>   object bytes under random names (keys never become paths)
//! DATA/spool/            uploads being received (emptied at start)
//! DATA/blocks/<ctx>      resumable v1 blocks; DATA/parts/<uploadId>/<n>: v2 parts
//! DATA/staged/<id>       outputs of a vsample or storyboard item being made (no row yet)
//! DATA/orphans/<time>/   object files no row named at a start, moved aside (never deleted)
//! ```
//!
//! Durability: a file is written to `spool/`, fsynced, renamed into place, and its directory
//! fsynced before the row that names it is committed; the row is committed before the
//! request is answered. A crash can leave an unreferenced file behind, never a row without
//! its bytes: in `staged/`, outputs of an unfinished item, deleted at start (the item runs
//! again); in `objects/` (a crash between install and commit), moved to `orphans/`.

mod db;
pub mod jobs;
pub mod objects;
pub mod uploads;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::qiniu::resumable::Id;
use crate::qiniu::ApiError;

pub use jobs::{JobRow, NewJob};
pub use objects::{NewObject, Object, Origin, OutputState, Pinned, StagedOutput};

/// The store of one data directory.
pub struct Store {
    root: PathBuf,
    db: Mutex<Connection>,
    /// Jobs waiting for a worker (the bounded queue), kept in step with the database.
    waiting: AtomicUsize,
    /// The most jobs that may wait.
    queue_limit: usize,
    _lock: File,
}

/// A store failure that is not the client's fault (disk, database): a 599 to the client.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "store failure");
    ApiError::internal(format!("storage failure: {e}"))
}

impl Store {
    /// Opens (creating when needed) the data directory. Fails when another process holds it.
    pub fn open(root: &Path, queue_limit: usize) -> io::Result<Store> {
        for dir in ["objects", "spool", "staged", "blocks", "parts"] {
            fs::create_dir_all(root.join(dir))?;
        }
        let lock = File::create(root.join("lock"))?;
        lock.try_lock().map_err(|_| {
            io::Error::new(io::ErrorKind::WouldBlock, format!("{} is in use by another vframe-server", root.display()))
        })?;
        // Uploads that were being received when the last process stopped were never answered.
        for entry in fs::read_dir(root.join("spool"))? {
            let _ = fs::remove_file(entry?.path());
        }
        let conn = db::open(&root.join("vframe.db")).map_err(io::Error::other)?;
        let store = Store {
            root: root.to_owned(),
            db: Mutex::new(conn),
            waiting: AtomicUsize::new(0),
            queue_limit,
            _lock: lock,
        };
        store.sweep_staged()?;
        store.sweep_orphans()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new empty file in the spool directory.
    pub fn spool_file(&self) -> io::Result<(PathBuf, File)> {
        let path = self.root.join("spool").join(random_id().as_str());
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok((path, file))
    }

    fn object_path(&self, name: &str) -> PathBuf {
        self.root.join("objects").join(&name[..2]).join(name)
    }

    fn staged_path(&self, name: &str) -> PathBuf {
        self.root.join("staged").join(name)
    }

    /// Moves a committed output from `staged/` to its place in `objects/`; returns the
    /// directory to fsync.
    fn place_staged(&self, name: &str) -> io::Result<PathBuf> {
        let dest = self.object_path(name);
        let dir = dest.parent().expect("store paths have a parent").to_owned();
        fs::create_dir_all(&dir)?;
        fs::rename(self.staged_path(name), &dest)?;
        Ok(dir)
    }

    /// At start, empties `staged/`: a file a row names was committed and had not yet been
    /// moved into `objects/` (a crash right after the commit), and is moved now; any other
    /// is an output of an item that never finished (it runs again), and is deleted.
    fn sweep_staged(&self) -> io::Result<()> {
        let named = self.object_files().map_err(io::Error::other)?;
        let (mut placed, mut removed) = (0usize, 0usize);
        let mut dirs = std::collections::BTreeSet::new();
        for entry in fs::read_dir(self.root.join("staged"))? {
            let entry = entry?;
            // Only files named as the server names its outputs are its to move or delete;
            // anything else (a `lost+found`, a file someone put there) is left, and said.
            let ours = entry.file_type().is_ok_and(|t| t.is_file());
            let Some(name) = entry.file_name().to_str().filter(|n| ours && Id::parse(n).is_some()).map(str::to_owned)
            else {
                tracing::warn!(entry = %entry.path().display(), "not an output the server stages: left as it is");
                continue;
            };
            if named.contains(&name) {
                dirs.insert(self.place_staged(&name)?);
                placed += 1;
            } else {
                fs::remove_file(self.staged_path(&name))?;
                removed += 1;
            }
        }
        for dir in dirs {
            File::open(dir)?.sync_all()?;
        }
        if placed + removed > 0 {
            File::open(self.root.join("staged"))?.sync_all()?;
            tracing::info!(
                removed,
                placed,
                "outputs of items a stop interrupted removed (the items run again); committed ones put in place"
            );
        }
        Ok(())
    }

    /// Moves a fully written (fsynced) file to `dest` durably: rename, then fsync the
    /// directory so the rename itself survives a crash.
    fn install(&self, spooled: &Path, dest: &Path) -> io::Result<()> {
        let dir = dest.parent().expect("store paths have a parent");
        fs::create_dir_all(dir)?;
        fs::rename(spooled, dest)?;
        File::open(dir)?.sync_all()
    }

    /// Moves object files that no row names into `orphans/<unix seconds>/` (never deletes
    /// them): a crash between install and commit leaves one behind, but so does a lost or
    /// stale database (a copy without its `-wal`), and bytes must not be destroyed because
    /// metadata is missing. One WARN line gives the count and the folder.
    fn sweep_orphans(&self) -> io::Result<()> {
        let named = self.object_files().map_err(io::Error::other)?;
        let folder = self.root.join("orphans").join(now_s().to_string());
        let mut moved = 0usize;
        for shard in fs::read_dir(self.root.join("objects"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if named.contains(&name) {
                    continue;
                }
                let dest = folder.join(shard.file_name()).join(entry.file_name());
                fs::create_dir_all(dest.parent().expect("has a parent"))?;
                fs::rename(entry.path(), &dest)?;
                moved += 1;
            }
        }
        if moved > 0 {
            File::open(&folder)?.sync_all()?;
            tracing::warn!(
                count = moved,
                folder = %folder.display(),
                "moved object files that no database row names out of objects/ (left by a crash, or the \
                 database is missing or older than the files); nothing was deleted"
            );
        }
        Ok(())
    }
}

/// 128 random bits as 32 hex digits.
pub fn random_id() -> Id {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    Id::from_random(bytes)
}

/// Writes `data` to a new spool file and fsyncs it.
pub fn write_spool(store: &Store, data: &[u8]) -> io::Result<PathBuf> {
    use std::io::Write;
    let (path, mut file) = store.spool_file()?;
    let result = file.write_all(data).and_then(|()| file.sync_all());
    if let Err(e) = result {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// Unix time now, in seconds and milliseconds.
pub fn now_s() -> i64 {
    now_ms() / 1000
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
