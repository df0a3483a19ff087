//! SPEC.md's derive example, verbatim, in a crate depending only on apiforge-runtime
//! (plus serde and sqlx for their own derives), with every item the SPEC lists.
use apiforge_runtime::prelude::*;

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, Resource)]
#[resource(table = "products")]
pub struct Product {
    #[resource(primary_key)]
    pub id: i64,
    pub name: String,
    pub category: String,
    #[resource(hidden)]
    pub internal_note: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow, Resource)]
#[resource(table = "order")]
pub struct Order {
    #[resource(primary_key, column = "order_id")]
    #[sqlx(rename = "order_id")]
    pub r#id: uuid_like::Id,
    #[resource(skip)]
    #[sqlx(skip)]
    pub memo: Option<String>,
}

/// `#[sqlx(rename)]` and `#[sqlx(skip)]` are understood, so the two derives agree.
#[derive(Debug, Clone, sqlx::FromRow, Resource)]
#[resource(table = "events")]
pub struct Event {
    #[resource(primary_key)]
    pub id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    #[sqlx(skip)]
    pub seen: bool,
}

mod uuid_like {
    /// Any key type sqlx can bind as an array works.
    pub type Id = String;
}

async fn load(pool: &sqlx::PgPool) -> Result<(), Problem> {
    let fields = FieldSet::parse::<Product>("id,name")?;
    let _sql: String = Product::select_sql(&fields);
    let by_id: std::collections::HashMap<i64, Product> = Product::load_many(pool, &[1, 2]).await?;
    let loader: Loader<i64, Product> = Loader::new(pool.clone());
    let _one: Option<Product> = loader.load(1).await?;
    for product in by_id.values() {
        let _json = serde_json::to_string(&product.to_json_fields(&fields)).unwrap();
    }
    let _orders = Order::load_many(pool, &["a".to_owned()]).await?;
    Ok(())
}

fn main() {
    assert_eq!(Product::TABLE, "products");
    assert_eq!(Product::COLUMNS, ["id", "name", "category"]);
    assert_eq!(Order::PRIMARY_KEY, "order_id");
    assert_eq!(Order::FIELDS, ["id"]);
    assert_eq!(Order::ALL_COLUMNS, ["order_id"]);
    assert_eq!(Event::COLUMNS, ["id", "type"]);
    assert_eq!(Event::FIELDS, ["id", "kind"]);
    let _ = load;
}
