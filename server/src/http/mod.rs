//! The HTTP server: connections (bounded; headers, request bodies and stalled responses
//! timed, see [`pace`]), one request id per request (`X-Reqid` on every response), routing,
//! Qiniu's JSON errors, logs and metrics.
//!
//! Routes (one listener serves the API, upload and download hosts, as a local Qiniu):
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/health`, `/metrics` | liveness (once ready), Prometheus text |
//! | GET | `/v4/query` | region query: every host is this server |
//! | POST | `/pfop`, `/pfop/` | persistent job (QBox or Qiniu v2 signature) |
//! | GET | `/status/get/prefop?id=` | job status |
//! | POST | `/` | form upload |
//! | POST | `/mkblk/…`, `/bput/…`, `/mkfile/…` | resumable upload v1 |
//! | POST, PUT, DELETE; GET with `UpToken` | `/buckets/<b>/objects/<k>/uploads…` | resumable upload v2 |
//! | GET, HEAD | `/<key>[?vframe/…]` | download, or sync processing (bucket from `Host`) |

mod download;
mod pace;
mod process;
mod upload;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;

use crate::config::Config;
use crate::metrics::{Metrics, RouteLabels, RouteOnly};
use crate::qiniu::{base64, wire, ApiError};
use crate::store::Store;
use crate::worker::Engine;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// The body of every request, held to the configured [`pace::Pace`].
pub type Incoming = pace::Paced;

/// What every handler shares.
pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    /// Wakes the notifier when a job ends.
    pub notify_wake: Arc<Notify>,
}

/// Accepts connections until `shutdown` resolves, then waits (up to `drain`) for the
/// requests in flight.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>, drain: Duration) {
    let limits = &app.config.limits;
    let limit = limits.max_connections;
    let pace =
        pace::Pace { grace: limits.body_timeout, min_rate: limits.body_min_rate, write_stall: limits.write_stall };
    let header_timeout = limits.header_timeout;
    let (per_peer, max_requests, max_age) =
        (limits.max_connections_per_ip, limits.max_requests_per_connection, limits.keepalive_time);
    let peers = Arc::new(Mutex::new(HashMap::new()));
    let connections = Arc::new(Semaphore::new(limit));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A share only where it can bind: with as many as all the slots, the slots wait.
        let share = if per_peer < limit {
            match PeerShare::take(&peers, peer.ip(), per_peer) {
                Some(share) => Some(share),
                None => {
                    tokio::spawn(refuse(stream, peer));
                    continue;
                }
            }
        } else {
            None
        };
        let app = app.clone();
        let life = Arc::new(Life { opened: Instant::now(), served: AtomicU64::new(0) });
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let (app, life) = (app.clone(), life.clone());
            async move {
                let mut response = handle(app, peer, request.map(|body| pace::Paced::new(body, pace))).await?;
                if life.last_request(max_requests, max_age) {
                    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(pace::WriteStall::new(stream, pace, share)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    // Idle connections close now; requests in flight get up to `drain` to finish.
    let _ = tokio::time::timeout(drain, graceful.shutdown()).await;
}

/// One client address's connections: a share of the slots, given back on drop (with the
/// socket, see [`pace::WriteStall`]). IPv6 clients are counted by /64, the block one host is
/// given; an IPv4-mapped address is its IPv4 address.
struct PeerShare {
    peers: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PeerShare {
    /// A share for `ip`, unless its address (or /64) holds `most` connections already.
    fn take(peers: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, most: usize) -> Option<PeerShare> {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        };
        let mut held = peers.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(ip).or_insert(0);
        if *count >= most {
            return None;
        }
        *count += 1;
        Some(PeerShare { peers: peers.clone(), ip })
    }
}

impl Drop for PeerShare {
    fn drop(&mut self) {
        let mut held = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// A connection past its address's share: 503 without reading the request, then closed.
async fn refuse(mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncWriteExt;
    tracing::warn!(peer = %peer, "refused: too many connections from this address");
    let body = wire::error_body("too many connections from this address");
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// How long a connection has been open and how many requests it has had: past either bound,
/// its next answer closes it (`Connection: close`).
struct Life {
    opened: Instant,
    served: AtomicU64,
}

impl Life {
    fn last_request(&self, max_requests: u64, max_age: Duration) -> bool {
        self.served.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests || self.opened.elapsed() >= max_age
    }
}

/// A request id: 12 random bytes, URL-safe base64.
fn new_reqid() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    base64::encode(bytes)
}

async fn handle(app: Arc<App>, peer: SocketAddr, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let reqid = new_reqid();
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", reqid = %reqid, method = %method, path = %path, peer = %peer);
    let (route, result) = route(&app, request, &reqid).instrument(span.clone()).await;
    let mut response = result.unwrap_or_else(|e| error_response(&e));
    if let Ok(value) = HeaderValue::from_str(&reqid) {
        response.headers_mut().insert("x-reqid", value);
    }
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    app.metrics.requests.get_or_create(&RouteLabels { route: route.to_owned(), status: status.to_string() }).inc();
    app.metrics.request_seconds.get_or_create(&RouteOnly { route: route.to_owned() }).observe(seconds);
    span.in_scope(|| tracing::info!(route, status, ms = (seconds * 1000.0).round() as u64, "served"));
    Ok(response)
}

async fn route(
    app: &Arc<App>,
    request: Request<Incoming>,
    reqid: &str,
) -> (&'static str, Result<Response<Body>, ApiError>) {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let is = |m: &Method| method == *m;
    match path.as_str() {
        "/health" if is(&Method::GET) => ("health", Ok(json(StatusCode::OK, &serde_json::json!({ "status": "ok" })))),
        "/metrics" if is(&Method::GET) => ("metrics", Ok(process::metrics(app))),
        "/v4/query" if is(&Method::GET) => ("query", Ok(process::region_query(&request))),
        "/pfop" | "/pfop/" if is(&Method::POST) => ("pfop", process::pfop(app, request, reqid).await),
        "/status/get/prefop" if is(&Method::GET) || is(&Method::POST) => {
            ("prefop", process::prefop(app, request).await)
        }
        "/" if is(&Method::POST) => ("form_upload", upload::form(app, request, reqid).await),
        _ if path.starts_with("/mkblk/") && is(&Method::POST) => ("mkblk", upload::mkblk(app, request).await),
        _ if path.starts_with("/bput/") && is(&Method::POST) => ("bput", upload::bput(app, request).await),
        _ if path.starts_with("/mkfile/") && is(&Method::POST) => ("mkfile", upload::mkfile(app, request, reqid).await),
        _ if path.starts_with("/buckets/") && is_upload_v2(&request) => {
            ("uploads_v2", upload::v2(app, request, reqid).await)
        }
        _ if is(&Method::GET) || is(&Method::HEAD) => ("download", download::get(app, request).await),
        _ => ("unknown", Err(ApiError::new(405, "no such route"))),
    }
}

/// Whether a request under `/buckets/` is for the v2 upload API rather than a download of a
/// key starting with `buckets/`: every v2 call but listing parts uses POST, PUT or DELETE,
/// which downloads never do, and listing parts (a GET) carries `Authorization: UpToken …`,
/// which downloads never do (a private download's token is in its query).
fn is_upload_v2(request: &Request<Incoming>) -> bool {
    match *request.method() {
        Method::GET => header(request, "authorization").is_some_and(|value| value.starts_with("UpToken ")),
        Method::HEAD => false,
        _ => true,
    }
}

/// The `Host` header (or the URI's authority).
pub fn host(request: &Request<Incoming>) -> Option<String> {
    request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

pub fn header<'a>(request: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Reads a whole body of at most `limit` bytes (413 beyond).
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(413, "request body too large")),
        Err(e) => Err(ApiError::body(e.as_ref())),
    }
}

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never| match never {}).boxed()
}

pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Qiniu's error response: the status and `{"error": "..."}`; 503 carries `Retry-After`.
pub fn error_response(error: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(full(wire::error_body(&error.message)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if error.status == 503 {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if error.status >= 500 {
        tracing::warn!(status = error.status, error = %error.message, "request failed");
    }
    response
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("internal error: {e}")))?
}
