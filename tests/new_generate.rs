//! `apiforge new` / `generate` / `plan` on disk (no build): atomic writes, the manifest,
//! `generate --check`, skipping hand-edited generated files, removing stale ones, user
//! files, renamed resources, reusing formatted files, and the next migration for a schema
//! change (applied to Postgres in tests/generate_migrations.rs).

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::apiforge;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn new_shop(tmp: &Path) -> std::path::PathBuf {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
    let out = apiforge(tmp, &["new", "shop", "--spec", spec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    tmp.join("shop")
}

#[test]
fn new_writes_everything_once_and_refuses_a_non_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    for f in [
        "Cargo.toml",
        "apiforge.yaml",
        "src/main.rs",
        "src/hooks.rs",
        "migrations/0001_init.sql",
        ".apiforge/manifest.json",
        ".apiforge/schema.json",
        "tests/api.rs",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join(".apiforge/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["files"]["src/main.rs"]["owner"], "user");
    assert_eq!(
        manifest["files"]["src/generated/app.rs"]["owner"],
        "generated"
    );
    let cargo = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime");
    assert!(
        cargo.contains(&format!("path = \"{}\"", runtime.display())),
        "{cargo}"
    );

    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
    let again = apiforge(
        tmp.path(),
        &["new", "shop", "--spec", spec.to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["shop"], "no staging folder left behind");

    let versioned = apiforge(
        tmp.path(),
        &[
            "new",
            "v",
            "--spec",
            spec.to_str().unwrap(),
            "--runtime-version",
            "0.1",
        ],
    );
    assert!(versioned.status.success(), "{}", text(&versioned));
    let cargo = fs::read_to_string(tmp.path().join("v/Cargo.toml")).unwrap();
    assert!(
        cargo.contains(
            "apiforge-runtime = { version = \"0.1\", default-features = false, features = [\"chrono\", \"decimal\", \"redis\", \"uuid\"] }"
        ),
        "{cargo}"
    );
}

#[test]
fn a_bad_spec_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("bad.yaml"),
        "name: bad\nresources:\n  things:\n    fields:\n      id: { type: nope }\n",
    )
    .unwrap();
    let out = apiforge(tmp.path(), &["new", "out", "--spec", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("bad.yaml:"),
        "located errors: {}",
        text(&out)
    );
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn generate_checks_regenerates_and_protects_hand_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    // A hand edit of a generated file: --check fails naming it, generate refuses it.
    let app = dir.join("src/generated/app.rs");
    let original = fs::read_to_string(&app).unwrap();
    fs::write(&app, format!("{original}\n// mine\n")).unwrap();
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check).contains("src/generated/app.rs (edited by hand)"),
        "{}",
        text(&check)
    );
    // generate leaves it as it is, names it, and exits 1; --force keeps a copy.
    let skipped = apiforge(&dir, &["generate"]);
    assert_eq!(skipped.status.code(), Some(1), "{}", text(&skipped));
    assert!(
        text(&skipped).contains(
            "skipped src/generated/app.rs: edited by hand; pass --force to overwrite it \
             (a copy is kept as src/generated/app.rs.orig)"
        ),
        "{}",
        text(&skipped)
    );
    assert!(fs::read_to_string(&app).unwrap().ends_with("// mine\n"));
    assert!(!dir.join("src/generated/app.rs.orig").exists());
    let forced = apiforge(&dir, &["generate", "--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert_eq!(fs::read_to_string(&app).unwrap(), original);
    assert!(
        fs::read_to_string(dir.join("src/generated/app.rs.orig"))
            .unwrap()
            .ends_with("// mine\n")
    );
    fs::remove_file(dir.join("src/generated/app.rs.orig")).unwrap();

    // A spec change that keeps the schema: generated files follow, user files stay.
    let hooks = dir.join("src/hooks.rs");
    fs::write(&hooks, "// my hooks\n").unwrap();
    let spec = dir.join("apiforge.yaml");
    let yaml = fs::read_to_string(&spec).unwrap();
    let changed = yaml.replacen(
        "pagination: { default_limit: 50, max_limit: 200 }",
        "pagination: { default_limit: 25, max_limit: 200 }",
        1,
    );
    assert_ne!(yaml, changed, "the example still has this line");
    fs::write(&spec, &changed).unwrap();
    assert_eq!(
        apiforge(&dir, &["generate", "--check"]).status.code(),
        Some(1)
    );
    let plan = apiforge(&dir, &["plan"]);
    assert!(
        text(&plan).contains("update src/generated/entities/products.rs"),
        "{}",
        text(&plan)
    );
    let regenerated = apiforge(&dir, &["generate"]);
    assert!(regenerated.status.success(), "{}", text(&regenerated));
    let entity = fs::read_to_string(dir.join("src/generated/entities/products.rs")).unwrap();
    assert!(entity.contains("default_limit: 25"), "{entity}");
    assert_eq!(fs::read_to_string(&hooks).unwrap(), "// my hooks\n");
    assert_eq!(
        apiforge(&dir, &["generate", "--check"]).status.code(),
        Some(0)
    );

    // A schema change writes the next migration (tests/generate_migrations.rs applies them).
    let with_column = changed.replacen("      rating: { type: int, min: 1, max: 5 }", "      rating: { type: int, min: 1, max: 5 }\n      title: { type: string, nullable: true }", 1);
    fs::write(&spec, with_column).unwrap();
    let first = fs::read_to_string(dir.join("migrations/0001_init.sql")).unwrap();
    let migrated = apiforge(&dir, &["generate"]);
    assert!(migrated.status.success(), "{}", text(&migrated));
    assert!(
        text(&migrated).contains("wrote migrations/0002_add_reviews_title.sql"),
        "{}",
        text(&migrated)
    );
    assert_eq!(
        fs::read_to_string(dir.join("migrations/0001_init.sql")).unwrap(),
        first,
        "existing migrations are never rewritten"
    );
    assert!(
        fs::read_to_string(dir.join("src/generated/models/reviews.rs"))
            .unwrap()
            .contains("title")
    );
    assert_eq!(
        apiforge(&dir, &["generate", "--check"]).status.code(),
        Some(0)
    );
}

/// `new` names the next command on stdout and what it is doing on stderr; `-q` keeps both
/// quiet. `generate` and `plan` find the project through `-C DIR` or `--manifest PATH`.
#[test]
fn new_says_what_next_and_project_commands_take_c_and_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
    let out = apiforge(
        tmp.path(),
        &["new", "shop", "--spec", spec.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim_end(),
        "next: cd shop && DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop cargo run"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Rendering shop (4 resources) and formatting"),
        "{stderr}"
    );
    assert!(stderr.contains("Created shop"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour off a terminal: {stderr:?}"
    );

    let quiet = apiforge(
        tmp.path(),
        &["new", "-q", "quiet", "--spec", spec.to_str().unwrap()],
    );
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(text(&quiet), "", "-q prints nothing on success");

    // From the parent folder: -C, then --manifest (relative to -C when both are given).
    let check = apiforge(tmp.path(), &["generate", "--check", "-C", "shop"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let check = apiforge(
        tmp.path(),
        &["generate", "--check", "--manifest", "shop/apiforge.yaml"],
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let check = apiforge(
        tmp.path().parent().unwrap(),
        &[
            "generate",
            "--check",
            "-C",
            tmp.path().to_str().unwrap(),
            "--manifest",
            "shop/apiforge.yaml",
        ],
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    let manifest = tmp.path().join("shop/apiforge.yaml");
    let yaml = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        yaml.replace(
            "      body: { type: text, nullable: true }",
            "      body: { type: text, nullable: true }\n      title: { type: string, nullable: true }",
        ),
    )
    .unwrap();
    let plan = apiforge(tmp.path(), &["plan", "-C", "shop"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        text(&plan).contains("ADD COLUMN"),
        "plan -C sees the project's change: {}",
        text(&plan)
    );
    let generated = apiforge(
        tmp.path(),
        &["generate", "--manifest", "shop/apiforge.yaml"],
    );
    assert!(generated.status.success(), "{}", text(&generated));
    assert!(
        text(&generated).contains("wrote migrations/0002_"),
        "{}",
        text(&generated)
    );
    assert!(
        tmp.path()
            .join("shop/migrations")
            .read_dir()
            .unwrap()
            .count()
            >= 2
    );
    // Not in a project: a clear error naming the manifest it looked for.
    let missing = apiforge(tmp.path(), &["generate", "-C", "nowhere"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("nowhere/apiforge.yaml"),
        "{}",
        text(&missing)
    );
}

fn edit_spec(dir: &Path, edits: &[(&str, &str)]) {
    let spec = dir.join("apiforge.yaml");
    let mut yaml = fs::read_to_string(&spec).unwrap();
    for (from, to) in edits {
        assert!(yaml.contains(from), "the example still has {from:?}");
        yaml = yaml.replace(from, to);
    }
    fs::write(&spec, yaml).unwrap();
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(dir.join(".apiforge/manifest.json")).unwrap()).unwrap()
}

#[test]
fn a_hand_edited_file_does_not_block_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    let app = dir.join("src/generated/app.rs");
    let edited = format!("{}// mine\n", fs::read_to_string(&app).unwrap());
    fs::write(&app, &edited).unwrap();
    let recorded = manifest(&dir)["files"]["src/generated/app.rs"]["sha256"].clone();
    edit_spec(
        &dir,
        &[(
            "pagination: { default_limit: 50, max_limit: 200 }",
            "pagination: { default_limit: 25, max_limit: 200 }",
        )],
    );
    let out = apiforge(&dir, &["generate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("skipped src/generated/app.rs"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("wrote "),
        "the others are written: {}",
        text(&out)
    );
    assert_eq!(fs::read_to_string(&app).unwrap(), edited);
    // Its manifest entry still holds what apiforge wrote, so it stays flagged.
    assert_eq!(
        manifest(&dir)["files"]["src/generated/app.rs"]["sha256"],
        recorded
    );
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "out of date: src/generated/app.rs (edited by hand)\n"
    );
    let again = apiforge(&dir, &["generate"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        text(&again).contains("skipped src/generated/app.rs"),
        "{}",
        text(&again)
    );
}

#[test]
fn generated_files_of_a_renamed_resource_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    fs::write(dir.join("src/hooks.rs"), "// my hooks\n").unwrap();
    let before = manifest(&dir);
    let old_files: Vec<String> = before["files"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, e)| e["owner"] == "generated" && path.ends_with("/products.rs"))
        .map(|(path, _)| path.clone())
        .collect();
    assert!(
        old_files.contains(&"src/generated/models/products.rs".to_string()),
        "{old_files:?}"
    );
    // A hand-edited one is kept until --force.
    let routes = dir.join("src/generated/entities/products.rs");
    fs::write(&routes, "// my routes\n").unwrap();
    let hooks = dir.join("src/resources/products.rs");
    fs::write(&hooks, "// my product hooks\n").unwrap();
    edit_spec(
        &dir,
        &[
            ("  products:\n", "  items:\n    renamed_from: products\n"),
            ("to: products", "to: items"),
        ],
    );

    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    for path in &old_files {
        let note = if path.as_str() == "src/generated/entities/products.rs" {
            " (edited by hand)"
        } else {
            ""
        };
        assert!(
            text(&check).contains(&format!("stale: {path}{note}\n")),
            "{path}: {}",
            text(&check)
        );
    }
    let plan = apiforge(&dir, &["plan"]);
    assert!(
        text(&plan).contains("remove src/generated/models/products.rs\n"),
        "{}",
        text(&plan)
    );

    let out = apiforge(&dir, &["generate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "skipped src/generated/entities/products.rs: edited by hand; pass --force to remove it"
        ),
        "{}",
        text(&out)
    );
    for path in old_files.iter().filter(|p| !p.contains("/entities/")) {
        assert!(
            text(&out).contains(&format!("removed {path}\n")),
            "{}",
            text(&out)
        );
        assert!(!dir.join(path).exists(), "{path} is removed");
    }
    assert_eq!(fs::read_to_string(&routes).unwrap(), "// my routes\n");
    assert!(dir.join("src/generated/models/items.rs").is_file());
    // The hooks file is the user's: not removed, and no fresh one under the new name.
    let note = "note: resource `products` was renamed to `items`: rename \
                src/resources/products.rs to src/resources/items.rs and the types in it";
    assert!(text(&out).contains(note), "{}", text(&out));
    assert_eq!(fs::read_to_string(&hooks).unwrap(), "// my product hooks\n");
    assert!(!dir.join("src/resources/items.rs").exists());
    assert_eq!(
        fs::read_to_string(dir.join("src/hooks.rs")).unwrap(),
        "// my hooks\n"
    );
    assert!(
        text(&out).contains("migration 0002_"),
        "the rename's migration is written: {}",
        text(&out)
    );

    let forced = apiforge(&dir, &["generate", "--force"]);
    assert_eq!(
        forced.status.code(),
        Some(1),
        "the rename is left: {}",
        text(&forced)
    );
    assert!(text(&forced).contains(note), "{}", text(&forced));
    assert!(
        text(&forced).contains("removed src/generated/entities/products.rs"),
        "{}",
        text(&forced)
    );
    assert!(!routes.exists());
    assert_eq!(
        fs::read_to_string(dir.join("src/generated/entities/products.rs.orig")).unwrap(),
        "// my routes\n"
    );
    assert!(hooks.exists(), "--force never touches user files");
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(text(&check).contains(note), "{}", text(&check));
    fs::rename(&hooks, dir.join("src/resources/items.rs")).unwrap();
    let after = manifest(&dir);
    for path in &old_files {
        assert!(
            after["files"].get(path).is_none(),
            "{path} left the manifest"
        );
    }
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

#[test]
fn a_missing_user_file_is_written_and_existing_ones_never_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    let user_files: Vec<String> = manifest(&dir)["files"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, e)| e["owner"] == "user")
        .map(|(path, _)| path.clone())
        .collect();
    assert!(
        user_files.contains(&"src/hooks.rs".to_string()),
        "{user_files:?}"
    );
    let hooks = dir.join("src/hooks.rs");
    let rendered = fs::read_to_string(&hooks).unwrap();
    fs::remove_file(&hooks).unwrap();
    for path in user_files
        .iter()
        .filter(|p| *p != "src/hooks.rs" && p.ends_with(".rs"))
    {
        fs::write(dir.join(path), "// mine\n").unwrap();
    }
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "missing: src/hooks.rs\n"
    );
    let out = apiforge(&dir, &["generate", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wrote src/hooks.rs\n");
    assert_eq!(fs::read_to_string(&hooks).unwrap(), rendered);
    for path in user_files
        .iter()
        .filter(|p| *p != "src/hooks.rs" && p.ends_with(".rs"))
    {
        assert_eq!(
            fs::read_to_string(dir.join(path)).unwrap(),
            "// mine\n",
            "{path}"
        );
    }
}

/// `apiforge` with extra environment variables.
fn apiforge_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .expect("run apiforge")
}

#[test]
fn an_unchanged_render_is_not_formatted_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    let m = manifest(&dir);
    let entry = &m["files"]["src/generated/app.rs"];
    assert_eq!(
        entry["input_sha256"].as_str().map(str::len),
        Some(64),
        "{entry}"
    );
    assert!(m["files"]["README.md"].get("input_sha256").is_none());

    // No rustfmt can run: a no-op generate and --check do not need one.
    let no_rustfmt = [("RUSTFMT", "/nonexistent/rustfmt")];
    let out = apiforge_env(&dir, &["generate"], &no_rustfmt);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "up to date\n");
    let check = apiforge_env(&dir, &["generate", "--check"], &no_rustfmt);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    // A hand-edited file is rendered afresh (its disk copy is not what apiforge wrote).
    let app = dir.join("src/generated/app.rs");
    let original = fs::read_to_string(&app).unwrap();
    fs::write(&app, format!("{original}// mine\n")).unwrap();
    let out = apiforge_env(&dir, &["generate", "--force"], &no_rustfmt);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot run rustfmt"), "{}", text(&out));
    assert!(text(&out).contains("RUSTFMT"), "{}", text(&out));
    let out = apiforge(&dir, &["generate", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fs::read_to_string(&app).unwrap(), original);
}

/// Adds `text` at the end of the file at `path`.
fn append(path: &Path, text: &str) {
    let old = fs::read_to_string(path).unwrap();
    fs::write(path, old + text).unwrap();
}

#[test]
fn a_no_op_generate_renders_nothing_until_the_spec_or_a_file_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    let stamp = |dir: &Path| manifest(dir)["generated_from"].as_str().unwrap().to_owned();
    let first = stamp(&dir);
    assert!(first.starts_with(env!("CARGO_PKG_VERSION")), "{first}");
    let skipped = "not rendered";
    for args in [&["-v", "generate"][..], &["-v", "generate", "--check"]] {
        let out = apiforge(&dir, args);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(skipped), "{}", text(&out));
    }
    // A changed spec (even a comment) is rendered, and then recorded.
    let spec = dir.join("apiforge.yaml");
    append(&spec, "# a note\n");
    let out = apiforge(&dir, &["-v", "generate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(skipped), "{}", text(&out));
    assert_ne!(stamp(&dir), first);
    assert!(text(&apiforge(&dir, &["-v", "generate"])).contains(skipped));
    // A generated file edited by hand is still found (and not recorded as rendered).
    let app = dir.join("src/generated/app.rs");
    append(&app, "// mine\n");
    let check = apiforge(&dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("src/generated/app.rs (edited by hand)"),
        "{}",
        text(&check)
    );
    let out = apiforge(&dir, &["generate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(manifest(&dir).get("generated_from").is_none());
}

#[cfg(unix)]
#[test]
fn new_and_a_changed_generate_run_one_rustfmt_batch_per_cpu_at_most() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("rustfmt.log");
    let wrapper = tmp.path().join("rustfmt-wrapper");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$# $3\" >> '{}'\nexec rustfmt \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let env = [("RUSTFMT", wrapper.to_str().unwrap())];
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
    let out = apiforge_env(
        tmp.path(),
        &["new", "shop", "--spec", spec.to_str().unwrap()],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let runs = fs::read_to_string(&log).unwrap();
    // Batches over files (`--edition 2024 --config-path FILE FILES…`), and one run through
    // stdin (`--edition 2024 --emit stdout --config-path FILE`) per file that declares
    // modules: lib.rs, src/generated/mod.rs and src/resources/mod.rs.
    let batches = |runs: &str| runs.lines().filter(|l| !l.ends_with("--emit")).count();
    assert!(
        (1..=4).contains(&batches(&runs)),
        "one rustfmt batch per CPU at most: {runs}"
    );
    assert!(runs.lines().count() - batches(&runs) <= 3, "{runs}");

    // A spec change that touches one resource's files formats only those.
    fs::remove_file(&log).unwrap();
    let dir = tmp.path().join("shop");
    edit_spec(
        &dir,
        &[(
            "      rating: { type: int, min: 1, max: 5 }",
            "      rating: { type: int, min: 1, max: 5 }\n      title: { type: string, nullable: true }",
        )],
    );
    let out = apiforge_env(&dir, &["generate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let runs = fs::read_to_string(&log).unwrap();
    assert!((1..=4).contains(&batches(&runs)), "{runs}");
    let rust_files = manifest(&dir)["files"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.ends_with(".rs"))
        .count();
    // A batch's arguments: --edition 2024 --config-path FILE, then the files.
    let formatted: usize = runs
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((_, "--emit")) => 1,
            Some((n, _)) => n.parse::<usize>().unwrap() - 4,
            None => panic!("{l}"),
        })
        .sum();
    assert!(
        formatted < rust_files / 2,
        "{formatted} of {rust_files} Rust files formatted again"
    );
}

#[test]
fn adding_a_monitoring_port_tells_what_to_change_in_main_rs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_shop(tmp.path());
    let main_rs = fs::read_to_string(dir.join("src/main.rs")).unwrap();
    edit_spec(
        &dir,
        &[(
            "  resource_interval: 30s",
            "  port: 9464\n  resource_interval: 30s",
        )],
    );
    let out = apiforge(&dir, &["generate"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("note: `monitoring.port: 9464` puts the metrics on a listener of their own")
            && said.contains("app::bind_monitoring"),
        "{said}"
    );
    // main.rs is the user's: untouched, and told again until it follows.
    assert_eq!(
        fs::read_to_string(dir.join("src/main.rs")).unwrap(),
        main_rs
    );
    let app = fs::read_to_string(dir.join("src/generated/app.rs")).unwrap();
    assert!(app.contains("pub fn routers(") && !app.contains("pub fn router("));
    let again = apiforge(&dir, &["generate"]);
    assert!(
        text(&again).contains("app::bind_monitoring"),
        "{}",
        text(&again)
    );
    // With main.rs as `new` writes it for that spec, nothing is said.
    let fresh = tempfile::tempdir().unwrap();
    let out = apiforge(
        fresh.path(),
        &[
            "new",
            "shop",
            "--spec",
            dir.join("apiforge.yaml").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    fs::copy(
        fresh.path().join("shop/src/main.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
    let quiet = apiforge(&dir, &["generate"]);
    assert!(!text(&quiet).contains("note:"), "{}", text(&quiet));
}
