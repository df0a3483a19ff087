//! Authentication as a tower layer: the request's [`Caller`] from its credentials, or a 401.
//!
//! A layer of its own rather than `axum::middleware::from_fn`: that boxes every request's
//! future and clones the inner service per request (≈ 3 µs of CPU per cached GET, measured
//! on the same stack for the rate limits, bench/ratelimit.sh); here the future is an enum.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use tower_layer::Layer;
use tower_service::Service;

use super::Auth;

/// Puts each request's [`Caller`](crate::engine::Caller) in its extensions, or answers 401
/// (with `WWW-Authenticate`) for bad credentials. Missing credentials pass: the operation's
/// rule decides.
#[derive(Debug, Clone)]
pub struct AuthLayer(Auth);

impl AuthLayer {
    pub fn new(auth: Auth) -> Self {
        Self(auth)
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    auth: Auth,
}

impl<S> Service<Request> for Authenticate<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.auth.caller(request.headers()) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                AuthFuture::Inner {
                    inner: self.inner.call(request),
                }
            }
            Err(problem) => {
                let mut response = problem.into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                AuthFuture::Refused {
                    response: Some(response),
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Authenticate`].
    #[project = Projection]
    pub enum AuthFuture<F> {
        Inner {
            #[pin]
            inner: F,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<F, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Inner { inner } => inner.poll(cx),
            Projection::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}
