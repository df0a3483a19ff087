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

    /// `migrations/*.sql`, in order.
    fn migrations(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.join("migrations"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        files
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

/// Runs a migration file with psql in one transaction (as sqlx does), stopping on error.
fn apply(db: &TestDb, file: &Path) {
    let out = Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "-1", "-q", "-d", &db.url, "-f"])
        .arg(file)
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{}: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        fs::read_to_string(file).unwrap()
    );
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
    let mut step = |edits: &[(&str, &str)], args: &[&str], name: &str| {
        shop.edit(edits);
        let out = shop.generate(args);
        let file = format!("{:04}_{name}.sql", expected.len() + 1);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("wrote migrations/{file}")),
            "{}",
            output_text(&out)
        );
        expected.push(file);
        assert_eq!(shop.migration_names(), expected);
        shop.assert_matches_fresh();
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
        &[],
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
        &[],
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
    let reindex = shop.last_migration();
    assert!(
        reindex.contains(r#"DROP INDEX "items_price_idx";"#)
            && reindex.contains(r#"CREATE INDEX "items_price_idx" ON "items" ("price");"#),
        "{reindex}"
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
            && text.contains(r#"ALTER TABLE "reviews" ADD COLUMN "title" text;"#),
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
