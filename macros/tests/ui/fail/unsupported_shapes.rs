use apiforge_runtime::prelude::*;

#[derive(Resource)]
#[resource(table = "pairs")]
struct Pair(i64, String);

#[derive(Resource)]
#[resource(table = "units")]
struct Unit;

#[derive(Resource)]
#[resource(table = "statuses")]
enum Status {
    Pending,
}

#[derive(Resource)]
#[resource(table = "boxes")]
struct Boxed<T> {
    #[resource(primary_key)]
    id: i64,
    value: T,
}

fn main() {}
