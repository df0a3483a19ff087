//! End to end: `apiforge new` on examples/shop.yaml, build the project, run it against a
//! fresh PostgreSQL database and drive every route over HTTP, bad input included.
//! (`e2e_examples.rs` runs every example project's own checks and tests.)

mod common;

use common::{Project, Server, TestDb};
use serde_json::{Value, json};

fn id_path(base: &str, row: &Value) -> String {
    let id = &row["id"];
    format!(
        "{base}/{}",
        id.as_str().map_or_else(|| id.to_string(), str::to_string)
    )
}

#[test]
fn shop_serves_every_route_against_postgres() {
    let project = Project::generate("examples/shop.yaml");
    let binary = project.build();
    // The server creates its database when it is missing.
    let db = TestDb::unborn();
    let server = Server::start(&binary, &db.url);

    let health = server.get("/health");
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, json!("ok"))
    );
    let doc = server.get("/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/products/{id}"]["patch"].is_object());

    users(&server);
    let products = products(&server);
    strict_bodies_and_parameters(&server, &products);
    http_caching_and_fields(&server, &products);
    orders_and_reviews(&server, &products);
    server_layers(&server);

    assert!(server.terminate().success(), "SIGTERM is a clean shutdown");

    // MONITORING=off: no metrics, no stats; anything but on/off stops the server.
    let quiet = Server::start_with(&binary, &db.url, &[("MONITORING", "off")]);
    assert_eq!(quiet.get("/metrics").status, 404);
    assert_eq!(quiet.get("/_stats").status, 404);
    assert_eq!(quiet.get("/products").status, 200);
    drop(quiet);
    let refused = std::process::Command::new(&binary)
        .env("DATABASE_URL", &db.url)
        .env("PORT", common::free_port().to_string())
        .env("MONITORING", "sometimes")
        .output()
        .expect("run the server");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("MONITORING must be on or off"),
        "{stderr}"
    );
    drop(db);
}

fn users(server: &Server) {
    let ann = json!({ "email": "ann@example.com", "name": "Ann", "password_hash": "x1" });
    let res = server.post("/users", &ann);
    assert_eq!(res.status, 201, "{}", res.text());
    let user = res.json();
    assert_eq!(
        res.header("location"),
        Some(id_path("/users", &user).as_str())
    );
    assert!(
        user.get("password_hash").is_none(),
        "hidden fields are never serialized: {user}"
    );
    assert!(user["created_at"].is_string());

    let dup = server.post("/users", &ann);
    assert_eq!(dup.status, 409, "{}", dup.text());
    assert!(dup.text().contains("already exists"), "{}", dup.text());
    assert!(
        !dup.text().contains("duplicate key"),
        "no SQL in errors: {}",
        dup.text()
    );

    let readonly = server.post("/users", &json!({ "email": "b@x.io", "name": "B", "password_hash": "x", "created_at": "2024-01-01T00:00:00Z" }));
    assert_eq!(
        (readonly.status, readonly.problem_fields()),
        (400, vec!["created_at".to_string()])
    );
    let unknown = server.post(
        "/users",
        &json!({ "email": "b@x.io", "name": "B", "password_hash": "x", "nickname": "b" }),
    );
    assert_eq!(
        (unknown.status, unknown.problem_fields()),
        (400, vec!["nickname".to_string()])
    );
    let missing = server.post(
        "/users",
        &json!({ "email": "b@x.io", "password_hash": "x" }),
    );
    assert_eq!(
        (missing.status, missing.problem_fields()),
        (400, vec!["name".to_string()])
    );
    let long = server.post(
        "/users",
        &json!({ "email": "e".repeat(321), "name": "B", "password_hash": "x" }),
    );
    assert_eq!(
        (long.status, long.problem_fields()),
        (400, vec!["email".to_string()])
    );
    let not_json = server.request(
        "POST",
        "/users",
        &[("content-type", "application/json")],
        Some(b"{oops"),
    );
    assert_eq!(not_json.status, 400, "{}", not_json.text());
    assert_eq!(
        not_json.header("content-type"),
        Some("application/problem+json")
    );

    assert_eq!(server.get("/users/not-a-uuid").problem_fields(), ["id"]);
    assert_eq!(
        server
            .get("/users/00000000-0000-4000-8000-000000000000")
            .status,
        404
    );
    let fetched = server.get(&id_path("/users", &user));
    assert_eq!((fetched.status, fetched.json()), (200, user.clone()));

    let renamed = server.patch(&id_path("/users", &user), &json!({ "name": "Ann B" }));
    assert_eq!(
        (renamed.status, renamed.json()["name"].clone()),
        (200, json!("Ann B"))
    );
    let null_name = server.patch(&id_path("/users", &user), &json!({ "name": null }));
    assert_eq!(
        (null_name.status, null_name.problem_fields()),
        (400, vec!["name".to_string()])
    );
    let page = server.get("/users").json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_cursor"], Value::Null);
}

/// Creates the catalogue and checks filters, ranges, sorting and both paging styles.
fn products(server: &Server) -> Vec<Value> {
    let mut rows = Vec::new();
    for (name, category, price, sales) in [
        ("Lamp", "home", "12.50", 5),
        ("Desk", "home", "150.00", 2),
        ("Chair", "home", "75.00", 9),
        ("Pen", "office", "1.20", 40),
        ("Ink", "office", "8.00", 12),
        ("Rug", "home", "75.00", 1),
    ] {
        let res = server.post(
            "/products",
            &json!({ "name": name, "category": category, "price": price, "sales": sales }),
        );
        assert_eq!(res.status, 201, "{}", res.text());
        rows.push(res.json());
    }
    assert_eq!(rows[0]["is_static"], false, "defaults apply");

    let names = |path: &str| -> Vec<String> {
        let res = server.get(path);
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        res.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Default sort: -created_at (newest first).
    assert_eq!(
        names("/products"),
        ["Rug", "Ink", "Pen", "Chair", "Desk", "Lamp"]
    );
    assert_eq!(
        names("/products?category=office&sort=price"),
        ["Pen", "Ink"]
    );
    // Conditions combine with AND: a range and a category.
    assert_eq!(
        names("/products?category=home&price_min=10&price_max=100&sort=price"),
        ["Lamp", "Chair", "Rug"]
    );
    assert_eq!(names("/products?price=75&sort=-id"), ["Rug", "Chair"]);
    // Ties on the sort value are broken by the primary key.
    assert_eq!(
        names("/products?sort=-price"),
        ["Desk", "Rug", "Chair", "Lamp", "Ink", "Pen"]
    );
    assert_eq!(
        names("/products?sort=sales&limit=2&offset=1"),
        ["Desk", "Lamp"]
    );
    assert_eq!(
        names("/products?limit=0").len(),
        1,
        "limit is clamped to at least 1"
    );

    // Keyset paging walks every row once, in order, for each sort.
    for sort in ["price", "-price", "created_at", "-sales", "id"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let path = match &cursor {
                Some(c) => format!("/products?sort={sort}&limit=4&cursor={c}"),
                None => format!("/products?sort={sort}&limit=4"),
            };
            let page = server.get(&path);
            assert_eq!(page.status, 200, "{path}: {}", page.text());
            let page = page.json();
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap().to_string()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let all = names(&format!("/products?sort={sort}"));
        assert_eq!(seen, all, "keyset pages of sort={sort}");
    }
    let page = server.get("/products?sort=price&limit=2").json();
    let cursor = page["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    assert_eq!(
        server
            .get(&format!("/products?sort=-price&cursor={cursor}"))
            .problem_fields(),
        ["cursor"]
    );
    assert_eq!(
        server
            .get(&format!("/products?sort=price&cursor={cursor}&offset=1"))
            .problem_fields(),
        ["cursor"]
    );
    assert_eq!(
        server.get("/products?cursor=not-a-cursor").problem_fields(),
        ["cursor"]
    );

    for (query, field) in [
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("sort=name", "sort"),
        ("price_min=cheap", "price_min"),
        ("colour=red", "colour"),
    ] {
        let res = server.get(&format!("/products?{query}"));
        assert_eq!(
            (res.status, res.problem_fields()),
            (400, vec![field.to_string()]),
            "{query}: {}",
            res.text()
        );
    }

    // Rankings: top N per partition, by a window function in a subquery.
    let ranking = server.get("/products/rankings/top_by_category").json();
    let ranked: Vec<(String, i64, String)> = ranking["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().to_string(),
                r["rank"].as_i64().unwrap(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("home", 1, "Chair"),
        ("home", 2, "Lamp"),
        ("home", 3, "Desk"),
        ("home", 4, "Rug"),
        ("office", 1, "Pen"),
        ("office", 2, "Ink"),
    ]
    .map(|(c, r, n)| (c.to_string(), r, n.to_string()));
    assert_eq!(ranked, expected);
    // Aggregates over reviews: none yet.
    assert_eq!(
        (
            rows[0]["review_count"].clone(),
            rows[0]["avg_rating"].clone()
        ),
        (Value::Null, Value::Null),
        "not on create responses"
    );
    let listed = server.get("/products?sort=id&limit=1").json();
    assert_eq!(
        (
            listed["items"][0]["review_count"].clone(),
            listed["items"][0]["avg_rating"].clone()
        ),
        (json!(0), Value::Null)
    );

    let bad_price = server.post(
        "/products",
        &json!({ "name": "X", "category": "c", "price": "-1" }),
    );
    assert_eq!(
        (bad_price.status, bad_price.problem_fields()),
        (400, vec!["price".to_string()])
    );
    let not_a_price = server.post(
        "/products",
        &json!({ "name": "X", "category": "c", "price": "abc" }),
    );
    assert_eq!(
        (not_a_price.status, not_a_price.problem_fields()),
        (400, vec!["price".to_string()])
    );
    let lamp = &rows[0];
    let patched = server.patch(
        &id_path("/products", lamp),
        &json!({ "price": "13.00", "sales": 6 }),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(
        (
            patched.json()["price"].clone(),
            patched.json()["name"].clone()
        ),
        (json!("13.00"), json!("Lamp"))
    );
    assert_eq!(
        server
            .patch("/products/999999", &json!({ "sales": 1 }))
            .status,
        404
    );
    assert_eq!(
        server
            .patch(&id_path("/products", lamp), &json!({ "id": 5 }))
            .problem_fields(),
        ["id"]
    );
    assert_eq!(server.get("/products/abc").problem_fields(), ["id"]);
    rows
}

/// ETag + Cache-Control + 304, the cached get and its invalidation, field selection.
fn http_caching_and_fields(server: &Server, products: &[Value]) {
    let lamp = id_path("/products", &products[0]);
    let first = server.get(&lamp);
    let etag = first.header("etag").expect("an ETag").to_string();
    assert_eq!(first.header("cache-control"), Some("private, max-age=60"));
    let again = server.request("GET", &lamp, &[("if-none-match", &etag)], None);
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    // A write invalidates the cached row: new body, new ETag.
    let patched = server.patch(&lamp, &json!({ "sales": 7 }));
    assert_eq!(patched.status, 200);
    let fresh = server.request("GET", &lamp, &[("if-none-match", &etag)], None);
    assert_eq!(
        (fresh.status, fresh.json()["sales"].clone()),
        (200, json!(7))
    );
    assert_ne!(fresh.header("etag"), Some(etag.as_str()));
    // immutable_when: is_static — such rows never change.
    let res = server.post(
        "/products",
        &json!({ "name": "Manual", "category": "docs", "price": "0", "is_static": true }),
    );
    let manual = res.json();
    let fixed = server.get(&id_path("/products", &manual));
    assert_eq!(
        fixed.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(server.delete(&id_path("/products", &manual)).status, 204);
    let users = server.get("/users");
    assert_eq!(
        users.header("cache-control"),
        Some("no-cache"),
        "no http cache policy: revalidate"
    );
    let list_etag = users
        .header("etag")
        .expect("lists have ETags too")
        .to_string();
    assert_eq!(
        server
            .request("GET", "/users", &[("if-none-match", &list_etag)], None)
            .status,
        304
    );

    // Field selection: only those fields, in declaration order; hidden and unknown refused.
    let only = server.get(&format!("{lamp}?fields=price,name"));
    assert_eq!(only.json(), json!({ "name": "Lamp", "price": "13.00" }));
    let page = server
        .get("/products?fields=name&sort=price&limit=2")
        .json();
    assert_eq!(page["items"], json!([{ "name": "Pen" }, { "name": "Ink" }]));
    let next = page["next_cursor"]
        .as_str()
        .expect("a cursor even without the sort field");
    let page2 = server
        .get(&format!(
            "/products?fields=name&sort=price&limit=2&cursor={next}"
        ))
        .json();
    assert_eq!(
        page2["items"],
        json!([{ "name": "Lamp" }, { "name": "Chair" }])
    );
    let user = &server.get("/users").json()["items"][0];
    let hidden = server.get(&format!(
        "{}?fields=id,password_hash",
        id_path("/users", user)
    ));
    assert_eq!(
        (hidden.status, hidden.problem_fields()),
        (400, vec!["fields".to_string()])
    );
    assert_eq!(
        server.get("/products?fields=colour").problem_fields(),
        ["fields"]
    );
    assert_eq!(
        server
            .get(&format!("{lamp}?include=everything"))
            .problem_fields(),
        ["include"]
    );
}

/// Compression, body limit, export, metrics and statistics.
fn server_layers(server: &Server) {
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("apiforge_db_queries_total{query=\"products.get\"}"),
        "{text}"
    );
    assert!(
        text.contains("http_requests_total{route=\"/products/{id}\""),
        "{text}"
    );
    let stats = server.get("/_stats").json();
    let products = stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/products" && r["method"] == "GET")
        .expect("/products in /_stats")
        .clone();
    assert!(products["count"].as_u64().unwrap() > 0, "{products}");
    assert_eq!(
        products["budget"]["p95_ms"], 200.0,
        "the spec's list budget"
    );
    let listed = server.get("/products?limit=200").json()["items"]
        .as_array()
        .unwrap()
        .len();
    let ndjson = server.get("/products/export");
    assert_eq!(
        (ndjson.status, ndjson.header("content-type")),
        (200, Some("application/x-ndjson"))
    );
    let lines: Vec<Value> = ndjson
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), listed, "one line per row");
    assert!(lines.iter().all(|l| l["name"].is_string()));
    let array = server.get("/products/export?format=json").json();
    assert_eq!(array.as_array().map(Vec::len), Some(listed));
    assert_eq!(
        server.get("/products/export?format=xml").problem_fields(),
        ["format"]
    );
    let gz = server.request(
        "GET",
        "/products/export",
        &[("accept-encoding", "gzip")],
        None,
    );
    assert_eq!(
        gz.header("content-encoding"),
        Some("gzip"),
        "streams are compressed too"
    );

    for coding in ["br", "gzip", "zstd"] {
        let res = server.request("GET", "/openapi.json", &[("accept-encoding", coding)], None);
        assert_eq!(
            (res.status, res.header("content-encoding")),
            (200, Some(coding))
        );
    }
    let plain = server.get("/openapi.json");
    assert_eq!(plain.header("content-encoding"), None);
    let big = json!({ "name": "x".repeat(2 * 1024 * 1024), "category": "c", "price": "1" });
    assert_eq!(
        server.post("/products", &big).status,
        413,
        "body_limit is 1MiB"
    );
}

fn orders_and_reviews(server: &Server, products: &[Value]) {
    let user = server.get("/users").json()["items"][0].clone();
    let desk = &products[1];
    let res = server.post(
        "/orders",
        &json!({ "user_id": user["id"], "product_id": desk["id"], "quantity": 2 }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let order = res.json();
    assert_eq!(order["status"], "pending", "enum default");

    let bad_status = server.post("/orders", &json!({ "user_id": user["id"], "product_id": desk["id"], "quantity": 1, "status": "lost" }));
    assert_eq!(
        (bad_status.status, bad_status.problem_fields()),
        (400, vec!["status".to_string()])
    );
    let zero = server.post(
        "/orders",
        &json!({ "user_id": user["id"], "product_id": desk["id"], "quantity": 0 }),
    );
    assert_eq!(
        (zero.status, zero.problem_fields()),
        (400, vec!["quantity".to_string()])
    );
    let dangling = server.post(
        "/orders",
        &json!({ "user_id": user["id"], "product_id": 999999, "quantity": 1 }),
    );
    assert_eq!(dangling.status, 422, "{}", dangling.text());
    assert!(
        dangling
            .text()
            .contains("does not refer to an existing product"),
        "{}",
        dangling.text()
    );
    // include=<ref>: the referenced rows, embedded (one `= ANY($1)` query per relation).
    let page = server.get("/orders?include=user,product").json();
    let item = &page["items"][0];
    assert_eq!(
        (
            item["user"]["email"].clone(),
            item["product"]["name"].clone()
        ),
        (json!("ann@example.com"), json!("Desk"))
    );
    assert!(
        item["user"].get("password_hash").is_none(),
        "hidden fields stay hidden when embedded"
    );
    let slim = server
        .get(&format!(
            "{}?fields=quantity&include=product",
            id_path("/orders", &order)
        ))
        .json();
    assert_eq!(slim, json!({ "quantity": 2, "product": desk.clone() }));
    assert_eq!(
        server.get("/orders?include=customer").problem_fields(),
        ["include"]
    );
    let shipped = server.patch(&id_path("/orders", &order), &json!({ "status": "shipped" }));
    assert_eq!(
        (shipped.status, shipped.json()["status"].clone()),
        (200, json!("shipped"))
    );

    // ON DELETE RESTRICT: the desk is still ordered.
    let refused = server.delete(&id_path("/products", desk));
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(
        refused.text().contains("still referenced by orders"),
        "{}",
        refused.text()
    );

    let res = server.post(
        "/reviews",
        &json!({ "product_id": desk["id"], "rating": 4, "body": null }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let review = res.json();
    assert_eq!(review["body"], Value::Null);
    let with_body = server.patch(&id_path("/reviews", &review), &json!({ "body": "solid" }));
    assert_eq!(with_body.json()["body"], "solid");
    let untouched = server.patch(&id_path("/reviews", &review), &json!({ "rating": 5 }));
    assert_eq!(
        (
            untouched.json()["body"].clone(),
            untouched.json()["rating"].clone()
        ),
        (json!("solid"), json!(5)),
        "absent fields keep their value"
    );
    let cleared = server.patch(&id_path("/reviews", &review), &json!({ "body": null }));
    assert_eq!(
        cleared.json()["body"],
        Value::Null,
        "null sets a nullable field to NULL"
    );
    let six = server.post(
        "/reviews",
        &json!({ "product_id": desk["id"], "rating": 6 }),
    );
    assert_eq!(
        (six.status, six.problem_fields()),
        (400, vec!["rating".to_string()])
    );

    assert_eq!(server.delete(&id_path("/orders", &order)).status, 204);
    assert_eq!(server.delete(&id_path("/orders", &order)).status, 404);
    assert_eq!(
        server.delete(&id_path("/products", desk)).status,
        204,
        "no order left"
    );
    assert_eq!(
        server.get(&id_path("/reviews", &review)).status,
        404,
        "ON DELETE CASCADE"
    );
    assert_eq!(server.delete(&id_path("/users", &user)).status, 204);
    assert_eq!(server.get(&id_path("/users", &user)).status, 404);
}

/// What schemathesis found lenient (issue #11): each request below was answered as if it
/// were valid, or refused though the OpenAPI document allows it.
fn strict_bodies_and_parameters(server: &Server, products: &[Value]) {
    let post = |body: &str| {
        server.request(
            "POST",
            "/products",
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
    };
    let refused = |res: common::Response, field: &str, words: &str| {
        assert_eq!(res.status, 400, "{}", res.text());
        assert_eq!(res.problem_fields(), [field], "{}", res.text());
        assert!(res.text().contains(words), "{words}: {}", res.text());
    };
    // Trailing bytes after the JSON value.
    let res = post(r#"{"name":"a","category":"c","price":"1.00"} trailing"#);
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(res.text().contains("trailing characters"), "{}", res.text());
    // Decimals: plain notation only, never rounded, strings only.
    refused(
        post(r#"{"name":"a","category":"c","price":"1_000"}"#),
        "price",
        "expected a decimal number",
    );
    refused(
        post(r#"{"name":"a","category":"c","price":"0.001"}"#),
        "price",
        "at most 2 digits after the decimal point",
    );
    refused(
        post(r#"{"name":"a","category":"c","price":"123456789"}"#),
        "price",
        "at most 8 digits before the decimal point",
    );
    refused(
        post(r#"{"name":"a","category":"c","price":12.5}"#),
        "price",
        "a decimal number in a string",
    );
    // `null` for a non-nullable field with a default.
    refused(
        post(r#"{"name":"a","category":"c","price":"1.00","is_static":null}"#),
        "is_static",
        "invalid type: null",
    );
    // Integers in any whole-number notation, as JSON Schema's `integer`.
    let res = post(r#"{"name":"a","category":"c","price":"1.00","sales":128.0}"#);
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.json()["sales"], 128);
    // Gone again: later checks count the products.
    let made = id_path("/products", &res.json());
    assert_eq!(server.delete(&made).status, 204);
    refused(
        post(r#"{"name":"a","category":"c","price":"1.00","sales":128.5}"#),
        "sales",
        "expected a 32-bit integer",
    );
    let one = id_path("/products", &products[0]);
    let res = server.get(&format!("{one}.0"));
    assert_eq!(res.status, 200, "{one}.0: {}", res.text());
    // A body must be an object (serde would take `[]` as an empty PATCH).
    let res = server.request(
        "PATCH",
        &one,
        &[("content-type", "application/json")],
        Some(b"[]"),
    );
    assert_eq!(res.status, 400, "{}", res.text());
    // Parameters that each fit the document but cannot be processed: 422.
    let res = server.get("/products?cursor=not-a-cursor");
    assert_eq!(res.status, 422, "{}", res.text());
    let res = server.get("/products?limit=1&offset=1&cursor=x");
    assert_eq!(res.status, 422, "{}", res.text());
    // `fields=` (an array of at least one name) is refused; `cursor=` is the first page.
    assert_eq!(server.get("/products?fields=").status, 400);
    assert_eq!(server.get("/products?cursor=").status, 200);
    assert_eq!(
        server.get("/products?limit=2.0").json()["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
