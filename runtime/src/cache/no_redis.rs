//! The Redis tier of a runtime built without the `redis` feature: [`Redis`] is a type with
//! no values, so every `Option<Redis>` is `None` and the caches stay in-process. Signatures
//! that take one (`ResourceCache::new`, `AppState::new`, `Health::new`,
//! `RateLimits::new`) are the same with and without the feature.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;

/// The shared Redis tier, left out of this build (the runtime's `redis` feature is off).
///
/// No value of this type can exist: pass `None` where an `Option<Redis>` is asked for.
/// Enable the feature (`apiforge-runtime = { …, features = ["redis"] }`) for
/// `Redis::connect` and the shared tier.
#[derive(Clone, Debug)]
pub enum Redis {}

impl Redis {
    pub(crate) fn is_subscribed(&self) -> bool {
        match *self {}
    }

    pub(crate) async fn ping(&self) -> bool {
        match *self {}
    }

    pub(super) async fn get(&self, _resource: &str, _key: &str) -> Option<Option<Vec<u8>>> {
        match *self {}
    }

    pub(super) async fn set(&self, _resource: &str, _key: &str, _value: Vec<u8>, _ttl: Duration) {
        match *self {}
    }

    pub(super) async fn publish_invalidation(
        &self,
        _resource: &str,
        _key: Option<&str>,
        _data_key: Option<&str>,
        _local: u64,
        _shape: &str,
    ) -> Option<u64> {
        match *self {}
    }

    pub(super) async fn sync_generation(&self, _resource: &str, _local: u64) -> Option<u64> {
        match *self {}
    }

    pub(super) fn register(&self, _shared: &Arc<Shared>) {
        match *self {}
    }

    pub(super) fn caches_of(&self, _resource: &str) -> Vec<Arc<Shared>> {
        match *self {}
    }
}
