//! The SQLite schema. WAL journal, `synchronous=FULL`: a committed transaction is on disk.

use std::path::Path;

use rusqlite::Connection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name     TEXT PRIMARY KEY,
    created  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    bucket   TEXT NOT NULL,
    key      TEXT NOT NULL,
    file     TEXT NOT NULL,           -- random name under objects/
    hash     TEXT NOT NULL,           -- Qiniu etag
    fsize    INTEGER NOT NULL,
    mime     TEXT NOT NULL,
    put_time INTEGER NOT NULL,        -- Unix ms
    origin   TEXT NOT NULL,           -- 'upload' or the id of the job that wrote it
    meta     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS jobs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    reqid      TEXT NOT NULL,
    bucket     TEXT NOT NULL,
    key        TEXT NOT NULL,
    items      TEXT NOT NULL,         -- JSON array of wire::Item, one per fop, updated as they finish
    notify_url TEXT,
    force      INTEGER NOT NULL,
    pipeline   TEXT NOT NULL,
    type       INTEGER NOT NULL,
    task_from  TEXT NOT NULL,
    created    INTEGER NOT NULL,      -- Unix s
    state      INTEGER NOT NULL,      -- 1 waiting, 2 processing, 3 done
    code       INTEGER NOT NULL,      -- the job's code once done (0, 3, 4)
    notify_state    INTEGER NOT NULL DEFAULT 0,  -- 0 none, 1 due, 2 delivered, 3 given up
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    notify_at       INTEGER NOT NULL DEFAULT 0,  -- Unix ms of the next attempt
    finished   INTEGER                -- Unix ms
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_by_notify ON jobs (notify_state, notify_at);
CREATE TABLE IF NOT EXISTS uploads (
    id         TEXT PRIMARY KEY,
    bucket     TEXT NOT NULL,
    key        TEXT,
    access_key TEXT NOT NULL,
    created    INTEGER NOT NULL       -- Unix s
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part      INTEGER NOT NULL,
    etag      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part)
);
";

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}
