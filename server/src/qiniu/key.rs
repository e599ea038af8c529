//! Which bucket names and object keys the server accepts.
//!
//! Keys never become file paths (objects are stored under random names, see `store`), so
//! no key could escape the data directory anyway; these checks refuse the keys that look
//! like an attempt or that no client should send: empty, longer than Qiniu's 750 bytes,
//! control characters (NUL, CR, LF, ...), absolute (`/...`), or a `.`/`..` segment (with `/`
//! or `\` as separators).

use super::{quote, ApiError};

/// Qiniu's limit on key length, in bytes.
pub const MAX_KEY_LEN: usize = 750;
pub const MAX_BUCKET_LEN: usize = 63;

/// Bucket names: 1–63 characters from `A-Z a-z 0-9 - _`.
pub fn check_bucket(bucket: &str) -> Result<(), ApiError> {
    let ok = !bucket.is_empty()
        && bucket.len() <= MAX_BUCKET_LEN
        && bucket.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("invalid bucket name {}", quote(bucket))))
    }
}

/// Object keys (see the module's rules).
pub fn check_key(key: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::bad_request(format!("invalid key {}: {why}", quote(key))));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("longer than 750 bytes");
    }
    if key.chars().any(char::is_control) {
        return bad("control character");
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return bad("absolute");
    }
    if key.split(['/', '\\']).any(|segment| segment == "." || segment == "..") {
        return bad("'.' or '..' segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in ["a.mp4", "dir/sub/a.mp4", "a..b", "...", "中文/视频.mp4", "a b", "a//b", "x/.hidden"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        let long = "k".repeat(751);
        for bad in ["", "../x", "a/../../b", "/etc/passwd", "a\0b", "a\nb", "..", ".", "a/..", "..\\x", "\\x", &long] {
            assert_eq!(check_key(bad).unwrap_err().status, 400, "{bad:?}");
        }
        assert!(check_key(&"k".repeat(750)).is_ok());
    }

    #[test]
    fn buckets() {
        assert!(check_bucket("videos-2_x").is_ok());
        for bad in ["", "a/b", "a:b", "..", "a b", &"b".repeat(64)] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }
}
