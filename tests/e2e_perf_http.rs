//! Performance e2e, HTTP layer of the generated shop: ETag / Cache-Control / 304
//! (item 2), field selection (item 3) and negotiated compression (item 6).

mod common;

use std::collections::BTreeSet;
use std::io::Read;

use common::perf::shared_binary;
use common::{Response, Server, TestDb};
use serde_json::{Value, json};

const SHOP: &str = "examples/shop.yaml";

fn start(db: &TestDb) -> Server {
    Server::start_with(&shared_binary(SHOP), &db.url, &[("REDIS_URL", "")])
}

fn create_product(server: &Server, name: &str, is_static: bool) -> String {
    let res = server.post(
        "/products",
        &json!({ "name": name, "category": "home", "price": "9.50", "is_static": is_static }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    format!("/products/{}", res.json()["id"])
}

/// 250 products from one statement.
fn seed_products(db: &TestDb) {
    db.psql(
        "INSERT INTO products (name, category, price, sales) \
         SELECT 'Product ' || g, 'cat' || (g % 7), (g % 500) + 0.99, (g * 37) % 101 \
         FROM generate_series(1, 250) g",
    );
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn get_has_strong_etag_cache_control_vary_and_304() {
    let db = TestDb::create();
    let server = start(&db);
    let lamp = create_product(&server, "Lamp", false);

    let first = server.get(&lamp);
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("an ETag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong ETag (not W/): {etag}"
    );
    assert_eq!(first.header("cache-control"), Some("private, max-age=60"));
    assert!(
        first
            .header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
        "Vary: Accept-Encoding, got {:?}",
        first.header("vary")
    );

    let cached = server.request("GET", &lamp, &[("if-none-match", &etag)], None);
    assert_eq!(cached.status, 304);
    assert!(
        cached.body.is_empty(),
        "a 304 has no body: {}",
        cached.text()
    );
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    // Weak comparison: the W/ form and a list match too.
    let listed = format!("\"nope\", W/{etag}");
    let weak = server.request("GET", &lamp, &[("if-none-match", &listed)], None);
    assert_eq!(weak.status, 304);
    let other = server.request("GET", &lamp, &[("if-none-match", "\"nope\"")], None);
    assert_eq!(other.status, 200);

    let patched = server.patch(&lamp, &json!({ "name": "Desk lamp" }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    let fresh = server.request("GET", &lamp, &[("if-none-match", &etag)], None);
    assert_eq!(
        (fresh.status, fresh.json()["name"].clone()),
        (200, json!("Desk lamp")),
        "the old ETag no longer matches after a PATCH"
    );
    let new_etag = fresh.header("etag").expect("an ETag");
    assert_ne!(new_etag, etag);
    assert_eq!(
        server
            .request("GET", &lamp, &[("if-none-match", new_etag)], None)
            .status,
        304
    );

    // Lists carry ETags too.
    let page = server.get("/products");
    let page_etag = page.header("etag").expect("a list ETag").to_string();
    let again = server.request("GET", "/products", &[("if-none-match", &page_etag)], None);
    assert_eq!((again.status, again.body.len()), (304, 0));
}

#[test]
fn static_rows_are_public_immutable() {
    let db = TestDb::create();
    let server = start(&db);
    let logo = create_product(&server, "Logo", true);
    let res = server.get(&logo);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=31536000, immutable"),
        "immutable_when: is_static"
    );
    let plain = create_product(&server, "Mug", false);
    assert_eq!(
        server.get(&plain).header("cache-control"),
        Some("private, max-age=60")
    );
}

#[test]
fn field_selection_on_list_get_and_export() {
    let db = TestDb::create();
    let server = start(&db);
    seed_products(&db);
    let wanted = set(&["id", "name"]);

    let page = server.get("/products?fields=id,name&limit=20");
    assert_eq!(page.status, 200, "{}", page.text());
    let items = page.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 20);
    assert!(items.iter().all(|i| keys(i) == wanted), "{items:?}");

    let one = server.get(&format!("/products/{}?fields=id,name", items[0]["id"]));
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(keys(&one.json()), wanted);

    let export = server.get("/products/export?fields=id,name");
    assert_eq!(export.status, 200, "{}", export.text());
    let lines: Vec<Value> = export
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 250);
    assert!(
        lines.iter().all(|l| keys(l) == wanted),
        "export honours fields: {}",
        lines[0]
    );
    assert_names_field(
        &server.get("/users/export?fields=password_hash"),
        "password_hash",
    );
    assert_names_field(&server.get("/products/export?fields=colour"), "colour");
}

fn assert_names_field(res: &Response, field: &str) {
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert!(
        res.text().contains(field),
        "the problem names {field}: {}",
        res.text()
    );
}

#[test]
fn hidden_fields_never_leave_and_unknown_fields_are_refused() {
    let db = TestDb::create();
    let server = start(&db);
    let created = server.post(
        "/users",
        &json!({ "email": "ann@example.com", "name": "Ann", "password_hash": "s3cret-hash" }),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let user = created.json();
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    let product = create_product(&server, "Desk", false);
    let product_id = product.rsplit('/').next().unwrap().parse::<i64>().unwrap();
    let order = server.post(
        "/orders",
        &json!({ "user_id": user["id"], "product_id": product_id, "quantity": 1 }),
    );
    assert_eq!(order.status, 201, "{}", order.text());
    let patched = server.patch(&path, &json!({ "name": "Ann B" }));

    for res in [
        created,
        patched,
        server.get(&path),
        server.get("/users"),
        server.get("/users/export"),
        server.get("/users/export?format=json"),
        server.get("/orders?include=user"),
        server.get(&format!("/orders/{}?include=user", order.json()["id"])),
    ] {
        assert!(res.status < 300, "{}", res.text());
        assert!(
            !res.text().contains("password_hash") && !res.text().contains("s3cret-hash"),
            "the hidden field leaked: {}",
            res.text()
        );
    }
    assert_names_field(
        &server.get(&format!("{path}?fields=password_hash")),
        "password_hash",
    );
    assert_names_field(
        &server.get("/users?fields=id,password_hash"),
        "password_hash",
    );
    assert_names_field(&server.get("/products?fields=id,colour"), "colour");
    assert_names_field(&server.get(&format!("{product}?fields=colour")), "colour");
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut out)
            .map(|_| ()),
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .map(|_| ()),
        "zstd" => zstd::decode_all(body).map(|d| out = d),
        other => panic!("no decoder for {other}"),
    }
    .unwrap_or_else(|e| panic!("{coding} body does not decode: {e}"));
    out
}

#[test]
fn large_responses_are_really_compressed_small_ones_are_not() {
    let db = TestDb::create();
    let server = start(&db);
    seed_products(&db);
    let path = "/products?limit=200&sort=id";
    let identity = server.request("GET", path, &[("accept-encoding", "identity")], None);
    assert_eq!(identity.status, 200);
    assert_eq!(identity.header("content-encoding"), None);
    let plain: Value = identity.json();
    assert_eq!(plain["items"].as_array().map(Vec::len), Some(200));

    let mut sizes = vec![format!("identity {}", identity.body.len())];
    for coding in ["br", "gzip", "zstd"] {
        let res = server.request("GET", path, &[("accept-encoding", coding)], None);
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-encoding"), Some(coding));
        assert!(
            res.body.len() < identity.body.len() / 3,
            "{coding}: {} bytes",
            res.body.len()
        );
        let decoded = decode(coding, &res.body);
        assert_eq!(
            serde_json::from_slice::<Value>(&decoded).expect("decoded JSON"),
            plain,
            "{coding} decodes to the identity response"
        );
        sizes.push(format!("{coding} {}", res.body.len()));
    }
    // Preference order of the client is honoured among the offered codings.
    let preferred = server.request(
        "GET",
        path,
        &[("accept-encoding", "gzip;q=0.5, zstd;q=1")],
        None,
    );
    assert_eq!(preferred.header("content-encoding"), Some("zstd"));
    eprintln!("200-row list page, bytes: {}", sizes.join(", "));

    // Below the minimum size: not compressed.
    let tiny = server.request(
        "GET",
        "/products?fields=id&limit=1",
        &[("accept-encoding", "br, gzip, zstd")],
        None,
    );
    assert_eq!(tiny.status, 200);
    assert!(tiny.body.len() < 1024, "{}", tiny.body.len());
    assert_eq!(
        tiny.header("content-encoding"),
        None,
        "tiny bodies stay identity"
    );
}

/// A login role that is dropped (after the databases it was granted on) at the end.
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            common::psql(&format!("DROP ROLE IF EXISTS \"{}\"", self.0))
        });
    }
}

/// `fields=` narrows the SQL, not just the JSON: served by a role that may read only some
/// columns of `products` (column privileges), a selection of those columns answers 200 on
/// list, get and export, while a full-row request is refused by Postgres. A server that
/// selected every column and filtered the JSON would fail the first three.
#[test]
fn field_selection_reads_only_the_selected_columns() {
    let role = Role(format!("apiforge_cols_{}", common::unique_suffix()));
    let db = TestDb::create();
    drop(start(&db)); // migrates the schema as the owner
    seed_products(&db);
    // The filter columns (`category`, `price`) appear in every list statement's WHERE, and
    // `sales` is the sort used below; `is_static` and `created_at` stay unreadable.
    common::psql(&format!("CREATE ROLE \"{}\" LOGIN", role.0));
    db.psql(&format!(
        "GRANT USAGE, CREATE ON SCHEMA public TO \"{r}\"; \
         GRANT SELECT ON _sqlx_migrations TO \"{r}\"; \
         GRANT SELECT (id, name, category, price, sales) ON products TO \"{r}\"",
        r = role.0
    ));
    let url = db.url.replacen("postgres@", &format!("{}@", role.0), 1);
    assert_ne!(url, db.url, "the test server URL names the postgres user");
    let server = Server::start_with(&shared_binary(SHOP), &url, &[("REDIS_URL", "")]);
    let wanted = set(&["id", "name"]);

    let page = server.get("/products?fields=id,name&sort=sales&limit=5");
    assert_eq!(page.status, 200, "{}", page.text());
    let items = page.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|i| keys(i) == wanted), "{items:?}");
    // Keyset paging by `sales` too (the cursor's columns are selected, then not returned).
    let cursor = page.json()["next_cursor"].as_str().unwrap().to_string();
    let next = server.get(&format!(
        "/products?fields=id,name&sort=sales&limit=5&cursor={cursor}"
    ));
    assert_eq!(next.status, 200, "{}", next.text());

    let one = server.get(&format!("/products/{}?fields=name", items[0]["id"]));
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(keys(&one.json()), set(&["name"]));

    let export = server.get("/products/export?fields=id,name");
    assert_eq!(export.status, 200, "{}", export.text());
    assert_eq!(export.text().lines().count(), 250);

    for full in [
        "/products?sort=sales",
        &format!("/products/{}", items[0]["id"]),
    ] {
        let res = server.get(full);
        assert_ne!(
            res.status,
            200,
            "{full} reads columns this role may not: {}",
            res.text()
        );
    }
}
