//! The per-request tracing span layer.

use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;
use tracing::instrument::Instrumented;

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
        // The fields are evaluated only when the span is enabled.
        let span = tracing::info_span!(
            "request",
            method = request.method().as_str(),
            route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| request.uri().path(), MatchedPath::as_str),
        );
        self.inner.call(request).instrument(span)
    }
}
