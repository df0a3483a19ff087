//! Warnings: the index checklist of the performance guide, checked on the spec.
//!
//! A column counts as indexed when an index starts with it, or when it is the primary key
//! or `unique` (both have an index of their own).

use super::kinds::is_ranged;
use super::{Ctx, key_path, primary_key};
use crate::spec::{FieldType, Resource};

pub fn check(cx: &mut Ctx, key: &str, res: &Resource) {
    let pk = primary_key(res).map(|(n, _)| n.as_str());
    let leads = |col: &str| {
        Some(col) == pk
            || res.fields.get(col).is_some_and(|f| f.unique)
            || res
                .indexes
                .iter()
                .any(|i| i.columns().first().map(String::as_str) == Some(col))
    };
    let starts_with = |cols: &[&str]| {
        res.indexes.iter().any(|i| {
            i.columns().len() >= cols.len() && i.columns().iter().zip(cols).all(|(a, b)| a == b)
        })
    };

    let sort = res.sort.as_ref();
    let default_raw = sort.and_then(|s| s.default.as_deref());
    let default = default_raw.map(|d| d.strip_prefix('-').unwrap_or(d));
    let allowed = sort.map(|s| s.allowed.as_slice()).unwrap_or_default();

    // An equality filter with the default sort is served by an index [filter, sort]; a
    // range filter is not (the range breaks the order), so only equality types count.
    let needs_composite = |f: &str| {
        let Some(d) = default else { return false };
        let Some(field) = res.fields.get(f) else {
            return false;
        };
        let one_row = Some(f) == pk || field.unique;
        f != d && !one_row && !is_ranged(field.ty) && !starts_with(&[f, d])
    };
    let mut unindexed_filters = Vec::new();
    for (i, f) in res.filters.iter().enumerate() {
        let at = key_path!["resources", key, "filters", i];
        if !leads(f) {
            unindexed_filters.push(f.as_str());
        }
        if needs_composite(f) {
            let (d, shown) = (default.unwrap_or_default(), default_raw.unwrap_or_default());
            cx.warn_key(
                at,
                format!(
                    "filter `{f}` with the default sort `{shown}` has no index [{f}, {d}]: each \
                     page reads every matching row and sorts them; add index [{f}, {d}]"
                ),
            );
        } else if !leads(f) {
            cx.warn_key(
                at,
                format!("filter `{f}` has no index that starts with it, so it scans the table; add index [{f}]"),
            );
        }
    }

    for (i, s) in allowed.iter().enumerate() {
        if !leads(s) {
            cx.warn_key(
                key_path!["resources", key, "sort", "allowed", i],
                format!("sorting by `{s}` reads and sorts every row: no index starts with it; add index [{s}]"),
            );
        }
    }
    if let Some(d) = default.filter(|d| !allowed.iter().any(|a| a == d) && !leads(d)) {
        cx.warn_key(
            key_path!["resources", key, "sort", "default"],
            format!("the default sort `{d}` has no index that starts with it; add index [{d}]"),
        );
    }

    for (i, index) in res.indexes.iter().enumerate() {
        let cols = index.columns();
        let at = key_path!["resources", key, "indexes", i];
        if index.unique() {
            continue;
        }
        let longer = res
            .indexes
            .iter()
            .find(|o| o.columns().len() > cols.len() && o.columns().starts_with(cols));
        if let Some(longer) = longer {
            cx.warn_key(
                at,
                format!(
                    "index [{}] is redundant: index [{}] starts with the same columns; remove it",
                    cols.join(", "),
                    longer.columns().join(", ")
                ),
            );
        } else if let [col] = cols {
            if Some(col.as_str()) == pk {
                cx.warn_key(
                    at,
                    format!("index [{col}] repeats the primary key's index; remove it"),
                );
            } else if res.fields.get(col).is_some_and(|f| f.unique) {
                cx.warn_key(
                    at,
                    format!("index [{col}] repeats the index of `unique: true`; remove it"),
                );
            }
        }
    }

    for (name, _) in res.fields.iter().filter(|(_, f)| f.ty == FieldType::Ref) {
        if !leads(name) && !unindexed_filters.contains(&name.as_str()) {
            cx.warn_key(
                key_path!["resources", key, "fields", name],
                format!(
                    "ref `{name}` has no index: `?include`, aggregates and ON DELETE checks scan \
                     the table; add index [{name}]"
                ),
            );
        }
    }

    // A ranking partitions and orders the whole table; an index on [partition, order]
    // hands the window its rows already grouped (and, ascending, already sorted).
    for (name, ranking) in &res.rankings {
        let order = ranking.order.trim_start_matches('-');
        let (p, o) = (ranking.partition.as_str(), order);
        if res.fields.contains_key(p) && res.fields.contains_key(o) && !starts_with(&[p, o]) {
            cx.warn_key(
                key_path!["resources", key, "rankings", name],
                format!(
                    "ranking `{name}` has no index [{p}, {o}]: each request reads and sorts the \
                     whole table; add index [{p}, {o}]"
                ),
            );
        }
    }

    let cached = res
        .cache
        .as_ref()
        .is_some_and(|c| c.memory.is_some() || c.redis.is_some() || c.http.is_some());
    if cached && res.budgets.is_empty() {
        cx.warn_key(
            key_path!["resources", key, "cache"],
            format!(
                "resource `{key}` is cached but has no `budgets`; add one (e.g. `budgets: {{ get: {{ p95: 50ms, p99: 100ms }} }}`) \
                 so `apiforge budget` can show the cache pays off"
            ),
        );
    }
}
