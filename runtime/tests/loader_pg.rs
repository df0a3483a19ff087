//! The batch loader under concurrency against a real Postgres, counting real queries.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apiforge_runtime::prelude::*;
use support::{QueryCounter, TestDb};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Resource)]
#[resource(table = "users")]
pub struct User {
    #[resource(primary_key)]
    pub id: i64,
    pub name: String,
}

async fn users(n: i64) -> TestDb {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL)")
        .await;
    sqlx::query("INSERT INTO users SELECT i, 'user ' || i FROM generate_series(1, $1) AS i")
        .bind(n)
        .execute(&db.pool)
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn concurrent_loads_are_coalesced_into_one_query() {
    let db = users(50).await;
    let queries = QueryCounter::install();
    // A window far wider than it takes to start 200 tasks, so a slow machine cannot split it.
    let loader: Loader<i64, User> =
        Loader::new(db.pool.clone()).with_window(Duration::from_millis(200));

    // 200 concurrent loads of 40 distinct keys (10 of them missing), like the N+1 of a
    // page of orders including their user.
    let tasks: Vec<_> = (0..200_i64)
        .map(|i| {
            let loader = loader.clone();
            tokio::spawn(async move { (i % 40 + 21, loader.load(i % 40 + 21).await) })
        })
        .collect();
    for task in tasks {
        let (key, result) = task.await.unwrap();
        let user = result.unwrap();
        if key <= 50 {
            assert_eq!(user.unwrap().name, format!("user {key}"));
        } else {
            assert_eq!(user, None, "key {key} does not exist");
        }
    }
    assert_eq!(queries.get(), 1, "one batch for every load of the window");

    // Answers (found or not) are remembered for the loader's lifetime.
    assert_eq!(loader.load(21).await.unwrap().unwrap().id, 21);
    assert_eq!(loader.load(60).await.unwrap(), None);
    assert_eq!(queries.get(), 1);
}

#[tokio::test]
async fn a_full_batch_is_sent_without_waiting_for_the_window() {
    let db = users(10).await;
    let queries = QueryCounter::install();
    let loader: Loader<i64, User> = Loader::new(db.pool.clone())
        .with_max_batch(4)
        .with_window(Duration::from_secs(3600));
    // With an hour-long window only full batches can go out: 8 keys = exactly 2 batches.
    let found = tokio::time::timeout(Duration::from_secs(30), loader.load_many(1..=8))
        .await
        .expect("full batches are sent at once")
        .unwrap();
    assert_eq!(found.len(), 8);
    assert_eq!(queries.get(), 2);
}

#[tokio::test]
async fn loads_of_a_key_in_flight_join_its_batch() {
    let calls = Arc::new(AtomicUsize::new(0));
    let batches = Arc::clone(&calls);
    let loader = Loader::from_fn(move |keys: Vec<u32>| {
        batches.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(keys
                .into_iter()
                .map(|k| (k, k * 10))
                .collect::<HashMap<_, _>>())
        }
    });
    let first = tokio::spawn({
        let loader = loader.clone();
        async move { loader.load(7).await }
    });
    // Wait past the window: the batch with key 7 is now in flight.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = loader.load(7).await.unwrap();
    assert_eq!(
        (first.await.unwrap().unwrap(), second),
        (Some(70), Some(70))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_batch_reaches_every_waiter_and_is_not_remembered() {
    let db = users(5).await;
    let loader: Loader<i64, User> = Loader::new(db.pool.clone());
    db.exec("ALTER TABLE users RENAME TO people").await;

    let results = futures_util::future::join_all((1..=5).map(|k| loader.load(k))).await;
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(Problem::from(err).status, 500);
    }
    db.exec("ALTER TABLE people RENAME TO users").await;
    assert_eq!(loader.load(3).await.unwrap().unwrap().name, "user 3");
}

#[tokio::test]
async fn each_request_has_its_own_loader_and_sees_fresh_rows() {
    let db = users(1).await;
    let first_request: Loader<i64, User> = Loader::new(db.pool.clone());
    assert_eq!(first_request.load(1).await.unwrap().unwrap().name, "user 1");

    db.exec("UPDATE users SET name = 'renamed' WHERE id = 1")
        .await;
    let second_request: Loader<i64, User> = Loader::new(db.pool.clone());
    assert_eq!(
        second_request.load(1).await.unwrap().unwrap().name,
        "renamed"
    );
    // Within one request the answer stays consistent.
    assert_eq!(first_request.load(1).await.unwrap().unwrap().name, "user 1");
}

#[tokio::test]
async fn a_panicking_batch_fails_its_waiters_instead_of_hanging() {
    let loader = Loader::from_fn(|keys: Vec<u8>| async move {
        if keys.contains(&13) {
            panic!("unlucky batch");
        }
        Ok(HashMap::<u8, u8>::new())
    });
    let result = tokio::time::timeout(Duration::from_secs(10), loader.load(13))
        .await
        .expect("waiter is released");
    assert!(matches!(
        result.unwrap_err().source_error(),
        sqlx::Error::WorkerCrashed
    ));
    assert_eq!(loader.load(1).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_holds_on_a_multi_threaded_runtime() {
    let db = users(100).await;
    let batches = Arc::new(AtomicUsize::new(0));
    let loader = {
        let (pool, batches) = (db.pool.clone(), Arc::clone(&batches));
        Loader::from_fn(move |keys: Vec<i64>| {
            batches.fetch_add(1, Ordering::SeqCst);
            let pool = pool.clone();
            async move { User::load_many(&pool, &keys).await }
        })
        .with_window(Duration::from_millis(200))
    };
    let tasks: Vec<_> = (1..=100_i64)
        .map(|k| {
            let loader = loader.clone();
            tokio::spawn(async move { loader.load(k).await })
        })
        .collect();
    for (k, task) in (1..=100_i64).zip(tasks) {
        assert_eq!(task.await.unwrap().unwrap().unwrap().id, k);
    }
    assert_eq!(batches.load(Ordering::SeqCst), 1);
}
