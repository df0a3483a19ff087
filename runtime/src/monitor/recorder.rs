//! The process-wide Prometheus recorder and the `/metrics` handler.

use std::sync::OnceLock;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets (seconds) of every `*_duration_seconds` metric: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often histogram storage is drained between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether [`install_recorder`] ran: metric handles made from then on record (a handle made
/// before any global recorder records nothing, so only these may be kept).
pub(crate) fn installed() -> bool {
    HANDLE.get().is_some()
}

/// The kind of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`*_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Distribution over [`LATENCY_BUCKETS`].
    Histogram,
}

/// Every metric family the runtime emits, with its kind and `# HELP` text: described to
/// the recorder when it is installed, so the page passes `promtool check metrics`.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "http_requests_total",
        Kind::Counter,
        "HTTP requests by matched route template, method and status class.",
    ),
    (
        "http_request_duration_seconds",
        Kind::Histogram,
        "HTTP request latency, from the router to the response head, in seconds.",
    ),
    (
        "apiforge_budget_over",
        Kind::Gauge,
        "1 when the last completed stats window of a budgeted route was over its p95 or p99 budget, else 0.",
    ),
    (
        "apiforge_cache_hits_total",
        Kind::Counter,
        "Response-cache hits by resource and tier.",
    ),
    (
        "apiforge_cache_misses_total",
        Kind::Counter,
        "Response-cache misses by resource and tier.",
    ),
    (
        "apiforge_cache_redis_errors_total",
        Kind::Counter,
        "Redis operations that failed (the cache then degrades to in-process).",
    ),
    (
        "apiforge_rate_limited_total",
        Kind::Counter,
        "Requests refused with 429 by rate limit (`client`, or `resource.operation`).",
    ),
    (
        "apiforge_db_queries_total",
        Kind::Counter,
        "Database queries by query shape.",
    ),
    (
        "apiforge_db_query_duration_seconds",
        Kind::Histogram,
        "Database query duration by query shape, in seconds.",
    ),
    (
        "apiforge_db_query_errors_total",
        Kind::Counter,
        "Failed database queries by query shape.",
    ),
    (
        "apiforge_db_slow_queries_total",
        Kind::Counter,
        "Database queries at or over the slow-query threshold, by query shape.",
    ),
    (
        "apiforge_streams_total",
        Kind::Counter,
        "Streams (exports) ended, by stream shape and outcome (complete, failed, aborted).",
    ),
    (
        "apiforge_stream_rows_total",
        Kind::Counter,
        "Rows sent by streams, by stream shape.",
    ),
    (
        "apiforge_stream_duration_seconds",
        Kind::Histogram,
        "Duration of streams (exports), from the first query to the last row sent, in seconds.",
    ),
    (
        "apiforge_db_pool_connections",
        Kind::Gauge,
        "Open connections of the database pool.",
    ),
    (
        "apiforge_db_pool_idle_connections",
        Kind::Gauge,
        "Idle connections of the database pool.",
    ),
    (
        "apiforge_db_pool_max_connections",
        Kind::Gauge,
        "Maximum connections of the database pool.",
    ),
    // The standard Prometheus process metrics, with their usual HELP texts (those of the
    // `metrics-process` crate that reads them; see `process`).
    (
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
    ),
    (
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
    ),
    (
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
    ),
    (
        "process_threads",
        Kind::Gauge,
        "Number of OS threads in the process.",
    ),
    (
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
    ),
    (
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
    ),
    (
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
    ),
];

/// Describes every family of [`FAMILIES`] to the current recorder (their `# HELP`).
pub fn describe_metrics() {
    for &(name, kind, help) in FAMILIES {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

/// Installs the Prometheus recorder as the process's global `metrics` recorder, once;
/// later calls (other apps or tests in the same process) return the same handle.
///
/// If another recorder was installed first by someone else, the returned handle renders
/// only an empty registry and a warning is logged.
pub fn install_recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_duration_seconds".to_owned()),
                    LATENCY_BUCKETS,
                )
                .expect("buckets are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => describe_metrics(),
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed; /metrics will be empty");
                }
            }
            let upkeep = handle.clone();
            // A thread, not a task: it must outlive any one Tokio runtime (tests make many).
            let spawned = std::thread::Builder::new()
                .name("apiforge-metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}

/// The current metrics in the Prometheus text exposition format (installs the recorder if
/// needed), with `process_cpu_seconds_total` read at the scrape (see
/// [`process::cpu_seconds_text`](super::process::cpu_seconds_text)).
pub fn render_metrics() -> String {
    let mut page = install_recorder().render();
    page.push_str(&super::process::cpu_seconds_text());
    page
}

/// A `GET` route answering the Prometheus text format: `.route("/metrics", metrics_handler())`.
pub fn metrics_handler<S: Clone + Send + Sync + 'static>() -> MethodRouter<S> {
    get(|| async { metrics_response() })
}

fn metrics_response() -> Response {
    let mut response = render_metrics().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_the_right_type() {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_metrics();
            for &(name, kind, _) in FAMILIES {
                match kind {
                    Kind::Counter => metrics::counter!(name).increment(1),
                    Kind::Gauge => metrics::gauge!(name).set(1.0),
                    Kind::Histogram => metrics::histogram!(name).record(0.001),
                }
            }
        });
        let page = handle.render();
        for &(name, kind, help) in FAMILIES {
            assert!(
                page.contains(&format!("# HELP {name} {help}\n")),
                "{name}: {page}"
            );
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            assert!(
                page.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}: {page}"
            );
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name}: only counters end in _total"
            );
        }
    }
}
