use apiforge_runtime::prelude::*;

// Every problem is reported in one compile, not only the first.
#[derive(Resource)]
#[resource(tabel = "users")]
struct User {
    #[resource(hidden, colour = "red")]
    id: i64,
}

fn main() {}
