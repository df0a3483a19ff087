//! The request-metrics tower layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Method, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::Stats;
use super::stats::UNMATCHED;

/// Records every request into [`Stats`] and the Prometheus metrics, labelled by the matched
/// route pattern (axum's [`MatchedPath`], so `/products/{id}` and not `/products/42`),
/// method and status class. Apply it with `Router::layer` (axum runs it inside each route,
/// where the matched path is known); requests no route matched are labelled `unmatched`.
///
/// Latency is measured until the response head is ready (not while a body streams). A
/// request whose future is dropped first (a timeout layer outside this one gave up, or the
/// client disconnected) is recorded with the status class `cancelled`.
/// Per request it costs two reference-count increments, a few atomic adds and one
/// histogram increment under a per-route lock; label sets are resolved once.
#[derive(Clone)]
pub struct RequestMetricsLayer {
    stats: Option<Stats>,
}

impl RequestMetricsLayer {
    /// A layer feeding `stats`.
    pub fn new(stats: Stats) -> Self {
        Self { stats: Some(stats) }
    }

    /// A layer feeding `stats`, or passing requests through untouched with `None` (e.g.
    /// monitoring turned off), so that an app stacks the same layers either way.
    pub fn optional(stats: Option<Stats>) -> Self {
        Self { stats }
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// The service of [`RequestMetricsLayer`].
#[derive(Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    stats: Option<Stats>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let record = self
            .stats
            .as_ref()
            .map(|stats| Record::start(stats, &request));
        ResponseFuture {
            inner: self.inner.call(request),
            record,
        }
    }
}

/// What a response future records when it completes (or is dropped first).
pub(crate) struct Record {
    route: Option<MatchedPath>,
    method: Method,
    stats: Stats,
    start: Instant,
}

impl Record {
    /// Starts timing `request` (its route and method) for `stats`.
    pub(crate) fn start<B>(stats: &Stats, request: &Request<B>) -> Self {
        Self {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: request.method().clone(),
            stats: stats.clone(),
            start: Instant::now(),
        }
    }

    fn route(&self) -> &str {
        self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }

    /// Records the answer's `status`.
    pub(crate) fn finish(self, status: StatusCode) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.start);
        self.stats
            .record_at(self.route(), &self.method, status, elapsed, now);
    }

    /// Records a request dropped before it was answered.
    pub(crate) fn cancelled(self) {
        self.stats
            .record_cancelled(self.route(), &self.method, self.start.elapsed());
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestMetrics`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Taken when recorded; still there on drop: the request was cancelled.
        record: Option<Record>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(r) = this.project().record.take() {
                r.stats.record_cancelled(r.route(), &r.method, r.start.elapsed());
            }
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(r) = this.record.take() {
            r.finish(match &result {
                Ok(response) => response.status(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            });
        }
        Poll::Ready(result)
    }
}
