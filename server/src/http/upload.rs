//! Uploads: the form upload and both resumable protocols. Every path ends in
//! [`finish_upload`]: the bytes (already fsynced in the spool) are checked against the
//! token's policy, stored under the overwrite rules, and the persistentOps job is committed in
//! the same transaction, all before the 200.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyStream;
use md5::{Digest, Md5};
use serde_json::{json as value, Value};
use tokio::io::AsyncWriteExt;

use super::process::{plan_job, PlannedJob};
use super::{blocking, header, host, json, read_body, App, Body, Incoming};
use crate::qiniu::form::{multipart_boundary, read_form_upload, FileSink};
use crate::qiniu::resumable::{self, Finish, Id, BLOCK_SIZE, MAX_COMPLETE_BODY, MAX_PART_SIZE};
use crate::qiniu::uptoken::{self, UploadToken};
use crate::qiniu::{etag, ApiError};
use crate::store::uploads::concatenate;
use crate::store::{now_s, NewObject, Origin};

/// What a spool gathers before it writes.
const SPOOL_BUFFER: usize = 256 * 1024;

/// Bytes streamed to a spool file, hashed on the way.
struct Spool {
    path: PathBuf,
    /// Buffered: a body in tiny chunks (1-byte chunked encoding) would otherwise cost a trip
    /// through the blocking pool per chunk.
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    size: u64,
    limit: u64,
    etag: etag::Etag,
    crc32: crc32fast::Hasher,
    md5: Md5,
}

impl Spool {
    fn new(app: &App, limit: u64) -> Result<Spool, ApiError> {
        let (path, file) = app.store.spool_file().map_err(crate::store::internal)?;
        Ok(Spool {
            path,
            file: Some(tokio::io::BufWriter::with_capacity(SPOOL_BUFFER, tokio::fs::File::from_std(file))),
            size: 0,
            limit,
            etag: etag::Etag::new(),
            crc32: crc32fast::Hasher::new(),
            md5: Md5::new(),
        })
    }

    /// fsyncs the file; afterwards the bytes are durable.
    async fn finish(&mut self) -> Result<(), ApiError> {
        let mut file = self.file.take().ok_or_else(|| ApiError::internal("spool finished twice"))?;
        file.flush().await.map_err(crate::store::internal)?;
        file.get_ref().sync_all().await.map_err(crate::store::internal)
    }

    /// Hands the file over: it will not be deleted when the spool is dropped.
    fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.path)
    }
}

impl FileSink for Spool {
    async fn write(&mut self, data: Bytes) -> Result<(), ApiError> {
        self.size += data.len() as u64;
        if self.size > self.limit {
            return Err(ApiError::new(413, "upload too large"));
        }
        self.etag.update(&data);
        self.crc32.update(&data);
        self.md5.update(&data);
        let file = self.file.as_mut().ok_or_else(|| ApiError::internal("spool already finished"))?;
        file.write_all(&data).await.map_err(crate::store::internal)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

type BodyError = Box<dyn std::error::Error + Send + Sync>;

fn body_stream(body: Incoming) -> impl futures_util::Stream<Item = Result<Bytes, BodyError>> + Send + 'static {
    BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(e)),
        }
    })
}

/// Streams a body to a new spool file (413 beyond `limit`).
async fn spool_body(app: &App, body: Incoming, limit: u64) -> Result<Spool, ApiError> {
    let mut spool = Spool::new(app, limit)?;
    let mut stream = std::pin::pin!(body_stream(body));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::body(e.as_ref()))?;
        spool.write(chunk).await?;
    }
    spool.finish().await?;
    Ok(spool)
}

/// The token of `Authorization: UpToken <token>`, verified.
fn header_token(app: &App, request: &Request<Incoming>) -> Result<UploadToken, ApiError> {
    let authorization = header(request, "authorization").ok_or_else(|| ApiError::unauthorized("no upload token"))?;
    let token = authorization.strip_prefix("UpToken ").ok_or_else(ApiError::bad_token)?;
    uptoken::verify(&app.config.credentials, token.trim(), now_s())
}

/// The job a token's persistentOps asks for, checked before any byte is taken; with the queue
/// full the upload is refused (503) rather than stored without its job.
fn plan_persistent(app: &App, token: &UploadToken) -> Result<Option<PlannedJob>, ApiError> {
    let policy = &token.policy;
    let Some(ops) = &policy.persistent_ops else { return Ok(None) };
    let plan = plan_job(
        app,
        ops,
        policy.persistent_notify_url.clone(),
        policy.persistent_pipeline.clone(),
        policy.persistent_type,
    )?;
    app.store.check_queue()?;
    Ok(Some(plan))
}

/// An upload's bytes, durable in the spool, and what came with them.
struct Received {
    spooled: PathBuf,
    size: u64,
    hash: String,
    /// The key the request named (form field, mkfile segment, v2 path), if any.
    key: Option<String>,
    finish: Finish,
    /// The file part's own Content-Type (form uploads).
    default_mime: Option<String>,
}

/// Stores a spooled upload and its job; returns Qiniu's answer.
async fn finish_upload(
    app: &Arc<App>,
    token: &UploadToken,
    received: Received,
    reqid: &str,
) -> Result<Value, ApiError> {
    let Received { spooled, size, hash, key: requested_key, finish, default_mime } = received;
    let requested_key = requested_key.as_deref();
    let policy = &token.policy;
    let cleanup = |e: ApiError| {
        let _ = std::fs::remove_file(&spooled);
        e
    };
    policy.check_size(size).map_err(cleanup)?;
    let (key, overwrite) = policy.resolve_key(requested_key, &hash).map_err(cleanup)?;
    let plan = plan_persistent(app, token).map_err(cleanup)?;
    let job = plan.map(|p| p.into_job(reqid, &policy.bucket, &key, false, "upload"));
    let job_id = job.as_ref().map(|j| j.id.clone());
    let mime = finish
        .mime_type
        .clone()
        .or(default_mime)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let object = NewObject {
        bucket: policy.bucket.clone(),
        key: key.clone(),
        hash: hash.clone(),
        fsize: size,
        mime,
        meta: finish.meta,
        origin: Origin::Upload,
    };
    let store = app.store.clone();
    blocking(move || store.commit_upload(&spooled, object, overwrite, job)).await?;
    tracing::info!(bucket = %policy.bucket, key = %key, size, job = ?job_id, "stored");
    let mut answer = value!({ "hash": hash, "key": key });
    if let Some(id) = job_id {
        app.metrics.jobs_submitted.inc();
        app.engine.jobs_added();
        answer["persistentId"] = Value::String(id);
    }
    Ok(answer)
}

/// `POST /` multipart form upload.
pub async fn form(app: &Arc<App>, request: Request<Incoming>, reqid: &str) -> Result<Response<Body>, ApiError> {
    let content_type = header(&request, "content-type").unwrap_or_default().to_owned();
    let boundary = multipart_boundary(&content_type)?;
    let limit = app.config.limits.max_upload_bytes;
    let mut spool = Spool::new(app, limit)?;
    let mut verified: Option<UploadToken> = None;
    let on_token = |token: &str, key: Option<&str>| -> Result<(), ApiError> {
        let token = uptoken::verify(&app.config.credentials, token, now_s())?;
        token.policy.check_requested_key(key)?;
        plan_persistent(app, &token)?;
        verified = Some(token);
        Ok(())
    };
    let form = read_form_upload(body_stream(request.into_body()), &boundary, limit, on_token, &mut spool).await?;
    let token = verified.ok_or_else(ApiError::bad_token)?;
    spool.finish().await?;
    let crc32 = spool.crc32.clone().finalize();
    if form.crc32.is_some_and(|given| given != crc32) {
        return Err(ApiError::new(406, "crc32 not match"));
    }
    let hash = std::mem::take(&mut spool.etag).finish();
    let size = spool.size;
    let answer = finish_upload(
        app,
        &token,
        Received {
            spooled: spool.keep(),
            size,
            hash,
            key: form.finish.key.clone(),
            finish: form.finish,
            default_mime: form.file_mime,
        },
        reqid,
    )
    .await?;
    Ok(json(StatusCode::OK, &answer))
}

fn block_answer(
    app: &App,
    request_host: Option<String>,
    ctx: &Id,
    size: u64,
    crc32: u32,
    checksum: String,
) -> Response<Body> {
    let expiry = app.config.limits.upload_expiry.as_secs() as i64;
    json(
        StatusCode::OK,
        &value!({
            "ctx": ctx.as_str(),
            "checksum": checksum,
            "crc32": crc32,
            "offset": size,
            "host": format!("http://{}", request_host.unwrap_or_default()),
            "expired_at": now_s() + expiry,
        }),
    )
}

/// `POST /mkblk/<size>`: a new block with its first chunk.
pub async fn mkblk(app: &Arc<App>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    header_token(app, &request)?;
    let size = resumable::parse_mkblk(request.uri().path())?;
    let request_host = host(&request);
    let mut spool = spool_body(app, request.into_body(), size).await?;
    let crc32 = spool.crc32.clone().finalize();
    let written = spool.size;
    let checksum = std::mem::take(&mut spool.etag).finish();
    let path = spool.keep();
    let store = app.store.clone();
    let ctx = blocking(move || store.new_block(&path)).await?;
    Ok(block_answer(app, request_host, &ctx, written, crc32, checksum))
}

/// `POST /bput/<ctx>/<offset>`: the next chunk of a block.
pub async fn bput(app: &Arc<App>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    header_token(app, &request)?;
    let (ctx, offset) = resumable::parse_bput(request.uri().path())?;
    let request_host = host(&request);
    let room = BLOCK_SIZE.checked_sub(offset).ok_or_else(|| ApiError::bad_request("offset past the block"))?;
    let data = read_body(request.into_body(), room as usize).await?;
    let crc32 = crc32fast::hash(&data);
    let checksum = etag::of(&data);
    let store = app.store.clone();
    let block = ctx.clone();
    let size = blocking(move || store.append_block(&block, offset, &data, BLOCK_SIZE)).await?;
    Ok(block_answer(app, request_host, &ctx, size, crc32, checksum))
}

/// `POST /mkfile/<fsize>/…`: the blocks become the file.
pub async fn mkfile(app: &Arc<App>, request: Request<Incoming>, reqid: &str) -> Result<Response<Body>, ApiError> {
    let token = header_token(app, &request)?;
    let (fsize, finish) = resumable::parse_mkfile(request.uri().path())?;
    if fsize > app.config.limits.max_upload_bytes {
        return Err(ApiError::new(413, "upload too large"));
    }
    token.policy.check_requested_key(finish.key.as_deref())?;
    token.policy.check_size(fsize)?;
    plan_persistent(app, &token)?;
    let body = read_body(request.into_body(), MAX_COMPLETE_BODY).await?;
    let ctxs = resumable::parse_ctx_list(&body, fsize)?;
    let store = app.store.clone();
    let (spooled, hash, blocks) = blocking(move || {
        let blocks = store.blocks(&ctxs, BLOCK_SIZE, fsize)?;
        let mut hasher = etag::Etag::new();
        let spooled = concatenate(&store, &blocks, |chunk| hasher.update(chunk)).map_err(crate::store::internal)?;
        Ok((spooled, hasher.finish(), blocks))
    })
    .await?;
    let key = finish.key.clone();
    let answer =
        finish_upload(app, &token, Received { spooled, size: fsize, hash, key, finish, default_mime: None }, reqid)
            .await?;
    // The blocks go only once the file is stored: a mkfile refused after assembling (614, a
    // full queue) can be retried with the same ctx list until the blocks expire.
    for block in &blocks {
        let _ = std::fs::remove_file(block);
    }
    Ok(json(StatusCode::OK, &answer))
}

/// Resumable upload v2 (`/buckets/<bucket>/objects/<key>/uploads…`).
pub async fn v2(app: &Arc<App>, request: Request<Incoming>, reqid: &str) -> Result<Response<Body>, ApiError> {
    let token = header_token(app, &request)?;
    let path = resumable::parse_v2_path(request.uri().path())?;
    let policy = &token.policy;
    if path.bucket != policy.bucket {
        return Err(ApiError::new(403, "the bucket does not match the token's scope"));
    }
    policy.check_requested_key(path.key.as_deref())?;
    let expiry = app.config.limits.upload_expiry.as_secs() as i64;
    let method = request.method().clone();
    let Some(id) = path.upload_id.clone() else {
        if method != Method::POST {
            return Err(ApiError::new(405, "no such route"));
        }
        let store = app.store.clone();
        let (bucket, key, access_key) = (path.bucket.clone(), path.key.clone(), token.access_key.clone());
        let created = now_s();
        let id = blocking(move || store.create_upload(&bucket, key.as_deref(), &access_key, created)).await?;
        return Ok(json(StatusCode::OK, &value!({ "uploadId": id.as_str(), "expireAt": created + expiry })));
    };
    let store = app.store.clone();
    let lookup = id.clone();
    let upload = blocking(move || store.upload(&lookup)).await?;
    let upload = upload
        .filter(|u| u.bucket == path.bucket && u.key == path.key && u.access_key == token.access_key)
        .ok_or_else(|| ApiError::new(612, "no such upload"))?;
    match (method, path.part) {
        (Method::PUT, Some(number)) => {
            let given_md5 = header(&request, "content-md5").map(str::to_ascii_lowercase);
            let limit = MAX_PART_SIZE.min(app.config.limits.max_upload_bytes);
            let spool = spool_body(app, request.into_body(), limit).await?;
            let md5 = hex(&spool.md5.clone().finalize());
            if given_md5.is_some_and(|given| given != md5) {
                return Err(ApiError::bad_request("Content-MD5 does not match the part"));
            }
            let size = spool.size;
            let path = spool.keep();
            let store = app.store.clone();
            let etag = md5.clone();
            blocking(move || store.put_part(&id, number, &path, &etag, size)).await?;
            Ok(json(StatusCode::OK, &value!({ "etag": md5, "md5": md5 })))
        }
        (Method::POST, None) => {
            plan_persistent(app, &token)?;
            let body = read_body(request.into_body(), MAX_COMPLETE_BODY).await?;
            let (listed, finish) = resumable::parse_complete(&body)?;
            let store = app.store.clone();
            let max = app.config.limits.max_upload_bytes;
            let upload_id = id.clone();
            let (spooled, size, hash) = blocking(move || {
                let stored = store.parts(&upload_id)?;
                let mut sources = Vec::with_capacity(listed.len());
                let mut size = 0u64;
                for (number, etag) in &listed {
                    let part = stored
                        .iter()
                        .find(|p| p.number == *number)
                        .ok_or_else(|| ApiError::bad_request(format!("part {number} was not uploaded")))?;
                    if part.etag != *etag {
                        return Err(ApiError::bad_request(format!("part {number}: etag does not match")));
                    }
                    size += part.size;
                    sources.push(part.path.clone());
                }
                if size > max {
                    return Err(ApiError::new(413, "upload too large"));
                }
                let mut hasher = etag::Etag::new();
                let spooled =
                    concatenate(&store, &sources, |chunk| hasher.update(chunk)).map_err(crate::store::internal)?;
                Ok((spooled, size, hasher.finish()))
            })
            .await?;
            let answer = finish_upload(
                app,
                &token,
                Received { spooled, size, hash, key: upload.key.clone(), finish, default_mime: None },
                reqid,
            )
            .await?;
            let store = app.store.clone();
            blocking(move || store.delete_upload(&id)).await?;
            Ok(json(StatusCode::OK, &answer))
        }
        (Method::DELETE, None) => {
            let store = app.store.clone();
            blocking(move || store.delete_upload(&id)).await?;
            Ok(json(StatusCode::OK, &value!({})))
        }
        (Method::GET, None) => {
            let store = app.store.clone();
            let listed = id.clone();
            let parts = blocking(move || store.parts(&listed)).await?;
            let parts: Vec<Value> =
                parts.iter().map(|p| value!({ "partNumber": p.number, "etag": p.etag, "size": p.size })).collect();
            Ok(json(
                StatusCode::OK,
                &value!({ "uploadId": id.as_str(), "expireAt": upload.created + expiry, "partNumberMarker": 0, "parts": parts }),
            ))
        }
        _ => Err(ApiError::new(405, "no such route")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
