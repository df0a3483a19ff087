//! The example specs are valid and lint-clean: `apiforge validate` prints only its `ok` lines.

use std::process::Command;

#[test]
fn examples_validate_clean() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut examples: Vec<String> = std::fs::read_dir(format!("{root}/examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    examples.sort();
    assert!(examples.len() >= 2, "{examples:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(["validate", "--deny-warnings"])
        .args(&examples)
        .current_dir(root)
        .output()
        .expect("run apiforge");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "examples must have no errors and no warnings"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), examples.len(), "{stdout}");
    for (line, example) in stdout.lines().zip(&examples) {
        assert!(line.starts_with(&format!("{example}: ok (")), "{line}");
        assert!(line.ends_with("; 0 warnings)"), "{line}");
    }
    assert_eq!(out.status.code(), Some(0));
    let quiet = Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(["validate", "-q"])
        .args(&examples)
        .current_dir(root)
        .output()
        .expect("run apiforge");
    assert!(quiet.status.success());
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "-q prints nothing"
    );
}

/// The loaded shop spec is SPEC.md's example, defaults filled in.
#[test]
fn shop_loads_with_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
    let loaded = apiforge::spec::load(&path).expect("shop.yaml is valid");
    let spec = loaded.spec;
    assert_eq!(spec.name, "shop");
    assert_eq!(spec.database.pool.max, 20);
    assert_eq!(
        spec.database.pool.acquire_timeout.as_secs(),
        3,
        "default filled in"
    );
    assert_eq!(spec.server.body_limit.0, 1 << 20);
    assert_eq!(spec.database.slow_query.as_millis(), 100);
    let products = &spec.resources["products"];
    let cache = products.cache.as_ref().unwrap();
    assert_eq!(cache.memory.as_ref().unwrap().ttl.as_secs(), 300);
    assert_eq!(
        cache.http.as_ref().unwrap().immutable_when.as_deref(),
        Some("is_static")
    );
    assert_eq!(
        products
            .budgets
            .list
            .as_ref()
            .unwrap()
            .p99
            .unwrap()
            .as_millis(),
        500
    );
    assert_eq!(products.rankings["top_by_category"].limit, 10);
    assert_eq!(
        products.aggregates["avg_rating"].single(),
        Some((apiforge::spec::AggregateFn::Avg, "reviews.rating"))
    );
    assert_eq!(
        spec.resources.keys().collect::<Vec<_>>(),
        ["users", "products", "orders", "reviews"]
    );
}

/// The spec tour in README.md is a valid, lint-clean spec too.
#[test]
fn readme_tour_is_valid() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## A tour of the spec")
        .and_then(|i| {
            readme[i..]
                .find("```yaml\n")
                .map(|j| i + j + "```yaml\n".len())
        })
        .expect("README has the tour");
    let end = start + readme[start..].find("```").expect("closing fence");
    let loaded = apiforge::spec::load_bytes(
        std::path::Path::new("README.md"),
        &readme.as_bytes()[start..end],
    )
    .unwrap_or_else(|r| panic!("{r}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}
