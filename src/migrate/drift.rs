//! Drift: the live schema of a database (pg_catalog) against the schema the migrations
//! make (the state in `.apiforge/schema.json`, or the spec's model): every table, column
//! (type, nullability, default), index (columns, unique, validity) and constraint
//! (primary key, unique, check, foreign key) that is missing, extra or different.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use super::diff::{is_serial, pkey_name, unique_name};
use super::state::SchemaState;

/// One column as Postgres reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// `format_type`: `character varying(320)`, `bigint`, `timestamp with time zone`.
    pub ddl_type: String,
    pub not_null: bool,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIndex {
    pub table: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub valid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConstraint {
    pub table: String,
    /// `p`, `u`, `c`, `f`
    pub kind: String,
    /// `pg_get_constraintdef`
    pub def: String,
    pub validated: bool,
}

/// The live schema of the connection's current schema (`public`), sqlx's bookkeeping
/// table left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSchema {
    /// table → column → column (columns in order of position).
    pub tables: BTreeMap<String, Vec<(String, LiveColumn)>>,
    pub indexes: BTreeMap<String, LiveIndex>,
    pub constraints: BTreeMap<String, LiveConstraint>,
}

const IGNORED_TABLES: &[&str] = &["_sqlx_migrations"];

/// Reads the live schema.
pub async fn read_live(url: &str) -> anyhow::Result<LiveSchema> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("cannot connect to the database given by --database-url / DATABASE_URL")?;
    let mut live = LiveSchema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace \
         AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?;
    for t in tables
        .into_iter()
        .filter(|t| !IGNORED_TABLES.contains(&t.as_str()))
    {
        live.tables.insert(t, Vec::new());
    }
    let columns: Vec<(String, String, String, bool, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                pg_get_expr(d.adbin, d.adrelid) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') \
           AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
    )
    .fetch_all(&mut conn)
    .await?;
    for (t, name, ddl_type, not_null, default) in columns {
        if let Some(cols) = live.tables.get_mut(&t) {
            cols.push((
                name,
                LiveColumn {
                    ddl_type,
                    not_null,
                    default,
                },
            ));
        }
    }
    let indexes: Vec<(String, String, Vec<String>, bool, bool)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, \
                ARRAY(SELECT coalesce(a.attname::text, '(expression)') \
                      FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
                      ORDER BY k.ord), \
                x.indisunique, x.indisvalid \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         WHERE t.relnamespace = current_schema()::regnamespace ORDER BY 2",
    )
    .fetch_all(&mut conn)
    .await?;
    for (table, name, columns, unique, valid) in indexes {
        if live.tables.contains_key(&table) {
            live.indexes.insert(
                name,
                LiveIndex {
                    table,
                    columns,
                    unique,
                    valid,
                },
            );
        }
    }
    let constraints: Vec<(String, String, String, String, bool)> = sqlx::query_as(
        "SELECT t.relname::text, con.conname::text, con.contype::text, pg_get_constraintdef(con.oid), \
                con.convalidated \
         FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid \
         WHERE t.relnamespace = current_schema()::regnamespace AND con.contype IN ('p', 'u', 'c', 'f') \
         ORDER BY 2",
    )
    .fetch_all(&mut conn)
    .await?;
    for (table, name, kind, def, validated) in constraints {
        if live.tables.contains_key(&table) {
            live.constraints.insert(
                name,
                LiveConstraint {
                    table,
                    kind,
                    def,
                    validated,
                },
            );
        }
    }
    Ok(live)
}

/// The type as `format_type` prints it.
pub fn pg_type(ddl: &str) -> String {
    let ddl = ddl.trim();
    let (name, args) = match ddl.split_once('(') {
        Some((n, a)) => (n.trim(), format!("({}", a.replace(' ', ""))),
        None => (ddl, String::new()),
    };
    let name = match name {
        "serial" => "integer",
        "bigserial" => "bigint",
        "varchar" => "character varying",
        "timestamptz" => "timestamp with time zone",
        "timestamp" => "timestamp without time zone",
        "int" | "int4" => "integer",
        "int8" => "bigint",
        "bool" => "boolean",
        "float8" => "double precision",
        other => other,
    };
    format!("{name}{args}")
}

/// A default expression without its casts (`'pending'::text` → `'pending'`), for
/// comparing what Postgres stored with what the generator wrote.
pub fn normalize_default(expr: &str) -> String {
    let mut out = String::new();
    let mut chars = expr.trim().chars().peekable();
    let mut in_literal = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_literal = !in_literal;
            out.push(c);
            continue;
        }
        if !in_literal && c == ':' && chars.peek() == Some(&':') {
            chars.next();
            // Skip the type name (letters, digits, spaces, underscores, parentheses).
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' || n == ' ' || n == '(' || n == ')' {
                    chars.next();
                } else {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    let out = out.trim().to_string();
    // `(0)::numeric` → `(0)`: drop parentheses around a whole expression.
    match out.strip_prefix('(').and_then(|o| o.strip_suffix(')')) {
        Some(inner) if !inner.contains('(') => inner.to_string(),
        _ => out,
    }
}

/// Every difference between `live` and `expected`, one a line, in a stable order.
pub fn compare(expected: &SchemaState, live: &LiveSchema) -> Vec<String> {
    let mut out = Vec::new();
    for t in &expected.tables {
        let Some(cols) = live.tables.get(&t.name) else {
            out.push(format!("missing table {}", t.name));
            continue;
        };
        for c in &t.columns {
            let Some((_, lc)) = cols.iter().find(|(n, _)| *n == c.name) else {
                out.push(format!("missing column {}.{}", t.name, c.name));
                continue;
            };
            let want = pg_type(&c.ddl_type);
            if lc.ddl_type != want {
                out.push(format!(
                    "column {}.{}: type {}, expected {want}",
                    t.name, c.name, lc.ddl_type
                ));
            }
            let want_not_null = !c.nullable || c.name == t.primary_key;
            if lc.not_null != want_not_null {
                out.push(format!(
                    "column {}.{}: {}, expected {}",
                    t.name,
                    c.name,
                    if lc.not_null { "NOT NULL" } else { "nullable" },
                    if want_not_null {
                        "NOT NULL"
                    } else {
                        "nullable"
                    }
                ));
            }
            let got = lc.default.as_deref().map(normalize_default);
            if is_serial(&c.ddl_type) {
                if !got.as_deref().is_some_and(|d| d.starts_with("nextval(")) {
                    out.push(format!(
                        "column {}.{}: default {}, expected its sequence (nextval)",
                        t.name,
                        c.name,
                        got.as_deref().unwrap_or("none")
                    ));
                }
            } else {
                let want = c.default.as_deref().map(normalize_default);
                if got != want {
                    out.push(format!(
                        "column {}.{}: default {}, expected {}",
                        t.name,
                        c.name,
                        got.as_deref().unwrap_or("none"),
                        want.as_deref().unwrap_or("none")
                    ));
                }
            }
        }
        for (name, _) in cols {
            if t.column(name).is_none() {
                out.push(format!("extra column {}.{name}", t.name));
            }
        }
    }
    for name in live.tables.keys() {
        if expected.table(name).is_none() {
            out.push(format!("extra table {name}"));
        }
    }

    // Indexes: the state's, plus those of the primary key and unique constraints.
    let mut want_indexes: BTreeMap<String, (String, Vec<String>, bool)> = BTreeMap::new();
    let mut want_constraints: BTreeMap<String, (String, &str, String)> = BTreeMap::new();
    for t in &expected.tables {
        for i in &t.indexes {
            want_indexes.insert(
                i.name.clone(),
                (t.name.clone(), i.columns.clone(), i.unique),
            );
        }
        want_indexes.insert(
            pkey_name(&t.name),
            (t.name.clone(), vec![t.primary_key.clone()], true),
        );
        want_constraints.insert(pkey_name(&t.name), (t.name.clone(), "p", String::new()));
        for c in t
            .columns
            .iter()
            .filter(|c| c.unique && c.name != t.primary_key)
        {
            let name = unique_name(&t.name, &c.name);
            want_indexes.insert(name.clone(), (t.name.clone(), vec![c.name.clone()], true));
            want_constraints.insert(name, (t.name.clone(), "u", String::new()));
        }
        for c in &t.checks {
            want_constraints.insert(c.name.clone(), (t.name.clone(), "c", String::new()));
        }
        for f in &t.foreign_keys {
            want_constraints.insert(
                f.name.clone(),
                (
                    t.name.clone(),
                    "f",
                    format!("{}|{}", f.references, f.on_delete),
                ),
            );
        }
    }
    let present = |table: &str| live.tables.contains_key(table);
    for (name, (table, columns, unique)) in &want_indexes {
        if !present(table) {
            continue;
        }
        match live.indexes.get(name) {
            None => out.push(format!("missing index {name}")),
            Some(li) => {
                if li.table != *table || li.columns != *columns || li.unique != *unique {
                    out.push(format!(
                        "index {name}: {}on {} ({}), expected {}on {table} ({})",
                        if li.unique { "unique " } else { "" },
                        li.table,
                        li.columns.join(", "),
                        if *unique { "unique " } else { "" },
                        columns.join(", ")
                    ));
                }
                if !li.valid {
                    out.push(format!(
                        "index {name}: INVALID (a concurrent build failed); drop it \
                         (DROP INDEX \"{name}\") and apply its migration again"
                    ));
                }
            }
        }
    }
    for (name, li) in &live.indexes {
        if !want_indexes.contains_key(name) && expected.table(&li.table).is_some() {
            out.push(format!("extra index {name}"));
        }
    }
    let kind_name = |k: &str| match k {
        "p" => "primary key",
        "u" => "unique constraint",
        "c" => "check",
        _ => "foreign key",
    };
    for (name, (table, kind, refs)) in &want_constraints {
        if !present(table) {
            continue;
        }
        match live.constraints.get(name) {
            None => out.push(format!("missing {} {name}", kind_name(kind))),
            Some(lc) => {
                if lc.kind != *kind || lc.table != *table {
                    out.push(format!(
                        "constraint {name}: a {} of {}, expected a {} of {table}",
                        kind_name(&lc.kind),
                        lc.table,
                        kind_name(kind)
                    ));
                }
                if *kind == "f" {
                    let (to, on_delete) = refs.split_once('|').unwrap_or_default();
                    let refs_ok = lc.def.contains(&format!("REFERENCES {to}("))
                        || lc.def.contains(&format!("REFERENCES \"{to}\"("));
                    let delete_ok = if on_delete == "NO ACTION" {
                        !lc.def.contains("ON DELETE")
                    } else {
                        lc.def.contains(&format!("ON DELETE {on_delete}"))
                    };
                    if !refs_ok || !delete_ok {
                        out.push(format!(
                            "foreign key {name}: {}, expected REFERENCES {to} ON DELETE {on_delete}",
                            lc.def
                        ));
                    }
                }
                if !lc.validated {
                    out.push(format!(
                        "{} {name}: NOT VALID (its validation has not run)",
                        kind_name(kind)
                    ));
                }
            }
        }
    }
    for (name, lc) in &live.constraints {
        if !want_constraints.contains_key(name) && expected.table(&lc.table).is_some() {
            out.push(format!("extra {} {name}", kind_name(&lc.kind)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_defaults_normalize_as_postgres_prints_them() {
        assert_eq!(pg_type("varchar(320)"), "character varying(320)");
        assert_eq!(pg_type("numeric(10, 2)"), "numeric(10,2)");
        assert_eq!(pg_type("timestamptz"), "timestamp with time zone");
        assert_eq!(pg_type("bigserial"), "bigint");
        assert_eq!(normalize_default("'pending'::text"), "'pending'");
        assert_eq!(normalize_default("'a::b'::character varying"), "'a::b'");
        assert_eq!(normalize_default("now()"), "now()");
        assert_eq!(normalize_default("(0)::numeric"), "0");
    }
}
