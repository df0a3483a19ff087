//! What `use apiforge_runtime::prelude::*;` brings: the derive, the traits and the types
//! that generated and hand-written handlers use.

pub use crate::Resource;
pub use crate::cache::{CacheConfig, CachedBody, MemoryTier, Redis, RedisTier, ResourceCache};
pub use crate::engine::{
    AppState, Caller, Entity, Hooks, Members, Operation, RequestContext, Scope, Tx,
};
pub use crate::etag::{ETag, IfNoneMatch};
pub use crate::extract::{Json, Query, QueryMap};
pub use crate::fieldset::{FieldError, FieldSet};
pub use crate::loader::{LoadError, Loader};
pub use crate::monitor::query::TimedExt;
pub use crate::pagination::{Cursor, CursorError, clamp_limit};
pub use crate::problem::{FieldViolation, Problem};
pub use crate::response::{CacheControl, Visibility, cached_json};
