//! Derive macros of apiforge. Use them through `apiforge-runtime`, which re-exports them
//! (`use apiforge_runtime::prelude::*;`) together with the traits they implement.
//!
//! The derive is split like serde_derive and thiserror: `attr` parses `#[resource(...)]`,
//! `ast` builds the input model, `valid` checks it (every error at once, each spanned on
//! the offending tokens) and `expand` writes the impl.

mod ast;
mod attr;
mod errors;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `apiforge_runtime::Resource` for a struct with named fields.
///
/// ```ignore
/// #[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, Resource)]
/// #[resource(table = "products")]          // required: the table name is never guessed
/// pub struct Product {
///     #[resource(primary_key)]             // exactly one
///     pub id: i64,
///     #[resource(column = "title")]        // SQL column differs from the API name
///     pub name: String,
///     #[resource(hidden)]                  // loaded, never serialized nor selectable
///     pub internal_note: Option<String>,
///     #[resource(skip)]                    // not a column (pair with #[sqlx(skip)])
///     #[sqlx(skip)]
///     pub cached: Option<u64>,
/// }
/// ```
///
/// `#[sqlx(rename = "...")]` names the column when `column` is absent, and `#[sqlx(skip)]`
/// counts as `skip`, so `sqlx::FromRow` and this derive read the same columns; a
/// `column` that disagrees with `#[sqlx(rename)]` is an error.
///
/// Misuse (unknown attribute, missing or duplicate primary key, hidden primary key, tuple
/// struct, enum, generics...) is a compile error spanned on the offending tokens; all errors
/// are reported at once.
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
