//! Key and shape checks on the positioned YAML tree, before serde sees it.
//!
//! serde stops at its first error; this walk reports every unknown key, missing key and
//! value of the wrong kind at once, then hands serde a cleaned `serde_yaml::Value` (bad
//! values removed) so that the semantic checks can still run on the rest of the spec.
//! The schema below mirrors `spec::types` key for key.

use std::collections::HashSet;

use serde_yaml::{Mapping, Value};

use super::suggest::did_you_mean;
use crate::spec::units::{ByteSize, Duration, Rate};
use crate::spec::yaml::{Kind, Node, Pos, Problem, Resolved, int_value};

/// A single value (a YAML scalar) of some kind.
pub enum Leaf {
    /// Any scalar but null, taken as text (`123` is the string "123").
    Str,
    Bool,
    /// A whole number from 0 to the bound.
    UInt(u64),
    /// Any finite number.
    Number,
    Duration,
    Size,
    /// A rate such as `50/s`.
    Rate,
    /// One of a fixed list of words; the str names what it is ("field type").
    Choice(&'static str, &'static [&'static str]),
}

/// The kind of value expected at one place of the spec.
pub enum Shape {
    Leaf(Leaf),
    /// Anything (a field's `default`, checked against its type later).
    Any,
    /// A mapping with known keys; the str names it for messages ("a field").
    Map(&'static str, &'static [Key]),
    /// A mapping from user-chosen names to values of one shape; the str says what the
    /// names are ("field").
    MapOf(&'static str, &'static Shape),
    SeqOf(&'static Shape),
    /// A list (`[a, b]`) or a mapping, with a hint for anything else.
    SeqOrMap(&'static Shape, &'static Shape, &'static str),
    /// A single value or a mapping (`public` or `{ roles: [admin] }`).
    ScalarOrMap(&'static Shape, &'static Shape),
}

/// One key of a [`Shape::Map`].
pub struct Key {
    pub name: &'static str,
    pub shape: &'static Shape,
    /// Without it the enclosing mapping is unusable (and dropped).
    pub required: bool,
}

const fn opt(name: &'static str, shape: &'static Shape) -> Key {
    Key {
        name,
        shape,
        required: false,
    }
}

const fn req(name: &'static str, shape: &'static Shape) -> Key {
    Key {
        name,
        shape,
        required: true,
    }
}

/// Field types, as written in specs.
pub const FIELD_TYPES: &[&str] = &[
    "string",
    "text",
    "int",
    "bigint",
    "serial",
    "bigserial",
    "float",
    "decimal",
    "bool",
    "uuid",
    "timestamp",
    "date",
    "json",
    "enum",
    "ref",
];

/// Operations, as written in specs.
pub const OPERATIONS: &[&str] = &["list", "get", "create", "update", "delete", "export"];

const DURATION: Shape = Shape::Leaf(Leaf::Duration);
const STR: Shape = Shape::Leaf(Leaf::Str);
const BOOL: Shape = Shape::Leaf(Leaf::Bool);
const U16: Shape = Shape::Leaf(Leaf::UInt(u16::MAX as u64));
const U32: Shape = Shape::Leaf(Leaf::UInt(u32::MAX as u64));
const U64: Shape = Shape::Leaf(Leaf::UInt(u64::MAX));
const NUMBER: Shape = Shape::Leaf(Leaf::Number);
const SIZE: Shape = Shape::Leaf(Leaf::Size);
const STRS: Shape = Shape::SeqOf(&STR);
const RATE: Shape = Shape::Leaf(Leaf::Rate);

/// `public`, `authenticated` or `{ roles: [...] }`.
static ACCESS: Shape = Shape::ScalarOrMap(
    &Shape::Leaf(Leaf::Choice("access", &["public", "authenticated"])),
    &Shape::Map("an access rule", &[req("roles", &STRS)]),
);

static AUTH: Shape = Shape::Map(
    "`auth`",
    &[
        opt(
            "jwt",
            &Shape::Map(
                "`auth.jwt`",
                &[
                    opt("secret_env", &STR),
                    opt("public_key_env", &STR),
                    opt("issuer", &STR),
                    opt("audience", &STR),
                    opt("roles_claim", &STR),
                ],
            ),
        ),
        opt(
            "api_keys",
            &Shape::Map("`auth.api_keys`", &[req("env", &STR)]),
        ),
        opt("default", &ACCESS),
    ],
);

static RESOURCE_ACCESS: Shape = Shape::Map(
    "a resource `access`",
    &[
        opt("list", &ACCESS),
        opt("get", &ACCESS),
        opt("create", &ACCESS),
        opt("update", &ACCESS),
        opt("delete", &ACCESS),
        opt("export", &ACCESS),
        opt("default", &ACCESS),
        opt("owner", &STR),
    ],
);

static OPERATION_RATES: Shape = Shape::Map(
    "a resource `rate_limit`",
    &[
        opt("list", &RATE),
        opt("get", &RATE),
        opt("create", &RATE),
        opt("update", &RATE),
        opt("delete", &RATE),
        opt("export", &RATE),
    ],
);

static POOL: Shape = Shape::Map(
    "`database.pool`",
    &[
        opt("max", &U32),
        opt("min", &U32),
        opt("idle_timeout", &DURATION),
        opt("connect_timeout", &DURATION),
        opt("max_lifetime", &DURATION),
        opt("acquire_timeout", &DURATION),
    ],
);

static DATABASE: Shape = Shape::Map(
    "`database`",
    &[
        opt(
            "engine",
            &Shape::Leaf(Leaf::Choice("database engine", &["postgres", "sqlite"])),
        ),
        opt("pool", &POOL),
        opt("slow_query", &DURATION),
        opt("statement_timeout", &DURATION),
    ],
);

static CACHE_SETTINGS: Shape = Shape::Map(
    "`cache`",
    &[opt(
        "redis",
        &Shape::Map(
            "`cache.redis`",
            &[opt("url_env", &STR), opt("timeout", &DURATION)],
        ),
    )],
);

static SERVER: Shape = Shape::Map(
    "`server`",
    &[
        opt("port", &U16),
        opt(
            "compression",
            &Shape::SeqOf(&Shape::Leaf(Leaf::Choice(
                "compression",
                &["br", "gzip", "zstd", "deflate"],
            ))),
        ),
        opt("compression_min_size", &SIZE),
        opt("body_limit", &SIZE),
        opt("request_timeout", &DURATION),
        opt(
            "cors",
            &Shape::Map(
                "`server.cors`",
                &[req("origins", &STRS), opt("max_age", &DURATION)],
            ),
        ),
        opt(
            "rate_limit",
            &Shape::Map(
                "`server.rate_limit`",
                &[req("per_client", &RATE), opt("burst", &U32)],
            ),
        ),
        opt("trusted_proxies", &STRS),
    ],
);

static MONITORING: Shape = Shape::Map(
    "`monitoring`",
    &[
        opt("metrics_path", &STR),
        opt("stats_path", &STR),
        opt("resource_interval", &DURATION),
        opt("stats_window", &DURATION),
        opt("access", &ACCESS),
        opt("port", &U16),
    ],
);

static PAGINATION: Shape = Shape::Map(
    "pagination",
    &[opt("default_limit", &U32), opt("max_limit", &U32)],
);

static DEFAULTS: Shape = Shape::Map("`defaults`", &[opt("pagination", &PAGINATION)]);

static FIELD: Shape = Shape::Map(
    "a field",
    &[
        req(
            "type",
            &Shape::Leaf(Leaf::Choice("field type", FIELD_TYPES)),
        ),
        opt("primary_key", &BOOL),
        opt("nullable", &BOOL),
        opt("unique", &BOOL),
        opt("default", &Shape::Any),
        opt("min", &NUMBER),
        opt("max", &NUMBER),
        opt("max_length", &U32),
        opt("readonly", &BOOL),
        opt("hidden", &BOOL),
        opt("deprecated", &BOOL),
        opt("renamed_from", &STR),
        opt("precision", &U32),
        opt("scale", &U32),
        opt("values", &STRS),
        opt("to", &STR),
        opt(
            "on_delete",
            &Shape::Leaf(Leaf::Choice(
                "on_delete",
                &["cascade", "restrict", "set_null", "no_action"],
            )),
        ),
    ],
);

static INDEX: Shape = Shape::SeqOrMap(
    &STRS,
    &Shape::Map(
        "an index",
        &[
            req("columns", &STRS),
            opt("unique", &BOOL),
            opt("name", &STR),
        ],
    ),
    "an index is a list of columns (`- [category, created_at]`) or \
     `{ columns: [...], unique: true, name: ... }`",
);

static SORT: Shape = Shape::Map("`sort`", &[opt("default", &STR), opt("allowed", &STRS)]);

static TTL_ONLY: &[Key] = &[opt("ttl", &DURATION)];

static RESOURCE_CACHE: Shape = Shape::Map(
    "a resource `cache`",
    &[
        opt(
            "memory",
            &Shape::Map(
                "`cache.memory`",
                &[opt("max_entries", &U64), opt("ttl", &DURATION)],
            ),
        ),
        opt("redis", &Shape::Map("`cache.redis`", TTL_ONLY)),
        opt(
            "http",
            &Shape::Map(
                "`cache.http`",
                &[
                    opt("max_age", &U32),
                    opt(
                        "visibility",
                        &Shape::Leaf(Leaf::Choice("visibility", &["public", "private"])),
                    ),
                    opt("immutable_when", &STR),
                ],
            ),
        ),
    ],
);

static BUDGET: Shape = Shape::Map("a budget", &[opt("p95", &DURATION), opt("p99", &DURATION)]);

static BUDGETS: Shape = Shape::Map(
    "`budgets`",
    &[
        opt("list", &BUDGET),
        opt("get", &BUDGET),
        opt("create", &BUDGET),
        opt("update", &BUDGET),
        opt("delete", &BUDGET),
        opt("export", &BUDGET),
    ],
);

static AGGREGATE: Shape = Shape::Map(
    "an aggregate",
    &[
        opt("count", &STR),
        opt("avg", &STR),
        opt("sum", &STR),
        opt("min", &STR),
        opt("max", &STR),
    ],
);

static RANKING: Shape = Shape::Map(
    "a ranking",
    &[
        req("partition", &STR),
        req("order", &STR),
        opt("limit", &U32),
    ],
);

static RESOURCE: Shape = Shape::Map(
    "a resource",
    &[
        opt("table", &STR),
        opt("renamed_from", &STR),
        req("fields", &Shape::MapOf("field", &FIELD)),
        opt("indexes", &Shape::SeqOf(&INDEX)),
        opt("filters", &STRS),
        opt("sort", &SORT),
        opt("pagination", &PAGINATION),
        opt("cache", &RESOURCE_CACHE),
        opt("budgets", &BUDGETS),
        opt("aggregates", &Shape::MapOf("aggregate", &AGGREGATE)),
        opt("rankings", &Shape::MapOf("ranking", &RANKING)),
        opt(
            "operations",
            &Shape::SeqOf(&Shape::Leaf(Leaf::Choice("operation", OPERATIONS))),
        ),
        opt("access", &RESOURCE_ACCESS),
        opt("rate_limit", &OPERATION_RATES),
    ],
);

/// The whole file. `name` is required too, but checked by the caller so that a missing
/// name does not hide every other problem.
pub static SPEC: Shape = Shape::Map(
    "the spec",
    &[
        opt("name", &STR),
        opt("database", &DATABASE),
        opt("cache", &CACHE_SETTINGS),
        opt("server", &SERVER),
        opt("monitoring", &MONITORING),
        opt("defaults", &DEFAULTS),
        opt("auth", &AUTH),
        opt("resources", &Shape::MapOf("resource", &RESOURCE)),
    ],
);

/// Result of the walk: the cleaned value, the problems, and the paths that were removed
/// (so later checks do not report a name as unknown when its definition was malformed).
pub struct Walked {
    pub value: Option<Value>,
    pub problems: Vec<Problem>,
    pub dropped: HashSet<Vec<String>>,
}

/// Check `root` against [`SPEC`].
pub fn walk(root: &Node) -> Walked {
    let mut w = Walker {
        problems: Vec::new(),
        dropped: HashSet::new(),
        path: Vec::new(),
    };
    let value = w.check(root, &SPEC, root.pos);
    Walked {
        value,
        problems: w.problems,
        dropped: w.dropped,
    }
}

struct Walker {
    problems: Vec<Problem>,
    dropped: HashSet<Vec<String>>,
    path: Vec<String>,
}

impl Walker {
    fn error(&mut self, pos: Pos, message: String) {
        self.problems.push(Problem { pos, message });
    }

    fn drop_here(&mut self) {
        self.dropped.insert(self.path.clone());
    }

    /// Check `node` against `shape`; `at` is where to report problems of the node as a
    /// whole (its key, when it has one). `None` when the value is unusable.
    fn check(&mut self, node: &Node, shape: &Shape, at: Pos) -> Option<Value> {
        let null = matches!(&node.kind, Kind::Scalar(s) if s.resolve() == Resolved::Null);
        match shape {
            Shape::Map(what, keys) if null => self.map(&[], what, keys, at),
            Shape::MapOf(..) if null => Some(Value::Mapping(Mapping::new())),
            Shape::SeqOf(_) if null => Some(Value::Sequence(Vec::new())),
            Shape::Map(what, keys) => match &node.kind {
                Kind::Map(entries) => self.map(entries, what, keys, at),
                _ => {
                    // `email: string` for `email: { type: string }`.
                    let hint = match &node.kind {
                        Kind::Scalar(s) => keys
                            .iter()
                            .filter(|k| k.required)
                            .find(|k| matches!(k.shape, Shape::Leaf(Leaf::Choice(_, words)) if words.contains(&s.text.as_str())))
                            .map(|k| format!("; did you mean `{{ {}: {} }}`?", k.name, s.text))
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    self.error(
                        node.pos,
                        format!(
                            "expected {what} (a mapping of keys), found {}{hint}",
                            node.describe()
                        ),
                    );
                    None
                }
            },
            Shape::MapOf(names, elem) => match &node.kind {
                Kind::Map(entries) => {
                    let mut out = Mapping::new();
                    for e in entries {
                        self.path.push(e.key.clone());
                        match self.check(&e.value, elem, e.key_pos) {
                            Some(v) => {
                                out.insert(Value::String(e.key.clone()), v);
                            }
                            None => self.drop_here(),
                        }
                        self.path.pop();
                    }
                    Some(Value::Mapping(out))
                }
                _ => self.wrong(
                    node,
                    &format!("a mapping of {names} names to their definitions"),
                ),
            },
            Shape::SeqOf(elem) => match &node.kind {
                Kind::Seq(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        self.path.push(i.to_string());
                        let v = self.check(item, elem, item.pos);
                        self.path.pop();
                        out.push(v);
                    }
                    // One bad item drops the whole list, so list indexes keep pointing at
                    // the same items in the tree and in the typed spec.
                    out.into_iter()
                        .collect::<Option<Vec<_>>>()
                        .map(Value::Sequence)
                }
                Kind::Scalar(_) => self.wrong(node, "a list (`[a, b]`)"),
                Kind::Map(_) => self.wrong(node, "a list (`[a, b]`)"),
            },
            Shape::SeqOrMap(seq, map, hint) => match &node.kind {
                Kind::Seq(_) => self.check(node, seq, at),
                Kind::Map(_) => self.check(node, map, at),
                Kind::Scalar(s) => {
                    self.error(
                        node.pos,
                        format!(
                            "{hint}; found {}, did you mean `[{}]`?",
                            node.describe(),
                            s.text
                        ),
                    );
                    None
                }
            },
            Shape::ScalarOrMap(scalar, map) => match &node.kind {
                Kind::Map(_) => self.check(node, map, at),
                _ => self.check(node, scalar, at),
            },
            Shape::Any => Some(node.to_value()),
            Shape::Leaf(leaf) => self.scalar(node, leaf),
        }
    }

    fn map(
        &mut self,
        entries: &[crate::spec::yaml::Entry],
        what: &str,
        keys: &[Key],
        at: Pos,
    ) -> Option<Value> {
        let mut out = Mapping::new();
        let mut usable = true;
        let mut suggested = Vec::new();
        for e in entries {
            let Some(key) = keys.iter().find(|k| k.name == e.key) else {
                let names: Vec<&str> = keys.iter().map(|k| k.name).collect();
                let message = match did_you_mean(&e.key, names.iter().copied()) {
                    Some(s) => {
                        suggested.push(s);
                        format!("unknown key `{}` in {what}; did you mean `{s}`?", e.key)
                    }
                    None => format!(
                        "unknown key `{}` in {what}; expected one of: {}",
                        e.key,
                        names.join(", ")
                    ),
                };
                self.error(e.key_pos, message);
                continue;
            };
            self.path.push(e.key.clone());
            match self.check(&e.value, key.shape, e.key_pos) {
                Some(v) => {
                    out.insert(Value::String(e.key.clone()), v);
                }
                None => {
                    self.drop_here();
                    usable &= !key.required;
                }
            }
            self.path.pop();
        }
        for key in keys.iter().filter(|k| k.required) {
            if !entries.iter().any(|e| e.key == key.name) {
                // A misspelt key already said "did you mean" this one.
                if !suggested.contains(&key.name) {
                    self.error(at, format!("{what} needs `{}`", key.name));
                }
                usable = false;
            }
        }
        usable.then_some(Value::Mapping(out))
    }

    fn wrong(&mut self, node: &Node, expected: &str) -> Option<Value> {
        self.error(
            node.pos,
            format!("expected {expected}, found {}", node.describe()),
        );
        None
    }

    fn scalar(&mut self, node: &Node, leaf: &Leaf) -> Option<Value> {
        let Kind::Scalar(s) = &node.kind else {
            let expected = match leaf {
                Leaf::Str => "a single name or text",
                Leaf::Bool => "`true` or `false`",
                Leaf::UInt(_) | Leaf::Number => "a number",
                Leaf::Duration => "a duration such as `250ms`",
                Leaf::Size => "a size such as `1MiB`",
                Leaf::Rate => "a rate such as `50/s`",
                Leaf::Choice(what, words) => {
                    &format!("a single {what} (one of: {})", words.join(", "))
                }
            };
            let message = format!(
                "{}expected {expected}, found {}",
                self.key_prefix(leaf),
                node.describe()
            );
            self.error(node.pos, message);
            return None;
        };
        let resolved = s.resolve();
        let text = s.text.as_str();
        let fail = |message: String| Problem {
            pos: node.pos,
            message,
        };
        let result = match leaf {
            Leaf::Str => match resolved {
                Resolved::Null => Err(fail("expected a name or text, found nothing (null)".into())),
                _ => Ok(Value::String(text.to_owned())),
            },
            Leaf::Bool => match resolved {
                Resolved::Bool(b) => Ok(Value::Bool(b)),
                _ => Err(fail(format!(
                    "expected `true` or `false`, found {}",
                    node.describe()
                ))),
            },
            Leaf::UInt(max) => match resolved {
                Resolved::Int(n) if (0..=i128::from(*max)).contains(&n) => Ok(int_value(n)),
                _ => Err(fail(format!(
                    "expected a whole number from 0 to {max}, found {}",
                    node.describe()
                ))),
            },
            Leaf::Number => match resolved {
                Resolved::Int(n) => Ok(int_value(n)),
                Resolved::Float(f) if f.is_finite() => Ok(Value::Number(f.into())),
                _ => Err(fail(format!(
                    "expected a number, found {}",
                    node.describe()
                ))),
            },
            Leaf::Duration => match resolved {
                Resolved::Null => Err(fail(
                    "expected a duration such as `250ms`, found nothing (null)".into(),
                )),
                _ => text
                    .parse::<Duration>()
                    .map(|_| Value::String(text.to_owned()))
                    .map_err(fail),
            },
            Leaf::Size => match resolved {
                Resolved::Int(n) if n >= 0 => Ok(int_value(n)),
                Resolved::Null => Err(fail(
                    "expected a size such as `1MiB`, found nothing (null)".into(),
                )),
                _ => text
                    .parse::<ByteSize>()
                    .map(|_| Value::String(text.to_owned()))
                    .map_err(fail),
            },
            Leaf::Rate => match resolved {
                Resolved::Null => Err(fail(
                    "expected a rate such as `50/s`, found nothing (null)".into(),
                )),
                _ => text
                    .parse::<Rate>()
                    .map(|_| Value::String(text.to_owned()))
                    .map_err(fail),
            },
            Leaf::Choice(what, words) => {
                if words.contains(&text) && !matches!(resolved, Resolved::Null) {
                    Ok(Value::String(text.to_owned()))
                } else {
                    let hint = did_you_mean(text, words.iter().copied())
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    Err(fail(format!(
                        "unknown {what} {}; {hint}expected one of: {}",
                        node.describe(),
                        words.join(", ")
                    )))
                }
            }
        };
        let prefix = self.key_prefix(leaf);
        result
            .map_err(|mut p| {
                p.message.insert_str(0, &prefix);
                self.problems.push(p);
            })
            .ok()
    }

    /// `` `database.slow_query`: `` — the key a bad scalar belongs to, so a message such as
    /// "duration `100` needs a unit" says whose value it is. Choices already name what they
    /// are ("unknown database engine …") and get no prefix.
    fn key_prefix(&self, leaf: &Leaf) -> String {
        if matches!(leaf, Leaf::Choice(..)) || self.path.is_empty() {
            return String::new();
        }
        format!("`{}`: ", self.path.join("."))
    }
}
