//! Stage 3 of the pipeline: the resolved model (IR) that templates only read.
//!
//! Everything a template needs is computed here — Rust and SQL names and types, relations in
//! both directions, constraint names and their messages, and the SQL text of every query
//! shape — so templates hold no logic beyond loops and conditionals.

mod docs;
pub mod naming;
pub mod sql;
pub(crate) mod types;

use std::collections::BTreeMap;

use heck::ToUpperCamelCase;
use serde::Serialize;

use crate::spec::{self, FieldType, OnDelete, Operation, Spec};
use naming::{quote_ident, rust_ident, struct_name, variant_ident};

pub use docs::{BodyFieldDoc, IncludeDoc};
pub use sql::QueryShape;

/// The whole generated project, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Crate and binary name (snake_case).
    pub name: String,
    pub pool: PoolModel,
    pub server: ServerModel,
    /// Environment variable holding the Redis URL, when the spec declares a shared tier.
    pub redis_url_env: Option<String>,
    /// Upper bound of one Redis round trip, in ms.
    pub redis_timeout_ms: u64,
    pub resources: Vec<ResourceModel>,
    pub monitoring: MonitoringModel,
    /// Which optional crates the generated code needs.
    pub uses: Uses,
    /// `auth:` of the spec; `None`: every operation is public, no credentials are read.
    pub auth: Option<AuthModel>,
    /// `server.cors`.
    pub cors: Option<CorsModel>,
}

/// How callers authenticate (names of environment variables, never secrets).
#[derive(Debug, Clone, Serialize)]
pub struct AuthModel {
    pub jwt: Option<JwtModel>,
    pub api_keys_env: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JwtModel {
    /// HS256 secret variable, or `None` with `public_key_env` set.
    pub secret_env: Option<String>,
    pub public_key_env: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub roles_claim: String,
}

/// Allowed origins and the preflight cache time.
#[derive(Debug, Clone, Serialize)]
pub struct CorsModel {
    pub origins: Vec<String>,
    pub max_age_secs: Option<u64>,
}

/// The access rule of one operation, resolved (`auth.default` and the resource's
/// `access.default` applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RuleModel {
    Public,
    Authenticated,
    Roles(Vec<String>),
}

impl RuleModel {
    fn from_spec(rule: &spec::Access) -> Self {
        match rule {
            spec::Access::Word(spec::AccessWord::Public) => RuleModel::Public,
            spec::Access::Word(spec::AccessWord::Authenticated) => RuleModel::Authenticated,
            spec::Access::Roles(r) => RuleModel::Roles(r.roles.clone()),
        }
    }

    pub fn is_public(&self) -> bool {
        *self == RuleModel::Public
    }
}

/// The access rules of a resource's operations and its owner field.
#[derive(Debug, Clone, Serialize)]
pub struct AccessModel {
    /// One rule per operation, in [`Operation::ALL`] order.
    pub rules: Vec<(Operation, RuleModel)>,
    /// The owner field's API name.
    pub owner: Option<String>,
}

impl AccessModel {
    pub fn rule(&self, op: Operation) -> &RuleModel {
        &self
            .rules
            .iter()
            .find(|(o, _)| *o == op)
            .expect("a rule for every operation")
            .1
    }
}

/// Connection pool settings, in milliseconds where durations.
#[derive(Debug, Clone, Serialize)]
pub struct PoolModel {
    pub max: u32,
    pub min: u32,
    pub idle_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub max_lifetime_ms: u64,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub slow_query_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerModel {
    pub port: u16,
    pub body_limit: u64,
    pub request_timeout_ms: u64,
    /// Content codings (`br`, `gzip`, `zstd`, `deflate`), in spec order.
    pub compression: Vec<String>,
    pub compression_min_size: u64,
    /// `server.rate_limit`: every route's limit per client.
    pub rate_limit: Option<QuotaModel>,
    /// `server.trusted_proxies`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
}

/// A rate limit: `count` per `period_ms`, bursts of `burst`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct QuotaModel {
    pub count: u32,
    pub period_ms: u64,
    pub burst: u32,
}

impl QuotaModel {
    /// `rate` with bursts of `burst`, else of its count (`5/s`: 5 at once).
    fn new(rate: spec::Rate, burst: Option<u32>) -> Self {
        Self {
            count: rate.count,
            period_ms: ms(rate.per),
            burst: burst.unwrap_or(rate.count),
        }
    }
}

/// Metrics, `/_stats` and process gauges.
#[derive(Debug, Clone, Serialize)]
pub struct MonitoringModel {
    pub metrics_path: String,
    pub stats_path: String,
    pub resource_interval_ms: u64,
    pub stats_window_ms: u64,
    /// Who may read metrics and statistics; `None`: anyone.
    pub access: Option<RuleModel>,
    /// `monitoring.port`: their own listener; `None`: on the API's port.
    pub port: Option<u16>,
}

/// A latency budget of one route.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetModel {
    /// Route pattern as axum matches it (`/products/{id}`).
    pub route: String,
    /// HTTP method constant name (`GET`, `POST`, …).
    pub method: String,
    pub p95_us: u64,
    pub p99_us: u64,
}

/// Field types in use, to keep the generated dependency set lean.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Uses {
    pub uuid: bool,
    pub chrono: bool,
    pub decimal: bool,
    pub json: bool,
}

/// One resource: a table, its row type, its routes and its SQL.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceModel {
    /// Spec key (`products`): module names, URL path segment, OpenAPI tag.
    pub key: String,
    /// Rust module name of the resource (`r#type` for a keyword).
    pub module: String,
    /// The spec's `renamed_from`: the table's previous name (and, with the default `table`,
    /// the resource's previous key).
    pub renamed_from: Option<String>,
    /// Table name, unquoted.
    pub table: String,
    /// Row struct (`Product`) and its input structs.
    pub struct_name: String,
    pub create_name: String,
    pub update_name: String,
    pub list_query_name: String,
    /// Singular noun used in messages (`product`).
    pub singular: String,
    /// URL path of the collection (`/products`).
    pub path: String,
    pub fields: Vec<FieldModel>,
    /// `deprecated: true` fields: columns still in the table (nullable, without unique or
    /// checks), never selected or written by the API.
    pub retired: Vec<FieldModel>,
    /// Index into `fields` of the primary key.
    pub pk: FieldModel,
    pub ops: Ops,
    pub filters: Vec<FilterParam>,
    pub sorts: Vec<SortShape>,
    /// `-created_at`: the sort applied when `sort` is absent.
    pub default_sort: String,
    pub default_limit: u32,
    pub max_limit: u32,
    /// Fields this resource has with `type: ref` (belongs-to).
    pub belongs_to: Vec<Relation>,
    /// Resources with a ref to this one (has-many), inferred.
    pub has_many: Vec<Relation>,
    /// Has-many relations offered as `include=<child>`.
    pub child_includes: Vec<ChildInclude>,
    pub indexes: Vec<IndexModel>,
    pub constraints: Vec<ConstraintModel>,
    pub checks: Vec<CheckModel>,
    /// Enums declared by this resource's fields.
    pub enums: Vec<EnumModel>,
    pub sql: ResourceSql,
    /// Body fields refused as read-only on create / update (wire names).
    pub readonly_fields: Vec<String>,
    pub cache: CacheModel,
    /// Latency budgets of this resource's routes.
    pub budgets: Vec<BudgetModel>,
    /// Aggregates over has-many children, one grouped query per child resource.
    pub aggregates: Vec<AggregateGroup>,
    pub rankings: Vec<RankingModel>,
    /// Modules of the parents whose aggregates count this resource's rows: a write here
    /// invalidates their cached representations.
    pub aggregated_by: Vec<String>,
    /// Access rules, with `auth` only.
    pub access: Option<AccessModel>,
    /// `rate_limit:` per operation and client.
    pub rate_limits: Vec<(Operation, QuotaModel)>,
}

impl ResourceModel {
    /// The file name (without `.rs`) of the resource's modules: `type` for `r#type`.
    pub fn module_file(&self) -> String {
        naming::module_file(&self.key)
    }

    /// Rows carry members beyond their columns (embedded refs or children, aggregates).
    pub fn has_extras(&self) -> bool {
        self.has_includes() || !self.aggregates.is_empty()
    }

    /// Rows can embed related rows (`include=`).
    pub fn has_includes(&self) -> bool {
        !self.belongs_to.is_empty() || !self.child_includes.is_empty()
    }

    /// The Rust identifiers of every include, in the order of [`Self::include_names`].
    pub fn include_idents(&self) -> Vec<&str> {
        self.belongs_to
            .iter()
            .map(|b| b.include_ident.as_str())
            .chain(self.child_includes.iter().map(|c| c.ident.as_str()))
            .collect()
    }

    /// Every `include=` name: refs first, then children.
    pub fn include_names(&self) -> Vec<&str> {
        self.belongs_to
            .iter()
            .map(|b| b.include.as_str())
            .chain(self.child_includes.iter().map(|c| c.name.as_str()))
            .collect()
    }

    /// Rows change without a write to this resource: aggregates over children, or a
    /// parent's delete cascading here (`ON DELETE CASCADE` / `SET NULL`). Their cached
    /// representations are then keyed by generation, which those writes bump.
    pub fn changes_elsewhere(&self) -> bool {
        !self.aggregates.is_empty() || self.belongs_to.iter().any(Relation::cascades)
    }

    /// Children whose rows a delete here changes (`ON DELETE CASCADE` / `SET NULL`).
    pub fn cascades_to(&self) -> Vec<&Relation> {
        self.has_many.iter().filter(|h| h.cascades()).collect()
    }
}

impl Relation {
    /// Deleting the referenced row deletes or changes the referencing ones.
    pub fn cascades(&self) -> bool {
        matches!(self.on_delete.as_str(), "CASCADE" | "SET NULL")
    }
}

/// The aggregates of one resource computed over one child resource, in the parent's own
/// statement.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateGroup {
    /// The child resource (`reviews`).
    pub child: String,
    /// ` LEFT JOIN LATERAL (SELECT '"review_count":' || … AS "aggregates:reviews" FROM
    /// "reviews" AS "child" WHERE "child"."product_id" = "page"."id") AS
    /// "aggregates:reviews" ON true`, after the page of rows (`"page"`).
    pub join: String,
    /// The joined text column with the members, quoted (`"aggregates:reviews"`).
    pub column: String,
    /// The members for a row without children (`"review_count":0,"avg_rating":null`).
    pub empty_json: String,
}

/// Top N rows per partition, by a window function in a subquery.
#[derive(Debug, Clone, Serialize)]
pub struct RankingModel {
    pub name: String,
    /// `/products/rankings/top_by_category`.
    pub path: String,
    /// Rows with their `rank`, partition by partition.
    pub sql: String,
    pub partition: String,
    pub order: String,
    pub limit: u32,
    /// Query shape name (`products.rankings.top_by_category`).
    pub shape: String,
}

/// Caching of a resource's responses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheModel {
    /// In-process tier: `(max_entries, ttl in ms)`.
    pub memory: Option<(u64, u64)>,
    /// Redis tier TTL in ms.
    pub redis_ttl_ms: Option<u64>,
    /// `Cache-Control: max-age` of GET responses; `None` sends `no-cache` (ETag revalidation).
    pub max_age: Option<u32>,
    pub public: bool,
    /// A bool field: rows where it is true are served `public, max-age=31536000, immutable`.
    pub immutable_when: Option<String>,
}

impl CacheModel {
    /// Whether any cache tier is configured.
    pub fn any_tier(&self) -> bool {
        self.memory.is_some() || self.redis_ttl_ms.is_some()
    }
}

/// Which routes exist.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ops {
    pub list: bool,
    pub get: bool,
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    pub export: bool,
}

impl Ops {
    /// Whether `/{res}/{id}` has any method.
    pub fn any_item(&self) -> bool {
        self.get || self.update || self.delete
    }
    /// Whether `/{res}` has any method.
    pub fn any_collection(&self) -> bool {
        self.list || self.create
    }
}

/// One column.
#[derive(Debug, Clone, Serialize)]
pub struct FieldModel {
    /// Name in the spec, on the wire and in SQL (unquoted).
    pub name: String,
    /// Rust identifier (`r#type` for keywords).
    pub ident: String,
    /// Quoted SQL identifier.
    pub column: String,
    pub kind: FieldKind,
    /// DDL type: `varchar(320)`, `numeric(10,2)`, `bigserial`.
    pub ddl_type: String,
    /// Type for parameter casts: `text`, `numeric`, `bigint`.
    pub cast_type: String,
    /// Rust type of a non-null value: `String`, `i64`, `OrderStatus`.
    pub rust_type: String,
    /// Rust type as stored in the row struct (`Option<…>` when nullable).
    pub row_type: String,
    pub nullable: bool,
    pub primary_key: bool,
    pub unique: bool,
    pub hidden: bool,
    /// Server-set: refused in create/update bodies (readonly, serial keys, keys with a default).
    pub readonly: bool,
    /// SQL default expression (`now()`, `0`, `'pending'`).
    pub default_sql: Option<String>,
    /// The spec's default as the README words it (`` `0` ``, `the current time`).
    pub default_doc: Option<String>,
    /// Accepted in create bodies; `create_optional` when it may be omitted.
    pub in_create: bool,
    pub create_optional: bool,
    /// Accepted in update (PATCH) bodies.
    pub in_update: bool,
    /// Ordered types get `_min` / `_max` filters.
    pub ordered: bool,
    /// Rust literals (f64) of the bounds, for validation.
    pub min: Option<String>,
    pub max: Option<String>,
    pub max_length: Option<u32>,
    /// Decimal digits of `numeric(precision, scale)` (scale 0 when the spec gives none),
    /// checked by validation and described by the OpenAPI pattern.
    pub precision: Option<u32>,
    pub scale: u32,
    pub enum_values: Vec<String>,
    /// For a ref: the target resource key.
    pub ref_to: Option<String>,
    /// A JSON value that passes validation (for generated tests), and a second one.
    pub sample: String,
    pub sample_alt: String,
    /// Has any validation rule (min/max/max_length).
    pub validated: bool,
    /// The Rust type is `Copy` (bound by value even when used afterwards).
    pub copy: bool,
}

impl FieldModel {
    /// A text field (`string`, `text`): its values are checked for NUL bytes.
    pub fn is_text(&self) -> bool {
        matches!(self.kind, FieldKind::String | FieldKind::Text)
    }
}

/// The spec's field type, as templates compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    Text,
    Int,
    Bigint,
    Serial,
    Bigserial,
    Float,
    Decimal,
    Bool,
    Uuid,
    Timestamp,
    Date,
    Json,
    Enum,
}

/// A Rust enum for a `type: enum` field: text in SQL, snake_case on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct EnumModel {
    pub name: String,
    /// `(Rust variant, wire value)` pairs.
    pub variants: Vec<(String, String)>,
}

/// One query parameter of the list route that filters rows.
#[derive(Debug, Clone, Serialize)]
pub struct FilterParam {
    /// Query key: `category`, `price_min`.
    pub param: String,
    /// Rust identifier of the query struct field.
    pub ident: String,
    pub field: String,
    pub rust_type: String,
    /// `=`, `>=` or `<=`.
    pub op: String,
    pub description: String,
}

/// One accepted `sort` value with its two precomputed list statements.
#[derive(Debug, Clone, Serialize)]
pub struct SortShape {
    /// `price` or `-price`.
    pub key: String,
    pub field: String,
    pub descending: bool,
    /// First page / `offset` paging: filters, then `LIMIT $n OFFSET $n+1`.
    pub sql_offset: String,
    /// Keyset paging after a cursor: filters, then the cursor (`$n`, JSON `[value, key]`), `LIMIT $n+1`.
    pub sql_after: String,
    /// `sql_offset` / `sql_after` after their `SELECT … FROM "table"` (for field selection).
    pub tail_offset: String,
    pub tail_after: String,
}

/// A belongs-to or has-many link.
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    /// The ref field's name (`product_id`), in the resource that holds it.
    pub field: String,
    /// `include=` name on the holder's side (`product`).
    pub include: String,
    /// Rust identifier for the include (`inc_product`).
    pub include_ident: String,
    /// Row struct and module of `resource`.
    pub target_struct: String,
    pub target_module: String,
    /// The resource that holds the ref (has-many) or the one it points to (belongs-to).
    pub resource: String,
    pub table: String,
    /// Primary key column of the referenced table.
    pub target_column: String,
    pub on_delete: String,
    /// Name of the foreign key constraint.
    pub constraint: String,
    /// Why deleting the referenced row failed (`ON DELETE RESTRICT` / `NO ACTION`), in words.
    pub delete_message: String,
}

/// A has-many relation embedded with `include=<name>`: the children of a page's rows,
/// loaded in one statement (at most `limit` per parent, in key order).
#[derive(Debug, Clone, Serialize)]
pub struct ChildInclude {
    /// `include=` name: the child resource (`reviews`), or `reviews_product` when the child
    /// refers to this resource through more than one field.
    pub name: String,
    /// Rust identifier (`inc_reviews`).
    pub ident: String,
    pub child_struct: String,
    pub child_module: String,
    /// The child's ref field, as a Rust field of its row struct (`product_id`).
    pub fk_ident: String,
    pub fk_nullable: bool,
    /// `SELECT "c".* FROM unnest($1::bigint[]) AS "parent:keys"("key") CROSS JOIN LATERAL
    /// (SELECT … FROM "reviews" WHERE "product_id" = "parent:keys"."key" ORDER BY "id"
    /// LIMIT 200) AS "c"`.
    pub sql: String,
    /// Query shape name (`products.include.reviews`).
    pub shape: String,
    /// Children per parent at most (the child's `max_limit`).
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexModel {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// `CREATE [UNIQUE] INDEX …;`
    pub sql: String,
}

/// What a database constraint violation means, in words.
#[derive(Debug, Clone, Serialize)]
pub struct ConstraintModel {
    pub name: String,
    /// Message for a violation on insert/update.
    pub on_write: String,
    /// Message for a violation caused by deleting a row of this resource.
    pub on_delete: String,
}

/// A CHECK constraint of the table.
#[derive(Debug, Clone, Serialize)]
pub struct CheckModel {
    pub name: String,
    pub expr: String,
}

/// Every statement of a resource, precomputed.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceSql {
    /// Visible (non-hidden) columns, quoted, comma-separated.
    pub select_columns: String,
    pub get: String,
    pub insert: String,
    pub update: String,
    pub delete: String,
    pub export: String,
    pub create_table: String,
    /// `get` after its `SELECT … FROM "table"` (for field selection).
    pub get_tail: String,
    /// `export` after its `SELECT … FROM "table"` (for field selection).
    pub export_tail: String,
    /// `ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY …;`, applied after every table exists.
    pub foreign_keys: Vec<String>,
}

/// A resource's rules: its `access.<op>`, else its `access.default`, else `auth.default`.
fn access_model(auth: &spec::Auth, res: &spec::Resource) -> AccessModel {
    let access = res.access.clone().unwrap_or_default();
    let fallback = access.default.as_ref().unwrap_or(&auth.default);
    AccessModel {
        rules: Operation::ALL
            .iter()
            .map(|&op| {
                (
                    op,
                    RuleModel::from_spec(access.rule(op).unwrap_or(fallback)),
                )
            })
            .collect(),
        owner: access.owner.clone(),
    }
}

impl Model {
    /// Every role the access rules name (resources and monitoring), sorted.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = self
            .resources
            .iter()
            .filter_map(|r| r.access.as_ref())
            .flat_map(|a| a.rules.iter().map(|(_, rule)| rule))
            .chain(self.monitoring.access.as_ref())
            .flat_map(|rule| match rule {
                RuleModel::Roles(roles) => roles.clone(),
                _ => Vec::new(),
            })
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Whether any route is rate limited (the server's limit or an operation's).
    pub fn rate_limited(&self) -> bool {
        self.server.rate_limit.is_some() || self.resources.iter().any(|r| !r.rate_limits.is_empty())
    }

    /// Resolve a validated spec. Infallible: `spec::load` guarantees names resolve.
    pub fn from_spec(spec: &Spec) -> Model {
        let mut uses = Uses::default();
        let mut resources: Vec<ResourceModel> = spec
            .resources
            .iter()
            .map(|(key, res)| resource_model(spec, key, res, &mut uses))
            .collect();
        link_relations(spec, &mut resources);
        if let Some(auth) = &spec.auth {
            for (r, res) in resources.iter_mut().zip(spec.resources.values()) {
                r.access = Some(access_model(auth, res));
            }
        }
        let db = &spec.database;
        Model {
            name: spec.name.clone(),
            pool: PoolModel {
                max: db.pool.max,
                min: db.pool.min,
                idle_timeout_ms: ms(db.pool.idle_timeout),
                connect_timeout_ms: ms(db.pool.connect_timeout),
                max_lifetime_ms: ms(db.pool.max_lifetime),
                acquire_timeout_ms: ms(db.pool.acquire_timeout),
                statement_timeout_ms: ms(db.statement_timeout),
                slow_query_ms: ms(db.slow_query),
            },
            server: ServerModel {
                port: spec.server.port,
                body_limit: spec.server.body_limit.0,
                request_timeout_ms: ms(spec.server.request_timeout),
                compression: spec
                    .server
                    .compression
                    .iter()
                    .map(|c| {
                        match c {
                            spec::Compression::Br => "br",
                            spec::Compression::Gzip => "gzip",
                            spec::Compression::Zstd => "zstd",
                            spec::Compression::Deflate => "deflate",
                        }
                        .to_string()
                    })
                    .collect(),
                compression_min_size: spec.server.compression_min_size.0,
                rate_limit: spec
                    .server
                    .rate_limit
                    .as_ref()
                    .map(|r| QuotaModel::new(r.per_client, r.burst)),
                trusted_proxies: spec.server.trusted_proxies.clone(),
            },
            monitoring: MonitoringModel {
                metrics_path: spec.monitoring.metrics_path.clone(),
                stats_path: spec.monitoring.stats_path.clone(),
                resource_interval_ms: ms(spec.monitoring.resource_interval),
                stats_window_ms: ms(spec.monitoring.stats_window),
                access: spec
                    .monitoring
                    .access
                    .as_ref()
                    .filter(|_| spec.auth.is_some())
                    .map(RuleModel::from_spec)
                    .filter(|r| !r.is_public()),
                port: spec.monitoring.port,
            },
            auth: spec.auth.as_ref().map(|a| AuthModel {
                jwt: a.jwt.as_ref().map(|j| JwtModel {
                    secret_env: j.secret_env.clone(),
                    public_key_env: j.public_key_env.clone(),
                    issuer: j.issuer.clone(),
                    audience: j.audience.clone(),
                    roles_claim: j.roles_claim.clone(),
                }),
                api_keys_env: a.api_keys.as_ref().map(|k| k.env.clone()),
            }),
            cors: spec.server.cors.as_ref().map(|c| CorsModel {
                origins: c.origins.clone(),
                max_age_secs: c.max_age.map(|d| d.as_secs()),
            }),
            redis_url_env: spec.cache.redis.as_ref().map(|r| r.url_env.clone()),
            redis_timeout_ms: spec.cache.redis.as_ref().map_or(50, |r| ms(r.timeout)),
            resources,
            uses,
        }
    }

    /// Every SQL statement the generated API runs, named like `products.list.-price.after`,
    /// with representative parameters (for `apiforge explain`).
    pub fn query_shapes(&self) -> Vec<QueryShape> {
        self.resources.iter().flat_map(sql::query_shapes).collect()
    }

    /// Resources ordered so that every ref target comes before the resources pointing to it
    /// (self-references and cycles keep spec order).
    pub fn creation_order(&self) -> Vec<&ResourceModel> {
        let mut done: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        while out.len() < self.resources.len() {
            let before = out.len();
            for r in &self.resources {
                if done.contains(&r.key.as_str()) {
                    continue;
                }
                let ready = r
                    .belongs_to
                    .iter()
                    .all(|b| b.resource == r.key || done.contains(&b.resource.as_str()));
                if ready {
                    done.push(&r.key);
                    out.push(r);
                }
            }
            if out.len() == before {
                // A cycle: take the rest in spec order.
                for r in &self.resources {
                    if !done.contains(&r.key.as_str()) {
                        done.push(&r.key);
                        out.push(r);
                    }
                }
            }
        }
        out
    }

    pub fn resource(&self, key: &str) -> Option<&ResourceModel> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// The environment variable the generated API reads the Redis URL from: the spec's
    /// `cache.redis.url_env`, else `REDIS_URL`.
    pub fn redis_env(&self) -> &str {
        self.redis_url_env.as_deref().unwrap_or("REDIS_URL")
    }

    /// Whether the generated API connects to Redis (read from [`redis_env`](Self::redis_env)):
    /// the spec has `cache.redis`, or a resource caches in the Redis tier.
    pub fn uses_redis(&self) -> bool {
        self.redis_url_env.is_some()
            || self
                .resources
                .iter()
                .any(|r| r.cache.redis_ttl_ms.is_some())
    }

    /// The features of `apiforge-runtime` the generated API needs (its dependency turns the
    /// defaults off): `auth` for `auth:`, `chrono` for timestamps and dates, `decimal`,
    /// `rate-limit` when it is [rate limited](Self::rate_limited), `redis` when it
    /// [uses Redis](Self::uses_redis) (the shared tier, invalidations and shared rate
    /// limits), `uuid`.
    pub fn runtime_features(&self) -> Vec<&'static str> {
        [
            (self.auth.is_some(), "auth"),
            (self.uses.chrono, "chrono"),
            (self.uses.decimal, "decimal"),
            (self.rate_limited(), "rate-limit"),
            (self.uses_redis(), "redis"),
            (self.uses.uuid, "uuid"),
        ]
        .into_iter()
        .filter_map(|(used, feature)| used.then_some(feature))
        .collect()
    }
}

fn ms(d: spec::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn resource_model(spec: &Spec, key: &str, res: &spec::Resource, uses: &mut Uses) -> ResourceModel {
    let table = res.table.clone().unwrap_or_else(|| key.to_string());
    let struct_name = struct_name(key);
    let mut enums = Vec::new();
    let fields: Vec<FieldModel> = res
        .fields
        .iter()
        .filter(|(_, f)| !f.deprecated)
        .map(|(name, f)| {
            let field = field_model(spec, &struct_name, name, f, uses);
            if field.kind == FieldKind::Enum {
                enums.push(EnumModel {
                    name: field.rust_type.clone(),
                    variants: field
                        .enum_values
                        .iter()
                        .map(|v| (variant_ident(v), v.clone()))
                        .collect(),
                });
            }
            field
        })
        .collect();
    // Deprecated columns stay in the table without their unique constraint or checks;
    // nothing else of them is generated. The API no longer writes them, so a NOT NULL one
    // without a default gets a placeholder default: the previous release, which still
    // reads it as NOT NULL, can read the rows this one writes.
    let retired = res
        .fields
        .iter()
        .filter(|(_, f)| f.deprecated)
        .map(|(name, f)| {
            let mut field = field_model(spec, &struct_name, name, f, &mut Uses::default());
            field.unique = false;
            if !field.nullable && field.default_sql.is_none() {
                field.default_sql = Some(types::placeholder_sql(field.kind, &field.enum_values));
            }
            field
        })
        .collect();
    let pk = fields
        .iter()
        .find(|f| f.primary_key)
        .or(fields.first())
        .cloned()
        .expect("a validated resource has fields");
    let ops_list = res
        .operations
        .clone()
        .unwrap_or_else(|| Operation::ALL.to_vec());
    let has = |op| ops_list.contains(&op);
    let updatable = fields.iter().any(|f| f.in_update);
    let ops = Ops {
        list: has(Operation::List),
        get: has(Operation::Get),
        create: has(Operation::Create),
        // A table whose every column is server-set has nothing to patch.
        update: has(Operation::Update) && updatable,
        delete: has(Operation::Delete),
        export: has(Operation::Export),
    };
    let filters = filter_params(res, &fields);
    let (sort_keys, default_sort) = sort_keys(res, &pk);
    let pagination = res.pagination.unwrap_or(spec.defaults.pagination);
    let indexes = sql::indexes(&table, res, &fields, &sort_keys);
    let constraints = constraint_messages(key, &table, res, &fields);
    let checks = sql::checks(&table, &fields);
    let singular = naming::singularize(key).replace('_', " ");
    let mut model = ResourceModel {
        key: key.to_string(),
        module: rust_ident(key),
        renamed_from: res.renamed_from.clone(),
        path: format!("/{key}"),
        create_name: format!("Create{struct_name}"),
        update_name: format!("Update{struct_name}"),
        list_query_name: format!("{struct_name}ListQuery"),
        struct_name,
        singular,
        readonly_fields: fields
            .iter()
            .filter(|f| f.readonly)
            .map(|f| f.name.clone())
            .collect(),
        cache: cache_model(res),
        budgets: budgets(key, res, &ops),
        aggregates: sql::aggregates(spec, key, res),
        rankings: Vec::new(),
        aggregated_by: Vec::new(),
        access: None,
        rate_limits: res.rate_limit.as_ref().map_or_else(Vec::new, |rates| {
            Operation::ALL
                .into_iter()
                .filter_map(|op| Some((op, QuotaModel::new(rates.rate(op)?, None))))
                .collect()
        }),
        fields,
        pk,
        ops,
        filters,
        retired,
        sorts: Vec::new(),
        default_sort,
        default_limit: pagination.default_limit,
        max_limit: pagination.max_limit,
        belongs_to: Vec::new(),
        has_many: Vec::new(),
        child_includes: Vec::new(),
        indexes,
        constraints,
        checks,
        enums,
        sql: ResourceSql {
            select_columns: String::new(),
            get: String::new(),
            insert: String::new(),
            update: String::new(),
            delete: String::new(),
            export: String::new(),
            create_table: String::new(),
            get_tail: String::new(),
            export_tail: String::new(),
            foreign_keys: Vec::new(),
        },
        table,
    };
    model.sorts = sort_keys
        .iter()
        .map(|(field, desc)| sql::sort_shape(&model, field, *desc))
        .collect();
    model.sql = sql::resource_sql(&model);
    model.rankings = res
        .rankings
        .iter()
        .map(|(name, ranking)| sql::ranking(&model, name, ranking))
        .collect();
    model
}

fn budgets(key: &str, res: &spec::Resource, ops: &Ops) -> Vec<BudgetModel> {
    let us = |d: spec::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    res.budgets
        .iter()
        .filter_map(|(op, b)| {
            let (on, method, route) = match op {
                Operation::List => (ops.list, "GET", format!("/{key}")),
                Operation::Get => (ops.get, "GET", format!("/{key}/{{id}}")),
                Operation::Create => (ops.create, "POST", format!("/{key}")),
                Operation::Update => (ops.update, "PATCH", format!("/{key}/{{id}}")),
                Operation::Delete => (ops.delete, "DELETE", format!("/{key}/{{id}}")),
                Operation::Export => (ops.export, "GET", format!("/{key}/export")),
            };
            // One bound alone stands for both.
            let p95 = b.p95.or(b.p99)?;
            let p99 = b.p99.unwrap_or(p95);
            on.then(|| BudgetModel {
                route,
                method: method.to_string(),
                p95_us: us(p95),
                p99_us: us(p99),
            })
        })
        .collect()
}

fn cache_model(res: &spec::Resource) -> CacheModel {
    let Some(c) = &res.cache else {
        return CacheModel::default();
    };
    CacheModel {
        memory: c.memory.as_ref().map(|m| (m.max_entries, ms(m.ttl))),
        redis_ttl_ms: c.redis.as_ref().map(|r| ms(r.ttl)),
        max_age: c.http.as_ref().map(|h| h.max_age),
        public: c
            .http
            .as_ref()
            .is_some_and(|h| h.visibility == spec::Visibility::Public),
        immutable_when: c.http.as_ref().and_then(|h| h.immutable_when.clone()),
    }
}

fn field_model(
    spec: &Spec,
    owner: &str,
    name: &str,
    f: &spec::Field,
    uses: &mut Uses,
) -> FieldModel {
    // A ref takes the type of its target's primary key.
    let (kind, ref_to) = match f.ty {
        FieldType::Ref => {
            let target = f.to.clone().unwrap_or_default();
            let kind = spec
                .resources
                .get(&target)
                .and_then(|t| t.fields.values().find(|tf| tf.primary_key))
                .map(|tf| types::kind_of(tf.ty))
                .unwrap_or(FieldKind::Bigint);
            // A reference to a serial key is a plain integer column.
            let kind = match kind {
                FieldKind::Serial => FieldKind::Int,
                FieldKind::Bigserial => FieldKind::Bigint,
                k => k,
            };
            (kind, Some(target))
        }
        ty => (types::kind_of(ty), None),
    };
    match kind {
        FieldKind::Uuid => uses.uuid = true,
        FieldKind::Timestamp | FieldKind::Date => uses.chrono = true,
        FieldKind::Decimal => uses.decimal = true,
        FieldKind::Json => uses.json = true,
        _ => {}
    }
    let enum_values = f.values.clone().unwrap_or_default();
    let rust_type = match kind {
        FieldKind::Enum => format!("{owner}{}", name.to_upper_camel_case()),
        k => types::rust_type(k).to_string(),
    };
    let row_type = if f.nullable {
        format!("Option<{rust_type}>")
    } else {
        rust_type.clone()
    };
    let default_sql = f.default.as_ref().map(|d| types::default_sql(kind, d));
    let default_doc = f.default.as_ref().map(|d| types::default_doc(kind, d));
    let server_keyed = f.primary_key
        && (matches!(kind, FieldKind::Serial | FieldKind::Bigserial) || default_sql.is_some());
    let readonly = f.readonly || server_keyed;
    let (sample, sample_alt) = types::samples(kind, f, &enum_values);
    FieldModel {
        ident: rust_ident(name),
        column: quote_ident(name),
        ddl_type: types::ddl_type(kind, f),
        cast_type: types::cast_type(kind).to_string(),
        rust_type,
        row_type,
        nullable: f.nullable,
        primary_key: f.primary_key,
        unique: f.unique,
        hidden: f.hidden,
        readonly,
        in_create: !readonly,
        create_optional: f.nullable || default_sql.is_some(),
        in_update: !readonly && !f.primary_key,
        default_sql,
        default_doc,
        ordered: types::is_ordered(kind),
        min: f.min.map(types::f64_literal),
        max: f.max.map(types::f64_literal),
        max_length: f.max_length,
        precision: f.precision.filter(|_| kind == FieldKind::Decimal),
        scale: f.scale.unwrap_or(0),
        validated: f.min.is_some() || f.max.is_some() || f.max_length.is_some(),
        copy: !matches!(kind, FieldKind::String | FieldKind::Text | FieldKind::Json),
        enum_values,
        ref_to,
        sample,
        sample_alt,
        kind,
        name: name.to_string(),
    }
}

fn filter_params(res: &spec::Resource, fields: &[FieldModel]) -> Vec<FilterParam> {
    let mut out = Vec::new();
    for name in &res.filters {
        let Some(f) = fields.iter().find(|f| &f.name == name) else {
            continue;
        };
        let mut push = |param: String, op: &str, description: String| {
            out.push(FilterParam {
                ident: rust_ident(&param),
                param,
                field: f.name.clone(),
                rust_type: f.rust_type.clone(),
                op: op.to_string(),
                description,
            })
        };
        push(
            f.name.clone(),
            "=",
            format!("Only rows whose `{}` equals this value.", f.name),
        );
        if f.ordered {
            push(
                format!("{}_min", f.name),
                ">=",
                format!("Only rows whose `{}` is at least this value.", f.name),
            );
            push(
                format!("{}_max", f.name),
                "<=",
                format!("Only rows whose `{}` is at most this value.", f.name),
            );
        }
    }
    out
}

/// Accepted sort fields with direction, and the default sort key (`-created_at`).
/// Every allowed field sorts both ways; the default and the primary key are always allowed.
fn sort_keys(res: &spec::Resource, pk: &FieldModel) -> (Vec<(String, bool)>, String) {
    let default = res
        .sort
        .as_ref()
        .and_then(|s| s.default.clone())
        .unwrap_or_else(|| pk.name.clone());
    let mut fields: Vec<String> = Vec::new();
    let mut add = |f: &str| {
        if !fields.iter().any(|x| x == f) {
            fields.push(f.to_string());
        }
    };
    add(default.trim_start_matches('-'));
    for f in res.sort.iter().flat_map(|s| &s.allowed) {
        add(f);
    }
    add(&pk.name);
    let keys = fields
        .into_iter()
        .flat_map(|f| [(f.clone(), false), (f, true)])
        .collect();
    (keys, default)
}

fn constraint_messages(
    key: &str,
    table: &str,
    res: &spec::Resource,
    fields: &[FieldModel],
) -> Vec<ConstraintModel> {
    let singular = naming::singularize(key).replace('_', " ");
    let mut out = vec![ConstraintModel {
        name: format!("{table}_pkey"),
        on_write: format!(
            "{} with this {} already exists",
            naming::with_article(&singular),
            fields_pk_name(fields)
        ),
        on_delete: String::new(),
    }];
    for f in fields {
        if f.unique && !f.primary_key {
            out.push(ConstraintModel {
                name: format!("{table}_{}_key", f.name),
                on_write: format!(
                    "{} with this {} already exists",
                    naming::with_article(&singular),
                    f.name
                ),
                on_delete: String::new(),
            });
        }
        if let Some(target) = &f.ref_to {
            let target_singular = naming::singularize(target).replace('_', " ");
            out.push(ConstraintModel {
                name: format!("{table}_{}_fkey", f.name),
                on_write: format!(
                    "`{}` does not refer to an existing {target_singular}",
                    f.name
                ),
                on_delete: format!(
                    "this {target_singular} is still referenced by {key} (through `{}`)",
                    f.name
                ),
            });
        }
    }
    for f in fields {
        let (exprs, words) = sql::check_parts(f);
        if !exprs.is_empty() {
            out.push(ConstraintModel {
                name: format!("{table}_{}_check", f.name),
                on_write: format!("`{}` must be {}", f.name, words.join(" and ")),
                on_delete: String::new(),
            });
        }
    }
    for index in res.indexes.iter().filter(|i| i.unique()) {
        out.push(ConstraintModel {
            name: sql::index_name(table, index),
            on_write: format!(
                "{} with this combination of {} already exists",
                naming::with_article(&singular),
                index.columns().join(", ")
            ),
            on_delete: String::new(),
        });
    }
    out
}

fn fields_pk_name(fields: &[FieldModel]) -> &str {
    fields
        .iter()
        .find(|f| f.primary_key)
        .map(|f| f.name.as_str())
        .unwrap_or("key")
}

fn link_relations(spec: &Spec, resources: &mut [ResourceModel]) {
    let mut has_many: BTreeMap<String, Vec<Relation>> = BTreeMap::new();
    for r in resources.iter_mut() {
        let res = &spec.resources[&r.key];
        for f in r.fields.iter().filter(|f| f.ref_to.is_some()) {
            let target = f.ref_to.clone().unwrap_or_default();
            let on_delete = match res.fields[&f.name].on_delete.unwrap_or(OnDelete::NoAction) {
                OnDelete::Cascade => "CASCADE",
                OnDelete::Restrict => "RESTRICT",
                OnDelete::SetNull => "SET NULL",
                OnDelete::NoAction => "NO ACTION",
            }
            .to_string();
            let include = f.name.strip_suffix("_id").unwrap_or(&f.name).to_string();
            let target_res = &spec.resources[&target];
            let target_table = target_res.table.clone().unwrap_or_else(|| target.clone());
            let target_column = target_res
                .fields
                .iter()
                .find(|(_, tf)| tf.primary_key)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            let constraint = format!("{}_{}_fkey", r.table, f.name);
            let delete_message = format!(
                "this {} is still referenced by {} (through `{}`)",
                naming::singularize(&target).replace('_', " "),
                r.key,
                f.name
            );
            r.belongs_to.push(Relation {
                include_ident: format!("inc_{}", include),
                target_struct: struct_name(&target),
                target_module: rust_ident(&target),
                constraint: constraint.clone(),
                delete_message: delete_message.clone(),
                field: f.name.clone(),
                include: include.clone(),
                resource: target.clone(),
                table: target_table,
                target_column: target_column.clone(),
                on_delete: on_delete.clone(),
            });
            has_many.entry(target).or_default().push(Relation {
                include_ident: format!("inc_{}", r.key),
                target_struct: r.struct_name.clone(),
                target_module: r.module.clone(),
                constraint,
                delete_message,
                field: f.name.clone(),
                include,
                resource: r.key.clone(),
                table: r.table.clone(),
                target_column,
                on_delete,
            });
        }
    }
    let aggregated: Vec<(String, String)> = resources
        .iter()
        .flat_map(|p| {
            p.aggregates
                .iter()
                .map(|a| (a.child.clone(), p.module.clone()))
        })
        .collect();
    for r in resources.iter_mut() {
        r.aggregated_by = aggregated
            .iter()
            .filter(|(child, _)| *child == r.key)
            .map(|(_, parent)| parent.clone())
            .collect();
        r.has_many = has_many.remove(&r.key).unwrap_or_default();
        r.sql.create_table = sql::create_table(r);
        r.sql.foreign_keys = sql::foreign_keys(r);
    }
    let children: Vec<Vec<ChildInclude>> = resources
        .iter()
        .map(|r| child_includes(spec, r, resources))
        .collect();
    for (r, c) in resources.iter_mut().zip(children) {
        r.child_includes = c;
    }
}

/// The has-many relations of `parent` offered as includes. A name that is already one of
/// the parent's fields, ref includes or aggregates is not offered (it would be ambiguous).
fn child_includes(spec: &Spec, parent: &ResourceModel, all: &[ResourceModel]) -> Vec<ChildInclude> {
    let taken = |name: &str| {
        parent.fields.iter().any(|f| f.name == name)
            || parent.belongs_to.iter().any(|b| b.include == name)
            || spec.resources[&parent.key].aggregates.contains_key(name)
    };
    parent
        .has_many
        .iter()
        .filter_map(|h| {
            let child = all.iter().find(|c| c.key == h.resource)?;
            if !child.ops.list {
                return None; // the child is not listed by the API; do not expose it here
            }
            let twice = parent
                .has_many
                .iter()
                .filter(|o| o.resource == h.resource)
                .count()
                > 1;
            let name = if twice {
                format!("{}_{}", h.resource, h.include)
            } else {
                h.resource.clone()
            };
            if taken(&name) {
                return None;
            }
            let fk = child.fields.iter().find(|f| f.name == h.field)?;
            Some(ChildInclude {
                ident: format!("inc_{name}"),
                sql: sql::children(parent, child, fk),
                shape: format!("{}.include.{name}", parent.key),
                name,
                child_struct: child.struct_name.clone(),
                child_module: child.module.clone(),
                fk_ident: fk.ident.clone(),
                fk_nullable: fk.nullable,
                limit: child.max_limit,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
