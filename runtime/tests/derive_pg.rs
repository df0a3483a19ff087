//! `#[derive(Resource)]` against a real Postgres: SQL-level field selection, row JSON,
//! `load_many` in one query whatever the number of keys, `load_many_by` groups.

mod support;

use apiforge_runtime::prelude::*;
use support::{QueryCounter, TestDb};

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, Resource)]
#[resource(table = "products")]
pub struct Product {
    #[resource(primary_key)]
    pub id: i64,
    pub name: String,
    pub category: String,
    /// A reserved word as a column: every identifier must be quoted.
    #[resource(column = "order")]
    #[sqlx(rename = "order")]
    pub position: i32,
    #[resource(hidden)]
    #[serde(skip)]
    pub internal_note: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow, Resource)]
#[resource(table = "reviews")]
pub struct Review {
    #[resource(primary_key)]
    pub id: i64,
    pub product_id: i64,
    pub rating: i32,
}

async fn seeded(products: i64) -> TestDb {
    let db = TestDb::new().await;
    db.exec(
        r#"CREATE TABLE products (
               id bigserial PRIMARY KEY, name text NOT NULL, category text NOT NULL,
               "order" integer NOT NULL, internal_note text);
           CREATE TABLE reviews (
               id bigserial PRIMARY KEY, product_id bigint NOT NULL REFERENCES products(id),
               rating integer NOT NULL);"#,
    )
    .await;
    sqlx::query(
        r#"INSERT INTO products (name, category, "order", internal_note)
           SELECT 'p' || i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, i, 'secret ' || i
           FROM generate_series(1, $1) AS i"#,
    )
    .bind(products)
    .execute(&db.pool)
    .await
    .unwrap();
    db
}

#[test]
fn constants_follow_attributes() {
    assert_eq!(Product::TABLE, "products");
    assert_eq!(Product::PRIMARY_KEY, "id");
    assert_eq!(Product::COLUMNS, ["id", "name", "category", "order"]);
    assert_eq!(Product::FIELDS, ["id", "name", "category", "position"]);
    assert_eq!(Product::HIDDEN, ["internal_note"]);
    assert_eq!(
        Product::ALL_COLUMNS,
        ["id", "name", "category", "order", "internal_note"]
    );
    let fields = Product::fields("position,id").unwrap();
    assert_eq!(
        Product::select_sql(&fields),
        r#"SELECT "id", "order" FROM "products""#
    );
}

#[tokio::test]
async fn field_selected_rows_serialize_only_selected_columns() {
    let db = seeded(3).await;
    let fields = Product::fields("position,name").unwrap();
    let sql = format!("{} WHERE \"id\" = $1", Product::select_sql(&fields));
    let row = sqlx::query(&sql)
        .bind(2_i64)
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let json = serde_json::to_string(&Product::serialize_row_fields(&row, &fields)).unwrap();
    assert_eq!(json, r#"{"name":"p2","position":2}"#);

    let mut out = Vec::new();
    Product::write_row_json(&row, &fields, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), json);

    // The same field selection applied to a fully decoded value writes the same JSON.
    let full = Product::load_many(&db.pool, &[2])
        .await
        .unwrap()
        .remove(&2)
        .unwrap();
    assert_eq!(
        serde_json::to_string(&full.to_json_fields(&fields)).unwrap(),
        json
    );
}

#[tokio::test]
async fn rows_written_by_position_match_rows_written_by_name() {
    use apiforge_runtime::engine::json::{Positions, full_row, write_object, write_object_at};
    let db = seeded(4).await;
    // Columns in another order than the fields, with one more: positions come from the row.
    let rows = sqlx::query(
        r#"SELECT "internal_note", "order", "category", "name", "id" FROM "products" ORDER BY "id""#,
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for fields in [
        FieldSet::all::<Product>(),
        Product::fields("position,name").unwrap(),
    ] {
        let (mut by_name, mut by_position) = (Vec::new(), Vec::new());
        let mut positions = Positions::default();
        for row in &rows {
            write_object::<Product>(row, &fields, &mut by_name, |_| Ok(())).unwrap();
            write_object_at::<Product>(row, &fields, &mut positions, &mut by_position, |_| Ok(()))
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(by_position).unwrap(),
            String::from_utf8(by_name).unwrap()
        );
    }
    let (mut full, mut positions) = (Vec::new(), Positions::default());
    for row in &rows[..2] {
        full_row::<Product>(row, &mut positions, &mut full).unwrap();
    }
    assert_eq!(
        String::from_utf8(full).unwrap(),
        r#"{"id":1,"name":"p1","category":"odd","position":1}{"id":2,"name":"p2","category":"even","position":2}"#
    );
    // A row without a selected column is an error, not a panic.
    let short = sqlx::query(r#"SELECT "id" FROM "products""#)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let err = full_row::<Product>(&short, &mut Positions::default(), &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
}

#[tokio::test]
async fn hidden_columns_are_loaded_but_never_selectable_or_serialized() {
    let db = seeded(1).await;
    let p = Product::load_many(&db.pool, &[1])
        .await
        .unwrap()
        .remove(&1)
        .unwrap();
    assert_eq!(p.internal_note.as_deref(), Some("secret 1"));

    let all = FieldSet::all::<Product>();
    let json = serde_json::to_value(p.to_json_fields(&all)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": 1, "name": "p1", "category": "odd", "position": 1})
    );
    let err = Product::fields("id,internal_note").unwrap_err();
    assert!(matches!(err, FieldError::Hidden { .. }), "{err}");
}

#[tokio::test]
async fn a_row_missing_a_selected_column_is_an_error_not_a_panic() {
    let db = seeded(1).await;
    let row = sqlx::query(r#"SELECT "id" FROM "products""#)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let fields = Product::fields("id,name").unwrap();
    let err = serde_json::to_string(&Product::serialize_row_fields(&row, &fields)).unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
}

#[tokio::test]
async fn load_many_is_one_query_for_any_number_of_keys() {
    let db = seeded(500).await;
    let queries = QueryCounter::install();
    for n in [1_i64, 2, 17, 499, 500] {
        let mut keys: Vec<i64> = (1..=n).collect();
        keys.push(10_000); // missing keys are simply absent
        keys.push(1); // duplicates are harmless
        queries.reset();
        let found = Product::load_many(&db.pool, &keys).await.unwrap();
        assert_eq!(queries.get(), 1, "{n} keys");
        assert_eq!(found.len() as i64, n);
        assert_eq!(found[&n].name, format!("p{n}"));
        assert!(!found.contains_key(&10_000));
    }
    queries.reset();
    assert!(Product::load_many(&db.pool, &[]).await.unwrap().is_empty());
    assert_eq!(queries.get(), 0, "no keys, no query");
}

#[tokio::test]
async fn load_many_by_groups_children_in_one_query() {
    let db = seeded(3).await;
    db.exec("INSERT INTO reviews (product_id, rating) VALUES (1, 5), (2, 3), (1, 4), (1, 1)")
        .await;
    let queries = QueryCounter::install();
    let groups = Review::load_many_by(&db.pool, "product_id", &[1_i64, 2, 3], |r| r.product_id)
        .await
        .unwrap();
    assert_eq!(queries.get(), 1);
    let ratings = |k: i64| groups[&k].iter().map(|r| r.rating).collect::<Vec<_>>();
    assert_eq!(ratings(1), [5, 4, 1]);
    assert_eq!(ratings(2), [3]);
    assert!(!groups.contains_key(&3));

    let err = Review::load_many_by(&db.pool, "product_id; DROP TABLE reviews", &[1_i64], |r| {
        r.product_id
    })
    .await
    .unwrap_err();
    assert!(matches!(err, sqlx::Error::ColumnNotFound(_)));
}
