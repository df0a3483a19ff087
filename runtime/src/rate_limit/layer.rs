//! The rate limits as a tower layer: [`RateLimitLayer::clients`] on the whole router (inside
//! authentication), [`RateLimitLayer::operation`] on a limited operation's route.
//!
//! A layer of its own rather than `axum::middleware::from_fn`: that boxes every request's
//! future and clones the inner service per request, which measured +3 µs of CPU per cached
//! GET (15.7 → 18.6 µs, bench/ratelimit.sh); here the response future is a plain enum.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use tower_layer::Layer;
use tower_service::Service;

use super::{Client, Limiter, RATELIMIT, RATELIMIT_POLICY, RateLimits, TrustedProxies};

#[derive(Debug, Clone)]
enum Scope {
    /// Finds the client, applies `server.rate_limit`, leaves the [`Client`] to operations.
    Clients(RateLimits),
    /// One operation's limit.
    Operation(Arc<Limiter>),
}

/// Applies rate limits; answers 429 when one is exhausted.
#[derive(Debug, Clone)]
pub struct RateLimitLayer(Scope);

impl RateLimitLayer {
    /// The API-wide layer: whom each request counts for, and `server.rate_limit`.
    pub fn clients(limits: RateLimits) -> Self {
        Self(Scope::Clients(limits))
    }

    /// One operation's limit, for its route (inside [`RateLimitLayer::clients`]).
    pub fn operation(limiter: Arc<Limiter>) -> Self {
        Self(Scope::Operation(limiter))
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            scope: self.0.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    scope: Scope,
}

impl<S> Service<Request> for RateLimit<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let state = match &self.scope {
            Scope::Clients(limits) => {
                if limits.exempt(request.uri().path()) {
                    None
                } else {
                    let client = limits.client(&request);
                    let state = match &limits.0.client {
                        Some(limiter) => match limiter.apply(&client) {
                            Ok(state) => Some(Members {
                                policy: limiter.policy.clone(),
                                state,
                            }),
                            Err(refused) => return RateLimitFuture::refused(*refused.0),
                        },
                        None => None,
                    };
                    request.extensions_mut().insert(client);
                    state
                }
            }
            Scope::Operation(limiter) => {
                let client = match request.extensions().get::<Client>() {
                    Some(client) => client.clone(),
                    // Outside `RateLimitLayer::clients`: no proxy to trust, nothing shared.
                    None => Client::of(&request, &TrustedProxies::none(), None),
                };
                match limiter.apply(&client) {
                    Ok(state) => Some(Members {
                        policy: limiter.policy.clone(),
                        state,
                    }),
                    Err(refused) => return RateLimitFuture::refused(*refused.0),
                }
            }
        };
        RateLimitFuture::Inner {
            inner: self.inner.call(request),
            state,
        }
    }
}

/// A limit's members of `RateLimit-Policy` and `RateLimit`, appended to the answer (the
/// operation's, inner, before the client's: the draft gives members no order, and putting
/// the client's first measured 1,555 instructions a request under callgrind).
#[derive(Debug)]
struct Members {
    policy: HeaderValue,
    state: HeaderValue,
}

pin_project_lite::pin_project! {
    /// The response future of [`RateLimit`].
    #[project = Projection]
    pub enum RateLimitFuture<F> {
        Inner {
            #[pin]
            inner: F,
            state: Option<Members>,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<F> RateLimitFuture<F> {
    fn refused(response: Response) -> Self {
        Self::Refused {
            response: Some(response),
        }
    }
}

impl<F, E> Future for RateLimitFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Inner { inner, state } => {
                let mut response = match inner.poll(cx) {
                    Poll::Ready(Ok(response)) => response,
                    other => return other,
                };
                if let Some(m) = state.take() {
                    let headers = response.headers_mut();
                    headers.append(RATELIMIT_POLICY.clone(), m.policy);
                    headers.append(RATELIMIT.clone(), m.state);
                }
                Poll::Ready(Ok(response))
            }
            Projection::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}
