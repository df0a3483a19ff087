//! A reversible migration, applied and reverted by the generated binary against a real
//! database: `apiforge generate` writes sqlx's `.up.sql` / `.down.sql` pairs for a change
//! whose every step can be undone without losing data (here a renamed column and a new
//! index, built concurrently), `<binary> migrate` applies them, `<binary> migrate revert`
//! undoes them one version at a time, and the schema is back to the previous revision's
//! (`apiforge drift` against `.apiforge/schema.previous.json` exits 0) with the rows kept.
//! A last migration without a down file (`0001_init.sql`) is refused, reverting nothing.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{Project, TestDb, apiforge, output_text};

fn run(binary: &Path, db: &TestDb, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", "")
        .output()
        .expect("run the generated binary")
}

fn query(db: &TestDb, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "-At", "-d", &db.url, "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `apiforge drift` of the database against the spec `spec` and the schema state `state`
/// (copied into a folder of their own).
fn drift(db: &TestDb, spec: &str, state: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join(".apiforge")).unwrap();
    fs::write(dir.path().join("apiforge.yaml"), spec).unwrap();
    fs::write(dir.path().join(".apiforge/schema.json"), state).unwrap();
    apiforge(
        dir.path(),
        &[
            "drift",
            "--database-url",
            &db.url,
            "--spec",
            "apiforge.yaml",
        ],
    )
}

#[test]
fn a_reversible_migration_is_reverted_by_the_generated_binary() {
    let project = Project::generate("examples/shop.yaml");
    let spec_path = project.dir.join("apiforge.yaml");
    let before_spec = fs::read_to_string(&spec_path).unwrap();
    let edited = before_spec
        .replace(
            "      body: { type: text, nullable: true }\n    indexes: [[product_id]]",
            "      comment: { type: text, nullable: true, renamed_from: body }\n    indexes: [[product_id], [rating]]",
        );
    assert_ne!(edited, before_spec);
    fs::write(&spec_path, &edited).unwrap();
    let out = apiforge(&project.dir, &["generate"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reversible")
            || String::from_utf8_lossy(&out.stdout).contains("reversible"),
        "{}",
        output_text(&out)
    );
    let mut names: Vec<String> = fs::read_dir(project.dir.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0001_init.sql",
            "0002_update_reviews.down.sql",
            "0002_update_reviews.up.sql",
            "0003_create_index_reviews_rating_idx.down.sql",
            "0003_create_index_reviews_rating_idx.up.sql",
            "0004_validate_update_reviews.down.sql",
            "0004_validate_update_reviews.up.sql",
        ]
    );
    let previous_state =
        fs::read_to_string(project.dir.join(".apiforge/schema.previous.json")).unwrap();
    let state = fs::read_to_string(project.dir.join(".apiforge/schema.json")).unwrap();
    // `generate --check` and `plan` accept the pairs (no integrity problem).
    let check = apiforge(&project.dir, &["generate", "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", output_text(&check));

    let binary = project.build();
    let db = TestDb::create();
    let out = run(&binary, &db, &["migrate"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        query(
            &db,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM _sqlx_migrations"
        ),
        "1,2,3,4"
    );
    let ok = drift(&db, &edited, &state);
    assert_eq!(ok.status.code(), Some(0), "{}", output_text(&ok));
    query(
        &db,
        "INSERT INTO products (name, category, price) VALUES ('p', 'c', 1); \
         INSERT INTO reviews (product_id, rating, comment) SELECT id, 4, 'kept' FROM products",
    );

    // One version a revert, last first.
    for (version, file) in [
        (4, "migrations/0004_validate_update_reviews.up.sql"),
        (3, "migrations/0003_create_index_reviews_rating_idx.up.sql"),
        (2, "migrations/0002_update_reviews.up.sql"),
    ] {
        let out = run(&binary, &db, &["migrate", "revert"]);
        assert!(out.status.success(), "{}", output_text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!(
                "reverted {file} with {}",
                file.replace(".up.sql", ".down.sql")
            )),
            "{}",
            output_text(&out)
        );
        assert_eq!(
            query(&db, "SELECT max(version) FROM _sqlx_migrations"),
            (version - 1).to_string()
        );
    }
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'reviews_rating_idx'"
        ),
        "0"
    );
    // The schema of the previous revision, with the rows.
    let back = drift(&db, &before_spec, &previous_state);
    assert_eq!(back.status.code(), Some(0), "{}", output_text(&back));
    assert_eq!(query(&db, "SELECT body FROM reviews"), "kept");

    // 0001_init.sql has no down file: refused, nothing reverted.
    let refused = run(&binary, &db, &["migrate", "revert"]);
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("migrations/0001_init.sql, the last migration applied, has no down file")
            && text.contains("Nothing was reverted"),
        "{text}"
    );
    assert_eq!(query(&db, "SELECT max(version) FROM _sqlx_migrations"), "1");

    // Migrating again reaches the new revision.
    let out = run(&binary, &db, &["migrate"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let ok = drift(&db, &edited, &state);
    assert_eq!(ok.status.code(), Some(0), "{}", output_text(&ok));
    assert_eq!(query(&db, "SELECT comment FROM reviews"), "kept");
}
