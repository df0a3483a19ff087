//! The server layer (`serve::ServeLayer`) around a router: metrics by route and status,
//! the timeout's 408, the body limit on methods with a body, compression negotiation and
//! cancelled requests. The metrics recorder is process-wide: every test uses its own routes.

use std::time::Duration;

use apiforge_runtime::monitor::{self, Stats};
use apiforge_runtime::serve::ServeLayer;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;

/// The value of the first sample of `name` whose labels contain every `labels` pair.
fn sample(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    monitor::render_metrics()
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn app(stats: &Stats, timeout: Duration) -> Router {
    monitor::install_recorder();
    Router::new()
        .route("/sv-items/{id}", get(|| async { "item" }))
        .route(
            "/sv-hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/sv-echo", post(|body: Bytes| async move { body }))
        .route("/sv-large", get(|| async { "x".repeat(4096) }))
        .layer(
            ServeLayer::new(timeout, 16, Some(stats.clone())).compress(
                CompressionLayer::new()
                    .gzip(true)
                    .compress_when(SizeAbove::new(100)),
                // Compresses bodies over 100 bytes only (as the generated `compress_when`).
                |response: &Response| {
                    http_body::Body::size_hint(response.body())
                        .exact()
                        .is_none_or(|len| len > 100)
                },
            ),
        )
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body)
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn route_count(stats: &Stats, route: &str) -> u64 {
    let report = stats.report();
    report
        .routes
        .iter()
        .find(|r| r.route == route)
        .map_or(0, |r| r.count)
}

#[tokio::test]
async fn answers_are_recorded_by_route_pattern_and_status_class() {
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats, Duration::from_secs(10));
    for id in [1, 2, 3] {
        let (status, _, body) = send(&app, get_request(&format!("/sv-items/{id}"))).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"item"[..]));
    }
    let labels = [("route", "/sv-items/{id}"), ("status_class", "2xx")];
    assert_eq!(sample("http_requests_total", &labels), Some(3.0));
    assert_eq!(route_count(&stats, "/sv-items/{id}"), 3);
}

#[tokio::test]
async fn a_route_past_the_timeout_answers_408_problem_json_and_is_recorded_as_such() {
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats, Duration::from_millis(50));
    let started = std::time::Instant::now();
    let (status, headers, body) = send(&app, get_request("/sv-hang")).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 408);
    let labels = [("route", "/sv-hang"), ("status_class", "4xx")];
    assert_eq!(sample("http_requests_total", &labels), Some(1.0));
}

#[tokio::test]
async fn a_request_dropped_before_its_answer_is_recorded_as_cancelled() {
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats, Duration::from_secs(10));
    let request = app.clone().oneshot(get_request("/sv-hang"));
    // As a client going away does: the response future is dropped.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), request)
            .await
            .is_err()
    );
    // The `/sv-hang` of the 408 test is `4xx`; this one alone is `cancelled`.
    let labels = [("route", "/sv-hang"), ("status_class", "cancelled")];
    assert_eq!(sample("http_requests_total", &labels), Some(1.0));
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats, Duration::from_secs(10));
    let echo = |body: &'static str| Request::post("/sv-echo").body(Body::from(body)).unwrap();
    let (status, _, body) = send(&app, echo("sixteen bytes ok")).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"sixteen bytes ok"[..])
    );
    let (status, _, _) = send(&app, echo("seventeen bytes!!")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn only_requests_accepting_an_encoding_are_compressed_the_others_get_vary() {
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let app = app(&stats, Duration::from_secs(10));
    let request = Request::get("/sv-large")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(body.len() < 4096, "compressed: {} bytes", body.len());

    let (status, headers, body) = send(&app, get_request("/sv-large")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::CONTENT_ENCODING), None);
    assert_eq!(headers[header::VARY], "accept-encoding");
    assert_eq!(body.len(), 4096);

    // What the predicate would not compress gets no `Vary` either.
    let (_, headers, _) = send(&app, get_request("/sv-items/1")).await;
    assert_eq!(headers.get(header::VARY), None);
}
