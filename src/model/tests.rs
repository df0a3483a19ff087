use std::path::Path;

use super::*;

fn shop() -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
    let loaded = crate::spec::load(&path).expect("shop.yaml is valid");
    Model::from_spec(&loaded.spec)
}

#[test]
fn names_and_types_resolve() {
    let m = shop();
    let names: Vec<_> = m.resources.iter().map(|r| r.struct_name.as_str()).collect();
    assert_eq!(names, ["User", "Product", "Order", "Review"]);
    let orders = m.resource("orders").unwrap();
    let user_id = orders.fields.iter().find(|f| f.name == "user_id").unwrap();
    assert_eq!(user_id.rust_type, "uuid::Uuid");
    assert_eq!(user_id.ddl_type, "uuid");
    let product_id = orders
        .fields
        .iter()
        .find(|f| f.name == "product_id")
        .unwrap();
    assert_eq!(
        (product_id.rust_type.as_str(), product_id.ddl_type.as_str()),
        ("i64", "bigint")
    );
    let status = orders.fields.iter().find(|f| f.name == "status").unwrap();
    assert_eq!(status.rust_type, "OrderStatus");
    assert_eq!(status.default_sql.as_deref(), Some("'pending'"));
    assert!(orders.pk.readonly, "a bigserial key is server-set");
    assert_eq!(orders.readonly_fields, ["id", "created_at"]);
    let price = m
        .resource("products")
        .unwrap()
        .fields
        .iter()
        .find(|f| f.name == "price")
        .unwrap()
        .clone();
    assert_eq!(
        (price.ddl_type.as_str(), price.rust_type.as_str()),
        ("numeric(10,2)", "rust_decimal::Decimal")
    );
    assert!(m.uses.uuid && m.uses.chrono && m.uses.decimal);
    assert!(
        !m.uses.json,
        "no json field: aggregates are read back as text"
    );
}

#[test]
fn relations_are_linked_both_ways() {
    let m = shop();
    let products = m.resource("products").unwrap();
    let children: Vec<_> = products
        .has_many
        .iter()
        .map(|r| (r.resource.as_str(), r.field.as_str()))
        .collect();
    assert_eq!(
        children,
        [("orders", "product_id"), ("reviews", "product_id")]
    );
    let orders = m.resource("orders").unwrap();
    assert_eq!(orders.belongs_to[0].include, "user");
    assert_eq!(orders.belongs_to[0].on_delete, "CASCADE");
    let order: Vec<_> = m.creation_order().iter().map(|r| r.key.as_str()).collect();
    assert_eq!(order, ["users", "products", "orders", "reviews"]);
}

#[test]
fn list_sql_combines_filters_and_keyset() {
    let m = shop();
    let products = m.resource("products").unwrap();
    let params: Vec<_> = products.filters.iter().map(|f| f.param.as_str()).collect();
    assert_eq!(params, ["category", "price", "price_min", "price_max"]);
    let s = products.sorts.iter().find(|s| s.key == "-price").unwrap();
    assert_eq!(
        s.tail_after,
        " WHERE ($1::text IS NULL OR \"category\" = $1::text) AND ($2::numeric IS NULL OR \"price\" = $2::numeric) \
         AND ($3::numeric IS NULL OR \"price\" >= $3::numeric) AND ($4::numeric IS NULL OR \"price\" <= $4::numeric) \
         AND (\"price\", \"id\") < (($5::jsonb->>0)::numeric, ($5::jsonb->>1)::bigint) /*and scope*/ \
         ORDER BY \"price\" DESC, \"id\" DESC LIMIT $6"
    );
    assert_eq!(
        s.sql_after,
        format!(
            "SELECT \"page\".*, \"aggregates:reviews\" FROM (SELECT \"id\", \"name\", \"category\", \"price\", \
             \"sales\", \"is_static\", \"created_at\" FROM \"products\"{}) AS \"page\"{} ORDER BY \"price\" DESC, \"id\" DESC",
            s.tail_after, products.aggregates[0].join
        ),
        "the page first, then its aggregates, in one statement"
    );
    assert_eq!(products.default_sort, "-created_at");
    let keys: Vec<_> = products.sorts.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "-created_at",
            "price",
            "-price",
            "sales",
            "-sales",
            "id",
            "-id"
        ]
    );
}

#[test]
fn hidden_fields_are_never_selected() {
    let m = shop();
    let users = m.resource("users").unwrap();
    assert!(!users.sql.select_columns.contains("password_hash"));
    assert!(users.sql.insert.contains("\"password_hash\""));
}

#[test]
fn write_sql_keeps_absent_fields_and_applies_defaults() {
    let m = shop();
    let reviews = m.resource("reviews").unwrap();
    assert_eq!(
        reviews.sql.update,
        "UPDATE \"reviews\" SET \"product_id\" = COALESCE($2, \"product_id\"), \"rating\" = COALESCE($3, \"rating\"), \
         \"body\" = CASE WHEN $4 THEN $5 ELSE \"body\" END WHERE \"id\" = $1 /*and scope*/ RETURNING \"id\", \"product_id\", \"rating\", \"body\""
    );
    let orders = m.resource("orders").unwrap();
    assert_eq!(
        orders.sql.insert,
        "INSERT INTO \"orders\" (\"user_id\", \"product_id\", \"quantity\", \"status\") VALUES ($1, $2, $3, COALESCE($4, 'pending')) \
         RETURNING \"id\", \"user_id\", \"product_id\", \"quantity\", \"status\", \"created_at\""
    );
}

#[test]
fn constraints_have_words() {
    let m = shop();
    let orders = m.resource("orders").unwrap();
    let fk = orders
        .constraints
        .iter()
        .find(|c| c.name == "orders_product_id_fkey")
        .unwrap();
    assert_eq!(
        fk.on_write,
        "`product_id` does not refer to an existing product"
    );
    assert_eq!(
        fk.on_delete,
        "this product is still referenced by orders (through `product_id`)"
    );
    let check = m
        .resource("reviews")
        .unwrap()
        .constraints
        .iter()
        .find(|c| c.name == "reviews_rating_check")
        .unwrap()
        .clone();
    assert_eq!(check.on_write, "`rating` must be at least 1 and at most 5");
    let idx: Vec<_> = m
        .resource("products")
        .unwrap()
        .indexes
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        idx,
        [
            "products_price_idx",
            "products_created_at_idx",
            "products_sales_idx",
            "products_category_price_idx",
            "products_category_created_at_idx",
            "products_category_sales_idx"
        ]
    );
}

#[test]
fn query_shapes_cover_every_statement() {
    let m = shop();
    let shapes = m.query_shapes();
    let names: Vec<_> = shapes.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"products.get"));
    assert!(names.contains(&"products.list.-created_at"));
    assert!(names.contains(&"products.list.-price.after"));
    assert!(names.contains(&"products.list?price_min"));
    for s in &shapes {
        let highest = (1..=s.params.len())
            .rev()
            .find(|n| s.sql.contains(&format!("${n}")));
        assert_eq!(
            highest,
            (!s.params.is_empty()).then_some(s.params.len()),
            "{}",
            s.name
        );
    }
}

#[test]
fn aggregates_and_rankings_are_single_queries() {
    let m = shop();
    let products = m.resource("products").unwrap();
    assert_eq!(
        products.aggregates.len(),
        1,
        "both aggregates are over reviews: one query"
    );
    assert_eq!(
        products.aggregates[0].join,
        " LEFT JOIN LATERAL (SELECT '\"review_count\":' || COALESCE(to_json(count(*))::text, 'null') \
         || ',' || '\"avg_rating\":' || COALESCE(to_json(avg(\"child\".\"rating\")::double precision)::text, 'null') \
         AS \"aggregates:reviews\" FROM \"reviews\" AS \"child\" WHERE \"child\".\"product_id\" = \"page\".\"id\") \
         AS \"aggregates:reviews\" ON true"
    );
    assert!(
        products.sql.get.starts_with(
            "SELECT \"page\".*, \"aggregates:reviews\" FROM (SELECT \"id\", \"name\", \"category\", \"price\", \
             \"sales\", \"is_static\", \"created_at\" FROM \"products\" WHERE \"id\" = $1 /*and scope*/) AS \"page\" LEFT JOIN LATERAL"
        ),
        "full rows are read with their aggregates in one statement: {}",
        products.sql.get
    );
    assert_eq!(
        products.aggregates[0].empty_json,
        "\"review_count\":0,\"avg_rating\":null"
    );
    assert_eq!(m.resource("reviews").unwrap().aggregated_by, ["products"]);
    let ranking = &products.rankings[0];
    assert_eq!(ranking.path, "/products/rankings/top_by_category");
    assert!(ranking.sql.contains(
        "row_number() OVER (PARTITION BY \"category\" ORDER BY \"sales\" DESC, \"id\") AS \"rank\""
    ));
    assert!(
        ranking.sql.contains(") AS ranked WHERE \"rank\" <= 10"),
        "filtered outside the window's query: {}",
        ranking.sql
    );
}

#[test]
fn cascades_and_aggregates_mark_rows_that_change_elsewhere() {
    let m = shop();
    let changes = |k: &str| m.resource(k).unwrap().changes_elsewhere();
    assert!(changes("products"), "aggregates over reviews");
    assert!(changes("reviews"), "ON DELETE CASCADE from products");
    assert!(changes("orders"), "ON DELETE CASCADE from users");
    assert!(!changes("users"));
    let cascades: Vec<_> = m
        .resource("products")
        .unwrap()
        .cascades_to()
        .iter()
        .map(|h| h.resource.as_str())
        .collect();
    assert_eq!(cascades, ["reviews"], "orders.product_id is RESTRICT");
}

#[test]
fn children_are_included_by_resource_name_or_by_ref_when_ambiguous() {
    let m = shop();
    let names = |key: &str| -> Vec<String> {
        m.resource(key)
            .unwrap()
            .child_includes
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(names("products"), ["orders", "reviews"]);
    assert_eq!(names("users"), ["orders"]);
    assert!(names("reviews").is_empty());
    let products = m.resource("products").unwrap();
    assert_eq!(products.include_names(), ["orders", "reviews"]);
    assert!(
        products.child_includes[1]
            .sql
            .contains("WHERE \"product_id\" = \"parent:keys\".\"key\" ORDER BY \"id\" LIMIT 200")
    );

    let yaml = br#"
name: chat
resources:
  people:
    fields:
      id: { type: bigserial, primary_key: true }
      name: { type: string }
  messages:
    fields:
      id: { type: bigserial, primary_key: true }
      sender_id: { type: ref, to: people }
      recipient_id: { type: ref, to: people }
    indexes: [[sender_id], [recipient_id]]
"#;
    let loaded = crate::spec::load_bytes(Path::new("chat.yaml"), yaml).expect("valid");
    let m = Model::from_spec(&loaded.spec);
    let people = m.resource("people").unwrap();
    let names: Vec<&str> = people
        .child_includes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["messages_sender", "messages_recipient"]);
}

#[test]
fn sort_indexes_end_with_the_key_for_keyset_pages() {
    let m = shop();
    let columns = |res: &str, name: &str| -> Vec<String> {
        let r = m.resource(res).unwrap();
        r.indexes
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .columns
            .clone()
    };
    assert_eq!(columns("products", "products_price_idx"), ["price", "id"]);
    assert_eq!(
        columns("products", "products_category_created_at_idx"),
        ["category", "created_at", "id"]
    );
    assert_eq!(
        columns("orders", "orders_user_id_idx"),
        ["user_id"],
        "not a sort key"
    );
    let price = m
        .resource("products")
        .unwrap()
        .indexes
        .iter()
        .find(|i| i.name == "products_price_idx")
        .unwrap();
    assert_eq!(
        price.sql,
        "CREATE INDEX \"products_price_idx\" ON \"products\" (\"price\", \"id\");"
    );
}

#[test]
fn runtime_features_follow_what_the_spec_uses() {
    // The shop: timestamps, decimals, uuids, Redis; no auth, no rate limit.
    assert_eq!(
        shop().runtime_features(),
        ["chrono", "decimal", "redis", "uuid"]
    );
    let yaml = br#"
name: notes
auth:
  jwt: { secret_env: JWT_SECRET }
server:
  rate_limit: { per_client: 50/s }
resources:
  notes:
    fields:
      id: { type: bigserial, primary_key: true }
      body: { type: text }
"#;
    let loaded = crate::spec::load_bytes(Path::new("notes.yaml"), yaml).expect("valid");
    assert_eq!(
        Model::from_spec(&loaded.spec).runtime_features(),
        ["auth", "rate-limit"]
    );
}
