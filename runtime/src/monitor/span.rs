//! The per-request tracing span layer, and the gate a request may pass inside it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use axum::response::Response;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

/// Runs each request inside an `info` span named `request` with its `method` and `route`
/// (axum's [`MatchedPath`], e.g. `/products/{id}`, or the URI path when no route matched),
/// so that every log line written while serving it (slow queries…) says which request it
/// was. Apply it with `Router::layer`, where the matched path is known.
///
/// When no subscriber wants the span (e.g. `RUST_LOG=warn`), a request costs one check of
/// the span's cached interest: nothing is formatted, allocated or boxed.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpanLayer;

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestSpan { inner }
    }
}

impl RequestSpanLayer {
    /// The span layer that also has each request pass `gate` (the rate limits) before its
    /// route runs. One layer doing both: a layer of its own costs every request its service
    /// call, a move of the request and of the inner future, and a poll more (measured
    /// 300–340 instructions of a cached GET under callgrind, bench/RATELIMIT.md).
    pub fn gated<G: Gate>(gate: G) -> GatedSpanLayer<G> {
        GatedSpanLayer(gate)
    }
}

/// The service of [`RequestSpanLayer`].
#[derive(Clone, Debug)]
pub struct RequestSpan<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RequestSpan<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let span = span_of(&request);
        self.inner.call(request).instrument(span)
    }
}

/// The `request` span of `request`; its fields are evaluated only when it is enabled.
pub(crate) fn span_of<B>(request: &Request<B>) -> Span {
    tracing::info_span!(
        "request",
        method = request.method().as_str(),
        route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| request.uri().path(), MatchedPath::as_str),
    )
}

/// A check every request passes before its route runs (e.g. `rate_limit::RateLimits`):
/// it refuses with an answer of its own, or lets the request through with a `Pass` that
/// amends the route's answer.
pub trait Gate: Clone {
    /// What a request let through leaves for its answer.
    type Pass;

    /// Lets `request` through (it may add to its extensions) or refuses it.
    fn admit(&self, request: &mut axum::extract::Request) -> Result<Self::Pass, Box<Response>>;

    /// Amends the answer of a request let through.
    fn amend(pass: Self::Pass, response: &mut Response);
}

/// [`RequestSpanLayer::gated`].
#[derive(Clone, Debug)]
pub struct GatedSpanLayer<G>(G);

impl<S, G: Gate> Layer<S> for GatedSpanLayer<G> {
    type Service = GatedSpan<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        GatedSpan {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// The service of [`GatedSpanLayer`].
#[derive(Clone, Debug)]
pub struct GatedSpan<S, G> {
    inner: S,
    gate: G,
}

impl<S, G> Service<axum::extract::Request> for GatedSpan<S, G>
where
    S: Service<axum::extract::Request, Response = Response>,
    G: Gate,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GatedFuture<Instrumented<S::Future>, G>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::extract::Request) -> Self::Future {
        let span = span_of(&request);
        match self.gate.admit(&mut request) {
            Ok(pass) => GatedFuture::admitted(self.inner.call(request).instrument(span), pass),
            Err(refused) => GatedFuture::refused(refused),
        }
    }
}

/// Has each request pass `gate` (the rate limits) before its route runs, inside the span
/// of [`ServeLayer`](crate::serve::ServeLayer) (which has no gate of its own, so that
/// authentication can run between the two: a limit per caller needs the caller).
#[derive(Clone, Debug)]
pub struct GateLayer<G>(G);

impl<G: Gate> GateLayer<G> {
    /// Requests pass `gate`.
    pub fn new(gate: G) -> Self {
        Self(gate)
    }
}

impl<S, G: Gate> Layer<S> for GateLayer<G> {
    type Service = Gated<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// The service of [`GateLayer`].
#[derive(Clone, Debug)]
pub struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S, G> Service<axum::extract::Request> for Gated<S, G>
where
    S: Service<axum::extract::Request, Response = Response>,
    G: Gate,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GatedFuture<S::Future, G>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::extract::Request) -> Self::Future {
        match self.gate.admit(&mut request) {
            Ok(pass) => GatedFuture::admitted(self.inner.call(request), pass),
            Err(refused) => GatedFuture::refused(refused),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a gated service ([`GatedSpan`], the runtime's rate limit
    /// layer): the inner service's answer amended by the gate's pass, or the gate's refusal.
    #[project = Projection]
    pub enum GatedFuture<F, G: Gate> {
        Inner {
            #[pin]
            inner: F,
            pass: Option<G::Pass>,
        },
        // Boxed: unboxed, a `Response` would grow every request's future.
        Refused {
            response: Option<Box<Response>>,
        },
    }
}

impl<F, G: Gate> GatedFuture<F, G> {
    /// The answer of `inner`, amended by `pass`.
    pub fn admitted(inner: F, pass: G::Pass) -> Self {
        Self::Inner {
            inner,
            pass: Some(pass),
        }
    }

    /// The gate's refusal, answered as is.
    pub fn refused(response: Box<Response>) -> Self {
        Self::Refused {
            response: Some(response),
        }
    }
}

impl<F, G, E> Future for GatedFuture<F, G>
where
    F: Future<Output = Result<Response, E>>,
    G: Gate,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Inner { inner, pass } => {
                // In place: the response is not moved out and back.
                let mut poll = inner.poll(cx);
                if let Poll::Ready(Ok(response)) = &mut poll
                    && let Some(pass) = pass.take()
                {
                    G::amend(pass, response);
                }
                poll
            }
            Projection::Refused { response } => {
                Poll::Ready(Ok(*response.take().expect("polled after completion")))
            }
        }
    }
}
