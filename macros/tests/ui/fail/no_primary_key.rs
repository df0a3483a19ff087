use apiforge_runtime::prelude::*;

#[derive(Resource)]
#[resource(table = "users")]
struct User {
    id: i64,
    name: String,
}

fn main() {}
