//! Limits shared through Redis, in a runtime built without the `redis` feature: there is no
//! [`Redis`] handle, so no limit is shared and each instance enforces its limits alone.

use std::sync::Arc;
use std::time::Duration;

use super::{ClientKey, Quota};
use crate::cache::Redis;

#[derive(Debug)]
pub(super) enum Shared {}

impl Shared {
    pub(super) fn start(redis: Redis) -> Arc<Self> {
        match redis {}
    }

    pub(super) fn blocked(&self, _limit: &Arc<str>, _client: &ClientKey) -> Option<Duration> {
        match *self {}
    }

    pub(super) fn count(&self, _limit: &Arc<str>, _quota: Quota, _client: &ClientKey) {
        match *self {}
    }
}
