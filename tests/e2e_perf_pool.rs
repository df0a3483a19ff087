//! Performance e2e, connection pool (item 8): with a one-connection pool and that
//! connection held by a blocked query, another request is answered 503 problem+json
//! after `acquire_timeout` instead of waiting; the pool recovers afterwards.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::perf::{poll_until, shared_binary, spec_variant};
use common::{Server, TestDb};

/// The shop with one pooled connection, a 300 ms acquire timeout and a long statement
/// timeout (so the blocked query keeps its connection).
fn tiny_pool_spec() -> String {
    spec_variant(
        "examples/shop.yaml",
        &[
            ("name: shop", "name: perf_pool"),
            (
                "pool: { max: 20, min: 0, idle_timeout: 20s, connect_timeout: 10s, max_lifetime: 30m }",
                "pool: { max: 1, min: 0, idle_timeout: 20s, connect_timeout: 10s, max_lifetime: 30m, acquire_timeout: 300ms }",
            ),
            ("statement_timeout: 5s", "statement_timeout: 2m"),
        ],
    )
}

#[test]
fn a_saturated_pool_answers_503_instead_of_hanging() {
    let binary = shared_binary(&tiny_pool_spec());
    let db = TestDb::create();
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", "")]);
    assert_eq!(server.get("/users").status, 200);

    // Another session locks `products` for 4 s.
    let mut locker = Command::new("psql")
        .args(["-q", "-d", &db.url, "-c"])
        .arg("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;")
        .stdout(Stdio::null())
        .spawn()
        .expect("run psql");
    let locked = poll_until(Duration::from_secs(5), || {
        let n = db.psql(
            "SELECT count(*) FROM pg_locks WHERE relation = 'products'::regclass \
             AND mode = 'AccessExclusiveLock' AND granted",
        );
        (n.trim() == "1").then_some(())
    });
    assert!(locked.is_some(), "psql did not take the lock");

    std::thread::scope(|s| {
        // This list blocks on the lock, holding the pool's only connection.
        let blocked = s.spawn(|| server.get("/products"));
        let waiting = poll_until(Duration::from_secs(3), || {
            let n = db.psql(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            );
            (n.trim() == "1").then_some(())
        });
        assert!(waiting.is_some(), "the list never blocked on the lock");

        // A request on another table needs a connection: none is free.
        let res = server.get("/users");
        assert_eq!(res.status, 503, "{}", res.text());
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        assert_eq!(res.json()["status"], 503);

        // When the lock goes, the blocked request completes and the pool serves again.
        assert_eq!(blocked.join().unwrap().status, 200);
    });
    assert!(locker.wait().unwrap().success());
    assert_eq!(server.get("/users").status, 200);
}
