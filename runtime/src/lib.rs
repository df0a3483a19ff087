//! apiforge-runtime: what apiforge-generated APIs and hand-written services link against.
//!
//! Depend on this one crate; it re-exports the derive macros:
//! `use apiforge_runtime::prelude::*;`
//!
//! ```
//! use apiforge_runtime::prelude::*;
//!
//! #[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, Resource)]
//! #[resource(table = "products")]
//! pub struct Product {
//!     #[resource(primary_key)]
//!     pub id: i64,
//!     pub name: String,
//! }
//!
//! let fields = FieldSet::parse::<Product>("name").unwrap();
//! assert_eq!(Product::select_sql(&fields), r#"SELECT "name" FROM "products""#);
//! ```

pub mod auth;
pub mod cache;
pub mod compression;
pub mod cors;
pub mod dbgate;
pub mod engine;
pub mod etag;
pub mod extract;
pub mod fieldset;
pub mod health;
pub mod loader;
pub mod monitor;
pub mod pagination;
pub mod prelude;
pub mod problem;
pub mod rate_limit;
pub mod resource;
pub mod response;
pub mod startup;
pub mod timeout;

pub use apiforge_macros::Resource;
pub use fieldset::{FieldError, FieldSet};
pub use problem::Problem;
pub use resource::Resource;

/// Paths used by the code `#[derive(Resource)]` generates, so that a user crate needs no
/// direct dependency on them. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use sqlx;
}
