//! The pool's check of the connections it hands out (`startup::ping_if_idle`) against the
//! real Postgres: a connection used moments ago is handed out as it is, one idle past the
//! window is pinged, and replaced when its server process is gone.

use std::time::Duration;

use apiforge_runtime::startup::{self, PING_IDLE_AFTER};
use sqlx::postgres::{PgPool, PgPoolOptions};

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own, dropped at the end of the test.
async fn database(name: &str) -> (PgPool, String) {
    let admin = PgPool::connect(ADMIN).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    (admin, format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

async fn backend_pid(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

async fn terminate(admin: &PgPool, pid: i32) {
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(ended);
    // The server process takes a moment to go.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn only_connections_idle_past_the_window_are_pinged() {
    let (admin, url) = database("apiforge_pool_ping").await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .before_acquire(startup::ping_if_idle)
        .connect(&url)
        .await
        .unwrap();

    // Used moments ago: handed out without a ping, so a dead one fails its query (and
    // the pool drops it)...
    let first = backend_pid(&pool).await.unwrap();
    terminate(&admin, first).await;
    assert!(
        backend_pid(&pool).await.is_err(),
        "no ping: the query met the dead connection"
    );
    // ...and the next query gets a new connection.
    let second = backend_pid(&pool).await.unwrap();
    assert_ne!(first, second);

    // Idle past the window: pinged, found dead, replaced before the query runs.
    terminate(&admin, second).await;
    tokio::time::sleep(PING_IDLE_AFTER).await;
    let third = backend_pid(&pool).await.unwrap();
    assert_ne!(second, third);

    // A live connection idle past the window passes its ping and is kept.
    tokio::time::sleep(PING_IDLE_AFTER).await;
    assert_eq!(backend_pid(&pool).await.unwrap(), third);

    pool.close().await;
    sqlx::query("DROP DATABASE apiforge_pool_ping WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();
}
