//! CORS from the spec's `server.cors` (tower-http's `CorsLayer`): preflight requests are
//! answered by the layer itself, before any route, authentication or database.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A layer allowing `origins` (`*` for any) to call every method of the API with the
/// headers it reads (`Authorization`, `Content-Type`, `If-None-Match`, `X-API-Key`), and to
/// read its `ETag`, `Location` and rate-limit headers. Preflights are cached `max_age`.
pub fn layer(origins: &[&str], max_age: Option<Duration>) -> CorsLayer {
    let allow_origin = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static(crate::auth::API_KEY_HEADER),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
        ]);
    match max_age {
        Some(age) => layer.max_age(age),
        None => layer,
    }
}
