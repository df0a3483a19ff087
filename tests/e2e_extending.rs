//! End to end: the three worked examples of docs/extending.md, added to the generated shop
//! by editing only files the user owns (`apiforge.yaml`, `src/resources/*.rs`,
//! `src/hooks.rs`, `src/main.rs`), then a spec change (a field added, another renamed) and
//! `apiforge generate`: the project rebuilds and every behaviour holds, against Postgres.

mod common;

use std::fs;
use std::path::Path;

use common::{Project, Server, TestDb, apiforge, assert_success, workspace};
use serde_json::{Value, json};

/// The example files, as docs/extending.md shows them.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "src/resources/products.rs",
        "examples/extending/src/resources/products.rs",
    ),
    (
        "src/resources/orders.rs",
        "examples/extending/src/resources/orders.rs",
    ),
    ("src/hooks.rs", "examples/extending/src/hooks.rs"),
];

/// The one line docs/extending.md adds to `src/main.rs`.
const MAIN_FROM: &str = "app::router(&config, app::state(pool, redis), hooks::routes());";
const MAIN_TO: &str = "app::router(&config, app::state(pool, redis), hooks::routes())\n        .layer(axum::middleware::from_fn(hooks::caller_from_header));";

#[test]
fn the_docs_show_the_example_files_as_they_are() {
    let doc = fs::read_to_string(workspace().join("docs/extending.md")).unwrap();
    for (_, file) in EXAMPLES {
        let code = fs::read_to_string(workspace().join(file)).unwrap();
        assert!(
            doc.contains(code.trim()),
            "docs/extending.md shows {file} as it is"
        );
    }
    assert!(
        doc.contains(MAIN_TO.trim()),
        "docs/extending.md shows the main.rs edit"
    );
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} holds {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn as_user(user: &str) -> [(&str, &str); 2] {
    [("content-type", "application/json"), ("x-user-id", user)]
}

#[test]
fn hooks_scope_and_custom_endpoints_survive_a_spec_change() {
    // Its own crate name: the e2e target folder is shared, and another `shop` binary there
    // would be replaced by this one (other tests build the unchanged shop).
    let spec_dir = tempfile::tempdir().unwrap();
    let spec = spec_dir.path().join("shop.yaml");
    let text = fs::read_to_string(workspace().join("examples/shop.yaml")).unwrap();
    assert!(text.starts_with("name: shop "));
    fs::write(
        &spec,
        text.replacen("name: shop ", "name: shop_extending ", 1),
    )
    .unwrap();
    let project = Project::generate(spec.to_str().unwrap());
    let dir = &project.dir;
    let generated_hooks = fs::read_to_string(dir.join("src/resources/orders.rs")).unwrap();

    // The release before the change, with the shared Redis tier: a product is cached there.
    let db = TestDb::create();
    let namespace = format!("extending_{}", common::unique_suffix());
    let redis = [
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let old_binary = project.build();
    let old = Server::start_with(&old_binary, &db.url, &redis);
    let before = old.post(
        "/products",
        &json!({ "name": "Old Lamp", "category": "home", "price": "5.00" }),
    );
    assert_eq!(before.status, 201, "{}", before.text());
    let old_path = format!("/products/{}", before.json()["id"]);
    let old_etag = old.get(&old_path).header("etag").unwrap().to_string();
    assert!(old.terminate().success());

    // The spec changes: products gain a `slug`, users' `name` becomes `full_name`.
    edit(
        dir,
        "apiforge.yaml",
        "      name: { type: string, max_length: 200 }\n",
        "      name: { type: string, max_length: 200 }\n      slug: { type: string, max_length: 220, nullable: true }\n",
    );
    edit(
        dir,
        "apiforge.yaml",
        "      name: { type: string }\n      password_hash",
        "      full_name: { type: string, renamed_from: name }\n      password_hash",
    );
    // The owned files get the three behaviours.
    for (to, from) in EXAMPLES {
        fs::copy(workspace().join(from), dir.join(to)).unwrap();
    }
    edit(dir, "src/main.rs", MAIN_FROM, MAIN_TO);
    let out = apiforge(dir, &["generate"]);
    assert_success("apiforge generate", &out);
    // Hooks are never touched by generate.
    let orders_hooks = fs::read_to_string(dir.join("src/resources/orders.rs")).unwrap();
    assert_ne!(orders_hooks, generated_hooks);
    assert!(orders_hooks.contains("touch_row::<Product>"));

    let binary = project.build();
    let server = Server::start_with(&binary, &db.url, &redis);

    // Redis still holds the old build's JSON of that product: it is never served (the new
    // shape has `slug` and `display_price`), and its ETag does not revalidate.
    let after = server.request("GET", &old_path, &[("if-none-match", &old_etag)], None);
    assert_eq!(after.status, 200, "{}", after.text());
    let after = after.json();
    assert_eq!(
        (after["slug"].clone(), after["display_price"].clone()),
        (Value::Null, json!("€5.00")),
        "{after}"
    );

    // 1. A derived field (before_create) and a computed member.
    let lamp = server.post(
        "/products",
        &json!({ "name": "Desk Lamp (blue)", "category": "home", "price": "19.90" }),
    );
    assert_eq!(lamp.status, 201, "{}", lamp.text());
    let lamp = lamp.json();
    assert_eq!(lamp["slug"], "desk-lamp-blue");
    assert_eq!(lamp["display_price"], "€19.90");
    let lamp_path = format!("/products/{}", lamp["id"]);
    let got = server.get(&lamp_path).json();
    assert_eq!(
        (got["slug"].clone(), got["display_price"].clone()),
        (json!("desk-lamp-blue"), json!("€19.90"))
    );
    let listed = server.get("/products?category=home").json();
    assert_eq!(listed["items"][0]["display_price"], "€19.90");
    // Computed members come with full rows only.
    let narrow = server.get(&format!("{lamp_path}?fields=name")).json();
    assert_eq!(narrow, json!({ "name": "Desk Lamp (blue)" }));

    // The renamed field.
    let ann = server.post(
        "/users",
        &json!({ "email": "ann@example.com", "full_name": "Ann", "password_hash": "x" }),
    );
    assert_eq!(ann.status, 201, "{}", ann.text());
    let ann = ann.json()["id"].as_str().unwrap().to_string();
    let bob = server.post(
        "/users",
        &json!({ "email": "bob@example.com", "full_name": "Bob", "password_hash": "x" }),
    );
    let bob = bob.json()["id"].as_str().unwrap().to_string();

    // 2. Owner-only edits through a scope; the order's hook updates sales in its transaction.
    let order = server.post(
        "/orders",
        &json!({ "user_id": ann, "product_id": lamp["id"], "quantity": 2 }),
    );
    assert_eq!(order.status, 201, "{}", order.text());
    let order_path = format!("/orders/{}", order.json()["id"]);
    // The product row was cached above; the hook's write invalidated it.
    assert_eq!(server.get(&lamp_path).json()["sales"], 2);
    let body = br#"{"quantity": 3}"#;
    let by_bob = server.request("PATCH", &order_path, &as_user(&bob), Some(body));
    assert_eq!(
        by_bob.status,
        404,
        "another's order does not exist: {}",
        by_bob.text()
    );
    let anonymous = server.request("PATCH", &order_path, &as_user("")[..1], Some(body));
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let by_ann = server.request("PATCH", &order_path, &as_user(&ann), Some(body));
    assert_eq!(
        (by_ann.status, by_ann.json()["quantity"].clone()),
        (200, json!(3))
    );
    assert_eq!(
        server
            .request("DELETE", &order_path, &as_user(&bob), None)
            .status,
        404
    );
    // Reads are not scoped: everyone sees the order.
    assert_eq!(server.get(&order_path).status, 200);

    // A hook refusing the write rolls back the hook's own statement and the insert.
    let too_many = server.post(
        "/orders",
        &json!({ "user_id": bob, "product_id": lamp["id"], "quantity": 999 }),
    );
    assert_eq!(too_many.status, 409, "{}", too_many.text());
    assert_eq!(server.get(&lamp_path).json()["sales"], 2);
    assert_eq!(
        server.get("/orders").json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // 3. A custom endpoint through the caches and a Loader.
    let report_path = format!("/reports/users/{ann}/spend");
    let report = server.get(&report_path);
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(
        report.json(),
        json!({ "user_id": ann, "orders": 1, "total": "59.70" })
    );
    let etag = report.header("etag").unwrap().to_string();
    let again = server.request("GET", &report_path, &[("if-none-match", &etag)], None);
    assert_eq!(again.status, 304);
    // A write to products makes the next report read the new price.
    let patched = server.patch(&lamp_path, &json!({ "price": "10.00" }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(server.get(&report_path).json()["total"], "30.00");
    let by_ann = server.request("DELETE", &order_path, &as_user(&ann), None);
    assert_eq!(by_ann.status, 204);
    assert_eq!(server.get(&report_path).json()["orders"], 0);

    let nobody: Value = server.get("/reports/users/not-a-uuid/spend").json();
    assert_eq!(nobody["status"], 400);

    // 4. A write none of whose hooks are overridden runs its statement alone, without
    // `BEGIN` and `COMMIT`, once the operation's first write has shown it: the server's
    // connection then last ran the `UPDATE` itself. An operation with a hook of its own
    // (orders' `after_create`) keeps its transaction: its connection last ran `COMMIT`.
    let idle_after = |statement: &str| {
        db.psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state = 'idle' AND query ILIKE '{statement}%'"
        ))
        .trim()
        .parse::<u32>()
        .unwrap()
    };
    for name in ["Ann A.", "Ann B."] {
        let patched = server.patch(&format!("/users/{ann}"), &json!({ "full_name": name }));
        assert_eq!(patched.status, 200, "{}", patched.text());
    }
    assert_eq!(
        idle_after("UPDATE \"users\""),
        1,
        "the second update of a resource with default hooks ran without a transaction"
    );
    assert_eq!(
        server.get(&format!("/users/{ann}")).json()["full_name"],
        "Ann B."
    );
    for _ in 0..2 {
        let order = server.post(
            "/orders",
            &json!({ "user_id": ann, "product_id": lamp["id"], "quantity": 1 }),
        );
        assert_eq!(order.status, 201, "{}", order.text());
    }
    assert_eq!(
        idle_after("INSERT INTO \"orders\""),
        0,
        "a create with an after_create hook runs in a transaction"
    );
    assert!(idle_after("COMMIT") >= 1);
    drop(server);
    drop(db);
}
