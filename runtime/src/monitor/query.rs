//! Query timing per query *shape* (a static name such as `products.get`, never the SQL
//! text nor its parameters): `apiforge_db_query_duration_seconds{query}`,
//! `apiforge_db_queries_total{query}`, `apiforge_db_query_errors_total{query}`, and for
//! queries slower than the threshold a `slow query` warning (shape, duration, rows) and
//! `apiforge_db_slow_queries_total{query}`.
//!
//! ```no_run
//! # use apiforge_runtime::monitor::query::{timed, TimedExt};
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
//! let rows: Vec<(i64,)> = timed("products.list", sqlx::query_as("SELECT id FROM products").fetch_all(&pool)).await?;
//! let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM products WHERE id = $1")
//!     .bind(1_i64)
//!     .fetch_optional(&pool)
//!     .timed("products.get")
//!     .await?;
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};

/// Default slow-query threshold.
pub const DEFAULT_SLOW_THRESHOLD: Duration = Duration::from_millis(100);

static SLOW_NANOS: AtomicU64 = AtomicU64::new(DEFAULT_SLOW_THRESHOLD.as_nanos() as u64);

/// Sets the process-wide slow-query threshold (the spec's `database.slow_query`).
pub fn set_slow_threshold(threshold: Duration) {
    let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    SLOW_NANOS.store(nanos, Ordering::Relaxed);
}

/// The current slow-query threshold.
pub fn slow_threshold() -> Duration {
    Duration::from_nanos(SLOW_NANOS.load(Ordering::Relaxed))
}

/// How many rows a query result holds, for the slow-query log.
pub trait RowCount {
    /// The number of rows returned or affected.
    fn row_count(&self) -> u64;
}

impl<T> RowCount for Vec<T> {
    fn row_count(&self) -> u64 {
        self.len() as u64
    }
}

impl<T> RowCount for Option<T> {
    fn row_count(&self) -> u64 {
        u64::from(self.is_some())
    }
}

impl RowCount for sqlx::postgres::PgQueryResult {
    fn row_count(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowCount for sqlx::postgres::PgRow {
    fn row_count(&self) -> u64 {
        1
    }
}

/// Single values (a `COUNT(*)`, a `RETURNING id`) are one row.
macro_rules! one_row {
    ($($t:ty),*) => {$(
        impl RowCount for $t {
            fn row_count(&self) -> u64 {
                1
            }
        }
    )*};
}
one_row!(i16, i32, i64, u64, bool, String);

impl RowCount for () {
    fn row_count(&self) -> u64 {
        0
    }
}

/// Times one query of shape `query` (see the module docs for what is recorded).
pub async fn timed<F, T, E>(query: &'static str, fut: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    T: RowCount,
{
    let timer = QueryTimer::start(query);
    let result = fut.await;
    match &result {
        Ok(value) => timer.finish(value.row_count()),
        Err(_) => timer.fail(),
    };
    result
}

/// `.timed("shape")` on any query future: the same as [`timed`].
pub trait TimedExt: Future<Output = Result<Self::Ok, Self::Err>> + Sized {
    /// The success type.
    type Ok: RowCount;
    /// The error type.
    type Err;

    /// Times this query as shape `query`.
    fn timed(self, query: &'static str) -> impl Future<Output = Result<Self::Ok, Self::Err>> {
        timed(query, self)
    }
}

impl<F, T: RowCount, E> TimedExt for F
where
    F: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Err = E;
}

/// A manual timer, for queries that are not one future (a streamed cursor: start it before
/// the first row, finish it with the row count after the last).
#[must_use = "a timer records nothing until finished"]
pub struct QueryTimer {
    query: &'static str,
    start: Instant,
}

impl QueryTimer {
    /// Starts timing a query of shape `query`.
    pub fn start(query: &'static str) -> Self {
        Self {
            query,
            start: Instant::now(),
        }
    }

    /// Records a successful query that produced `rows` rows; returns its duration.
    pub fn finish(self, rows: u64) -> Duration {
        let elapsed = self.record();
        if elapsed >= slow_threshold() {
            metrics::counter!("apiforge_db_slow_queries_total", "query" => self.query).increment(1);
            tracing::warn!(
                query = self.query,
                duration_ms = elapsed.as_secs_f64() * 1e3,
                rows,
                "slow query"
            );
        }
        elapsed
    }

    /// Records a failed query; returns its duration.
    pub fn fail(self) -> Duration {
        metrics::counter!("apiforge_db_query_errors_total", "query" => self.query).increment(1);
        self.record()
    }

    fn record(&self) -> Duration {
        let elapsed = self.start.elapsed();
        let seconds = elapsed.as_secs_f64();
        if super::recorder::installed() {
            ShapeHandles::with(self.query, |h| {
                h.queries.increment(1);
                h.duration.record(seconds);
            });
        } else {
            metrics::counter!("apiforge_db_queries_total", "query" => self.query).increment(1);
            metrics::histogram!("apiforge_db_query_duration_seconds", "query" => self.query)
                .record(seconds);
        }
        elapsed
    }
}

/// The metric handles of one query shape, kept per thread: looking them up by name on every
/// query (building the key, hashing it, the registry's lock) cost ≈2,700 instructions of a
/// database GET's ≈73,000 under callgrind; a kept handle costs a few dozen.
struct ShapeHandles {
    queries: Counter,
    duration: Histogram,
}

impl ShapeHandles {
    /// Runs `f` on the handles of `query` (made on this thread's first query of that shape).
    fn with(query: &'static str, f: impl FnOnce(&ShapeHandles)) {
        type Shapes = HashMap<(usize, usize), ShapeHandles, foldhash::fast::FixedState>;
        thread_local!(static SHAPES: RefCell<Shapes> = RefCell::default());
        SHAPES.with_borrow_mut(|shapes| {
            // Shapes are `&'static str`s: their address and length identify them.
            let handles = shapes
                .entry((query.as_ptr() as usize, query.len()))
                .or_insert_with(|| ShapeHandles {
                    queries: metrics::counter!("apiforge_db_queries_total", "query" => query),
                    duration: metrics::histogram!(
                        "apiforge_db_query_duration_seconds",
                        "query" => query
                    ),
                });
            f(handles);
        });
    }
}

/// A timer of a stream (an export): its own metrics, never counted or logged as a slow
/// query, since a stream lasts as long as its client reads.
#[must_use = "a timer records nothing until finished"]
pub struct StreamTimer {
    stream: &'static str,
    start: Instant,
}

impl StreamTimer {
    /// Starts timing a stream of shape `stream`.
    pub fn start(stream: &'static str) -> Self {
        Self {
            stream,
            start: Instant::now(),
        }
    }

    /// Records the stream's end: `outcome` is `complete`, `failed` or `aborted` (the client
    /// left or was too slow), after `rows` rows.
    pub fn finish(self, outcome: &'static str, rows: u64) -> Duration {
        let elapsed = self.start.elapsed();
        metrics::counter!("apiforge_streams_total", "stream" => self.stream, "outcome" => outcome)
            .increment(1);
        metrics::counter!("apiforge_stream_rows_total", "stream" => self.stream).increment(rows);
        metrics::histogram!("apiforge_stream_duration_seconds", "stream" => self.stream)
            .record(elapsed.as_secs_f64());
        elapsed
    }
}
