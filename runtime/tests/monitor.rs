//! Monitoring: Prometheus text after requests through a router, /_stats percentiles,
//! budgets, query timing against the real Postgres, process and pool gauges.
//! The metrics recorder is process-wide: every test uses its own route/shape names.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiforge_runtime::cache::{CacheConfig, CachedBody, MemoryTier, ResourceCache};
use apiforge_runtime::monitor::query::{self, TimedExt, timed};
use apiforge_runtime::monitor::{self, Budget, BudgetStatus, Stats, StatsReport, process};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Method, Request, StatusCode};
use tower::ServiceExt;

/// The value of the first sample of `name` whose labels contain every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn get_text(app: &Router, uri: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn app(stats: &Stats) -> Router {
    Router::new()
        .route("/mt-items/{id}", get(|| async { "item" }))
        .route(
            "/mt-fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .route(
            "/mt-slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                "slow"
            }),
        )
        .route(
            "/mt-hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/metrics", monitor::metrics_handler())
        .route("/_stats", stats.handler())
        .layer(stats.layer())
}

#[tokio::test]
async fn request_counters_and_latency_histograms_move() {
    monitor::install_recorder();
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats);
    let item = [
        ("route", "/mt-items/{id}"),
        ("method", "GET"),
        ("status_class", "2xx"),
    ];

    for id in 1..=3 {
        assert_eq!(
            get_text(&app, &format!("/mt-items/{id}")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        get_text(&app, "/mt-fail").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get_text(&app, "/mt-nowhere/42").await.0,
        StatusCode::NOT_FOUND
    );

    let (status, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sample(&text, "http_requests_total", &item),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_requests_total",
            &[("route", "/mt-fail"), ("status_class", "5xx")]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "http_requests_total",
            &[("route", "unmatched"), ("status_class", "4xx")]
        )
        .is_some(),
        "unmatched requests are labelled as such, not by their raw path"
    );
    assert!(!text.contains("/mt-nowhere/42"));
    assert_eq!(
        sample(
            &text,
            "http_request_duration_seconds_count",
            &[("route", "/mt-items/{id}"), ("method", "GET")]
        ),
        Some(3.0)
    );
    assert!(
        sample(
            &text,
            "http_request_duration_seconds_bucket",
            &[("route", "/mt-items/{id}"), ("le", "0.005")]
        )
        .is_some(),
        "rendered as a histogram with the configured buckets"
    );

    get_text(&app, "/mt-items/4").await;
    let text = get_text(&app, "/metrics").await.1;
    assert_eq!(sample(&text, "http_requests_total", &item), Some(4.0));
}

#[tokio::test]
async fn stats_report_real_requests_by_route_pattern() {
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats);
    for _ in 0..3 {
        get_text(&app, "/mt-slow").await;
    }
    let (status, body) = get_text(&app, "/_stats").await;
    assert_eq!(status, StatusCode::OK);
    let report: StatsReport = serde_json::from_str(&body).unwrap();
    let slow = report
        .routes
        .iter()
        .find(|r| r.route == "/mt-slow" && r.method == "GET")
        .expect("route reported");
    assert_eq!(slow.count, 3);
    assert!(slow.min_ms >= 29.0, "each request slept 30 ms: {slow:?}");
    assert!(
        slow.min_ms <= slow.p50_ms
            && slow.p50_ms <= slow.p99_ms
            && slow.p99_ms <= slow.max_ms * 1.01
    );
}

#[test]
fn stats_percentiles_match_injected_latencies() {
    let budget = Budget::new(
        "/injected",
        Method::GET,
        Duration::from_millis(90),
        Duration::from_millis(200),
    );
    let stats = Stats::new(Duration::from_secs(600), vec![budget]);
    for ms in 1..=100 {
        stats.record(
            "/injected",
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(ms),
        );
    }
    let report = stats.report();
    let r = report
        .routes
        .iter()
        .find(|r| r.route == "/injected")
        .unwrap();
    let close = |got: f64, want: f64| (got - want).abs() <= want * 0.011;
    assert_eq!(r.count, 100);
    assert!(close(r.min_ms, 1.0), "{r:?}");
    assert!(close(r.max_ms, 100.0), "{r:?}");
    assert!(close(r.avg_ms, 50.5), "{r:?}");
    assert!(close(r.p50_ms, 50.0), "{r:?}");
    assert!(close(r.p95_ms, 95.0), "{r:?}");
    assert!(close(r.p99_ms, 99.0), "{r:?}");
    let budget = r.budget.as_ref().unwrap();
    assert_eq!((budget.p95_ms, budget.p99_ms), (90.0, 200.0));
    assert_eq!(
        budget.status,
        BudgetStatus::Over,
        "p95 of 95 ms is over 90 ms"
    );
    assert_eq!(report.window_seconds, 600.0);
}

#[test]
fn budgeted_routes_without_traffic_are_listed_ok() {
    let stats = Stats::new(
        Duration::from_secs(60),
        vec![Budget::new(
            "/quiet",
            Method::POST,
            Duration::from_millis(5),
            Duration::from_millis(9),
        )],
    );
    let report = stats.report();
    assert_eq!(report.routes.len(), 1);
    let quiet = &report.routes[0];
    assert_eq!(
        (quiet.route.as_str(), quiet.method.as_str(), quiet.count),
        ("/quiet", "POST", 0)
    );
    assert_eq!(quiet.budget.as_ref().unwrap().status, BudgetStatus::Ok);
}

/// A `tracing` writer collecting output in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn a_route_over_budget_warns_once_per_window_and_sets_the_gauge() {
    monitor::install_recorder();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let window = Duration::from_millis(200);
    let route = "/mt-budget";
    let stats = Stats::new(
        window,
        vec![Budget::new(
            route,
            Method::GET,
            Duration::from_millis(10),
            Duration::from_millis(50),
        )],
    );
    let gauge = || {
        sample(
            &monitor::render_metrics(),
            "apiforge_budget_over",
            &[("route", route), ("method", "GET")],
        )
    };
    let warnings = || {
        captured
            .text()
            .matches("route over its latency budget")
            .count()
    };
    let record = |ms: u64, n: usize| {
        for _ in 0..n {
            stats.record(
                route,
                &Method::GET,
                StatusCode::OK,
                Duration::from_millis(ms),
            );
        }
    };

    tracing::subscriber::with_default(subscriber, || {
        record(40, 20);
        assert_eq!(warnings(), 0, "budgets are judged per completed window");
        std::thread::sleep(window + Duration::from_millis(50));
        record(40, 20); // the first of these closes the slow window
        assert_eq!(
            warnings(),
            1,
            "one warning for the window, not one per request"
        );
        assert_eq!(gauge(), Some(1.0));
        std::thread::sleep(window + Duration::from_millis(50));
        record(1, 20);
        assert_eq!(warnings(), 2, "the second slow window warns once too");
        std::thread::sleep(window + Duration::from_millis(50));
        record(1, 1);
        assert_eq!(warnings(), 2, "a fast window does not warn");
        assert_eq!(gauge(), Some(0.0));
    });
    let text = captured.text();
    assert!(
        text.contains("route=\"/mt-budget\"") || text.contains("route=/mt-budget"),
        "{text}"
    );
}

/// A database of its own, dropped at the end.
struct TestDb {
    admin: sqlx::PgPool,
    name: String,
    pool: sqlx::PgPool,
}

impl TestDb {
    async fn new() -> Self {
        let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .expect("Postgres at 127.0.0.1:5432");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("apiforge_test_{}_{nanos}", std::process::id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let pool = sqlx::PgPool::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
            .await
            .unwrap();
        Self { admin, name, pool }
    }

    async fn drop(self) {
        self.pool.close().await;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn queries_are_counted_and_slow_ones_logged_by_shape() {
    monitor::install_recorder();
    query::set_slow_threshold(Duration::from_millis(40));
    let db = TestDb::new().await;
    let pool = &db.pool;

    let rows: Vec<(i32,)> = timed(
        "mt.series",
        sqlx::query_as("SELECT generate_series(1, 5)").fetch_all(pool),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    let one: Option<(i32,)> = sqlx::query_as("SELECT 1")
        .fetch_optional(pool)
        .timed("mt.series")
        .await
        .unwrap();
    assert!(one.is_some());
    sqlx::query("SELECT pg_sleep(0.06)")
        .execute(pool)
        .timed("mt.sleep")
        .await
        .unwrap();
    let failed = sqlx::query("SELECT * FROM no_such_table")
        .execute(pool)
        .timed("mt.broken")
        .await;
    assert!(failed.is_err());

    let text = monitor::render_metrics();
    let series = [("query", "mt.series")];
    assert_eq!(
        sample(&text, "apiforge_db_queries_total", &series),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "apiforge_db_query_duration_seconds_count", &series),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "apiforge_db_slow_queries_total", &series),
        None
    );
    assert_eq!(
        sample(
            &text,
            "apiforge_db_slow_queries_total",
            &[("query", "mt.sleep")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "apiforge_db_query_errors_total",
            &[("query", "mt.broken")]
        ),
        Some(1.0)
    );

    process::record_once(Some(pool));
    let text = monitor::render_metrics();
    assert!(sample(&text, "apiforge_db_pool_connections", &[]).unwrap() >= 1.0);
    assert!(sample(&text, "apiforge_db_pool_max_connections", &[]).unwrap() >= 1.0);
    assert!(sample(&text, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    db.drop().await;
}

#[test]
fn process_gauges_and_the_cpu_counter() {
    monitor::install_recorder();
    // Burn a little CPU so the clock moves.
    let mut x = 0u64;
    for i in 0..20_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    process::record_once(None);
    let text = monitor::render_metrics();
    let value = |name: &str| sample(&text, name, &[]).unwrap_or_else(|| panic!("{name}: {text}"));
    let resident = value("process_resident_memory_bytes");
    assert!(resident > f64::from(1 << 20), "{text}");
    assert!(value("process_virtual_memory_bytes") >= resident, "{text}");
    assert!(value("process_threads") >= 1.0, "{text}");
    assert!(value("process_open_fds") >= 1.0, "{text}");
    assert!(value("process_max_fds") >= 0.0, "{text}");
    assert!(value("process_start_time_seconds") > 1.5e9, "{text}");
    assert!(value("process_cpu_seconds_total") > 0.0, "{text}");
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter\n"),
        "{text}"
    );
}

#[tokio::test]
async fn cache_hits_and_misses_are_counted_per_resource_and_tier() {
    monitor::install_recorder();
    let cache = ResourceCache::new(
        "mt_counted",
        CacheConfig {
            memory: Some(MemoryTier {
                max_entries: 10,
                ttl: Duration::from_secs(60),
            }),
            redis: None,
        },
        None,
    );
    for _ in 0..3 {
        cache
            .get_or_load("row:1", || async {
                Ok::<_, String>(Some(CachedBody::new("{}")))
            })
            .await
            .unwrap();
    }
    let text = monitor::render_metrics();
    let tier = |t| [("resource", "mt_counted"), ("tier", t)];
    assert_eq!(
        sample(&text, "apiforge_cache_hits_total", &tier("memory")),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "apiforge_cache_misses_total", &tier("memory")),
        Some(1.0)
    );
}

#[tokio::test]
async fn abandoned_requests_are_recorded_as_cancelled() {
    monitor::install_recorder();
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats);
    // As a timeout layer outside the monitor would: give up and drop the request.
    let abandoned =
        tokio::time::timeout(Duration::from_millis(50), get_text(&app, "/mt-hang")).await;
    assert!(abandoned.is_err());

    let text = monitor::render_metrics();
    assert_eq!(
        sample(
            &text,
            "http_requests_total",
            &[("route", "/mt-hang"), ("status_class", "cancelled")]
        ),
        Some(1.0)
    );
    let report = stats.report();
    let hang = report
        .routes
        .iter()
        .find(|r| r.route == "/mt-hang")
        .unwrap();
    assert_eq!(hang.count, 1);
    assert!(
        hang.min_ms >= 49.0,
        "counted with the time it was waited for: {hang:?}"
    );
}
