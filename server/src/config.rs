//! Settings: command-line flags (the start contract), an optional TOML file (`--config`) for
//! more key pairs and limits, and the `VFRAME_ACCESS_KEY`/`VFRAME_SECRET_KEY` pair. Flags
//! win over the file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::qiniu::auth::Credentials;
use crate::qiniu::key;

/// The command line.
#[derive(Parser, Debug, Default)]
#[command(
    name = "vframe-server",
    version,
    about = "Qiniu-compatible thumbnail service (vframe, pfop, persistentOps uploads)"
)]
pub struct Args {
    /// A TOML file with more settings (key pairs, limits, notify); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory: objects, the SQLite job store, upload state.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A bucket whose downloads and sync processing need a signed URL (repeatable).
    #[arg(long, value_name = "BUCKET")]
    pub private: Vec<String>,
    /// Serve BUCKET's objects for requests whose Host is HOST (repeatable).
    #[arg(long, value_name = "HOST=BUCKET")]
    pub domain: Vec<String>,
    /// The bucket of download requests whose Host matches no --domain.
    #[arg(long, value_name = "BUCKET")]
    pub default_bucket: Option<String>,
    /// Engine threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Allow notify URLs to this host only (repeatable; `*.example.com` for subdomains).
    #[arg(long, value_name = "HOST")]
    pub notify_allow: Vec<String>,
    /// Log lines as JSON objects instead of text.
    #[arg(long)]
    pub log_json: bool,
    #[arg(long, env = "VFRAME_ACCESS_KEY", hide_env_values = true, hide = true)]
    pub access_key: Option<String>,
    #[arg(long, env = "VFRAME_SECRET_KEY", hide_env_values = true, hide = true)]
    pub secret_key: Option<String>,
}

/// The file (every field optional).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    default_bucket: Option<String>,
    #[serde(default)]
    private: Vec<String>,
    #[serde(default)]
    domains: BTreeMap<String, String>,
    workers: Option<usize>,
    #[serde(default)]
    keys: Vec<KeyPair>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    notify: FileNotify,
    log_json: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct KeyPair {
    access_key: String,
    secret_key: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_upload_bytes: Option<u64>,
    queue: Option<usize>,
    sync_queue: Option<usize>,
    sync_wait_ms: Option<u64>,
    job_timeout_ms: Option<u64>,
    frames_timeout_ms: Option<u64>,
    max_frames: Option<u64>,
    max_input_pixels: Option<u64>,
    max_decoded_frames: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_requests_per_connection: Option<u64>,
    keepalive_time_ms: Option<u64>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    body_min_rate: Option<u64>,
    write_stall_ms: Option<u64>,
    upload_expiry_hours: Option<u64>,
    engine_threads: Option<u32>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileNotify {
    allow: Option<Vec<String>>,
    attempts: Option<u32>,
    delay_ms: Option<u64>,
    max_delay_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

/// Limits (defaults in [`Limits::default`]).
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest upload (form or resumable).
    pub max_upload_bytes: u64,
    /// Jobs that may wait for a worker; more get 503 + Retry-After.
    pub queue: usize,
    /// Sync requests that may wait for a worker; more get 503 at once.
    pub sync_queue: usize,
    /// How long a sync request waits for a worker before 503.
    pub sync_wait: Duration,
    /// Engine time limit per thumbnail (sync or job item).
    pub job_timeout: Duration,
    /// Engine time limit per vsample or storyboard item (the whole item).
    pub frames_timeout: Duration,
    /// The most frames of a vsample item, or tiles of a storyboard item.
    pub max_frames: u64,
    pub max_input_pixels: u64,
    pub max_decoded_frames: u64,
    /// Open connections; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Open connections from one client address; more are answered 503 and closed (behind a
    /// proxy, every client is the proxy: raise it to `max_connections`).
    pub max_connections_per_ip: usize,
    /// A connection is closed after this many requests, or once open this long (nginx's
    /// `keepalive_requests` and `keepalive_time`).
    pub max_requests_per_connection: u64,
    pub keepalive_time: Duration,
    /// A request's headers (and an idle keep-alive connection's next ones) must arrive within this.
    pub header_timeout: Duration,
    /// A request body starts with this much time and may bank no more ahead; each
    /// `body_min_rate` bytes received earn one second (see `http::pace`).
    pub body_timeout: Duration,
    /// Bytes a second a request body must arrive at, and a stalled response be read at.
    pub body_min_rate: u64,
    /// A stalled response's time unit: a connection's balance of stall time is 4 of them.
    pub write_stall: Duration,
    /// Resumable uploads left unfinished this long are removed.
    pub upload_expiry: Duration,
    /// Decoder threads per engine call (0: cores / workers).
    pub engine_threads: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            queue: 1000,
            sync_queue: 64,
            sync_wait: Duration::from_secs(10),
            job_timeout: Duration::from_secs(60),
            frames_timeout: Duration::from_secs(3600),
            max_frames: 10_000,
            max_input_pixels: 8192 * 8192,
            max_decoded_frames: vframe::DEFAULT_MAX_DECODED_FRAMES,
            max_connections: 1024,
            max_connections_per_ip: 256,
            max_requests_per_connection: 1000,
            keepalive_time: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            body_min_rate: 500,
            write_stall: Duration::from_secs(30),
            upload_expiry: Duration::from_secs(24 * 3600),
            engine_threads: 0,
        }
    }
}

/// Notification settings.
#[derive(Clone, Debug)]
pub struct NotifySettings {
    /// Hosts notify URLs may name; empty allows any host.
    pub allow: Vec<String>,
    /// Attempts before giving up (code 4).
    pub attempts: u32,
    /// The wait after the first failure; doubles after each, up to `max_delay`.
    pub delay: Duration,
    pub max_delay: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for NotifySettings {
    fn default() -> NotifySettings {
        NotifySettings {
            allow: Vec::new(),
            attempts: 12,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub credentials: Credentials,
    pub private: BTreeSet<String>,
    pub domains: BTreeMap<String, String>,
    pub default_bucket: Option<String>,
    pub workers: usize,
    pub limits: Limits,
    pub notify: NotifySettings,
    pub log_json: bool,
}

impl Config {
    /// Builds the configuration from the command line (and the file it names).
    pub fn from_args(args: Args) -> Result<Config, String> {
        let file: File = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => File::default(),
        };
        let mut credentials = Credentials::new();
        for pair in &file.keys {
            credentials.add(&pair.access_key, &pair.secret_key)?;
        }
        match (&args.access_key, &args.secret_key) {
            (Some(ak), Some(sk)) => credentials.add(ak, sk)?,
            (None, None) => {}
            _ => return Err("set both VFRAME_ACCESS_KEY and VFRAME_SECRET_KEY".into()),
        }
        if credentials.is_empty() {
            return Err("no credentials: set VFRAME_ACCESS_KEY and VFRAME_SECRET_KEY (or keys in --config)".into());
        }
        let mut domains: BTreeMap<String, String> =
            file.domains.into_iter().map(|(host, bucket)| (host.to_ascii_lowercase(), bucket)).collect();
        for entry in &args.domain {
            let (host, bucket) =
                entry.split_once('=').ok_or_else(|| format!("--domain {entry}: expected HOST=BUCKET"))?;
            domains.insert(host.to_ascii_lowercase(), bucket.to_owned());
        }
        let private: BTreeSet<String> = file.private.into_iter().chain(args.private).collect();
        let default_bucket = args.default_bucket.or(file.default_bucket);
        for bucket in private.iter().chain(domains.values()).chain(default_bucket.iter()) {
            key::check_bucket(bucket).map_err(|e| e.message)?;
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let workers = args.workers.or(file.workers).unwrap_or(cores).max(1);
        let d = Limits::default();
        let l = file.limits;
        let ms = Duration::from_millis;
        let mut limits = Limits {
            max_upload_bytes: l.max_upload_bytes.unwrap_or(d.max_upload_bytes),
            queue: l.queue.unwrap_or(d.queue).max(1),
            sync_queue: l.sync_queue.unwrap_or(d.sync_queue).max(1),
            sync_wait: l.sync_wait_ms.map(ms).unwrap_or(d.sync_wait),
            job_timeout: l.job_timeout_ms.map(ms).unwrap_or(d.job_timeout),
            frames_timeout: l.frames_timeout_ms.map(ms).unwrap_or(d.frames_timeout),
            max_frames: l.max_frames.unwrap_or(d.max_frames),
            max_input_pixels: l.max_input_pixels.unwrap_or(d.max_input_pixels),
            max_decoded_frames: l.max_decoded_frames.unwrap_or(d.max_decoded_frames),
            max_connections: l.max_connections.unwrap_or(d.max_connections).max(1),
            max_connections_per_ip: l.max_connections_per_ip.unwrap_or(d.max_connections_per_ip).max(1),
            max_requests_per_connection: l.max_requests_per_connection.unwrap_or(d.max_requests_per_connection).max(1),
            keepalive_time: l.keepalive_time_ms.map(ms).unwrap_or(d.keepalive_time),
            header_timeout: l.header_timeout_ms.map(ms).unwrap_or(d.header_timeout).max(ms(1)),
            body_timeout: l.body_timeout_ms.map(ms).unwrap_or(d.body_timeout),
            body_min_rate: l.body_min_rate.unwrap_or(d.body_min_rate).max(1),
            write_stall: l.write_stall_ms.map(ms).unwrap_or(d.write_stall).max(ms(1)),
            upload_expiry: l.upload_expiry_hours.map(|h| Duration::from_secs(h * 3600)).unwrap_or(d.upload_expiry),
            engine_threads: l.engine_threads.unwrap_or(d.engine_threads),
        };
        if limits.engine_threads == 0 {
            limits.engine_threads = (cores / workers).max(1) as u32;
        }
        let dn = NotifySettings::default();
        let n = file.notify;
        let mut allow = n.allow.unwrap_or_default();
        allow.extend(args.notify_allow);
        let notify = NotifySettings {
            allow: allow.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            attempts: n.attempts.unwrap_or(dn.attempts).max(1),
            delay: n.delay_ms.map(ms).unwrap_or(dn.delay),
            max_delay: n.max_delay_ms.map(ms).unwrap_or(dn.max_delay),
            timeout: n.timeout_ms.map(ms).unwrap_or(dn.timeout),
        };
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".parse().expect("a valid address")),
            data: args.data.or(file.data).ok_or("--data DIR is required")?,
            credentials,
            private,
            domains,
            default_bucket,
            workers,
            limits,
            notify,
            log_json: args.log_json || file.log_json.unwrap_or(false),
        })
    }

    /// The bucket a download request's `Host` names.
    pub fn bucket_for_host(&self, host: Option<&str>) -> Option<&str> {
        let host = host.map(str::to_ascii_lowercase);
        let by_host = host.as_deref().and_then(|h| {
            self.domains.get(h).or_else(|| h.rsplit_once(':').and_then(|(name, _)| self.domains.get(name)))
        });
        by_host.or(self.default_bucket.as_ref()).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::parse_from(std::iter::once("vframe-server").chain(list.iter().copied()))
    }

    #[test]
    fn flags_and_file() {
        let dir = std::env::temp_dir().join(format!("vframe-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "workers = 3\n[[keys]]\naccess_key = \"a\"\nsecret_key = \"s\"\n[notify]\nattempts = 2\n[domains]\n\"Img.Local\" = \"pics\"\n").unwrap();
        let mut a = args(&[
            "--data",
            "/d",
            "--domain",
            "v.local:8080=videos",
            "--default-bucket",
            "dflt",
            "--config",
            file.to_str().unwrap(),
        ]);
        a.access_key = None;
        a.secret_key = None;
        let c = Config::from_args(a).unwrap();
        assert_eq!(c.workers, 3);
        assert_eq!(c.notify.attempts, 2);
        assert_eq!(c.bucket_for_host(Some("v.local:8080")), Some("videos"));
        assert_eq!(c.bucket_for_host(Some("img.local:80")), Some("pics"));
        assert_eq!(c.bucket_for_host(Some("other")), Some("dflt"));
        std::fs::write(&file, "surprise = 1\n").unwrap();
        assert!(Config::from_args(args(&["--data", "/d", "--config", file.to_str().unwrap()])).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn credentials_are_required() {
        let mut a = args(&["--data", "/d"]);
        a.access_key = None;
        a.secret_key = None;
        assert!(Config::from_args(a).unwrap_err().contains("credentials"));
        let mut a = args(&["--data", "/d", "--domain", "nobucket"]);
        a.access_key = Some("a".into());
        a.secret_key = Some("s".into());
        assert!(Config::from_args(a).is_err());
    }
}
