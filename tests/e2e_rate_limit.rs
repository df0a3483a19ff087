//! End to end: rate limits (issue 13). The secured shop (tests/secure/secure_shop.yaml) with
//! `server.rate_limit: { per_client: 10/m, burst: 6 }` (a token every 6 s, so the counts
//! below do not refill while a test runs), `trusted_proxies: [127.0.0.1/32]`, and
//! `orders.rate_limit: { create: 2/m }`.
//!
//! Shared limits run two instances on a private Redis (never the shared one), which the
//! test then kills: each instance must go on limiting alone.

mod common;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::perf::{shared_binary, spec_variant};
use common::{PrivateRedis, Response, Server, TestDb, free_port};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

const SECRET: &str = "a-test-secret-of-more-than-32-bytes-0123456789";

fn binary() -> PathBuf {
    shared_binary(&spec_variant(
        "tests/secure/secure_shop.yaml",
        &[
            ("name: secure_shop", "name: limited_shop"),
            (
                "server:\n  cors: { origins: [https://app.example.com], max_age: 1h }\n",
                "cache:\n  redis: { url_env: REDIS_URL }\nserver:\n  cors: { origins: [https://app.example.com], max_age: 1h }\n  rate_limit: { per_client: 10/m, burst: 6 }\n  trusted_proxies: [127.0.0.1/32]\n",
            ),
            (
                "    access: { owner: user_id, default: authenticated }",
                "    access: { owner: user_id, default: authenticated }\n    rate_limit: { create: 2/m }",
            ),
        ],
    ))
}

fn start(db: &TestDb, redis: Option<u16>) -> Server {
    let redis = redis.map_or(String::new(), |port| format!("redis://127.0.0.1:{port}"));
    Server::start_with(
        &binary(),
        &db.url,
        &[
            ("JWT_SECRET", SECRET),
            (
                "API_KEYS",
                "ci:0000000000000000000000000000000000000000000000000000000000000000",
            ),
            ("REDIS_URL", &redis),
        ],
    )
}

/// A token for `subject`, unique to this run (the limits are per subject).
fn token(subject: &str, roles: &[&str]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "sub": subject,
        "roles": roles,
        "iss": "https://auth.example.com",
        "aud": "shop-api",
        "exp": now + 600,
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("a key"),
    )
    .expect("a token")
}

fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    server.request("GET", path, headers, None)
}

/// A JSON `POST` with `Authorization: <bearer>`.
fn post(server: &Server, path: &str, bearer: &str, body: &Value) -> Response {
    server.request(
        "POST",
        path,
        &[
            ("authorization", bearer),
            ("content-type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_429(res: &Response, limit: &str) {
    assert_eq!(res.status, 429, "{}", res.text());
    assert_eq!(
        res.header("content-type"),
        Some("application/problem+json"),
        "{}",
        res.text()
    );
    let retry: u64 = res
        .header("retry-after")
        .expect("a Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    assert!(
        res.json()["detail"].as_str().unwrap().contains(limit),
        "{}",
        res.text()
    );
    // A member of `limit` in each field.
    for (field, member) in [("ratelimit", "r=0;t="), ("ratelimit-policy", "q=")] {
        assert!(
            res.header_all(field)
                .iter()
                .any(|v| v.starts_with(&format!("\"{limit}\";{member}"))),
            "{field}: {:?}",
            res.headers
        );
    }
}

#[test]
fn limits_per_client_and_operation_with_the_draft_headers() {
    let db = TestDb::create();
    let server = start(&db, None);
    let alice = bearer(&token("alice", &[]));
    let auth = [("authorization", alice.as_str())];

    // A burst of 6, then 429, each answer saying what is left; the (static) policy comes
    // with the first answer, whose bucket was full, and with the 429.
    for left in (0..6).rev() {
        let res = get(&server, "/products", &auth);
        assert_eq!(res.status, 200, "{}", res.text());
        let policy: &[&str] = if left == 5 {
            &["\"client\";q=6;w=36"]
        } else {
            &[]
        };
        assert_eq!(
            res.header_all("ratelimit-policy"),
            policy,
            "{:?}",
            res.headers
        );
        let state = res.header_all("ratelimit");
        assert_eq!(state.len(), 1, "{state:?}");
        assert!(
            state[0].starts_with(&format!("\"client\";r={left};t=")),
            "{state:?}"
        );
    }
    assert_429(&get(&server, "/products", &auth), "client");
    // Refused everywhere for this caller, whatever the route.
    assert_429(&get(&server, "/products/1", &auth), "client");

    // Another caller has a bucket of its own; probes and monitoring are never limited.
    let bob = bearer(&token("bob", &[]));
    assert_eq!(
        get(&server, "/products", &[("authorization", bob.as_str())]).status,
        200
    );
    for _ in 0..10 {
        assert_eq!(server.get("/health").status, 200);
        assert_eq!(server.get("/health/live").status, 200);
    }

    // Anonymous callers count by address: from 127.0.0.1 (a trusted proxy), the address
    // X-Forwarded-For names.
    for _ in 0..6 {
        assert_eq!(
            get(&server, "/products", &[("x-forwarded-for", "203.0.113.7")]).status,
            200
        );
    }
    assert_429(
        &get(&server, "/products", &[("x-forwarded-for", "203.0.113.7")]),
        "client",
    );
    assert_eq!(
        get(
            &server,
            "/products",
            &[("x-forwarded-for", "203.0.113.7, 198.51.100.2")]
        )
        .status,
        200,
        "the proxy's client is the right-most address"
    );

    // An operation's own limit, on top of the client's: `orders.create` is 2 a minute.
    let admin = bearer(&token("root", &["admin"]));
    let product = post(
        &server,
        "/products",
        &admin,
        &json!({"name": "hammer", "price": "9.50"}),
    );
    assert_eq!(product.status, 201, "{}", product.text());
    let product_id = product.json()["id"].clone();
    let user = post(
        &server,
        "/users",
        &admin,
        &json!({"email": "carol@example.com", "name": "Carol"}),
    );
    assert_eq!(user.status, 201, "{}", user.text());
    let carol = bearer(&token(user.json()["id"].as_str().unwrap(), &[]));
    let order = |n: i64| -> Response {
        post(
            &server,
            "/orders",
            &carol,
            &json!({"product_id": product_id, "quantity": n}),
        )
    };
    for n in 1..=2 {
        let res = order(n);
        assert_eq!(res.status, 201, "{}", res.text());
        // Both limits, in no particular order (the draft gives members none); their
        // policies with the first answer only (both buckets were full).
        let mut policies = res.header_all("ratelimit-policy");
        policies.sort_unstable();
        let expected: &[&str] = if n == 1 {
            &["\"client\";q=6;w=36", "\"orders.create\";q=2;w=60"]
        } else {
            &[]
        };
        assert_eq!(policies, expected, "{:?}", res.headers);
        let mut states = res.header_all("ratelimit");
        states.sort_unstable();
        assert_eq!(states.len(), 2, "{states:?}");
        assert!(states[0].starts_with("\"client\";r="), "{states:?}");
        assert!(
            states[1].starts_with(&format!("\"orders.create\";r={};", 2 - n)),
            "{states:?}"
        );
    }
    let refused = order(3);
    assert_429(&refused, "orders.create");
    assert_eq!(db.psql("SELECT count(*) FROM orders").trim(), "2");
    // The caller's other operations are still let through (their client bucket has room).
    assert_eq!(
        get(&server, "/orders", &[("authorization", carol.as_str())]).status,
        200
    );

    // The document says which routes can answer 429.
    let doc = server.get("/openapi.json").json();
    let paths = &doc["paths"];
    assert!(paths["/orders"]["post"]["responses"]["429"]["headers"]["RateLimit"].is_object());
    assert!(paths["/products/{id}"]["get"]["responses"]["429"].is_object());
    assert!(paths["/health"]["get"]["responses"]["429"].is_null());
}

#[test]
fn limits_are_shared_through_redis_and_hold_without_it() {
    let db = TestDb::create();
    let mut redis = PrivateRedis::start_on(free_port());
    let one = start(&db, Some(redis.port));
    let two = start(&db, Some(redis.port));
    let dave = bearer(&token("dave", &[]));
    let auth = [("authorization", dave.as_str())];

    // Three on each instance: each has 3 left locally, but the fleet used its 6.
    for server in [&one, &two] {
        for _ in 0..3 {
            let res = get(server, "/products", &auth);
            assert_eq!(res.status, 200, "{}", res.text());
        }
    }
    // Both instances refuse from their next settlement (every 100 ms) on: an instance that
    // settled before the fleet passed the limit lets one more through, then learns it. Each
    // would let 3 more through if the limit were not shared.
    std::thread::sleep(Duration::from_millis(400));
    for server in [&one, &two] {
        let first = get(server, "/products", &auth);
        if first.status == 200 {
            std::thread::sleep(Duration::from_millis(400));
            assert_429(&get(server, "/products", &auth), "client");
        } else {
            assert_429(&first, "client");
        }
    }

    // Redis gone: each instance limits on its own (6, then 429), and serves meanwhile.
    redis.kill();
    let erin = bearer(&token("erin", &[]));
    let auth = [("authorization", erin.as_str())];
    for _ in 0..6 {
        let res = get(&one, "/products", &auth);
        assert_eq!(res.status, 200, "{}", res.text());
    }
    assert_429(&get(&one, "/products", &auth), "client");
    assert_eq!(get(&two, "/products", &auth).status, 200);
    let body: Value = get(&two, "/products", &auth).json();
    assert!(body["items"].is_array(), "{body}");
}
