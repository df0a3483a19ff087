//! Monitoring: Prometheus metrics, per-route latency statistics with budgets, query timing,
//! process and pool gauges, and log set-up.
//!
//! Typical wiring of an app:
//! ```no_run
//! # use std::time::Duration;
//! # use apiforge_runtime::monitor::{self, Budget, Stats};
//! # use axum::{Router, routing::get};
//! # async fn app() -> Router {
//! monitor::init_tracing();
//! monitor::install_recorder();
//! monitor::query::set_slow_threshold(Duration::from_millis(100));
//! let stats = Stats::new(
//!     Duration::from_secs(60),
//!     vec![Budget::new("/products/{id}", http::Method::GET, Duration::from_millis(50), Duration::from_millis(100))],
//! );
//! Router::new()
//!     .route("/products/{id}", get(|| async { "…" }))
//!     .route("/metrics", monitor::metrics_handler())
//!     .route("/_stats", stats.handler())
//!     .layer(stats.layer())
//! # }
//! ```
//! Install the recorder before building caches or serving: metric handles resolved before
//! a recorder exists record nothing.

pub(crate) mod layer;
mod logging;
pub mod process;
pub mod query;
mod recorder;
pub(crate) mod span;
mod stats;

pub use layer::{RequestMetrics, RequestMetricsLayer};
pub use logging::{LOG_VALUE_MAX, init_tracing, log_safe, shutdown_tracing};
pub use recorder::{
    FAMILIES, Kind, LATENCY_BUCKETS, describe_metrics, install_recorder, metrics_handler,
    render_metrics,
};
pub use span::{
    Gate, GateLayer, Gated, GatedFuture, GatedSpan, GatedSpanLayer, RequestSpan, RequestSpanLayer,
};
pub use stats::{Budget, BudgetReport, BudgetStatus, RouteReport, Stats, StatsReport};
