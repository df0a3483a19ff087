//! A rate of the spec (`50/s`, burst 100): data a resource's `Description` holds, there with
//! or without the runtime's `rate-limit` feature.

use std::time::Duration;

/// A rate: `count` requests per `period` on average, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Quota {
    /// `count` per `period` (both above 0), bursts of `burst` (at least 1).
    pub const fn new(count: u32, period: Duration, burst: u32) -> Self {
        Self {
            count,
            period,
            burst,
        }
    }

    /// The time one request's share takes to come back.
    pub fn interval(&self) -> Duration {
        (self.period / self.count.max(1)).max(Duration::from_nanos(1))
    }

    /// The time an empty bucket takes to fill: the draft's window `w`.
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) fn window(&self) -> Duration {
        self.interval() * self.burst.max(1)
    }
}
