//! Jobs: one row per persistentId, committed before the id is returned. The row holds the
//! items (one per fop) as they finish, so a job resumed after a crash redoes only the items
//! that had not finished, and the notification state with its next attempt time, so retries
//! go on across restarts.

use std::sync::atomic::Ordering;

use rusqlite::{params, OptionalExtension, Transaction};

use super::{internal, Store};
use crate::qiniu::wire::{self, Item, Prefop};
use crate::qiniu::ApiError;

const WAITING: i64 = 1;
const PROCESSING: i64 = 2;
const DONE: i64 = 3;

const NOTIFY_NONE: i64 = 0;
const NOTIFY_DUE: i64 = 1;
const NOTIFY_DELIVERED: i64 = 2;
const NOTIFY_GAVE_UP: i64 = 3;

/// A job to insert.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: String,
    pub reqid: String,
    pub bucket: String,
    pub key: String,
    /// One per fop: pending, or already failed when the fop did not parse.
    pub items: Vec<Item>,
    pub notify_url: Option<String>,
    pub force: bool,
    pub pipeline: String,
    pub job_type: i64,
    /// `api` or `upload`.
    pub task_from: String,
}

/// A job as a worker sees it.
#[derive(Clone, Debug)]
pub struct JobRow {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub items: Vec<Item>,
    pub force: bool,
    pub notify_url: Option<String>,
    /// Unix s.
    pub created: i64,
}

/// A notification to send.
#[derive(Clone, Debug)]
pub struct DueNotification {
    pub id: String,
    pub url: String,
    pub attempts: u32,
    pub body: Prefop,
}

pub(super) fn insert_job_tx(tx: &Transaction<'_>, job: &NewJob, now_s: i64) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO jobs (id, reqid, bucket, key, items, notify_url, force, pipeline, type, task_from, created, state, code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            job.id,
            job.reqid,
            job.bucket,
            job.key,
            serde_json::to_string(&job.items).map_err(internal)?,
            job.notify_url,
            job.force,
            job.pipeline,
            job.job_type,
            job.task_from,
            now_s,
            WAITING,
            wire::CODE_WAITING,
        ],
    )
    .map_err(internal)?;
    Ok(())
}

impl Store {
    /// Jobs waiting for a worker.
    pub fn waiting_jobs(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Whether the queue has room for one more job.
    pub fn check_queue(&self) -> Result<(), ApiError> {
        if self.waiting_jobs() >= self.queue_limit {
            return Err(ApiError::new(503, "the job queue is full, retry later"));
        }
        Ok(())
    }

    /// Commits a job (pfop). Fails with 503 when the queue is full.
    pub fn insert_job(&self, job: &NewJob) -> Result<(), ApiError> {
        let mut conn = self.conn();
        self.check_queue()?;
        let tx = conn.transaction().map_err(internal)?;
        insert_job_tx(&tx, job, super::now_s())?;
        tx.commit().map_err(internal)?;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// At start: jobs that were being processed go back to waiting (their finished items
    /// stay finished). Counts the waiting jobs. Returns how many were requeued.
    pub fn recover_jobs(&self) -> Result<usize, ApiError> {
        let conn = self.conn();
        let requeued = conn
            .execute(
                "UPDATE jobs SET state = ?1, code = ?2 WHERE state = ?3",
                params![WAITING, wire::CODE_WAITING, PROCESSING],
            )
            .map_err(internal)?;
        let waiting: i64 =
            conn.query_row("SELECT COUNT(*) FROM jobs WHERE state = ?1", [WAITING], |r| r.get(0)).map_err(internal)?;
        self.waiting.store(waiting as usize, Ordering::SeqCst);
        Ok(requeued)
    }

    /// Takes the oldest waiting job and marks it processing.
    pub fn claim_job(&self) -> Result<Option<JobRow>, ApiError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "UPDATE jobs SET state = ?1, code = ?2
                 WHERE seq = (SELECT seq FROM jobs WHERE state = ?3 ORDER BY seq LIMIT 1)
                 RETURNING id, bucket, key, items, force, notify_url, created",
                params![PROCESSING, wire::CODE_PROCESSING, WAITING],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(internal)?;
        let Some((id, bucket, key, items, force, notify_url, created)) = row else { return Ok(None) };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let items = serde_json::from_str(&items).map_err(internal)?;
        Ok(Some(JobRow { id, bucket, key, items, force, notify_url, created }))
    }

    /// Saves the items after one finished.
    pub fn save_items(&self, id: &str, items: &[Item]) -> Result<(), ApiError> {
        let conn = self.conn();
        let items = serde_json::to_string(items).map_err(internal)?;
        conn.execute("UPDATE jobs SET items = ?1 WHERE id = ?2", params![items, id]).map_err(internal)?;
        Ok(())
    }

    /// Marks a job done with its items and code, in one write; schedules its notification
    /// when it has a URL.
    pub fn finish_job(&self, id: &str, items: &[Item], code: i32, notify: bool, now_ms: i64) -> Result<(), ApiError> {
        let conn = self.conn();
        let items = serde_json::to_string(items).map_err(internal)?;
        conn.execute(
            "UPDATE jobs SET items = ?1, state = ?2, code = ?3, notify_state = ?4, notify_at = ?5, finished = ?5
             WHERE id = ?6",
            params![items, DONE, code, if notify { NOTIFY_DUE } else { NOTIFY_NONE }, now_ms, id],
        )
        .map_err(internal)?;
        Ok(())
    }

    /// Runs SQL on the database (tests: to make writes fail as on a full disk).
    #[cfg(test)]
    pub(crate) fn execute_batch_for_tests(&self, sql: &str) {
        self.conn().execute_batch(sql).unwrap();
    }

    /// A job's status (`prefop`), or `None` for an unknown id.
    pub fn prefop(&self, id: &str) -> Result<Option<Prefop>, ApiError> {
        let conn = self.conn();
        prefop_row(&conn, id)
    }

    /// Up to `limit` notifications due at `now_ms`, oldest first, and the earliest time a
    /// later one is due (to sleep until).
    pub fn due_notifications(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<(Vec<DueNotification>, Option<i64>), ApiError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT id, notify_url, notify_attempts FROM jobs WHERE notify_state = ?1 AND notify_at <= ?2
                 ORDER BY notify_at LIMIT ?3",
            )
            .map_err(internal)?;
        let rows: Vec<(String, String, u32)> = statement
            .query_map(params![NOTIFY_DUE, now_ms, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(internal)?
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        let mut due = Vec::with_capacity(rows.len());
        for (id, url, attempts) in rows {
            if let Some(body) = prefop_row(&conn, &id)? {
                due.push(DueNotification { id, url, attempts, body });
            }
        }
        let next: Option<i64> = conn
            .query_row(
                "SELECT MIN(notify_at) FROM jobs WHERE notify_state = ?1 AND notify_at > ?2",
                params![NOTIFY_DUE, now_ms],
                |r| r.get(0),
            )
            .map_err(internal)?;
        Ok((due, next))
    }

    /// Records a delivered notification.
    pub fn notify_delivered(&self, id: &str, attempts: u32) -> Result<(), ApiError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE jobs SET notify_state = ?1, notify_attempts = ?2 WHERE id = ?3",
            params![NOTIFY_DELIVERED, attempts, id],
        )
        .map_err(internal)?;
        Ok(())
    }

    /// Records a failed attempt: the next one at `retry_at` (Unix ms), or, when `None`, gives
    /// up and sets the job's code to 4 ("Callback failed").
    pub fn notify_failed(&self, id: &str, attempts: u32, retry_at: Option<i64>) -> Result<(), ApiError> {
        let conn = self.conn();
        match retry_at {
            Some(at) => conn.execute(
                "UPDATE jobs SET notify_attempts = ?1, notify_at = ?2 WHERE id = ?3",
                params![attempts, at, id],
            ),
            None => conn.execute(
                "UPDATE jobs SET notify_attempts = ?1, notify_state = ?2, code = ?3 WHERE id = ?4",
                params![attempts, NOTIFY_GAVE_UP, wire::CODE_NOTIFY_FAILED, id],
            ),
        }
        .map_err(internal)?;
        Ok(())
    }
}

fn prefop_row(conn: &rusqlite::Connection, id: &str) -> Result<Option<Prefop>, ApiError> {
    conn.query_row(
        "SELECT id, reqid, bucket, key, items, pipeline, type, task_from, created, state, code FROM jobs WHERE id = ?1",
        [id],
        |r| {
            let state: i64 = r.get(9)?;
            let code: i32 = match state {
                WAITING => wire::CODE_WAITING,
                PROCESSING => wire::CODE_PROCESSING,
                _ => r.get(10)?,
            };
            let items: String = r.get(4)?;
            Ok(Prefop {
                id: r.get(0)?,
                reqid: r.get(1)?,
                input_bucket: r.get(2)?,
                input_key: r.get(3)?,
                items: serde_json::from_str(&items).unwrap_or_default(),
                pipeline: r.get(5)?,
                job_type: r.get(6)?,
                task_from: r.get(7)?,
                creation_date: wire::rfc3339(r.get(8)?),
                code,
                desc: wire::desc(code).to_owned(),
            })
        },
    )
    .optional()
    .map_err(internal)
}
