use apiforge_runtime::prelude::*;

#[derive(sqlx::FromRow, Resource)]
#[resource(table = "events")]
struct Event {
    #[resource(primary_key)]
    id: i64,
    #[resource(column = "kind")]
    #[sqlx(rename = "type")]
    kind: String,
    #[resource(hidden)]
    #[sqlx(skip)]
    seen: bool,
}

fn main() {}
