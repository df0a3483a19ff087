//! apiforge-runtime: what apiforge-generated APIs and hand-written services link against.
//!
//! Depend on this one crate; it re-exports the derive macros:
//! `use apiforge_runtime::prelude::*;`

pub mod cache;
pub mod etag;
pub mod response;
