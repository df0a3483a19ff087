//! SQL text of the migration and of every query shape, computed once for the templates.
//! Every value is a bound parameter; identifiers come from the validated spec, quoted.

use serde::Serialize;

use super::naming::{quote_ident, quote_literal};
use super::{
    AggregateGroup, CheckModel, FieldKind, FieldModel, IndexModel, RankingModel, ResourceModel,
    ResourceSql, SortShape,
};
use crate::spec::{self, FieldType, IndexSpec, Spec};

/// One SQL statement the generated API runs, for `apiforge explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryShape {
    /// `products.list.-created_at`, `products.get`, …
    pub name: String,
    pub sql: String,
    /// `$1`, `$2`, … in order.
    pub params: Vec<ShapeParam>,
}

/// A representative value of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeParam {
    /// What the parameter is (`category`, `limit`, `cursor`, `id`).
    pub name: String,
    /// Postgres type to cast the sample to.
    pub cast: String,
    /// The value as text; `None` is SQL NULL (an unused filter).
    pub sample: Option<String>,
}

/// `products_category_price_idx`, `users_email_key` (unique), or the spec's own name.
pub fn index_name(table: &str, index: &IndexSpec) -> String {
    match index.name() {
        Some(n) => n.to_string(),
        None => {
            let suffix = if index.unique() { "key" } else { "idx" };
            format!("{table}_{}_{suffix}", index.columns().join("_"))
        }
    }
}

/// Declared indexes, plus one on each ref column that no declared index starts with.
///
/// A non-unique index that ends with a sortable field gets the primary key appended
/// (`[price]` → `("price", "id")`): list pages are ordered and keyset-paged by
/// `(sort field, key)`, and without the key in the index every row that ties with the
/// cursor's value is read and sorted again on every page.
pub fn indexes(
    table: &str,
    res: &spec::Resource,
    fields: &[FieldModel],
    sort_keys: &[(String, bool)],
) -> Vec<IndexModel> {
    let pk = fields
        .iter()
        .find(|f| f.primary_key)
        .map(|f| f.name.as_str());
    let sortable = |name: &str| sort_keys.iter().any(|(f, _)| f == name);
    let mut out: Vec<IndexModel> = res
        .indexes
        .iter()
        .map(|i| {
            let mut columns = i.columns().to_vec();
            if let Some(pk) = pk {
                let ends_sorted = columns.last().is_some_and(|c| sortable(c));
                if !i.unique() && ends_sorted && !columns.iter().any(|c| c == pk) {
                    columns.push(pk.to_string());
                }
            }
            index_model(index_name(table, i), table, &columns, i.unique())
        })
        .collect();
    for f in fields.iter().filter(|f| f.ref_to.is_some()) {
        let covered = out.iter().any(|i| i.columns.first() == Some(&f.name));
        if !covered {
            let cols = [f.name.clone()];
            out.push(index_model(
                format!("{table}_{}_idx", f.name),
                table,
                &cols,
                false,
            ));
        }
    }
    out
}

fn index_model(name: String, table: &str, columns: &[String], unique: bool) -> IndexModel {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let sql = format!(
        "CREATE {}INDEX {} ON {} ({});",
        if unique { "UNIQUE " } else { "" },
        quote_ident(&name),
        quote_ident(table),
        cols.join(", ")
    );
    IndexModel {
        name,
        columns: columns.to_vec(),
        unique,
        sql,
    }
}

/// One CHECK per field with min / max / enum values / a `text` max_length.
pub fn checks(table: &str, fields: &[FieldModel]) -> Vec<CheckModel> {
    fields
        .iter()
        .filter_map(|f| {
            let (exprs, _) = check_parts(f);
            (!exprs.is_empty()).then(|| CheckModel {
                name: format!("{table}_{}_check", f.name),
                expr: exprs.join(" AND "),
            })
        })
        .collect()
}

/// SQL conditions of a field's CHECK, and the same rules in words.
pub fn check_parts(f: &FieldModel) -> (Vec<String>, Vec<String>) {
    let (mut exprs, mut words) = (Vec::new(), Vec::new());
    let num = |lit: &str| {
        lit.parse::<f64>()
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    if let Some(min) = &f.min {
        exprs.push(format!("{} >= {}", f.column, num(min)));
        words.push(format!("at least {}", num(min)));
    }
    if let Some(max) = &f.max {
        exprs.push(format!("{} <= {}", f.column, num(max)));
        words.push(format!("at most {}", num(max)));
    }
    if f.kind == FieldKind::Enum && !f.enum_values.is_empty() {
        let vals: Vec<String> = f.enum_values.iter().map(|v| quote_literal(v)).collect();
        exprs.push(format!("{} IN ({})", f.column, vals.join(", ")));
        words.push(format!("one of {}", f.enum_values.join(", ")));
    }
    if let (FieldKind::Text, Some(n)) = (f.kind, f.max_length) {
        exprs.push(format!("char_length({}) <= {n}", f.column));
        words.push(format!("at most {n} characters long"));
    }
    (exprs, words)
}

/// `CREATE TABLE` with columns, primary key, unique and check constraints.
/// Foreign keys come after every table (see [`foreign_keys`]) so that order never matters.
pub fn create_table(r: &ResourceModel) -> String {
    let mut lines: Vec<String> = r
        .fields
        .iter()
        .chain(&r.retired)
        .map(|f| {
            let mut col = format!("{} {}", f.column, f.ddl_type);
            if !f.nullable {
                col.push_str(" NOT NULL");
            }
            if let Some(d) = &f.default_sql {
                col.push_str(&format!(" DEFAULT {d}"));
            }
            col
        })
        .collect();
    lines.push(format!(
        "CONSTRAINT {} PRIMARY KEY ({})",
        quote_ident(&format!("{}_pkey", r.table)),
        r.pk.column
    ));
    for f in r.fields.iter().filter(|f| f.unique && !f.primary_key) {
        lines.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            quote_ident(&format!("{}_{}_key", r.table, f.name)),
            f.column
        ));
    }
    for c in &r.checks {
        lines.push(format!(
            "CONSTRAINT {} CHECK ({})",
            quote_ident(&c.name),
            c.expr
        ));
    }
    format!(
        "CREATE TABLE {} (\n    {}\n);",
        quote_ident(&r.table),
        lines.join(",\n    ")
    )
}

/// `ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY` for each ref of the resource.
pub fn foreign_keys(r: &ResourceModel) -> Vec<String> {
    r.belongs_to
        .iter()
        .map(|b| {
            format!(
                "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {};",
                quote_ident(&r.table),
                quote_ident(&format!("{}_{}_fkey", r.table, b.field)),
                quote_ident(&b.field),
                quote_ident(&b.table),
                quote_ident(&b.target_column),
                b.on_delete
            )
        })
        .collect()
}

pub fn visible_columns(r: &ResourceModel) -> String {
    r.fields
        .iter()
        .filter(|f| !f.hidden)
        .map(|f| f.column.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `WHERE` conditions of the list filters, `$1…$n` in filter order; an absent filter is NULL.
fn filter_conditions(r: &ResourceModel) -> Vec<String> {
    r.filters
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let f = field(r, &p.field);
            let n = i + 1;
            format!(
                "(${n}::{cast} IS NULL OR {col} {op} ${n}::{cast})",
                cast = f.cast_type,
                col = f.column,
                op = p.op
            )
        })
        .collect()
}

fn field<'a>(r: &'a ResourceModel, name: &str) -> &'a FieldModel {
    r.fields
        .iter()
        .find(|f| f.name == name)
        .expect("validated spec: filter and sort names resolve")
}

/// Where a hook's scope condition goes in a statement (a comment the engine replaces
/// when a scope applies): after the other conditions, or as the `WHERE` when there are none.
pub const AND_SCOPE: &str = "/*and scope*/";
pub const WHERE_SCOPE: &str = "/*where scope*/";

/// ` WHERE c1 AND c2 /*and scope*/`, or ` /*where scope*/` without conditions.
fn where_scoped(conditions: &[String]) -> String {
    if conditions.is_empty() {
        format!(" {WHERE_SCOPE}")
    } else {
        format!(" WHERE {} {AND_SCOPE}", conditions.join(" AND "))
    }
}

/// The two list statements of one sort order: offset paging and keyset paging after a cursor.
pub fn sort_shape(r: &ResourceModel, field_name: &str, desc: bool) -> SortShape {
    let f = field(r, field_name);
    let pk = &r.pk;
    let dir = if desc { " DESC" } else { "" };
    let order = if f.name == pk.name {
        format!("{}{dir}", pk.column)
    } else {
        format!("{}{dir}, {}{dir}", f.column, pk.column)
    };
    let conds = filter_conditions(r);
    let n = conds.len();
    let where_clause = |extra: Option<String>| {
        let mut all = conds.clone();
        all.extend(extra);
        where_scoped(&all)
    };
    let cmp = if desc { "<" } else { ">" };
    let c = n + 1;
    let keyset = if f.name == pk.name {
        format!("{} {cmp} (${c}::jsonb->>1)::{}", pk.column, pk.cast_type)
    } else {
        format!(
            "({}, {}) {cmp} ((${c}::jsonb->>0)::{}, (${c}::jsonb->>1)::{})",
            f.column, pk.column, f.cast_type, pk.cast_type
        )
    };
    let tail_offset = format!(
        "{} ORDER BY {order} LIMIT ${} OFFSET ${}",
        where_clause(None),
        n + 1,
        n + 2
    );
    let tail_after = format!(
        "{} ORDER BY {order} LIMIT ${}",
        where_clause(Some(keyset)),
        n + 2
    );
    SortShape {
        key: format!("{}{}", if desc { "-" } else { "" }, f.name),
        field: f.name.clone(),
        descending: desc,
        sql_offset: full_rows(r, &tail_offset, &format!(" ORDER BY {order}")),
        sql_after: full_rows(r, &tail_after, &format!(" ORDER BY {order}")),
        tail_offset,
        tail_after,
    }
}

/// get / insert / update / delete / export statements.
pub fn resource_sql(r: &ResourceModel) -> ResourceSql {
    let cols = visible_columns(r);
    let table = quote_ident(&r.table);
    let pk = &r.pk.column;
    let mut insert_cols = Vec::new();
    let mut insert_vals = Vec::new();
    for (i, f) in r.fields.iter().filter(|f| f.in_create).enumerate() {
        let n = i + 1;
        insert_cols.push(f.column.clone());
        insert_vals.push(match &f.default_sql {
            Some(d) => format!("COALESCE(${n}, {d})"),
            None => format!("${n}"),
        });
    }
    let insert = if insert_cols.is_empty() {
        format!("INSERT INTO {table} DEFAULT VALUES RETURNING {cols}")
    } else {
        format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING {cols}",
            insert_cols.join(", "),
            insert_vals.join(", ")
        )
    };
    // Absent fields keep their value: COALESCE for non-null columns; nullable columns take
    // a "present" flag so that a JSON null can set NULL.
    let mut sets = Vec::new();
    let mut n = 1;
    for f in r.fields.iter().filter(|f| f.in_update) {
        if f.nullable {
            sets.push(format!(
                "{c} = CASE WHEN ${} THEN ${} ELSE {c} END",
                n + 1,
                n + 2,
                c = f.column
            ));
            n += 2;
        } else {
            sets.push(format!("{c} = COALESCE(${}, {c})", n + 1, c = f.column));
            n += 1;
        }
    }
    let by_key = format!(" WHERE {pk} = $1 {AND_SCOPE}");
    let update = format!(
        "UPDATE {table} SET {}{by_key} RETURNING {cols}",
        sets.join(", ")
    );
    ResourceSql {
        get: full_rows(r, &by_key, ""),
        get_tail: by_key.clone(),
        export_tail: format!(" {WHERE_SCOPE} ORDER BY {pk}"),
        insert,
        update,
        delete: format!("DELETE FROM {table}{by_key} RETURNING {cols}"),
        export: format!("SELECT {cols} FROM {table} {WHERE_SCOPE} ORDER BY {pk}"),
        select_columns: cols,
        create_table: String::new(),
        foreign_keys: Vec::new(),
    }
}

/// A JSON sample as the text Postgres parses for a cast (`"abc"` → `abc`).
fn text_of(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        _ => json.to_string(),
    }
}

/// Every statement of one resource, with representative parameters.
pub fn query_shapes(r: &ResourceModel) -> Vec<QueryShape> {
    let key_param = |name: &str| ShapeParam {
        name: name.to_string(),
        cast: r.pk.cast_type.clone(),
        sample: Some(text_of(&r.pk.sample)),
    };
    let null_filters = || -> Vec<ShapeParam> {
        r.filters
            .iter()
            .map(|p| ShapeParam {
                name: p.param.clone(),
                cast: field(r, &p.field).cast_type.clone(),
                sample: None,
            })
            .collect()
    };
    let limit = ShapeParam {
        name: "limit".into(),
        cast: "bigint".into(),
        sample: Some(r.default_limit.to_string()),
    };
    let offset = ShapeParam {
        name: "offset".into(),
        cast: "bigint".into(),
        sample: Some("0".into()),
    };
    let mut out = Vec::new();
    if r.ops.get {
        out.push(QueryShape {
            name: format!("{}.get", r.key),
            sql: r.sql.get.clone(),
            params: vec![key_param(&r.pk.name)],
        });
    }
    if r.ops.list {
        for s in &r.sorts {
            let mut params = null_filters();
            params.push(limit.clone());
            params.push(offset.clone());
            out.push(QueryShape {
                name: format!("{}.list.{}", r.key, s.key),
                sql: s.sql_offset.clone(),
                params,
            });
            let f = field(r, &s.field);
            let mut params = null_filters();
            params.push(ShapeParam {
                name: "cursor".into(),
                cast: "text".into(),
                sample: Some(format!("[{},{}]", f.sample, r.pk.sample)),
            });
            params.push(limit.clone());
            out.push(QueryShape {
                name: format!("{}.list.{}.after", r.key, s.key),
                sql: s.sql_after.clone(),
                params,
            });
        }
        // One shape per filter, set alone, under the default sort.
        if let Some(s) = r.sorts.iter().find(|s| s.key == r.default_sort) {
            for (i, p) in r.filters.iter().enumerate() {
                let mut params = null_filters();
                params[i].sample = Some(text_of(&field(r, &p.field).sample));
                params.push(limit.clone());
                params.push(offset.clone());
                out.push(QueryShape {
                    name: format!("{}.list?{}", r.key, p.param),
                    sql: s.sql_offset.clone(),
                    params,
                });
            }
        }
    }
    for c in &r.child_includes {
        out.push(QueryShape {
            name: c.shape.clone(),
            sql: c.sql.clone(),
            params: vec![ShapeParam {
                name: "keys".into(),
                cast: format!("{}[]", r.pk.cast_type),
                sample: Some(format!("{{{}}}", text_of(&r.pk.sample))),
            }],
        });
    }
    for k in &r.rankings {
        out.push(QueryShape {
            name: k.shape.clone(),
            sql: k.sql.clone(),
            params: Vec::new(),
        });
    }
    if r.ops.delete {
        out.push(QueryShape {
            name: format!("{}.delete", r.key),
            sql: r.sql.delete.clone(),
            params: vec![key_param(&r.pk.name)],
        });
    }
    if r.ops.export {
        out.push(QueryShape {
            name: format!("{}.export", r.key),
            sql: r.sql.export.clone(),
            params: Vec::new(),
        });
    }
    out
}

/// The aggregates of `key`, grouped by child resource: per child one `LEFT JOIN LATERAL`
/// of the parent's own statement, so a page and its aggregates are read by one query
/// (never one query per row, nor a second round trip). The lateral subquery yields one
/// text column holding the JSON members (`"review_count":2,"avg_rating":4.5`).
pub fn aggregates(spec: &Spec, key: &str, res: &spec::Resource) -> Vec<AggregateGroup> {
    let mut groups: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for (name, agg) in &res.aggregates {
        let Some((func, target)) = agg.single() else {
            continue;
        };
        let (child, column) = match target.split_once('.') {
            Some((c, col)) => (c, Some(col)),
            None => (target, None),
        };
        let col = |c: &str| format!("\"child\".{}", quote_ident(c));
        let expr = match (func, column) {
            (spec::AggregateFn::Count, _) => "count(*)".to_string(),
            (spec::AggregateFn::Avg, Some(c)) => format!("avg({})::double precision", col(c)),
            (f, Some(c)) => format!("{}({})", f.sql(), col(c)),
            (f, None) => format!("{}(*)", f.sql()),
        };
        let empty = if func == spec::AggregateFn::Count {
            "0"
        } else {
            "null"
        };
        let entry = match groups.iter_mut().position(|g| g.0 == child) {
            Some(i) => &mut groups[i],
            None => {
                groups.push((child.to_string(), Vec::new(), Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        // `"name":<value as JSON>`: to_json keeps numbers numbers; no children → count 0,
        // the others NULL.
        entry.1.push(format!(
            "{} || COALESCE(to_json({expr})::text, 'null')",
            quote_literal(&format!("\"{name}\":"))
        ));
        entry.2.push(format!("\"{name}\":{empty}"));
    }
    let parent_pk = res
        .fields
        .iter()
        .find(|(_, f)| f.primary_key)
        .map(|(n, _)| quote_ident(n))
        .unwrap_or_default();
    groups
        .into_iter()
        .filter_map(|(child, members, empties)| {
            let child_res = spec.resources.get(&child)?;
            let fk = child_res
                .fields
                .iter()
                .find(|(_, f)| f.ty == FieldType::Ref && f.to.as_deref() == Some(key))
                .map(|(n, _)| quote_ident(n))?;
            let table = quote_ident(child_res.table.as_deref().unwrap_or(&child));
            // A quoted alias no spec field can take (names are plain identifiers), so the
            // list's unqualified filter and sort columns stay unambiguous.
            let column = quote_ident(&format!("aggregates:{child}"));
            Some(AggregateGroup {
                join: format!(
                    " LEFT JOIN LATERAL (SELECT {} AS {column} FROM {table} AS \"child\" \
                     WHERE \"child\".{fk} = \"page\".{parent_pk}) AS {column} ON true",
                    members.join(" || ',' || ")
                ),
                column,
                empty_json: empties.join(","),
                child,
            })
        })
        .collect()
}

/// A statement returning full rows: `SELECT <visible columns> FROM "table"<tail>`, and with
/// aggregates that statement as the subquery `"page"`, lateral-joined to each aggregate
/// and ordered again by `order`: the aggregates are computed for the rows returned only
/// (not for rows skipped by `OFFSET` or read before a sort), in the same statement.
pub fn full_rows(r: &ResourceModel, tail: &str, order: &str) -> String {
    let rows = format!(
        "SELECT {} FROM {}{tail}",
        visible_columns(r),
        quote_ident(&r.table)
    );
    if r.aggregates.is_empty() {
        return rows;
    }
    let mut cols = String::from("\"page\".*");
    let mut joins = String::new();
    for a in &r.aggregates {
        cols.push_str(", ");
        cols.push_str(&a.column);
        joins.push_str(&a.join);
    }
    format!("SELECT {cols} FROM ({rows}) AS \"page\"{joins}{order}")
}

/// The children of a set of parent keys, at most the child's `max_limit` per parent in key
/// order: one statement, an index lookup per parent (`unnest` + `CROSS JOIN LATERAL`).
pub fn children(parent: &ResourceModel, child: &ResourceModel, fk: &FieldModel) -> String {
    format!(
        "SELECT \"c\".* FROM unnest($1::{}[]) AS \"parent:keys\"(\"key\") CROSS JOIN LATERAL \
         (SELECT {} FROM {} WHERE {} = \"parent:keys\".\"key\" ORDER BY {} LIMIT {}) AS \"c\"",
        parent.pk.cast_type,
        visible_columns(child),
        quote_ident(&child.table),
        fk.column,
        child.pk.column,
        child.max_limit
    )
}

/// Top `limit` rows per partition: `row_number()` in a subquery, filtered outside it
/// (a window function's result cannot be filtered in its own `WHERE`).
pub fn ranking(r: &ResourceModel, name: &str, ranking: &spec::Ranking) -> RankingModel {
    let desc = ranking.order.starts_with('-');
    let order_field = ranking.order.trim_start_matches('-');
    let dir = if desc { " DESC" } else { "" };
    let cols = visible_columns(r);
    let partition = quote_ident(&ranking.partition);
    let sql = format!(
        "SELECT {cols}, \"rank\" FROM (SELECT {cols}, row_number() OVER (PARTITION BY {partition} \
         ORDER BY {}{dir}, {}) AS \"rank\" FROM {}) AS ranked WHERE \"rank\" <= {} \
         ORDER BY {partition}, \"rank\"",
        quote_ident(order_field),
        r.pk.column,
        quote_ident(&r.table),
        ranking.limit
    );
    RankingModel {
        name: name.to_string(),
        path: format!("{}/rankings/{name}", r.path),
        sql,
        partition: ranking.partition.clone(),
        order: ranking.order.clone(),
        limit: ranking.limit,
        shape: format!("{}.rankings.{name}", r.key),
    }
}
