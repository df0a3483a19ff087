//! The resource engine: list, get, create, update, delete, export and rankings of any
//! resource, driven by its [`Description`] (data the generator writes, every SQL statement
//! precomputed) and extended by its [`Hooks`] (code the user owns).
//!
//! A generated resource is three small pieces: the row type (a `#[derive(Resource)]`
//! struct with its create and update bodies), `impl Entity for Product` pointing at the
//! description and the hooks, and `engine::routes::<Product>()`. Hand-written handlers use
//! the same functions ([`read::get`], [`read::list`], [`write::create`]…) and the
//! resource's cache ([`AppState::cache`]); see `docs/extending.md`.

pub mod body;
pub mod context;
pub mod desc;
mod guard;
pub mod hooks;
pub mod json;
pub mod read;
pub mod routes;
pub mod state;
pub mod stream;
mod text_enum;
pub mod value;
pub mod write;

use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use sqlx::Arguments;
use sqlx::FromRow;
use sqlx::postgres::{PgArguments, PgRow};

pub use self::body::{
    Measure, Validate, Violations, nullable, optional, parse_key, present, required,
};
pub use self::context::{Caller, Operation, RequestContext};
pub use self::desc::Description;
pub use self::hooks::{Hooks, Members, Scope, Tx};
pub use self::read::Answer;
pub use self::routes::routes;
pub use self::state::{AppState, Caches, StreamLimits};
pub use self::value::{BodyValue, Kind, Value};
use crate::problem::Problem;
use crate::resource::Resource;

/// A resource the engine serves: implemented by generated code for each resource of the
/// spec (`src/generated/resources/<resource>.rs`).
pub trait Entity:
    Resource<Key: Display + FromStr<Err: Display>>
    + serde::Serialize
    + for<'r> FromRow<'r, PgRow>
    + crate::monitor::query::RowCount
    + Clone
{
    /// Body of `POST`.
    type Create: DeserializeOwned + Validate + Send + Sync + 'static;
    /// Body of `PATCH`.
    type Update: DeserializeOwned + Validate + Send + Sync + 'static;
    /// The user's hooks (`src/resources/<resource>.rs`).
    type Hooks: Hooks<Self>;

    /// Tables, statements, parameters, cache policy.
    const DESC: &'static Description;

    /// Binds a create body's fields in the order of the insert statement's parameters.
    fn bind_create(
        input: Self::Create,
        args: &mut PgArguments,
    ) -> Result<(), sqlx::error::BoxDynError>;

    /// Binds an update body's fields after the key (`$2`…), in the order of the update
    /// statement's parameters (nullable fields: a "present" flag, then the value).
    fn bind_update(
        input: Self::Update,
        args: &mut PgArguments,
    ) -> Result<(), sqlx::error::BoxDynError>;
}

/// Binds a row key.
pub(crate) fn bind_key<R: Entity>(id: &R::Key, args: &mut PgArguments) -> Result<(), Problem> {
    args.add(id.clone()).map_err(value::bind_error)
}

/// 404 for a missing row.
pub fn not_found(desc: &Description, id: &impl Display) -> Problem {
    Problem::not_found(format!("no {} with {} {id}", desc.singular, desc.key))
}
