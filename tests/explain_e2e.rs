//! `apiforge explain` on a database migrated with the SQL `apiforge new` generates for
//! `examples/shop.yaml`: the shop's shapes are all served by its indexes, and a filter
//! added to the spec without an index is flagged with the index to add.

mod common;

use common::output_text as text;

use std::path::Path;
use std::process::{Command, Output};

fn explain(url: &str, spec: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(["explain", "--database-url", url, "--spec"])
        .arg(spec)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn generated_shop_schema_serves_every_shape_and_a_new_filter_is_flagged() {
    let project = common::Project::generate("examples/shop.yaml");
    let db = common::TestDb::create();
    let migration = project.dir.join("migrations/0001_init.sql");
    let out = Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", &db.url, "-f"])
        .arg(&migration)
        .output()
        .unwrap();
    common::assert_success("psql -f 0001_init.sql", &out);

    let shop = common::workspace().join("examples/shop.yaml");
    let out = explain(&db.url, &shop);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("WARNING"), "{report}");
    let row = |shape: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{shape} ")))
            .unwrap_or_else(|| panic!("no row {shape}: {report}"))
            .to_owned()
    };
    assert!(
        row("products.list?category").contains("products_category_"),
        "{report}"
    );
    assert!(
        row("products.list?price_min").contains("products_price_idx"),
        "{report}"
    );
    assert!(row("users.get").contains("users_pkey"), "{report}");

    // The same database, with a spec that also filters products by name: no index has it.
    let text_spec = std::fs::read_to_string(&shop).unwrap();
    let with_name = text_spec.replacen(
        "filters: [category, price]",
        "filters: [category, price, name]",
        1,
    );
    assert_ne!(
        text_spec, with_name,
        "examples/shop.yaml changed: update this test"
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("apiforge.yaml");
    std::fs::write(&spec, with_name).unwrap();
    let out = explain(&db.url, &spec);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let warnings: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("WARNING"))
        .collect();
    assert_eq!(warnings.len(), 1, "{report}");
    assert!(
        warnings[0].starts_with("WARNING products.list?name:"),
        "{report}"
    );
    assert!(
        warnings[0].ends_with("add to resources.products.indexes: [name, created_at]"),
        "{report}"
    );
}
