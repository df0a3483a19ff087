use apiforge_runtime::prelude::*;

#[derive(Resource)]
#[resource(table = "users")]
struct User {
    #[resource(primary_key, hidden)]
    id: i64,
}

fn main() {}
