//! Rate limits from the spec: `server.rate_limit` per client, and a resource's
//! `rate_limit: { create: 5/s }` per operation and client.
//!
//! Each limit is a GCRA (governor's keyed limiter, in process): `count` requests per
//! `period` on average, with bursts of up to `burst`. The client is the caller's subject when
//! authenticated, else its address (`X-Forwarded-For` only from [`TrustedProxies`]).
//!
//! With Redis, the instances of an app share each limit: every instance keeps enforcing it
//! locally (a request never waits on Redis) and settles its counts with Redis every
//! [`SETTLE_EVERY`] in one atomic Lua call; a client over the limit across the fleet is then
//! refused by every instance until its shared bucket has room. The price of never waiting
//! on Redis: an instance may let through what a client sends it within one settlement
//! interval after the fleet passed the limit. Redis down: each instance goes on enforcing
//! the limit alone.
//!
//! Answers carry the `RateLimit-Policy` and `RateLimit` fields of the IETF draft
//! (`"client";q=100;w=2` and `"client";r=99;t=1`, one member per limit that applied); a
//! refused request is a 429 problem with `Retry-After`.

mod client;
mod layer;
mod quota;
// Limits shared through Redis: the real settlement with the `redis` feature, else a type
// with no values (there is no `Redis` handle to share through).
#[cfg(feature = "redis")]
mod shared;
#[cfg(not(feature = "redis"))]
#[path = "no_shared.rs"]
mod shared;

use std::cell::Cell;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::InMemoryState;
use http::{HeaderName, HeaderValue, StatusCode, header};

pub use self::client::TrustedProxies;
pub use self::layer::{RateLimit, RateLimitFuture, RateLimitLayer};
pub use self::quota::Quota;
use self::shared::Shared;
use crate::cache::Redis;
use crate::engine::Caller;
use crate::problem::Problem;

/// `RateLimit-Policy`: the limits that apply (`"name";q=burst;w=seconds`).
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left of each (`"name";r=remaining;t=seconds until full`).
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Whom a limit counts: the authenticated subject, else the client's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Subject(Arc<str>),
    Addr(IpAddr),
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::Subject(subject) => write!(f, "sub:{subject}"),
            ClientKey::Addr(addr) => write!(f, "ip:{addr}"),
        }
    }
}

/// The client of a request, as [`RateLimitLayer::clients`] found it (in the request's
/// extensions for the operation limits and your handlers).
#[derive(Debug, Clone)]
pub struct Client {
    pub key: ClientKey,
    shared: Option<Arc<Shared>>,
}

impl Client {
    /// The client of `request`: its subject, else its address (through `proxies`).
    fn of(request: &Request, proxies: &TrustedProxies, shared: Option<Arc<Shared>>) -> Self {
        let key = match request.extensions().get::<Caller>() {
            Some(caller) => ClientKey::Subject(caller.subject.as_str().into()),
            None => ClientKey::Addr(proxies.client_ip(request)),
        };
        Self { key, shared }
    }
}

/// Clients' states, hashed with foldhash (SipHash, the default, was a third of a check).
type Clients = dashmap::DashMap<ClientKey, InMemoryState, foldhash::fast::RandomState>;

type Local = governor::RateLimiter<ClientKey, Clients, CoarseClock, StateInformationMiddleware>;

/// The limiters' clock: the kernel's coarse monotonic clock (a few ms of resolution, read
/// without the TSC), cheaper than governor's default (quanta) on this
/// VM; this one reads in a few ns (`rate_limit::micro`: a check 81 → 61 ns). A few ms of
/// resolution only lets a burst start a tick early: over any period the rate holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoarseClock;

impl Clock for CoarseClock {
    type Instant = Nanos;

    #[cfg(target_os = "linux")]
    fn now(&self) -> Nanos {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        Nanos::new(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64)
    }

    #[cfg(not(target_os = "linux"))]
    fn now(&self) -> Nanos {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        Nanos::new(
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos() as u64,
        )
    }
}

/// Forgotten clients are dropped from a limiter's map every this many checks (per thread).
const RETAIN_EVERY: u32 = 1 << 16;

/// One limit: its name in the headers, its quota and each client's state.
pub struct Limiter {
    name: Arc<str>,
    quota: Quota,
    local: Local,
    policy: HeaderValue,
    /// `"name";r=`, the start of every `RateLimit` value.
    state_prefix: String,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

/// What a limit said about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let through; `remaining` more fit now, the bucket is full again after `reset`.
    Allowed { remaining: u32, reset: Duration },
    /// Refused; try again after `wait`.
    Refused { wait: Duration },
}

impl Limiter {
    /// A limit called `name` (`client`, `orders.create`) of `quota`.
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        let name = name.into();
        let burst = NonZeroU32::new(quota.burst).unwrap_or(NonZeroU32::MIN);
        let local = governor::Quota::with_period(quota.interval())
            .expect("a rate's interval is above 0")
            .allow_burst(burst);
        let policy = HeaderValue::try_from(format!(
            "\"{name}\";q={};w={}",
            quota.burst,
            seconds(quota.window())
        ))
        .expect("a policy name is a header value");
        Self {
            state_prefix: format!("\"{name}\";r="),
            name,
            quota,
            local: Local::new(local, Clients::default(), CoarseClock),
            policy,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts a request of `client` against this limit (locally, and in the shared bucket
    /// when there is one).
    pub fn check(&self, client: &Client) -> Decision {
        // Counted per thread: a shared counter would be one more contended cache line on
        // every request.
        thread_local!(static CHECKS: Cell<u32> = const { Cell::new(0) });
        let n = CHECKS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        if n.is_multiple_of(RETAIN_EVERY) {
            self.local.retain_recent();
        }
        match self.local.check_key(&client.key) {
            Ok(snapshot) => {
                if let Some(shared) = &client.shared {
                    if let Some(wait) = shared.blocked(&self.name, &client.key) {
                        return Decision::Refused { wait };
                    }
                    shared.count(&self.name, self.quota, &client.key);
                }
                let remaining = snapshot.remaining_burst_capacity();
                Decision::Allowed {
                    remaining,
                    reset: self.quota.interval() * (self.quota.burst.saturating_sub(remaining)),
                }
            }
            Err(not_until) => Decision::Refused {
                wait: not_until.wait_time_from(CoarseClock.now()),
            },
        }
    }

    /// Checks `client`: the `RateLimit` member to send, or the 429 of a refusal.
    fn apply(&self, client: &Client) -> Result<HeaderValue, Refused> {
        match self.check(client) {
            Decision::Allowed { remaining, reset } => Ok(self.state(remaining, reset)),
            Decision::Refused { wait } => {
                metrics::counter!("apiforge_rate_limited_total", "limit" => self.name.to_string())
                    .increment(1);
                Err(Refused(Box::new(self.refusal(wait))))
            }
        }
    }

    /// The 429 problem: which limit, when to retry.
    fn refusal(&self, wait: Duration) -> Response {
        let problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit `{}` ({} per {}) exceeded: retry after {} s",
                self.name,
                self.quota.count,
                humantime(self.quota.period),
                seconds(wait)
            ),
        );
        let mut response = problem.into_response();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds(wait)));
        headers.append(RATELIMIT_POLICY.clone(), self.policy.clone());
        headers.append(RATELIMIT.clone(), self.state(0, wait));
        response
    }

    /// `"name";r=remaining;t=seconds`, written without `format!` (on every request).
    fn state(&self, remaining: u32, reset: Duration) -> HeaderValue {
        let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
        // `concat` sizes the string once, so the header value takes it without a copy.
        let value = [
            self.state_prefix.as_str(),
            r.format(remaining),
            ";t=",
            t.format(seconds(reset)),
        ]
        .concat();
        HeaderValue::try_from(value).expect("a policy name is a header value")
    }
}

/// A refused request's answer (boxed: a `Response` is large).
#[derive(Debug)]
struct Refused(Box<Response>);

/// Whole seconds, rounded up (a client that waits them is let through).
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn humantime(d: Duration) -> String {
    match d.as_secs() {
        1 => "second".to_owned(),
        60 => "minute".to_owned(),
        3600 => "hour".to_owned(),
        s if d.subsec_nanos() == 0 => format!("{s} s"),
        _ => format!("{d:?}"),
    }
}

/// The API-wide part: whom a request counts for, and `server.rate_limit`.
#[derive(Debug, Clone)]
pub struct RateLimits(Arc<Inner>);

/// How often an instance settles its counts with Redis. A client over a shared limit is
/// refused by every instance at most this long after the fleet's count passed it.
pub const SETTLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Inner {
    client: Option<Limiter>,
    proxies: TrustedProxies,
    shared: Option<Arc<Shared>>,
    /// Paths never limited (probes, monitoring): prefixes.
    exempt: Vec<String>,
    /// Whether the client is left in the request for [`RateLimitLayer::operation`].
    share_client: bool,
}

impl RateLimits {
    /// `client`: the per-client limit of every route (`None`: only operation limits).
    /// `redis`: shares the limits across instances (settled every [`SETTLE_EVERY`]; call
    /// inside a Tokio runtime). `exempt`: path prefixes never limited.
    pub fn new(
        client: Option<Quota>,
        proxies: TrustedProxies,
        redis: Option<Redis>,
        exempt: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self(Arc::new(Inner {
            client: client.map(|quota| Limiter::new("client", quota)),
            proxies,
            shared: redis.map(Shared::start),
            exempt: exempt.into_iter().map(Into::into).collect(),
            share_client: true,
        }))
    }

    /// For an API where no route has a limit of its own: the layer keeps the client to
    /// itself instead of leaving it in the request's extensions for
    /// [`RateLimitLayer::operation`], which saves every request an allocation. Call it
    /// before cloning (on a clone it changes nothing).
    pub fn client_only(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.share_client = false;
        }
        self
    }

    fn exempt(&self, path: &str) -> bool {
        self.0.exempt.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    fn client(&self, request: &Request) -> Client {
        Client::of(request, &self.0.proxies, self.0.shared.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn client(n: u8) -> Client {
        Client {
            key: ClientKey::Addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))),
            shared: None,
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = Limiter::new("client", Quota::new(10, Duration::from_secs(1), 3));
        let a = client(1);
        for left in [2, 1, 0] {
            assert!(
                matches!(limiter.check(&a), Decision::Allowed { remaining, .. } if remaining == left)
            );
        }
        let Decision::Refused { wait } = limiter.check(&a) else {
            panic!("the fourth request of a burst of 3 went through");
        };
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // Another client has its own bucket.
        assert!(matches!(
            limiter.check(&client(2)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn headers_follow_the_draft() {
        let limiter = Limiter::new("orders.create", Quota::new(5, Duration::from_secs(1), 5));
        assert_eq!(limiter.policy, "\"orders.create\";q=5;w=1");
        let state = limiter.apply(&client(1)).expect("allowed");
        assert_eq!(state, "\"orders.create\";r=4;t=1");
        for _ in 0..4 {
            limiter.apply(&client(1)).expect("allowed");
        }
        let refused = *limiter.apply(&client(1)).expect_err("refused").0;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert_eq!(refused.headers()[&RATELIMIT], "\"orders.create\";r=0;t=1");
    }

    #[test]
    fn probes_and_monitoring_are_exempt() {
        let limits = RateLimits::new(None, TrustedProxies::none(), None, ["/health", "/metrics"]);
        assert!(limits.exempt("/health"));
        assert!(limits.exempt("/health/ready"));
        assert!(limits.exempt("/metrics"));
        assert!(!limits.exempt("/healthy"));
        assert!(!limits.exempt("/products"));
    }
}

#[cfg(test)]
mod micro {
    use std::net::Ipv4Addr;

    use super::*;

    /// `cargo test --release -p apiforge-runtime --lib rate_limit::micro -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement"]
    fn cost_of_a_check() {
        // A limit no loop reaches (a refusal would measure the 429 instead).
        let quota = Quota::new(1_000_000_000, Duration::from_secs(1), 1_000_000_000);
        let limiter = Limiter::new("client", quota);
        let client = Client {
            key: ClientKey::Addr(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            shared: None,
        };
        let n = 2_000_000u32;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(limiter.check(&client));
        }
        eprintln!(
            "check: {:.0} ns",
            t.elapsed().as_nanos() as f64 / f64::from(n)
        );
        let limiter = Limiter::new("client", quota);
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(limiter.apply(&client).ok());
        }
        eprintln!(
            "apply (with the header value): {:.0} ns",
            t.elapsed().as_nanos() as f64 / f64::from(n)
        );
        // Two threads, one client: the worst case of contention on its state.
        let limiter = Limiter::new("client", quota);
        let t = std::time::Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..n / 2 {
                        std::hint::black_box(limiter.apply(&client).ok());
                    }
                });
            }
        });
        eprintln!(
            "apply, 2 threads, one client: {:.0} ns of wall time each",
            t.elapsed().as_nanos() as f64 / f64::from(n)
        );
    }
}
