//! Performance e2e, cached services: the generated shop's `GET /products/{id}` goes through
//! the two-tier `ResourceCache` (moka memory tier, shared Redis tier). Queries are counted
//! by the API's own `apiforge_db_queries_total{query=…}`; every assertion here fails if
//! the cache, its miss coalescing, its invalidation or its Redis fallback is removed.

mod common;

use std::time::Duration;

use common::perf::{Metrics, concurrently, poll_until, shared_binary};
use common::{Server, TestDb};
use serde_json::json;

const SHOP: &str = "examples/shop.yaml";
const GET: &str = "products.get";

/// A server on `db` with no Redis tier (whatever the environment says).
fn start(db: &TestDb) -> Server {
    Server::start_with(&shared_binary(SHOP), &db.url, &[("REDIS_URL", "")])
}

fn create_product(server: &Server, name: &str) -> i64 {
    let res = server.post(
        "/products",
        &json!({ "name": name, "category": "home", "price": "9.50", "sales": 3 }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["id"].as_i64().expect("a bigserial id")
}

fn cache_counter(m: &Metrics, what: &str, tier: &str) -> u64 {
    m.sum(
        &format!("apiforge_cache_{what}_total"),
        &[("resource", "products"), ("tier", tier)],
    ) as u64
}

#[test]
fn concurrent_cold_gets_run_one_query_then_hit_memory() {
    let db = TestDb::create();
    let server = start(&db);
    let id = create_product(&server, "Lamp");
    let path = format!("/products/{id}");

    let before = server.metrics();
    let bodies = concurrently(50, |_| {
        let res = server.get(&path);
        assert_eq!(res.status, 200, "{}", res.text());
        res.body
    });
    let after = server.metrics();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one body for all");
    let delta = after.query_delta(&before);
    assert_eq!(
        delta.get(GET),
        Some(&1),
        "50 concurrent misses of one key are coalesced into one query: {delta:?}"
    );
    assert!(
        delta.values().all(|&n| n == 1),
        "no query shape ran twice: {delta:?}"
    );
    assert!(
        cache_counter(&after, "misses", "memory") > cache_counter(&before, "misses", "memory"),
        "the cold read is a memory miss"
    );

    // Warm: served from memory, no query at all.
    let warm_before = server.metrics();
    let res = server.get(&path);
    assert_eq!((res.status, &res.body), (200, &bodies[0]));
    let warm_after = server.metrics();
    assert_eq!(
        warm_after.query_delta(&warm_before),
        Default::default(),
        "a warm GET runs no query"
    );
    assert_eq!(
        cache_counter(&warm_after, "hits", "memory")
            - cache_counter(&warm_before, "hits", "memory"),
        1,
        "one memory hit"
    );
    assert_eq!(
        cache_counter(&warm_after, "misses", "memory"),
        cache_counter(&warm_before, "misses", "memory"),
        "and no miss"
    );
}

#[test]
fn writes_invalidate_the_cached_row_and_its_aggregates() {
    let db = TestDb::create();
    let server = start(&db);
    let id = create_product(&server, "Desk");
    let path = format!("/products/{id}");
    assert_eq!(server.get(&path).json()["name"], "Desk");
    let before = server.metrics();
    assert_eq!(server.get(&path).json()["review_count"], 0);
    assert_eq!(server.metrics().queries(GET), before.queries(GET), "cached");

    // PATCH: the next GET reads the new row (one query), then it is cached again.
    let patched = server.patch(&path, &json!({ "name": "Standing desk" }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    let before = server.metrics();
    assert_eq!(server.get(&path).json()["name"], "Standing desk");
    assert_eq!(server.get(&path).json()["name"], "Standing desk");
    assert_eq!(server.metrics().queries(GET) - before.queries(GET), 1);

    // A review is another resource's write: it bumps the products generation, so the
    // cached row with its aggregates is not served stale.
    let review = server.post("/reviews", &json!({ "product_id": id, "rating": 4 }));
    assert_eq!(review.status, 201, "{}", review.text());
    let row = server.get(&path).json();
    assert_eq!(
        (row["review_count"].as_i64(), row["avg_rating"].as_f64()),
        (Some(1), Some(4.0))
    );

    // DELETE: gone at once, not served from the cache.
    assert_eq!(
        server
            .delete(&format!("/reviews/{}", review.json()["id"]))
            .status,
        204
    );
    assert_eq!(server.delete(&path).status, 204);
    assert_eq!(server.get(&path).status, 404);
}

#[test]
fn lists_are_cached_until_a_create_bumps_the_generation() {
    let db = TestDb::create();
    let server = start(&db);
    create_product(&server, "Chair");
    let names = |server: &Server| -> Vec<String> {
        let res = server.get("/products?sort=id");
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&server), ["Chair"]);
    let before = server.metrics();
    assert_eq!(names(&server), ["Chair"]);
    assert_eq!(
        server.metrics().query_delta(&before),
        Default::default(),
        "a repeated list page is served from the cache"
    );
    create_product(&server, "Rug");
    assert_eq!(
        names(&server),
        ["Chair", "Rug"],
        "the create is seen at once"
    );
}

/// Two instances on one database and one Redis: a row cached by one is a Redis hit for
/// the other, and a write on one is seen by the other at once (pub/sub invalidation of
/// its memory tier).
#[test]
fn redis_shares_rows_and_invalidations_between_instances() {
    let db = TestDb::create();
    let namespace = format!("perf_{}", common::unique_suffix());
    let env = [
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let a = Server::start_with(&shared_binary(SHOP), &db.url, &env);
    let b = Server::start_with(&shared_binary(SHOP), &db.url, &env);
    let id = create_product(&a, "Ink");
    let path = format!("/products/{id}");

    assert_eq!(a.get(&path).json()["name"], "Ink");
    let before = b.metrics();
    assert_eq!(b.get(&path).json()["name"], "Ink");
    let after = b.metrics();
    assert_eq!(
        after.queries(GET),
        before.queries(GET),
        "B reads A's row from Redis, not Postgres"
    );
    assert_eq!(
        cache_counter(&after, "hits", "redis") - cache_counter(&before, "hits", "redis"),
        1,
        "one Redis hit on B"
    );
    let before = b.metrics();
    assert_eq!(b.get(&path).json()["name"], "Ink");
    assert_eq!(
        cache_counter(&b.metrics(), "hits", "memory") - cache_counter(&before, "hits", "memory"),
        1,
        "then B serves it from memory"
    );

    let patched = a.patch(&path, &json!({ "name": "Blue ink" }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    let patched_at = std::time::Instant::now();
    let seen = poll_until(Duration::from_secs(2), || {
        (b.get(&path).json()["name"] == "Blue ink").then(|| patched_at.elapsed())
    })
    .expect("B still serves the old row 2s after A's PATCH");
    eprintln!("A's PATCH seen by B after {seen:?}");
    // And a create on B is seen by A's next list (shared generation).
    create_product(&b, "Pen");
    let listed = a.get("/products?sort=id").json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    drop((a, b));
    clear_namespace(&namespace);
}

/// Redis unreachable: every request is still answered, from Postgres (and memory).
#[test]
fn redis_down_serves_from_postgres() {
    assert_served_from_postgres("redis://127.0.0.1:1", "perf_down");
}

/// A Redis that accepts connections and never answers (a hung server, a black-holed
/// network): the API starts, every request is answered from Postgres within the cache's
/// bounded Redis timeout, and the failures are counted.
#[test]
fn hung_redis_serves_from_postgres() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://{}", hung.local_addr().unwrap());
    // Accept and hold every connection, reading nothing and answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming() {
            held.extend(stream.ok());
        }
    });
    assert_served_from_postgres(&url, "perf_hung");
}

/// With `REDIS_URL` pointing at a Redis that fails, every GET, PATCH and list is answered
/// (200, fresh data) from Postgres, and the Redis failures are counted.
fn assert_served_from_postgres(redis_url: &str, namespace: &str) {
    let db = TestDb::create();
    let server = Server::start_with(
        &shared_binary(SHOP),
        &db.url,
        &[("REDIS_URL", redis_url), ("REDIS_NAMESPACE", namespace)],
    );
    let started = std::time::Instant::now();
    let id = create_product(&server, "Pen");
    let path = format!("/products/{id}");
    for _ in 0..3 {
        let res = server.get(&path);
        assert_eq!(
            (res.status, res.json()["name"].clone()),
            (200, json!("Pen"))
        );
    }
    let patched = server.patch(&path, &json!({ "name": "Pencil" }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(server.get(&path).json()["name"], "Pencil");
    let listed = server.get("/products");
    assert_eq!(listed.status, 200, "{}", listed.text());
    eprintln!(
        "7 requests with Redis at {redis_url} failing took {:?}",
        started.elapsed()
    );
    let m = server.metrics();
    assert!(
        m.sum("apiforge_cache_redis_errors_total", &[]) > 0.0,
        "Redis was tried and failed: {:?}",
        m.0.samples
            .iter()
            .filter(|s| s.name.starts_with("apiforge_cache"))
            .collect::<Vec<_>>()
    );
}

/// Deletes the test's Redis keys with SCAN (never KEYS); best effort.
fn clear_namespace(namespace: &str) {
    let Ok(out) = std::process::Command::new("redis-cli")
        .args(["--scan", "--pattern", &format!("apiforge:{namespace}:*")])
        .output()
    else {
        return;
    };
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    if !keys.is_empty() {
        let _ = std::process::Command::new("redis-cli")
            .arg("DEL")
            .args(&keys)
            .output();
    }
}
