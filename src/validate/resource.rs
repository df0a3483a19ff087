//! Checks of one resource: its fields, primary key, indexes, filters, sort, pagination,
//! cache and budgets.

use heck::ToUpperCamelCase;

use super::kinds::{self, is_numeric};
use super::names::{RESERVED_PARAMS, check_ident};
use super::suggest::hint;
use super::{Ctx, key_path};
use crate::spec::{Field, FieldType, IndexSpec, OnDelete, Pagination, Resource};

pub fn check(cx: &mut Ctx, key: &str, res: &Resource) {
    let base = key_path!["resources", key];
    check_ident(cx, base, "resource", key);
    if let Some(table) = &res.table {
        check_ident(cx, key_path!["resources", key, "table"], "table", table);
    }
    if let Some(old) = &res.renamed_from {
        check_ident(
            cx,
            key_path!["resources", key, "renamed_from"],
            "old table",
            old,
        );
        let spec = cx.spec;
        if let Some((other, _)) = spec
            .resources
            .iter()
            .find(|(k, r)| r.table.as_deref().unwrap_or(k) == old)
        {
            cx.error_value(
                key_path!["resources", key, "renamed_from"],
                format!("`renamed_from: {old}` names the current table of resource `{other}`"),
            );
        }
    }
    for (name, field) in &res.fields {
        check_field(cx, key, res, name, field);
    }
    check_deprecated(cx, key, res);
    check_primary_key(cx, key, res);
    check_indexes(cx, key, res);
    check_filters(cx, key, res);
    check_sort(cx, key, res);
    if let Some(p) = &res.pagination {
        check_pagination(cx, key_path!["resources", key, "pagination"], p);
    }
    check_cache(cx, key, res);
    check_budgets(cx, key, res);
    if let Some(ops) = &res.operations {
        for (i, op) in ops.iter().enumerate() {
            if ops[..i].contains(op) {
                cx.error_value(
                    key_path!["resources", key, "operations", i],
                    format!("operation `{}` listed twice", op.as_str()),
                );
            }
        }
    }
}

/// A `deprecated: true` field is out of the API but still in the table: nothing may use it
/// (it is never selected), and it cannot be the key or a relation.
fn check_deprecated(cx: &mut Ctx, key: &str, res: &Resource) {
    let deprecated = |name: &str| res.fields.get(name).is_some_and(|f| f.deprecated);
    let used =
        |what: &str| format!("is deprecated (no longer selected): remove it from {what} first");
    for (name, f) in res.fields.iter().filter(|(_, f)| f.deprecated) {
        let at = key_path!["resources", key, "fields", name, "deprecated"];
        if f.primary_key {
            cx.error_key(at, format!("primary key `{name}` cannot be deprecated"));
        }
        if f.ty == FieldType::Ref {
            cx.error_key(
                at,
                format!("`{name}` is a ref: remove the relation instead of deprecating it"),
            );
        }
    }
    for (i, filter) in res.filters.iter().enumerate() {
        if deprecated(filter) {
            let message = format!("filter `{filter}` {}", used("`filters`"));
            cx.error_value(key_path!["resources", key, "filters", i], message);
        }
    }
    if let Some(sort) = &res.sort {
        if let Some(d) = &sort.default
            && deprecated(d.trim_start_matches('-'))
        {
            let message = format!("sort `{d}` {}", used("`sort`"));
            cx.error_value(key_path!["resources", key, "sort", "default"], message);
        }
        for (i, s) in sort.allowed.iter().enumerate() {
            if deprecated(s) {
                let message = format!("sort field `{s}` {}", used("`sort`"));
                cx.error_value(key_path!["resources", key, "sort", "allowed", i], message);
            }
        }
    }
    for (i, index) in res.indexes.iter().enumerate() {
        let columns = match index {
            IndexSpec::Columns(c) => c,
            IndexSpec::Full(f) => &f.columns,
        };
        if let Some(c) = columns.iter().find(|c| deprecated(c)) {
            let message = format!("index column `{c}` {}", used("`indexes`"));
            cx.error_value(key_path!["resources", key, "indexes", i], message);
        }
    }
    for (name, r) in &res.rankings {
        for (k, v) in [("partition", &r.partition), ("order", &r.order)] {
            if deprecated(v.trim_start_matches('-')) {
                let message = format!("ranking `{name}` uses `{v}`, which {}", used("`rankings`"));
                cx.error_value(key_path!["resources", key, "rankings", name, k], message);
            }
        }
    }
    if let Some(flag) = res
        .cache
        .as_ref()
        .and_then(|c| c.http.as_ref())
        .and_then(|h| h.immutable_when.as_ref())
        && deprecated(flag)
    {
        let message = format!("`immutable_when: {flag}` {}", used("`cache.http`"));
        cx.error_value(
            key_path!["resources", key, "cache", "http", "immutable_when"],
            message,
        );
    }
    // Aggregates of other resources over this one's fields (`avg: reviews.rating`).
    let spec = cx.spec;
    for (parent, p) in &spec.resources {
        for (name, a) in &p.aggregates {
            for (func, target) in a.entries() {
                if let Some((child, field)) = target.split_once('.')
                    && child == key
                    && deprecated(field)
                {
                    let message = format!(
                        "aggregate `{name}` uses `{target}`, which {}",
                        used("`aggregates`")
                    );
                    cx.error_value(
                        key_path!["resources", parent, "aggregates", name, func.sql()],
                        message,
                    );
                }
            }
        }
    }
}

fn check_field(cx: &mut Ctx, key: &str, res: &Resource, name: &str, f: &Field) {
    let at = |k: &str| key_path!["resources", key, "fields", name, k].to_vec();
    check_ident(
        cx,
        key_path!["resources", key, "fields", name],
        "field",
        name,
    );
    let tn = kinds::name(f.ty);
    let misplaced =
        |option: &str, fits: &str| format!("`{option}` applies to {fits} fields, not {tn}");
    if f.max_length.is_some() && f.ty != FieldType::String {
        cx.error_key(&at("max_length"), misplaced("max_length", "string"));
    }
    for option in ["precision", "scale"] {
        let set = if option == "precision" {
            f.precision.is_some()
        } else {
            f.scale.is_some()
        };
        if set && f.ty != FieldType::Decimal {
            cx.error_key(&at(option), misplaced(option, "decimal"));
        }
    }
    if f.values.is_some() && f.ty != FieldType::Enum {
        cx.error_key(&at("values"), misplaced("values", "enum"));
    }
    if f.to.is_some() && f.ty != FieldType::Ref {
        cx.error_key(&at("to"), misplaced("to", "ref"));
    }
    if f.on_delete.is_some() && f.ty != FieldType::Ref {
        cx.error_key(&at("on_delete"), misplaced("on_delete", "ref"));
    }
    for (option, set) in [("min", f.min.is_some()), ("max", f.max.is_some())] {
        if set && !is_numeric(f.ty) {
            let extra = if matches!(f.ty, FieldType::String | FieldType::Text) {
                " (limit the length with `max_length` on a string)"
            } else {
                ""
            };
            cx.error_key(
                &at(option),
                format!("`{option}` applies to numeric fields, not {tn}{extra}"),
            );
        }
    }
    if let Some((lo, hi)) = kinds::int_bounds(f.ty) {
        for (option, v) in [("min", f.min), ("max", f.max)] {
            if let Some(v) = v.filter(|v| v.fract() != 0.0 || *v < lo || *v > hi) {
                cx.error_value(
                    &at(option),
                    format!("`{option}: {v}` is not a whole number within the range of {tn}"),
                );
            }
        }
    }
    if let (Some(min), Some(max)) = (f.min, f.max)
        && min > max
    {
        cx.error_value(
            &at("min"),
            format!("`min` ({min}) is greater than `max` ({max})"),
        );
    }
    match f.max_length {
        Some(0) => cx.error_value(&at("max_length"), "`max_length` must be at least 1"),
        Some(n) if n > 10_485_760 => cx.error_value(
            &at("max_length"),
            "`max_length` is above Postgres's varchar limit (10485760); use `type: text`",
        ),
        _ => {}
    }
    if f.ty == FieldType::Decimal {
        match (f.precision, f.scale) {
            (None, Some(_)) => cx.error_key(&at("scale"), "`scale` needs `precision` as well"),
            (Some(p), _) if !(1..=1000).contains(&p) => {
                cx.error_value(&at("precision"), "`precision` must be from 1 to 1000")
            }
            (Some(p), Some(s)) if s > p => cx.error_value(
                &at("scale"),
                format!("`scale` ({s}) is greater than `precision` ({p})"),
            ),
            _ => {}
        }
    }
    if f.ty == FieldType::Enum {
        check_enum_values(cx, key, name, f);
    }
    if f.ty == FieldType::Ref {
        if f.to.is_none() && !cx.dropped(&at("to")) {
            cx.error_key(
                key_path!["resources", key, "fields", name],
                "a ref field needs `to: <resource>`",
            );
        }
        if f.on_delete == Some(OnDelete::SetNull) && !f.nullable {
            cx.error_value(
                &at("on_delete"),
                "`on_delete: set_null` needs `nullable: true` on the ref",
            );
        }
    }
    if let Some(old) = &f.renamed_from {
        check_ident(cx, &at("renamed_from"), "old column", old);
        if res.fields.contains_key(old) {
            cx.error_value(
                &at("renamed_from"),
                format!("`renamed_from: {old}` names a field that still exists"),
            );
        }
    }
    if let Some(value) = &f.default {
        let target_key =
            f.to.as_ref()
                .and_then(|t| cx.spec.resources.get(t))
                .and_then(super::primary_key)
                .map(|(_, k)| k);
        if let Some(problem) = kinds::default_problem(f, value, target_key) {
            cx.error_value(&at("default"), problem);
        }
    }
    let self_numbered = matches!(f.ty, FieldType::Serial | FieldType::Bigserial);
    if f.readonly && !f.nullable && f.default.is_none() && !self_numbered {
        cx.error_key(
            &at("readonly"),
            format!(
                "`{name}` is readonly and NOT NULL without a default, so no create could set it; \
                 add a `default` or `nullable: true`"
            ),
        );
    }
}

fn check_enum_values(cx: &mut Ctx, key: &str, name: &str, f: &Field) {
    let values = f.values.as_deref().unwrap_or_default();
    let values_path = key_path!["resources", key, "fields", name, "values"];
    if values.is_empty() {
        if !cx.dropped(values_path) {
            let at = if f.values.is_some() {
                values_path
            } else {
                key_path!["resources", key, "fields", name]
            };
            cx.error_key(
                at,
                "an enum field needs at least one value: `values: [a, b]`",
            );
        }
        return;
    }
    for (i, v) in values.iter().enumerate() {
        let at = key_path!["resources", key, "fields", name, "values", i];
        if !super::names::is_snake_ident(v) {
            cx.error_value(
                at,
                format!("enum value `{v}` must be snake_case (`[a-z][a-z0-9_]*`)"),
            );
        } else if values[..i].contains(v) {
            cx.error_value(at, format!("enum value `{v}` is listed twice"));
        } else if let Some(other) = values[..i]
            .iter()
            .find(|o| o.to_upper_camel_case() == v.to_upper_camel_case())
        {
            cx.error_value(
                at,
                format!("enum values `{other}` and `{v}` become the same Rust variant; rename one"),
            );
        } else if v == "self" {
            cx.error_value(
                at,
                "enum value `self` would become the Rust keyword `Self`; rename it",
            );
        }
    }
}

fn check_primary_key(cx: &mut Ctx, key: &str, res: &Resource) {
    let fields_path = key_path!["resources", key, "fields"];
    if res.fields.is_empty() {
        if !cx.dropped_under(fields_path) {
            cx.error_key(fields_path, format!("resource `{key}` has no fields"));
        }
        return;
    }
    let keys: Vec<(&String, &Field)> = res.fields.iter().filter(|(_, f)| f.primary_key).collect();
    match keys.as_slice() {
        [] if !cx.dropped_under(fields_path) => cx.error_key(
            fields_path,
            format!(
                "resource `{key}` has no primary key; mark one field `primary_key: true` \
                 (e.g. `id: {{ type: bigserial, primary_key: true }}`)"
            ),
        ),
        [] => {}
        [(name, f)] => {
            let at = |k: &str| key_path!["resources", key, "fields", name, k].to_vec();
            if !kinds::can_be_primary_key(f.ty) {
                cx.error_value(
                    &at("type"),
                    format!(
                        "a primary key cannot be {}; use bigserial, serial, bigint, int, uuid, string or text",
                        kinds::name(f.ty)
                    ),
                );
            }
            if f.nullable {
                cx.error_key(&at("nullable"), "a primary key cannot be nullable");
            }
            if f.hidden {
                cx.error_key(
                    &at("hidden"),
                    "a primary key cannot be hidden: it is the `{id}` of every route",
                );
            }
        }
        [(first, _), rest @ ..] => {
            for (name, _) in rest {
                cx.error_key(
                    key_path!["resources", key, "fields", name, "primary_key"],
                    format!(
                        "resource `{key}` has a second primary key (`{first}` is one); \
                         composite keys are not supported: use a unique index instead"
                    ),
                );
            }
        }
    }
}

/// Report a name that is not a field of the resource; `true` when it is one.
fn known_field(
    cx: &mut Ctx,
    res_key: &str,
    res: &Resource,
    at: &[String],
    name: &str,
    what: &str,
) -> bool {
    if res.fields.contains_key(name) {
        return true;
    }
    if !cx.field_known(res_key, name) {
        let h = hint(name, res.fields.keys().map(String::as_str));
        cx.error_value(
            at,
            format!("{what} names `{name}`, which is not a field of `{res_key}`{h}"),
        );
    }
    false
}

fn check_indexes(cx: &mut Ctx, key: &str, res: &Resource) {
    for (i, index) in res.indexes.iter().enumerate() {
        let cols_path: Vec<String> = match index {
            IndexSpec::Columns(_) => key_path!["resources", key, "indexes", i].to_vec(),
            IndexSpec::Full(_) => key_path!["resources", key, "indexes", i, "columns"].to_vec(),
        };
        let cols = index.columns();
        if cols.is_empty() {
            cx.error_value(&cols_path, "an index needs at least one column");
            continue;
        }
        for (j, col) in cols.iter().enumerate() {
            let mut at = cols_path.clone();
            at.push(j.to_string());
            if known_field(cx, key, res, &at, col, "index") && cols[..j].contains(col) {
                cx.error_value(&at, format!("column `{col}` appears twice in this index"));
            }
        }
        if let Some(j) = res.indexes[..i].iter().position(|o| o.columns() == cols) {
            let first = cx.pos_of(key_path!["resources", key, "indexes", j]);
            cx.error_value(
                key_path!["resources", key, "indexes", i],
                format!(
                    "duplicate index [{}] (the same columns as the index at {first})",
                    cols.join(", ")
                ),
            );
        }
        if let Some(name) = index.name() {
            let at = key_path!["resources", key, "indexes", i, "name"];
            check_ident(cx, at, "index", name);
            let spec = cx.spec;
            let clash = spec
                .resources
                .iter()
                .flat_map(|(k, r)| r.indexes.iter().enumerate().map(move |(n, ix)| (k, n, ix)))
                .take_while(|(k, n, _)| !(k.as_str() == key && *n == i))
                .any(|(_, _, ix)| ix.name() == Some(name));
            if clash {
                cx.error_value(
                    at,
                    format!("index name `{name}` is used twice (index names are per database)"),
                );
            }
        }
    }
}

fn check_filters(cx: &mut Ctx, key: &str, res: &Resource) {
    for (i, name) in res.filters.iter().enumerate() {
        let at = key_path!["resources", key, "filters", i];
        if res.filters[..i].contains(name) {
            cx.error_value(at, format!("filter `{name}` is listed twice"));
            continue;
        }
        if RESERVED_PARAMS.contains(&name.as_str()) {
            cx.error_value(
                at,
                format!(
                    "filter `{name}` collides with the `{name}` query parameter of every list route \
                     (reserved: {}); rename the field",
                    RESERVED_PARAMS.join(", ")
                ),
            );
            continue;
        }
        if !known_field(cx, key, res, at, name, "filter") {
            continue;
        }
        let f = &res.fields[name];
        if f.hidden {
            cx.error_value(
                at,
                format!("filter `{name}` is a hidden field; hidden fields cannot be filtered on"),
            );
        } else if f.ty == FieldType::Json {
            cx.error_value(
                at,
                format!("filter `{name}` is a json field; json fields cannot be filtered on"),
            );
        }
        if kinds::is_ranged(f.ty) {
            for suffix in ["min", "max"] {
                let param = format!("{name}_{suffix}");
                if res.filters.contains(&param) {
                    cx.error_value(
                        at,
                        format!("filter `{name}` takes `?{param}=` for its range, which is also the name of filter `{param}`"),
                    );
                }
            }
        }
    }
}

fn check_sort(cx: &mut Ctx, key: &str, res: &Resource) {
    let Some(sort) = &res.sort else { return };
    for (i, name) in sort.allowed.iter().enumerate() {
        let at = key_path!["resources", key, "sort", "allowed", i];
        if let Some(bare) = name.strip_prefix('-') {
            cx.error_value(
                at,
                format!("write `{bare}` in `sort.allowed`: every allowed field sorts both ways"),
            );
            continue;
        }
        if sort.allowed[..i].contains(name) {
            cx.error_value(at, format!("sort field `{name}` is listed twice"));
            continue;
        }
        if known_field(cx, key, res, at, name, "sort") {
            sortable(cx, at, name, &res.fields[name]);
        }
    }
    if let Some(default) = &sort.default {
        let at = key_path!["resources", key, "sort", "default"];
        let name = default.strip_prefix('-').unwrap_or(default);
        if known_field(cx, key, res, at, name, "sort.default") {
            sortable(cx, at, name, &res.fields[name]);
        }
    }
}

fn sortable(cx: &mut Ctx, at: &[String], name: &str, f: &Field) {
    if f.hidden {
        cx.error_value(
            at,
            format!("sort field `{name}` is hidden; hidden fields cannot be sorted on"),
        );
    } else if f.ty == FieldType::Json {
        cx.error_value(
            at,
            format!("sort field `{name}` is a json field, which has no order"),
        );
    }
}

pub fn check_pagination(cx: &mut Ctx, at: &[String], p: &Pagination) {
    let mut key = at.to_vec();
    if p.default_limit == 0 {
        key.push("default_limit".into());
        cx.error_value(&key, "`default_limit` must be at least 1");
    } else if p.max_limit < p.default_limit {
        key.push("max_limit".into());
        cx.error_value(
            &key,
            format!(
                "`max_limit` ({}) is below `default_limit` ({})",
                p.max_limit, p.default_limit
            ),
        );
    }
}

fn check_cache(cx: &mut Ctx, key: &str, res: &Resource) {
    let Some(cache) = &res.cache else { return };
    if let Some(m) = &cache.memory {
        if m.max_entries == 0 {
            cx.error_value(
                key_path!["resources", key, "cache", "memory", "max_entries"],
                "`max_entries` must be at least 1",
            );
        }
        if m.ttl.0.is_zero() {
            cx.error_value(
                key_path!["resources", key, "cache", "memory", "ttl"],
                "a cache `ttl` must be more than 0",
            );
        }
    }
    if cache.redis.as_ref().is_some_and(|r| r.ttl.0.is_zero()) {
        cx.error_value(
            key_path!["resources", key, "cache", "redis", "ttl"],
            "a cache `ttl` must be more than 0",
        );
    }
    let Some(field) = cache.http.as_ref().and_then(|h| h.immutable_when.as_ref()) else {
        return;
    };
    let at = key_path!["resources", key, "cache", "http", "immutable_when"];
    if known_field(cx, key, res, at, field, "`immutable_when`")
        && res.fields[field].ty != FieldType::Bool
    {
        cx.error_value(
            at,
            format!(
                "`immutable_when` names `{field}`, a {} field; it must name a bool field",
                kinds::name(res.fields[field].ty)
            ),
        );
    }
}

fn check_budgets(cx: &mut Ctx, key: &str, res: &Resource) {
    for (op, b) in res.budgets.iter() {
        let at = key_path!["resources", key, "budgets", op.as_str()];
        match (b.p95, b.p99) {
            (None, None) => cx.error_key(
                at,
                format!("budget `{}` sets neither `p95` nor `p99`", op.as_str()),
            ),
            (Some(p95), Some(p99)) if p95 > p99 => cx.error_value(
                key_path!["resources", key, "budgets", op.as_str(), "p95"],
                format!(
                    "`p95` ({p95}) is above `p99` ({p99}); a 95th percentile cannot exceed the 99th"
                ),
            ),
            _ => {}
        }
        for (q, d) in [("p95", b.p95), ("p99", b.p99)] {
            if d.is_some_and(|d| d.0.is_zero()) {
                cx.error_value(
                    key_path!["resources", key, "budgets", op.as_str(), q],
                    format!("`{q}` must be more than 0"),
                );
            }
        }
        if !res.operations.as_ref().is_none_or(|ops| ops.contains(&op)) {
            cx.error_key(
                at,
                format!(
                    "budget for `{}`, an operation `operations` leaves out",
                    op.as_str()
                ),
            );
        }
    }
}
