//! Persistent processing: `pfop` (submit), `prefop` (status), and the shared step that turns a
//! fops string into a job; also `/metrics` and the region query.

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use super::{blocking, host, json, read_body, App, Body, Incoming};
use crate::qiniu::auth::{verify_management, SignedRequest};
use crate::qiniu::form::{parse_pfop, MAX_PFOP_BODY};
use crate::qiniu::wire::Item;
use crate::qiniu::{fop, key, ApiError};
use crate::store::{now_s, random_id, NewJob};

/// A job's fops, checked, before the job exists.
pub struct PlannedJob {
    pub items: Vec<Item>,
    pub notify_url: Option<String>,
    pub pipeline: String,
    pub job_type: i64,
}

/// Checks fops and the notify URL (400 when nothing valid or the URL is not allowed).
pub fn plan_job(
    app: &App,
    fops: &str,
    notify_url: Option<String>,
    pipeline: Option<String>,
    job_type: i64,
) -> Result<PlannedJob, ApiError> {
    let parsed = fop::parse_fops(fops)?;
    if let Some(url) = &notify_url {
        crate::notify::check_url(url, &app.config.notify.allow).map_err(ApiError::bad_request)?;
    }
    let pipeline = pipeline.unwrap_or_else(|| "0.default".to_owned());
    if pipeline.len() > 128 {
        return Err(ApiError::bad_request("pipeline name too long"));
    }
    let items = parsed
        .into_iter()
        .map(|(cmd, result)| match result {
            Ok(_) => Item::pending(&cmd),
            Err(message) => Item::failed(&cmd, message),
        })
        .collect();
    Ok(PlannedJob { items, notify_url, pipeline, job_type })
}

impl PlannedJob {
    pub fn into_job(self, reqid: &str, bucket: &str, key: &str, force: bool, task_from: &str) -> NewJob {
        NewJob {
            id: format!("z0.{}", random_id()),
            reqid: reqid.to_owned(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            items: self.items,
            notify_url: self.notify_url,
            force,
            pipeline: self.pipeline,
            job_type: self.job_type,
            task_from: task_from.to_owned(),
        }
    }
}

/// `POST /pfop/`.
pub async fn pfop(app: &Arc<App>, request: Request<Incoming>, reqid: &str) -> Result<Response<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, MAX_PFOP_BODY).await?;
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
    let qiniu_headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-qiniu-"))
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path_and_query,
        host,
        content_type: parts.headers.get(http::header::CONTENT_TYPE).and_then(|h| h.to_str().ok()),
        qiniu_headers,
        body: &body,
    };
    let authorization = parts.headers.get(http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let access_key = verify_management(&app.config.credentials, authorization, &signed, now_s())?;
    let form = parse_pfop(&body)?;
    key::check_bucket(&form.bucket)?;
    key::check_key(&form.key)?;
    let plan = plan_job(app, &form.fops, form.notify_url, form.pipeline, form.job_type)?;
    let job = plan.into_job(reqid, &form.bucket, &form.key, form.force, "api");
    let id = job.id.clone();
    let store = app.store.clone();
    blocking(move || {
        if !store.bucket_exists(&job.bucket)? {
            return Err(ApiError::new(631, "no such bucket"));
        }
        if store.get(&job.bucket, &job.key)?.is_none() {
            return Err(ApiError::new(612, "no such file or directory"));
        }
        store.insert_job(&job)
    })
    .await?;
    app.metrics.jobs_submitted.inc();
    app.engine.jobs_added();
    tracing::info!(job = %id, access_key = %access_key, "job accepted");
    Ok(json(StatusCode::OK, &serde_json::json!({ "persistentId": id })))
}

/// `GET /status/get/prefop?id=…` (no authentication, as Qiniu).
pub async fn prefop(app: &Arc<App>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let query = request.uri().query().unwrap_or_default();
    let id = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "id")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| ApiError::bad_request("id is required"))?;
    if id.len() > 64 {
        return Err(ApiError::new(612, "not such id in prefop"));
    }
    let store = app.store.clone();
    let status = blocking(move || store.prefop(&id)).await?;
    match status {
        Some(status) => Ok(json(StatusCode::OK, &status)),
        None => Err(ApiError::new(612, "not such id in prefop")),
    }
}

/// `GET /metrics`.
pub fn metrics(app: &App) -> Response<Body> {
    app.metrics.queue_depth.set(app.store.waiting_jobs() as i64);
    let mut response = Response::new(super::full(app.metrics.encode()));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// `GET /v4/query?ak=…&bucket=…`: the SDK's region query. Every service is this server,
/// at the host the client used.
pub fn region_query(request: &Request<Incoming>) -> Response<Body> {
    let here = host(request).unwrap_or_default();
    let domains = serde_json::json!({ "domains": [here] });
    json(
        StatusCode::OK,
        &serde_json::json!({
            "hosts": [{
                "region": "z0", "ttl": 86400,
                "up": domains, "io": domains, "rs": domains, "rsf": domains, "api": domains, "uc": domains,
            }]
        }),
    )
}
