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
