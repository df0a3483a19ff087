//! Response compression that leaves requests without `Accept-Encoding` untouched.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, VARY};
use http::{HeaderMap, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs responses through a compression layer `L` (e.g. tower-http's `CompressionLayer`)
/// only when the request sent `Accept-Encoding`; the others keep their body as it is.
///
/// A compression layer wraps every response body (compressed or not) in its own body
/// type, several kilobytes large with the encoders' state, which is then moved through
/// each layer and boxed: a cost on every small response that never gets compressed. Here
/// the inner service runs unwrapped, and `L` is applied to its response only for requests
/// that accept an encoding, so those are compressed exactly as `L` decides.
///
/// For requests without `Accept-Encoding`, `vary_when` says which responses `L` would have
/// compressed for a client accepting it (pass `L`'s predicate): they get the
/// `Vary: accept-encoding` that `L` would have added.
#[derive(Clone, Debug)]
pub struct CompressAcceptedLayer<L, V> {
    encoding: Compress<L, V>,
}

impl<L, V> CompressAcceptedLayer<L, V> {
    /// `compression` for requests with `Accept-Encoding`; `vary_when(response)`: whether
    /// `compression` would compress `response` (for the `Vary` header of the others).
    pub fn new(compression: L, vary_when: V) -> Self {
        Self {
            encoding: Compress::new(compression, vary_when),
        }
    }
}

impl<S, L: Clone, V: Clone> Layer<S> for CompressAcceptedLayer<L, V> {
    type Service = CompressAccepted<S, L, V>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressAccepted {
            inner,
            encoding: self.encoding.clone(),
        }
    }
}

/// The service of [`CompressAcceptedLayer`].
#[derive(Clone, Debug)]
pub struct CompressAccepted<S, L, V> {
    inner: S,
    encoding: Compress<L, V>,
}

/// A service answering one given response: what the compression layer wraps.
pub struct Respond<E> {
    response: Option<Response<Body>>,
    _error: PhantomData<fn() -> E>,
}

impl<E> Service<Request<()>> for Respond<E> {
    type Response = Response<Body>;
    type Error = E;
    type Future = Ready<Result<Response<Body>, E>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        ready(Ok(self.response.take().expect("Respond is called once")))
    }
}

impl<S, L, V, ReqBody> Service<Request<ReqBody>> for CompressAccepted<S, L, V>
where
    S: Service<Request<ReqBody>, Response = Response<Body>, Error = Infallible>,
    Compress<L, V>: Encoding,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CompressAcceptedFuture<S::Future, Compress<L, V>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let negotiated = self.encoding.negotiate(request.headers());
        CompressAcceptedFuture {
            state: State::Inner {
                future: self.inner.call(request),
            },
            negotiated: Some(negotiated),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`CompressAccepted`].
    pub struct CompressAcceptedFuture<F, N: Encoding> {
        #[pin]
        state: State<F, N::Future>,
        // What the request asked for; taken when its response is ready.
        negotiated: Option<N::Negotiated>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Inner { #[pin] future: F },
        Compressing { #[pin] future: C },
    }
}

impl<F, N> Future for CompressAcceptedFuture<F, N>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
    N: Encoding,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = std::task::ready!(future.poll(cx))?;
                    let negotiated = this.negotiated.take().expect("answered once");
                    match N::encode(negotiated, response) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(future) => this.state.set(State::Compressing { future }),
                    }
                }
                StateProj::Compressing { future } => return future.poll(cx),
            }
        }
    }
}

/// How [`ServeLayer`](crate::serve::ServeLayer) encodes responses: [`NoCompression`], or
/// [`Compress`] (a compression layer applied only to requests that accept an encoding).
pub trait Encoding: Clone {
    /// What a request keeps for its response: its `Accept-Encoding`, or what decides the
    /// `Vary` of a response sent as it is.
    type Negotiated;
    /// The future of a response being compressed.
    type Future: Future<Output = Result<Response<Body>, Infallible>>;

    /// What `headers` (a request's) ask for.
    fn negotiate(&self, headers: &HeaderMap) -> Self::Negotiated;

    /// The response as it is (`Vary` added where compression would apply), or the
    /// future compressing it.
    fn encode(
        negotiated: Self::Negotiated,
        response: Response<Body>,
    ) -> Result<Response<Body>, Self::Future>;
}

/// Responses are sent as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCompression;

impl Encoding for NoCompression {
    type Negotiated = ();
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn negotiate(&self, _headers: &HeaderMap) {}

    fn encode(_: (), response: Response<Body>) -> Result<Response<Body>, Self::Future> {
        Ok(response)
    }
}

/// A compression layer `L` for the requests that sent `Accept-Encoding`, and `vary_when`
/// (`L`'s predicate) for the `Vary` of the others: [`CompressAcceptedLayer`]'s behaviour.
#[derive(Clone, Debug)]
pub struct Compress<L, V> {
    compression: L,
    vary_when: V,
}

impl<L, V> Compress<L, V> {
    /// `compression` for requests with `Accept-Encoding`; `vary_when(response)`: whether
    /// `compression` would compress `response`.
    pub fn new(compression: L, vary_when: V) -> Self {
        Self {
            compression,
            vary_when,
        }
    }
}

/// What [`Compress`] keeps of a request.
pub enum Negotiated<L, V> {
    /// The request's `Accept-Encoding` lines and the compression layer.
    Accepted(HeaderMap, L),
    /// No `Accept-Encoding`: the response is sent as it is.
    Plain(V),
}

impl<L, V, CS, CB> Encoding for Compress<L, V>
where
    L: Layer<Respond<Infallible>, Service = CS> + Clone,
    CS: Service<Request<()>, Response = Response<CB>, Error = Infallible>,
    CB: http_body::Body<Data = Bytes> + Send + 'static,
    CB::Error: Into<BoxError>,
    V: Fn(&Response<Body>) -> bool + Clone,
{
    type Negotiated = Negotiated<L, V>;
    type Future = Compressed<CS::Future>;

    fn negotiate(&self, headers: &HeaderMap) -> Self::Negotiated {
        let mut accept = headers.get_all(ACCEPT_ENCODING).iter().peekable();
        if accept.peek().is_none() {
            return Negotiated::Plain(self.vary_when.clone());
        }
        let mut lines = HeaderMap::new();
        for value in accept {
            lines.append(ACCEPT_ENCODING, value.clone());
        }
        // The compression layer is cloned only for the requests it may compress.
        Negotiated::Accepted(lines, self.compression.clone())
    }

    fn encode(
        negotiated: Self::Negotiated,
        mut response: Response<Body>,
    ) -> Result<Response<Body>, Self::Future> {
        match negotiated {
            Negotiated::Plain(vary_when) => {
                // Cached answers carry their `Vary` already: checked first, it spares
                // them the predicate.
                if !varies_on_encoding(response.headers()) && vary_when(&response) {
                    response
                        .headers_mut()
                        .append(VARY, HeaderValue::from_static("accept-encoding"));
                }
                Ok(response)
            }
            Negotiated::Accepted(accept, compression) => {
                let mut service = compression.layer(Respond {
                    response: Some(response),
                    _error: PhantomData,
                });
                let mut probe = Request::new(());
                *probe.headers_mut() = accept;
                Err(Compressed {
                    future: service.call(probe),
                })
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response being compressed, its body boxed as an axum [`Body`].
    pub struct Compressed<F> {
        #[pin]
        future: F,
    }
}

impl<F, CB> Future for Compressed<F>
where
    F: Future<Output = Result<Response<CB>, Infallible>>,
    CB: http_body::Body<Data = Bytes> + Send + 'static,
    CB::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(self.project().future.poll(cx))?;
        Poll::Ready(Ok(response.map(Body::new)))
    }
}

/// Whether a `Vary` line names `accept-encoding` (as the compression layer checks it).
fn varies_on_encoding(headers: &HeaderMap) -> bool {
    headers.get_all(VARY).iter().any(|v| {
        // The cached answers' own line, compared whole before any search of a list.
        v.as_bytes().eq_ignore_ascii_case(b"accept-encoding")
            || v.as_bytes()
                .windows(15)
                .any(|w| w.eq_ignore_ascii_case(b"accept-encoding"))
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// Stands for a compression layer: answers with the request's `Accept-Encoding` as
    /// `Content-Encoding` and the body in upper case.
    #[derive(Clone)]
    struct Upper;

    impl<S> Layer<S> for Upper {
        type Service = UpperService<S>;
        fn layer(&self, inner: S) -> Self::Service {
            UpperService(inner)
        }
    }

    struct UpperService<S>(S);

    impl<S> Service<Request<()>> for UpperService<S>
    where
        S: Service<Request<()>, Response = Response<Body>, Error = Infallible>,
        S::Future: Send + 'static,
    {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            let coding = request.headers().get(ACCEPT_ENCODING).cloned().unwrap();
            let future = self.0.call(request);
            Box::pin(async move {
                let response = future.await?;
                let (mut parts, body) = response.into_parts();
                let bytes = body.collect().await.unwrap().to_bytes();
                parts.headers.insert(http::header::CONTENT_ENCODING, coding);
                Ok(Response::from_parts(
                    parts,
                    Body::from(bytes.to_ascii_uppercase()),
                ))
            })
        }
    }

    fn app(
        vary: bool,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
        let inner = tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("hello")))
        });
        CompressAcceptedLayer::new(Upper, move |_: &Response<Body>| vary).layer(inner)
    }

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn requests_accepting_an_encoding_go_through_the_layer() {
        let request = Request::builder()
            .header(ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap();
        let response = app(true).oneshot(request).await.unwrap();
        assert_eq!(response.headers()["content-encoding"], "gzip");
        assert_eq!(text(response).await, "HELLO");
    }

    #[tokio::test]
    async fn other_requests_keep_their_body_and_get_the_vary_the_layer_would_add() {
        let response = app(true)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.headers().get("content-encoding"), None);
        assert_eq!(response.headers()["vary"], "accept-encoding");
        assert_eq!(text(response).await, "hello");

        let response = app(false)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.headers().get("vary"), None);
    }

    #[test]
    fn vary_is_not_repeated() {
        let mut headers = HeaderMap::new();
        assert!(!varies_on_encoding(&headers));
        headers.insert(VARY, HeaderValue::from_static("Origin, Accept-Encoding"));
        assert!(varies_on_encoding(&headers));
    }
}
