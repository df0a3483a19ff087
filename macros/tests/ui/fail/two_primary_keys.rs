use apiforge_runtime::prelude::*;

#[derive(Resource)]
#[resource(table = "users")]
struct User {
    #[resource(primary_key)]
    id: i64,
    #[resource(primary_key)]
    email: String,
}

fn main() {}
