//! `GET /<key>` (the stored object) and `GET /<key>?vframe/…` (sync processing; `vsample` and
//! `storyboard`, whose outputs are several files, are refused with 400) on a download host:
//! the bucket comes from the `Host` header (`--domain`, else `--default-bucket`); a private
//! bucket needs a signed URL, checked before anything about the key is revealed.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use super::{blocking, full, host, App, Body, Incoming};
use crate::qiniu::fop::Op;
use crate::qiniu::{download, key, ApiError};
use crate::store::now_s;
use crate::worker::SyncError;

pub async fn get(app: &Arc<App>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let host = host(&request).unwrap_or_default();
    let bucket = app
        .config
        .bucket_for_host(Some(&host))
        .ok_or_else(|| ApiError::new(404, "no bucket is served at this host (see --domain and --default-bucket)"))?
        .to_owned();
    let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = download::parse_target(target)?;
    if app.config.private.contains(&bucket) {
        download::verify(&app.config.credentials, &host, &url, now_s())?;
    }
    key::check_key(&url.key)?;
    let spec = url.fop.as_deref().map(sync_spec).transpose()?;
    let store = app.store.clone();
    let (b, k) = (bucket.clone(), url.key.clone());
    let missing = || ApiError::new(404, "no such file or directory");
    // The version looked up is the one served: its file is opened (a download) or pinned (a
    // sync request) under the store's lock, so an overwrite meanwhile cannot take it away.
    let Some(spec) = spec else {
        let (object, file) = blocking(move || store.open_object(&b, &k)).await?.ok_or_else(missing)?;
        return Ok(serve_object(request.method() == Method::HEAD, object, file));
    };
    let pinned = blocking(move || store.pin(&b, &k)).await?.ok_or_else(missing)?;
    let ticket = app.engine.submit_sync(spec, pinned, app.config.limits.sync_wait).map_err(sync_error)?;
    let output = ticket.wait().await.map_err(sync_error)?;
    let mut response = Response::new(full(output.data));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(output.mime));
    Ok(response)
}

/// The operation of a sync URL: one image (`vframe`). An operation of several outputs
/// (`vsample`, `storyboard`) cannot be one answer: 400, pointing at pfop, as for any
/// operation this route does not run.
fn sync_spec(fop: &str) -> Result<vframe::Spec, ApiError> {
    match Op::parse(fop).map_err(ApiError::bad_request)? {
        Op::Vframe(spec) => Ok(spec),
        op => Err(ApiError::bad_request(format!(
            "{} makes several files, which one response cannot carry: run it with pfop or an upload's \
             persistentOps, whose job status lists the saved keys",
            op.name()
        ))),
    }
}

fn sync_error(error: SyncError) -> ApiError {
    match error {
        SyncError::Busy => ApiError::new(503, "all workers are busy, retry later"),
        SyncError::Gone => ApiError::internal("processing failed: the server is stopping or a worker failed"),
        SyncError::Engine(vframe::Status::InvalidSpec, message) => ApiError::bad_request(message),
        SyncError::Engine(_, message) => ApiError::internal(format!("processing failed: {message}")),
    }
}

fn serve_object(head: bool, object: crate::store::Object, file: std::fs::File) -> Response<Body> {
    let mut response = if head {
        Response::new(full(Bytes::new()))
    } else {
        let stream = tokio_stream(tokio::fs::File::from_std(file)).map_ok(Frame::data);
        Response::new(BodyExt::boxed(StreamBody::new(stream)))
    };
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(object.fsize));
    if let Ok(mime) = HeaderValue::from_str(&object.mime) {
        headers.insert(CONTENT_TYPE, mime);
    }
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", object.hash)) {
        headers.insert(ETAG, etag);
    }
    for (name, value) in &object.meta {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    response
}

/// A file as a stream of 256 KiB chunks.
fn tokio_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync {
    futures_util::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 256 * 1024];
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.truncate(n);
        Ok(Some((Bytes::from(buffer), file)))
    })
}
