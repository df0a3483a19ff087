//! The server layer of every generated route: span, metrics, timeout, body limit and
//! compression negotiation in one service with one future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use http::{Method, Request, Response};
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::compression::{Compress, Encoding, NoCompression};
use crate::monitor::Stats;
use crate::monitor::layer::Record;
use crate::monitor::span::span_of;
use crate::timeout::timeout_response;

/// What [`RequestSpanLayer`](crate::monitor::RequestSpanLayer),
/// [`RequestMetricsLayer`](crate::monitor::RequestMetricsLayer),
/// [`RequestTimeoutLayer`](crate::timeout::RequestTimeoutLayer), axum's
/// [`DefaultBodyLimit`] and [`CompressAcceptedLayer`](crate::compression::CompressAcceptedLayer)
/// do, stacked in that order (the span innermost), as one layer.
///
/// Each layer of its own costs every request a service call, a move of the request and of
/// the inner future into its own, a nested poll and a drop, and axum clones each route's
/// whole stack per request: folded, a cached GET of the generated shop went from 27,013 to
/// 25,834 instructions (−4.4 %, callgrind, bench/PROFILES.md "Session 12").
///
/// - The span (`request`, with `method` and `route`) is entered around each poll of the
///   route, so the log lines written while serving it say which request it was.
/// - Metrics and [`Stats`] record each answer by route pattern, method and status class;
///   a request dropped before its answer (the client went away) is `cancelled`.
/// - `408 Request Timeout` (problem+json) when the route has not answered within the
///   timeout; the timer is armed only when the route does not answer at its first poll,
///   so a cache hit never touches the timer wheel. The 408 is recorded as such.
/// - The body limit is given to the requests whose method carries a body (not `GET` or
///   `HEAD`, which then keep axum's own default of 2 MB should a handler read one): the
///   extractors of `Json`, `Bytes`… answer 413 past it.
/// - With [`compress`](Self::compress), responses to requests that sent
///   `Accept-Encoding` go through the compression layer; the others are sent as they are,
///   with the `Vary: accept-encoding` the compression layer would have added.
///
/// ```
/// use std::time::Duration;
/// use apiforge_runtime::serve::ServeLayer;
/// use axum::{Router, routing::get};
/// use tower_http::compression::CompressionLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(
///         ServeLayer::new(Duration::from_secs(10), 1 << 20, None)
///             .compress(CompressionLayer::new(), |_: &axum::response::Response| true),
///     );
/// ```
#[derive(Clone)]
pub struct ServeLayer<E = NoCompression> {
    timeout: Duration,
    body_limit: DefaultBodyLimit,
    stats: Option<Stats>,
    encoding: E,
}

impl ServeLayer {
    /// Requests get `timeout` to produce their response head and bodies of up to
    /// `body_limit` bytes; `stats` (none with monitoring off) records them.
    pub fn new(timeout: Duration, body_limit: usize, stats: Option<Stats>) -> Self {
        Self {
            timeout,
            body_limit: DefaultBodyLimit::max(body_limit),
            stats,
            encoding: NoCompression,
        }
    }
}

impl<E> ServeLayer<E> {
    /// Compresses with `compression` (e.g. tower-http's `CompressionLayer`) the responses
    /// to requests that accept an encoding; `vary_when(response)`: whether it would
    /// compress `response` (its predicate), for the `Vary` of the others.
    pub fn compress<L, V>(self, compression: L, vary_when: V) -> ServeLayer<Compress<L, V>> {
        ServeLayer {
            timeout: self.timeout,
            body_limit: self.body_limit,
            stats: self.stats,
            encoding: Compress::new(compression, vary_when),
        }
    }
}

impl<S, E: Clone> Layer<S> for ServeLayer<E> {
    type Service = Serve<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        Serve {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`ServeLayer`].
#[derive(Clone)]
pub struct Serve<S, E> {
    inner: S,
    layer: ServeLayer<E>,
}

impl<S, E> Service<Request<Body>> for Serve<S, E>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    E: Encoding,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ServeFuture<S::Future, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let span = span_of(&request);
        let record = self
            .layer
            .stats
            .as_ref()
            .map(|s| Record::start(s, &request));
        let negotiated = self.layer.encoding.negotiate(request.headers());
        let future = if matches!(*request.method(), Method::GET | Method::HEAD) {
            self.inner.call(request)
        } else {
            // Puts the limit in the request's extensions, as `DefaultBodyLimit` does.
            self.layer.body_limit.layer(&mut self.inner).call(request)
        };
        ServeFuture {
            stage: Stage::Route { future },
            sleep: None,
            timeout: self.layer.timeout,
            span,
            record,
            negotiated: Some(negotiated),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Serve`].
    pub struct ServeFuture<F, E: Encoding> {
        #[pin]
        stage: Stage<F, E::Future>,
        // Armed on the route's first `Pending`.
        #[pin]
        sleep: Option<Sleep>,
        timeout: Duration,
        span: Span,
        // Taken when recorded; still there on drop: the request was cancelled.
        record: Option<Record>,
        negotiated: Option<E::Negotiated>,
    }

    impl<F, E: Encoding> PinnedDrop for ServeFuture<F, E> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(record) = this.project().record.take() {
                record.cancelled();
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    enum Stage<F, C> {
        Route { #[pin] future: F },
        Compressing { #[pin] future: C },
    }
}

impl<F, E> Future for ServeFuture<F, E>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
    E: Encoding,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let response = match this.stage.as_mut().project() {
                StageProj::Route { future } => {
                    let polled = {
                        let _entered = this.span.enter();
                        future.poll(cx)
                    };
                    match polled {
                        Poll::Ready(Ok(response)) => response,
                        Poll::Ready(Err(never)) => match never {},
                        Poll::Pending => {
                            if this.sleep.is_none() {
                                this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
                            }
                            let sleep = this.sleep.as_mut().as_pin_mut().expect("armed above");
                            std::task::ready!(sleep.poll(cx));
                            // The route is dropped with this future: answer 408 instead.
                            timeout_response()
                        }
                    }
                }
                StageProj::Compressing { future } => {
                    return future.poll(cx);
                }
            };
            if let Some(record) = this.record.take() {
                record.finish(response.status());
            }
            let negotiated = this.negotiated.take().expect("answered once");
            match E::encode(negotiated, response) {
                Ok(response) => return Poll::Ready(Ok(response)),
                Err(future) => this.stage.set(Stage::Compressing { future }),
            }
        }
    }
}
