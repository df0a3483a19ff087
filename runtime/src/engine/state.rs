//! The state every handler reaches: the pool and the caches of every resource.

use std::sync::Arc;

use sqlx::PgPool;

use super::Entity;
use super::desc::Description;
use crate::cache::{CacheConfig, MemoryTier, Redis, RedisTier, ResourceCache};

/// The state of a generated API (and of your own handlers: `State<AppState>`). Cloned for
/// every request: two reference counts.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub caches: Caches,
    redis: Option<Redis>,
}

impl AppState {
    /// The state of an API with these resources (in their [`Description::index`] order);
    /// with `redis` the caches share a Redis tier and invalidations.
    pub fn new(pool: PgPool, resources: &[&'static Description], redis: Option<Redis>) -> Self {
        Self {
            pool,
            caches: Caches::new(resources, redis.clone()),
            redis,
        }
    }

    /// The Redis handle the caches share, when there is one (for the readiness probe).
    pub fn redis(&self) -> Option<&Redis> {
        self.redis.as_ref()
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
