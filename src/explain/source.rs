//! Where the shapes come from.
//!
//! INTERIM: until the generator's `model::Model::query_shapes()` is part of the build,
//! this builds the read shapes (get, list per sort, list per filter, export) from the
//! spec in the same form the generator emits them (optional filters as
//! `($n::type IS NULL OR col = $n::type)`, `ORDER BY col, pk LIMIT/OFFSET`).
//! `shapes()` is the one function to switch to the model.

use super::shape::{Filter, Param, Shape};
use crate::spec::{Field, FieldType, Operation, Resource, Spec};

/// Every query shape of the spec, in resource order.
pub fn shapes(spec: &Spec) -> Vec<Shape> {
    spec.resources
        .iter()
        .flat_map(|(key, res)| resource_shapes(spec, key, res))
        .collect()
}

struct Col<'a> {
    name: &'a str,
    cast: String,
    sample: String,
    ordered: bool,
}

fn col<'a>(spec: &Spec, name: &'a str, f: &Field) -> Col<'a> {
    let (cast, sample, ordered) = match f.ty {
        FieldType::String | FieldType::Text => ("text", "x".to_owned(), false),
        FieldType::Enum => (
            "text",
            f.values
                .iter()
                .flatten()
                .next()
                .cloned()
                .unwrap_or_default(),
            false,
        ),
        FieldType::Int | FieldType::Serial => ("integer", "1".into(), true),
        FieldType::Bigint | FieldType::Bigserial => ("bigint", "1".into(), true),
        FieldType::Float => ("double precision", "1.5".into(), true),
        FieldType::Decimal => ("numeric", "1".into(), true),
        FieldType::Bool => ("boolean", "false".into(), false),
        FieldType::Uuid => ("uuid", "00000000-0000-4000-8000-000000000001".into(), false),
        FieldType::Timestamp => ("timestamptz", "2024-01-01T00:00:00Z".into(), true),
        FieldType::Date => ("date", "2024-01-01".into(), true),
        FieldType::Json => ("jsonb", "{}".into(), false),
        FieldType::Ref => {
            let target = f.to.as_deref().and_then(|t| spec.resources.get(t));
            let pk = target.and_then(|t| t.fields.iter().find(|(_, f)| f.primary_key));
            return match pk {
                Some((_, pkf)) if pkf.ty != FieldType::Ref => Col {
                    name,
                    ..col(spec, name, pkf)
                },
                _ => Col {
                    name,
                    cast: "bigint".into(),
                    sample: "1".into(),
                    ordered: true,
                },
            };
        }
    };
    Col {
        name,
        cast: cast.into(),
        sample,
        ordered,
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn resource_shapes(spec: &Spec, key: &str, res: &Resource) -> Vec<Shape> {
    let allows = |op| {
        res.operations
            .as_ref()
            .is_none_or(|ops: &Vec<Operation>| ops.contains(&op))
    };
    let Some((pk_name, pk_field)) = res.fields.iter().find(|(_, f)| f.primary_key) else {
        return Vec::new();
    };
    let pk = col(spec, pk_name, pk_field);
    let table = quote(res.table.as_deref().unwrap_or(key));
    let cols: Vec<String> = res
        .fields
        .iter()
        .filter(|(_, f)| !f.hidden)
        .map(|(n, _)| quote(n))
        .collect();
    let select = format!("SELECT {} FROM {table}", cols.join(", "));
    let shape = |name: String,
                 sql: String,
                 params: Vec<Param>,
                 filters: Vec<Filter>,
                 sort: Option<String>| Shape {
        resource: key.to_owned(),
        name,
        sql,
        params,
        filters,
        sort,
    };
    let mut out = Vec::new();
    if allows(Operation::Get) {
        let param = Param {
            name: pk_name.clone(),
            cast: pk.cast.clone(),
            sample: Some(pk.sample.clone()),
        };
        let sql = format!("{select} WHERE {} = $1", quote(pk_name));
        out.push(shape(
            format!("{key}.get"),
            sql,
            vec![param],
            Vec::new(),
            None,
        ));
    }
    if allows(Operation::List) {
        // (query parameter, column, SQL operator) of every filter, in spec order.
        let mut filters: Vec<(String, Col, &str)> = Vec::new();
        for name in &res.filters {
            let Some(f) = res.fields.get(name) else {
                continue;
            };
            let c = col(spec, name, f);
            if c.ordered {
                filters.push((format!("{name}_min"), col(spec, name, f), ">="));
                filters.push((format!("{name}_max"), c, "<="));
            } else {
                filters.push((name.clone(), c, "="));
            }
        }
        let conds: Vec<String> = filters
            .iter()
            .enumerate()
            .map(|(i, (_, c, op))| {
                let n = i + 1;
                format!(
                    "(${n}::{cast} IS NULL OR {} {op} ${n}::{cast})",
                    quote(c.name),
                    cast = c.cast
                )
            })
            .collect();
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let n = filters.len();
        let list_sql = |sort: &str| {
            let (field, dir) = sort.strip_prefix('-').map_or((sort, ""), |f| (f, " DESC"));
            let order = if field == pk_name {
                format!("{}{dir}", quote(pk_name))
            } else {
                format!("{}{dir}, {}{dir}", quote(field), quote(pk_name))
            };
            format!(
                "{select}{where_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            )
        };
        let params = |set: Option<usize>| {
            let mut p: Vec<Param> = filters
                .iter()
                .enumerate()
                .map(|(i, (param, c, _))| Param {
                    name: param.clone(),
                    cast: c.cast.clone(),
                    sample: (set == Some(i)).then(|| c.sample.clone()),
                })
                .collect();
            let limit = res
                .pagination
                .unwrap_or(spec.defaults.pagination)
                .default_limit;
            for (name, v) in [("limit", limit.to_string()), ("offset", "0".to_owned())] {
                p.push(Param {
                    name: name.into(),
                    cast: "bigint".into(),
                    sample: Some(v),
                });
            }
            p
        };
        let default_sort = res
            .sort
            .as_ref()
            .and_then(|s| s.default.clone())
            .unwrap_or_else(|| pk_name.clone());
        let mut sorts = vec![default_sort.clone()];
        for s in res.sort.iter().flat_map(|s| &s.allowed) {
            if !sorts.iter().any(|x| x.trim_start_matches('-') == s) {
                sorts.push(s.clone());
            }
        }
        for sort in &sorts {
            let field = sort.trim_start_matches('-').to_owned();
            out.push(shape(
                format!("{key}.list.{sort}"),
                list_sql(sort),
                params(None),
                Vec::new(),
                Some(field),
            ));
        }
        for (i, (param, c, op)) in filters.iter().enumerate() {
            let filter = Filter {
                column: c.name.to_owned(),
                equality: *op == "=",
            };
            let sort = Some(default_sort.trim_start_matches('-').to_owned());
            out.push(shape(
                format!("{key}.list?{param}"),
                list_sql(&default_sort),
                params(Some(i)),
                vec![filter],
                sort,
            ));
        }
    }
    if allows(Operation::Export) {
        let sql = format!("{select} ORDER BY {}", quote(pk_name));
        out.push(shape(
            format!("{key}.export"),
            sql,
            Vec::new(),
            Vec::new(),
            None,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_products_shapes() {
        let spec: Spec = serde_yaml::from_str(include_str!("../../examples/shop.yaml")).unwrap();
        let all = shapes(&spec);
        let names: Vec<&str> = all
            .iter()
            .filter(|s| s.resource == "products")
            .map(|s| s.name.as_str())
            .collect();
        assert!(names.contains(&"products.get"));
        assert!(names.contains(&"products.list.-created_at"));
        assert!(names.contains(&"products.list.sales"));
        assert!(names.contains(&"products.list?category"));
        assert!(names.contains(&"products.list?price_min"));
        let cat = all
            .iter()
            .find(|s| s.name == "products.list?category")
            .unwrap();
        assert_eq!(cat.suggested_index(), ["category", "created_at"]);
        assert_eq!(cat.params[0].sample.as_deref(), Some("x"));
        assert!(cat.params[1..3].iter().all(|p| p.sample.is_none()));
        assert!(
            cat.sql
                .contains("ORDER BY \"created_at\" DESC, \"id\" DESC LIMIT $4 OFFSET $5"),
            "{}",
            cat.sql
        );
    }
}
