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
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "a metrics recorder was already installed; /metrics will be empty");
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
/// needed).
pub fn render_metrics() -> String {
    install_recorder().render()
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
