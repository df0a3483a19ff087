//! The description of a resource: everything the engine needs to serve it, as `const`
//! data the generator writes (`src/generated/resources/<resource>.rs`). Every SQL statement
//! is precomputed there, parameterised, and readable; the engine only runs them.
//!
//! Statements that a [`Scope`](super::Scope) narrows carry a marker comment where its
//! condition goes: `/*and scope*/` after existing conditions, `/*where scope*/` where there
//! is no `WHERE` yet. Without a scope the statement runs as written (a comment is no cost).

use std::time::Duration;

use sqlx::postgres::PgRow;

use super::json::Positions;
use super::value::Kind;

/// One resource.
#[derive(Debug)]
pub struct Description {
    /// The resource's key in the spec (`products`): metric labels, Redis keys, messages.
    pub name: &'static str,
    /// One row in words (`product`), for messages.
    pub singular: &'static str,
    /// Position among the API's resources (its cache in [`Caches`](super::Caches)).
    pub index: usize,
    /// A hash of the row's columns, types and JSON layout: cache keys and ETags carry it,
    /// so an instance never serves a body that another build shaped.
    pub shape: &'static str,
    /// Members the hooks add to full rows (`Hooks::COMPUTED`): part of the shape too.
    pub computed: &'static [&'static str],
    /// The primary key's API name and kind.
    pub key: &'static str,
    pub key_kind: Kind,
    /// Every selectable column with its kind (scope conditions are checked against it).
    pub columns: &'static [(&'static str, Kind)],
    /// Which operations exist.
    pub ops: Ops,
    /// The collection's path (`/products`); rows are at `{path}/{id}`.
    pub path: &'static str,
    pub list: ListDesc,
    pub sql: Statements,
    /// Query shape names (metrics, `apiforge explain`) of the row statements.
    pub shapes: Shapes,
    /// `include=` relations.
    pub includes: &'static [Include],
    /// Columns of the aggregates' lateral joins: each holds JSON members
    /// (`"review_count":2,"avg_rating":4.5`) written by Postgres for full rows.
    pub aggregates: &'static [&'static str],
    pub rankings: &'static [Ranking],
    pub cache: CachePolicy,
    /// Unique / check / foreign-key constraints and what a violation means, in words.
    pub constraints: &'static [(&'static str, &'static str)],
    /// Foreign keys that point at this table, for a refused delete.
    pub referenced_by: &'static [(&'static str, &'static str)],
    /// Resources whose cached lists a write here changes (they aggregate this one): their
    /// generations are bumped too.
    pub aggregated_by: &'static [usize],
    /// Resources whose rows a delete here removes by `ON DELETE CASCADE`.
    pub cascades_to: &'static [usize],
    /// Whether rows also change through other resources' writes (aggregates, cascades):
    /// then even full rows are cached under the generation, not by key alone.
    pub changes_elsewhere: bool,
    /// Who may call each operation, and the owner field (`Access::PUBLIC` without `auth`).
    pub access: crate::auth::Access,
    /// `rate_limit:` of the operations limited per client.
    pub rate_limits: &'static [(super::Operation, crate::rate_limit::Quota)],
}

impl Description {
    /// The version of this resource's JSON as this build writes it: the generated shape,
    /// the hooks' computed members and the engine's release. Cache entries in Redis and
    /// ETags carry it.
    pub fn version(&self) -> String {
        let mut version = format!("{}-{}", self.shape, env!("CARGO_PKG_VERSION"));
        for name in self.computed {
            version.push('+');
            version.push_str(name);
        }
        version
    }
}

/// The operations of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Ops {
    pub list: bool,
    pub get: bool,
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    pub export: bool,
}

/// List parameters and statements.
#[derive(Debug)]
pub struct ListDesc {
    /// Filter parameters in the order their `$n` appear in every list statement.
    pub filters: &'static [Filter],
    pub sorts: &'static [SortSql],
    pub default_sort: &'static str,
    pub default_limit: i64,
    pub max_limit: i64,
}

/// One filter parameter (`category`, `price_min`…).
#[derive(Debug)]
pub struct Filter {
    pub param: &'static str,
    pub kind: Kind,
}

/// One accepted `sort` value and its statements.
#[derive(Debug)]
pub struct SortSql {
    /// `price` or `-price`.
    pub key: &'static str,
    /// The sorted field and its kind (cursors are checked against it).
    pub field: &'static str,
    pub kind: Kind,
    /// Query shape names (metrics, `apiforge explain`) of the offset and keyset statements.
    pub offset_shape: &'static str,
    pub after_shape: &'static str,
    /// Tails after `SELECT <fields> FROM "table"`, for a `fields` selection: filters, then
    /// `LIMIT`, `OFFSET` (offset) or the cursor (`[value, key]` as JSON) and `LIMIT` (after).
    pub offset: &'static str,
    pub after: &'static str,
    /// The whole statements for full rows, with the aggregates if any.
    pub full_offset: &'static str,
    pub full_after: &'static str,
}

/// The statements of one row.
#[derive(Debug)]
pub struct Statements {
    /// The full row (with its aggregates); `$1` is the key.
    pub get: &'static str,
    /// After `SELECT <fields> FROM "table"`, for a `fields` selection.
    pub get_tail: &'static str,
    /// Columns in the order [`Entity::bind_create`](super::Entity::bind_create) binds.
    pub insert: &'static str,
    /// `$1` is the key, then the fields in the order of
    /// [`Entity::bind_update`](super::Entity::bind_update).
    pub update: &'static str,
    /// `$1` is the key; returns the deleted row.
    pub delete: &'static str,
    /// Every row in key order, and its tail for a `fields` selection.
    pub export: &'static str,
    pub export_tail: &'static str,
}

/// Query shape names of the row statements (`products.get`…).
#[derive(Debug)]
pub struct Shapes {
    pub get: &'static str,
    pub create: &'static str,
    pub update: &'static str,
    pub delete: &'static str,
    pub export: &'static str,
}

/// An `include=` relation: rows of another resource embedded in each row, loaded in one
/// query for all the rows of a response.
#[derive(Debug)]
pub struct Include {
    /// The member name (`user`, `reviews`).
    pub name: &'static str,
    /// The column of this resource whose value finds the included rows (the ref column of
    /// a parent, the key for children).
    pub by: &'static str,
    /// Its kind (bound as an array: `$1::bigint[]`).
    pub by_kind: Kind,
    /// `$1` is the array of `by` values. Parents: `... WHERE "id" = ANY($1)`; children:
    /// at most the child's `max_limit` per parent.
    pub sql: &'static str,
    /// Query shape name.
    pub shape: &'static str,
    /// The column of the loaded rows that matches `by` (parent key, or child foreign key).
    pub group_by: &'static str,
    /// Children (an array, `[]` for none) or one parent (`null` for none).
    pub many: bool,
    /// Writes one loaded row as a JSON object (the other resource's full row); the
    /// positions are shared by the loaded rows.
    pub write: fn(&PgRow, &mut Positions, &mut Vec<u8>) -> Result<(), serde_json::Error>,
}

/// A ranking route.
#[derive(Debug)]
pub struct Ranking {
    pub name: &'static str,
    pub path: &'static str,
    pub sql: &'static str,
    pub shape: &'static str,
}

/// HTTP caching and cache tiers.
#[derive(Debug)]
pub struct CachePolicy {
    /// `Cache-Control` of GET responses, e.g. `public, max-age=60` (`no-cache` without
    /// `max_age`). A response that depends on the caller is sent `private` instead.
    pub cache_control: &'static str,
    /// The same for responses that depend on the caller (`private, …`).
    pub private_cache_control: &'static str,
    /// The bool column that marks rows that never change (`immutable_when`): served
    /// `public, max-age=31536000, immutable`.
    pub immutable_when: Option<&'static str>,
    /// In-process tier: entries and time to live.
    pub memory: Option<(u64, Duration)>,
    /// Redis tier: time to live.
    pub redis: Option<Duration>,
}
