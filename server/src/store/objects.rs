//! Objects: bytes in `objects/`, metadata in the `objects` table, and Qiniu's overwrite rules.
//!
//! - An upload with [`Overwrite::Never`] (scope `bucket`, or `insertOnly`) never replaces
//!   an object with different content: 614 "file exists". Same content succeeds unchanged.
//! - An upload with [`Overwrite::Allowed`] (scope `bucket:key`) replaces the object.
//! - A fop output (see [`Store::output_state`]): an existing object under the output key is
//!   kept and reported with `returnOld: 1` unless the job has `force=1`; with `force=1` it is
//!   replaced only if a job wrote it. An uploaded object is never replaced by a fop.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use super::jobs::{insert_job_tx, NewJob};
use super::{internal, now_ms, random_id, Store};
use crate::qiniu::uptoken::Overwrite;
use crate::qiniu::ApiError;

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

impl Store {
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, ApiError> {
        let conn = self.conn();
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
                (Some((hash, _)), Overwrite::Never) if *hash == object.hash => Ok(false),
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
            tx.execute(
                "INSERT INTO buckets (name, created) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![object.bucket, now / 1000],
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
                    now,
                    object.origin.to_sql(),
                    serde_json::to_string(&object.meta).unwrap_or_else(|_| "{}".into()),
                ],
            )
            .map_err(internal)?;
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
