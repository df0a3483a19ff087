use apiforge_runtime::prelude::*;

#[derive(Resource)]
#[resource(table = "users", table = "people")]
struct User {
    #[resource(primary_key)]
    id: i64,
    #[resource(skip, hidden)]
    cache: Option<String>,
    #[resource(column = "id")]
    legacy_id: i64,
    #[resource(primary_key = true)]
    other: i64,
}

fn main() {}
