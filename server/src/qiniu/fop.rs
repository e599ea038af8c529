//! Persistent operations: `fops` is `op1;op2;…`, each op optionally followed by
//! `|saveas/<urlsafe_base64("bucket:key")>` (`qiniu.op_save`).
//!
//! [`Op::parse`] is the one place that knows which operations exist: today only `vframe`.
//! A new operation (Qiniu's `vsample`, a storyboard) is a variant of [`Op`], a case in
//! `Op::parse`, and a case where the worker runs an `Op` (`worker::run_op`); operations with
//! several outputs report them in an item's `keys`.
//!
//! A bad operation fails its own item (code 3 with the reason); a request is refused (400)
//! only when the string is malformed as a whole or no operation in it is valid.

use sha1::{Digest, Sha1};

use super::{base64, key, quote, ApiError};

/// Limits on what one job may ask for.
pub const MAX_FOPS: usize = 16;
pub const MAX_FOPS_LEN: usize = 16 * 1024;

/// A processing operation the server can run.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `vframe/<fmt>/offset/<s>[/w/<W>][/h/<H>][/rotate/<deg>]`: one thumbnail.
    Vframe(vframe::Spec),
}

impl Op {
    /// Recognises an operation string (without `|` pipes).
    pub fn parse(text: &str) -> Result<Op, String> {
        let name = text.split('/').next().unwrap_or_default();
        match name {
            "vframe" => text.parse::<vframe::Spec>().map(Op::Vframe).map_err(|e| e.message().to_owned()),
            "" => Err("empty operation".to_owned()),
            _ => Err(format!("unsupported operation {}: this service runs vframe only", quote(name))),
        }
    }

    /// The MIME type of the operation's output.
    pub fn mime_type(&self) -> &'static str {
        match self {
            Op::Vframe(spec) => spec.format.mime_type(),
        }
    }
}

/// Where `|saveas/` puts an output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveAs {
    pub bucket: String,
    /// `None` when the entry names only a bucket: the default key, in that bucket.
    pub key: Option<String>,
}

/// One parsed item of `fops`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fop {
    pub op: Op,
    /// The operation string without its pipes (what the default output key hashes).
    pub op_text: String,
    pub saveas: Option<SaveAs>,
}

/// Parses one item: the operation and its pipes.
pub fn parse_fop(cmd: &str) -> Result<Fop, String> {
    let mut pipes = cmd.split('|');
    let op_text = pipes.next().unwrap_or_default();
    let op = Op::parse(op_text)?;
    let mut saveas = None;
    for pipe in pipes {
        let Some(entry) = pipe.strip_prefix("saveas/") else {
            return Err(format!("unsupported pipe {}: only saveas may follow an operation", quote(pipe)));
        };
        if saveas.is_some() {
            return Err("saveas given twice".to_owned());
        }
        saveas = Some(parse_entry(entry)?);
    }
    Ok(Fop { op, op_text: op_text.to_owned(), saveas })
}

/// Decodes a saveas entry: URL-safe base64 of `bucket:key` (or of `bucket`).
pub fn parse_entry(entry: &str) -> Result<SaveAs, String> {
    let text = base64::decode_str(entry, 4 * key::MAX_KEY_LEN)
        .ok_or_else(|| format!("saveas entry {} is not URL-safe base64 of text", quote(entry)))?;
    let (bucket, key) = match text.split_once(':') {
        Some((b, k)) => (b, Some(k)),
        None => (text.as_str(), None),
    };
    key::check_bucket(bucket).map_err(|e| e.message)?;
    if let Some(k) = key {
        key::check_key(k).map_err(|e| e.message)?;
    }
    Ok(SaveAs { bucket: bucket.to_owned(), key: key.map(str::to_owned) })
}

/// A `fops` item: its command as given, and what it parsed to (or why it did not).
pub type FopItem = (String, Result<Fop, String>);

/// Splits and checks a `fops` string. Each item's outcome stays with its command; the
/// whole request fails (400) when it is empty, too long, has too many items or no valid one.
pub fn parse_fops(text: &str) -> Result<Vec<FopItem>, ApiError> {
    if text.len() > MAX_FOPS_LEN {
        return Err(ApiError::bad_request(format!("fops longer than {MAX_FOPS_LEN} bytes")));
    }
    let cmds: Vec<&str> = text.split(';').filter(|c| !c.is_empty()).collect();
    if cmds.is_empty() {
        return Err(ApiError::bad_request("no fops"));
    }
    if cmds.len() > MAX_FOPS {
        return Err(ApiError::bad_request(format!("more than {MAX_FOPS} fops in one job")));
    }
    let items: Vec<FopItem> = cmds.iter().map(|c| (c.to_string(), parse_fop(c))).collect();
    if let Some(error) = items.iter().map(|(_, r)| r).all(Result::is_err).then(|| first_error(&items)) {
        return Err(ApiError::bad_request(format!("no valid fop: {error}")));
    }
    Ok(items)
}

fn first_error(items: &[FopItem]) -> String {
    items.iter().find_map(|(_, r)| r.as_ref().err().cloned()).unwrap_or_default()
}

/// The key an output gets without `saveas`: `urlsafe_base64(sha1(op)) + "/" + source etag`.
pub fn default_output_key(op_text: &str, source_hash: &str) -> String {
    format!("{}/{}", base64::encode(Sha1::digest(op_text.as_bytes())), source_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> String {
        base64::encode(text)
    }

    #[test]
    fn items_keep_their_own_outcome() {
        let fops =
            format!("vframe/jpg/offset/7/w/480|saveas/{};avthumb/mp4;vframe/gif/offset/1", entry("b:thumbs/a.jpg"));
        let items = parse_fops(&fops).unwrap();
        assert_eq!(items.len(), 3);
        let first = items[0].1.as_ref().unwrap();
        assert_eq!(first.op_text, "vframe/jpg/offset/7/w/480");
        assert_eq!(first.saveas, Some(SaveAs { bucket: "b".into(), key: Some("thumbs/a.jpg".into()) }));
        assert_eq!(first.op.mime_type(), "image/jpeg");
        assert!(items[1].1.as_ref().unwrap_err().contains("\"avthumb\""));
        assert!(items[2].1.as_ref().unwrap_err().contains("gif"));
    }

    #[test]
    fn whole_request_failures() {
        assert_eq!(parse_fops("").unwrap_err().status, 400);
        assert_eq!(parse_fops(";;").unwrap_err().status, 400);
        assert!(parse_fops("avthumb/mp4;vsample/jpg").unwrap_err().message.contains("avthumb"));
        let many = vec!["vframe/jpg/offset/1"; MAX_FOPS + 1].join(";");
        assert_eq!(parse_fops(&many).unwrap_err().status, 400);
        assert_eq!(parse_fops(&"v".repeat(MAX_FOPS_LEN + 1)).unwrap_err().status, 400);
    }

    #[test]
    fn pipes_and_entries() {
        assert!(parse_fop("vframe/jpg/offset/1|imageView2/1").unwrap_err().contains("pipe"));
        let twice = format!("vframe/jpg/offset/1|saveas/{0}|saveas/{0}", entry("b:k"));
        assert!(parse_fop(&twice).unwrap_err().contains("twice"));
        assert_eq!(parse_entry(&entry("b")).unwrap(), SaveAs { bucket: "b".into(), key: None });
        assert!(parse_entry(&entry("b:../x")).is_err());
        assert!(parse_entry(&entry("b/c:k")).is_err());
        assert!(parse_entry("!!").is_err());
        assert_eq!(
            default_output_key("vframe/jpg/offset/1", "Fh"),
            format!("{}/Fh", base64::encode(Sha1::digest(b"vframe/jpg/offset/1")))
        );
    }
}
