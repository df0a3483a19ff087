//! Builds and tests `examples/handwritten` (a crate depending only on apiforge-runtime,
//! outside this workspace) like a user would, against the real Postgres.

use std::path::Path;
use std::process::Command;

#[test]
fn handwritten_example_passes_its_own_tests() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ is inside the workspace");
    let manifest = workspace.join("examples/handwritten/Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args(["test", "--manifest-path"])
        .arg(&manifest)
        // Shared with the generated projects' end-to-end builds: dependencies compile once.
        .env("CARGO_TARGET_DIR", workspace.join("target/e2e"))
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cargo test of {} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        manifest.display()
    );
    // The example's API tests really ran (not an empty run).
    assert!(
        stdout.contains("test included_users_are_batch_loaded_in_one_query ... ok"),
        "{stdout}"
    );
}
