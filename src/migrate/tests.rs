use std::collections::BTreeMap;
use std::path::Path;

use super::diff::{Change, Renames, diff, rename_quoted};
use super::sql::{step, widens};
use super::state::SchemaState;
use crate::model::Model;
use crate::spec::Spec;

fn shop_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml"))
        .unwrap()
}

fn load(yaml: &str) -> (Spec, Model) {
    let loaded = crate::spec::load_bytes(Path::new("shop.yaml"), yaml.as_bytes())
        .unwrap_or_else(|r| panic!("{r}"));
    let model = Model::from_spec(&loaded.spec);
    (loaded.spec, model)
}

/// The SQL of the migration from shop.yaml to `edit(shop.yaml)`.
fn migrate(edit: impl Fn(String) -> String) -> Vec<String> {
    let (_, old_model) = load(&shop_yaml());
    let old = SchemaState::of(&old_model, vec!["0001_init.sql".into()]);
    // The old side as `generate` reads it: from JSON.
    let old: SchemaState = serde_json::from_str(&old.to_json()).unwrap();
    let edited = edit(shop_yaml());
    let (spec, model) = load(&edited);
    let new = SchemaState::of(&model, old.migrations.clone());
    let d = diff(&old, &new, &Renames::of(&spec, &model)).unwrap();
    d.changes.iter().map(|c| step(c).sql).collect()
}

#[test]
fn state_round_trips_through_json() {
    let (_, model) = load(&shop_yaml());
    let state = SchemaState::of(&model, vec!["0001_init.sql".into()]);
    let back: SchemaState = serde_json::from_str(&state.to_json()).unwrap();
    assert_eq!(back.to_json(), state.to_json());
    let d = diff(&back, &state, &Renames::default()).unwrap();
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn added_column_unique_and_index() {
    let sql = migrate(|y| {
        y.replacen(
            "      body: { type: text, nullable: true }\n    indexes: [[product_id]]",
            "      body: { type: text, nullable: true }\n      code: { type: string, max_length: 20, unique: true, nullable: true }\n    indexes: [[product_id], [rating]]",
            1,
        )
    });
    assert_eq!(
        sql,
        [
            r#"ALTER TABLE "reviews" ADD COLUMN "code" varchar(20);"#,
            r#"ALTER TABLE "reviews" ADD CONSTRAINT "reviews_code_key" UNIQUE ("code");"#,
            r#"CREATE INDEX "reviews_rating_idx" ON "reviews" ("rating");"#,
        ]
    );
}

#[test]
fn renamed_table_takes_its_constraints_indexes_and_sequence_along() {
    let sql = migrate(|y| {
        y.replace("  reviews:\n", "  feedback:\n    renamed_from: reviews\n")
            .replace("count: reviews", "count: feedback")
            .replace("avg: reviews.rating", "avg: feedback.rating")
    });
    assert_eq!(
        sql,
        [
            r#"ALTER TABLE "reviews" RENAME TO "feedback";"#,
            r#"ALTER SEQUENCE "reviews_id_seq" RENAME TO "feedback_id_seq";"#,
            r#"ALTER TABLE "feedback" RENAME CONSTRAINT "reviews_pkey" TO "feedback_pkey";"#,
            r#"ALTER INDEX "reviews_product_id_idx" RENAME TO "feedback_product_id_idx";"#,
            r#"ALTER TABLE "feedback" RENAME CONSTRAINT "reviews_rating_check" TO "feedback_rating_check";"#,
            r#"ALTER TABLE "feedback" RENAME CONSTRAINT "reviews_product_id_fkey" TO "feedback_product_id_fkey";"#,
        ]
    );
}

#[test]
fn renamed_column_renames_its_check() {
    let sql = migrate(|y| {
        y.replacen(
            "      rating: { type: int, min: 1, max: 5 }",
            "      stars: { type: int, min: 1, max: 5, renamed_from: rating }",
            1,
        )
        .replace("avg: reviews.rating", "avg: reviews.stars")
    });
    assert_eq!(
        sql,
        [
            r#"ALTER TABLE "reviews" RENAME COLUMN "rating" TO "stars";"#,
            r#"ALTER TABLE "reviews" RENAME CONSTRAINT "reviews_rating_check" TO "reviews_stars_check";"#,
        ]
    );
}

#[test]
fn dropped_and_changed_columns_are_destructive_and_ordered() {
    let (_, old_model) = load(&shop_yaml());
    let old = SchemaState::of(&old_model, vec![]);
    let edited = shop_yaml()
        .replacen("      body: { type: text, nullable: true }\n", "", 1)
        .replacen(
            "quantity: { type: int, min: 1 }",
            "quantity: { type: bigint, min: 2 }",
            1,
        )
        .replacen(
            "sales: { type: int, default: 0 }",
            "sales: { type: int, default: 1 }",
            1,
        );
    let (spec, model) = load(&edited);
    let new = SchemaState::of(&model, vec![]);
    let d = diff(&old, &new, &Renames::of(&spec, &model)).unwrap();
    let steps: Vec<_> = d.changes.iter().map(step).collect();
    let sql: Vec<&str> = steps.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(
        sql,
        [
            r#"ALTER TABLE "orders" DROP CONSTRAINT "orders_quantity_check";"#,
            r#"ALTER TABLE "reviews" DROP COLUMN "body";"#,
            r#"ALTER TABLE "products" ALTER COLUMN "sales" SET DEFAULT 1;"#,
            r#"ALTER TABLE "orders" ALTER COLUMN "quantity" TYPE bigint;"#,
            r#"ALTER TABLE "orders" ADD CONSTRAINT "orders_quantity_check" CHECK ("quantity" >= 2);"#,
        ]
    );
    let destructive: Vec<_> = steps.iter().filter(|s| s.destructive.is_some()).collect();
    // Dropping a column loses data; the raised `min` fails on the rows below it.
    assert_eq!(destructive.len(), 2, "{destructive:?}");
    assert!(destructive[0].what.contains("reviews.body"));
    assert!(destructive[1].what.contains("orders_quantity_check"));
    assert!(
        destructive[1]
            .check
            .as_ref()
            .is_some_and(|c| c.count_sql.contains(r#"WHERE NOT ("quantity" >= 2)"#)),
        "{destructive:?}"
    );
    assert!(matches!(d.changes[1], Change::DropColumn { .. }));
}

#[test]
fn not_null_without_default_is_flagged_naming_the_field() {
    let sql_steps = {
        let (_, old_model) = load(&shop_yaml());
        let old = SchemaState::of(&old_model, vec![]);
        let (spec, model) = load(&shop_yaml().replacen(
            "      body: { type: text, nullable: true }\n",
            "      body: { type: text, nullable: true }\n      title: { type: string }\n",
            1,
        ));
        let new = SchemaState::of(&model, vec![]);
        let d = diff(&old, &new, &Renames::of(&spec, &model)).unwrap();
        d.changes.iter().map(step).collect::<Vec<_>>()
    };
    let why = sql_steps[0].destructive.as_deref().unwrap();
    assert!(why.contains("`title`") && why.contains("default") && why.contains("nullable"));
}

#[test]
fn widening_is_not_destructive() {
    assert!(widens("integer", "bigint"));
    assert!(widens("serial", "bigserial"));
    assert!(widens("varchar(10)", "varchar(20)"));
    assert!(widens("varchar(10)", "text"));
    assert!(widens("numeric(10,2)", "numeric(12,3)"));
    assert!(widens("numeric(10,2)", "numeric"));
    assert!(!widens("numeric(10,2)", "numeric(10,3)"));
    assert!(!widens("bigint", "integer"));
    assert!(!widens("text", "varchar(10)"));
    assert!(!widens("varchar(20)", "varchar(10)"));
    assert!(!widens("text", "integer"));
}

#[test]
fn quoted_identifiers_are_renamed_outside_literals() {
    let map = BTreeMap::from([("a".to_string(), "b".to_string())]);
    assert_eq!(
        rename_quoted(r#""a" >= 1 AND "a" IN ('"a"', 'it''s') AND "ab" > 0"#, &map),
        r#""b" >= 1 AND "b" IN ('"a"', 'it''s') AND "ab" > 0"#
    );
}

#[test]
fn loosened_checks_are_implied_and_tightened_ones_are_not() {
    use super::sql::check_implied;
    let old = r#""rating" >= 1 AND "rating" <= 5"#;
    assert!(check_implied(old, r#""rating" >= 0 AND "rating" <= 10"#));
    assert!(!check_implied(old, r#""rating" >= 2 AND "rating" <= 5"#));
    assert!(!check_implied(old, r#""rating" >= 1 AND "rating" <= 4"#));
    let enums = r#""status" IN ('a', 'b')"#;
    assert!(check_implied(enums, r#""status" IN ('a', 'b', 'c')"#));
    assert!(!check_implied(enums, r#""status" IN ('a')"#));
    assert!(!check_implied(
        r#"char_length("t") <= 10"#,
        r#"char_length("t") <= 5"#
    ));
}

#[test]
fn type_changes_that_rewrite_the_table_are_flagged() {
    use super::sql::rewrites;
    assert!(rewrites("integer", "bigint"));
    assert!(rewrites("serial", "bigserial"));
    assert!(!rewrites("varchar(10)", "varchar(20)"));
    assert!(!rewrites("varchar(10)", "text"));
    assert!(!rewrites("numeric(10,2)", "numeric(12,2)"));
    assert!(rewrites("numeric(10,2)", "numeric(12,4)"));
}

/// The migration `generate` would write from shop.yaml to `edit(shop.yaml)`, numbered 2.
fn migration(edit: impl Fn(String) -> String) -> super::Migration {
    let (_, old_model) = load(&shop_yaml());
    let old = SchemaState::of(&old_model, vec!["0001_init.sql".into()]);
    let old: SchemaState = serde_json::from_str(&old.to_json()).unwrap();
    let (spec, model) = load(&edit(shop_yaml()));
    let pending = super::pending_from(Path::new("/nonexistent"), old, &spec, &model, &[]).unwrap();
    let m = pending.migration.expect("a migration");
    // The state lists every file written, downs included.
    let names: Vec<String> = m.files().into_iter().map(|f| f.name).collect();
    assert_eq!(pending.state.migrations[1..], names[..]);
    m
}

/// `(file name, contents)` of each file.
fn files(m: &super::Migration) -> Vec<(String, String)> {
    m.files()
        .into_iter()
        .map(|f| (f.name, f.contents))
        .collect()
}

/// The SQL statements of a file, comments and blank lines left out.
fn statements(contents: &str) -> Vec<&str> {
    contents
        .lines()
        .filter(|l| !l.starts_with("--") && !l.trim().is_empty())
        .collect()
}

#[test]
fn undo_classifies_each_change() {
    use super::diff::ConstraintKind;
    use super::sql::Undo;
    use super::state::{CheckState, ColumnState, ForeignKeyState, IndexState, TableState};
    let t = || "t".to_string();
    let c = || "c".to_string();
    let column = ColumnState {
        name: c(),
        ddl_type: "integer".into(),
        nullable: true,
        ..ColumnState::default()
    };
    let reversible = [
        (
            Change::RenameTable {
                from: "a".into(),
                to: "b".into(),
            },
            r#"ALTER TABLE "b" RENAME TO "a";"#,
        ),
        (
            Change::RenameColumn {
                table: t(),
                from: "a".into(),
                to: "b".into(),
            },
            r#"ALTER TABLE "t" RENAME COLUMN "b" TO "a";"#,
        ),
        (
            Change::RenameSequence {
                from: "a_seq".into(),
                to: "b_seq".into(),
            },
            r#"ALTER SEQUENCE "b_seq" RENAME TO "a_seq";"#,
        ),
        (
            Change::RenameConstraint {
                table: t(),
                from: "a".into(),
                to: "b".into(),
            },
            r#"ALTER TABLE "t" RENAME CONSTRAINT "b" TO "a";"#,
        ),
        (
            Change::RenameIndex {
                from: "a".into(),
                to: "b".into(),
            },
            r#"ALTER INDEX "b" RENAME TO "a";"#,
        ),
        (
            Change::CreateIndex {
                table: t(),
                index: IndexState {
                    name: "t_c_idx".into(),
                    columns: vec![c()],
                    ..IndexState::default()
                },
            },
            r#"DROP INDEX IF EXISTS "t_c_idx";"#,
        ),
        (
            Change::AddUnique {
                table: t(),
                column: c(),
            },
            r#"ALTER TABLE "t" DROP CONSTRAINT IF EXISTS "t_c_key";"#,
        ),
        (
            Change::AddCheck {
                table: t(),
                check: CheckState {
                    name: "t_c_check".into(),
                    expr: r#""c" >= 0"#.into(),
                },
            },
            r#"ALTER TABLE "t" DROP CONSTRAINT IF EXISTS "t_c_check";"#,
        ),
        (
            Change::AddForeignKey {
                table: t(),
                fk: ForeignKeyState {
                    name: "t_c_fkey".into(),
                    column: c(),
                    references: "u".into(),
                    on_delete: "CASCADE".into(),
                    sql: String::new(),
                },
            },
            r#"ALTER TABLE "t" DROP CONSTRAINT IF EXISTS "t_c_fkey";"#,
        ),
        (
            Change::AddPrimaryKey {
                table: t(),
                column: c(),
            },
            r#"ALTER TABLE "t" DROP CONSTRAINT IF EXISTS "t_pkey";"#,
        ),
        (
            Change::DropNotNull {
                table: t(),
                column: c(),
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" SET NOT NULL;"#,
        ),
        (
            Change::SetNotNull {
                table: t(),
                column: c(),
                fill_default: false,
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" DROP NOT NULL;"#,
        ),
        (
            Change::SetDefault {
                table: t(),
                column: c(),
                default: "1".into(),
                from: None,
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" DROP DEFAULT;"#,
        ),
        (
            Change::SetDefault {
                table: t(),
                column: c(),
                default: "1".into(),
                from: Some("0".into()),
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" SET DEFAULT 0;"#,
        ),
        (
            Change::DropDefault {
                table: t(),
                column: c(),
                from: "'x'".into(),
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" SET DEFAULT 'x';"#,
        ),
        (
            Change::AlterType {
                table: t(),
                column: c(),
                from: "integer".into(),
                to: "bigint".into(),
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" TYPE integer;"#,
        ),
        (
            Change::AlterType {
                table: t(),
                column: c(),
                from: "serial".into(),
                to: "bigserial".into(),
            },
            "ALTER SEQUENCE \"t_c_seq\" AS integer;\nALTER TABLE \"t\" ALTER COLUMN \"c\" TYPE integer;",
        ),
        (
            Change::AlterType {
                table: t(),
                column: c(),
                from: "varchar(10)".into(),
                to: "text".into(),
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" TYPE varchar(10);"#,
        ),
        (
            Change::AlterType {
                table: t(),
                column: c(),
                from: "numeric(10,2)".into(),
                to: "numeric(12,2)".into(),
            },
            r#"ALTER TABLE "t" ALTER COLUMN "c" TYPE numeric(10,2);"#,
        ),
    ];
    for (change, down) in reversible {
        assert_eq!(change.undo(), Undo::Sql(down.to_string()), "{change:?}");
        // `step` carries the verdict.
        assert_eq!(step(&change).undo, change.undo());
    }
    let alter = |from: &str, to: &str| Change::AlterType {
        table: t(),
        column: c(),
        from: from.into(),
        to: to.into(),
    };
    let lossy = [
        Change::CreateTable {
            table: TableState {
                name: t(),
                ..TableState::default()
            },
        },
        Change::DropTable { table: t() },
        Change::AddColumn {
            table: t(),
            column: column.clone(),
        },
        Change::DropColumn {
            table: t(),
            column: c(),
        },
        Change::DropIndex {
            table: t(),
            name: "t_c_idx".into(),
        },
        Change::DropConstraint {
            table: t(),
            name: "t_c_check".into(),
            kind: ConstraintKind::Check,
        },
        Change::SetNotNull {
            table: t(),
            column: c(),
            fill_default: true,
        },
        // Narrowing, or changing back would round or truncate.
        alter("bigint", "integer"),
        alter("text", "varchar(10)"),
        alter("integer", "double precision"),
        alter("integer", "numeric(12,2)"),
        alter("numeric(10,2)", "numeric(12,3)"),
        alter("numeric(10,2)", "numeric"),
        alter("bigserial", "bigint"),
    ];
    for change in lossy {
        assert!(
            matches!(change.undo(), Undo::Lossy(ref why) if !why.is_empty()),
            "{change:?}: {:?}",
            change.undo()
        );
    }
}

#[test]
fn an_index_on_an_existing_table_is_reversible_with_a_concurrent_drop() {
    let m = migration(|y| {
        y.replacen(
            "    indexes: [[product_id]]",
            "    indexes: [[product_id], [rating]]",
            1,
        )
    });
    assert!(m.reversible());
    let files = files(&m);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "0002_add_index_reviews_rating_idx.up.sql",
            "0002_add_index_reviews_rating_idx.down.sql",
            "0003_create_index_reviews_rating_idx.up.sql",
            "0003_create_index_reviews_rating_idx.down.sql",
            "0004_validate_add_index_reviews_rating_idx.up.sql",
            "0004_validate_add_index_reviews_rating_idx.down.sql",
        ]
    );
    assert_eq!(m.file_name(), names[0]);
    // The build's down is, like the build, one statement outside a transaction.
    let build_down = &files[3].1;
    assert!(
        build_down.starts_with("-- no-transaction\n"),
        "{build_down}"
    );
    assert_eq!(
        statements(build_down),
        [r#"DROP INDEX CONCURRENTLY IF EXISTS "reviews_rating_idx";"#]
    );
    // The other downs have nothing to undo: a transaction with the lock timeout only.
    for (name, down) in [&files[1], &files[5]] {
        assert_eq!(
            statements(down),
            ["SET LOCAL lock_timeout = '5s';"],
            "{name}: {down}"
        );
    }
    assert!(!files[0].1.contains("No down migration"), "{}", files[0].1);
}

#[test]
fn renames_are_undone_last_first() {
    let m = migration(|y| {
        y.replace("  reviews:\n", "  feedback:\n    renamed_from: reviews\n")
            .replace("count: reviews", "count: feedback")
            .replace("avg: reviews.rating", "avg: feedback.rating")
    });
    let files = files(&m);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].0, "0002_rename_reviews_to_feedback.up.sql");
    assert_eq!(files[1].0, "0002_rename_reviews_to_feedback.down.sql");
    assert_eq!(
        statements(&files[1].1),
        [
            "SET LOCAL lock_timeout = '5s';",
            r#"ALTER TABLE "feedback" RENAME CONSTRAINT "feedback_product_id_fkey" TO "reviews_product_id_fkey";"#,
            r#"ALTER TABLE "feedback" RENAME CONSTRAINT "feedback_rating_check" TO "reviews_rating_check";"#,
            r#"ALTER INDEX "feedback_product_id_idx" RENAME TO "reviews_product_id_idx";"#,
            r#"ALTER TABLE "feedback" RENAME CONSTRAINT "feedback_pkey" TO "reviews_pkey";"#,
            r#"ALTER SEQUENCE "feedback_id_seq" RENAME TO "reviews_id_seq";"#,
            r#"ALTER TABLE "feedback" RENAME TO "reviews";"#,
        ]
    );
}

#[test]
fn a_unique_field_is_undone_by_dropping_its_constraint_first() {
    let m = migration(|y| {
        y.replacen(
            "      name: { type: string }\n",
            "      name: { type: string, unique: true }\n",
            1,
        )
    });
    assert!(m.reversible());
    let files = files(&m);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "0002_alter_users_name.up.sql",
            "0002_alter_users_name.down.sql",
            "0003_create_index_users_name_key.up.sql",
            "0003_create_index_users_name_key.down.sql",
            "0004_validate_alter_users_name.up.sql",
            "0004_validate_alter_users_name.down.sql",
        ]
    );
    // Reverted last version first: the constraint (and the index it owns), then the
    // build's down finds nothing left.
    assert_eq!(
        statements(&files[5].1),
        [
            "SET LOCAL lock_timeout = '5s';",
            r#"ALTER TABLE "users" DROP CONSTRAINT IF EXISTS "users_name_key";"#,
        ]
    );
    assert_eq!(
        statements(&files[3].1),
        [r#"DROP INDEX CONCURRENTLY IF EXISTS "users_name_key";"#]
    );
}

#[test]
fn a_migration_with_a_lossy_step_is_simple_and_says_why() {
    let m = migration(|y| {
        y.replacen(
            "      body: { type: text, nullable: true }\n",
            "      body: { type: text, nullable: true }\n      title: { type: string, nullable: true }\n",
            1,
        )
        .replacen("    indexes: [[product_id]]", "    indexes: [[product_id], [rating]]", 1)
    });
    assert!(!m.reversible());
    let files = files(&m);
    assert!(
        files.iter().all(|(n, _)| n.ends_with(".sql")
            && !n.ends_with(".up.sql")
            && !n.ends_with(".down.sql")),
        "{files:?}"
    );
    assert_eq!(files[0].0, "0002_update_reviews.sql");
    let main = &files[0].1;
    assert!(
        main.contains("-- No down migration (sqlx's `.down.sql`): these steps cannot be undone without\n-- losing data:\n--   add column reviews.title: adds column `reviews.title`: its down would drop the column and the values written since\n"),
        "{main}"
    );
    // Only the lossy step is named.
    assert!(!main.contains("--   create index"), "{main}");
}
