//! The two resumable-upload protocols' requests, parsed and bounded.
//!
//! v1: `POST /mkblk/<blockSize>` (a block of at most 4 MiB, its first chunk as the body),
//! `POST /bput/<ctx>/<offset>` (more chunks), `POST /mkfile/<fsize>[/<name>/<b64 value>]…`
//! with the blocks' contexts joined by `,`.
//! v2: `POST /buckets/<bucket>/objects/<b64 key or ~>/uploads` (start),
//! `PUT …/uploads/<uploadId>/<partNumber>` (a part), `POST …/uploads/<uploadId>` (complete,
//! a JSON body), `DELETE …/uploads/<uploadId>` (abort), `GET …/uploads/<uploadId>` (list).
//!
//! Contexts and upload ids are the server's own random identifiers (32 lowercase hex
//! digits); they name files in the server's spool directory, so nothing else is accepted.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{base64, key, quote, ApiError};

/// v1 blocks are 4 MiB (the last one may be shorter).
pub const BLOCK_SIZE: u64 = 4 * 1024 * 1024;
/// v2 parts: numbers 1..=10000, at most 1 GiB each (Qiniu's limits).
pub const MAX_PARTS: u32 = 10_000;
pub const MAX_PART_SIZE: u64 = 1024 * 1024 * 1024;
/// The largest v2 complete body and v1 mkfile body.
pub const MAX_COMPLETE_BODY: usize = 2 * 1024 * 1024;
/// At most this many `x:` variables or `x-qn-meta-` entries per upload.
pub const MAX_VARS: usize = 64;
pub const MAX_VAR_LEN: usize = 4096;

/// A server-issued identifier: 32 lowercase hex digits (128 random bits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub fn parse(text: &str) -> Option<Id> {
        (text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then(|| Id(text.to_owned()))
    }
    pub fn from_random(bytes: [u8; 16]) -> Id {
        Id(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn number(text: &str, what: &str) -> Result<u64, ApiError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!("invalid {what} {}", quote(text))));
    }
    text.parse().map_err(|_| ApiError::bad_request(format!("invalid {what}")))
}

/// `/mkblk/<size>`: the block's size (1..=4 MiB).
pub fn parse_mkblk(path: &str) -> Result<u64, ApiError> {
    let size = number(path.strip_prefix("/mkblk/").ok_or_else(|| ApiError::bad_request("bad mkblk"))?, "block size")?;
    if size == 0 || size > BLOCK_SIZE {
        return Err(ApiError::bad_request("block size must be 1 to 4194304 bytes"));
    }
    Ok(size)
}

/// `/bput/<ctx>/<offset>`.
pub fn parse_bput(path: &str) -> Result<(Id, u64), ApiError> {
    let rest = path.strip_prefix("/bput/").ok_or_else(|| ApiError::bad_request("bad bput"))?;
    let (ctx, offset) = rest.split_once('/').ok_or_else(|| ApiError::bad_request("bad bput"))?;
    let ctx = Id::parse(ctx).ok_or_else(|| ApiError::bad_request("invalid ctx"))?;
    Ok((ctx, number(offset, "offset")?))
}

/// What an upload's completion carries besides the data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finish {
    pub key: Option<String>,
    pub mime_type: Option<String>,
    pub fname: Option<String>,
    /// `x:name` → value (returned to nobody today, checked and bounded).
    pub vars: BTreeMap<String, String>,
    /// `x-qn-meta-name` → value: stored with the object and served as headers.
    pub meta: BTreeMap<String, String>,
}

impl Finish {
    /// Files a `name`/`value` pair of an upload (form field, mkfile segment, v2 body).
    pub fn add(&mut self, name: &str, value: String) -> Result<(), ApiError> {
        if value.len() > MAX_VAR_LEN {
            return Err(ApiError::bad_request(format!("{} is too long", quote(name))));
        }
        match name {
            "key" => {
                key::check_key(&value)?;
                self.key = Some(value);
            }
            "mimeType" => {
                let ok = value.len() <= 255 && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
                if !ok {
                    return Err(ApiError::bad_request("invalid mimeType"));
                }
                self.mime_type = Some(value).filter(|v| !v.is_empty());
            }
            "fname" => self.fname = Some(value),
            _ if name.starts_with("x:") && name.len() > 2 => {
                self.vars.insert(name.to_owned(), value);
            }
            _ if name.starts_with("x-qn-meta-") && name.len() > 10 => {
                let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && value.bytes().all(|b| (b' '..=b'~').contains(&b));
                if !ok {
                    return Err(ApiError::bad_request(format!("invalid metadata {}", quote(name))));
                }
                self.meta.insert(name.to_ascii_lowercase(), value);
            }
            _ => return Err(ApiError::bad_request(format!("unknown upload parameter {}", quote(name)))),
        }
        if self.vars.len() + self.meta.len() > MAX_VARS {
            return Err(ApiError::bad_request("too many x: variables or metadata entries"));
        }
        Ok(())
    }
}

/// `/mkfile/<fsize>[/<name>/<urlsafe_base64 value>]…`.
pub fn parse_mkfile(path: &str) -> Result<(u64, Finish), ApiError> {
    let rest = path.strip_prefix("/mkfile/").ok_or_else(|| ApiError::bad_request("bad mkfile"))?;
    let mut segments = rest.split('/');
    let fsize = number(segments.next().unwrap_or_default(), "file size")?;
    let mut finish = Finish::default();
    while let Some(name) = segments.next() {
        let encoded = segments.next().ok_or_else(|| ApiError::bad_request(format!("no value for {}", quote(name))))?;
        let value = base64::decode_str(encoded, 2 * MAX_VAR_LEN)
            .ok_or_else(|| ApiError::bad_request(format!("{} is not URL-safe base64 of text", quote(name))))?;
        finish.add(name, value)?;
    }
    Ok((fsize, finish))
}

/// A mkfile body: the blocks' contexts in order.
pub fn parse_ctx_list(body: &[u8], fsize: u64) -> Result<Vec<Id>, ApiError> {
    let blocks = fsize.div_ceil(BLOCK_SIZE).max(1);
    if body.len() > MAX_COMPLETE_BODY {
        return Err(ApiError::bad_request("mkfile body too large"));
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("mkfile body is not text"))?;
    let ids: Option<Vec<Id>> = text.trim().split(',').map(|c| Id::parse(c.trim())).collect();
    let ids = ids.ok_or_else(|| ApiError::bad_request("invalid ctx in mkfile body"))?;
    if ids.len() as u64 != blocks {
        return Err(ApiError::bad_request(format!("{} contexts for a {fsize}-byte file ({blocks} blocks)", ids.len())));
    }
    Ok(ids)
}

/// A v2 path, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Path {
    pub bucket: String,
    /// `None` for `~` (no key: the scope's, or the content's hash).
    pub key: Option<String>,
    pub upload_id: Option<Id>,
    pub part: Option<u32>,
}

/// `/buckets/<bucket>/objects/<b64 key or ~>/uploads[/<uploadId>[/<partNumber>]]`.
pub fn parse_v2_path(path: &str) -> Result<V2Path, ApiError> {
    let bad = || ApiError::bad_request("bad multipart upload path");
    let parts: Vec<&str> = path.strip_prefix("/buckets/").ok_or_else(bad)?.split('/').collect();
    if !(4..=6).contains(&parts.len()) || parts[1] != "objects" || parts[3] != "uploads" {
        return Err(bad());
    }
    key::check_bucket(parts[0])?;
    let key = match parts[2] {
        "~" => None,
        encoded => {
            let k = base64::decode_str(encoded, 4 * key::MAX_KEY_LEN)
                .ok_or_else(|| ApiError::bad_request("key is not URL-safe base64"))?;
            key::check_key(&k)?;
            Some(k)
        }
    };
    let upload_id =
        parts.get(4).map(|id| Id::parse(id).ok_or_else(|| ApiError::new(612, "no such upload"))).transpose()?;
    let part = parts
        .get(5)
        .map(|n| {
            let n = number(n, "part number")?;
            if n == 0 || n > u64::from(MAX_PARTS) {
                return Err(ApiError::bad_request("part number must be 1 to 10000"));
            }
            Ok(n as u32)
        })
        .transpose()?;
    Ok(V2Path { bucket: parts[0].to_owned(), key, upload_id, part })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteBody {
    parts: Vec<CompletePart>,
    #[serde(default)]
    fname: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    custom_vars: Option<BTreeMap<String, String>>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompletePart {
    etag: String,
    part_number: u32,
}

/// A v2 complete body: the parts (number, etag) in ascending order, and the rest.
pub fn parse_complete(body: &[u8]) -> Result<(Vec<(u32, String)>, Finish), ApiError> {
    if body.len() > MAX_COMPLETE_BODY {
        return Err(ApiError::bad_request("complete body too large"));
    }
    let parsed: CompleteBody =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid complete body: {e}")))?;
    if parsed.parts.is_empty() || parsed.parts.len() > MAX_PARTS as usize {
        return Err(ApiError::bad_request("a complete body lists 1 to 10000 parts"));
    }
    let parts: Vec<(u32, String)> = parsed.parts.into_iter().map(|p| (p.part_number, p.etag)).collect();
    if !parts.windows(2).all(|w| w[0].0 < w[1].0) || parts[0].0 == 0 {
        return Err(ApiError::bad_request("parts must be listed once each, in ascending order"));
    }
    let mut finish = Finish::default();
    if let Some(mime) = parsed.mime_type {
        finish.add("mimeType", mime)?;
    }
    finish.fname = parsed.fname;
    for (name, value) in parsed.custom_vars.into_iter().flatten().chain(parsed.metadata.into_iter().flatten()) {
        finish.add(&name, value)?;
    }
    Ok((parts, finish))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn v1_paths() {
        assert_eq!(parse_mkblk("/mkblk/4194304").unwrap(), BLOCK_SIZE);
        for bad in ["/mkblk/0", "/mkblk/4194305", "/mkblk/-1", "/mkblk/1x", "/mkblk/", "/mkblk/99999999999999999999"] {
            assert!(parse_mkblk(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_bput(&format!("/bput/{CTX}/7")).unwrap(), (Id::parse(CTX).unwrap(), 7));
        assert!(parse_bput("/bput/../../etc/7").is_err());
        assert!(parse_bput(&format!("/bput/{}/7", CTX.to_uppercase())).is_err());
        let path = format!(
            "/mkfile/10/mimeType/{}/key/{}/fname/{}/x:a/{}",
            base64::encode("video/mp4"),
            base64::encode("a/b.mp4"),
            base64::encode("b.mp4"),
            base64::encode("1")
        );
        let (size, finish) = parse_mkfile(&path).unwrap();
        assert_eq!(size, 10);
        assert_eq!(finish.key.as_deref(), Some("a/b.mp4"));
        assert_eq!(finish.mime_type.as_deref(), Some("video/mp4"));
        assert_eq!(finish.vars.get("x:a").map(String::as_str), Some("1"));
        assert!(parse_mkfile(&format!("/mkfile/10/key/{}", base64::encode("../x"))).is_err());
        assert!(parse_mkfile("/mkfile/10/key").is_err());
        assert!(parse_mkfile("/mkfile/10/bogus/YQ==").is_err());
    }

    #[test]
    fn ctx_lists() {
        let two = format!("{CTX},{CTX}");
        assert_eq!(parse_ctx_list(two.as_bytes(), BLOCK_SIZE + 1).unwrap().len(), 2);
        assert!(parse_ctx_list(two.as_bytes(), BLOCK_SIZE).is_err());
        assert!(parse_ctx_list(b"../x", 1).is_err());
        assert_eq!(parse_ctx_list(CTX.as_bytes(), 0).unwrap().len(), 1);
    }

    #[test]
    fn v2_paths_and_bodies() {
        let key = base64::encode("a.mp4");
        let p = parse_v2_path(&format!("/buckets/b/objects/{key}/uploads/{CTX}/3")).unwrap();
        assert_eq!(
            p,
            V2Path { bucket: "b".into(), key: Some("a.mp4".into()), upload_id: Id::parse(CTX), part: Some(3) }
        );
        assert_eq!(parse_v2_path("/buckets/b/objects/~/uploads").unwrap().key, None);
        for bad in [
            "/buckets/b/objects/~/upload",
            "/buckets/../objects/~/uploads",
            "/buckets/b/objects/~/uploads/x",
            &format!("/buckets/b/objects/~/uploads/{CTX}/0"),
            &format!("/buckets/b/objects/~/uploads/{CTX}/10001"),
            &format!("/buckets/b/objects/{}/uploads", base64::encode("/etc/passwd")),
        ] {
            assert!(parse_v2_path(bad).is_err(), "{bad}");
        }
        let body = br#"{"parts":[{"etag":"e1","partNumber":1},{"etag":"e2","partNumber":2}],"fname":"a.mp4","mimeType":null,"customVars":null,"metadata":{"x-qn-meta-A":"1"}}"#;
        let (parts, finish) = parse_complete(body).unwrap();
        assert_eq!(parts, vec![(1, "e1".into()), (2, "e2".into())]);
        assert_eq!(finish.meta.get("x-qn-meta-a").map(String::as_str), Some("1"));
        assert!(parse_complete(br#"{"parts":[{"etag":"e","partNumber":2},{"etag":"e","partNumber":1}]}"#).is_err());
        assert!(parse_complete(br#"{"parts":[]}"#).is_err());
        assert!(parse_complete(b"{").is_err());
    }
}
