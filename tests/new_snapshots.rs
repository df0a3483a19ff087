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
    let include = &doc["paths"]["/products"]["get"]["parameters"][9]["description"];
    assert!(
        include.as_str().unwrap().ends_with("orders, reviews."),
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
