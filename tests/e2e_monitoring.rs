//! Monitoring of a generated API, end to end (issue 6): the Prometheus page, `/_stats` with
//! budgets, the slow-query log and the log formats, against a real generated shop on
//! Postgres (and Redis for the cache tiers).
//!
//! One spec variant of `examples/shop.yaml` serves every test: `resource_interval: 1s`,
//! `stats_window: 3s`, `slow_query: 0s` (every query is slow) and an impossible budget on
//! `GET /products/{id}` (p95/p99 1us). It is generated and built once per test process.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::prom::Page;
use common::{Project, Server, TestDb};
use serde_json::{Value, json};

/// The stats window of the variant (seconds).
const WINDOW_SECS: u64 = 3;
const GET_ROUTE: &str = "/products/{id}";
const BUDGET_WARNING: &str = "route over its latency budget";

/// Writes the monitoring variant of `examples/shop.yaml` into `dir`.
fn monitoring_spec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(common::workspace().join("examples/shop.yaml")).unwrap();
    let mut spec: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    spec["name"] = "mon_shop".into();
    spec["database"]["slow_query"] = "0s".into();
    spec["monitoring"]["resource_interval"] = "1s".into();
    spec["monitoring"]["stats_window"] = format!("{WINDOW_SECS}s").into();
    spec["resources"]["products"]["budgets"]["get"] =
        serde_yaml::from_str("{ p95: 1us, p99: 1us }").unwrap();
    let path = dir.join("mon_shop.yaml");
    std::fs::write(&path, serde_yaml::to_string(&spec).unwrap()).unwrap();
    path
}

/// The built server of the variant, shared by the tests of this file. It is kept under
/// `target/e2e/monitoring/` (the generated project's temp dir is removed).
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let specs = tempfile::tempdir().unwrap();
        let project = Project::generate(monitoring_spec(specs.path()).to_str().unwrap());
        let built = project.build();
        let dir = common::e2e_target().join("monitoring");
        std::fs::create_dir_all(&dir).unwrap();
        let staged = dir.join(format!("mon_shop.{}", std::process::id()));
        std::fs::copy(&built, &staged).unwrap();
        let binary = dir.join("mon_shop");
        // A rename replaces the file even while another test run executes the old one.
        std::fs::rename(&staged, &binary).unwrap();
        binary
    })
}

fn create_product(server: &Server, name: &str, category: &str) -> i64 {
    let res = server.post(
        "/products",
        &json!({ "name": name, "category": category, "price": "9.99" }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["id"].as_i64().expect("a numeric id")
}

fn get_ok(server: &Server, path: &str) {
    let res = server.get(path);
    assert_eq!(res.status, 200, "GET {path}: {}", res.text());
}

fn scrape(server: &Server) -> Page {
    let res = server.get("/metrics");
    assert_eq!(res.status, 200);
    assert!(
        res.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        res.header("content-type")
    );
    Page::parse(&res.text()).unwrap_or_else(|e| panic!("{e}\n{}", res.text()))
}

/// `after - before` of the sum of `name{labels}`.
fn delta(before: &Page, after: &Page, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

/// The `/_stats` row of `method route`.
fn stats_route(report: &Value, route: &str, method: &str) -> Value {
    report["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == route && r["method"] == method)
        .unwrap_or_else(|| panic!("no {method} {route} in {report:#}"))
        .clone()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} not a number in {v}"))
}

#[test]
fn metrics_page_is_prometheus_text_and_moves_with_traffic() {
    let db = TestDb::create();
    let namespace = format!("mon_{}", common::unique_suffix());
    let (server, log) = Server::start_logged(
        binary(),
        &db.url,
        &[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_NAMESPACE", &namespace),
        ],
    );
    let id = create_product(&server, "Lamp", "home");
    let row = format!("/products/{id}");
    let products = [("resource", "products")];

    // Five GETs of one row: one load (memory and Redis miss), then four memory hits.
    let before = scrape(&server);
    for _ in 0..5 {
        get_ok(&server, &row);
    }
    let after_gets = scrape(&server);
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after_gets, name, labels);
    let get_2xx = [
        ("route", GET_ROUTE),
        ("method", "GET"),
        ("status_class", "2xx"),
    ];
    assert_eq!(d("http_requests_total", &get_2xx), 5.0);
    let memory = [products[0], ("tier", "memory")];
    let redis = [products[0], ("tier", "redis")];
    assert_eq!(d("apiforge_cache_hits_total", &memory), 4.0);
    assert_eq!(d("apiforge_cache_misses_total", &memory), 1.0);
    assert_eq!(d("apiforge_cache_misses_total", &redis), 1.0);
    let get_shape = [("query", "products.get")];
    assert_eq!(
        d("apiforge_db_query_duration_seconds_count", &get_shape),
        1.0
    );

    // Not found (never cached: each one loads) and a list.
    for _ in 0..2 {
        assert_eq!(server.get("/products/987654321").status, 404);
    }
    for _ in 0..3 {
        get_ok(&server, "/products?category=home");
    }
    // Let the resource sampler run at least once more (`resource_interval: 1s`).
    std::thread::sleep(Duration::from_millis(1500));
    let after = scrape(&server);
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);

    // Requests by route, method and status class; the latency histogram of the route.
    let get_4xx = [
        ("route", GET_ROUTE),
        ("method", "GET"),
        ("status_class", "4xx"),
    ];
    assert_eq!(d("http_requests_total", &get_2xx), 5.0);
    assert_eq!(d("http_requests_total", &get_4xx), 2.0);
    let list_2xx = [
        ("route", "/products"),
        ("method", "GET"),
        ("status_class", "2xx"),
    ];
    assert_eq!(d("http_requests_total", &list_2xx), 3.0);
    assert_eq!(after.kind("http_requests_total"), Some("counter"));
    assert_eq!(
        after.kind("http_request_duration_seconds"),
        Some("histogram")
    );
    let get_route = [("route", GET_ROUTE), ("method", "GET")];
    assert_eq!(d("http_request_duration_seconds_count", &get_route), 7.0);
    let inf = [get_route[0], get_route[1], ("le", "+Inf")];
    assert_eq!(d("http_request_duration_seconds_bucket", &inf), 7.0);
    let buckets = after
        .matching("http_request_duration_seconds_bucket", &get_route)
        .count();
    assert!(buckets > 5, "{buckets} latency buckets");
    assert!(after.one("http_request_duration_seconds_sum", &get_route) > 0.0);

    // Cache counters per resource and tier.
    assert_eq!(after.kind("apiforge_cache_hits_total"), Some("counter"));
    assert_eq!(after.kind("apiforge_cache_misses_total"), Some("counter"));
    assert!(d("apiforge_cache_hits_total", &memory) >= 4.0);

    // Per-query-shape durations: the cache spared three of the five row loads; each 404
    // loaded; the list ran its default-sort shape.
    assert_eq!(
        after.kind("apiforge_db_query_duration_seconds"),
        Some("histogram")
    );
    assert_eq!(
        d("apiforge_db_query_duration_seconds_count", &get_shape),
        3.0
    );
    let list_shape = [("query", "products.list.-created_at")];
    let lists = d("apiforge_db_query_duration_seconds_count", &list_shape);
    assert!((1.0..=3.0).contains(&lists), "{lists} list queries");

    // Pool gauges (`pool.max: 20` in the spec).
    assert_eq!(after.kind("apiforge_db_pool_connections"), Some("gauge"));
    assert_eq!(after.one("apiforge_db_pool_max_connections", &[]), 20.0);
    let open = after.one("apiforge_db_pool_connections", &[]);
    let idle = after.one("apiforge_db_pool_idle_connections", &[]);
    assert!(open >= 1.0 && idle <= open, "open {open}, idle {idle}");

    // Process gauges.
    assert_eq!(after.kind("process_resident_memory_bytes"), Some("gauge"));
    assert!(after.one("process_resident_memory_bytes", &[]) > 1e6);
    assert!(after.one("process_cpu_seconds_total", &[]) > 0.0);
    drop(log);
}

#[test]
fn stats_report_counts_percentiles_and_budgets() {
    let db = TestDb::create();
    let (server, log) = Server::start_logged(binary(), &db.url, &[]);
    let id = create_product(&server, "Lamp", "home");
    let row = format!("/products/{id}");

    // 20 GETs, timed by the client too; the report must come within two windows of the
    // first request for the count to be exact (current + previous window).
    let first = Instant::now();
    let mut client_ms: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            get_ok(&server, &row);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let report = server.get("/_stats").json();
    assert!(first.elapsed() < Duration::from_secs(2 * WINDOW_SECS));
    assert_eq!(report["window_seconds"], json!(WINDOW_SECS as f64));

    let get = stats_route(&report, GET_ROUTE, "GET");
    assert_eq!(get["count"], 20, "{get}");
    let (min, p50, p95, p99, max, avg) = (
        num(&get, "min_ms"),
        num(&get, "p50_ms"),
        num(&get, "p95_ms"),
        num(&get, "p99_ms"),
        num(&get, "max_ms"),
        num(&get, "avg_ms"),
    );
    assert!(
        0.0 < min && min <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max,
        "{get}"
    );
    assert!(min <= avg && avg <= max, "{get}");
    // The server's time of a request is inside the client's: each server quantile is at
    // most the client's (plus HDR's 2-significant-digit precision).
    client_ms.sort_by(f64::total_cmp);
    let client_max = client_ms[19];
    let client_median = client_ms[9];
    assert!(
        max <= client_max * 1.01 + 0.01,
        "{get} vs client max {client_max}"
    );
    assert!(
        p50 <= client_ms[10] * 1.01 + 0.01,
        "{get} vs client median {client_median}"
    );

    // The impossible budget is over, with its figures; an untouched budgeted route is ok.
    assert_eq!(
        get["budget"],
        json!({ "p95_ms": 0.001, "p99_ms": 0.001, "status": "over" })
    );
    let list = stats_route(&report, "/products", "GET");
    assert_eq!(list["count"], 0);
    assert_eq!(
        list["budget"],
        json!({ "p95_ms": 200.0, "p99_ms": 500.0, "status": "ok" })
    );
    let create = stats_route(&report, "/orders", "POST");
    assert_eq!(create["budget"]["p99_ms"], 1000.0);

    // Traffic over about three windows: the over-budget warning comes once per window that
    // ends, not once per request, and the gauge is set.
    let mut requests = 20;
    while first.elapsed() < Duration::from_secs(3 * WINDOW_SECS + 1) {
        get_ok(&server, &row);
        requests += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reading the report closes the window that has ended.
    let report = server.get("/_stats").json();
    let elapsed = first.elapsed().as_secs();
    assert_eq!(
        stats_route(&report, GET_ROUTE, "GET")["budget"]["status"],
        "over"
    );
    let metrics = scrape(&server);
    let over = [("route", GET_ROUTE), ("method", "GET")];
    assert_eq!(metrics.one("apiforge_budget_over", &over), 1.0);
    assert_eq!(metrics.kind("apiforge_budget_over"), Some("gauge"));
    let list_over = [("route", "/products"), ("method", "GET")];
    assert_eq!(metrics.sum("apiforge_budget_over", &list_over), 0.0);

    let warnings: Vec<String> = log
        .lines_with(BUDGET_WARNING)
        .into_iter()
        .filter(|l| l.contains(GET_ROUTE))
        .collect();
    let windows = elapsed / WINDOW_SECS;
    assert!(
        !warnings.is_empty() && warnings.len() as u64 <= windows,
        "{} warnings for {windows} windows and {requests} requests:\n{}",
        warnings.len(),
        log.text()
    );
    assert!(
        warnings[0].contains("p95_ms") && warnings[0].contains("budget_p95_ms"),
        "{}",
        warnings[0]
    );
    assert!(
        log.lines_with(BUDGET_WARNING)
            .iter()
            .all(|l| l.contains(GET_ROUTE)),
        "only the over-budget route warns:\n{}",
        log.text()
    );
}

#[test]
fn slow_query_log_names_the_shape_never_the_values() {
    let db = TestDb::create();
    let (server, log) = Server::start_logged(binary(), &db.url, &[]);
    create_product(&server, "Lamp", "home");
    create_product(&server, "Desk", "home");
    let before = scrape(&server);
    let secret = "zq-secret-4417";
    get_ok(&server, &format!("/products?category={secret}"));
    get_ok(&server, "/products?category=home");
    let after = scrape(&server);

    let slow = log.lines_with("slow query");
    let list: Vec<&String> = slow
        .iter()
        .filter(|l| l.contains("products.list.-created_at"))
        .collect();
    assert!(
        list.iter().any(|l| l.contains("rows=0")) && list.iter().any(|l| l.contains("rows=2")),
        "slow list queries with 0 and 2 rows:\n{}",
        log.text()
    );
    assert!(list.iter().all(|l| l.contains("duration_ms=")), "{list:?}");
    assert!(
        !log.text().contains(secret),
        "a filter value reached the log:\n{}",
        log.text()
    );
    let shape = [("query", "products.list.-created_at")];
    assert_eq!(
        after.kind("apiforge_db_slow_queries_total"),
        Some("counter")
    );
    assert!(delta(&before, &after, "apiforge_db_slow_queries_total", &shape) >= 2.0);
}

/// Requests that log (slow queries) inside a handler, on `server`.
fn logged_traffic(server: &Server) {
    let id = create_product(server, "Lamp", "home");
    get_ok(server, &format!("/products/{id}"));
    get_ok(server, "/products?category=home");
}

/// The log of a `LOG_FORMAT=json` server after [`logged_traffic`], one JSON value a line
/// (panics on a line that is not JSON), and the `slow query` lines among them.
fn json_log() -> (Vec<Value>, Vec<Value>, String) {
    let db = TestDb::create();
    let (server, log) = Server::start_logged(binary(), &db.url, &[("LOG_FORMAT", "json")]);
    logged_traffic(&server);
    let text = log.text();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let slow: Vec<Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "slow query")
        .cloned()
        .collect();
    assert!(!slow.is_empty(), "no slow query logged:\n{text}");
    (lines, slow, text)
}

#[test]
fn json_log_lines_are_json() {
    let (lines, slow, text) = json_log();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on"))),
        "{text}"
    );
    for line in slow {
        assert_eq!(line["level"], "WARN");
        assert!(line["fields"]["query"].is_string(), "{line}");
        assert!(line["fields"]["duration_ms"].is_number(), "{line}");
        assert!(line["fields"]["rows"].is_u64(), "{line}");
    }
}

#[test]
fn json_log_lines_carry_the_request_span() {
    let (_, slow, _) = json_log();
    for line in slow {
        // Logged inside a request: the line carries that request's span.
        let span = &line["span"];
        assert!(
            span["method"].is_string() && span["route"].is_string(),
            "no request span on {line}"
        );
    }
}

#[test]
fn default_log_format_is_human_readable() {
    let db = TestDb::create();
    let (server, log) = Server::start_logged(binary(), &db.url, &[]);
    logged_traffic(&server);
    let text = log.text();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            serde_json::from_str::<Value>(line).is_err(),
            "a JSON line by default: {line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains("listening on http://")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("slow query")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "colour codes in a log file");
}

/// `cargo check --features otel` of a generated project (≈ 1 minute on two cores with the
/// other e2e dependencies already built, so it stays in the default run).
#[test]
fn generated_project_builds_with_otel() {
    let project = Project::generate("examples/shop.yaml");
    let manifest = std::fs::read_to_string(project.dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("otel = [\"apiforge-runtime/otel\"]"),
        "the generated Cargo.toml has no `otel` feature:\n{manifest}"
    );
    let out = project.cargo(&["check", "--features", "otel"], &[]);
    common::assert_success("cargo check --features otel", &out);
}

#[test]
fn monitoring_off_serves_no_metrics_but_still_logs_slow_queries() {
    let db = TestDb::create();
    let (server, log) = Server::start_logged(binary(), &db.url, &[("MONITORING", "off")]);
    let id = create_product(&server, "Lamp", "home");
    get_ok(&server, &format!("/products/{id}"));
    assert_eq!(server.get("/metrics").status, 404);
    assert_eq!(server.get("/_stats").status, 404);
    assert!(
        log.text().contains("slow query"),
        "slow queries are logged with monitoring off:\n{}",
        log.text()
    );
}

#[test]
fn monitoring_switch_rejects_other_values() {
    let out = std::process::Command::new(binary())
        .env("DATABASE_URL", format!("{}/postgres", common::pg_server()))
        .env("PORT", common::free_port().to_string())
        .env("MONITORING", "sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MONITORING must be on or off") && stderr.contains("sometimes"),
        "{stderr}"
    );
}

/// Committed transactions of database `name`, from `pg_stat_database` (counted by Postgres,
/// not by the server under test).
fn xact_commits(name: &str) -> i64 {
    let out = std::process::Command::new("psql")
        .args(["-t", "-A", "-q", "-d"])
        .arg(format!("{}/postgres", common::pg_server()))
        .args([
            "-c",
            &format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{name}'"),
        ])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{}", common::output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {text:?}"))
}

/// A backend reports its statistics when idle, at most every second and within 10 s of
/// its last statement (Postgres 15+): wait that out before reading them.
fn settled_xact_commits(name: &str) -> i64 {
    std::thread::sleep(Duration::from_millis(11_500));
    xact_commits(name)
}

#[test]
fn health_probes_run_about_one_query_a_second_not_one_per_call() {
    let db = TestDb::create();
    let namespace = format!("mon_{}", common::unique_suffix());
    let server = Server::start_with(
        binary(),
        &db.url,
        &[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_NAMESPACE", &namespace),
        ],
    );
    let check_shape = [("query", "health.check")];
    let before_commits = settled_xact_commits(&db.name);
    let before = scrape(&server);
    let started = Instant::now();
    const CALLS: usize = 300;
    for _ in 0..CALLS {
        let res = server.get("/health");
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.json(), json!({ "status": "ok", "database": "up" }));
        let ready = server.get("/health/ready");
        assert_eq!(ready.status, 200, "{}", ready.text());
    }
    let secs = started.elapsed().as_secs_f64();
    let after = scrape(&server);
    let commits = settled_xact_commits(&db.name) - before_commits;
    // One check per started second of traffic (and one more at each end); a query per
    // call would be 600.
    let allowed = secs.ceil() + 2.0;
    let checks = delta(&before, &after, "apiforge_db_queries_total", &check_shape);
    assert!(
        checks >= 1.0 && checks <= allowed,
        "{checks} checks for {} probes in {secs:.1}s",
        2 * CALLS
    );
    assert!(
        (commits as f64) <= allowed,
        "{commits} transactions in the database for {} probes in {secs:.1}s",
        2 * CALLS
    );

    let live = server.get("/health/live");
    assert_eq!((live.status, live.json()), (200, json!({ "status": "ok" })));

    let ready = server.get("/health/ready").json();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["database"], "up");
    assert_eq!(ready["redis"], "up");
    let pool = &ready["pool"];
    let (size, idle, max) = (num(pool, "size"), num(pool, "idle"), num(pool, "max"));
    assert!(size >= 1.0 && idle <= size && size <= max, "{ready}");
    assert!(num(&ready, "checked_ms_ago") < 60_000.0, "{ready}");
}

#[test]
fn readiness_without_redis_and_with_the_database_gone() {
    let db = TestDb::create();
    let server = Server::start(binary(), &db.url);
    let ready = server.get("/health/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["redis"], Value::Null);
    // Drop the database under the server: the next check (within a second) finds it gone.
    drop(db);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (health, ready) = loop {
        let health = server.get("/health");
        if health.status == 503 {
            break (health, server.get("/health/ready"));
        }
        assert!(Instant::now() < deadline, "/health still {}", health.status);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        health.json(),
        json!({ "status": "unavailable", "database": "down" })
    );
    assert_eq!(health.header("retry-after"), Some("1"));
    assert_eq!(ready.status, 503);
    assert_eq!(ready.header("retry-after"), Some("1"));
    assert_eq!(ready.json()["database"], "down");
    assert_eq!(server.get("/health/live").status, 200);
}

#[test]
fn unknown_paths_and_methods_are_problem_json() {
    let db = TestDb::create();
    let server = Server::start(binary(), &db.url);
    let missing = server.get("/no/such/route");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("content-type"),
        Some("application/problem+json")
    );
    let problem = missing.json();
    assert_eq!(
        (problem["status"].as_u64(), problem["title"].as_str()),
        (Some(404), Some("Not Found"))
    );

    let wrong = server.request("PUT", "/products", &[], Some(b"{}"));
    assert_eq!(wrong.status, 405);
    assert_eq!(
        wrong.header("content-type"),
        Some("application/problem+json")
    );
    assert!(
        wrong.header("allow").is_some_and(|a| a.contains("POST")),
        "{:?}",
        wrong.header("allow")
    );
    let problem = wrong.json();
    assert_eq!(problem["status"], 405);
    assert_eq!(problem["detail"], "this route does not serve PUT");
    let wrong = server.delete("/health/live");
    assert_eq!(
        (wrong.status, wrong.json()["status"].as_u64()),
        (405, Some(405))
    );
}

/// Every family of the metrics page has `# HELP` and `# TYPE`, counters are the `_total`
/// families, and `promtool check metrics` (when installed) accepts the page.
#[test]
fn metrics_page_passes_promtool() {
    let db = TestDb::create();
    let server = Server::start(binary(), &db.url);
    let id = create_product(&server, "Lamp", "home");
    get_ok(&server, &format!("/products/{id}"));
    assert_eq!(server.get("/nowhere").status, 404);
    // The resource sampler runs every second in this variant: wait for its gauges.
    std::thread::sleep(Duration::from_millis(1_500));
    let text = server.get("/metrics").text();
    let page = Page::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    families.sort_unstable();
    for name in [
        "http_requests_total",
        "apiforge_db_queries_total",
        "process_cpu_seconds_total",
        "apiforge_db_pool_connections",
    ] {
        assert!(families.contains(&name), "{name} missing from\n{text}");
    }
    for family in &families {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# HELP {family} "))),
            "{family} has no HELP\n{text}"
        );
        let kind = page.kind(family).unwrap();
        assert_eq!(
            family.ends_with("_total"),
            kind == "counter",
            "{family} is a {kind}"
        );
    }
    let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("note: promtool is not installed; `promtool check metrics` skipped");
        return;
    };
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}\n{text}",
        common::output_text(&out)
    );
}

/// The parser the tests above rely on accepts a well-formed page and rejects malformed ones.
#[test]
fn prometheus_parser_is_strict() {
    let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"\\\\\\n\",b=\"2\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n\
                up 1 1700000000000\n";
    let page = Page::parse(good).unwrap();
    assert_eq!(page.one("x_total", &[("a", "q\"\\\n")]), 3.0);
    assert_eq!(page.kind("h"), Some("histogram"));
    for bad in [
        "x{a=\"1\"}\n",                            // no value
        "x{a=1} 1\n",                              // unquoted label value
        "x{a=\"1\" 1\n",                           // unterminated labels
        "x{1a=\"1\"} 1\n",                         // bad label name
        "x{a=\"\\t\"} 1\n",                        // bad escape
        "x 1\nx 2\n",                              // duplicate series
        "x one\n",                                 // bad value
        "# TYPE x counter\n# TYPE x gauge\nx 1\n", // typed twice
        "x 1\n# TYPE x counter\n",                 // typed after its samples
        "# TYPE x countr\n",                       // unknown type
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // not cumulative
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", // count != +Inf
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",       // no sum
        "x 1 2 3\n",                                                      // trailing text
        "9x 1\n",                                                         // bad metric name
    ] {
        assert!(Page::parse(bad).is_err(), "accepted {bad:?}");
    }
}
