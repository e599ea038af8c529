//! Request bodies made of fields: the pfop form (`application/x-www-form-urlencoded`) and
//! the form upload (`multipart/form-data`: `token`, `key`, `crc32`, `x:<var>`,
//! `x-qn-meta-<name>`, `file`). Multipart is parsed by `multer` as the body streams in; the
//! file part goes to a sink (a spool file) and never sits in memory whole.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::resumable::Finish;
use super::uptoken::MAX_TOKEN_LEN;
use super::{quote, ApiError};

/// The largest pfop body.
pub const MAX_PFOP_BODY: usize = 64 * 1024;
/// The largest non-file field of a form upload, and how many fields one may have.
pub const MAX_FIELD_LEN: u64 = 64 * 1024;
pub const MAX_FIELDS: usize = 128;
/// The most file bytes taken before a valid token was seen (a form whose `file` comes before
/// its `token`; the SDKs send the token first): more is refused with 400, so that clients
/// without credentials cannot fill the disk with spooled bodies.
pub const MAX_FILE_BEFORE_TOKEN: u64 = 64 * 1024;
/// The most body bytes the multipart parser may take in without giving back a field or a
/// piece of the file (a field's value, at most [`MAX_FIELD_LEN`], plus headers and slack). A
/// preamble with no boundary, or a part's headers without end, is refused at this size: the
/// parser would otherwise hold it all in memory, searching it again at every new chunk, up to
/// the whole-stream limit (about 2 GiB), before any token was read.
pub const MAX_UNPARSED: u64 = 256 * 1024;

/// A `POST /pfop/` request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PfopForm {
    pub bucket: String,
    pub key: String,
    pub fops: String,
    pub notify_url: Option<String>,
    pub force: bool,
    pub pipeline: Option<String>,
    pub job_type: i64,
}

/// Parses a pfop body.
pub fn parse_pfop(body: &[u8]) -> Result<PfopForm, ApiError> {
    if body.len() > MAX_PFOP_BODY {
        return Err(ApiError::new(413, "pfop body too large"));
    }
    let mut form = PfopForm::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if seen.iter().any(|s| *s == name) {
            return Err(ApiError::bad_request(format!("{} given twice", quote(&name))));
        }
        seen.push(name.to_string());
        let value = value.into_owned();
        match name.as_ref() {
            "bucket" => form.bucket = value,
            "key" => form.key = value,
            "fops" => form.fops = value,
            "notifyURL" => form.notify_url = Some(value).filter(|v| !v.is_empty()),
            "force" => form.force = value == "1" || value == "true",
            "pipeline" => form.pipeline = Some(value).filter(|v| !v.is_empty()),
            "type" => {
                form.job_type = match value.as_str() {
                    "" | "0" => 0,
                    "1" => 1,
                    _ => return Err(ApiError::bad_request("type must be 0 or 1")),
                }
            }
            "workflowTemplateID" => {
                return Err(ApiError::bad_request("workflow templates are not supported by this server"))
            }
            _ => {}
        }
    }
    for (name, value) in [("bucket", &form.bucket), ("key", &form.key), ("fops", &form.fops)] {
        if value.is_empty() {
            return Err(ApiError::bad_request(format!("{name} is required")));
        }
    }
    Ok(form)
}

/// Where a form upload's file bytes go.
pub trait FileSink {
    fn write(&mut self, data: Bytes) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// A form upload's fields (the file went to the sink).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormUpload {
    pub token: String,
    pub crc32: Option<u32>,
    pub finish: Finish,
    /// The file part's own Content-Type.
    pub file_mime: Option<String>,
    pub file_name: Option<String>,
    /// The file's size.
    pub size: u64,
}

/// Reads a multipart form upload of at most `max_file` file bytes. `on_token` runs as soon
/// as the token field has arrived (to refuse a bad token before the file is read), and
/// again before the result is returned if the file came first. Fails with 400 on malformed
/// bodies and 413 when a size limit is passed.
pub async fn read_form_upload<S, E, T, K>(
    body: S,
    boundary: &str,
    max_file: u64,
    mut on_token: T,
    sink: &mut K,
) -> Result<FormUpload, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    T: FnMut(&str, Option<&str>) -> Result<(), ApiError>,
    K: FileSink,
{
    let limits = multer::SizeLimit::new()
        .whole_stream(max_file.saturating_add(MAX_FIELD_LEN * MAX_FIELDS as u64))
        .per_field(MAX_FIELD_LEN)
        .for_field("file", max_file);
    let constraints = multer::Constraints::new().size_limit(limits);
    // Bytes fed to the parser since it last gave something back.
    let unparsed = Arc::new(AtomicU64::new(0));
    let fed = unparsed.clone();
    let body = OneAtATime { inner: Box::pin(body), paused: false }.map(
        move |item| -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
            let chunk = item.map_err(Into::into)?;
            // Judged before this chunk is added: one chunk, however large, always gets parsed.
            if fed.fetch_add(chunk.len() as u64, Ordering::Relaxed) > MAX_UNPARSED {
                let why = format!("malformed multipart body: more than {} KiB without a part", MAX_UNPARSED / 1024);
                return Err(Box::new(std::io::Error::new(std::io::ErrorKind::InvalidData, why)));
            }
            Ok(chunk)
        },
    );
    let parsed = || unparsed.store(0, Ordering::Relaxed);
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
    let mut form = FormUpload::default();
    let (mut fields, mut token_checked, mut have_file, mut have_token) = (0, false, false, false);
    // The fields used, each once: with two `key` fields, which one is meant? (pfop's form says
    // the same.)
    let mut seen: Vec<String> = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        parsed();
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(ApiError::bad_request("too many form fields"));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if have_file {
                return Err(ApiError::bad_request("file given twice"));
            }
            have_file = true;
            form.file_mime = field.content_type().map(|m| m.essence_str().to_owned());
            form.file_name = field.file_name().map(str::to_owned);
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                parsed();
                if !token_checked && form.size + chunk.len() as u64 > MAX_FILE_BEFORE_TOKEN {
                    return Err(ApiError::bad_request(
                        "the file came before a valid token field: send the token (and key) fields before \
                         the file; at most 64 KiB of file may come first",
                    ));
                }
                form.size += chunk.len() as u64;
                sink.write(chunk).await?;
            }
            continue;
        }
        let bytes = field.bytes().await.map_err(multipart_error)?;
        parsed();
        let value = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::bad_request(format!("field {} is not UTF-8", quote(&name))))?;
        let used = matches!(name.as_str(), "crc32" | "key" | "fname" | "mimeType")
            || name.starts_with("x:")
            || name.starts_with("x-qn-meta-");
        if used {
            if seen.contains(&name) {
                return Err(ApiError::bad_request(format!("{} given twice", quote(&name))));
            }
            seen.push(name.clone());
        }
        match name.as_str() {
            "token" => {
                if have_token || value.len() > MAX_TOKEN_LEN {
                    return Err(ApiError::bad_token());
                }
                have_token = true;
                form.token = value;
                if !have_file {
                    on_token(&form.token, form.finish.key.as_deref())?;
                    token_checked = true;
                }
            }
            "crc32" => form.crc32 = Some(value.trim().parse().map_err(|_| ApiError::bad_request("invalid crc32"))?),
            "key" | "fname" | "mimeType" => form.finish.add(&name, value)?,
            _ if name.starts_with("x:") || name.starts_with("x-qn-meta-") => form.finish.add(&name, value)?,
            _ => {} // other fields (`accept`, ...) are not used
        }
    }
    if !have_token {
        return Err(ApiError::unauthorized("no upload token"));
    }
    if !have_file {
        return Err(ApiError::bad_request("no file field"));
    }
    // Checked again when the key came after the token or the file before it.
    if !token_checked || form.finish.key.is_some() {
        on_token(&form.token, form.finish.key.as_deref())?;
    }
    Ok(form)
}

/// A stream that pauses (waking itself at once) after each item. The multipart parser reads
/// every item a stream has ready before it looks at them; fed one at a time, it gives back
/// what it can after each, so the bytes it holds unparsed can be counted and bounded.
struct OneAtATime<S> {
    inner: std::pin::Pin<Box<S>>,
    paused: bool,
}

impl<S: Stream> Stream for OneAtATime<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        if std::mem::take(&mut self.paused) {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let next = self.inner.as_mut().poll_next(cx);
        self.paused = matches!(next, std::task::Poll::Ready(Some(_)));
        next
    }
}

/// [`read_form_upload`] over a whole body in memory, on a private single-thread runtime,
/// counting the file's bytes instead of storing them: for the fuzz targets and tests.
/// Returns the fields and the number of file bytes the sink received.
pub fn read_form_upload_in_memory(body: &[u8], boundary: &str, max_file: u64) -> Result<(FormUpload, u64), ApiError> {
    struct Count(u64);
    impl FileSink for Count {
        async fn write(&mut self, data: Bytes) -> Result<(), ApiError> {
            self.0 += data.len() as u64;
            Ok(())
        }
    }
    // Arbitrary chunking: the parser must not depend on where the body was split.
    let chunks: Vec<Result<Bytes, std::io::Error>> = body.chunks(4093).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().map_err(|e| ApiError::internal(e.to_string()))?;
    let mut sink = Count(0);
    let form = runtime.block_on(read_form_upload(
        futures_util::stream::iter(chunks),
        boundary,
        max_file,
        |_, _| Ok(()),
        &mut sink,
    ))?;
    Ok((form, sink.0))
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError::new(413, "upload too large")
        }
        multer::Error::StreamReadFailed(e) => ApiError::body(e.as_ref()),
        other => ApiError::bad_request(format!("malformed multipart body: {other}")),
    }
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn multipart_boundary(content_type: &str) -> Result<String, ApiError> {
    multer::parse_boundary(content_type)
        .map_err(|_| ApiError::bad_request("expected multipart/form-data with a boundary"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfop_forms() {
        let f = parse_pfop(
            b"bucket=b&key=a.mp4&fops=vframe%2Fjpg%2Foffset%2F1%3Bx&notifyURL=http%3A%2F%2Fh%2Fn&force=1&type=1",
        )
        .unwrap();
        assert_eq!(f.fops, "vframe/jpg/offset/1;x");
        assert_eq!(f.notify_url.as_deref(), Some("http://h/n"));
        assert!(f.force);
        assert_eq!(f.job_type, 1);
        assert!(parse_pfop(b"bucket=b&key=k").is_err());
        assert!(parse_pfop(b"bucket=b&bucket=c&key=k&fops=x").is_err());
        assert!(parse_pfop(b"bucket=b&key=k&fops=x&workflowTemplateID=t").is_err());
        assert_eq!(parse_pfop(&vec![b'a'; MAX_PFOP_BODY + 1]).unwrap_err().status, 413);
    }

    struct Count(u64);
    impl FileSink for Count {
        async fn write(&mut self, data: Bytes) -> Result<(), ApiError> {
            self.0 += data.len() as u64;
            Ok(())
        }
    }

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = String::new();
        for (name, value) in parts {
            let file = if *name == "file" { "; filename=\"a.mp4\"\r\nContent-Type: video/mp4" } else { "" };
            out.push_str(&format!("--XX\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"));
        }
        out.push_str("--XX--\r\n");
        out.into_bytes()
    }

    fn read(parts: &[(&str, &str)], max: u64) -> Result<(FormUpload, u64, usize), ApiError> {
        let data = Bytes::from(body(parts));
        let stream = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(data)]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut sink = Count(0);
        let mut checks = 0;
        let form = rt.block_on(read_form_upload(
            stream,
            "XX",
            max,
            |_, _| {
                checks += 1;
                Ok(())
            },
            &mut sink,
        ))?;
        Ok((form, sink.0, checks))
    }

    #[test]
    fn form_uploads() {
        let (form, bytes, checks) =
            read(&[("token", "t"), ("key", "k.mp4"), ("crc32", "12"), ("x:a", "1"), ("file", "hello")], 100).unwrap();
        assert_eq!(
            (form.token.as_str(), form.finish.key.as_deref(), form.crc32, bytes, form.size),
            ("t", Some("k.mp4"), Some(12), 5, 5)
        );
        assert_eq!(form.file_mime.as_deref(), Some("video/mp4"));
        assert_eq!(checks, 2); // at the token, and again once the key was known
        assert_eq!(read(&[("token", "t"), ("file", "hello")], 4).unwrap_err().status, 413);
        assert_eq!(read(&[("file", "x")], 10).unwrap_err().status, 401);
        assert_eq!(read(&[("token", "t")], 10).unwrap_err().status, 400);
        assert_eq!(read(&[("token", "t"), ("key", "../x"), ("file", "x")], 10).unwrap_err().status, 400);
        assert_eq!(read(&[("token", "t"), ("file", "x"), ("file", "y")], 10).unwrap_err().status, 400);
        // A used field twice: which one is meant is unknown, so neither is taken.
        for twice in ["key", "crc32", "fname", "mimeType", "x:a", "x-qn-meta-a"] {
            let e = read(&[("token", "t"), (twice, "1"), (twice, "2"), ("file", "x")], 10).unwrap_err();
            assert!(e.status == 400 && e.message.contains("given twice"), "{twice}: {e:?}");
        }
        // Fields not used may repeat, as browsers' forms do.
        assert!(read(&[("token", "t"), ("accept", "a"), ("accept", "b"), ("file", "x")], 10).is_ok());
    }

    #[test]
    fn a_file_before_the_token_is_bounded() {
        let small = "s".repeat(MAX_FILE_BEFORE_TOKEN as usize);
        let (form, bytes, _) = read(&[("file", &small), ("token", "t")], 1 << 20).unwrap();
        assert_eq!((form.token.as_str(), bytes), ("t", MAX_FILE_BEFORE_TOKEN));
        let big = "b".repeat(MAX_FILE_BEFORE_TOKEN as usize + 1);
        let e = read(&[("file", &big), ("token", "t")], 1 << 20).unwrap_err();
        assert!(e.status == 400 && e.message.contains("before a valid token"), "{e:?}");
        // Without any token, too (nothing past the bound is taken).
        assert_eq!(read(&[("file", &big)], 1 << 20).unwrap_err().status, 400);
        // After the token, the file may be as big as the limit.
        assert_eq!(read(&[("token", "t"), ("file", &big)], 1 << 20).unwrap().1, big.len() as u64);
    }

    #[test]
    fn the_parser_holds_little_it_has_not_given_back() {
        // 4 KiB chunks (read_form_upload_in_memory): a preamble with no boundary stops at
        // MAX_UNPARSED, not at the whole-stream limit.
        let preamble = vec![b'a'; 64 << 20];
        let e = read_form_upload_in_memory(&preamble, "XX", 1 << 30).unwrap_err();
        assert!(e.status == 400 && e.message.contains("more than 256 KiB without a part"), "{e:?}");
        // Endless headers of a part, likewise.
        let mut headers = b"--XX\r\nContent-Disposition: form-data; name=\"token\"\r\n".to_vec();
        headers.extend(std::iter::repeat_n(b"X-A: b\r\n".iter().copied(), 1 << 20).flatten());
        let e = read_form_upload_in_memory(&headers, "XX", 1 << 30).unwrap_err();
        assert!(e.status == 400, "{e:?}");
        // Fields as long as allowed, and a file far larger than the bound, pass.
        let field = "f".repeat(MAX_FIELD_LEN as usize);
        let file = "v".repeat(4 << 20);
        let whole = body(&[("token", "t"), ("accept", &field), ("other", &field), ("file", &file)]);
        let (form, bytes) = read_form_upload_in_memory(&whole, "XX", 8 << 20).unwrap();
        assert_eq!((form.token.as_str(), bytes), ("t", file.len() as u64));
    }
}
