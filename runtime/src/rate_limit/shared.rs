//! Limits shared across instances through Redis: each instance counts what it let through
//! and settles the counts every [`SETTLE_EVERY`] in one Lua call (GCRA on Redis's clock,
//! atomic), learning which clients are over the limit fleet-wide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{ClientKey, Quota, SETTLE_EVERY};
use crate::cache::Redis;

/// At most this many buckets per Lua call (a long script blocks Redis meanwhile).
const PER_CALL: usize = 500;

/// For each bucket: its theoretical arrival time (TAT, µs on Redis's clock) advanced by the
/// requests let through, capped at one bucket of debt past full; returns for each the µs
/// until the next request conforms (0: it does now).
/// KEYS: buckets. ARGV per bucket: count, interval µs, burst tolerance µs (burst × interval).
const SETTLE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[3 * i - 2])
  local interval = tonumber(ARGV[3 * i - 1])
  local tolerance = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tat = math.min(tat + n * interval, now + 2 * tolerance)
  redis.call('SET', key, string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1)
  local wait = tat + interval - tolerance - now
  if wait < 0 then wait = 0 end
  out[i] = math.floor(wait)
end
return out
";

type Bucket = (Arc<str>, ClientKey);

#[derive(Debug)]
pub(super) struct Shared {
    redis: Redis,
    /// Requests let through since the last settlement, per limit and client.
    pending: Mutex<HashMap<Bucket, (u32, Quota)>>,
    /// Clients over a limit fleet-wide, until when.
    blocked: Mutex<HashMap<Bucket, Instant>>,
}

impl Shared {
    /// Starts settling on `redis` (inside a Tokio runtime); stops when the last handle goes.
    pub(super) fn start(redis: Redis) -> Arc<Self> {
        let shared = Arc::new(Self {
            redis,
            pending: Mutex::default(),
            blocked: Mutex::default(),
        });
        tokio::spawn(settle_loop(Arc::downgrade(&shared)));
        shared
    }

    /// How long `client` is refused by `limit` across the fleet, if it is.
    pub(super) fn blocked(&self, limit: &Arc<str>, client: &ClientKey) -> Option<Duration> {
        let blocked = self.blocked.lock().expect("rate limit lock");
        if blocked.is_empty() {
            return None;
        }
        let until = *blocked.get(&(limit.clone(), client.clone()))?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts one request of `client` let through by `limit`.
    pub(super) fn count(&self, limit: &Arc<str>, quota: Quota, client: &ClientKey) {
        let mut pending = self.pending.lock().expect("rate limit lock");
        pending
            .entry((limit.clone(), client.clone()))
            .or_insert((0, quota))
            .0 += 1;
    }

    async fn settle(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().expect("rate limit lock"));
        let now = Instant::now();
        self.blocked
            .lock()
            .expect("rate limit lock")
            .retain(|_, until| *until > now);
        if pending.is_empty() {
            return;
        }
        let buckets: Vec<_> = pending.into_iter().collect();
        for chunk in buckets.chunks(PER_CALL) {
            let mut cmd = ::redis::cmd("EVAL");
            cmd.arg(SETTLE_LUA).arg(chunk.len());
            for ((limit, client), _) in chunk {
                cmd.arg(self.redis.key("#rate", &format!("{limit}:{client}")));
            }
            for (_, (count, quota)) in chunk {
                let interval = quota.interval().as_micros() as u64;
                cmd.arg(count)
                    .arg(interval)
                    .arg(interval * u64::from(quota.burst));
            }
            // Redis down or slow: the counts are dropped and each instance goes on alone.
            let Some(waits) = self.redis.query::<Vec<u64>>("rate limit", &cmd).await else {
                return;
            };
            let now = Instant::now();
            let mut blocked = self.blocked.lock().expect("rate limit lock");
            for ((bucket, _), wait) in chunk.iter().zip(waits) {
                if wait > 0 {
                    blocked.insert(bucket.clone(), now + Duration::from_micros(wait));
                } else {
                    blocked.remove(bucket);
                }
            }
        }
    }
}

async fn settle_loop(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(SETTLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.settle().await;
    }
}
