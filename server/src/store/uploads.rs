//! The state of resumable uploads: v1 blocks (`blocks/<ctx>`, the file is the state) and v2
//! uploads (a row per upload, a row and a file per part). Both outlive a restart; both
//! expire after the configured time (swept by [`Store::sweep_uploads`]).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{params, OptionalExtension};

use super::{internal, random_id, Store};
use crate::qiniu::resumable::Id;
use crate::qiniu::ApiError;

/// A v2 upload's row.
#[derive(Clone, Debug)]
pub struct Upload {
    pub bucket: String,
    pub key: Option<String>,
    pub access_key: String,
    /// Unix s.
    pub created: i64,
}

/// A v2 part.
#[derive(Clone, Debug)]
pub struct Part {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    pub path: PathBuf,
}

impl Store {
    pub fn block_path(&self, ctx: &Id) -> PathBuf {
        self.root.join("blocks").join(ctx.as_str())
    }

    /// mkblk: installs a spooled (fsynced) first chunk as a new block; returns its ctx.
    pub fn new_block(&self, spooled: &Path) -> Result<Id, ApiError> {
        let ctx = random_id();
        self.install(spooled, &self.block_path(&ctx)).map_err(internal)?;
        Ok(ctx)
    }

    /// bput: appends a chunk at `offset` (which must be the block's current size) durably;
    /// returns the block's new size.
    pub fn append_block(&self, ctx: &Id, offset: u64, data: &[u8], block_size_limit: u64) -> Result<u64, ApiError> {
        let path = self.block_path(ctx);
        let mut file = File::options()
            .append(true)
            .open(&path)
            .map_err(|_| ApiError::new(701, "no such block: ctx expired or invalid"))?;
        let size = file.metadata().map_err(internal)?.len();
        if size != offset {
            return Err(ApiError::new(701, format!("bput offset {offset} but the block holds {size} bytes")));
        }
        if size + data.len() as u64 > block_size_limit {
            return Err(ApiError::bad_request("the block would exceed 4 MiB"));
        }
        file.write_all(data).and_then(|()| file.sync_all()).map_err(internal)?;
        Ok(size + data.len() as u64)
    }

    /// The blocks of a mkfile, checked: each exists, all but the last are full.
    pub fn blocks(&self, ctxs: &[Id], block_size: u64, fsize: u64) -> Result<Vec<PathBuf>, ApiError> {
        let mut total = 0u64;
        let mut paths = Vec::with_capacity(ctxs.len());
        for (i, ctx) in ctxs.iter().enumerate() {
            let path = self.block_path(ctx);
            let size =
                fs::metadata(&path).map_err(|_| ApiError::new(701, "no such block: ctx expired or invalid"))?.len();
            if i + 1 < ctxs.len() && size != block_size {
                return Err(ApiError::bad_request(format!("block {} holds {size} bytes, not {block_size}", i + 1)));
            }
            total += size;
            paths.push(path);
        }
        if total != fsize {
            return Err(ApiError::bad_request(format!("the blocks hold {total} bytes, mkfile says {fsize}")));
        }
        Ok(paths)
    }

    /// A v2 upload starts.
    pub fn create_upload(&self, bucket: &str, key: Option<&str>, access_key: &str, now_s: i64) -> Result<Id, ApiError> {
        let id = random_id();
        fs::create_dir_all(self.root.join("parts").join(id.as_str())).map_err(internal)?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO uploads (id, bucket, key, access_key, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.as_str(), bucket, key, access_key, now_s],
        )
        .map_err(internal)?;
        Ok(id)
    }

    pub fn upload(&self, id: &Id) -> Result<Option<Upload>, ApiError> {
        let conn = self.conn();
        conn.query_row("SELECT bucket, key, access_key, created FROM uploads WHERE id = ?1", [id.as_str()], |r| {
            Ok(Upload { bucket: r.get(0)?, key: r.get(1)?, access_key: r.get(2)?, created: r.get(3)? })
        })
        .optional()
        .map_err(internal)
    }

    /// Installs a spooled (fsynced) part; a part sent again replaces the earlier one.
    pub fn put_part(&self, id: &Id, number: u32, spooled: &Path, etag: &str, size: u64) -> Result<(), ApiError> {
        let dest = self.root.join("parts").join(id.as_str()).join(number.to_string());
        self.install(spooled, &dest).map_err(internal)?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO parts (upload_id, part, etag, size) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (upload_id, part) DO UPDATE SET etag = excluded.etag, size = excluded.size",
            params![id.as_str(), number, etag, size as i64],
        )
        .map_err(internal)?;
        Ok(())
    }

    pub fn parts(&self, id: &Id) -> Result<Vec<Part>, ApiError> {
        let conn = self.conn();
        let mut statement =
            conn.prepare("SELECT part, etag, size FROM parts WHERE upload_id = ?1 ORDER BY part").map_err(internal)?;
        let dir = self.root.join("parts").join(id.as_str());
        let parts = statement
            .query_map([id.as_str()], |r| {
                let number: u32 = r.get(0)?;
                Ok(Part {
                    number,
                    etag: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    path: dir.join(number.to_string()),
                })
            })
            .map_err(internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        Ok(parts)
    }

    /// Forgets a v2 upload and its parts.
    pub fn delete_upload(&self, id: &Id) -> Result<(), ApiError> {
        {
            let conn = self.conn();
            conn.execute("DELETE FROM parts WHERE upload_id = ?1", [id.as_str()]).map_err(internal)?;
            conn.execute("DELETE FROM uploads WHERE id = ?1", [id.as_str()]).map_err(internal)?;
        }
        let _ = fs::remove_dir_all(self.root.join("parts").join(id.as_str()));
        Ok(())
    }

    /// Removes v1 blocks and v2 uploads older than `max_age`.
    pub fn sweep_uploads(&self, max_age: Duration) -> Result<usize, ApiError> {
        let mut removed = 0;
        let cutoff = SystemTime::now() - max_age;
        if let Ok(entries) = fs::read_dir(self.root.join("blocks")) {
            for entry in entries.flatten() {
                let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
                if old && fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        let cutoff_s = super::now_s() - max_age.as_secs() as i64;
        let expired: Vec<String> = {
            let conn = self.conn();
            let mut statement = conn.prepare("SELECT id FROM uploads WHERE created < ?1").map_err(internal)?;
            let ids = statement.query_map([cutoff_s], |r| r.get(0)).map_err(internal)?.collect::<Result<_, _>>();
            ids.map_err(internal)?
        };
        for id in expired.iter().filter_map(|id| Id::parse(id)) {
            self.delete_upload(&id)?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Copies `sources` in order into a new spool file, calling `each` on every chunk (to hash
/// it), and fsyncs it. Returns the spool path.
pub fn concatenate(store: &Store, sources: &[PathBuf], mut each: impl FnMut(&[u8])) -> io::Result<PathBuf> {
    let (path, mut out) = store.spool_file()?;
    let result = (|| {
        let mut buffer = vec![0u8; 1 << 20];
        for source in sources {
            let mut input = File::open(source)?;
            loop {
                let n = input.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                each(&buffer[..n]);
                out.write_all(&buffer[..n])?;
            }
        }
        out.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}
