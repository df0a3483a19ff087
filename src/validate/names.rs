//! Identifiers: snake_case, Rust keywords, length, collisions after case conversion;
//! and the checks of the spec's top-level sections.

use std::collections::HashMap;

use heck::{ToSnakeCase, ToUpperCamelCase};

use super::{Ctx, key_path};

/// Strict and reserved Rust keywords (2024 edition); a name that is one cannot be a field
/// or type name in generated code. SQL reserved words are fine: SQL identifiers are quoted.
pub const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Query parameters every list route reads; a filter may not take one of these names.
pub const RESERVED_PARAMS: &[&str] = &[
    "limit", "offset", "cursor", "fields", "include", "sort", "format",
];

/// Postgres truncates longer identifiers (NAMEDATALEN - 1).
const MAX_IDENT: usize = 63;

/// `[a-z][a-z0-9_]*`.
pub fn is_snake_ident(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A nicer name than a keyword, for the error message.
fn keyword_alternative(word: &str, kind: &str) -> String {
    match word {
        "type" => "kind".into(),
        "ref" => "reference".into(),
        "match" => "matched".into(),
        "move" => "movement".into(),
        "box" => "container".into(),
        "use" => "usage".into(),
        "mod" => "module".into(),
        "self" => "own".into(),
        "struct" => "structure".into(),
        "static" => "is_static".into(),
        "final" => "is_final".into(),
        "loop" => "cycle".into(),
        "yield" => "output".into(),
        _ => format!("{word}_{kind}"),
    }
}

/// Report a name that is not a usable identifier. `kind` says what it names ("field").
/// Names that only reach SQL (tables, index names, old names) may be Rust keywords.
pub fn check_ident(cx: &mut Ctx, at: &[String], kind: &str, name: &str) {
    let sql_only = matches!(kind, "table" | "old table" | "old column" | "index");
    if !is_snake_ident(name) {
        let mut suggestion: String = name
            .to_snake_case()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !suggestion.starts_with(|c: char| c.is_ascii_lowercase()) {
            suggestion.insert_str(0, "x_");
        }
        cx.error_key(
            at,
            format!(
                "{kind} name `{name}` must be snake_case ASCII (`[a-z][a-z0-9_]*`); \
                 try `{suggestion}`"
            ),
        );
    } else if RUST_KEYWORDS.contains(&name) && !sql_only {
        cx.error_key(
            at,
            format!(
                "{kind} name `{name}` is a Rust keyword and cannot name generated code; \
                 rename it (e.g. `{}`)",
                keyword_alternative(name, kind)
            ),
        );
    } else if name.len() > MAX_IDENT {
        cx.error_key(
            at,
            format!("{kind} name `{name}` is longer than Postgres's {MAX_IDENT}-byte limit"),
        );
    }
}

/// Why `name` cannot be the generated crate's name, if it cannot.
fn reserved_crate_name(name: &str) -> Option<&'static str> {
    const STD: &[&str] = &["std", "core", "alloc", "proc_macro", "test"];
    // Cargo refuses these as package names (they are its build directories).
    const CARGO: &[&str] = &["build", "deps", "examples", "incremental"];
    // Crates the generated project depends on (a package cannot share a dependency's name).
    const DEPENDENCIES: &[&str] = &[
        "apiforge_runtime",
        "axum",
        "chrono",
        "futures_util",
        "log",
        "rust_decimal",
        "serde",
        "serde_json",
        "sqlx",
        "tokio",
        "tower_http",
        "tracing",
        "tracing_subscriber",
        "uuid",
    ];
    if STD.contains(&name) {
        Some("is the name of a Rust standard crate")
    } else if CARGO.contains(&name) {
        Some("is reserved by Cargo")
    } else if DEPENDENCIES.contains(&name) {
        Some("is the name of a crate the generated project depends on")
    } else {
        None
    }
}

/// The top-level sections: `name`, pool, pagination defaults, server, monitoring.
pub fn check_spec_level(cx: &mut Ctx) {
    let spec = cx.spec;
    if !cx.dropped(key_path!["name"]) {
        check_ident(cx, key_path!["name"], "spec", &spec.name);
        if let Some(why) = reserved_crate_name(&spec.name) {
            cx.error_value(
                key_path!["name"],
                format!("spec name `{}` {why}; choose another", spec.name),
            );
        }
    }
    if spec.resources.is_empty() && !cx.dropped_under(key_path!["resources"]) {
        cx.error_key(
            key_path!["resources"],
            "the spec declares no resources; add at least one under `resources:`",
        );
    }
    if spec.database.engine == crate::spec::Engine::Sqlite {
        cx.error_value(
            key_path!["database", "engine"],
            "engine `sqlite` is not supported yet; use `postgres`",
        );
    }
    let pool = &spec.database.pool;
    if pool.max == 0 {
        cx.error_value(
            key_path!["database", "pool", "max"],
            "`pool.max` must be at least 1",
        );
    }
    if pool.min > pool.max {
        cx.error_value(
            key_path!["database", "pool", "min"],
            format!(
                "`pool.min` ({}) is greater than `pool.max` ({})",
                pool.min, pool.max
            ),
        );
    }
    super::resource::check_pagination(
        cx,
        key_path!["defaults", "pagination"],
        &spec.defaults.pagination,
    );
    if let Some(redis) = &spec.cache.redis {
        let ok = redis
            .url_env
            .starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && redis
                .url_env
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            cx.error_value(
                key_path!["cache", "redis", "url_env"],
                format!(
                    "`url_env` names an environment variable (`[A-Z_][A-Z0-9_]*`, e.g. `REDIS_URL`), not `{}`",
                    redis.url_env
                ),
            );
        }
    }
    let server = &spec.server;
    for (i, c) in server.compression.iter().enumerate() {
        if server.compression[..i].contains(c) {
            cx.error_value(
                key_path!["server", "compression", i],
                "compression listed twice",
            );
        }
    }
    if server.body_limit.0 == 0 {
        cx.error_value(
            key_path!["server", "body_limit"],
            "`body_limit` must be more than 0 bytes",
        );
    }
    if server.request_timeout.0.is_zero() {
        cx.error_value(
            key_path!["server", "request_timeout"],
            "`request_timeout` must be more than 0",
        );
    }
    check_monitoring_durations(cx);
    check_monitoring_port(cx);
    check_routes(cx);
}

/// A monitoring listener of its own needs a port of its own.
fn check_monitoring_port(cx: &mut Ctx) {
    let Some(port) = cx.spec.monitoring.port else {
        return;
    };
    let at = key_path!["monitoring", "port"];
    if port == 0 {
        cx.error_value(
            at,
            "`monitoring.port` must be a port number from 1 to 65535 (set MONITORING_PORT=0 at \
             run time for any free port)",
        );
    } else if port == cx.spec.server.port {
        cx.error_value(
            at,
            format!(
                "`monitoring.port` {port} is the API's port (`server.port`): give the metrics \
                 a port of their own, or remove `port` to serve them beside the API"
            ),
        );
    }
}

/// The generated code keeps these durations in whole milliseconds: a zero window or
/// interval would stop the server at start-up, a sub-millisecond threshold would become 0.
fn check_monitoring_durations(cx: &mut Ctx) {
    let spec = cx.spec;
    let ms = std::time::Duration::from_millis(1);
    for (key, d) in [
        ("resource_interval", spec.monitoring.resource_interval.0),
        ("stats_window", spec.monitoring.stats_window.0),
    ] {
        if d < ms {
            cx.error_value(
                key_path!["monitoring", key],
                format!("`monitoring.{key}` must be at least 1ms"),
            );
        }
    }
    let slow = spec.database.slow_query.0;
    if !slow.is_zero() && slow < ms {
        cx.error_value(
            key_path!["database", "slow_query"],
            "`slow_query` must be 0 (log every query) or at least 1ms",
        );
    }
}

/// Monitoring paths are absolute, distinct, and no resource is routed on top of them.
fn check_routes(cx: &mut Ctx) {
    let spec = cx.spec;
    let m = &spec.monitoring;
    let mut taken: Vec<(String, &str)> = vec![("health".into(), "the `/health` route")];
    for (key, path, what) in [
        ("metrics_path", &m.metrics_path, "`monitoring.metrics_path`"),
        ("stats_path", &m.stats_path, "`monitoring.stats_path`"),
    ] {
        let at = key_path!["monitoring", key];
        if !path.starts_with('/') || path.len() < 2 || path.contains(char::is_whitespace) {
            cx.error_value(
                at,
                format!("{what} must be a URL path such as `/metrics`, not `{path}`"),
            );
            continue;
        }
        let first = path[1..].split('/').next().unwrap_or_default().to_string();
        if let Some((_, other)) = taken.iter().find(|(t, _)| *t == first) {
            cx.error_value(at, format!("{what} `{path}` collides with {other}"));
        } else {
            taken.push((first, what));
        }
    }
    for key in spec.resources.keys() {
        if let Some((_, other)) = taken.iter().find(|(t, _)| t == key) {
            let message = format!(
                "resource `{key}` is served at `/{key}`, which collides with {other}; rename it"
            );
            cx.error_key(key_path!["resources", key], message);
        }
    }
}

/// Names that would become the same identifier in generated code (`item_1` and `item1`
/// are both `Item1`): resources, and each resource's fields and aggregates (both are
/// members of the JSON object and of `?fields=`).
pub fn check_collisions(cx: &mut Ctx) {
    let spec = cx.spec;
    let resources: Vec<Named> = spec
        .resources
        .keys()
        .map(|k| ("resource", k.clone(), key_path!["resources", k].to_vec()))
        .collect();
    report_collisions(cx, &resources);
    let mut tables: HashMap<String, &str> = HashMap::new();
    for (key, res) in &spec.resources {
        let table = res.table.as_deref().unwrap_or(key);
        if let Some(other) = tables.insert(table.to_string(), key) {
            let at = if res.table.is_some() {
                key_path!["resources", key, "table"]
            } else {
                key_path!["resources", key]
            };
            cx.error_key(
                at,
                format!("resources `{other}` and `{key}` both use table `{table}`"),
            );
        }
        let mut names: Vec<Named> = res
            .fields
            .keys()
            .map(|f| {
                (
                    "field",
                    f.clone(),
                    key_path!["resources", key, "fields", f].to_vec(),
                )
            })
            .collect();
        names.extend(res.aggregates.keys().map(|a| {
            (
                "aggregate",
                a.clone(),
                key_path!["resources", key, "aggregates", a].to_vec(),
            )
        }));
        report_collisions(cx, &names);
    }
}

/// What a name names, the name, and where it is written.
type Named = (&'static str, String, Vec<String>);

fn report_collisions(cx: &mut Ctx, names: &[Named]) {
    let mut seen: HashMap<String, (&str, &str)> = HashMap::new();
    for (kind, name, at) in names {
        let camel = name.to_upper_camel_case();
        match seen.get(&camel) {
            Some((first_kind, first)) if first == name => {
                let message = format!("{kind} `{name}` has the name of a {first_kind}; rename it");
                cx.error_key(at, message);
            }
            Some((first_kind, first)) => {
                let message = format!(
                    "{kind} `{name}` and {first_kind} `{first}` both become `{camel}` in generated code; rename one"
                );
                cx.error_key(at, message);
            }
            None => {
                seen.insert(camel, (kind, name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_idents() {
        assert!(is_snake_ident("order_items"));
        assert!(is_snake_ident("a1"));
        assert!(!is_snake_ident("orderItems"));
        assert!(!is_snake_ident("_x"));
        assert!(!is_snake_ident("1x"));
        assert!(!is_snake_ident("é"));
        assert!(!is_snake_ident(""));
    }
}
