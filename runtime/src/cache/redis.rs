//! The shared Redis tier: a lazily (re)connecting handle with a circuit breaker, list
//! generations, and cross-instance invalidation over pub/sub.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, FromRedisValue, RedisError};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Shared;

/// How long the tier is skipped after a failure before it is tried again.
const BREAKER_OPEN: Duration = Duration::from_secs(1);
/// At most one warning per this period about an unreachable Redis; the rest go to debug.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long the listener waits for a message before checking its connection with a PING.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(15);
/// Delay between attempts to re-subscribe the invalidation listener.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// Bumps a generation (never below the caller's), deletes the row key, publishes the
/// invalidation: one round trip, atomic on the server.
/// KEYS: generation key, [row key]. ARGV: local generation, channel, resource, origin, key,
/// shape version (receivers of another shape, during a rolling deploy, delete their own
/// entry of the row too).
const INVALIDATE_LUA: &str = r"
local g = redis.call('INCR', KEYS[1])
local l = tonumber(ARGV[1])
if g <= l then g = l + 1; redis.call('SET', KEYS[1], g) end
if KEYS[2] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[2], cjson.encode({resource = ARGV[3], origin = ARGV[4], key = ARGV[5], generation = g, shape = ARGV[6]}))
return g
";

/// Returns max(stored generation, ARGV[1]) and stores it. KEYS: generation key.
const SYNC_LUA: &str = r"
local r = tonumber(redis.call('GET', KEYS[1]) or '0')
local l = tonumber(ARGV[1])
if l > r then redis.call('SET', KEYS[1], l); return l end
return r
";

/// A connection to the shared Redis of every instance of an app.
///
/// Cheap to clone. Connecting is lazy and self-healing: an unreachable Redis is not an error
/// (only a malformed URL is); every operation is bounded by the configured timeout, and after
/// a failure the tier is skipped for a second, so a down or slow Redis costs a request at
/// most one timeout and requests are served from the database meanwhile. A connection that
/// times out is replaced (it may be half-open), and the listener checks its own with a
/// `PING` when idle (see [`Redis::with_health_check_interval`]).
///
/// Keys live under `apiforge:{namespace}:{resource}:`, so apps sharing a Redis never collide;
/// set the namespace (the app name) with [`Redis::with_namespace`] before building caches.
///
/// From the first cache built on it (inside a Tokio runtime), the handle keeps a subscriber
/// on the app's invalidation channel: writes on other instances drop the matching entries of
/// this instance's memory tiers. While it is not subscribed (Redis down, the subscription
/// lost), messages are missed, so the memory tiers registered on this handle are skipped:
/// reads go to Redis or the loader, and nothing is stored in memory. After a reconnect
/// every memory tier is cleared, generations are re-synchronised, and then the memory
/// tiers serve again. A connection that dies silently (no reset) is noticed by the
/// listener's `PING` within the health-check interval; until then it counts as subscribed.
#[derive(Clone)]
pub struct Redis {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    client: Client,
    /// The live connection; dropped after a timeout so a half-open one is replaced.
    conn: Mutex<Option<ConnectionManager>>,
    /// Serialises connection attempts.
    connecting: tokio::sync::Mutex<()>,
    timeout: Duration,
    health_check: Duration,
    namespace: String,
    /// Identifies this process's messages on the channel, so it skips its own.
    pub(super) origin: String,
    epoch: Instant,
    /// Milliseconds since `epoch` until which the tier is skipped.
    down_until: AtomicU64,
    last_warn: AtomicU64,
    caches: Mutex<HashMap<String, Vec<Weak<Shared>>>>,
    subscribed: watch::Sender<bool>,
    /// `subscribed` as an atomic, for the caches' reads: every memory-tier lookup asks
    /// whether invalidations are heard, and the watch's value is behind a lock.
    hearing: AtomicBool,
    listener: OnceLock<JoinHandle<()>>,
}

impl Inner {
    fn set_subscribed(&self, subscribed: bool) {
        self.hearing.store(subscribed, Ordering::Release);
        self.subscribed.send_replace(subscribed);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("namespace", &self.inner.namespace)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// An invalidation message as published on the channel.
#[derive(Debug, Deserialize)]
struct Invalidation {
    resource: String,
    origin: String,
    #[serde(default)]
    key: Option<String>,
    generation: u64,
    /// The shape version of the writer's entries.
    #[serde(default)]
    shape: String,
}

impl Redis {
    /// Opens a handle on `url` (`redis://host:port/db`) whose operations time out after
    /// `timeout` (50 ms is a good default). Fails only on a malformed URL; an unreachable
    /// server is tried again later. Uses the namespace `default`.
    ///
    /// Makes a first connection attempt (bounded by `timeout`); the invalidation listener
    /// starts with the first [`ResourceCache`](super::ResourceCache) built on the handle.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, RedisError> {
        let client = Client::open(url)?;
        let redis = Self::from_client(client, timeout, "default".to_owned(), HEALTH_CHECK_EVERY);
        // A failure is logged and remembered by the breaker; requests will not wait on it.
        let _ = redis.connection().await;
        Ok(redis)
    }

    fn from_client(
        client: Client,
        timeout: Duration,
        namespace: String,
        health_check: Duration,
    ) -> Self {
        let origin = format!(
            "{:016x}",
            std::collections::hash_map::RandomState::new().hash_one((
                std::process::id(),
                Instant::now(),
                std::thread::current().id()
            ))
        );
        Self {
            inner: Arc::new(Inner {
                client,
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                timeout,
                health_check,
                namespace,
                origin,
                epoch: Instant::now(),
                down_until: AtomicU64::new(0),
                last_warn: AtomicU64::new(0),
                caches: Mutex::new(HashMap::new()),
                subscribed: watch::channel(false).0,
                hearing: AtomicBool::new(false),
                listener: OnceLock::new(),
            }),
        }
    }

    /// The same server with another key namespace (usually the app name): a new handle
    /// (sharing the connection). Call it before building caches on the handle.
    pub fn with_namespace(self, namespace: &str) -> Self {
        self.rebuilt(namespace.to_owned(), self.inner.health_check)
    }

    /// How long the invalidation listener waits for a message before checking its
    /// connection with a `PING` (default 15 s): a connection that died silently (no reset,
    /// e.g. a dropped NAT entry) is replaced within this interval. Call it before building
    /// caches on the handle.
    pub fn with_health_check_interval(self, interval: Duration) -> Self {
        let namespace = self.inner.namespace.clone();
        self.rebuilt(namespace, interval)
    }

    fn rebuilt(&self, namespace: String, health_check: Duration) -> Self {
        let redis = Self::from_client(
            self.inner.client.clone(),
            self.inner.timeout,
            namespace,
            health_check,
        );
        *redis.inner.conn.lock().expect("redis lock poisoned") = self.current();
        redis
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.inner.conn.lock().expect("redis lock poisoned").clone()
    }

    /// The key namespace (`apiforge:{namespace}:…`).
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Whether Redis answers a `PING` now, within the timeout (`false` while the breaker
    /// skips Redis after a failure). Used by the readiness probe.
    pub async fn ping(&self) -> bool {
        self.query::<String>("ping", &::redis::cmd("PING"))
            .await
            .is_some()
    }

    /// Whether the invalidation listener is currently subscribed.
    pub fn is_subscribed(&self) -> bool {
        self.inner.hearing.load(Ordering::Acquire)
    }

    /// Waits until the invalidation listener is subscribed, at most `limit`; returns whether
    /// it is. Useful at start-up and in tests: messages published before the subscription
    /// are not seen.
    pub async fn wait_subscribed(&self, limit: Duration) -> bool {
        self.ensure_listener();
        let mut rx = self.inner.subscribed.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|s| *s))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The full Redis key of `key` of `resource`.
    pub(crate) fn key(&self, resource: &str, key: &str) -> String {
        // Pushed, not `format!`ed: with `data_key` and the generation-scoped row key, a
        // Redis-tier GET built its key through three `format!`s, 3,801 instructions, now
        // 1,013 (callgrind; bench/PROFILES.md, get_redis).
        let namespace = &self.inner.namespace;
        let mut out = String::with_capacity(11 + namespace.len() + resource.len() + key.len());
        out.push_str("apiforge:");
        out.push_str(namespace);
        out.push(':');
        out.push_str(resource);
        out.push(':');
        out.push_str(key);
        out
    }

    fn generation_key(&self, resource: &str) -> String {
        self.key(resource, "#generation")
    }

    fn channel(&self) -> String {
        format!("apiforge:{}:#invalidate", self.inner.namespace)
    }

    fn now_ms(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }

    /// Whether the breaker lets a request through.
    fn available(&self) -> bool {
        self.now_ms() >= self.inner.down_until.load(Ordering::Relaxed)
    }

    /// Opens the breaker (requests skip Redis for a while) and reports the failure.
    fn trip(&self, what: &'static str, error: &dyn std::fmt::Display) {
        let now = self.now_ms();
        self.inner
            .down_until
            .store(now + BREAKER_OPEN.as_millis() as u64, Ordering::Relaxed);
        self.note_failure(what, error);
    }

    /// Counts a failure and logs it: a warning at most every [`WARN_EVERY`], else debug.
    fn note_failure(&self, what: &'static str, error: &dyn std::fmt::Display) {
        metrics::counter!("apiforge_cache_redis_errors_total", "op" => what).increment(1);
        let now = self.now_ms();
        let last = self.inner.last_warn.load(Ordering::Relaxed);
        let warn = (last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && self
                .inner
                .last_warn
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if warn {
            tracing::warn!(%error, what, "redis unavailable; serving without the shared cache tier");
        } else {
            tracing::debug!(%error, what, "redis unavailable");
        }
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(conn) = self.current() {
            return Some(conn);
        }
        if !self.available() {
            return None;
        }
        // One attempt at a time; those who waited see its outcome (a connection, or the
        // breaker open) instead of each trying in turn.
        let _connecting = self.inner.connecting.lock().await;
        if let Some(conn) = self.current() {
            return Some(conn);
        }
        if !self.available() {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.inner.timeout))
            // `query` bounds every command (the wait for a reconnection included) with
            // one timer; redis' own response timeout would be a second timer per command
            // (≈ 700 instructions of a Redis-tier hit, bench/PROFILES.md "Session 13").
            .set_response_timeout(None)
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        let connect = ConnectionManager::new_with_config(self.inner.client.clone(), config);
        match tokio::time::timeout(self.inner.timeout, connect).await {
            Ok(Ok(conn)) => {
                *self.inner.conn.lock().expect("redis lock poisoned") = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(e)) => {
                self.trip("connect", &e);
                None
            }
            Err(_) => {
                self.trip("connect", &"timed out");
                None
            }
        }
    }

    /// Runs `cmd` within the timeout; `None` when Redis is skipped, down, slow or errors.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        what: &'static str,
        cmd: &Cmd,
    ) -> Option<T> {
        if !self.available() {
            return None;
        }
        let mut conn = self.connection().await?;
        let result =
            tokio::time::timeout(self.inner.timeout, cmd.query_async::<T>(&mut conn)).await;
        match result {
            Ok(Ok(v)) => Some(v),
            // A server error reply: Redis is there, only this command failed.
            Ok(Err(e)) if !e.is_io_error() => {
                self.note_failure(what, &e);
                None
            }
            Ok(Err(e)) => {
                self.discard_connection();
                self.trip(what, &e);
                None
            }
            Err(_) => {
                self.discard_connection();
                self.trip(what, &"timed out");
                None
            }
        }
    }

    /// Drops the connection after an I/O error or a timeout: the next attempt after the
    /// breaker opens a new one. The connection manager's own reconnection is not relied on:
    /// it does not reconnect after timeouts (a half-open connection would time out forever),
    /// and since redis 1.x a reconnection that failed while Redis was down is handed, as that
    /// stale error, to the first command after Redis is back.
    fn discard_connection(&self) {
        self.inner.conn.lock().expect("redis lock poisoned").take();
    }

    /// The entry `key` of `resource`: `Some(None)` when Redis has none, `None` when Redis
    /// is unavailable.
    pub(super) async fn get(&self, resource: &str, key: &str) -> Option<Option<Vec<u8>>> {
        self.query("get", &Cmd::get(self.key(resource, key))).await
    }

    /// Stores the entry `key` of `resource` for `ttl` (best effort).
    pub(super) async fn set(&self, resource: &str, key: &str, value: Vec<u8>, ttl: Duration) {
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let cmd = Cmd::pset_ex(self.key(resource, key), value, ttl_ms);
        let _: Option<()> = self.query("set", &cmd).await;
    }

    /// Bumps `resource`'s generation to above `local`, deletes the entry `data_key` (if any;
    /// `key` under the cache's shape version) and tells the other instances about `key`; returns the new generation, `None` when Redis is unavailable.
    pub(super) async fn publish_invalidation(
        &self,
        resource: &str,
        key: Option<&str>,
        data_key: Option<&str>,
        local: u64,
        shape: &str,
    ) -> Option<u64> {
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(INVALIDATE_LUA)
            .arg(if data_key.is_some() { 2 } else { 1 })
            .arg(self.generation_key(resource));
        if let Some(data_key) = data_key {
            cmd.arg(self.key(resource, data_key));
        }
        cmd.arg(local)
            .arg(self.channel())
            .arg(resource)
            .arg(&self.inner.origin)
            .arg(key.unwrap_or(""))
            .arg(shape);
        self.query("invalidate", &cmd).await
    }

    /// max(shared generation, `local`), stored back; `None` when Redis is unavailable.
    pub(super) async fn sync_generation(&self, resource: &str, local: u64) -> Option<u64> {
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(SYNC_LUA)
            .arg(1)
            .arg(self.generation_key(resource))
            .arg(local);
        self.query("sync generation", &cmd).await
    }

    /// Registers a cache for remote invalidations and resynchronisation, and reads its
    /// shared generation in the background (inside a Tokio runtime).
    pub(super) fn register(&self, shared: &Arc<Shared>) {
        let mut caches = self.inner.caches.lock().expect("cache registry poisoned");
        let list = caches.entry(shared.resource.to_string()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(shared));
        drop(caches);
        self.ensure_listener();
        if tokio::runtime::Handle::try_current().is_ok() {
            let (shared, redis) = (shared.clone(), self.clone());
            tokio::spawn(async move { shared.sync_generation(&redis).await });
        }
    }

    /// The live caches registered for `resource`.
    pub(super) fn caches_of(&self, resource: &str) -> Vec<Arc<Shared>> {
        let caches = self.inner.caches.lock().expect("cache registry poisoned");
        caches
            .get(resource)
            .map(|l| l.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default()
    }

    fn all_caches(&self) -> Vec<Arc<Shared>> {
        let caches = self.inner.caches.lock().expect("cache registry poisoned");
        caches
            .values()
            .flatten()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Starts the invalidation listener unless it runs (or no Tokio runtime is current).
    fn ensure_listener(&self) {
        if self.inner.listener.get().is_some() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        self.inner
            .listener
            .get_or_init(|| tokio::spawn(listen(weak)));
    }
}

impl Shared {
    /// A row written by an instance of another shape (a rolling deploy): its delete reached
    /// that shape's entry only, so delete this shape's entry of the row too.
    pub(crate) async fn forget_other_shape(&self, redis: &Redis, key: &str, writer_shape: &str) {
        if *self.shape == *writer_shape || self.redis.is_none() {
            return;
        }
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(redis.key(&self.resource, &self.data_key(key)));
        let _: Option<u64> = redis.query("invalidate other shape", &cmd).await;
    }

    /// After the subscription was (re)established: forget what may have been invalidated
    /// meanwhile and adopt the shared generation.
    pub(crate) async fn resynchronise(&self, redis: &Redis) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let Some(memory) = &self.memory {
            memory.invalidate_all();
        }
        self.sync_generation(redis).await;
    }
}

/// Subscribes to the invalidation channel and applies messages until the handle is dropped,
/// re-subscribing (and resynchronising every cache) whenever the subscription is lost.
async fn listen(weak: Weak<Inner>) {
    loop {
        let Some(redis) = weak.upgrade().map(|inner| Redis { inner }) else {
            return;
        };
        let subscription = tokio::time::timeout(redis.inner.timeout * 4, async {
            let mut pubsub = redis.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(redis.channel()).await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscription {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                redis.note_failure("subscribe", &e);
                drop(redis);
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                continue;
            }
            Err(_) => {
                redis.note_failure("subscribe", &"timed out");
                drop(redis);
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                continue;
            }
        };
        // Messages may have been missed while unsubscribed: start from a clean memory tier.
        for cache in redis.all_caches() {
            cache.resynchronise(&redis).await;
        }
        redis.inner.set_subscribed(true);
        tracing::debug!(namespace = %redis.inner.namespace, "cache invalidation listener subscribed");
        let origin = redis.inner.origin.clone();
        let ping_timeout = redis.inner.timeout * 4;
        let health_check = redis.inner.health_check;
        drop(redis);

        let (mut sink, mut messages) = pubsub.split();
        loop {
            let msg = tokio::select! {
                msg = messages.next() => msg,
                // A silently dead connection (no RST) would otherwise never end the stream.
                () = tokio::time::sleep(health_check) => {
                    let pong = tokio::time::timeout(ping_timeout, sink.ping::<::redis::Value>()).await;
                    if matches!(pong, Ok(Ok(_))) {
                        continue;
                    }
                    None
                }
            };
            let Some(msg) = msg else {
                break;
            };
            let Ok(event) = serde_json::from_slice::<Invalidation>(msg.get_payload_bytes()) else {
                tracing::debug!("ignoring a malformed cache invalidation message");
                continue;
            };
            if event.origin == origin {
                continue;
            }
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let redis = Redis { inner };
            let key = event.key.as_deref().filter(|k| !k.is_empty());
            for cache in redis.caches_of(&event.resource) {
                // Redis first: the memory tier must not refill from a stale shared entry.
                if let Some(key) = key {
                    cache.forget_other_shape(&redis, key, &event.shape).await;
                }
                cache.apply_remote(key, event.generation).await;
            }
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        inner.set_subscribed(false);
        tracing::debug!("cache invalidation subscription lost; re-subscribing");
        drop(inner);
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}
