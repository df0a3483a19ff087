use apiforge_runtime::prelude::*;

#[derive(Resource)]
struct User {
    #[resource(primary_key)]
    id: i64,
}

fn main() {}
