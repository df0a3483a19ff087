//! Two-tier cache of serialized responses: an in-process moka tier and a shared Redis tier.
//!
//! A [`ResourceCache`] stores [`CachedBody`]s — the JSON bytes of a response with their
//! [`ETag`] — so that a hit costs no query, no serialization and no hashing. Lookups go
//! memory → Redis → loader; concurrent misses of one key run the loader once.
//!
//! Invalidation never scans keys: a write deletes its row key in both tiers and bumps the
//! resource's *generation*, which every generation-scoped key (lists, field-selected rows;
//! see [`ResourceCache::list_key`]) embeds, so the old entries are simply never read again
//! and expire by TTL. With a [`Redis`] handle the generation is shared and the write is
//! published, so the other instances drop the row from their memory tier too.
//!
//! Metrics: `apiforge_cache_hits_total{resource,tier}` and
//! `apiforge_cache_misses_total{resource,tier}` (`tier` = `memory` | `redis`), and
//! `apiforge_cache_redis_errors_total{op}` (Redis unreachable, slow or failing: the tier is
//! then skipped for a second and requests are served from the loader).
//!
//! ```no_run
//! # use std::time::Duration;
//! # use apiforge_runtime::cache::*;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = Redis::connect("redis://127.0.0.1:6379", Duration::from_millis(50))
//!     .await?
//!     .with_namespace("shop");
//! let config = CacheConfig {
//!     memory: Some(MemoryTier { max_entries: 1000, ttl: Duration::from_secs(300) }),
//!     redis: Some(RedisTier { ttl: Duration::from_secs(300) }),
//! };
//! let products = ResourceCache::new("products", config, Some(redis));
//! let key = ResourceCache::row_key(42);
//! let body = products
//!     .get_or_load(&key, || async {
//!         // query the database; Ok(None) for "not found" (never cached)
//!         Ok::<_, String>(Some(CachedBody::json(&serde_json::json!({ "id": 42 })).unwrap()))
//!     })
//!     .await?;
//! products.invalidate(&key).await; // after an update or delete of row 42
//! # Ok(()) }
//! ```

// The Redis tier lives in one module: the real one with the `redis` feature, else a
// handle type with no values (an `Option<Redis>` is always `None`).
#[cfg(feature = "redis")]
mod redis;
#[cfg(not(feature = "redis"))]
#[path = "no_redis.rs"]
mod redis;

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use metrics::Counter;
use serde::Serialize;

pub use self::redis::Redis;
use crate::etag::ETag;

/// A serialized response body and its strong ETag, computed once when it was built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedBody {
    /// The JSON bytes.
    pub body: Bytes,
    /// The strong ETag of `body`.
    pub etag: ETag,
    /// The row never changes (`immutable_when`): served `public, immutable`. Read from the
    /// row when the body was built, so a hit needs no look into the bytes.
    pub immutable: bool,
}

impl CachedBody {
    /// Wraps already-serialized bytes, computing their ETag.
    pub fn new(body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let etag = ETag::of(&body);
        Self {
            body,
            etag,
            immutable: false,
        }
    }

    /// Wraps bytes shaped by `version` (see [`ETag::versioned`]).
    pub fn versioned(version: &str, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        let etag = ETag::versioned(version, &body);
        Self {
            body,
            etag,
            immutable: false,
        }
    }

    /// The same body, marked as a row that never changes (or not).
    #[must_use]
    pub fn with_immutable(mut self, immutable: bool) -> Self {
        self.immutable = immutable;
        self
    }

    /// Serializes `value` to JSON and computes its ETag.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(Self::new)
    }

    /// Redis value: the ETag, a newline, `1` for an immutable row or `0`, the body (an
    /// ETag holds no newline).
    fn encode(&self) -> Vec<u8> {
        let tag = self.etag.as_str().as_bytes();
        let mut out = Vec::with_capacity(tag.len() + 2 + self.body.len());
        out.extend_from_slice(tag);
        out.push(b'\n');
        out.push(if self.immutable { b'1' } else { b'0' });
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(raw: Vec<u8>) -> Option<Self> {
        let nl = raw.iter().position(|&b| b == b'\n')?;
        let immutable = match raw.get(nl + 1)? {
            b'1' => true,
            b'0' => false,
            _ => return None,
        };
        // The tag and the body share the entry's bytes: no copy of either.
        let raw = Bytes::from(raw);
        let etag = ETag::parse_shared(raw.slice(..nl))?;
        let body = raw.slice(nl + 2..);
        Some(Self {
            body,
            etag,
            immutable,
        })
    }
}

/// The in-process tier of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryTier {
    /// Most entries kept (least recently/frequently used ones are evicted).
    pub max_entries: u64,
    /// Time to live of an entry.
    pub ttl: Duration,
}

/// The shared Redis tier of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTier {
    /// Time to live of an entry.
    pub ttl: Duration,
}

/// Which tiers a resource caches in. Both `None`: nothing is cached (the loader always runs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheConfig {
    /// The in-process tier; it also coalesces concurrent misses of one key.
    pub memory: Option<MemoryTier>,
    /// The Redis tier; used only when a [`Redis`] handle is given.
    pub redis: Option<RedisTier>,
}

/// The cache of one resource's serialized responses. Cheap to clone.
#[derive(Clone)]
pub struct ResourceCache {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ResourceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceCache")
            .field("resource", &self.shared.resource)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    resource: Arc<str>,
    /// The version of the bodies' shape: Redis keeps each shape's entries apart, so an
    /// instance of another build never reads them. Empty: unversioned.
    shape: Arc<str>,
    /// Keys are hashed with foldhash (randomly seeded per cache): SipHash would cost
    /// every hit more than the rest of the lookup.
    memory: Option<Memory>,
    redis: Option<Redis>,
    redis_ttl: Option<Duration>,
    generation: AtomicU64,
    /// Bumped by every invalidation: a load that straddles one is served but not stored.
    writes: AtomicU64,
    /// Whether the generation has been read from Redis (no Redis: always true).
    synced: AtomicBool,
    counters: OnceLock<Counters>,
}

type Memory = moka::future::Cache<String, CachedBody, foldhash::fast::RandomState>;

/// Counter handles, resolved on first use (after the app installed its recorder).
struct Counters {
    memory_hits: Counter,
    memory_misses: Counter,
    redis_hits: Counter,
    redis_misses: Counter,
}

/// Why a coalesced load produced no cacheable value.
enum Uncached<E> {
    NotFound,
    /// Found, but an invalidation happened while loading: serve it, don't store it.
    Straddled(CachedBody),
    Failed(E),
}

impl ResourceCache {
    /// A cache for `resource` (its name labels metrics and namespaces Redis keys).
    ///
    /// With `redis`, the generation is shared with the other instances (read in the
    /// background at once; until then generation-scoped keys skip the Redis tier) and remote
    /// invalidations reach this cache's memory tier. The Redis tier itself is used only if
    /// `config.redis` is set.
    pub fn new(resource: &str, config: CacheConfig, redis: Option<Redis>) -> Self {
        Self::versioned(resource, "", config, redis)
    }

    /// [`new`](Self::new) for bodies of one shape `version` (e.g. a hash of the resource's
    /// columns and JSON layout): Redis entries live under it, so after a deploy that
    /// changed the shape no instance serves a body another build wrote. Generations and
    /// invalidations stay shared across versions.
    pub fn versioned(
        resource: &str,
        version: &str,
        config: CacheConfig,
        redis: Option<Redis>,
    ) -> Self {
        let memory = config.memory.map(|m| {
            moka::future::Cache::builder()
                .name(resource)
                .max_capacity(m.max_entries)
                .time_to_live(m.ttl)
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        let shared = Arc::new(Shared {
            resource: Arc::from(resource),
            shape: Arc::from(version),
            memory,
            redis_ttl: config.redis.map(|r| r.ttl).filter(|_| redis.is_some()),
            synced: AtomicBool::new(redis.is_none()),
            redis,
            generation: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            counters: OnceLock::new(),
        });
        if let Some(redis) = &shared.redis {
            redis.register(&shared);
        }
        Self { shared }
    }

    /// The resource name.
    pub fn resource(&self) -> &str {
        &self.shared.resource
    }

    /// The current generation (bumped by every write to the resource).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// The key of one row's full representation: `row:{id}`. [`invalidate`](Self::invalidate)
    /// it when the row changes.
    pub fn row_key(id: impl Display) -> String {
        format!("row:{id}")
    }

    /// A generation-scoped key: `list:{generation}:{query}`. Use it for every response that
    /// a write to *any* row may change — lists, and rows with field selection — with `query`
    /// the canonical form of the request (e.g. the normalized query string). A write bumps
    /// the generation, so the old entries are never read again.
    ///
    /// A response that also depends on another resource (an `include`) should embed that
    /// resource's [`generation`](Self::generation) in `query` too.
    pub fn list_key(&self, query: &str) -> String {
        let mut key = self.list_prefix(query.len());
        key.push_str(query);
        key
    }

    /// [`list_key`](Self::list_key) with the query given as format arguments, written
    /// straight into the key: one allocation, e.g.
    /// `cache.list_key_fmt(format_args!("row:{id}:{fields}"))`.
    ///
    /// ```
    /// # use apiforge_runtime::cache::{CacheConfig, ResourceCache};
    /// let cache = ResourceCache::new("products", CacheConfig::default(), None);
    /// let id = 42;
    /// assert_eq!(cache.list_key_fmt(format_args!("row:{id}:name")), cache.list_key("row:42:name"));
    /// ```
    pub fn list_key_fmt(&self, query: std::fmt::Arguments<'_>) -> String {
        use std::fmt::Write;
        // The prefix by hand and `query` written as the key's own format arguments, not
        // nested in `write!(key, "list:{}:{query}", …)`: a generation-scoped row key
        // 877 → 646 instructions, a page key through `list_key` 584 → 236 (callgrind;
        // bench/PROFILES.md, "Fixed on this branch").
        let mut key = self.list_prefix(48);
        match query.as_str() {
            Some(text) => key.push_str(text),
            None => key.write_fmt(query).expect("writing to a String"),
        }
        key
    }

    /// `list:{generation}:`, with room for `rest` more bytes.
    fn list_prefix(&self, rest: usize) -> String {
        let mut digits = [0u8; 20];
        let mut n = self.generation();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = std::str::from_utf8(&digits[at..]).expect("ASCII digits");
        let mut key = String::with_capacity(6 + digits.len() + rest);
        key.push_str("list:");
        key.push_str(digits);
        key.push(':');
        key
    }

    /// Looks `key` up in memory, then Redis, then calls `load`.
    ///
    /// `load` returns `Ok(None)` for "not found", which is not cached. Concurrent calls for
    /// one key while it is loading wait for that one load (with a memory tier configured)
    /// and all receive its result, errors included (hence `E: Clone`). A Redis hit fills
    /// the memory tier; a load fills both. A load during which the resource was invalidated
    /// is returned but not stored, so a write is never hidden by a slow read.
    pub async fn get_or_load<F, Fut, E>(&self, key: &str, load: F) -> Result<Option<CachedBody>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CachedBody>, E>>,
        E: Clone + Send + Sync + 'static,
    {
        let s = &self.shared;
        if let Some(memory) = s.memory()
            && let Some(hit) = memory.get(key).await
        {
            s.counters().memory_hits.increment(1);
            return Ok(Some(hit));
        }
        // Boxed: the loader's future (a query…) is large, and the future of every hit would
        // otherwise be as large, and copied as such through each layer of the server.
        Box::pin(self.get_missing(key, load)).await
    }

    /// [`get_or_load`](Self::get_or_load) after a memory miss (or without a memory tier).
    async fn get_missing<F, Fut, E>(&self, key: &str, load: F) -> Result<Option<CachedBody>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CachedBody>, E>>,
        E: Clone + Send + Sync + 'static,
    {
        let s = &self.shared;
        let Some(memory) = s.memory() else {
            return match s.load_through(key, load).await {
                Ok(body) => Ok(Some(body)),
                Err(Uncached::NotFound) => Ok(None),
                Err(Uncached::Straddled(body)) => Ok(Some(body)),
                Err(Uncached::Failed(e)) => Err(e),
            };
        };
        s.counters().memory_misses.increment(1);
        match memory
            .try_get_with_by_ref(key, s.load_through(key, load))
            .await
        {
            Ok(body) => Ok(Some(body)),
            Err(shared) => match Arc::try_unwrap(shared) {
                Ok(Uncached::NotFound) => Ok(None),
                Ok(Uncached::Straddled(body)) => Ok(Some(body)),
                Ok(Uncached::Failed(e)) => Err(e),
                Err(shared) => match &*shared {
                    Uncached::NotFound => Ok(None),
                    Uncached::Straddled(body) => Ok(Some(body.clone())),
                    Uncached::Failed(e) => Err(e.clone()),
                },
            },
        }
    }

    /// Drops `key` (usually a [`row_key`](Self::row_key)) from both tiers, here and on every
    /// other instance, and bumps the generation. Call it after the write committed.
    /// With Redis unavailable, the others do not hear of it: their memory tiers are skipped
    /// until their invalidation listeners are subscribed again (see [`Redis`]).
    pub async fn invalidate(&self, key: &str) {
        self.shared.invalidate(Some(key)).await;
    }

    /// Bumps the generation only (after a create: no row key is cached yet, lists changed).
    pub async fn invalidate_lists(&self) {
        self.shared.invalidate(None).await;
    }
}

impl Shared {
    /// The Redis key of an entry: under the shape version when there is one.
    fn data_key<'k>(&self, key: &'k str) -> std::borrow::Cow<'k, str> {
        if self.shape.is_empty() {
            std::borrow::Cow::Borrowed(key)
        } else {
            let mut out = String::with_capacity(2 + self.shape.len() + key.len());
            out.push('v');
            out.push_str(&self.shape);
            out.push(':');
            out.push_str(key);
            std::borrow::Cow::Owned(out)
        }
    }

    /// The memory tier, unless it may hold entries other instances invalidated unheard:
    /// while the Redis invalidation listener is not subscribed (Redis down, the
    /// subscription lost and not yet back), reads skip it and store nothing in it; once
    /// the listener is back it clears the tier and it serves again.
    fn memory(&self) -> Option<&Memory> {
        self.memory
            .as_ref()
            .filter(|_| self.redis.as_ref().is_none_or(Redis::is_subscribed))
    }

    fn counters(&self) -> &Counters {
        self.counters.get_or_init(|| {
            let counter = |name: &'static str, tier: &'static str| {
                metrics::counter!(name, "resource" => self.resource.to_string(), "tier" => tier)
            };
            Counters {
                memory_hits: counter("apiforge_cache_hits_total", "memory"),
                memory_misses: counter("apiforge_cache_misses_total", "memory"),
                redis_hits: counter("apiforge_cache_hits_total", "redis"),
                redis_misses: counter("apiforge_cache_misses_total", "redis"),
            }
        })
    }

    /// Whether `key` may be read from Redis now: a generation-scoped key only once the
    /// generation is known, or it could name an old generation's entry.
    fn redis_readable(&self, key: &str) -> bool {
        !key.starts_with("list:") || self.synced.load(Ordering::Acquire)
    }

    /// Redis, then the loader (which fills Redis). The value is cacheable in memory on `Ok`.
    async fn load_through<F, Fut, E>(&self, key: &str, load: F) -> Result<CachedBody, Uncached<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<CachedBody>, E>>,
    {
        let writes = self.writes.load(Ordering::Acquire);
        let mut redis = self.redis.as_ref().zip(self.redis_ttl);
        if let Some((shared, _)) = redis
            && !self.redis_readable(key)
        {
            // This key embeds a generation that may be stale: learn the shared one for the
            // next requests, and keep this one off Redis.
            self.sync_generation(shared).await;
            redis = None;
        }
        if let Some((redis, _)) = redis {
            match redis.get(&self.resource, &self.data_key(key)).await {
                Some(Some(raw)) => match CachedBody::decode(raw) {
                    Some(body) => {
                        self.counters().redis_hits.increment(1);
                        return self.unless_straddled(writes, body);
                    }
                    None => tracing::debug!(key, "ignoring a malformed redis cache entry"),
                },
                Some(None) => self.counters().redis_misses.increment(1),
                None => {}
            }
        }
        let body = match load().await {
            Ok(Some(body)) => body,
            Ok(None) => return Err(Uncached::NotFound),
            Err(e) => return Err(Uncached::Failed(e)),
        };
        if let Some((redis, ttl)) = redis
            && self.writes.load(Ordering::Acquire) == writes
        {
            redis
                .set(&self.resource, &self.data_key(key), body.encode(), ttl)
                .await;
        }
        self.unless_straddled(writes, body)
    }

    fn unless_straddled<E>(
        &self,
        writes: u64,
        body: CachedBody,
    ) -> Result<CachedBody, Uncached<E>> {
        if self.writes.load(Ordering::Acquire) == writes {
            Ok(body)
        } else {
            Err(Uncached::Straddled(body))
        }
    }

    async fn invalidate(self: &Arc<Self>, key: Option<&str>) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let (Some(memory), Some(key)) = (&self.memory, key) {
            memory.invalidate(key).await;
        }
        let local = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let Some(redis) = &self.redis else {
            return;
        };
        let generation = redis
            .publish_invalidation(
                &self.resource,
                key,
                key.map(|k| self.data_key(k)).as_deref(),
                local,
                &self.shape,
            )
            .await
            .unwrap_or(local);
        self.generation.fetch_max(generation, Ordering::AcqRel);
        // Other caches of this resource on the same handle skip the message (same origin):
        // tell them here.
        for other in redis.caches_of(&self.resource) {
            if !Arc::ptr_eq(&other, self) {
                other.apply_remote(key, generation).await;
            }
        }
    }

    /// Applies another instance's write.
    pub(crate) async fn apply_remote(&self, key: Option<&str>, generation: u64) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let (Some(memory), Some(key)) = (&self.memory, key) {
            memory.invalidate(key).await;
        }
        self.generation.fetch_max(generation, Ordering::AcqRel);
    }

    async fn sync_generation(&self, redis: &Redis) {
        let local = self.generation.load(Ordering::Acquire);
        if let Some(shared) = redis.sync_generation(&self.resource, local).await {
            self.generation.fetch_max(shared, Ordering::AcqRel);
            self.synced.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_encoding_round_trips() {
        let body = CachedBody::json(&serde_json::json!({"id": 1, "name": "a\nb"})).unwrap();
        let decoded = CachedBody::decode(body.encode()).unwrap();
        assert_eq!(decoded, body);
        assert!(CachedBody::decode(b"no newline".to_vec()).is_none());
        assert!(CachedBody::decode(b"unquoted\n{}".to_vec()).is_none());
    }

    #[test]
    fn list_keys_embed_the_generation() {
        let cache = ResourceCache::new("things", CacheConfig::default(), None);
        assert_eq!(cache.list_key("limit=5"), "list:0:limit=5");
        assert_eq!(ResourceCache::row_key(7), "row:7");
    }

    #[test]
    fn data_keys_carry_the_shape_version() {
        let plain = ResourceCache::new("things", CacheConfig::default(), None);
        assert_eq!(plain.shared.data_key("row:7"), "row:7");
        let shaped = ResourceCache::versioned("things", "ab12-0.1.0", CacheConfig::default(), None);
        assert_eq!(
            shaped.shared.data_key("list:3:row:7:*"),
            "vab12-0.1.0:list:3:row:7:*"
        );
    }

    #[test]
    fn list_keys_written_by_hand_equal_the_formatted_ones() {
        let cache = ResourceCache::new("things", CacheConfig::default(), None);
        let (id, fields) = (42_i64, "*");
        for generation in [0_u64, 1, 9, 10, 12_345, u64::MAX] {
            cache.shared.generation.store(generation, Ordering::Release);
            assert_eq!(
                cache.list_key_fmt(format_args!("row:{id}:{fields}")),
                format!("list:{generation}:row:42:*")
            );
            assert_eq!(
                cache.list_key_fmt(format_args!("limit=5")),
                format!("list:{generation}:limit=5")
            );
            assert_eq!(cache.list_key("a&b"), format!("list:{generation}:a&b"));
        }
    }
}
