//! Persistent operations: `fops` is `op1;op2;…`, each op optionally followed by
//! `|saveas/<urlsafe_base64("bucket:key")>` (`qiniu.op_save`).
//!
//! [`Op::parse`] is the one place that knows which operations exist: `vframe` (one image),
//! Qiniu's `vsample` and vframe's `storyboard` (several outputs, reported in an item's `keys`).
//! The worker runs an `Op` (`worker::run_frame` for one image, `frames::run` for several);
//! [`OutputNames`] says where the outputs of a several-output item go.
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
    /// `vframe/<fmt>/offset/<s>[/w/<W>][/h/<H>][/rotate/<deg>][/q/..][/mode/..]`: one image.
    Vframe(vframe::Spec),
    /// Qiniu's `vsample/<fmt>/…`: a frame every interval (or N frames) of a span, each an object.
    Sample(vframe::SampleSpec),
    /// `storyboard/<fmt>/…`: the frames tiled into sheets, with a WebVTT and a JSON index.
    Storyboard(vframe::StoryboardSpec),
}

impl Op {
    /// Recognises an operation string (without `|` pipes).
    pub fn parse(text: &str) -> Result<Op, String> {
        let name = text.split('/').next().unwrap_or_default();
        let message = |e: vframe::Error| e.message().to_owned();
        match name {
            "vframe" => text.parse::<vframe::Spec>().map(Op::Vframe).map_err(message),
            "vsample" => text.parse::<vframe::SampleSpec>().map(Op::Sample).map_err(message),
            "storyboard" => text.parse::<vframe::StoryboardSpec>().map(Op::Storyboard).map_err(message),
            "" => Err("empty operation".to_owned()),
            _ => {
                Err(format!("unsupported operation {}: this service runs vframe, vsample and storyboard", quote(name)))
            }
        }
    }

    /// The operation's name, as in the string.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Vframe(_) => "vframe",
            Op::Sample(_) => "vsample",
            Op::Storyboard(_) => "storyboard",
        }
    }

    /// Whether the operation makes several outputs (listed in its item's `keys`).
    pub fn is_multi(&self) -> bool {
        !matches!(self, Op::Vframe(_))
    }

    /// The MIME type of the operation's images.
    pub fn mime_type(&self) -> &'static str {
        match self {
            Op::Vframe(spec) => spec.format.mime_type(),
            Op::Sample(spec) => spec.look.format.mime_type(),
            Op::Storyboard(spec) => spec.look.format.mime_type(),
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

/// The stored object an item reads: what a pattern's variables name.
#[derive(Clone, Copy, Debug)]
pub struct SourceObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub hash: &'a str,
}

/// Where the outputs of a `vsample` or `storyboard` item go and what they are called: each
/// key is `prefix + name`.
///
/// - The bucket: saveas's, else the source's.
/// - The prefix: saveas's key as given (`frames/`, `frames/a-`); without one, nothing for a
///   vsample with a pattern (Qiniu's pattern names the keys), else the default output key
///   and `/` (`urlsafe_base64(sha1(op))/<source etag>/`).
/// - The names: the pattern's (`$(count)` and the variables of [`expand`]), else `000001.jpg`,
///   ... for frames and `storyboard-000001.jpg`, ... for sheets; a storyboard adds
///   `storyboard.vtt` and `storyboard.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputNames {
    pub bucket: String,
    pub prefix: String,
    pattern: Option<String>,
    /// A numbered name without a pattern: `<stem><count>.<ext>`.
    stem: &'static str,
    ext: &'static str,
    /// The pattern's variables besides `count`.
    vars: Vec<(&'static str, String)>,
}

/// The variables a pattern may name besides `count`.
const PATTERN_VARS: &str = "count, bucket, key, keybase, etag";

impl OutputNames {
    /// The names of `fop`'s outputs on `source`; `None` for an operation of one output.
    pub fn new(fop: &Fop, source: SourceObject<'_>) -> Option<OutputNames> {
        let (pattern, stem, format) = match &fop.op {
            Op::Vframe(_) => return None,
            Op::Sample(spec) => (spec.pattern.clone(), "", spec.look.format),
            Op::Storyboard(spec) => (spec.pattern.clone(), "storyboard-", spec.look.format),
        };
        let (bucket, saveas_key) = match &fop.saveas {
            Some(saveas) => (saveas.bucket.clone(), saveas.key.clone()),
            None => (source.bucket.to_owned(), None),
        };
        let prefix = match saveas_key {
            Some(prefix) => prefix,
            None if matches!(fop.op, Op::Sample(_)) && pattern.is_some() => String::new(),
            None => format!("{}/", default_output_key(&fop.op_text, source.hash)),
        };
        let vars = vec![
            ("bucket", source.bucket.to_owned()),
            ("key", source.key.to_owned()),
            ("keybase", key_base(source.key).to_owned()),
            ("etag", source.hash.to_owned()),
        ];
        Some(OutputNames { bucket, prefix, pattern, stem, ext: format.as_str(), vars })
    }

    /// The key of output `index` (0-based: a frame, or a sheet), checked as a key.
    pub fn numbered(&self, index: usize) -> Result<String, String> {
        let count = index.saturating_add(1);
        let name = match &self.pattern {
            Some(pattern) => expand(pattern, count, &self.vars)?,
            None => format!("{}{count:06}.{}", self.stem, self.ext),
        };
        self.named(&name)
    }

    /// The key of the output called `name` (`storyboard.vtt`), checked as a key.
    pub fn named(&self, name: &str) -> Result<String, String> {
        let key = format!("{}{name}", self.prefix);
        key::check_key(&key).map_err(|e| format!("output {}", e.message.trim_start_matches("invalid ")))?;
        Ok(key)
    }

    /// How a file beside the others refers to output `key` (one of this item's keys): the
    /// part after the prefix's last `/`, a URL relative to the item's folder.
    pub fn relative<'k>(&self, key: &'k str) -> &'k str {
        let folder = self.prefix.rfind('/').map_or(0, |at| at + 1);
        key.get(folder..).unwrap_or(key)
    }
}

/// A key without its extension (`videos/a.mp4` → `videos/a`): `$(keybase)`.
fn key_base(key: &str) -> &str {
    let name_at = key.rfind('/').map_or(0, |at| at + 1);
    match key[name_at..].rfind('.') {
        Some(dot) if dot > 0 => &key[..name_at + dot],
        _ => key,
    }
}

/// Expands a pattern in one pass: `$(count)` (or `${count}`) is `count` in six digits with
/// leading zeros (`000001`, as Qiniu and the engine number outputs), `$(name)` one of `vars`;
/// an unknown variable is an error. A `$` that opens no variable stays as it is.
pub fn expand(pattern: &str, count: usize, vars: &[(&'static str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut rest = pattern;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let close = match after.as_bytes().first() {
            Some(b'(') => ')',
            Some(b'{') => '}',
            _ => {
                out.push('$');
                rest = after;
                continue;
            }
        };
        let Some(end) = after[1..].find(close) else {
            out.push('$');
            rest = after;
            continue;
        };
        let name = &after[1..1 + end];
        if name == "count" {
            out.push_str(&format!("{count:06}"));
        } else if let Some((_, value)) = vars.iter().find(|(var, _)| *var == name) {
            out.push_str(value);
        } else {
            return Err(format!(
                "pattern variable {} is unknown (known: {PATTERN_VARS})",
                quote(&rest[at..at + 3 + end])
            ));
        }
        rest = &after[2 + end..];
    }
    out.push_str(rest);
    Ok(out)
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
        assert!(parse_fops("avthumb/mp4;vsample/gif").unwrap_err().message.contains("avthumb"));
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

    #[test]
    fn several_output_operations() {
        let sample = parse_fop("vsample/jpg/interval/2/s/320x").unwrap();
        assert!(matches!(sample.op, Op::Sample(_)) && sample.op.is_multi() && sample.op.name() == "vsample");
        let board = parse_fop("storyboard/webp/columns/4").unwrap();
        assert_eq!((board.op.name(), board.op.mime_type()), ("storyboard", "image/webp"));
        assert!(!parse_fop("vframe/webp/offset/1/q/50/mode/fast").unwrap().op.is_multi());
        assert!(parse_fop("vsample/jpg/interval/0").unwrap_err().contains("interval"));
        assert!(parse_fop("storyboard/jpg/columns/0").unwrap_err().contains("columns"));
    }

    fn names(cmd: &str) -> OutputNames {
        let fop = parse_fop(cmd).unwrap();
        OutputNames::new(&fop, SourceObject { bucket: "videos", key: "dir/movie.mp4", hash: "Fh" }).unwrap()
    }

    #[test]
    fn output_names() {
        assert_eq!(
            OutputNames::new(
                &parse_fop("vframe/jpg/offset/1").unwrap(),
                SourceObject { bucket: "b", key: "k", hash: "h" }
            ),
            None
        );
        // No saveas, no pattern: under the default output key, numbered.
        let plain = names("vsample/jpg/interval/2");
        let default = default_output_key("vsample/jpg/interval/2", "Fh");
        assert_eq!((plain.bucket.as_str(), plain.numbered(0).unwrap()), ("videos", format!("{default}/000001.jpg")));
        assert_eq!(plain.relative(&plain.numbered(11).unwrap()), "000012.jpg");
        // A pattern names the keys (Qiniu's example: $(keybase)$(count).jpg), variables expanded once.
        let pattern = base64::encode("$(keybase)-${count}-$(bucket)-$(etag)-$(key).png");
        let patterned = names(&format!("vsample/png/pattern/{pattern}"));
        assert_eq!(patterned.numbered(2).unwrap(), "dir/movie-000003-videos-Fh-dir/movie.mp4.png");
        // saveas: its bucket; its key is a prefix.
        let into = names(&format!("vsample/jpg|saveas/{}", entry("thumbs:frames/a-")));
        assert_eq!((into.bucket.as_str(), into.numbered(0).unwrap()), ("thumbs", "frames/a-000001.jpg".to_owned()));
        assert_eq!(into.relative("frames/a-000001.jpg"), "a-000001.jpg");
        let bucket_only = names(&format!("storyboard/jpg|saveas/{}", entry("thumbs")));
        let default = default_output_key("storyboard/jpg", "Fh");
        assert_eq!(bucket_only.numbered(0).unwrap(), format!("{default}/storyboard-000001.jpg"));
        assert_eq!(bucket_only.named("storyboard.vtt").unwrap(), format!("{default}/storyboard.vtt"));
        // A name that is no valid key fails; so does an unknown variable.
        let up = names(&format!("vsample/jpg/pattern/{}", base64::encode("../$(count).jpg")));
        assert!(up.numbered(0).unwrap_err().contains("'..'"));
        let unknown = names(&format!("vsample/jpg/pattern/{}", base64::encode("$(count)$(nope)")));
        assert!(unknown.numbered(0).unwrap_err().contains("$(nope)"));
    }

    #[test]
    fn pattern_expansion() {
        let vars = vec![("key", "a$(count)".to_owned())];
        assert_eq!(expand("x$(count)y", 7, &vars).unwrap(), "x000007y");
        assert_eq!(expand("$(key)/${count}", 1234567, &vars).unwrap(), "a$(count)/1234567");
        assert_eq!(expand("$5 $ $(count) x$(", 1, &vars).unwrap(), "$5 $ 000001 x$(");
        assert!(expand("$(count $(count)", 1, &vars).unwrap_err().contains("unknown"));
        assert!(expand("$(count)${keybase}", 1, &vars).unwrap_err().contains("${keybase}"));
        assert_eq!(key_base("a.b/c"), "a.b/c");
        assert_eq!(key_base("a/.hidden"), "a/.hidden");
        assert_eq!(key_base("a/b.c.mp4"), "a/b.c");
    }
}
