//! Health probes that cost nothing under load.
//!
//! - `GET /health/live` (liveness): no database, `200 {"status":"ok"}` while the process
//!   serves requests.
//! - `GET /health/ready` (readiness): the state of the pool (`size`, `idle`, `max`), whether
//!   the last check reached the database and, with a Redis tier, whether Redis answered;
//!   `503` (with `Retry-After`) when the database is known to be down.
//! - `GET /health`: the historical probe, same keys and statuses as before
//!   (`{"status":"ok","database":"up"}` / 503 `{"status":"unavailable","database":"down"}`).
//!
//! The database (and Redis) are checked at most once per `interval` (1 s in generated APIs):
//! a probe within the interval answers from the last check, so a probe hammered at
//! thousands of requests per second runs about one `SELECT 1` a second instead of one per
//! call, and never competes with traffic for pool connections. One check runs at a time;
//! probes arriving while it runs answer from the previous one (the very first probe waits
//! for it).
//!
//! ```no_run
//! # use std::time::Duration;
//! # use apiforge_runtime::health::{self, Health};
//! # use axum::Router;
//! # fn app(pool: sqlx::PgPool) -> Router {
//! let health = Health::new(pool, None, Duration::from_secs(1));
//! Router::new()
//!     .route("/health", health.handler())
//!     .route("/health/live", health::live_handler())
//!     .route("/health/ready", health.ready_handler())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::cache::Redis;
use crate::monitor::query::timed;
use crate::problem::set_retry_after;

/// How long a check is reused by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The query shape of the check in `apiforge_db_queries_total` and the slow-query log.
pub const CHECK_QUERY_SHAPE: &str = "health.check";

/// The outcome of one check of the dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// Whether `SELECT 1` reached the database.
    pub database_up: bool,
    /// Whether Redis answered a `PING`; `None` without a Redis tier.
    pub redis_up: Option<bool>,
    /// When the check finished.
    pub at: Instant,
}

/// The cached dependency check behind the probes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    redis: Option<Redis>,
    interval: Duration,
    last: Mutex<Option<Check>>,
    /// Held by the one check running.
    checking: tokio::sync::Mutex<()>,
    checks: AtomicU64,
}

impl Health {
    /// Probes of `pool` (and `redis`, when the API has a Redis tier), checked at most once
    /// per `interval`.
    pub fn new(pool: PgPool, redis: Option<Redis>, interval: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                redis,
                interval,
                last: Mutex::new(None),
                checking: tokio::sync::Mutex::new(()),
                checks: AtomicU64::new(0),
            }),
        }
    }

    /// How many checks (database round trips) ran so far.
    pub fn checks_run(&self) -> u64 {
        self.inner.checks.load(Ordering::Relaxed)
    }

    fn last(&self) -> Option<Check> {
        *self.inner.last.lock().expect("health lock poisoned")
    }

    fn fresh(&self) -> Option<Check> {
        self.last().filter(|c| c.at.elapsed() < self.inner.interval)
    }

    /// The last check if it is younger than the interval, else a new one. While a check
    /// runs, other callers get the previous one (the first callers wait for it).
    pub async fn check(&self) -> Check {
        if let Some(check) = self.fresh() {
            return check;
        }
        let _checking = match self.inner.checking.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.last() {
                Some(stale) => return stale,
                None => self.inner.checking.lock().await,
            },
        };
        // Another caller may have checked while this one waited for the lock.
        if let Some(check) = self.fresh() {
            return check;
        }
        self.inner.checks.fetch_add(1, Ordering::Relaxed);
        let database = timed(
            CHECK_QUERY_SHAPE,
            sqlx::query("SELECT 1").execute(&self.inner.pool),
        )
        .await;
        if let Err(err) = &database {
            tracing::warn!(error = %crate::monitor::log_safe(&err), "health check: database unavailable");
        }
        let redis_up = match &self.inner.redis {
            Some(redis) => Some(redis.ping().await),
            None => None,
        };
        let check = Check {
            database_up: database.is_ok(),
            redis_up,
            at: Instant::now(),
        };
        *self.inner.last.lock().expect("health lock poisoned") = Some(check);
        check
    }

    /// The body and status of `GET /health`: `{"status","database"}`, 200 or 503.
    pub async fn health(&self) -> Response {
        let check = self.check().await;
        let body = if check.database_up {
            json!({ "status": "ok", "database": "up" })
        } else {
            json!({ "status": "unavailable", "database": "down" })
        };
        respond(check.database_up, body)
    }

    /// The body and status of `GET /health/ready`: status, database, pool, redis and the age
    /// of the check; 503 when the database is down.
    pub async fn ready(&self) -> Response {
        let check = self.check().await;
        let pool = &self.inner.pool;
        let body = json!({
            "status": if check.database_up { "ok" } else { "unavailable" },
            "database": up_down(check.database_up),
            "pool": {
                "size": pool.size(),
                "idle": pool.num_idle(),
                "max": pool.options().get_max_connections(),
            },
            "redis": check.redis_up.map(up_down),
            "checked_ms_ago": u64::try_from(check.at.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        respond(check.database_up, body)
    }

    /// `GET /health` as a route.
    pub fn handler<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let health = self.clone();
        get(move || async move { health.health().await })
    }

    /// `GET /health/ready` as a route.
    pub fn ready_handler<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let health = self.clone();
        get(move || async move { health.ready().await })
    }
}

/// `GET /health/live` as a route: `200 {"status":"ok"}`, touching nothing.
pub fn live_handler<S: Clone + Send + Sync + 'static>() -> MethodRouter<S> {
    get(|| async { Json(json!({ "status": "ok" })) })
}

fn up_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

fn respond(up: bool, body: Value) -> Response {
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(body)).into_response();
    set_retry_after(status, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use sqlx::postgres::PgPoolOptions;
    use tower::ServiceExt;

    use super::*;

    /// A pool on a port nothing listens on: every check finds the database down, fast.
    fn unreachable_pool() -> PgPool {
        PgPoolOptions::new()
            .max_connections(3)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy("postgres://postgres@127.0.0.1:1/none")
            .unwrap()
    }

    async fn call(app: &Router, uri: &str) -> (StatusCode, http::HeaderMap, Value) {
        let request = http::Request::get(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&body).unwrap(),
        )
    }

    fn app(health: &Health) -> Router {
        Router::new()
            .route("/health", health.handler())
            .route("/health/live", live_handler())
            .route("/health/ready", health.ready_handler())
    }

    #[tokio::test]
    async fn probes_reuse_one_check_per_interval() {
        let health = Health::new(unreachable_pool(), None, Duration::from_secs(60));
        let app = app(&health);
        for _ in 0..20 {
            let (status, headers, body) = call(&app, "/health").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(headers[http::header::RETRY_AFTER], "1");
            assert_eq!(body, json!({ "status": "unavailable", "database": "down" }));
        }
        let (status, headers, body) = call(&app, "/health/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[http::header::RETRY_AFTER], "1");
        assert_eq!(body["database"], "down");
        assert_eq!(body["pool"]["max"], 3);
        assert_eq!(body["pool"]["size"], 0);
        assert_eq!(body["redis"], Value::Null);
        assert_eq!(health.checks_run(), 1, "one check for 21 probes");
    }

    #[tokio::test]
    async fn a_stale_check_is_redone() {
        let health = Health::new(unreachable_pool(), None, Duration::from_millis(1));
        health.check().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        health.check().await;
        assert_eq!(health.checks_run(), 2);
    }

    #[tokio::test]
    async fn liveness_touches_nothing() {
        let health = Health::new(unreachable_pool(), None, Duration::from_secs(60));
        let (status, _, body) = call(&app(&health), "/health/live").await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
        assert_eq!(health.checks_run(), 0);
    }
}
