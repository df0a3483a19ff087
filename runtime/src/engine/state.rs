//! The state every handler reaches: the pool and the caches of every resource.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Entity;
use super::desc::Description;
use super::write::PlainWrites;
use crate::cache::{CacheConfig, MemoryTier, Redis, RedisTier, ResourceCache};
use crate::dbgate::DbGate;
use crate::problem::Problem;

/// The state of a generated API (and of your own handlers: `State<AppState>`). Cloned for
/// every request: a few reference counts.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub caches: Caches,
    /// Per resource: which writes run without a transaction (see [`PlainWrites`]).
    plain_writes: Arc<[PlainWrites]>,
    redis: Option<Redis>,
    gate: DbGate,
    streams: Streams,
}

/// Bounds on streams (exports), so that slow readers cannot hold the pool: each running
/// stream keeps one connection for as long as its client reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams running at once; one more gets a 503 at once. Default: a quarter of the
    /// pool (at least 1), so that other routes always keep three quarters.
    pub max_concurrent: usize,
    /// A stream whose client takes no data for this long is cut off. Default: 30 s.
    pub idle_write_timeout: Duration,
    /// The statement timeout of a stream's query, in place of the pool's (which is meant
    /// for short queries). Default: 5 min.
    pub statement_timeout: Duration,
}

impl StreamLimits {
    /// The defaults for a pool of `pool_size` connections.
    pub fn for_pool(pool_size: u32) -> Self {
        Self {
            max_concurrent: (pool_size as usize / 4).max(1),
            idle_write_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Debug)]
struct Streams {
    limits: StreamLimits,
    running: Arc<Semaphore>,
}

impl Streams {
    fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            running: Arc::new(Semaphore::new(limits.max_concurrent)),
        }
    }
}

impl AppState {
    /// The state of an API with these resources (in their [`Description::index`] order);
    /// with `redis` the caches share a Redis tier and invalidations.
    pub fn new(pool: PgPool, resources: &[&'static Description], redis: Option<Redis>) -> Self {
        Self {
            caches: Caches::new(resources, redis.clone()),
            plain_writes: resources.iter().map(|_| PlainWrites::default()).collect(),
            redis,
            gate: DbGate::default(),
            streams: Streams::new(StreamLimits::for_pool(pool.options().get_max_connections())),
            pool,
        }
    }

    /// The same state with other stream limits.
    pub fn with_stream_limits(mut self, limits: StreamLimits) -> Self {
        self.streams = Streams::new(limits);
        self
    }

    /// The limits of streams.
    pub fn stream_limits(&self) -> StreamLimits {
        self.streams.limits
    }

    /// A place for one more stream, or a 503 when [`StreamLimits::max_concurrent`] run.
    pub fn stream_permit(&self) -> Result<OwnedSemaphorePermit, Problem> {
        self.streams
            .running
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                Problem::service_unavailable(format!(
                    "{} exports are running, the most allowed at once; try again later",
                    self.streams.limits.max_concurrent
                ))
            })
    }

    /// The pool, unless the database is known to be down: then a 503 at once instead of
    /// each request waiting the acquire timeout (see [`DbGate`]).
    pub async fn db(&self) -> Result<&PgPool, Problem> {
        self.gate.pool(&self.pool).await
    }

    /// Maps a database error to a problem, remembering an unreachable database.
    pub fn db_error(&self, err: sqlx::Error, constraints: &[(&str, &str)]) -> Problem {
        self.gate.observe(&err);
        Problem::from_sqlx(err, constraints)
    }

    /// What the handlers know of the database's reachability (shared with the probes).
    pub fn gate(&self) -> &DbGate {
        &self.gate
    }

    /// The Redis handle the caches share, when there is one (for the readiness probe).
    pub fn redis(&self) -> Option<&Redis> {
        self.redis.as_ref()
    }

    /// Which writes of the resource `desc` run their statement alone.
    pub fn plain_writes(&self, desc: &Description) -> &PlainWrites {
        &self.plain_writes[desc.index]
    }

    /// The response cache of `E`.
    pub fn cache<E: Entity>(&self) -> &ResourceCache {
        self.caches.of::<E>()
    }
}

/// The response cache of each resource, by [`Description::index`].
#[derive(Clone, Debug)]
pub struct Caches(Arc<[ResourceCache]>);

impl Caches {
    pub fn new(resources: &[&'static Description], redis: Option<Redis>) -> Self {
        let caches = resources
            .iter()
            .enumerate()
            .map(|(i, d)| {
                assert_eq!(d.index, i, "resources must be given in index order");
                let config = CacheConfig {
                    memory: d
                        .cache
                        .memory
                        .map(|(max_entries, ttl)| MemoryTier { max_entries, ttl }),
                    redis: d.cache.redis.map(|ttl| RedisTier { ttl }),
                };
                let redis = redis
                    .clone()
                    .filter(|_| config.memory.is_some() || config.redis.is_some());
                ResourceCache::versioned(d.name, &d.version(), config, redis)
            })
            .collect();
        Self(caches)
    }

    /// The cache of `E`.
    pub fn of<E: Entity>(&self) -> &ResourceCache {
        &self.0[E::DESC.index]
    }

    /// The cache of the resource at `index`.
    pub fn at(&self, index: usize) -> &ResourceCache {
        &self.0[index]
    }
}
