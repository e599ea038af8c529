//! Objects: bytes in `objects/`, metadata in the `objects` table, and Qiniu's overwrite rules.
//!
//! - An upload with [`Overwrite::Never`] (scope `bucket`, or `insertOnly`) never replaces
//!   an object with different content: 614 "file exists". Same content succeeds; over a
//!   job's output it makes the object an upload (which no fop replaces).
//! - An upload with [`Overwrite::Allowed`] (scope `bucket:key`) replaces the object.
//! - A fop output (see [`Store::output_state`]): an existing object under the output key is
//!   kept and reported with `returnOld: 1` unless the job has `force=1`; with `force=1` it is
//!   replaced only if a job wrote it. An uploaded object is never replaced by a fop.
//! - The outputs of a several-output item (vsample, storyboard) are staged (bytes on disk, no
//!   row) as they are made and committed together at the end ([`Store::commit_outputs`]):
//!   all of them or none. They replace outputs of jobs, force or not, never uploaded objects.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension, Transaction};

use super::jobs::{insert_job_tx, NewJob};
use super::{internal, now_ms, random_id, Store};
use crate::qiniu::uptoken::Overwrite;
use crate::qiniu::{quote, ApiError};

/// Who wrote an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Upload,
    /// The id of the job whose fop wrote it.
    Job(String),
}

impl Origin {
    fn to_sql(&self) -> &str {
        match self {
            Origin::Upload => "upload",
            Origin::Job(id) => id,
        }
    }
    fn from_sql(text: String) -> Origin {
        if text == "upload" {
            Origin::Upload
        } else {
            Origin::Job(text)
        }
    }
}

/// A stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub path: PathBuf,
    pub hash: String,
    pub fsize: u64,
    pub mime: String,
    /// Unix ms.
    pub put_time: i64,
    pub origin: Origin,
    pub meta: BTreeMap<String, String>,
}

/// An object about to be stored.
#[derive(Clone, Debug)]
pub struct NewObject {
    pub bucket: String,
    pub key: String,
    pub hash: String,
    pub fsize: u64,
    pub mime: String,
    pub meta: BTreeMap<String, String>,
    pub origin: Origin,
}

/// An output written to disk and not yet committed (see [`Store::stage_output`]).
#[derive(Debug)]
pub struct StagedOutput {
    pub object: NewObject,
    file: String,
}

/// What a fop may do with its output key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputState {
    /// Nothing there, or something this job (or, with force, another job) wrote: write it.
    Write,
    /// An object is there and is kept: report its hash with `returnOld: 1`.
    Keep { hash: String },
    /// An uploaded object is there: never replaced by a fop.
    Refuse(String),
}

/// One version of an object, readable until dropped whatever happens to its key: a hard link
/// to its file in `spool/` (emptied at every start), removed on drop. `object.path` is the
/// link (or, where no link could be made, the object's own file).
pub struct Pinned {
    pub object: Object,
    link: Option<PathBuf>,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            let _ = fs::remove_file(link);
        }
    }
}

impl Store {
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, ApiError> {
        self.row(&self.conn(), bucket, key)
    }

    /// The object under `bucket:key`, pinned (see [`Pinned`]). The link is made under the
    /// database lock, so the file it names exists: an overwrite removes the old file only
    /// after committing its row, which the lock orders after this.
    pub fn pin(&self, bucket: &str, key: &str) -> Result<Option<Pinned>, ApiError> {
        let conn = self.conn();
        let Some(object) = self.row(&conn, bucket, key)? else {
            return Ok(None);
        };
        let link = self.root.join("spool").join(random_id().as_str());
        match fs::hard_link(&object.path, &link) {
            Ok(()) => Ok(Some(Pinned { object: Object { path: link.clone(), ..object }, link: Some(link) })),
            Err(e) => {
                tracing::warn!(error = %e, key = %quote(key), "cannot pin an object; reading it in place");
                Ok(Some(Pinned { object, link: None }))
            }
        }
    }

    /// The object under `bucket:key` and its file, opened under the database lock (see
    /// [`Store::pin`]): an overwrite racing a download cannot make the key look missing.
    pub fn open_object(&self, bucket: &str, key: &str) -> Result<Option<(Object, fs::File)>, ApiError> {
        let conn = self.conn();
        let Some(object) = self.row(&conn, bucket, key)? else {
            return Ok(None);
        };
        let file = fs::File::open(&object.path)
            .map_err(|e| internal(format!("cannot read the object {}: {}", quote(key), e.kind())))?;
        Ok(Some((object, file)))
    }

    fn row(&self, conn: &rusqlite::Connection, bucket: &str, key: &str) -> Result<Option<Object>, ApiError> {
        let row = conn
            .query_row(
                "SELECT file, hash, fsize, mime, put_time, origin, meta FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(internal)?;
        Ok(row.map(|(file, hash, fsize, mime, put_time, origin, meta)| Object {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            path: self.object_path(&file),
            hash,
            fsize: fsize as u64,
            mime,
            put_time,
            origin: Origin::from_sql(origin),
            meta: serde_json::from_str(&meta).unwrap_or_default(),
        }))
    }

    pub fn bucket_exists(&self, bucket: &str) -> Result<bool, ApiError> {
        let conn = self.conn();
        let found: Option<i64> = conn
            .query_row("SELECT 1 FROM buckets WHERE name = ?1", [bucket], |r| r.get(0))
            .optional()
            .map_err(internal)?;
        Ok(found.is_some())
    }

    pub(super) fn object_files(&self) -> rusqlite::Result<std::collections::HashSet<String>> {
        let conn = self.conn();
        let mut statement = conn.prepare("SELECT file FROM objects")?;
        let names = statement.query_map([], |r| r.get::<_, String>(0))?.collect();
        names
    }

    /// Stores an uploaded file (already fsynced in the spool) under the upload rules, and
    /// the job its persistentOps asked for, in one transaction. Returns the job's id.
    pub fn commit_upload(
        &self,
        spooled: &Path,
        object: NewObject,
        overwrite: Overwrite,
        job: Option<NewJob>,
    ) -> Result<(), ApiError> {
        let name = random_id().to_string();
        let dest = self.object_path(&name);
        if let Err(e) = self.install(spooled, &dest) {
            let _ = fs::remove_file(spooled);
            return Err(internal(e));
        }
        let result = self.commit_object(
            &name,
            &object,
            |existing| match (existing, overwrite) {
                (None, _) | (Some(_), Overwrite::Allowed) => Ok(true),
                // The same content: kept, but an upload always makes the object the
                // user's, so a job's output becomes an uploaded object that no fop replaces.
                (Some((hash, origin)), Overwrite::Never) if *hash == object.hash => Ok(*origin != object.origin),
                (Some(_), Overwrite::Never) => Err(ApiError::new(614, "file exists")),
            },
            job,
        );
        match result {
            Ok(Some(replaced)) => {
                if let Some(old) = replaced {
                    let _ = fs::remove_file(self.object_path(&old));
                }
                Ok(())
            }
            Ok(None) => {
                // Same content already stored: the new copy is not needed.
                let _ = fs::remove_file(&dest);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&dest);
                Err(e)
            }
        }
    }

    /// Decides, before a fop runs, what it may do with `bucket:key`.
    pub fn output_state(&self, bucket: &str, key: &str, job_id: &str, force: bool) -> Result<OutputState, ApiError> {
        Ok(match self.get(bucket, key)? {
            None => OutputState::Write,
            Some(o) => output_rule(&o.origin, &o.hash, job_id, force),
        })
    }

    /// Writes a fop's output under `bucket:key` (file first, then the row), following the
    /// output rules again under the database lock. Returns the state that was applied.
    pub fn put_output(
        &self,
        object: NewObject,
        data: &[u8],
        job_id: &str,
        force: bool,
    ) -> Result<OutputState, ApiError> {
        let spooled = super::write_spool(self, data).map_err(internal)?;
        let name = random_id().to_string();
        let dest = self.object_path(&name);
        if let Err(e) = self.install(&spooled, &dest) {
            let _ = fs::remove_file(&spooled);
            return Err(internal(e));
        }
        let mut decided = OutputState::Write;
        let result = self.commit_object(
            &name,
            &object,
            |existing| {
                decided = match existing {
                    None => OutputState::Write,
                    Some((hash, origin)) => output_rule(origin, hash, job_id, force),
                };
                Ok(decided == OutputState::Write)
            },
            None,
        );
        match result {
            Ok(Some(Some(ref old))) => {
                let _ = fs::remove_file(self.object_path(old));
            }
            Ok(Some(None)) => {}
            Ok(None) | Err(_) => {
                let _ = fs::remove_file(&dest);
            }
        }
        result.map(|_| decided)
    }

    /// Writes one output of a several-output item (vsample, storyboard) into `staged/`
    /// (fsynced, the directory too) without its row: nobody sees it until
    /// [`Store::commit_outputs`]. Dropped staged outputs are removed by
    /// [`Store::discard_outputs`], or, after a crash, by the sweep at the next start (a file
    /// in `staged/` that no row names was never committed).
    pub fn stage_output(&self, object: NewObject, data: &[u8]) -> Result<StagedOutput, ApiError> {
        let spooled = super::write_spool(self, data).map_err(internal)?;
        let file = random_id().to_string();
        if let Err(e) = self.install(&spooled, &self.staged_path(&file)) {
            let _ = fs::remove_file(&spooled);
            return Err(internal(e));
        }
        Ok(StagedOutput { object, file })
    }

    /// Removes staged outputs that will not be committed.
    pub fn discard_outputs(&self, outputs: Vec<StagedOutput>) {
        for output in outputs {
            let _ = fs::remove_file(self.staged_path(&output.file));
        }
    }

    /// Whether an output may be written under `bucket:key` by a several-output item: not
    /// over an uploaded object (checked again, under the lock, when committing).
    pub fn check_output_key(&self, bucket: &str, key: &str) -> Result<(), String> {
        match self.get(bucket, key) {
            Ok(Some(object)) if object.origin == Origin::Upload => Err(refuse_upload(key)),
            Ok(_) => Ok(()),
            Err(e) => Err(e.message),
        }
    }

    /// Commits the staged outputs of one item, all in one transaction or none: an uploaded
    /// object under any of their keys fails the whole (a fop never replaces one); an output
    /// of a job there is replaced (its file removed after the commit). On failure the staged
    /// files are removed. Once committed, the files move from `staged/` to `objects/` before
    /// the lock is released, so no reader sees a row whose file is not in place; a crash
    /// before the moves are durable leaves named files in `staged/`, which the next start
    /// moves (see `Store::sweep_staged`).
    pub fn commit_outputs(&self, outputs: Vec<StagedOutput>) -> Result<(), String> {
        let mut moved_to = std::collections::BTreeSet::new();
        let committed = (|| {
            let mut conn = self.conn();
            let tx = conn.transaction().map_err(|e| internal(e).message)?;
            let now = now_ms();
            let mut replaced = Vec::new();
            for output in &outputs {
                let object = &output.object;
                let existing: Option<(String, String)> = tx
                    .query_row(
                        "SELECT file, origin FROM objects WHERE bucket = ?1 AND key = ?2",
                        params![object.bucket, object.key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(|e| internal(e).message)?;
                if let Some((file, origin)) = existing {
                    if Origin::from_sql(origin) == Origin::Upload {
                        return Err(refuse_upload(&object.key));
                    }
                    replaced.push(file);
                }
                upsert_object(&tx, &output.file, object, now).map_err(|e| e.message)?;
            }
            tx.commit().map_err(|e| internal(e).message)?;
            for output in &outputs {
                match self.place_staged(&output.file) {
                    Ok(dir) => {
                        moved_to.insert(dir);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot move a committed output into objects/; the next start will")
                    }
                }
            }
            drop(conn);
            Ok(replaced)
        })();
        match committed {
            Ok(replaced) => {
                // The replaced outputs go first: a crash before their removal leaves them to
                // the next start's sweep into orphans/ (kept, as files of unknown origin).
                for file in replaced {
                    let _ = fs::remove_file(self.object_path(&file));
                }
                for dir in moved_to {
                    let _ = fs::File::open(dir).and_then(|dir| dir.sync_all());
                }
                Ok(())
            }
            Err(message) => {
                self.discard_outputs(outputs);
                Err(message)
            }
        }
    }

    /// In one transaction: asks `decide` about the existing row (hash, origin); when it says
    /// to write, points the row at `file`, creates the bucket, inserts `job`. Returns
    /// `Some(the replaced file, if any)` when written, `None` when `decide` kept the old.
    fn commit_object(
        &self,
        file: &str,
        object: &NewObject,
        mut decide: impl FnMut(Option<&(String, Origin)>) -> Result<bool, ApiError>,
        job: Option<NewJob>,
    ) -> Result<Option<Option<String>>, ApiError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(internal)?;
        let existing: Option<(String, String, String)> = tx
            .query_row(
                "SELECT file, hash, origin FROM objects WHERE bucket = ?1 AND key = ?2",
                params![object.bucket, object.key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(internal)?;
        let existing_info = existing.as_ref().map(|(_, hash, origin)| (hash.clone(), Origin::from_sql(origin.clone())));
        let write = decide(existing_info.as_ref())?;
        let now = now_ms();
        if write {
            upsert_object(&tx, file, object, now)?;
        }
        let inserted_job = job.is_some();
        if let Some(job) = job {
            insert_job_tx(&tx, &job, now / 1000)?;
        }
        tx.commit().map_err(internal)?;
        if inserted_job {
            self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(write.then(|| existing.map(|(file, _, _)| file)))
    }
}

/// Points `bucket:key`'s row at `file` (creating the bucket), inside a transaction.
fn upsert_object(tx: &Transaction<'_>, file: &str, object: &NewObject, now_ms: i64) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO buckets (name, created) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![object.bucket, now_ms / 1000],
    )
    .map_err(internal)?;
    tx.execute(
        "INSERT INTO objects (bucket, key, file, hash, fsize, mime, put_time, origin, meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (bucket, key) DO UPDATE SET file = excluded.file, hash = excluded.hash,
           fsize = excluded.fsize, mime = excluded.mime, put_time = excluded.put_time,
           origin = excluded.origin, meta = excluded.meta",
        params![
            object.bucket,
            object.key,
            file,
            object.hash,
            object.fsize as i64,
            object.mime,
            now_ms,
            object.origin.to_sql(),
            serde_json::to_string(&object.meta).unwrap_or_else(|_| "{}".into()),
        ],
    )
    .map_err(internal)?;
    Ok(())
}

/// Why an output cannot go where an uploaded object is.
fn refuse_upload(key: &str) -> String {
    format!("the output key {} holds an uploaded object, which a fop never replaces", quote(key))
}

fn output_rule(origin: &Origin, hash: &str, job_id: &str, force: bool) -> OutputState {
    match origin {
        Origin::Job(writer) if writer == job_id => OutputState::Write,
        Origin::Job(_) if force => OutputState::Write,
        Origin::Job(_) => OutputState::Keep { hash: hash.to_owned() },
        Origin::Upload if force => {
            OutputState::Refuse("the output key holds an uploaded object, which a fop never replaces".to_owned())
        }
        Origin::Upload => OutputState::Keep { hash: hash.to_owned() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, job: &str, data: &[u8]) -> NewObject {
        NewObject {
            bucket: "b".into(),
            key: key.into(),
            hash: crate::qiniu::etag::of(data),
            fsize: data.len() as u64,
            mime: "image/jpeg".into(),
            meta: BTreeMap::new(),
            origin: Origin::Job(job.into()),
        }
    }

    fn files(root: &Path) -> usize {
        fs::read_dir(root.join("objects"))
            .unwrap()
            .map(|shard| fs::read_dir(shard.unwrap().path()).unwrap().count())
            .sum()
    }

    fn staged(root: &Path) -> usize {
        fs::read_dir(root.join("staged")).unwrap().count()
    }

    #[test]
    fn staged_outputs_are_all_or_nothing() {
        let root = std::env::temp_dir().join(format!("vframe-store-{}", random_id()));
        let store = Store::open(&root, 10).unwrap();
        let staged_now = vec![
            store.stage_output(object("f/1", "j1", b"one"), b"one").unwrap(),
            store.stage_output(object("f/2", "j1", b"two"), b"two").unwrap(),
        ];
        assert_eq!(store.get("b", "f/1").unwrap(), None, "a staged output is invisible");
        assert_eq!((files(&root), staged(&root)), (0, 2), "its bytes are on disk, in staged/");
        store.commit_outputs(staged_now).unwrap();
        assert_eq!(fs::read(store.get("b", "f/2").unwrap().unwrap().path).unwrap(), b"two");
        assert_eq!((files(&root), staged(&root)), (2, 0), "committed, they moved into objects/");

        // An uploaded object in the way fails the whole commit; nothing of it stays.
        let spooled = crate::store::write_spool(&store, b"mine").unwrap();
        store
            .commit_upload(
                &spooled,
                NewObject { origin: Origin::Upload, ..object("up", "", b"mine") },
                Overwrite::Allowed,
                None,
            )
            .unwrap();
        assert!(store.check_output_key("b", "up").unwrap_err().contains("uploaded"));
        let staged_now = vec![
            store.stage_output(object("f/3", "j2", b"three"), b"three").unwrap(),
            store.stage_output(object("up", "j2", b"x"), b"x").unwrap(),
        ];
        assert!(store.commit_outputs(staged_now).unwrap_err().contains("uploaded"));
        assert_eq!(store.get("b", "f/3").unwrap(), None);
        assert_eq!(fs::read(store.get("b", "up").unwrap().unwrap().path).unwrap(), b"mine");
        assert_eq!((files(&root), staged(&root)), (3, 0), "the staged files were removed");

        // Another job's outputs are replaced, their files removed.
        let staged_now = vec![store.stage_output(object("f/1", "j3", b"uno"), b"uno").unwrap()];
        store.commit_outputs(staged_now).unwrap();
        assert_eq!(store.get("b", "f/1").unwrap().unwrap().origin, Origin::Job("j3".into()));
        assert_eq!(files(&root), 3);
        let discarded = vec![store.stage_output(object("f/4", "j3", b"four"), b"four").unwrap()];
        store.discard_outputs(discarded);
        assert_eq!((files(&root), staged(&root)), (3, 0));

        // Staged and never committed (a crash mid-item): deleted at the next start, where a
        // committed output whose move into objects/ was lost (a crash right after the
        // commit) is put in place.
        let _left = store.stage_output(object("f/5", "j4", b"five"), b"five").unwrap();
        let committed = store.get("b", "f/2").unwrap().unwrap().path;
        fs::rename(&committed, root.join("staged").join(committed.file_name().unwrap())).unwrap();
        assert_eq!((files(&root), staged(&root)), (2, 2));
        drop(store);
        let store = Store::open(&root, 10).unwrap();
        assert_eq!((files(&root), staged(&root)), (3, 0));
        assert_eq!(store.get("b", "f/5").unwrap(), None);
        assert_eq!(fs::read(store.get("b", "f/2").unwrap().unwrap().path).unwrap(), b"two");
        assert_eq!(orphans(&root), Vec::<Vec<u8>>::new(), "an unfinished item's outputs are not kept");
        drop(store);
        // What the server did not name there (a lost+found, a file put by hand, a name that
        // is not UTF-8) is left as it is, and the server starts.
        use std::os::unix::ffi::OsStrExt;
        fs::create_dir(root.join("staged/lost+found")).unwrap();
        fs::write(root.join("staged/notes.txt"), b"mine").unwrap();
        fs::write(root.join("staged").join(std::ffi::OsStr::from_bytes(b"\xffodd")), b"odd").unwrap();
        let store = Store::open(&root, 10).expect("starts with strangers in staged/");
        assert_eq!(staged(&root), 3);
        assert_eq!(fs::read(root.join("staged/notes.txt")).unwrap(), b"mine");
        drop(store);
        let _ = fs::remove_dir_all(root);
    }

    /// The contents of every file under `orphans/`, sorted.
    fn orphans(root: &Path) -> Vec<Vec<u8>> {
        fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), out);
                } else {
                    out.push(fs::read(entry.path()).unwrap());
                }
            }
        }
        let mut out = Vec::new();
        walk(&root.join("orphans"), &mut out);
        out.sort();
        out
    }

    #[test]
    fn a_lost_database_never_deletes_object_files() {
        let root = std::env::temp_dir().join(format!("vframe-store-{}", random_id()));
        let store = Store::open(&root, 10).unwrap();
        for (key, data) in [("a", b"alpha".as_slice()), ("b", b"beta")] {
            let spooled = crate::store::write_spool(&store, data).unwrap();
            let object = NewObject { origin: Origin::Upload, ..object(key, "", data) };
            store.commit_upload(&spooled, object, Overwrite::Allowed, None).unwrap();
        }
        drop(store);
        for name in ["vframe.db", "vframe.db-wal", "vframe.db-shm"] {
            let _ = fs::remove_file(root.join(name));
        }
        let store = Store::open(&root, 10).unwrap();
        assert_eq!(store.get("b", "a").unwrap(), None);
        assert_eq!(files(&root), 0);
        assert_eq!(orphans(&root), vec![b"alpha".to_vec(), b"beta".to_vec()], "the bytes are kept aside");
        drop(store);
        let _ = fs::remove_dir_all(root);
    }
}
