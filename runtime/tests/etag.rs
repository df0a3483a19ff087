//! ETag / 304 handling through a real axum router serving from a ResourceCache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apiforge_runtime::cache::{CacheConfig, CachedBody, MemoryTier, ResourceCache};
use apiforge_runtime::response::{CacheControl, Visibility, cached_json};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;

#[derive(Clone)]
struct AppState {
    cache: ResourceCache,
    loads: Arc<AtomicUsize>,
    cache_control: CacheControl,
}

async fn get_item(State(s): State<AppState>, Path(id): Path<u32>, headers: HeaderMap) -> Response {
    let loaded = s
        .cache
        .get_or_load(&ResourceCache::row_key(id), || async {
            s.loads.fetch_add(1, Ordering::SeqCst);
            if id == 404 {
                return Ok(None);
            }
            CachedBody::json(&serde_json::json!({ "id": id, "name": "widget" }))
                .map(Some)
                .map_err(|e| e.to_string())
        })
        .await;
    match loaded {
        Ok(Some(body)) => cached_json(&headers, &body, &s.cache_control),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

fn app() -> (Router, Arc<AtomicUsize>) {
    let loads = Arc::new(AtomicUsize::new(0));
    let state = AppState {
        cache: ResourceCache::new(
            "etag_items",
            CacheConfig {
                memory: Some(MemoryTier {
                    max_entries: 100,
                    ttl: Duration::from_secs(60),
                }),
                redis: None,
            },
            None,
        ),
        loads: loads.clone(),
        cache_control: CacheControl::new(60, Visibility::Private, false),
    };
    let router = Router::new()
        .route("/items/{id}", get(get_item))
        .with_state(state);
    (router, loads)
}

async fn send(
    app: &Router,
    uri: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::get(uri);
    if let Some(tag) = if_none_match {
        request = request.header(IF_NONE_MATCH, tag);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body.to_vec())
}

#[tokio::test]
async fn first_get_is_200_with_validators_and_a_matching_revalidation_is_304() {
    let (app, loads) = app();
    let (status, headers, body) = send(&app, "/items/7", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, br#"{"id":7,"name":"widget"}"#);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(headers[CACHE_CONTROL], "private, max-age=60");
    assert_eq!(headers[VARY], "accept-encoding");
    let etag = headers[ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let (status, headers, body) = send(&app, "/items/7", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[ETAG].to_str().unwrap(), etag);
    assert_eq!(headers[CACHE_CONTROL], "private, max-age=60");
    assert!(headers.get(CONTENT_TYPE).is_none());

    // Weak comparison, lists and `*`.
    for tag in [
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".to_owned(),
    ] {
        assert_eq!(
            send(&app, "/items/7", Some(&tag)).await.0,
            StatusCode::NOT_MODIFIED,
            "{tag}"
        );
    }
    // Another row's tag does not match.
    let (status, _, body) = send(&app, "/items/8", Some(&etag)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "row 7 was loaded once, row 8 once"
    );
}

#[tokio::test]
async fn a_missing_row_is_404_and_never_cached() {
    let (app, loads) = app();
    assert_eq!(
        send(&app, "/items/404", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "/items/404", Some("*")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}
