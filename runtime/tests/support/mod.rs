//! Test support: a throw-away Postgres database per test, and a counter of the SQL
//! statements sqlx runs (from its `sqlx::query` log events) to assert batching.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

/// The server's maintenance database, from `APIFORGE_TEST_PG` or the local default.
fn admin_url() -> String {
    std::env::var("APIFORGE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own (`apiforge_test_<random>`), dropped when this is dropped, even
/// when the test panics.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> Self {
        Self::with_pool(PgPoolOptions::new().max_connections(5)).await
    }

    pub async fn with_pool(options: PgPoolOptions) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "apiforge_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("connect to Postgres (is it running on 127.0.0.1:5432?)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').expect("URL has a database").0;
        let url = format!("{base}/{name}");
        let pool = options
            .connect(&url)
            .await
            .expect("connect to test database");
        Self { pool, url, name }
    }

    /// Runs `sql` (several statements allowed).
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_url();
        // Drop needs its own runtime: the test's runtime may be shutting down.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// Counts the SQL statements sqlx runs on the current thread (from its `sqlx::query`
/// events). A `#[tokio::test]` runs its tasks, spawned ones included, on the test thread.
///
/// The subscriber is global and the count thread-local: a scoped (`set_default`)
/// subscriber would race with tests on other threads, which can register sqlx's
/// callsites as uninteresting while only one dispatcher exists.
#[derive(Clone, Copy)]
pub struct QueryCounter;

thread_local! {
    static QUERIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct CountingSubscriber;

impl QueryCounter {
    /// Installs the global subscriber (once per test binary) and zeroes this thread's count.
    pub fn install() -> Self {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            tracing::subscriber::set_global_default(CountingSubscriber)
                .expect("no other global tracing subscriber in this test binary");
        });
        Self.reset();
        Self
    }

    pub fn get(&self) -> usize {
        QUERIES.with(std::cell::Cell::get)
    }

    pub fn reset(&self) {
        QUERIES.with(|q| q.set(0));
    }
}

impl tracing::Subscriber for CountingSubscriber {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.target() == "sqlx::query" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() == "sqlx::query"
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "sqlx::query" {
            QUERIES.with(|q| q.set(q.get() + 1));
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
