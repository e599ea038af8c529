//! Prometheus metrics (text exposition at `GET /metrics`): requests by route and status,
//! request and job latency, queue depths, engine and notify outcomes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub request_seconds: Family<RouteOnly, Histogram, fn() -> Histogram>,
    pub jobs_submitted: Counter,
    pub jobs_finished: Family<Outcome, Counter>,
    /// From submission to the end of processing.
    pub job_seconds: Histogram,
    /// One engine call (sync or job item).
    pub engine_seconds: Histogram,
    pub queue_depth: Gauge,
    pub sync_queue_depth: Gauge,
    /// The most sync requests that ever waited at once (the bound holds when this stays
    /// at or below the configured `sync_queue`).
    pub sync_queue_peak: Gauge,
    pub sync_rejected: Counter,
    pub notify: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("vframe");
        let requests = Family::<RouteLabels, Counter>::default();
        let request_seconds = Family::<RouteOnly, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let jobs_submitted = Counter::default();
        let jobs_finished = Family::<Outcome, Counter>::default();
        let job_seconds = latency_histogram();
        let engine_seconds = latency_histogram();
        let queue_depth = Gauge::default();
        let sync_queue_depth = Gauge::default();
        let sync_queue_peak = Gauge::default();
        let sync_rejected = Counter::default();
        let notify = Family::<Outcome, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_seconds", "HTTP request latency", request_seconds.clone());
        registry.register("jobs_submitted", "Persistent jobs accepted", jobs_submitted.clone());
        registry.register("jobs_finished", "Persistent jobs finished, by outcome (ok, failed)", jobs_finished.clone());
        registry.register("job_seconds", "Persistent job latency, submission to done", job_seconds.clone());
        registry.register("engine_seconds", "Time of one engine call", engine_seconds.clone());
        registry.register("job_queue_depth", "Persistent jobs waiting for a worker", queue_depth.clone());
        registry.register("sync_queue_depth", "Sync requests waiting for a worker", sync_queue_depth.clone());
        registry.register("sync_queue_peak", "The most sync requests that waited at once", sync_queue_peak.clone());
        registry.register(
            "sync_rejected",
            "Sync requests refused with 503 (queue full or waited too long)",
            sync_rejected.clone(),
        );
        registry.register("notify", "Notification attempts by outcome (delivered, retry, gave_up)", notify.clone());
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because stderr could not take them (blocked, closed or full)",
            crate::log::dropped().clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            jobs_submitted,
            jobs_finished,
            job_seconds,
            engine_seconds,
            queue_depth,
            sync_queue_depth,
            sync_queue_peak,
            sync_rejected,
            notify,
        }
    }

    pub fn outcome(name: &str) -> Outcome {
        Outcome { outcome: name.to_owned() }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
