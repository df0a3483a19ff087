//! End to end, for every example spec (`examples/*.yaml`) and the secured ones
//! (`tests/secure/*.yaml`, whose tests mint HS256 and ES256 tokens): `apiforge new`, then the
//! generated project's own checks — `cargo fmt --check`, `cargo clippy --all-targets -D
//! warnings`, a build without any warning — and its own tests (`tests/api.rs`, which start
//! the server against a fresh database and drive every route over HTTP).

mod common;

use common::{Project, assert_success};

fn example_specs() -> Vec<String> {
    let mut specs: Vec<String> = ["examples", "tests/secure"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(common::workspace().join(dir))
                .expect("a spec folder")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
                .map(move |n| format!("{dir}/{n}"))
        })
        .collect();
    specs.sort();
    specs
}

#[test]
fn every_example_project_passes_its_own_checks_and_tests() {
    let specs = example_specs();
    assert!(specs.iter().any(|s| s == "examples/shop.yaml"), "{specs:?}");
    for spec in specs {
        let project = Project::generate(&spec);
        assert_success(
            &format!("{spec}: cargo fmt --check"),
            &project.cargo(&["fmt", "--check"], &[]),
        );
        let clippy = project.cargo(&["clippy", "--all-targets", "--", "-D", "warnings"], &[]);
        assert_success(&format!("{spec}: cargo clippy"), &clippy);
        let build = project.cargo(&["build", "--all-targets"], &[]);
        assert_success(&format!("{spec}: cargo build"), &build);
        // Warnings of the generated crate itself: a summary line naming it, or a location in
        // the project (dependencies, the runtime included, are reported with other paths).
        let stderr = String::from_utf8_lossy(&build.stderr);
        let own = stderr.lines().any(|l| {
            l.starts_with(&format!("warning: `{}`", project.name))
                || l.trim_start().starts_with("--> src/")
                || l.trim_start().starts_with("--> tests/")
        });
        assert!(
            !own,
            "{spec}: the generated project builds without warnings:\n{stderr}"
        );
        let base = format!("{}/postgres", common::pg_server());
        let test = project.cargo(&["test"], &[("DATABASE_URL", base.as_str())]);
        assert_success(
            &format!("{spec}: cargo test (the project's own tests)"),
            &test,
        );
    }
}
