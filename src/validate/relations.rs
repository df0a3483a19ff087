//! Checks that span resources: ref targets, `include` names, aggregates over has-many
//! children, rankings.

use super::kinds::{self, is_numeric, is_ranged};
use super::names::check_ident;
use super::suggest::hint;
use super::{Ctx, key_path};
use crate::spec::{AggregateFn, FieldType, Resource};

pub fn check(cx: &mut Ctx, key: &str, res: &Resource) {
    check_refs(cx, key, res);
    for (name, agg) in &res.aggregates {
        check_aggregate(cx, key, name, agg);
    }
    for (name, ranking) in &res.rankings {
        let at = |k: &str| key_path!["resources", key, "rankings", name, k].to_vec();
        check_ident(
            cx,
            key_path!["resources", key, "rankings", name],
            "ranking",
            name,
        );
        let partition = &ranking.partition;
        if let Some(f) = field_of(
            cx,
            key,
            res,
            &at("partition"),
            partition,
            "ranking partition",
        ) && (f.hidden || f.ty == FieldType::Json)
        {
            cx.error_value(
                &at("partition"),
                format!("ranking partition `{partition}` must be a visible, non-json field"),
            );
        }
        let order = ranking.order.strip_prefix('-').unwrap_or(&ranking.order);
        if let Some(f) = field_of(cx, key, res, &at("order"), order, "ranking order")
            && (f.hidden || f.ty == FieldType::Json)
        {
            cx.error_value(
                &at("order"),
                format!("ranking order `{order}` must be a visible, non-json field"),
            );
        }
        if ranking.limit == 0 {
            cx.error_value(&at("limit"), "a ranking `limit` must be at least 1");
        }
    }
}

/// The field `name` of `res`, reporting it when unknown.
fn field_of<'r>(
    cx: &mut Ctx,
    key: &str,
    res: &'r Resource,
    at: &[String],
    name: &str,
    what: &str,
) -> Option<&'r crate::spec::Field> {
    let f = res.fields.get(name);
    if f.is_none() && !cx.field_known(key, name) {
        let h = hint(name, res.fields.keys().map(String::as_str));
        cx.error_value(
            at,
            format!("{what} names `{name}`, which is not a field of `{key}`{h}"),
        );
    }
    f
}

fn check_refs(cx: &mut Ctx, key: &str, res: &Resource) {
    let spec = cx.spec;
    for (name, f) in res.fields.iter().filter(|(_, f)| f.ty == FieldType::Ref) {
        let Some(target) = &f.to else { continue };
        if !cx.resource_known(target) {
            let h = hint(target, spec.resources.keys().map(String::as_str));
            cx.error_value(
                key_path!["resources", key, "fields", name, "to"],
                format!("`to: {target}` names no resource{h}"),
            );
        }
        // A target without exactly one primary key is reported on the target itself.

        // `?include=user` for `user_id` puts the user under `user` in the JSON object.
        let include = name.strip_suffix("_id").unwrap_or(name);
        if include == name {
            continue;
        }
        let other = if res.fields.contains_key(include) {
            Some("field")
        } else if res.aggregates.contains_key(include) {
            Some("aggregate")
        } else {
            None
        };
        if let Some(other) = other {
            cx.error_key(
                key_path!["resources", key, "fields", name],
                format!(
                    "ref `{name}` is included as `{include}` (`?include={include}`), \
                     the name of {other} `{include}` too; rename one"
                ),
            );
        }
    }
}

fn check_aggregate(cx: &mut Ctx, key: &str, name: &str, agg: &crate::spec::Aggregate) {
    let base = key_path!["resources", key, "aggregates", name];
    check_ident(cx, base, "aggregate", name);
    let entries = agg.entries();
    let (func, target) = match entries.as_slice() {
        [one] => *one,
        [] => {
            if !cx.dropped_under(base) {
                cx.error_key(
                    base,
                    "an aggregate needs one of `count: child`, `avg: child.field`, `sum`, `min` or `max`",
                );
            }
            return;
        }
        [_, (second, _), ..] => {
            cx.error_key(
                key_path!["resources", key, "aggregates", name, second.sql()],
                "an aggregate computes one function; declare another aggregate for this one",
            );
            return;
        }
    };
    let at = key_path!["resources", key, "aggregates", name, func.sql()];
    let (child, field) = match target.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (target, None),
    };
    match (func, field) {
        (AggregateFn::Count, Some(_)) => {
            cx.error_value(
                at,
                format!("`count` takes a child resource, not a field: `count: {child}`"),
            );
            return;
        }
        (AggregateFn::Count, None) => {}
        (_, None) => {
            cx.error_value(
                at,
                format!(
                    "`{}` needs `child.field`, e.g. `{}: {child}.rating`",
                    func.sql(),
                    func.sql()
                ),
            );
            return;
        }
        (_, Some(_)) => {}
    }
    let spec = cx.spec;
    let Some(child_res) = spec.resources.get(child) else {
        if !cx.resource_known(child) {
            let h = hint(child, spec.resources.keys().map(String::as_str));
            cx.error_value(
                at,
                format!("aggregate names `{child}`, which is not a resource{h}"),
            );
        }
        return;
    };
    let refs: Vec<&String> = child_res
        .fields
        .iter()
        .filter(|(_, f)| f.ty == FieldType::Ref && f.to.as_deref() == Some(key))
        .map(|(n, _)| n)
        .collect();
    match refs.as_slice() {
        [] if !cx.dropped_under(key_path!["resources", child, "fields"]) => {
            cx.error_value(
                at,
                format!(
                    "`{child}` is not a has-many child of `{key}`: it has no ref field with `to: {key}`"
                ),
            );
            return;
        }
        [] => return,
        [_] => {}
        [a, b, ..] => {
            cx.error_value(
                at,
                format!("`{child}` refers to `{key}` twice (`{a}` and `{b}`), so the aggregate is ambiguous"),
            );
            return;
        }
    }
    let Some(field) = field else { return };
    let Some(f) = child_res.fields.get(field) else {
        if !cx.field_known(child, field) {
            let h = hint(field, child_res.fields.keys().map(String::as_str));
            cx.error_value(
                at,
                format!("aggregate names `{child}.{field}`, which is not a field of `{child}`{h}"),
            );
        }
        return;
    };
    if f.hidden {
        cx.error_value(
            at,
            format!("`{child}.{field}` is hidden; hidden fields cannot be aggregated"),
        );
    } else if matches!(func, AggregateFn::Avg | AggregateFn::Sum) && !is_numeric(f.ty) {
        cx.error_value(
            at,
            format!(
                "`{}` needs a numeric field; `{child}.{field}` is {}",
                func.sql(),
                kinds::name(f.ty)
            ),
        );
    } else if !is_ranged(f.ty) {
        cx.error_value(
            at,
            format!(
                "`{}` needs a numeric, timestamp or date field; `{child}.{field}` is {}",
                func.sql(),
                kinds::name(f.ty)
            ),
        );
    }
}
