//! `apiforge generate` after spec edits writes the next migration from a schema diff.
//!
//! The proof: the real binary scaffolds `examples/shop.yaml`, `apiforge.yaml` is edited and
//! `apiforge generate` run, then every migration is applied in order with psql to a fresh
//! database, and that schema (columns, types, nullability, defaults, indexes, constraints,
//! sequences) must equal the one the edited spec's own `0001_init.sql` creates alone.
//! Rows must survive renames. No generated project is built (psql is enough).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TestDb, apiforge, output_text};

/// A project made by `apiforge new shop --spec examples/shop.yaml` in a temp folder.
struct Shop {
    tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Shop {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let spec = common::workspace().join("examples/shop.yaml");
        let out = apiforge(
            tmp.path(),
            &["new", "shop", "--spec", spec.to_str().unwrap()],
        );
        assert!(out.status.success(), "{}", output_text(&out));
        let dir = tmp.path().join("shop");
        Shop { tmp, dir }
    }

    fn spec(&self) -> PathBuf {
        self.dir.join("apiforge.yaml")
    }

    /// Rewrites apiforge.yaml; each `(from, to)` must occur.
    fn edit(&self, replacements: &[(&str, &str)]) {
        let mut yaml = fs::read_to_string(self.spec()).unwrap();
        for (from, to) in replacements {
            assert!(yaml.contains(from), "apiforge.yaml has no {from:?}");
            yaml = yaml.replace(from, to);
        }
        fs::write(self.spec(), yaml).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        apiforge(&self.dir, args)
    }

    /// `apiforge generate` (plus `args`), which must succeed and leave nothing stale. A
    /// renamed resource's hooks file is renamed as its note says (exit 1 until then).
    fn generate(&self, args: &[&str]) -> Output {
        let mut all = vec!["generate"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let renames: Vec<(&str, &str)> = stderr
            .lines()
            .filter(|l| l.starts_with("note: resource "))
            .filter_map(|l| {
                let (_, rest) = l.split_once(": rename ")?;
                let (from, rest) = rest.split_once(" to ")?;
                Some((from, rest.split_once(' ')?.0))
            })
            .collect();
        if renames.is_empty() {
            assert!(out.status.success(), "{}", output_text(&out));
        } else {
            assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
            for (from, to) in renames {
                fs::rename(self.dir.join(from), self.dir.join(to)).unwrap();
            }
        }
        let check = self.run(&["generate", "--check"]);
        assert_eq!(check.status.code(), Some(0), "{}", output_text(&check));
        out
    }

    /// `migrations/*.sql` that sqlx applies (down files left out), in order.
    fn migrations(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .all_files()
            .into_iter()
            .filter(|p| !p.to_string_lossy().ends_with(".down.sql"))
            .collect();
        files.sort();
        files
    }

    /// Every `migrations/*.sql`, down files included, in order.
    fn all_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.join("migrations"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        files
    }

    /// The down files of `ups` (`X.up.sql` → `X.down.sql`), last first: the order a revert
    /// runs them. Panics when one is missing.
    fn downs_of(&self, ups: &[PathBuf]) -> Vec<PathBuf> {
        ups.iter()
            .rev()
            .map(|up| {
                let down = PathBuf::from(up.to_string_lossy().replace(".up.sql", ".down.sql"));
                assert!(down.exists(), "{} has no down file", up.display());
                down
            })
            .collect()
    }

    fn migration_names(&self) -> Vec<String> {
        self.migrations()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn last_migration(&self) -> String {
        fs::read_to_string(self.migrations().last().unwrap()).unwrap()
    }

    /// The contents of a migration's main file.
    fn last_migration_main(&self, main: &Path) -> String {
        fs::read_to_string(main).unwrap()
    }

    /// Every file of the project with its contents (to prove that nothing was written).
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out: Vec<(PathBuf, Vec<u8>)> = walk(&self.dir)
            .into_iter()
            .map(|p| {
                let bytes = fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        out.sort();
        out
    }

    /// A database with every migration applied in order, as the project does at start-up.
    fn migrated_db(&self) -> TestDb {
        let db = TestDb::create();
        for m in self.migrations() {
            apply(&db, &m);
        }
        db
    }

    /// Applies all migrations to one fresh database, the edited spec's `0001_init.sql`
    /// alone to another (from `apiforge new`), and compares the two schemas.
    fn assert_matches_fresh(&self) {
        let migrated = self.migrated_db();
        let fresh_dir = self
            .tmp
            .path()
            .join(format!("fresh_{}", common::unique_suffix()));
        let out = apiforge(
            self.tmp.path(),
            &[
                "new",
                fresh_dir.to_str().unwrap(),
                "--spec",
                self.spec().to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", output_text(&out));
        let fresh = TestDb::create();
        apply(&fresh, &fresh_dir.join("migrations/0001_init.sql"));
        let (got, want) = (schema(&migrated), schema(&fresh));
        if got != want {
            let diff: Vec<String> = want
                .lines()
                .filter(|l| !got.lines().any(|g| g == *l))
                .map(|l| format!("- {l}"))
                .chain(
                    got.lines()
                        .filter(|l| !want.lines().any(|w| w == *l))
                        .map(|l| format!("+ {l}")),
                )
                .collect();
            panic!(
                "migrations {:?} do not reach the fresh schema (- fresh only, + migrated only):\n{}\n\nlast migration:\n{}",
                self.migration_names(),
                diff.join("\n"),
                self.last_migration()
            );
        }
        fs::remove_dir_all(fresh_dir).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Runs a migration file with psql as sqlx does: in one transaction, unless its first line
/// is `-- no-transaction` (then as one statement outside a transaction), stopping on error.
fn apply(db: &TestDb, file: &Path) {
    let out = try_apply(db, file);
    assert!(
        out.status.success(),
        "{}: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        fs::read_to_string(file).unwrap()
    );
}

fn try_apply(db: &TestDb, file: &Path) -> Output {
    try_apply_url(&db.url, file)
}

fn try_apply_url(url: &str, file: &Path) -> Output {
    let sql = fs::read_to_string(file).unwrap();
    if sql.starts_with("-- no-transaction\n") {
        // sqlx sends the file as one simple query; so does `psql -c`.
        return Command::new("psql")
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", url, "-c"])
            .arg(&sql)
            .output()
            .expect("run psql");
    }
    Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "-1", "-q", "-d", url, "-f"])
        .arg(file)
        .output()
        .expect("run psql")
}

/// Rows of a query, `|`-separated, one a line.
fn query(db: &TestDb, sql: &str) -> String {
    db.psql(sql).trim_end().to_string()
}

/// The schema, one fact a line: columns (type, nullability, default), indexes, constraints
/// and sequences of `public`.
fn schema(db: &TestDb) -> String {
    [
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type \
         || coalesce('(' || character_maximum_length || ')', '') \
         || coalesce(' precision ' || numeric_precision || ',' || numeric_scale, '') \
         || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, '-') \
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1",
        "SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' \
         || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace ORDER BY 1",
        "SELECT 'sequence ' || sequence_name || ' ' || data_type || ' max ' || maximum_value \
         FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY 1",
    ]
    .iter()
    .map(|q| query(db, q))
    .collect::<Vec<_>>()
    .join("\n")
}

const REVIEW_BODY: &str = "      body: { type: text, nullable: true }\n";

#[test]
fn a_sequence_of_spec_edits_migrates_to_the_schema_of_the_new_spec() {
    let shop = Shop::new();
    let mut expected = vec!["0001_init.sql".to_string()];
    let mut reversible = Vec::new();
    // Each edit writes `NNNN_<name>.sql` (and, for concurrent index builds, the files
    // after it), or `NNNN_<name>.up.sql` and `.down.sql` files when every step can be
    // undone; the schema reached must be the fresh one, and the down files, run last
    // first, must bring back the schema before the edit.
    let mut step = |edits: &[(&str, &str)], args: &[&str], name: &str| {
        let before = schema(&shop.migrated_db());
        shop.edit(edits);
        let out = shop.generate(args);
        let names = shop.migration_names();
        assert_eq!(names[..expected.len()], expected[..]);
        let stem = format!("{:04}_{name}", expected.len() + 1);
        let file = names[expected.len()].clone();
        assert!(
            file == format!("{stem}.sql") || file == format!("{stem}.up.sql"),
            "{file} is not {stem}.sql"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("wrote migrations/{file}")),
            "{}",
            output_text(&out)
        );
        let new: Vec<PathBuf> = shop.migrations()[expected.len()..].to_vec();
        // All the files of one migration are in one format.
        let ups = new
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".up.sql"))
            .count();
        assert!(ups == 0 || ups == new.len(), "{names:?}");
        expected = names;
        shop.assert_matches_fresh();
        if ups > 0 {
            reversible.push(name.to_string());
            let db = shop.migrated_db();
            for down in shop.downs_of(&new) {
                apply(&db, &down);
            }
            let back = schema(&db);
            assert!(
                back == before,
                "the down files of {name} do not bring back the schema before it:\n{}",
                diff_lines(&before, &back)
            );
        } else {
            assert!(
                shop.last_migration_main(&new[0])
                    .contains("-- No down migration"),
                "{}",
                shop.last_migration_main(&new[0])
            );
        }
    };

    // A nullable field.
    step(
        &[(
            REVIEW_BODY,
            "      body: { type: text, nullable: true }\n      title: { type: string, max_length: 80, nullable: true }\n",
        )],
        &[],
        "add_reviews_title",
    );
    // A field with a default.
    step(
        &[(
            "      is_static: { type: bool, default: false }\n",
            "      is_static: { type: bool, default: false }\n      stock: { type: int, default: 0, min: 0 }\n",
        )],
        &[],
        "update_products",
    );
    // An index.
    step(
        &[(
            "      - [category, sales]\n",
            "      - [category, sales]\n      - { columns: [name], unique: true }\n",
        )],
        &["--allow-destructive"],
        "add_index_products_name_key",
    );
    // A resource with a ref (and a unique field).
    step(
        &[(
            "    indexes: [[product_id]]\n",
            "    indexes: [[product_id]]\n\n  tags:\n    fields:\n      id: { type: serial, primary_key: true }\n      product_id: { type: ref, to: products, on_delete: cascade }\n      label: { type: string, max_length: 40, unique: true }\n",
        )],
        &[],
        "create_tags",
    );
    // A field renamed.
    step(
        &[(
            REVIEW_BODY,
            "      comment: { type: text, nullable: true, renamed_from: body }\n",
        )],
        &[],
        "rename_reviews_body_to_comment",
    );
    let rename = shop.last_migration();
    assert!(
        rename.contains(r#"ALTER TABLE "reviews" RENAME COLUMN "body" TO "comment";"#),
        "{rename}"
    );
    assert!(!rename.contains("DROP"), "{rename}");
    // A resource renamed: products → items (refs follow).
    step(
        &[
            ("  products:\n", "  items:\n    renamed_from: products\n"),
            ("to: products", "to: items"),
        ],
        &[],
        "rename_products_to_items",
    );
    let rename = shop.last_migration();
    assert!(
        !rename.contains("DROP") && !rename.contains("CREATE"),
        "{rename}"
    );
    insta::assert_snapshot!("rename_products_to_items", rename);
    let down = shop.downs_of(&shop.migrations()[shop.migrations().len() - 1..]);
    insta::assert_snapshot!(
        "rename_products_to_items_down",
        fs::read_to_string(&down[0]).unwrap()
    );
    // Defaults changed.
    step(
        &[
            (
                "sales: { type: int, default: 0 }",
                "sales: { type: int, default: 1 }",
            ),
            (
                "values: [pending, paid, shipped] , default: pending }",
                "values: [pending, paid, shipped, returned] , default: paid }",
            ),
        ],
        &[],
        "update_schema",
    );
    // Widened types, a nullable column, another on_delete.
    step(
        &[
            (
                "quantity: { type: int, min: 1 }",
                "quantity: { type: bigint, min: 1 }",
            ),
            (
                "name: { type: string, max_length: 200 }",
                "name: { type: string, max_length: 300 }",
            ),
            (
                "rating: { type: int, min: 1, max: 5 }",
                "rating: { type: int, min: 1, max: 5, nullable: true }",
            ),
            (
                "to: users, on_delete: cascade",
                "to: users, on_delete: restrict",
            ),
        ],
        &[],
        "update_schema",
    );
    // serial → bigserial (the sequence follows), a unique constraint added.
    step(
        &[(
            "      id: { type: serial, primary_key: true }\n      product_id: { type: ref, to: items",
            "      id: { type: bigserial, primary_key: true }\n      product_id: { type: ref, to: items",
        )],
        &[],
        "alter_tags_id",
    );
    step(
        &[(
            "      name: { type: string }\n",
            "      name: { type: string, unique: true }\n",
        )],
        &["--allow-destructive"],
        "alter_users_name",
    );
    // Indexes whose columns change under the same name (price is no longer sortable, so
    // its indexes lose the key): dropped and created again.
    step(
        &[(
            "allowed: [created_at, price, sales]",
            "allowed: [created_at, sales]",
        )],
        &[],
        "update_items",
    );
    // The drop runs in the main file, the build concurrently in a file of its own.
    let names = shop.migration_names();
    let main = names
        .iter()
        .position(|n| n.ends_with("_update_items.sql"))
        .unwrap();
    let file = |n: &String| fs::read_to_string(shop.dir.join("migrations").join(n)).unwrap();
    let reindex = file(&names[main]);
    assert!(
        reindex.contains(r#"DROP INDEX "items_price_idx";"#),
        "{reindex}"
    );
    let build = names[main + 1..]
        .iter()
        .map(file)
        .find(|f| f.contains(r#""items_price_idx" ON"#))
        .unwrap_or_else(|| panic!("no build of items_price_idx after {names:?}"));
    assert!(
        build.starts_with("-- no-transaction\n")
            && build.contains(
                r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "items_price_idx" ON "items" ("price");"#
            ),
        "{build}"
    );
    // bigserial → bigint: the default and the sequence go.
    step(
        &[(
            "  tags:\n    fields:\n      id: { type: bigserial, primary_key: true }\n",
            "  tags:\n    fields:\n      id: { type: bigint, primary_key: true }\n",
        )],
        &[],
        "alter_tags_id",
    );
    assert!(
        shop.last_migration()
            .contains(r#"DROP SEQUENCE "tags_id_seq";"#),
        "{}",
        shop.last_migration()
    );
    // A dropped resource: destructive.
    let tags = "\n  tags:\n    fields:\n      id: { type: bigint, primary_key: true }\n      product_id: { type: ref, to: items, on_delete: cascade }\n      label: { type: string, max_length: 40, unique: true }\n";
    shop.edit(&[(tags, "")]);
    let refused = shop.run(&["generate"]);
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("drop table tags: drops table `tags` and every row in it"),
        "{}",
        output_text(&refused)
    );
    step(&[], &["--allow-destructive"], "drop_tags");
    // A dropped field: refused without --allow-destructive, nothing written.
    let before = shop.snapshot();
    shop.edit(&[(
        "      title: { type: string, max_length: 80, nullable: true }\n",
        "",
    )]);
    let refused = shop.run(&["generate"]);
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    let text = output_text(&refused);
    assert!(text.contains("drop column reviews.title"), "{text}");
    assert!(text.contains("--allow-destructive"), "{text}");
    let after: Vec<_> = shop
        .snapshot()
        .into_iter()
        .filter(|(p, _)| !p.ends_with("apiforge.yaml"))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(p, _)| !p.ends_with("apiforge.yaml"))
        .collect();
    assert!(after == before, "a refused generate wrote something");
    step(&[], &["--allow-destructive"], "drop_reviews_title");
    insta::assert_snapshot!("drop_reviews_title", shop.last_migration());
    // Every change above that drops or creates nothing is reversible.
    assert_eq!(
        reversible,
        [
            "add_index_products_name_key",
            "rename_reviews_body_to_comment",
            "rename_products_to_items",
            "alter_tags_id",
            "alter_users_name",
        ]
    );
}

/// `- line` for the lines only `want` has, `+ line` for those only `got` has.
fn diff_lines(want: &str, got: &str) -> String {
    want.lines()
        .filter(|l| !got.lines().any(|g| g == *l))
        .map(|l| format!("- {l}"))
        .chain(
            got.lines()
                .filter(|l| !want.lines().any(|w| w == *l))
                .map(|l| format!("+ {l}")),
        )
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rows_survive_renames_and_new_columns() {
    let shop = Shop::new();
    let db = shop.migrated_db();
    query(
        &db,
        "INSERT INTO users (email, name, password_hash) VALUES ('a@example.com', 'Ann', 'x'); \
         INSERT INTO products (name, category, price) VALUES ('lamp', 'home', 9.50); \
         INSERT INTO reviews (product_id, rating, body) VALUES (1, 5, 'bright'); \
         INSERT INTO orders (user_id, product_id, quantity) SELECT id, 1, 2 FROM users",
    );
    shop.edit(&[
        (REVIEW_BODY, "      comment: { type: text, nullable: true, renamed_from: body }\n"),
        ("  products:\n", "  items:\n    renamed_from: products\n"),
        ("to: products", "to: items"),
        (
            "      is_static: { type: bool, default: false }\n",
            "      is_static: { type: bool, default: false }\n      stock: { type: int, default: 3 }\n",
        ),
    ]);
    shop.generate(&[]);
    assert_eq!(
        shop.migration_names(),
        ["0001_init.sql", "0002_update_schema.sql"]
    );
    apply(&db, shop.migrations().last().unwrap());
    assert_eq!(
        query(&db, "SELECT id, name, price, stock FROM items"),
        "1|lamp|9.50|3"
    );
    assert_eq!(
        query(&db, "SELECT product_id, rating, comment FROM reviews"),
        "1|5|bright"
    );
    assert_eq!(query(&db, "SELECT product_id, quantity FROM orders"), "1|2");
    // The renamed sequence keeps counting; the foreign keys still hold.
    assert_eq!(
        query(
            &db,
            "INSERT INTO items (name, category, price) VALUES ('desk', 'home', 90) RETURNING id"
        ),
        "2"
    );
    let orphan = Command::new("psql")
        .args(["-q", "-d", &db.url, "-c"])
        .arg("INSERT INTO reviews (product_id, rating) VALUES (99, 1)")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&orphan.stderr).contains("reviews_product_id_fkey"),
        "{}",
        output_text(&orphan)
    );
    shop.assert_matches_fresh();
}

#[test]
fn refusals_check_and_plan() {
    let shop = Shop::new();
    // NOT NULL without a default: refused, naming the field, nothing written.
    let before = shop.snapshot();
    shop.edit(&[(
        REVIEW_BODY,
        "      body: { type: text, nullable: true }\n      title: { type: string }\n",
    )]);
    let refused = shop.run(&["generate"]);
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    let text = output_text(&refused);
    assert!(
        text.contains("`reviews.title` NOT NULL without a default")
            && text.contains("give field `title` a `default` or `nullable: true`"),
        "{text}"
    );
    let unchanged = |a: &[(PathBuf, Vec<u8>)], b: &[(PathBuf, Vec<u8>)]| {
        let strip = |v: &[(PathBuf, Vec<u8>)]| -> Vec<(PathBuf, Vec<u8>)> {
            v.iter()
                .filter(|(p, _)| !p.ends_with("apiforge.yaml"))
                .cloned()
                .collect()
        };
        strip(a) == strip(b)
    };
    assert!(unchanged(&before, &shop.snapshot()));

    // A nullable field: --check reports the pending migration, plan prints its SQL.
    shop.edit(&[(
        "      title: { type: string }\n",
        "      title: { type: string, nullable: true }\n",
    )]);
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", output_text(&check));
    let text = output_text(&check);
    assert!(
        text.contains(
            "out of date: migrations/0002_add_reviews_title.sql (pending migration, 1 step)"
        ) && text.contains("out of date: .apiforge/schema.json")
            && text.contains("out of date: src/generated/models/reviews.rs"),
        "{text}"
    );
    let plan = shop.run(&["plan"]);
    assert!(plan.status.success(), "{}", output_text(&plan));
    let text = output_text(&plan);
    assert!(
        text.contains("update migrations/0002_add_reviews_title.sql (new migration)")
            && text.contains(r#"ALTER TABLE "reviews" ADD COLUMN "title" text;"#)
            && text.contains(
                "no down file: add column reviews.title: adds column `reviews.title`: its down \
                 would drop the column and the values written since"
            ),
        "{text}"
    );
    assert!(
        unchanged(&before, &shop.snapshot()),
        "plan and --check write nothing"
    );
    let out = shop.generate(&[]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("migration 0002_add_reviews_title.sql: 1 step"),
        "{}",
        output_text(&out)
    );
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(shop.dir.join(".apiforge/schema.json")).unwrap())
            .unwrap();
    assert_eq!(
        state["migrations"],
        serde_json::json!(["0001_init.sql", "0002_add_reviews_title.sql"])
    );
    let first = fs::read_to_string(shop.dir.join("migrations/0001_init.sql")).unwrap();
    assert!(
        !first.contains("title"),
        "the first migration is never rewritten"
    );
    assert!(
        shop.last_migration()
            .starts_with("-- @generated by apiforge — do not edit\n"),
        "{}",
        shop.last_migration()
    );

    // SET NOT NULL and a narrowed type are destructive too; plan lists them.
    shop.edit(&[
        (
            "      title: { type: string, nullable: true }\n",
            "      title: { type: string, default: untitled }\n",
        ),
        (
            "quantity: { type: int, min: 1 }",
            "quantity: { type: string }",
        ),
    ]);
    let plan = shop.run(&["plan"]);
    let text = output_text(&plan);
    assert!(
        text.contains("generate refuses these steps without --allow-destructive")
            && text.contains("make reviews.title NOT NULL")
            && text.contains("change the type of orders.quantity from integer to text"),
        "{text}"
    );
    let refused = shop.run(&["generate"]);
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    shop.generate(&["--allow-destructive"]);
    shop.assert_matches_fresh();
}

#[test]
fn a_renamed_table_and_its_renamed_unique_column_keep_rows_and_constraints() {
    let shop = Shop::new();
    let db = shop.migrated_db();
    query(
        &db,
        "INSERT INTO users (email, name, password_hash) VALUES ('a@example.com', 'Ann', 'x')",
    );
    shop.edit(&[
        ("  users:\n", "  accounts:\n    renamed_from: users\n"),
        ("to: users", "to: accounts"),
        (
            "email: { type: string, max_length: 320, unique: true }",
            "mail: { type: string, max_length: 320, unique: true, renamed_from: email }",
        ),
    ]);
    shop.generate(&[]);
    let sql = shop.last_migration();
    assert!(
        sql.contains(r#"ALTER TABLE "accounts" RENAME COLUMN "email" TO "mail";"#)
            && sql.contains(
                r#"ALTER TABLE "accounts" RENAME CONSTRAINT "users_email_key" TO "accounts_mail_key";"#
            ),
        "{sql}"
    );
    apply(&db, shop.migrations().last().unwrap());
    assert_eq!(
        query(&db, "SELECT mail, name FROM accounts"),
        "a@example.com|Ann"
    );
    let duplicate = Command::new("psql")
        .args(["-q", "-d", &db.url, "-c"])
        .arg("INSERT INTO accounts (mail, name, password_hash) VALUES ('a@example.com', 'B', 'y')")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&duplicate.stderr).contains("accounts_mail_key"),
        "{}",
        output_text(&duplicate)
    );
    shop.assert_matches_fresh();
}

// ---- Migrations checked against the data, zero downtime, recovery, drift ----

/// `psql -c SQL` against `db`; the output, whatever the status.
fn psql_try(db: &TestDb, sql: &str) -> Output {
    Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-At", "-d", &db.url, "-c"])
        .arg(sql)
        .output()
        .unwrap()
}

/// Users sharing a name, an order of 5, a review without a body.
fn seed(db: &TestDb) {
    query(
        db,
        "INSERT INTO users (email, name, password_hash) VALUES ('a@x', 'Ann', 'x'), ('b@x', 'Ann', 'y'); \
         INSERT INTO products (name, category, price) VALUES ('lamp', 'home', 9.50); \
         INSERT INTO orders (user_id, product_id, quantity) SELECT id, 1, 5 FROM users LIMIT 1; \
         INSERT INTO reviews (product_id, rating) VALUES (1, 4)",
    );
}

#[test]
fn steps_that_fail_on_existing_rows_are_refused_and_plan_counts_those_rows() {
    let shop = Shop::new();
    let db = shop.migrated_db();
    seed(&db);
    shop.edit(&[
        (
            "      name: { type: string }\n",
            "      name: { type: string, unique: true }\n",
        ),
        (
            "quantity: { type: int, min: 1 }",
            "quantity: { type: int, min: 1, max: 3 }",
        ),
        (REVIEW_BODY, "      body: { type: text }\n"),
        (
            "name: { type: string, max_length: 200 }",
            "name: { type: string, max_length: 3 }",
        ),
    ]);
    let before = shop.snapshot();
    let refused = shop.run(&["generate"]);
    assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
    let text = output_text(&refused);
    for why in [
        "makes `users.name` unique: fails if two rows hold the same `name`",
        "adds check `orders_quantity_check` (\"quantity\" >= 1 AND \"quantity\" <= 3): fails if a row of `orders` is outside it",
        "makes `reviews.body` NOT NULL: fails if a row holds NULL",
        "changes `products.name` from varchar(200) to varchar(3)",
    ] {
        assert!(text.contains(why), "missing {why:?} in\n{text}");
    }
    assert!(text.contains("Nothing was written."), "{text}");

    let plan = shop.run(&["plan", "--database-url", &db.url]);
    assert_eq!(plan.status.code(), Some(1), "{}", output_text(&plan));
    let text = output_text(&plan);
    for line in [
        "FAILS, 1 duplicate groups of users (name), for example:\n    (Ann,2)",
        "FAILS, 1 rows of orders outside orders_quantity_check",
        "FAILS, 1 rows of reviews where body is NULL",
        "FAILS, 1 rows of products whose name is longer than 3 characters",
        "4 steps would fail on the rows in the database",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // The same checks pass once the rows are fixed; plan wrote nothing.
    query(
        &db,
        "UPDATE users SET name = email; UPDATE orders SET quantity = 2; \
         UPDATE reviews SET body = 'ok'; UPDATE products SET name = 'l'",
    );
    let plan = shop.run(&["plan", "--database-url", &db.url]);
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));
    assert!(
        output_text(&plan).contains("ok, 0 duplicate groups of users (name)"),
        "{}",
        output_text(&plan)
    );
    let strip = |v: Vec<(PathBuf, Vec<u8>)>| -> Vec<(PathBuf, Vec<u8>)> {
        v.into_iter()
            .filter(|(p, _)| !p.ends_with("apiforge.yaml"))
            .collect()
    };
    assert!(
        strip(before) == strip(shop.snapshot()),
        "plan wrote nothing"
    );
    // Written with --allow-destructive, the migration applies to the fixed rows.
    shop.generate(&["--allow-destructive"]);
    for m in &shop.migrations()[1..] {
        apply(&db, m);
    }
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM pg_constraint WHERE conname IN \
             ('users_name_key', 'orders_quantity_check') AND convalidated"
        ),
        "2"
    );
    shop.assert_matches_fresh();
}

/// A psql session that holds a transaction open until dropped (or `finish`).
struct Session(std::process::Child);

impl Session {
    fn open(db: &TestDb, sql: &str) -> Self {
        use std::io::Write;
        let mut child = Command::new("psql")
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", &db.url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql}").unwrap();
        stdin.flush().unwrap();
        // Until the transaction is open and idle.
        for _ in 0..200 {
            let open = query(
                db,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'idle in transaction'",
            );
            if open == "1" {
                return Session(child);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the session did not open its transaction");
    }

    fn finish(mut self) {
        use std::io::Write;
        let mut stdin = self.0.stdin.take().unwrap();
        writeln!(stdin, "COMMIT;").unwrap();
        drop(stdin);
        assert!(self.0.wait().unwrap().success());
    }
}

/// Waits until a statement starting with `prefix` waits for a lock in `db`.
fn wait_until_waiting(db: &TestDb, prefix: &str) {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND query LIKE '{prefix}%' AND wait_event_type = 'Lock'"
    );
    for _ in 0..200 {
        if query(db, &sql) == "1" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no statement `{prefix}…` waiting for a lock");
}

#[test]
fn a_concurrent_index_build_lets_inserts_through() {
    let shop = Shop::new();
    let db = shop.migrated_db();
    seed(&db);
    shop.edit(&[(
        "      - [category, sales]\n",
        "      - [category, sales]\n      - [name]\n",
    )]);
    shop.generate(&[]);
    let names = shop.migration_names();
    let build = shop.dir.join("migrations").join(&names[2]);
    let sql = fs::read_to_string(&build).unwrap();
    assert!(sql.starts_with("-- no-transaction\n"), "{sql}");
    let statements: Vec<&str> = sql
        .lines()
        .filter(|l| !l.starts_with("--") && !l.trim().is_empty())
        .collect();
    assert_eq!(
        statements,
        [r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "products_name_idx" ON "products" ("name");"#],
        "one statement per no-transaction file"
    );
    apply(&db, &shop.dir.join("migrations").join(&names[1]));
    let insert = "SET lock_timeout = '1s'; \
                  INSERT INTO products (name, category, price) VALUES ('desk', 'home', 90)";

    // A writer's open transaction makes any index build wait; a concurrent build waits
    // without blocking the next insert.
    let writer = Session::open(
        &db,
        "BEGIN; INSERT INTO products (name, category, price) VALUES ('chair', 'home', 40);",
    );
    let url = db.url.clone();
    let builder = std::thread::spawn(move || try_apply_url(&url, &build));
    wait_until_waiting(&db, "-- no-transaction");
    let during = psql_try(&db, insert);
    assert!(during.status.success(), "{}", output_text(&during));
    writer.finish();
    let built = builder.join().unwrap();
    assert!(built.status.success(), "{}", output_text(&built));
    assert_eq!(
        query(
            &db,
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = 'products_name_idx'"
        ),
        "t"
    );

    // The contrast: a plain CREATE INDEX waiting the same way blocks the insert.
    let writer = Session::open(
        &db,
        "BEGIN; INSERT INTO products (name, category, price) VALUES ('stool', 'home', 20);",
    );
    let url = db.url.clone();
    let plain = std::thread::spawn(move || {
        Command::new("psql")
            .args(["-q", "-d", &url, "-c"])
            .arg("CREATE INDEX plain_idx ON products (category)")
            .output()
            .unwrap()
    });
    wait_until_waiting(&db, "CREATE INDEX plain_idx");
    let blocked = psql_try(&db, insert);
    assert!(
        String::from_utf8_lossy(&blocked.stderr).contains("lock timeout"),
        "{}",
        output_text(&blocked)
    );
    writer.finish();
    assert!(plain.join().unwrap().status.success());
    apply(&db, &shop.dir.join("migrations").join(&names[3]));
    query(&db, "DROP INDEX plain_idx");
}

#[test]
fn edited_missing_and_colliding_migrations_are_reported_with_what_to_do() {
    let shop = Shop::new();
    shop.edit(&[(
        REVIEW_BODY,
        "      body: { type: text, nullable: true }\n      title: { type: string, nullable: true }\n",
    )]);
    shop.generate(&[]);
    let file = shop.dir.join("migrations/0002_add_reviews_title.sql");
    let original = fs::read_to_string(&file).unwrap();

    // Edited.
    fs::write(&file, original.replace("text", "varchar(9)")).unwrap();
    let out = shop.run(&["generate"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out)
            .contains("migrations/0002_add_reviews_title.sql was changed after apiforge wrote it")
            && output_text(&out).contains("git checkout -- migrations/0002_add_reviews_title.sql"),
        "{}",
        output_text(&out)
    );
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", output_text(&check));

    // Missing.
    fs::remove_file(&file).unwrap();
    let out = shop.run(&["generate"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(
            "migrations/0002_add_reviews_title.sql is listed in .apiforge/schema.json but missing"
        ),
        "{}",
        output_text(&out)
    );
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", output_text(&check));
    fs::write(&file, &original).unwrap();
    shop.generate(&[]);

    // Two branches each wrote 0002: after the merge, the other branch's file is unlisted.
    fs::write(
        shop.dir.join("migrations/0002_add_users_age.sql"),
        "ALTER TABLE users ADD COLUMN age int;\n",
    )
    .unwrap();
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", output_text(&check));
    let text = output_text(&check);
    assert!(
        text.contains("version 2 is used by 2 files: migrations/0002_add_reviews_title.sql and migrations/0002_add_users_age.sql")
            && text.contains("delete migrations/0002_add_users_age.sql")
            && text.contains("migrations/0002_add_users_age.sql is not listed in .apiforge/schema.json and its version 2 is not after the last one (2)"),
        "{text}"
    );
    let out = shop.run(&["generate"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
}

#[test]
fn the_files_of_a_reversible_migration_are_checked_like_plain_ones() {
    let shop = Shop::new();
    shop.edit(&[(
        REVIEW_BODY,
        "      comment: { type: text, nullable: true, renamed_from: body }\n",
    )]);
    let plan = shop.run(&["plan"]);
    let text = output_text(&plan);
    assert!(
        text.contains(
            "update migrations/0002_rename_reviews_body_to_comment.down.sql (new migration)"
        ) && text.contains("reversible: each file has a down file"),
        "{text}"
    );
    shop.generate(&[]);
    let up = shop
        .dir
        .join("migrations/0002_rename_reviews_body_to_comment.up.sql");
    let down = shop
        .dir
        .join("migrations/0002_rename_reviews_body_to_comment.down.sql");
    assert!(up.exists() && down.exists());
    // The pair shares version 2 without being a duplicate (shop.generate ran --check).
    let plan = shop.run(&["plan"]);
    assert!(
        !output_text(&plan).contains("generate refuses"),
        "{}",
        output_text(&plan)
    );
    let original = fs::read_to_string(&down).unwrap();

    // The down file edited, then missing.
    fs::write(&down, original.replace("RENAME", "rename")).unwrap();
    let out = shop.run(&["generate"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(
            "migrations/0002_rename_reviews_body_to_comment.down.sql was changed after apiforge wrote it"
        ),
        "{}",
        output_text(&out)
    );
    fs::remove_file(&down).unwrap();
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", output_text(&check));
    assert!(
        output_text(&check).contains(
            "migrations/0002_rename_reviews_body_to_comment.down.sql is listed in .apiforge/schema.json but missing"
        ),
        "{}",
        output_text(&check)
    );
    fs::write(&down, &original).unwrap();

    // Another branch's reversible 0002: a duplicate version.
    for ext in ["up", "down"] {
        fs::write(
            shop.dir
                .join(format!("migrations/0002_add_users_age.{ext}.sql")),
            "SELECT 1;\n",
        )
        .unwrap();
    }
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", output_text(&check));
    assert!(
        output_text(&check).contains("version 2 is used by 4 files"),
        "{}",
        output_text(&check)
    );
    for ext in ["up", "down"] {
        fs::remove_file(
            shop.dir
                .join(format!("migrations/0002_add_users_age.{ext}.sql")),
        )
        .unwrap();
    }

    // The next migration comes after the pair.
    shop.edit(&[(
        "    indexes: [[product_id]]",
        "    indexes: [[product_id], [rating]]",
    )]);
    shop.generate(&[]);
    assert_eq!(
        shop.migration_names(),
        [
            "0001_init.sql",
            "0002_rename_reviews_body_to_comment.up.sql",
            "0003_add_index_reviews_rating_idx.up.sql",
            "0004_create_index_reviews_rating_idx.up.sql",
            "0005_validate_add_index_reviews_rating_idx.up.sql",
        ]
    );
}

/// sqlx's bookkeeping table, as `migrate!` leaves it, with `versions` applied.
fn record_applied(db: &TestDb, versions: &[i64]) {
    query(
        db,
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version bigint PRIMARY KEY, \
         description text NOT NULL, installed_on timestamptz NOT NULL DEFAULT now(), \
         success boolean NOT NULL, checksum bytea NOT NULL, execution_time bigint NOT NULL)",
    );
    for v in versions {
        query(
            db,
            &format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ({v}, 'm', true, '\\x00', 0)"
            ),
        );
    }
}

#[test]
fn redo_last_rewrites_a_migration_that_failed_at_start_up() {
    let shop = Shop::new();
    let db = shop.migrated_db();
    seed(&db);
    record_applied(&db, &[1]);
    // The migration fails on the review without a body, in its transaction.
    shop.edit(&[(REVIEW_BODY, "      body: { type: text }\n")]);
    shop.generate(&["--allow-destructive"]);
    // SET NOT NULL alone is reversible (its down drops NOT NULL).
    assert_eq!(
        shop.all_files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        [
            "0001_init.sql",
            "0002_alter_reviews_body.down.sql",
            "0002_alter_reviews_body.up.sql"
        ]
    );
    let failed = shop.migrations()[1].clone();
    assert!(!try_apply(&db, &failed).status.success());
    // Fixed in the spec, then rewritten: same version, new SQL, old file gone.
    shop.edit(&[(
        "      body: { type: text }\n",
        "      body: { type: text, default: none }\n",
    )]);
    let out = shop.run(&[
        "generate",
        "--redo-last",
        "--allow-destructive",
        "--database-url",
        &db.url,
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    // Filling the NULLs with the default cannot be undone: a plain file, and both files of
    // the reversible one it replaces are gone.
    let names: Vec<String> = shop
        .all_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["0001_init.sql", "0002_alter_reviews_body.sql"],
        "{}",
        output_text(&out)
    );
    assert!(
        output_text(&out).contains("deleted migrations/0002_alter_reviews_body.down.sql"),
        "{}",
        output_text(&out)
    );
    let sql = shop.last_migration();
    assert!(
        sql.contains("UPDATE \"reviews\" SET \"body\" = DEFAULT WHERE \"body\" IS NULL;"),
        "{sql}"
    );
    let check = shop.run(&["generate", "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", output_text(&check));
    apply(&db, &shop.migrations()[1]);
    assert_eq!(query(&db, "SELECT body FROM reviews"), "none");

    // Once the database applied it, redo is refused.
    record_applied(&db, &[2]);
    shop.edit(&[("default: none }", "default: empty }")]);
    let out = shop.run(&["generate", "--redo-last", "--database-url", &db.url]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("the database applied 0002_alter_reviews_body.sql"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn drift_reports_a_dropped_index_a_hand_added_column_and_a_changed_type() {
    let shop = Shop::new();
    let db = shop.migrated_db();
    let drift = |db: &TestDb| shop.run(&["drift", "--database-url", &db.url]);
    let clean = drift(&db);
    assert_eq!(clean.status.code(), Some(0), "{}", output_text(&clean));
    query(
        &db,
        "DROP INDEX products_price_idx; ALTER TABLE users ADD COLUMN nickname text; \
         ALTER TABLE orders ALTER COLUMN quantity TYPE bigint; CREATE INDEX products_x ON products (name)",
    );
    let out = drift(&db);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "missing index products_price_idx",
        "extra index products_x",
        "extra column users.nickname",
        "column orders.quantity: type bigint, expected integer",
        "4 differences",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
