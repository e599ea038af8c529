//! The JSON shapes Qiniu's SDKs read: a job's status (`prefop`, also the notify body) and its
//! items. Field names and codes are Qiniu's.

use serde::{Deserialize, Serialize};

/// Job and item codes.
pub const CODE_OK: i32 = 0;
pub const CODE_WAITING: i32 = 1;
pub const CODE_PROCESSING: i32 = 2;
pub const CODE_FAILED: i32 = 3;
pub const CODE_NOTIFY_FAILED: i32 = 4;

/// Qiniu's `desc` for a code.
pub fn desc(code: i32) -> &'static str {
    match code {
        CODE_OK => "The fop was completed successfully",
        CODE_WAITING => "The fop is waiting for processing",
        CODE_PROCESSING => "The fop is processing now",
        CODE_FAILED => "The fop is failed",
        CODE_NOTIFY_FAILED => "Callback failed",
        _ => "Unknown",
    }
}

/// One fop's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub cmd: String,
    pub code: i32,
    pub desc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Several outputs of one operation (none today; reserved for storyboards and samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// 1 when the output already existed and was kept (no `force`), as Qiniu reports it.
    #[serde(rename = "returnOld")]
    pub return_old: i32,
}

impl Item {
    pub fn pending(cmd: &str) -> Item {
        Item::with_code(cmd, CODE_WAITING)
    }

    pub fn with_code(cmd: &str, code: i32) -> Item {
        Item {
            cmd: cmd.to_owned(),
            code,
            desc: desc(code).to_owned(),
            error: String::new(),
            hash: None,
            key: None,
            keys: None,
            return_old: 0,
        }
    }

    pub fn failed(cmd: &str, error: impl Into<String>) -> Item {
        Item { error: error.into(), ..Item::with_code(cmd, CODE_FAILED) }
    }

    pub fn done(cmd: &str, key: String, hash: String, return_old: bool) -> Item {
        Item { key: Some(key), hash: Some(hash), return_old: i32::from(return_old), ..Item::with_code(cmd, CODE_OK) }
    }

    pub fn is_finished(&self) -> bool {
        self.code == CODE_OK || self.code == CODE_FAILED
    }
}

/// A job's status: the `prefop` answer and the notify body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefop {
    pub id: String,
    pub pipeline: String,
    pub code: i32,
    pub desc: String,
    pub reqid: String,
    #[serde(rename = "inputBucket")]
    pub input_bucket: String,
    #[serde(rename = "inputKey")]
    pub input_key: String,
    #[serde(rename = "creationDate")]
    pub creation_date: String,
    #[serde(rename = "type")]
    pub job_type: i64,
    /// How the job came: `api` (pfop) or `upload` (persistentOps).
    #[serde(rename = "taskFrom")]
    pub task_from: String,
    pub items: Vec<Item>,
}

/// `{"error": message}`.
pub fn error_body(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// RFC 3339 in UTC for `creationDate`, from Unix seconds.
pub fn rfc3339(unix_seconds: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix_seconds).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_serialize_like_qiniu() {
        let ok = Item::done("vframe/jpg/offset/1", "k".into(), "Fh".into(), false);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"cmd":"vframe/jpg/offset/1","code":0,"desc":"The fop was completed successfully","hash":"Fh","key":"k","returnOld":0}"#
        );
        let bad = Item::failed("avthumb/mp4", "unsupported");
        assert_eq!(
            serde_json::to_string(&bad).unwrap(),
            r#"{"cmd":"avthumb/mp4","code":3,"desc":"The fop is failed","error":"unsupported","returnOld":0}"#
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(error_body("a\"b"), r#"{"error":"a\"b"}"#);
    }
}
