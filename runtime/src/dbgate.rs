//! Fail fast while the database is known to be down.
//!
//! Without it, every request during an outage waits the pool's whole acquire timeout
//! (3 s by default) before its 503, and a burst of them piles up tasks and sockets. The
//! gate remembers the last failure: for [`HOLD`] after it, requests that need the database
//! get their 503 (with `Retry-After`) at once, while cached reads keep serving. When the
//! hold is over, one request (the probe) is let through to try a connection; the others
//! keep failing fast until it succeeds (a half-open circuit breaker).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::problem::Problem;

/// How long a database failure makes requests fail fast before one probe tries again.
pub const HOLD: Duration = Duration::from_secs(1);

/// The database's known state, shared by every request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DbGate(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    /// Milliseconds after `epoch` until which requests fail fast; 0 while the database is up.
    down_until: AtomicU64,
}

impl Default for DbGate {
    fn default() -> Self {
        Self(Arc::new(Inner {
            epoch: Instant::now(),
            down_until: AtomicU64::new(0),
        }))
    }
}

impl DbGate {
    fn now_ms(&self) -> u64 {
        // +1: 0 means "up".
        self.0.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether the database is believed up (no failure since the last success).
    pub fn is_up(&self) -> bool {
        self.0.down_until.load(Ordering::Relaxed) == 0
    }

    /// `pool` when the database may be reached: at once while it is up (one atomic load);
    /// a 503 without touching the pool while a recent failure holds; after the hold, the
    /// one caller that wins the probe tries a connection (and reopens the gate when it
    /// gets one) while the others keep failing fast.
    pub async fn pool<'p>(&self, pool: &'p PgPool) -> Result<&'p PgPool, Problem> {
        let until = self.0.down_until.load(Ordering::Relaxed);
        if until == 0 {
            return Ok(pool);
        }
        let now = self.now_ms();
        let claimed = now >= until
            && self
                .0
                .down_until
                .compare_exchange(
                    until,
                    now + HOLD.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
        if !claimed {
            return Err(unavailable());
        }
        match pool.acquire().await {
            Ok(_connection) => {
                self.up();
                Ok(pool)
            }
            Err(err) => {
                self.observe(&err);
                Err(unavailable())
            }
        }
    }

    /// Records the outcome of a database call: an error that means the database cannot be
    /// reached (pool timeout, I/O, connection refused, shutdown) starts a hold.
    pub fn observe(&self, err: &sqlx::Error) {
        if is_unreachable(err) {
            self.down();
        }
    }

    /// Starts (or extends) a hold: the database was found unreachable.
    pub fn down(&self) {
        self.0
            .down_until
            .store(self.now_ms() + HOLD.as_millis() as u64, Ordering::Relaxed);
    }

    /// The database answered: requests go through again.
    pub fn up(&self) {
        if self.0.down_until.load(Ordering::Relaxed) != 0 {
            self.0.down_until.store(0, Ordering::Relaxed);
        }
    }
}

/// Whether `err` says the database cannot be reached at all (as opposed to a query error).
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception), 57P01..03 (admin shutdown, crash shutdown,
        // cannot connect now: the server is starting or stopping).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

fn unavailable() -> Problem {
    Problem::service_unavailable("the database is unavailable, try again later")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_holds_then_one_probe_goes_through() {
        let gate = DbGate::default();
        assert!(gate.is_up());
        gate.observe(&sqlx::Error::RowNotFound);
        assert!(
            gate.is_up(),
            "a query error says nothing about reachability"
        );
        gate.observe(&sqlx::Error::PoolTimedOut);
        assert!(!gate.is_up());
        let until = gate.0.down_until.load(Ordering::Relaxed);
        assert!(until >= gate.now_ms() + 900);
        gate.up();
        assert!(gate.is_up());
    }

    #[tokio::test]
    async fn requests_fail_fast_during_the_hold() {
        // A pool that would wait 3 s for a connection nobody can make.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        let gate = DbGate::default();
        gate.down();
        let started = Instant::now();
        let err = gate.pool(&pool).await.expect_err("held");
        assert_eq!(err.status, 503);
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(!gate.is_up());
    }
}
