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

    /// Installs a spooled (fsynced) part; a part sent again replaces the earlier one. The file
    /// and its row are replaced under the database lock, so that of two concurrent PUTs of
    /// one part the file and the etag always come from the same request.
    pub fn put_part(&self, id: &Id, number: u32, spooled: &Path, etag: &str, size: u64) -> Result<(), ApiError> {
        let dest = self.root.join("parts").join(id.as_str()).join(number.to_string());
        let conn = self.conn();
        self.install(spooled, &dest).map_err(internal)?;
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

    /// Forgets a v2 upload and its parts: the part files first (on a full disk this is what
    /// frees the space SQLite then needs to delete the rows), then the rows. When the rows
    /// cannot be deleted the upload is left without its bytes: completing it fails, and
    /// aborting it again (or the expiry sweep) deletes the rows.
    pub fn delete_upload(&self, id: &Id) -> Result<(), ApiError> {
        let dir = self.root.join("parts").join(id.as_str());
        if let Err(e) = fs::remove_dir_all(&dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot remove an upload's parts");
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(internal)?;
        tx.execute("DELETE FROM parts WHERE upload_id = ?1", [id.as_str()]).map_err(internal)?;
        tx.execute("DELETE FROM uploads WHERE id = ?1", [id.as_str()]).map_err(internal)?;
        tx.commit().map_err(internal)?;
        Ok(())
    }

    /// Removes v1 blocks and v2 uploads older than `max_age`. An upload that cannot be
    /// removed does not stop the others; the first error is returned after all were tried.
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
        let mut first_error = None;
        for id in expired.iter().filter_map(|id| Id::parse(id)) {
            match self.delete_upload(&id) {
                Ok(()) => removed += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(removed),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_uploads_frees_the_parts_first_and_goes_on_past_errors() {
        let root = std::env::temp_dir().join(format!("vframe-store-{}", random_id()));
        let store = Store::open(&root, 10).unwrap();
        let ids: Vec<Id> = (0..3).map(|_| store.create_upload("b", Some("k"), "ak", 0).unwrap()).collect();
        for id in &ids {
            let spooled = crate::store::write_spool(&store, b"part bytes").unwrap();
            store.put_part(id, 1, &spooled, "etag", 10).unwrap();
        }
        let dir = |id: &Id| root.join("parts").join(id.as_str());
        // The database refuses deletes, as SQLite does on a full disk.
        store
            .conn()
            .execute_batch(
                "CREATE TRIGGER full BEFORE DELETE ON parts BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
            )
            .unwrap();
        let e = store.delete_upload(&ids[0]).unwrap_err();
        assert!(e.message.contains("disk is full"), "{}", e.message);
        assert!(!dir(&ids[0]).exists(), "the part files are removed first, freeing the space");
        // The sweep tries every expired upload, not only the first.
        assert!(store.sweep_uploads(Duration::ZERO).is_err());
        assert!(!dir(&ids[1]).exists() && !dir(&ids[2]).exists());
        // Once the database can write again, the rows go too.
        store.conn().execute_batch("DROP TRIGGER full").unwrap();
        assert_eq!(store.sweep_uploads(Duration::ZERO).unwrap(), 3);
        assert!(store.upload(&ids[2]).unwrap().is_none());
        drop(store);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn concurrent_puts_of_one_part_keep_file_and_etag_together() {
        let root = std::env::temp_dir().join(format!("vframe-store-{}", random_id()));
        let store = std::sync::Arc::new(Store::open(&root, 10).unwrap());
        for _ in 0..20 {
            let id = store.create_upload("b", Some("k"), "ak", 0).unwrap();
            let threads: Vec<_> = (0..6u8)
                .map(|n| {
                    let (store, id) = (store.clone(), id.clone());
                    std::thread::spawn(move || {
                        let data = vec![n; 1000 + n as usize];
                        let spooled = crate::store::write_spool(&store, &data).unwrap();
                        store.put_part(&id, 1, &spooled, &n.to_string(), data.len() as u64).unwrap();
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let [part] = store.parts(&id).unwrap().try_into().unwrap();
            let data = fs::read(&part.path).unwrap();
            assert_eq!((data[0].to_string(), data.len() as u64), (part.etag, part.size));
        }
        drop(store);
        let _ = fs::remove_dir_all(root);
    }
}
