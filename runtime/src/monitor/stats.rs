//! Per-route latency statistics over a sliding window, and performance budgets.
//!
//! Each (route, method) keeps two HDR histograms of microseconds: the current window and
//! the previous one. Recording is one histogram increment under a per-route lock; the
//! percentiles are read from the histograms (never by sorting samples). When a window ends,
//! the completed window's p95/p99 are checked against the route's budget: over budget logs
//! one warning for that window and sets `apiforge_budget_over{route,method}` to 1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::{MethodRouter, get};
use hdrhistogram::Histogram as Hdr;
use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram};
use serde::{Deserialize, Serialize};

/// Label of requests that matched no route (keeps the label set bounded).
pub(super) const UNMATCHED: &str = "unmatched";

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];
/// Status classes, plus `cancelled`: the response future was dropped before completing
/// (a timeout layer outside gave up, or the client went away).
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "cancelled"];
const CANCELLED: usize = 5;
/// Highest latency tracked: one hour, in microseconds (higher values are clamped).
const MAX_MICROS: u64 = 3_600_000_000;

fn method_index(method: &Method) -> usize {
    match method.as_str() {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "PATCH" => 4,
        "DELETE" => 5,
        "OPTIONS" => 6,
        _ => 7,
    }
}

fn status_index(status: StatusCode) -> usize {
    (status.as_u16() / 100).clamp(1, 5) as usize - 1
}

/// A latency budget of one route: p95 and p99 ceilings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The route pattern as routed by axum, e.g. `/products/{id}`.
    pub route: String,
    /// The HTTP method.
    pub method: Method,
    /// Ceiling of the 95th percentile.
    pub p95: Duration,
    /// Ceiling of the 99th percentile.
    pub p99: Duration,
}

impl Budget {
    /// A budget for `method route`.
    pub fn new(route: impl Into<String>, method: Method, p95: Duration, p99: Duration) -> Self {
        Self {
            route: route.into(),
            method,
            p95,
            p99,
        }
    }
}

/// Whether a route is within its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetStatus {
    /// p95 and p99 are within the budget (or nothing was measured yet).
    Ok,
    /// p95 or p99 is over the budget.
    Over,
}

/// A budget and how the window measures up to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    /// The p95 ceiling, milliseconds.
    pub p95_ms: f64,
    /// The p99 ceiling, milliseconds.
    pub p99_ms: f64,
    /// `ok` or `over`.
    pub status: BudgetStatus,
}

/// Latency figures of one route and method over the window (milliseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteReport {
    /// The route pattern (`unmatched` for requests no route matched).
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// Requests measured.
    pub count: u64,
    /// Fastest.
    pub min_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Mean.
    pub avg_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The route's budget, if it has one.
    pub budget: Option<BudgetReport>,
}

/// The `/_stats` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Length of one window; figures cover the current window and the previous one.
    pub window_seconds: f64,
    /// One entry per route and method seen (and per budget), sorted by route then method.
    pub routes: Vec<RouteReport>,
}

/// Request statistics of an app: feed it with [`Stats::layer`], read it with
/// [`Stats::handler`] or [`Stats::report`]. Cheap to clone (shared).
#[derive(Clone)]
pub struct Stats {
    inner: Arc<Inner>,
}

struct Inner {
    window: Duration,
    budgets: Vec<Budget>,
    /// By route pattern, hashed with foldhash: the patterns are the app's own (requests no
    /// route matched share one entry), and SipHash was a quarter of recording a request.
    routes: RwLock<HashMap<Box<str>, Arc<RouteEntry>, foldhash::fast::RandomState>>,
}

struct RouteEntry {
    route: Arc<str>,
    methods: [MethodEntry; 8],
}

#[derive(Default)]
struct MethodEntry {
    requests: [OnceLock<Counter>; 6],
    duration: OnceLock<Histogram>,
    budget: Option<Budget>,
    over: OnceLock<Gauge>,
    /// Allocated on the first request with this method.
    window: Mutex<Option<Window>>,
}

struct Window {
    current: Hdr<u64>,
    previous: Hdr<u64>,
    started: Instant,
}

impl Stats {
    /// Statistics over `window` (e.g. 60 s) with these budgets.
    pub fn new(window: Duration, budgets: Vec<Budget>) -> Self {
        assert!(!window.is_zero(), "a stats window must be longer than zero");
        Self {
            inner: Arc::new(Inner {
                window,
                budgets,
                routes: RwLock::new(HashMap::default()),
            }),
        }
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.inner.window
    }

    /// The budgets.
    pub fn budgets(&self) -> &[Budget] {
        &self.inner.budgets
    }

    /// The tower layer that records every request (see [`super::RequestMetricsLayer`]).
    pub fn layer(&self) -> super::RequestMetricsLayer {
        super::RequestMetricsLayer::new(self.clone())
    }

    /// A `GET` route answering [`Stats::report`] as JSON: `.route("/_stats", stats.handler())`.
    pub fn handler<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let stats = self.clone();
        get(move || {
            let stats = stats.clone();
            async move { Json(stats.report()) }
        })
    }

    /// Records one request: `route` is the matched pattern (e.g. `/products/{id}`).
    /// Updates `http_requests_total{route,method,status_class}`,
    /// `http_request_duration_seconds{route,method}` and the window.
    pub fn record(&self, route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
        self.record_class(route, method, status_index(status), elapsed, Instant::now());
    }

    /// [`record`](Self::record) of a request that ended at `now` (saves reading the clock).
    pub(super) fn record_at(
        &self,
        route: &str,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
        now: Instant,
    ) {
        self.record_class(route, method, status_index(status), elapsed, now);
    }

    /// Records a request abandoned after `elapsed` (status class `cancelled`): it counts in
    /// the latency figures, where such slow requests matter most.
    pub fn record_cancelled(&self, route: &str, method: &Method, elapsed: Duration) {
        self.record_class(route, method, CANCELLED, elapsed, Instant::now());
    }

    fn record_class(
        &self,
        route: &str,
        method: &Method,
        class: usize,
        elapsed: Duration,
        now: Instant,
    ) {
        let entry = self.entry(route);
        let m = method_index(method);
        let method_entry = &entry.methods[m];
        method_entry.requests[class]
            .get_or_init(|| {
                metrics::counter!(
                    "http_requests_total",
                    "route" => entry.route.to_string(),
                    "method" => METHODS[m],
                    "status_class" => STATUS_CLASSES[class]
                )
            })
            .increment(1);
        method_entry
            .duration
            .get_or_init(|| {
                metrics::histogram!(
                    "http_request_duration_seconds",
                    "route" => entry.route.to_string(),
                    "method" => METHODS[m]
                )
            })
            .record(elapsed.as_secs_f64());

        let mut window = method_entry.window.lock().expect("stats lock poisoned");
        let window = window.get_or_insert_with(|| Window::new(now));
        self.rotate(window, now, &entry.route, m, method_entry);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(MAX_MICROS);
        window.current.saturating_record(micros.max(1));
    }

    /// The figures of every route over the current and previous window.
    pub fn report(&self) -> StatsReport {
        let now = Instant::now();
        let mut routes = Vec::new();
        let mut seen = Vec::new();
        {
            let table = self.inner.routes.read().expect("stats lock poisoned");
            for entry in table.values() {
                for (m, method_entry) in entry.methods.iter().enumerate() {
                    let mut window = method_entry.window.lock().expect("stats lock poisoned");
                    let Some(window) = window.as_mut() else {
                        continue;
                    };
                    self.rotate(window, now, &entry.route, m, method_entry);
                    let mut merged = window.current.clone();
                    merged
                        .add(&window.previous)
                        .expect("histograms share their bounds");
                    seen.push((entry.route.to_string(), METHODS[m]));
                    routes.push(route_report(
                        &entry.route,
                        METHODS[m],
                        &merged,
                        method_entry.budget.as_ref(),
                    ));
                }
            }
        }
        for budget in &self.inner.budgets {
            let method = METHODS[method_index(&budget.method)];
            if !seen.iter().any(|(r, m)| r == &budget.route && *m == method) {
                let empty = Window::new(now).current;
                routes.push(route_report(&budget.route, method, &empty, Some(budget)));
            }
        }
        routes.sort_by(|a, b| (&a.route, &a.method).cmp(&(&b.route, &b.method)));
        StatsReport {
            window_seconds: self.inner.window.as_secs_f64(),
            routes,
        }
    }

    fn entry(&self, route: &str) -> Arc<RouteEntry> {
        if let Some(entry) = self
            .inner
            .routes
            .read()
            .expect("stats lock poisoned")
            .get(route)
        {
            return entry.clone();
        }
        let mut table = self.inner.routes.write().expect("stats lock poisoned");
        table
            .entry(route.into())
            .or_insert_with(|| {
                let methods = std::array::from_fn(|m| MethodEntry {
                    budget: self
                        .inner
                        .budgets
                        .iter()
                        .find(|b| b.route == route && method_index(&b.method) == m)
                        .cloned(),
                    ..MethodEntry::default()
                });
                Arc::new(RouteEntry {
                    route: Arc::from(route),
                    methods,
                })
            })
            .clone()
    }

    /// Closes the window if it is over: checks the budget on it, keeps it as `previous`.
    fn rotate(&self, window: &mut Window, now: Instant, route: &str, m: usize, e: &MethodEntry) {
        let elapsed = now.saturating_duration_since(window.started);
        if elapsed < self.inner.window {
            return;
        }
        if let Some(budget) = &e.budget {
            let p95 = micros_to_duration(window.current.value_at_quantile(0.95));
            let p99 = micros_to_duration(window.current.value_at_quantile(0.99));
            let over = !window.current.is_empty() && (p95 > budget.p95 || p99 > budget.p99);
            if over {
                tracing::warn!(
                    route,
                    method = METHODS[m],
                    p95_ms = p95.as_secs_f64() * 1e3,
                    p99_ms = p99.as_secs_f64() * 1e3,
                    budget_p95_ms = budget.p95.as_secs_f64() * 1e3,
                    budget_p99_ms = budget.p99.as_secs_f64() * 1e3,
                    requests = window.current.len(),
                    "route over its latency budget"
                );
            }
            e.over
                .get_or_init(|| {
                    metrics::gauge!(
                        "apiforge_budget_over",
                        "route" => route.to_owned(),
                        "method" => METHODS[m]
                    )
                })
                .set(if over { 1.0 } else { 0.0 });
        }
        std::mem::swap(&mut window.current, &mut window.previous);
        window.current.reset();
        if elapsed >= self.inner.window * 2 {
            // Nothing was recorded during the window that just ended.
            window.previous.reset();
        }
        window.started = now;
    }
}

impl Window {
    fn new(now: Instant) -> Self {
        let hdr = Hdr::new_with_bounds(1, MAX_MICROS, 2).expect("valid histogram bounds");
        Self {
            current: hdr.clone(),
            previous: hdr,
            started: now,
        }
    }
}

fn micros_to_duration(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1e3
}

fn route_report(route: &str, method: &str, h: &Hdr<u64>, budget: Option<&Budget>) -> RouteReport {
    let empty = h.is_empty();
    let q = |quantile: f64| {
        if empty {
            0.0
        } else {
            ms(h.value_at_quantile(quantile))
        }
    };
    let (p95, p99) = (q(0.95), q(0.99));
    RouteReport {
        route: route.to_owned(),
        method: method.to_owned(),
        count: h.len(),
        min_ms: if empty { 0.0 } else { ms(h.min()) },
        max_ms: if empty { 0.0 } else { ms(h.max()) },
        avg_ms: if empty { 0.0 } else { h.mean() / 1e3 },
        p50_ms: q(0.5),
        p95_ms: p95,
        p99_ms: p99,
        budget: budget.map(|b| {
            let (b95, b99) = (b.p95.as_secs_f64() * 1e3, b.p99.as_secs_f64() * 1e3);
            BudgetReport {
                p95_ms: b95,
                p99_ms: b99,
                status: if p95 > b95 || p99 > b99 {
                    BudgetStatus::Over
                } else {
                    BudgetStatus::Ok
                },
            }
        }),
    }
}
