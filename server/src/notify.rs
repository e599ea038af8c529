//! Job notifications: `POST <notifyURL>` with the job's prefop JSON when it ends.
//!
//! Only `http` and `https` URLs are accepted, without user info, and, when an allow-list is
//! configured, only to the hosts on it; this is checked when the job is submitted and again
//! before every attempt. Redirects are not followed (a 3xx is a failed attempt). A receiver
//! that does not answer 2xx within the timeout is tried again after a delay that doubles
//! from `delay` up to `max_delay`; after `attempts` attempts the job's code becomes 4. Due
//! times and attempt counts are in the job store, so retries go on across restarts.
//! Delivery is at least once: a crash between a delivery and its record sends it again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, Semaphore};

use crate::config::NotifySettings;
use crate::metrics::Metrics;
use crate::store::jobs::DueNotification;
use crate::store::{now_ms, Store};

/// The longest notify URL accepted.
pub const MAX_URL_LEN: usize = 2048;
const CONCURRENT_SENDS: usize = 16;

/// Checks a notify URL against the rules above.
pub fn check_url(url: &str, allow: &[String]) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err("notify URL too long".into());
    }
    let uri: http::Uri = url.parse().map_err(|_| format!("invalid notify URL {}", crate::qiniu::quote(url)))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("notify URLs must be http or https".into()),
    }
    let authority = uri.authority().ok_or("notify URL without a host")?;
    if authority.as_str().contains('@') {
        return Err("notify URLs may not carry user info".into());
    }
    // A port that is no TCP port (0, past 65535, empty) must be refused: `http` reads it as
    // "no port", and the notification would go to the scheme's default.
    let after_host = authority.as_str().rsplit_once(']').map_or(authority.as_str(), |(_, rest)| rest);
    if let Some((_, port)) = after_host.rsplit_once(':') {
        if !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(format!("invalid port {} in the notify URL", crate::qiniu::quote(port)));
        }
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.is_empty() {
        return Err("notify URL without a host".into());
    }
    if !allow.is_empty() && !allow.iter().any(|entry| host_matches(entry, &host)) {
        return Err(format!("notify host {} is not on this server's allow-list", crate::qiniu::quote(&host)));
    }
    Ok(())
}

fn host_matches(entry: &str, host: &str) -> bool {
    match entry.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1 && host.ends_with(suffix) && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => entry.trim_start_matches('[').trim_end_matches(']') == host,
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends due notifications until stopped.
pub struct Notifier {
    store: Arc<Store>,
    settings: NotifySettings,
    metrics: Arc<Metrics>,
    client: HttpsClient,
    wake: Arc<Notify>,
    in_flight: Mutex<HashSet<String>>,
    sends: Semaphore,
}

impl Notifier {
    pub fn new(store: Arc<Store>, settings: NotifySettings, metrics: Arc<Metrics>, wake: Arc<Notify>) -> Notifier {
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Notifier {
            store,
            settings,
            metrics,
            client,
            wake,
            in_flight: Mutex::new(HashSet::new()),
            sends: Semaphore::new(CONCURRENT_SENDS),
        }
    }

    /// The loop: sends what is due, then sleeps until the next due time (at most a second)
    /// or until a job ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            let store = self.store.clone();
            let due = tokio::task::spawn_blocking(move || store.due_notifications(now_ms(), 64)).await;
            let mut sleep_ms = 1000;
            match due {
                Ok(Ok((due, next))) => {
                    for notification in due {
                        let fresh =
                            self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(notification.id.clone());
                        if fresh {
                            let me = self.clone();
                            tokio::spawn(async move { me.attempt(notification).await });
                        }
                    }
                    if let Some(next) = next {
                        sleep_ms = (next - now_ms()).clamp(1, 1000);
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "cannot read due notifications"),
                Err(e) => tracing::error!(error = %e, "notification scan failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    async fn attempt(self: Arc<Self>, notification: DueNotification) {
        let _permit = self.sends.acquire().await;
        let attempts = notification.attempts + 1;
        let result = self.send(&notification).await;
        let store = self.store.clone();
        let id = notification.id.clone();
        let outcome = match &result {
            Ok(()) => "delivered",
            Err(_) if attempts >= self.settings.attempts => "gave_up",
            Err(_) => "retry",
        };
        match &result {
            Ok(()) => tracing::info!(job = %id, url = %notification.url, attempts, "notified"),
            Err(e) => {
                tracing::warn!(job = %id, url = %notification.url, attempts, error = %e, outcome, "notify failed")
            }
        }
        self.metrics.notify.get_or_create(&Metrics::outcome(outcome)).inc();
        let retry_at = (outcome == "retry").then(|| now_ms() + self.backoff(attempts).as_millis() as i64);
        let recorded = tokio::task::spawn_blocking(move || match result {
            Ok(()) => store.notify_delivered(&id, attempts),
            Err(_) => store.notify_failed(&id, attempts, retry_at),
        })
        .await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::error!(job = %notification.id, "cannot record a notify attempt; it will be repeated");
        }
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&notification.id);
        self.wake.notify_one();
    }

    /// The wait after the `attempts`-th failure.
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.settings.delay.saturating_mul(factor).min(self.settings.max_delay)
    }

    async fn send(&self, notification: &DueNotification) -> Result<(), String> {
        check_url(&notification.url, &self.settings.allow)?;
        let body = serde_json::to_vec(&notification.body).map_err(|e| e.to_string())?;
        let request = http::Request::post(&notification.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, concat!("vframe-server/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
            let status = response.status();
            // Read (and drop) a bounded answer so the connection can be reused.
            let _ = Limited::new(response.into_body(), 64 * 1024).collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the receiver answered {status}"))
            }
        };
        tokio::time::timeout(self.settings.timeout, exchange).await.map_err(|_| "timed out".to_owned())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8/n", &[]).is_ok());
        assert!(check_url("https://hooks.example.com/n?a=1", &[]).is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://h/x",
            "gopher://h",
            "http:///x",
            "//h/x",
            "http://u:p@h/x",
            "javascript:alert(1)",
            "",
            "h/x",
            "http://127.0.0.1:99999/hook",
            "http://127.0.0.1:65536/hook",
            "http://127.0.0.1:0/hook",
            "http://[::1]:70000/hook",
            "http://h:/hook",
        ] {
            assert!(check_url(bad, &[]).is_err(), "{bad}");
        }
        let allow = vec!["127.0.0.1".to_owned(), "*.example.com".to_owned(), "::1".to_owned()];
        assert!(check_url("http://127.0.0.1:9/n", &allow).is_ok());
        assert!(check_url("http://a.example.com/n", &allow).is_ok());
        assert!(check_url("http://[::1]:5/n", &allow).is_ok());
        assert!(check_url("http://example.com/n", &allow).is_err());
        assert!(check_url("http://badexample.com/n", &allow).is_err());
        assert!(check_url("http://10.0.0.1/n", &allow).is_err());
    }
}
