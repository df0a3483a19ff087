//! Closed-loop load: `concurrency` workers each send one request at a time until the
//! deadline; latencies go into HDR histograms (one per worker, merged at the end).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

/// Highest latency the histogram tracks (larger values are clamped): one minute in µs.
const MAX_MICROS: u64 = 60_000_000;

/// What one iteration produced.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx response after this long.
    Ok(Duration),
    /// A non-2xx response (with its latency) or no response at all (`latency: None`).
    Failed {
        latency: Option<Duration>,
        why: String,
    },
}

/// Everything measured on one route.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latencies in microseconds.
    pub hist: Histogram<u64>,
    /// Iterations run (successful or not).
    pub requests: u64,
    pub errors: u64,
    /// The first error seen, to tell the user what went wrong.
    pub first_error: Option<String>,
}

impl Stats {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("static histogram bounds are valid"),
            requests: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn record(&mut self, outcome: Outcome) {
        self.requests += 1;
        let latency = match outcome {
            Outcome::Ok(d) => Some(d),
            Outcome::Failed { latency, why } => {
                self.errors += 1;
                self.first_error.get_or_insert(why);
                latency
            }
        };
        if let Some(d) = latency {
            let us = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS);
            self.hist.saturating_record(us.clamp(1, MAX_MICROS));
        }
    }

    fn merge(&mut self, other: Stats) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Latency at a quantile (0..=1), as a duration.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.hist.value_at_quantile(q))
    }
}

/// Run `op(n)` (n = 0, 1, 2, … across all workers) from `concurrency` workers until
/// `duration` has passed. A request in flight at the deadline finishes (each request
/// has its own timeout), so the run always ends.
pub async fn drive<F, Fut>(duration: Duration, concurrency: usize, op: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (op, counter) = (op.clone(), counter.clone());
        workers.spawn(async move {
            let mut stats = Stats::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                stats.record(op(n).await);
            }
            stats
        });
    }
    let mut total = Stats::new();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(stats) => total.merge(stats),
            Err(err) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("a load worker failed: {err}"));
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drive_stops_at_the_deadline_and_counts_errors() {
        let stats = drive(Duration::from_millis(100), 4, |n| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if n % 2 == 0 {
                Outcome::Ok(Duration::from_millis(5))
            } else {
                Outcome::Failed {
                    latency: None,
                    why: format!("odd {n}"),
                }
            }
        })
        .await;
        assert!(stats.requests >= 4, "{stats:?}");
        assert!(stats.errors >= 1 && stats.errors < stats.requests);
        assert_eq!(stats.hist.len(), stats.requests - stats.errors);
        assert_eq!(stats.quantile(0.5).as_millis(), 5);
        assert!(stats.first_error.unwrap().starts_with("odd"));
    }
}
