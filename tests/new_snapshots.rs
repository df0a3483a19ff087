//! Every file `apiforge new` writes for examples/shop.yaml, as insta snapshots (the
//! absolute path of the runtime is redacted). Review changes with `cargo insta review`.

use std::path::Path;

use apiforge::model::Model;
use apiforge::render::{OutFile, Owner, RenderOptions, RuntimeDep, render_project};

fn render(spec_file: &str) -> Vec<OutFile> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(spec_file);
    let loaded =
        apiforge::spec::load(&path).unwrap_or_else(|r| panic!("{spec_file} is valid: {r}"));
    let model = Model::from_spec(&loaded.spec);
    let opts = RenderOptions {
        spec_text: std::fs::read_to_string(&path).unwrap(),
        runtime: RuntimeDep::this_checkout(),
    };
    render_project(&model, &opts).expect("renders")
}

#[test]
fn shop_project_files() {
    let runtime = RuntimeDep::this_checkout();
    let RuntimeDep::Path(runtime_path) = runtime else {
        unreachable!()
    };
    let runtime_path = runtime_path.to_string_lossy().into_owned();
    let files = render("examples/shop.yaml");
    let listing: Vec<String> = files
        .iter()
        .map(|f| format!("{:?} {}", f.owner, f.path))
        .collect();
    insta::assert_snapshot!("shop__files", listing.join("\n"));
    for f in &files {
        if f.path == "apiforge.yaml" {
            continue; // a copy of the spec
        }
        let name = format!("shop__{}", f.path.replace(['/', '.'], "_"));
        insta::assert_snapshot!(name, f.contents.replace(&runtime_path, "[RUNTIME]"));
    }
}

/// The files of the secured shop that differ in kind from the shop's: authentication, CORS,
/// rate limits, and the monitoring routes on a listener of their own (`monitoring.port`).
#[test]
fn secure_shop_files() {
    let files = render("tests/secure/secure_shop.yaml");
    for path in [
        "src/generated/app.rs",
        "src/main.rs",
        "src/generated/openapi.json",
        "README.md",
    ] {
        let f = files.iter().find(|f| f.path == path).expect(path);
        let name = format!("secure_shop__{}", path.replace(['/', '.'], "_"));
        insta::assert_snapshot!(name, f.contents);
    }
}

#[test]
fn generated_files_carry_the_marker_and_user_files_do_not() {
    for f in render("examples/shop.yaml") {
        let marked = f.contents.contains(apiforge::render::GENERATED_MARKER);
        match f.owner {
            Owner::Generated if f.path.ends_with(".json") => {}
            Owner::Generated => assert!(marked, "{} lacks the @generated header", f.path),
            Owner::User => assert!(!marked, "{} is the user's but says @generated", f.path),
        }
    }
}

#[test]
fn openapi_document_covers_every_route() {
    let files = render("examples/shop.yaml");
    let doc = files
        .iter()
        .find(|f| f.path == "src/generated/openapi.json")
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc.contents).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, methods) in [
        ("/health", &["get"][..]),
        ("/health/live", &["get"]),
        ("/health/ready", &["get"]),
        ("/openapi.json", &["get"]),
        ("/products", &["get", "post"]),
        ("/products/{id}", &["get", "patch", "delete"]),
        ("/products/export", &["get"]),
        ("/metrics", &["get"]),
        ("/_stats", &["get"]),
        ("/users/{id}", &["get", "patch", "delete"]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} missing");
        }
    }
    let params: Vec<&str> = doc["paths"]["/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "category",
            "price",
            "price_min",
            "price_max",
            "sort",
            "limit",
            "offset",
            "cursor",
            "fields",
            "include",
            "If-None-Match"
        ]
    );
    let include = &doc["paths"]["/products"]["get"]["parameters"][9]["schema"];
    assert_eq!(
        include["items"]["enum"],
        serde_json::json!(["orders", "reviews"]),
        "products embed their children: {include}"
    );
    let export: Vec<&str> = doc["paths"]["/products/export"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(export, ["format", "fields"]);
    let user = &doc["components"]["schemas"]["User"]["properties"];
    assert!(
        user["password_hash"].is_null(),
        "hidden fields are not in the row schema"
    );
    assert_eq!(
        doc["components"]["schemas"]["CreateUser"]["properties"]["password_hash"]["writeOnly"],
        true
    );
    assert_eq!(
        doc["components"]["schemas"]["Review"]["properties"]["body"]["type"],
        serde_json::json!(["string", "null"])
    );
}

/// What schemathesis found (issue #11): statuses the server answers but the document did
/// not list, parameters and values the document allowed but the server refused, responses
/// the document's schemas did not describe. tests/e2e_schemathesis.rs runs the fuzzer.
#[test]
fn openapi_document_is_exact() {
    use serde_json::json;
    let files = render("examples/shop.yaml");
    let doc = files
        .iter()
        .find(|f| f.path == "src/generated/openapi.json")
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc.contents).unwrap();
    let statuses = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"))
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    // Every status each route can answer; errors are problem+json.
    assert_eq!(
        statuses("/products", "post"),
        [
            "201", "400", "408", "409", "413", "415", "422", "500", "503"
        ]
    );
    assert_eq!(
        statuses("/products/{id}", "patch"),
        [
            "200", "400", "404", "408", "409", "413", "415", "422", "500", "503"
        ]
    );
    assert_eq!(
        statuses("/products", "get"),
        ["200", "304", "400", "408", "422", "500", "503"]
    );
    assert_eq!(
        statuses("/products/{id}", "delete"),
        ["204", "400", "404", "408", "409", "500", "503"]
    );
    let unavailable = &doc["paths"]["/products/{id}"]["get"]["responses"]["503"];
    assert!(unavailable["headers"]["Retry-After"].is_object());
    assert!(unavailable["content"]["application/problem+json"].is_object());
    assert!(statuses("/openapi.json", "get").contains(&"408".to_string()));

    // `fields` and `include`: comma-separated arrays of names, `fields=` the empty one.
    let params = doc["paths"]["/products/{id}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let fields = params.iter().find(|p| p["name"] == "fields").unwrap();
    assert_eq!(
        (&fields["style"], &fields["explode"]),
        (&json!("form"), &json!(false))
    );
    assert_eq!(
        fields["schema"]["items"]["enum"],
        json!([
            "id",
            "name",
            "category",
            "price",
            "sales",
            "is_static",
            "created_at"
        ])
    );

    let schemas = &doc["components"]["schemas"];
    // Decimals: plain notation with the column's digits, no sign when `min` >= 0.
    let price = &schemas["Product"]["properties"]["price"];
    assert_eq!(price["pattern"], "^(0|[1-9][0-9]{0,7})(\\.[0-9]{1,2})?$");
    // Integers: the column's range.
    let quantity = &schemas["CreateOrder"]["properties"]["quantity"];
    assert_eq!(
        (&quantity["minimum"], &quantity["maximum"]),
        (&json!(1.0), &json!(2147483647.0))
    );
    // Text: no NUL byte.
    assert_eq!(
        schemas["Product"]["properties"]["name"]["pattern"],
        "^[^\\u0000]*$"
    );

    // Reads answer a full row or the fields asked for; `include=` members are documented.
    assert_eq!(
        doc["paths"]["/products/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
        json!({ "anyOf": [
            { "$ref": "#/components/schemas/Product" },
            { "$ref": "#/components/schemas/ProductFields" }
        ] })
    );
    assert!(schemas["Product"]["required"].is_array());
    assert!(schemas["ProductFields"]["required"].is_null());
    assert_eq!(
        schemas["Product"]["properties"]["reviews"]["items"],
        json!({ "$ref": "#/components/schemas/Review" })
    );
    assert_eq!(
        schemas["Order"]["properties"]["user"]["oneOf"],
        json!([{ "$ref": "#/components/schemas/User" }, { "type": "null" }])
    );
    assert!(schemas["ProductFields"]["properties"]["review_count"].is_null());

    // The 201 of a create links to the row's operations (schemathesis' stateful phase).
    let links = &doc["paths"]["/orders"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["get_order"],
        json!({ "operationId": "get_orders", "parameters": { "id": "$response.body#/id" } })
    );
    assert_eq!(
        links["get_user"]["parameters"]["id"],
        "$response.body#/user_id"
    );
}

fn render_inline(spec: &str) -> Vec<OutFile> {
    let path = Path::new("inline.yaml");
    let loaded = apiforge::spec::load_bytes(path, spec.as_bytes())
        .unwrap_or_else(|r| panic!("the inline spec is valid: {r}"));
    let model = Model::from_spec(&loaded.spec);
    let opts = RenderOptions {
        spec_text: spec.to_string(),
        runtime: RuntimeDep::this_checkout(),
    };
    render_project(&model, &opts).expect("renders")
}

fn file<'a>(files: &'a [OutFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is rendered"))
        .contents
}

/// `cache.redis.url_env` renames the Redis variable: the README (and the code reading it)
/// name that variable everywhere, never `REDIS_URL`.
#[test]
fn the_readme_names_the_redis_variable_of_the_spec() {
    let files = render_inline(
        "name: notes_api
cache:
  redis: { url_env: CACHE_REDIS }
resources:
  notes:
    fields:
      id: { type: bigserial, primary_key: true }
      title: { type: string, max_length: 80 }
    cache:
      redis: { ttl: 1m }
",
    );
    for path in ["README.md", "src/generated/app.rs", "src/main.rs"] {
        let text = file(&files, path);
        assert!(text.contains("CACHE_REDIS"), "{path} names CACHE_REDIS");
        assert!(
            !text.contains("REDIS_URL"),
            "{path} names REDIS_URL:\n{text}"
        );
    }
    let readme = file(&files, "README.md");
    assert!(readme.contains("| `CACHE_REDIS` | Redis for the shared cache tier"));
    assert!(readme.contains("(and in Redis when\n`CACHE_REDIS` is set)"));
}

/// The runtime's default features are off in a generated project, and it asks for exactly
/// what its spec uses: none for a spec without decimals, uuids, timestamps, dates or
/// `cache.redis` (no Redis variable read either); each one when the spec has it.
#[test]
fn the_runtime_dependency_lists_the_features_the_spec_uses() {
    let runtime_line = |files: &[OutFile]| -> String {
        file(files, "Cargo.toml")
            .lines()
            .find(|l| l.starts_with("apiforge-runtime = "))
            .expect("an apiforge-runtime dependency")
            .to_string()
    };
    let plain = render_inline(
        "name: plain_api
resources:
  notes:
    fields:
      id: { type: bigserial, primary_key: true }
      title: { type: string, max_length: 80 }
      stars: { type: int, default: 0 }
      score: { type: float, nullable: true }
      done: { type: bool, default: false }
      extra: { type: json, nullable: true }
    cache:
      memory: { max_entries: 100, ttl: 1m }
",
    );
    let line = runtime_line(&plain);
    assert!(line.ends_with(", default-features = false }"), "{line}");
    assert!(!line.contains("features = ["), "{line}");
    let cargo = file(&plain, "Cargo.toml");
    for dep in ["chrono", "rust_decimal", "uuid", "redis"] {
        assert!(
            !cargo.contains(&format!("\n{dep} = ")),
            "{dep} in:\n{cargo}"
        );
    }
    for path in ["src/generated/app.rs", "src/main.rs", "README.md"] {
        let text = file(&plain, path);
        assert!(
            !text.contains("REDIS_URL"),
            "{path} reads REDIS_URL:\n{text}"
        );
    }
    assert!(file(&plain, "src/generated/app.rs").contains("-> Option<Redis> {\n    None\n}"));

    let shop = render("examples/shop.yaml");
    let line = runtime_line(&shop);
    assert!(
        line.ends_with(
            r#", default-features = false, features = ["chrono", "decimal", "redis", "uuid"] }"#
        ),
        "{line}"
    );
    // The blog has no top-level `cache.redis`, but its posts cache in the Redis tier.
    let blog = render("examples/blog.yaml");
    let line = runtime_line(&blog);
    assert!(
        line.ends_with(r#", features = ["chrono", "redis", "uuid"] }"#),
        "{line}"
    );
    assert!(file(&blog, "src/generated/app.rs").contains("Redis::connect("));
    let dated = render_inline(
        "name: dated_api
resources:
  days:
    fields:
      id: { type: serial, primary_key: true }
      day: { type: date }
",
    );
    let line = runtime_line(&dated);
    assert!(line.ends_with(r#", features = ["chrono"] }"#), "{line}");
}

/// The README's body tables: every kind of field, its PATCH use, deprecated fields.
#[test]
fn the_readme_describes_each_body_field() {
    let files = render_inline(
        "name: kinds
resources:
  items:
    fields:
      id: { type: uuid, primary_key: true, default: gen_random_uuid }
      code: { type: string, max_length: 12, unique: true }
      amount: { type: decimal, precision: 6, scale: 0, min: -5, max: 100 }
      ratio: { type: float, min: 0.5 }
      day: { type: date, default: now }
      data: { type: json, nullable: true }
      kind: { type: enum, values: [a, b] }
      old: { type: int, deprecated: true }
",
    );
    let readme = file(&files, "README.md");
    for row in [
        "| `id` | string (uuid) | `\"6f1e2d3c-4b5a-4978-8675-a1b2c3d4e5f6\"` | read-only | read-only | the key (`/items/{id}`); set by the server: a random UUID |",
        "| `code` | string | `\"sample one\"` | required | optional | unique (taken: 409); at most 12 characters |",
        "| `amount` | string (decimal) | `\"12\"` | required | optional | from -5 to 100; at most 6 digits, no fraction |",
        "| `ratio` | number (double) | `1.5` | required | optional | at least 0.5 |",
        "| `day` | string (date) | `\"2024-01-02\"` | optional (default: the current date) | optional |",
        "| `data` | any JSON | `{\"k\":1}` | optional, may be `null` | optional, `null` clears |",
        "| `kind` | string | `\"a\"` | required | optional | one of `a`, `b` |",
        "| `old` | integer (int32) | `1` | refused | refused | deprecated: no longer read or written (sending it is a 400) |",
    ] {
        assert!(readme.contains(row), "missing {row}\nin\n{readme}");
    }
    assert!(
        readme.contains("`fields` from `id`, `code`, `amount`, `ratio`, `day`, `data`, `kind`.")
    );
}

/// The README's body types are the OpenAPI document's (type and format of each property
/// of every create and update schema of the shop).
#[test]
fn readme_body_types_agree_with_the_openapi_document() {
    let files = render("examples/shop.yaml");
    let readme = file(&files, "README.md");
    let doc: serde_json::Value =
        serde_json::from_str(file(&files, "src/generated/openapi.json")).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut checked = 0;
    for (name, schema) in schemas {
        if !(name.starts_with("Create") || name.starts_with("Update")) {
            continue;
        }
        for (field, s) in schema["properties"].as_object().unwrap() {
            let ty = match &s["type"] {
                serde_json::Value::String(t) => Some(t.clone()),
                serde_json::Value::Array(ts) => Some(ts[0].as_str().unwrap().to_string()),
                _ => None,
            };
            let words = match (ty, s["format"].as_str()) {
                (Some(t), Some(f)) => format!("{t} ({f})"),
                (Some(t), None) => t,
                (None, _) => "any JSON".into(),
            };
            let row = format!("| `{field}` | {words} |");
            assert!(readme.contains(&row), "{name}.{field}: README lacks {row}");
            checked += 1;
        }
    }
    assert!(checked > 20, "checked {checked} properties");
}
