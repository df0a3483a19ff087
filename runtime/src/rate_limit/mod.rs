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
//! Answers carry the `RateLimit` field of the IETF draft (`"client";r=99;t=1`, one member
//! per limit that applied) and, on a client's first answer after its bucket was full and on
//! every 429, its static `RateLimit-Policy` (`"client";q=100;w=2`); a refused request is a
//! 429 problem with `Retry-After`.

mod client;
mod layer;
mod quota;
mod store;
// Limits shared through Redis: the real settlement with the `redis` feature, else a type
// with no values (there is no `Redis` handle to share through).
#[cfg(feature = "redis")]
mod shared;
#[cfg(not(feature = "redis"))]
#[path = "no_shared.rs"]
mod shared;

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use http::{HeaderName, HeaderValue, StatusCode, header};

pub use self::client::TrustedProxies;
pub use self::layer::{Members, RateLimit, RateLimitFuture, RateLimitLayer, Scope};
pub use self::quota::Quota;
use self::shared::Shared;
use self::store::Clients;
use crate::cache::Redis;
#[cfg(feature = "auth")]
use crate::engine::Caller;
use crate::problem::Problem;

/// `RateLimit-Policy`: the limits that apply (`"name";q=burst;w=seconds`).
pub static RATELIMIT_POLICY: HeaderName = POLICY_NAME;
/// `RateLimit`: what is left of each (`"name";r=remaining;t=seconds until full`).
pub static RATELIMIT: HeaderName = STATE_NAME;

// The names as constants too, for the answers: a constant is built in place, where cloning
// the static calls through its `Bytes` vtable. Its interior mutability (`Bytes`' atomic
// pointer) is never used: a constant is only ever taken by value.
#[allow(clippy::declare_interior_mutable_const)]
const POLICY_NAME: HeaderName = HeaderName::from_static("ratelimit-policy");
#[allow(clippy::declare_interior_mutable_const)]
const STATE_NAME: HeaderName = HeaderName::from_static("ratelimit");

/// Whom a limit counts: the authenticated subject, else the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    Subject(Arc<str>),
    Addr(IpAddr),
}

/// Hashed by hand: the derived hash feeds the hasher four times for an address (two
/// variant tags, the octets' length, the octets), this once.
impl Hash for ClientKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            ClientKey::Subject(subject) => subject.hash(state),
            ClientKey::Addr(IpAddr::V4(addr)) => state.write_u32(addr.to_bits()),
            ClientKey::Addr(IpAddr::V6(addr)) => state.write_u128(addr.to_bits()),
        }
    }
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

impl ClientKey {
    /// The client of `request`: its subject, else its address (through `proxies`). Callers
    /// are put in requests by `auth::AuthLayer`: without the `auth` feature there are none
    /// to look for.
    fn of(request: &Request, proxies: &TrustedProxies) -> Self {
        #[cfg(feature = "auth")]
        if let Some(caller) = request.extensions().get::<Caller>() {
            return ClientKey::Subject(caller.subject.as_str().into());
        }
        ClientKey::Addr(proxies.client_ip(request))
    }
}

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

/// How many `RateLimit` values a limiter keeps written at each end of its bucket (see
/// [`States`]): at most twice this many (about 60 bytes each), whatever the burst.
const STATES_AT_EACH_END: u32 = 1024;

/// One limit: its name in the headers, its quota and each client's state.
pub struct Limiter {
    name: Arc<str>,
    quota: Quota,
    local: Local,
    /// `RateLimit-Policy`, static (see [`States`]).
    policy: &'static HeaderValue,
    states: States,
}

/// A limit's `RateLimit` values (`"name";r=remaining;t=reset`), written once: when a request
/// is let through, `reset` follows from `remaining` alone, so each value can be made ahead
/// of time for the clients far from the limit (`remaining` near the burst) and those at it
/// (near 0); in between, for bursts over 2 × [`STATES_AT_EACH_END`], it is written per
/// request. The text is leaked once per limiter (at most 2 × [`STATES_AT_EACH_END`] values
/// of some 25 bytes: 50 KiB; limiters are made once, with the router) so that the values are
/// static: cloning one touches no reference count, and a request allocates nothing. Under
/// callgrind, formatting and allocating the value cost a cached GET 553 instructions; a
/// clone from here costs about 15.
struct States {
    /// `"name";r=`, the start of every value.
    prefix: String,
    /// The values for `remaining` in `0..low.len()`.
    low: &'static [HeaderValue],
    /// The values for `remaining` in `high_from..=burst`.
    high: &'static [HeaderValue],
    high_from: u32,
}

impl States {
    fn new(name: &str, quota: Quota) -> Self {
        let prefix = format!("\"{name}\";r=");
        let burst = quota.burst;
        let low_end = burst.saturating_add(1).min(STATES_AT_EACH_END);
        let high_from = burst.saturating_sub(STATES_AT_EACH_END - 1).max(low_end);
        // One string for all, leaked once, cut into the values.
        let mut text = String::new();
        let mut ends = Vec::new();
        for r in (0..low_end).chain(high_from..=burst) {
            text.push_str(&format_state(&prefix, r, reset_after(quota, r)));
            ends.push(text.len());
        }
        let text: &'static str = String::leak(text);
        let mut start = 0;
        let mut values = ends.into_iter().map(|end| {
            let value = HeaderValue::from_static(&text[start..end]);
            start = end;
            value
        });
        // Leaked with the text: a request's answer then refers to its value (8 bytes in every
        // request's future) instead of carrying a copy (40).
        let low = Vec::leak(values.by_ref().take(low_end as usize).collect());
        let high = Vec::leak(values.collect());
        Self {
            prefix,
            low,
            high,
            high_from,
        }
    }

    /// The value of a request let through with `remaining` left.
    fn allowed(&self, quota: Quota, remaining: u32) -> State {
        if let Some(value) = self.low.get(remaining as usize) {
            return State::Written(value);
        }
        if let Some(value) = remaining
            .checked_sub(self.high_from)
            .and_then(|i| self.high.get(i as usize))
        {
            return State::Written(value);
        }
        State::Now(Box::new(
            self.value(remaining, reset_after(quota, remaining)),
        ))
    }

    /// `"name";r=remaining;t=seconds`, written now.
    fn value(&self, remaining: u32, reset: Duration) -> HeaderValue {
        HeaderValue::try_from(format_state(&self.prefix, remaining, reset))
            .expect("a policy name is a header value")
    }
}

/// A `RateLimit` value: one of those [`States`] wrote ahead, or one written for this request
/// (boxed: it is rare, and this stays 16 bytes in every request's future).
#[derive(Debug)]
pub(crate) enum State {
    Written(&'static HeaderValue),
    Now(Box<HeaderValue>),
}

impl State {
    fn value(self) -> HeaderValue {
        match self {
            State::Written(value) => value.clone(),
            State::Now(value) => *value,
        }
    }
}

// For the tests' assertions.
#[cfg(test)]
impl PartialEq<&str> for State {
    fn eq(&self, other: &&str) -> bool {
        match self {
            State::Written(value) => *value == *other,
            State::Now(value) => **value == *other,
        }
    }
}

/// `prefix` (`"name";r=`) `remaining;t=seconds`, written without `format!`.
fn format_state(prefix: &str, remaining: u32, reset: Duration) -> String {
    let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
    // `concat` sizes the string once, so a header value takes it without a copy.
    [prefix, r.format(remaining), ";t=", t.format(seconds(reset))].concat()
}

/// When the bucket of a client with `remaining` requests left is full again.
fn reset_after(quota: Quota, remaining: u32) -> Duration {
    quota.interval() * quota.burst.saturating_sub(remaining)
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
        // Static like the states (a clone touches no reference count).
        let policy = format!("\"{name}\";q={};w={}", quota.burst, seconds(quota.window()));
        let policy = Box::leak(Box::new(HeaderValue::from_static(String::leak(policy))));
        Self {
            states: States::new(&name, quota),
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
        match self.count(&client.key, client.shared.as_deref()) {
            Ok(remaining) => Decision::Allowed {
                remaining,
                reset: reset_after(self.quota, remaining),
            },
            Err(wait) => Decision::Refused { wait },
        }
    }

    /// [`Limiter::check`] of a client not made into a [`Client`] (whose `shared` handle
    /// would cost an `Arc` clone), without the `reset` a `RateLimit` value has written in:
    /// how many more requests fit, or how long to wait.
    fn count(&self, key: &ClientKey, shared: Option<&Shared>) -> Result<u32, Duration> {
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
        match self.local.check_key(key) {
            Ok(snapshot) => {
                if let Some(shared) = shared {
                    if let Some(wait) = shared.blocked(&self.name, key) {
                        return Err(wait);
                    }
                    shared.count(&self.name, self.quota, key);
                }
                Ok(snapshot.remaining_burst_capacity())
            }
            Err(not_until) => Err(not_until.wait_time_from(CoarseClock.now())),
        }
    }

    /// Checks `key`: the members to send, or the 429 of a refusal.
    ///
    /// `RateLimit-Policy` is static, so it is sent when a client needs it: on the first
    /// answer after its bucket was full (a new client, or one back after a pause) and on
    /// every 429, not on every answer; `RateLimit` (what is left) is on every answer. On a
    /// cached GET, the policy on every answer cost ≈ 350 instructions (bench/RATELIMIT.md).
    fn apply(&self, key: &ClientKey, shared: Option<&Shared>) -> Result<Members, Refused> {
        match self.count(key, shared) {
            Ok(remaining) => Ok(Members {
                policy: (remaining.saturating_add(1) >= self.quota.burst).then_some(self.policy),
                state: self.states.allowed(self.quota, remaining),
            }),
            Err(wait) => {
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
        headers.append(RATELIMIT.clone(), self.states.value(0, wait));
        response
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
    /// For each byte, whether a path whose second byte it is may be exempt: most paths
    /// are told apart by it alone, without comparing them to each prefix (which cost a
    /// cached GET 128 instructions under callgrind).
    exempt_second: [bool; 256],
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
        let exempt: Vec<String> = exempt.into_iter().map(Into::into).collect();
        let mut exempt_second = [false; 256];
        for prefix in &exempt {
            match prefix.as_bytes().get(1) {
                Some(&b) => exempt_second[usize::from(b)] = true,
                // `/` or nothing: any path may start with it.
                None => exempt_second = [true; 256],
            }
        }
        Self(Arc::new(Inner {
            client: client.map(|quota| Limiter::new("client", quota)),
            proxies,
            shared: redis.map(Shared::start),
            exempt,
            exempt_second,
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
        let second = path.as_bytes().get(1).map_or(0, |&b| usize::from(b));
        self.0.exempt_second[second]
            && self.0.exempt.iter().any(|prefix| {
                path.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }

    /// Whom `request` counts for.
    fn key(&self, request: &Request) -> ClientKey {
        ClientKey::of(request, &self.0.proxies)
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
        let first = limiter.apply(&client(1).key, None).expect("allowed");
        assert_eq!(first.state, "\"orders.create\";r=4;t=1");
        assert_eq!(
            first.policy,
            Some(limiter.policy),
            "the policy, with a full bucket"
        );
        for _ in 0..4 {
            let next = limiter.apply(&client(1).key, None).expect("allowed");
            assert_eq!(next.policy, None, "no policy on later answers");
        }
        let refused = *limiter.apply(&client(1).key, None).expect_err("refused").0;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert_eq!(refused.headers()[&RATELIMIT], "\"orders.create\";r=0;t=1");
    }

    #[test]
    fn written_ahead_states_are_the_written_ones() {
        for (burst, samples) in [
            (5, vec![0, 1, 4, 5]),
            (3000, vec![0, 1023, 1024, 1500, 1976, 1977, 2999, 3000]),
        ] {
            let quota = Quota::new(7, Duration::from_secs(3), burst);
            let states = States::new("client", quota);
            for r in samples {
                let written = format_state("\"client\";r=", r, reset_after(quota, r));
                assert_eq!(
                    states.allowed(quota, r),
                    written.as_str(),
                    "burst {burst}, r={r}"
                );
            }
        }
    }

    #[test]
    fn probes_and_monitoring_are_exempt() {
        let limits = RateLimits::new(None, TrustedProxies::none(), None, ["/health", "/metrics"]);
        assert!(limits.exempt("/health"));
        assert!(limits.exempt("/health/ready"));
        assert!(limits.exempt("/metrics"));
        assert!(!limits.exempt("/healthy"));
        assert!(!limits.exempt("/products"));
        assert!(!limits.exempt("/"));
        assert!(!limits.exempt(""));
        let everything = RateLimits::new(None, TrustedProxies::none(), None, ["/"]);
        assert!(everything.exempt("/"));
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
            std::hint::black_box(limiter.apply(&client.key, None).ok());
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
                        std::hint::black_box(limiter.apply(&client.key, None).ok());
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
