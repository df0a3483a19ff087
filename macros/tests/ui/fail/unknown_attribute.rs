use apiforge_runtime::prelude::*;

#[derive(Resource)]
#[resource(table = "users", schema = "auth")]
struct User {
    #[resource(primary_key, indexed)]
    id: i64,
    #[resource(hiden)]
    name: String,
}

fn main() {}
