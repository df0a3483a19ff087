//! The rate limits as a tower layer: [`RateLimitLayer::clients`] on the whole router (inside
//! authentication), [`RateLimitLayer::operation`] on a limited operation's route. The
//! API-wide limits are also a [`Gate`] of the request span, which generated apps use (one
//! layer less per request).
//!
//! A layer of its own rather than `axum::middleware::from_fn`: that boxes every request's
//! future and clones the inner service per request, which measured +3 µs of CPU per cached
//! GET (15.7 → 18.6 µs, bench/ratelimit.sh); here the response future is a plain enum.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use tower_layer::Layer;
use tower_service::Service;

use super::{
    Client, ClientKey, Limiter, POLICY_NAME, RateLimits, STATE_NAME, State, TrustedProxies,
};
use crate::monitor::{Gate, GatedFuture};

/// What a [`RateLimitLayer`] checks: the API-wide limits or one operation's.
#[derive(Debug, Clone)]
pub enum Scope {
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
        match self.scope.admit(&mut request) {
            Ok(pass) => GatedFuture::admitted(self.inner.call(request), pass),
            Err(refused) => GatedFuture::refused(refused),
        }
    }
}

/// The response future of [`RateLimit`]: the answer with the limits' members, or the 429.
pub type RateLimitFuture<F> = GatedFuture<F, Scope>;

/// A [`RateLimitLayer`] is a gate of its own layer.
impl Gate for Scope {
    type Pass = Option<Members>;

    fn admit(&self, request: &mut Request) -> Result<Self::Pass, Box<Response>> {
        let limiter = match self {
            Scope::Clients(limits) => return limits.admit(request),
            Scope::Operation(limiter) => limiter,
        };
        let applied = match request.extensions().get::<Client>() {
            Some(client) => limiter.apply(&client.key, client.shared.as_deref()),
            // Outside `RateLimitLayer::clients`: no proxy to trust, nothing shared.
            None => limiter.apply(&ClientKey::of(request, &TrustedProxies::none()), None),
        };
        applied.map(Some).map_err(|refused| refused.0)
    }

    fn amend(pass: Self::Pass, response: &mut Response) {
        RateLimits::amend(pass, response);
    }
}

/// A limit's members of `RateLimit-Policy` (when sent, see [`Limiter`]) and `RateLimit`,
/// appended to the answer (the operation's, inner, before the client's: the draft gives
/// members no order, and putting the client's first measured 1,555 instructions a request
/// under callgrind).
#[derive(Debug)]
pub struct Members {
    pub(super) policy: Option<&'static HeaderValue>,
    pub(super) state: State,
}

impl Members {
    fn amend(self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Some(policy) = self.policy {
            headers.append(POLICY_NAME, policy.clone());
        }
        headers.append(STATE_NAME, self.state.value());
    }
}

/// The API-wide limits as the gate of the request span
/// ([`RequestSpanLayer::gated`](crate::monitor::RequestSpanLayer::gated)): what
/// [`RateLimitLayer::clients`] does, without a layer of its own.
impl Gate for RateLimits {
    /// The client limit's members, when there is one.
    type Pass = Option<Members>;

    fn admit(&self, request: &mut Request) -> Result<Self::Pass, Box<Response>> {
        if self.exempt(request.uri().path()) {
            return Ok(None);
        }
        let key = self.key(request);
        let shared = &self.0.shared;
        let state = match &self.0.client {
            Some(limiter) => match limiter.apply(&key, shared.as_deref()) {
                Ok(members) => Some(members),
                Err(refused) => return Err(refused.0),
            },
            None => None,
        };
        if self.0.share_client {
            let shared = shared.clone();
            request.extensions_mut().insert(Client { key, shared });
        }
        Ok(state)
    }

    fn amend(pass: Self::Pass, response: &mut Response) {
        if let Some(members) = pass {
            members.amend(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::rate_limit::Quota;

    /// Answers whether the request reached it with a [`Client`].
    async fn has_client(request: Request) -> Result<Response, Infallible> {
        let found = request.extensions().get::<Client>().is_some();
        Ok(Response::new(Body::from(found.to_string())))
    }

    async fn client_left_in_the_request(limits: RateLimits) -> bool {
        let service = RateLimitLayer::clients(limits).layer(service_fn(has_client));
        let response = service
            .oneshot(Request::new(Body::empty()))
            .await
            .expect("infallible");
        let body = axum::body::to_bytes(response.into_body(), 64)
            .await
            .unwrap();
        &body[..] == b"true"
    }

    #[tokio::test]
    async fn the_client_is_left_to_operations_unless_there_are_none() {
        let quota = Some(Quota::new(10, std::time::Duration::from_secs(1), 10));
        let limits = || RateLimits::new(quota, TrustedProxies::none(), None, ["/health"]);
        assert!(client_left_in_the_request(limits()).await);
        assert!(!client_left_in_the_request(limits().client_only()).await);
    }

    #[tokio::test]
    async fn answers_carry_both_members() {
        let quota = Some(Quota::new(10, std::time::Duration::from_secs(1), 10));
        let limits = RateLimits::new(quota, TrustedProxies::none(), None, ["/health"]);
        let service = RateLimitLayer::clients(limits.client_only()).layer(service_fn(has_client));
        let response = service
            .oneshot(Request::new(Body::empty()))
            .await
            .expect("infallible");
        assert_eq!(
            response.headers()[&super::super::RATELIMIT_POLICY],
            "\"client\";q=10;w=1"
        );
        assert_eq!(
            response.headers()[&super::super::RATELIMIT],
            "\"client\";r=9;t=1"
        );
    }
}
