//! Performance e2e, query shapes of the generated shop, counted by the API's own
//! `apiforge_db_queries_total{query=…}`: batch-loaded includes (item 4), aggregates and
//! rankings against seeded data (item 5), and enforced pagination (item 8).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::perf::shared_binary;
use common::{Server, TestDb};
use serde_json::Value;

const SHOP: &str = "examples/shop.yaml";

fn start(db: &TestDb) -> Server {
    Server::start_with(&shared_binary(SHOP), &db.url, &[("REDIS_URL", "")])
}

/// `id|col|…` rows of a psql query, split.
fn rows(db: &TestDb, sql: &str) -> Vec<Vec<String>> {
    db.psql(sql)
        .lines()
        .map(|l| l.split('|').map(String::from).collect())
        .collect()
}

fn items(res: &common::Response) -> Vec<Value> {
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["items"].as_array().expect("items").clone()
}

/// 10 users, 20 products, 120 orders spread over them.
fn seed_orders(db: &TestDb) {
    db.psql(
        "INSERT INTO users (email, name, password_hash) \
           SELECT 'u' || g || '@example.com', 'User ' || g, 'h' FROM generate_series(1, 10) g; \
         INSERT INTO products (name, category, price) \
           SELECT 'Product ' || g, 'c', g FROM generate_series(1, 20) g; \
         INSERT INTO orders (user_id, product_id, quantity) \
           SELECT (SELECT id FROM users ORDER BY email OFFSET g % 10 LIMIT 1), \
                  (SELECT id FROM products ORDER BY id OFFSET g % 20 LIMIT 1), 1 + g % 3 \
           FROM generate_series(1, 120) g",
    );
}

#[test]
fn includes_are_batch_loaded_one_query_per_relation() {
    let db = TestDb::create();
    let server = start(&db);
    seed_orders(&db);

    let before = server.metrics();
    let page = items(&server.get("/orders?include=user,product&limit=50"));
    let delta = server.metrics().query_delta(&before);
    assert_eq!(page.len(), 50);
    for item in &page {
        assert_eq!(item["user"]["id"], item["user_id"], "{item}");
        assert_eq!(item["product"]["id"], item["product_id"], "{item}");
        assert!(item["user"]["email"].is_string() && item["product"]["name"].is_string());
    }
    assert_eq!(
        delta.values().sum::<u64>(),
        3,
        "orders + one per relation: {delta:?}"
    );
    assert_eq!(delta.get("users.load_many"), Some(&1), "{delta:?}");
    assert_eq!(delta.get("products.load_many"), Some(&1), "{delta:?}");
    assert!(
        delta.keys().any(|k| k.starts_with("orders.list")),
        "{delta:?}"
    );
    eprintln!("50 orders with include=user,product: queries {delta:?}");

    let id = &page[7]["id"];
    let before = server.metrics();
    let one = server.get(&format!("/orders/{id}?include=user,product"));
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["user"], page[7]["user"]);
    let delta = server.metrics().query_delta(&before);
    assert_eq!(
        delta,
        BTreeMap::from([
            ("orders.get".to_string(), 1),
            ("products.load_many".to_string(), 1),
            ("users.load_many".to_string(), 1),
        ])
    );
}

/// Has-many: `include=orders` embeds each user's orders from one statement for the whole
/// page, equal to the seeded rows, and `[]` for a user without any.
#[test]
fn children_are_batch_loaded_in_one_query() {
    let db = TestDb::create();
    let server = start(&db);
    seed_orders(&db);
    db.psql(
        "INSERT INTO users (email, name, password_hash) VALUES ('lonely@example.com', 'Lonely', 'h')",
    );
    let mut expected: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in rows(&db, "SELECT user_id, id FROM orders ORDER BY user_id, id") {
        expected
            .entry(r[0].clone())
            .or_default()
            .push(r[1].parse().unwrap());
    }

    let before = server.metrics();
    let page = items(&server.get("/users?include=orders&fields=id,name&limit=50"));
    let delta = server.metrics().query_delta(&before);
    assert_eq!(page.len(), 11);
    for user in &page {
        let id = user["id"].as_str().unwrap();
        let orders = user["orders"].as_array().expect("orders embedded");
        let got: Vec<i64> = orders.iter().map(|o| o["id"].as_i64().unwrap()).collect();
        assert_eq!(
            got,
            expected.get(id).cloned().unwrap_or_default(),
            "orders of user {id}"
        );
        assert!(orders.iter().all(|o| o["user_id"] == user["id"]));
        assert!(
            user.get("email").is_none(),
            "fields=id,name still applies: {user}"
        );
    }
    assert_eq!(
        delta.values().sum::<u64>(),
        2,
        "users + one for the children: {delta:?}"
    );
    assert_eq!(delta.get("users.include.orders"), Some(&1), "{delta:?}");
    eprintln!("11 users with include=orders: queries {delta:?}");

    // One row with its children, and both kinds of include at once.
    let product = &rows(&db, "SELECT product_id FROM orders LIMIT 1")[0][0];
    let one = server.get(&format!("/products/{product}?include=orders,reviews"));
    assert_eq!(one.status, 200, "{}", one.text());
    assert!(
        one.json()["orders"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
    );
    assert_eq!(one.json()["reviews"], serde_json::json!([]));
    let bad = server.get("/users?include=order");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("valid: orders"), "{}", bad.text());
}

#[test]
fn aggregates_match_the_seeded_reviews_in_one_statement() {
    let db = TestDb::create();
    let server = start(&db);
    db.psql(
        "INSERT INTO products (name, category, price) \
         SELECT 'Product ' || g, 'c', g FROM generate_series(1, 30) g",
    );
    let ids: Vec<i64> = rows(&db, "SELECT id FROM products ORDER BY id")
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    // Product n gets n % 5 reviews with ratings 1 + (7n + 3j) % 5.
    let mut expected: BTreeMap<i64, (u64, Option<f64>)> = BTreeMap::new();
    let mut values = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let ratings: Vec<i64> = (0..n % 5).map(|j| 1 + (7 * n + 3 * j) as i64 % 5).collect();
        for r in &ratings {
            values.push(format!("({id}, {r})"));
        }
        let avg = (!ratings.is_empty())
            .then(|| ratings.iter().sum::<i64>() as f64 / ratings.len() as f64);
        expected.insert(*id, (ratings.len() as u64, avg));
    }
    db.psql(&format!(
        "INSERT INTO reviews (product_id, rating) VALUES {}",
        values.join(", ")
    ));

    let before = server.metrics();
    let page = items(&server.get("/products?sort=id&limit=50"));
    let delta = server.metrics().query_delta(&before);
    let got: BTreeMap<i64, (u64, Option<f64>)> = page
        .iter()
        .map(|p| {
            (
                p["id"].as_i64().unwrap(),
                (
                    p["review_count"].as_u64().expect("review_count"),
                    p["avg_rating"].as_f64(),
                ),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    for (id, (count, avg)) in &expected {
        let (got_count, got_avg) = got[id];
        assert_eq!(got_count, *count, "review_count of {id}");
        match (avg, got_avg) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "avg_rating of {id}: {a} vs {b}"),
            (a, b) => assert_eq!(*a, b, "avg_rating of {id}"),
        }
    }
    eprintln!("30-product page with aggregates: queries {delta:?}");
    assert_eq!(
        delta.values().sum::<u64>(),
        1,
        "the aggregates are computed in the list's own statement: {delta:?}"
    );

    // The cached single-row GET carries the same aggregates.
    let one = server.get(&format!("/products/{}", ids[4])).json();
    assert_eq!(one["review_count"].as_u64(), Some(expected[&ids[4]].0));
}

#[test]
fn rankings_are_the_top_ten_per_category_of_the_seeded_rows() {
    let db = TestDb::create();
    let server = start(&db);
    // 4 categories of uneven size, sales with ties (broken by id).
    db.psql(
        "INSERT INTO products (name, category, price, sales) \
         SELECT 'P' || g, 'cat' || (g % 4), 1, (g * 37) % 23 \
         FROM generate_series(1, 90) g WHERE g % 4 <> 3 OR g < 20",
    );
    let mut by_category: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for r in rows(&db, "SELECT id, category, sales FROM products") {
        by_category
            .entry(r[1].clone())
            .or_default()
            .push((r[2].parse().unwrap(), r[0].parse().unwrap()));
    }
    let mut expected = Vec::new();
    for (category, mut rows) in by_category {
        // -sales, then id
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (rank, (_, id)) in rows.iter().take(10).enumerate() {
            expected.push((category.clone(), rank as i64 + 1, *id));
        }
    }

    let before = server.metrics();
    let ranked: Vec<(String, i64, i64)> = items(&server.get("/products/rankings/top_by_category"))
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().to_string(),
                r["rank"].as_i64().unwrap(),
                r["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranked, expected);
    let delta = server.metrics().query_delta(&before);
    assert_eq!(
        delta.values().sum::<u64>(),
        1,
        "one window-function statement: {delta:?}"
    );
}

#[test]
fn pagination_is_clamped_and_keyset_walks_every_row_once() {
    let db = TestDb::create();
    let server = start(&db);
    db.psql(
        "INSERT INTO products (name, category, price, sales) \
         SELECT 'Product ' || g, 'cat' || (g % 7), (g % 500) + 0.99, (g * 37) % 101 \
         FROM generate_series(1, 450) g",
    );
    let all: Vec<i64> = rows(&db, "SELECT id FROM products ORDER BY id")
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();

    let big = server.get("/products?limit=100000");
    assert_eq!(items(&big).len(), 200, "limit is clamped to max_limit");
    assert!(big.json()["next_cursor"].is_string());
    assert_eq!(items(&server.get("/products")).len(), 50, "default_limit");

    for sort in ["id", "-sales", "price", "-created_at"] {
        let after_shape = format!("products.list.{sort}.after");
        let before = server.metrics();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/products?sort={sort}&limit=37&cursor={c}"),
                None => format!("/products?sort={sort}&limit=37"),
            };
            let res = server.get(&path);
            seen.extend(items(&res).iter().map(|r| r["id"].as_i64().unwrap()));
            pages += 1;
            match res.json()["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(pages < 100, "the walk does not end");
        }
        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "sort={sort}: a row on two pages");
        assert_eq!(
            unique.into_iter().collect::<Vec<_>>(),
            all,
            "sort={sort}: every row once"
        );
        assert_eq!(pages, all.len().div_ceil(37));
        let delta = server.metrics().query_delta(&before);
        assert_eq!(
            delta.get(&after_shape).copied(),
            Some(pages as u64 - 1),
            "pages after the first are keyset queries: {delta:?}"
        );
    }
}
