//! A request timeout layer that costs nothing to requests answered at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use crate::problem::{PROBLEM_CONTENT_TYPE, Problem};

/// Answers `408 Request Timeout` (a problem+json body) when the inner service has not produced a
/// response head within `timeout`; the inner future is then dropped.
///
/// Unlike a timer armed for every request (tower-http's `TimeoutLayer`), the timer is armed
/// only once the inner future first returns `Pending`: a request served in one poll (a
/// cache hit) reads no clock, touches no timer, no timer-wheel lock and never wakes the
/// timer driver. The deadline counts from that first poll, which a server makes as soon as
/// the request reaches this layer.
///
/// ```
/// use std::time::Duration;
/// use apiforge_runtime::timeout::RequestTimeoutLayer;
/// use axum::{Router, routing::get};
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(RequestTimeoutLayer::new(Duration::from_secs(10)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeoutLayer {
    timeout: Duration,
}

impl RequestTimeoutLayer {
    /// Requests get `timeout` to produce their response head.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`RequestTimeoutLayer`].
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestTimeout<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<bytes::Bytes>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        TimeoutFuture {
            inner: self.inner.call(request),
            timeout: self.timeout,
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestTimeout`].
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        timeout: Duration,
        // Armed on the first `Pending` of `inner`.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F, ResBody, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<bytes::Bytes>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        let sleep = this.sleep.as_pin_mut().expect("armed above");
        if sleep.poll(cx).is_ready() {
            return Poll::Ready(Ok(timeout_response()));
        }
        Poll::Pending
    }
}

/// The 408 problem+json answered past the deadline.
pub(crate) fn timeout_response<ResBody: From<bytes::Bytes>>() -> Response<ResBody> {
    let problem = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "the request took too long to answer",
    );
    let mut response = Response::new(ResBody::from(bytes::Bytes::from(problem.to_body())));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    fn slow(
        delay: Duration,
    ) -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>>,
    > + Clone {
        tower::service_fn(move |_: Request<Body>| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, Infallible>(Response::new(Body::from("done")))
        })
    }

    #[tokio::test]
    async fn answers_408_after_the_timeout() {
        let service = RequestTimeoutLayer::new(Duration::from_millis(50))
            .layer(slow(Duration::from_secs(30)));
        let started = std::time::Instant::now();
        let response = service.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (problem.status, problem.title.as_str()),
            (408, "Request Timeout")
        );
    }

    #[tokio::test]
    async fn slow_but_in_time_is_answered() {
        let service = RequestTimeoutLayer::new(Duration::from_secs(30))
            .layer(slow(Duration::from_millis(20)));
        let response = service.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_ready_response_arms_no_timer() {
        let service = RequestTimeoutLayer::new(Duration::from_secs(5)).layer(tower::service_fn(
            |_: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::empty())) },
        ));
        let mut future = std::pin::pin!(service.oneshot(Request::new(Body::empty())));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(response) = future.as_mut().poll(&mut cx) else {
            panic!("a ready inner future is ready at once");
        };
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
}
