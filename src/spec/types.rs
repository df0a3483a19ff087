//! Typed form of `apiforge.yaml` (see docs/spec.md). Deserialized with serde; every
//! optional section has a default so a minimal spec is `name` + `resources`.
//!
//! These types are the input of `validate` and `model`; they hold user text as written.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::units::{ByteSize, Duration, Rate};

/// The whole spec file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Crate and binary name of the generated API (snake_case).
    pub name: String,
    #[serde(default)]
    pub database: Database,
    #[serde(default)]
    pub cache: CacheSettings,
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub defaults: Defaults,
    /// Authentication (JWT, API keys) and the default access of operations; without it,
    /// every operation is public and no credentials are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Resources in file order (order is kept in generated code and migrations).
    #[serde(default)]
    pub resources: IndexMap<String, Resource>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    #[default]
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    pub engine: Engine,
    pub pool: Pool,
    pub slow_query: Duration,
    pub statement_timeout: Duration,
}

impl Default for Database {
    fn default() -> Self {
        Self {
            engine: Engine::Postgres,
            pool: Pool::default(),
            slow_query: Duration::from_millis(100),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Pool {
    pub max: u32,
    pub min: u32,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_lifetime: Duration,
    /// How long a request waits for a free connection before it is answered 503.
    pub acquire_timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Self {
            max: 20,
            min: 0,
            idle_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(30 * 60),
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Top-level `cache:` section (shared-tier connection settings).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub redis: Option<RedisSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// Environment variable that holds the Redis URL; unset at run time = in-process only.
    pub url_env: String,
    /// Upper bound on one Redis round trip before the cache is bypassed.
    pub timeout: Duration,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url_env: "REDIS_URL".into(),
            timeout: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    Br,
    Gzip,
    Zstd,
    Deflate,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub port: u16,
    pub compression: Vec<Compression>,
    /// Responses smaller than this are sent uncompressed.
    pub compression_min_size: ByteSize,
    pub body_limit: ByteSize,
    pub request_timeout: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<ClientRateLimit>,
    /// Proxies whose `X-Forwarded-For` names the client (addresses or networks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            port: 8080,
            compression: vec![Compression::Br, Compression::Gzip, Compression::Zstd],
            compression_min_size: ByteSize(1024),
            body_limit: ByteSize(1024 * 1024),
            request_timeout: Duration::from_secs(10),
            cors: None,
            rate_limit: None,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    pub metrics_path: String,
    pub stats_path: String,
    pub resource_interval: Duration,
    /// Sliding window of `/_stats` percentiles and of budget warnings.
    pub stats_window: Duration,
    /// Who may read the metrics and statistics (with `auth`); public by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// A listener of their own for the metrics and statistics (`MONITORING_PORT` overrides
    /// it); `None`: they are served on the API's port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            metrics_path: "/metrics".into(),
            stats_path: "/_stats".into(),
            resource_interval: Duration::from_secs(30),
            stats_window: Duration::from_secs(60),
            access: None,
            port: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Pagination {
    pub default_limit: u32,
    pub max_limit: u32,
}

impl Default for Pagination {
    fn default() -> Self {
        Self {
            default_limit: 50,
            max_limit: 200,
        }
    }
}

/// One resource (a table and its routes).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Table name; defaults to the resource key.
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub renamed_from: Option<String>,
    pub fields: IndexMap<String, Field>,
    #[serde(default)]
    pub indexes: Vec<IndexSpec>,
    #[serde(default)]
    pub filters: Vec<String>,
    #[serde(default)]
    pub sort: Option<Sort>,
    /// Overrides `defaults.pagination` for this resource.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub cache: Option<ResourceCache>,
    #[serde(default)]
    pub budgets: Budgets,
    #[serde(default)]
    pub aggregates: IndexMap<String, Aggregate>,
    #[serde(default)]
    pub rankings: IndexMap<String, Ranking>,
    /// Which routes exist; `None` means all of them.
    #[serde(default)]
    pub operations: Option<Vec<Operation>>,
    /// Who may call each operation, and the owner field of owned rows (needs `auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<ResourceAccess>,
    /// Per-operation rate limits per client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<OperationRates>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    List,
    Get,
    Create,
    Update,
    Delete,
    Export,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::List,
        Operation::Get,
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Export,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Export => "export",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
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
    Ref,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    Cascade,
    Restrict,
    SetNull,
    NoAction,
}

/// One field (a column).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub nullable: bool,
    #[serde(default)]
    pub unique: bool,
    /// A literal of the field's type, or `now` / `gen_random_uuid`.
    #[serde(default)]
    pub default: Option<serde_yaml::Value>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub max_length: Option<u32>,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default)]
    pub hidden: bool,
    /// Expand/contract: no longer selected or written by the API, still in the table (nullable
    /// from now on), so the previous release keeps working; drop it in a later release.
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub renamed_from: Option<String>,
    /// decimal only
    #[serde(default)]
    pub precision: Option<u32>,
    /// decimal only
    #[serde(default)]
    pub scale: Option<u32>,
    /// enum only
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// ref only: target resource key
    #[serde(default)]
    pub to: Option<String>,
    /// ref only
    #[serde(default)]
    pub on_delete: Option<OnDelete>,
}

/// `- [a, b]` or `- { columns: [a, b], unique: true, name: idx_x }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum IndexSpec {
    Columns(Vec<String>),
    Full(IndexFull),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndexFull {
    pub columns: Vec<String>,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub name: Option<String>,
}

impl IndexSpec {
    pub fn columns(&self) -> &[String] {
        match self {
            IndexSpec::Columns(c) => c,
            IndexSpec::Full(f) => &f.columns,
        }
    }
    pub fn unique(&self) -> bool {
        matches!(self, IndexSpec::Full(f) if f.unique)
    }
    pub fn name(&self) -> Option<&str> {
        match self {
            IndexSpec::Columns(_) => None,
            IndexSpec::Full(f) => f.name.as_deref(),
        }
    }
}

/// `sort: { default: -created_at, allowed: [created_at, price] }`; `-` = descending.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub allowed: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceCache {
    #[serde(default)]
    pub memory: Option<MemoryCache>,
    #[serde(default)]
    pub redis: Option<RedisCache>,
    #[serde(default)]
    pub http: Option<HttpCache>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryCache {
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    #[serde(default = "default_cache_ttl")]
    pub ttl: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisCache {
    #[serde(default = "default_cache_ttl")]
    pub ttl: Duration,
}

fn default_max_entries() -> u64 {
    10_000
}
fn default_cache_ttl() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    #[default]
    Private,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpCache {
    /// Seconds.
    #[serde(default)]
    pub max_age: u32,
    #[serde(default)]
    pub visibility: Visibility,
    /// A bool field: rows where it is true are served `public, max-age=31536000, immutable`.
    #[serde(default)]
    pub immutable_when: Option<String>,
}

/// Latency budget of one operation.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default)]
    pub p95: Option<Duration>,
    #[serde(default)]
    pub p99: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    #[serde(default)]
    pub list: Option<Budget>,
    #[serde(default)]
    pub get: Option<Budget>,
    #[serde(default)]
    pub create: Option<Budget>,
    #[serde(default)]
    pub update: Option<Budget>,
    #[serde(default)]
    pub delete: Option<Budget>,
    #[serde(default)]
    pub export: Option<Budget>,
}

impl Budgets {
    /// Declared budgets, in operation order.
    pub fn iter(&self) -> impl Iterator<Item = (Operation, &Budget)> {
        [
            (Operation::List, &self.list),
            (Operation::Get, &self.get),
            (Operation::Create, &self.create),
            (Operation::Update, &self.update),
            (Operation::Delete, &self.delete),
            (Operation::Export, &self.export),
        ]
        .into_iter()
        .filter_map(|(op, b)| b.as_ref().map(|b| (op, b)))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// `review_count: { count: reviews }`, `avg_rating: { avg: reviews.rating }`.
/// Exactly one key (validation checks it); its value names a has-many child resource,
/// and for all but `count` a numeric field of it (`child.field`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    #[serde(default)]
    pub count: Option<String>,
    #[serde(default)]
    pub avg: Option<String>,
    #[serde(default)]
    pub sum: Option<String>,
    #[serde(default)]
    pub min: Option<String>,
    #[serde(default)]
    pub max: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    Count,
    Avg,
    Sum,
    Min,
    Max,
}

impl AggregateFn {
    pub fn sql(self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::Avg => "avg",
            AggregateFn::Sum => "sum",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
        }
    }
}

impl Aggregate {
    /// Every (function, target) pair written; a valid aggregate has exactly one.
    pub fn entries(&self) -> Vec<(AggregateFn, &str)> {
        [
            (AggregateFn::Count, &self.count),
            (AggregateFn::Avg, &self.avg),
            (AggregateFn::Sum, &self.sum),
            (AggregateFn::Min, &self.min),
            (AggregateFn::Max, &self.max),
        ]
        .into_iter()
        .filter_map(|(f, t)| t.as_deref().map(|t| (f, t)))
        .collect()
    }

    /// The function and its target (`reviews` or `reviews.rating`), when exactly one is set.
    pub fn single(&self) -> Option<(AggregateFn, &str)> {
        match self.entries().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// Top N rows per partition: `{ partition: category, order: -sales, limit: 10 }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ranking {
    pub partition: String,
    pub order: String,
    #[serde(default = "default_ranking_limit")]
    pub limit: u32,
}

fn default_ranking_limit() -> u32 {
    10
}

/// `auth:` — how callers authenticate, and the access of operations not listed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default)]
    pub jwt: Option<Jwt>,
    #[serde(default)]
    pub api_keys: Option<ApiKeys>,
    /// Access of every operation that no `access:` names: authenticated unless set.
    #[serde(default = "authenticated")]
    pub default: Access,
}

fn authenticated() -> Access {
    Access::Word(AccessWord::Authenticated)
}

/// Bearer JWTs: HS256 with a shared secret, or RS256/ES256 with a PEM public key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// Environment variable holding the HS256 secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Environment variable holding a PEM public key (RSA: RS256, EC P-256: ES256).
    #[serde(default)]
    pub public_key_env: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default = "roles_claim")]
    pub roles_claim: String,
}

fn roles_claim() -> String {
    "roles".into()
}

/// `api_keys: { env: API_KEYS }`: the variable holds `name:sha256-hex,…`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeys {
    pub env: String,
}

/// `public`, `authenticated`, or `{ roles: [admin] }` (any of the roles).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Access {
    Word(AccessWord),
    Roles(Roles),
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccessWord {
    Public,
    Authenticated,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    pub roles: Vec<String>,
}

/// A resource's `access:`: a rule per operation, the default of the others, and the owner
/// field of owned rows.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceAccess {
    #[serde(default)]
    pub list: Option<Access>,
    #[serde(default)]
    pub get: Option<Access>,
    #[serde(default)]
    pub create: Option<Access>,
    #[serde(default)]
    pub update: Option<Access>,
    #[serde(default)]
    pub delete: Option<Access>,
    #[serde(default)]
    pub export: Option<Access>,
    /// Operations not listed here; `auth.default` when absent.
    #[serde(default)]
    pub default: Option<Access>,
    /// A field holding the owner's subject: callers only see and write their own rows.
    #[serde(default)]
    pub owner: Option<String>,
}

impl ResourceAccess {
    /// The rule written for `op`, if any.
    pub fn rule(&self, op: Operation) -> Option<&Access> {
        match op {
            Operation::List => self.list.as_ref(),
            Operation::Get => self.get.as_ref(),
            Operation::Create => self.create.as_ref(),
            Operation::Update => self.update.as_ref(),
            Operation::Delete => self.delete.as_ref(),
            Operation::Export => self.export.as_ref(),
        }
    }
}

/// `server.cors`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Allowed origins (`*` for any, without credentials).
    pub origins: Vec<String>,
    /// How long browsers may reuse a preflight answer.
    #[serde(default)]
    pub max_age: Option<Duration>,
}

/// `server.rate_limit`: per token subject, else per client address.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientRateLimit {
    pub per_client: Rate,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A resource's `rate_limit:` per operation.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct OperationRates {
    #[serde(default)]
    pub list: Option<Rate>,
    #[serde(default)]
    pub get: Option<Rate>,
    #[serde(default)]
    pub create: Option<Rate>,
    #[serde(default)]
    pub update: Option<Rate>,
    #[serde(default)]
    pub delete: Option<Rate>,
    #[serde(default)]
    pub export: Option<Rate>,
}

impl OperationRates {
    /// The rate of `op`, if limited.
    pub fn rate(&self, op: Operation) -> Option<Rate> {
        match op {
            Operation::List => self.list,
            Operation::Get => self.get,
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
            Operation::Export => self.export,
        }
    }
}
