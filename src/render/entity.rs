//! The view of one resource that `entity.rs.txt` renders: the engine's description as
//! Rust literals (kinds, statements, includes, cache policy) and the binding of request
//! bodies. Every value is computed here so that the template only prints.

use askama::Template;

use heck::ToUpperCamelCase;

use crate::model::{FieldKind, FieldModel, Model, QuotaModel, ResourceModel, RuleModel, sql};

/// `src/generated/entities/<resource>.rs`.
#[derive(Template)]
#[template(path = "project/entity.rs.txt", escape = "none")]
pub struct EntityRs<'a> {
    pub r: &'a ResourceModel,
    pub index: usize,
    /// A hash of the row's JSON layout (columns, types, aggregates, includes).
    pub shape: String,
    pub key_kind: String,
    /// `(name, kind)` of every selectable column.
    pub columns: Vec<(String, String)>,
    /// `(param, kind)` of every filter, in `$n` order.
    pub filters: Vec<(String, String)>,
    /// Kind of each sort's field, parallel to `r.sorts`.
    pub sort_kinds: Vec<String>,
    pub includes: Vec<IncludeView>,
    /// Aggregate member columns, unquoted.
    pub aggregates: Vec<String>,
    pub aggregated_by: Vec<usize>,
    pub cascades_to: Vec<usize>,
    pub cache_control: String,
    pub private_cache_control: String,
    /// Expressions bound for the insert, in `$n` order.
    pub create_binds: Vec<String>,
    /// Expressions bound for the update after the key, in `$n` order.
    pub update_binds: Vec<String>,
    /// The `Access` value of the description (`Access::PUBLIC` without `auth`).
    pub access: String,
    /// The `rate_limits` value: `&[(Operation, Quota)]`.
    pub rate_limits: String,
}

/// `Quota::new(…)` of a rate limit (`Quota` imported).
pub fn quota_expr(q: &QuotaModel) -> String {
    format!(
        "Quota::new({}, Duration::from_millis({}), {})",
        q.count, q.period_ms, q.burst
    )
}

/// The description's `rate_limits:` value.
fn rate_limits_expr(r: &ResourceModel) -> String {
    let limits: Vec<String> = r
        .rate_limits
        .iter()
        .map(|(op, q)| {
            format!(
                "(Operation::{}, {})",
                op.as_str().to_upper_camel_case(),
                quota_expr(q)
            )
        })
        .collect();
    format!("&[{}]", limits.join(", "))
}

/// An access rule as a Rust expression (`Rule` imported).
pub fn rule_expr(rule: &RuleModel) -> String {
    match rule {
        RuleModel::Public => "Rule::Public".into(),
        RuleModel::Authenticated => "Rule::Authenticated".into(),
        RuleModel::Roles(roles) => format!(
            "Rule::Roles(&[{}])",
            roles
                .iter()
                .map(|r| format!("{r:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The description's `access:` value.
fn access_expr(r: &ResourceModel) -> String {
    let Some(access) = &r.access else {
        return "apiforge_runtime::auth::Access::PUBLIC".into();
    };
    let mut out = String::from("Access {");
    for (op, rule) in &access.rules {
        out.push_str(&format!(" {}: {},", op.as_str(), rule_expr(rule)));
    }
    match &access.owner {
        Some(owner) => out.push_str(&format!(" owner: Some({owner:?}) }}")),
        None => out.push_str(" owner: None }"),
    }
    out
}

/// One `include=` relation.
pub struct IncludeView {
    pub name: String,
    pub by: String,
    pub by_kind: String,
    pub sql: String,
    pub shape: String,
    pub group_by: String,
    pub many: bool,
    /// `crate::generated::models::users::User`.
    pub row_type: String,
}

/// The engine's `Kind` of a field, as a Rust expression.
pub fn kind(f: &FieldModel) -> String {
    let by_cast = |cast: &str| match cast {
        "integer" => "Kind::Int",
        "bigint" => "Kind::BigInt",
        "uuid" => "Kind::Uuid",
        _ => "Kind::Text",
    };
    if f.ref_to.is_some() {
        return by_cast(&f.cast_type).into();
    }
    match f.kind {
        FieldKind::String | FieldKind::Text | FieldKind::Json => "Kind::Text".into(),
        FieldKind::Int | FieldKind::Serial => "Kind::Int".into(),
        FieldKind::Bigint | FieldKind::Bigserial => "Kind::BigInt".into(),
        FieldKind::Float => "Kind::Float".into(),
        FieldKind::Decimal => "Kind::Decimal".into(),
        FieldKind::Bool => "Kind::Bool".into(),
        FieldKind::Uuid => "Kind::Uuid".into(),
        FieldKind::Timestamp => "Kind::Timestamp".into(),
        FieldKind::Date => "Kind::Date".into(),
        FieldKind::Enum => format!(
            "Kind::Enum(&[{}])",
            f.enum_values
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn field<'a>(r: &'a ResourceModel, name: &str) -> &'a FieldModel {
    r.fields
        .iter()
        .find(|f| f.name == name)
        .expect("a validated spec's names resolve")
}

fn index_of(m: &Model, module: &str) -> usize {
    m.resources
        .iter()
        .position(|r| r.module == module || r.key == module)
        .expect("a linked resource exists")
}

impl<'a> EntityRs<'a> {
    pub fn new(m: &'a Model, index: usize) -> Self {
        let r = &m.resources[index];
        let mut includes = Vec::new();
        for b in &r.belongs_to {
            let target = &m.resources[index_of(m, &b.resource)];
            includes.push(IncludeView {
                name: b.include.clone(),
                by: b.field.clone(),
                by_kind: kind(field(r, &b.field)),
                sql: format!(
                    "SELECT {} FROM {} WHERE {} = ANY($1::{}[])",
                    sql::visible_columns(target),
                    crate::model::naming::quote_ident(&target.table),
                    target.pk.column,
                    target.pk.cast_type
                ),
                shape: format!("{}.load_many", b.resource),
                group_by: target.pk.name.clone(),
                many: false,
                row_type: format!(
                    "crate::generated::models::{}::{}",
                    b.target_module, b.target_struct
                ),
            });
        }
        for c in &r.child_includes {
            includes.push(IncludeView {
                name: c.name.clone(),
                by: r.pk.name.clone(),
                by_kind: kind(&r.pk),
                sql: c.sql.clone(),
                shape: c.shape.clone(),
                group_by: c.fk_ident.trim_start_matches("r#").to_string(),
                many: true,
                row_type: format!(
                    "crate::generated::models::{}::{}",
                    c.child_module, c.child_struct
                ),
            });
        }
        let columns: Vec<(String, String)> = r
            .fields
            .iter()
            .filter(|f| !f.hidden)
            .map(|f| (f.name.clone(), kind(f)))
            .collect();
        let mut layout: Vec<String> = columns.iter().map(|(n, k)| format!("{n}:{k}")).collect();
        layout.extend(r.aggregates.iter().map(|a| a.column.clone()));
        layout.extend(includes.iter().map(|i| i.name.clone()));
        let shape = crate::write::sha256_hex(layout.join(",").as_bytes())[..12].to_string();
        let (cache_control, private_cache_control) = match r.cache.max_age {
            Some(age) => (
                format!(
                    "{}, max-age={age}",
                    if r.cache.public { "public" } else { "private" }
                ),
                format!("private, max-age={age}"),
            ),
            // With `auth`, a response that depends on the caller must not be stored by
            // shared caches at all.
            None if m.auth.is_some() => ("no-cache".to_string(), "private, no-cache".to_string()),
            None => ("no-cache".to_string(), "no-cache".to_string()),
        };
        let create_binds = r
            .fields
            .iter()
            .filter(|f| f.in_create)
            .map(|f| format!("input.{}", f.ident))
            .collect();
        let update_binds = r
            .fields
            .iter()
            .filter(|f| f.in_update)
            .flat_map(|f| {
                if f.nullable {
                    vec![
                        format!("input.{}.is_some()", f.ident),
                        format!("input.{}.flatten()", f.ident),
                    ]
                } else {
                    vec![format!("input.{}", f.ident)]
                }
            })
            .collect();
        Self {
            r,
            index,
            shape,
            key_kind: kind(&r.pk),
            filters: r
                .filters
                .iter()
                .map(|p| (p.param.clone(), kind(field(r, &p.field))))
                .collect(),
            sort_kinds: r.sorts.iter().map(|s| kind(field(r, &s.field))).collect(),
            columns,
            includes,
            aggregates: r
                .aggregates
                .iter()
                .map(|a| a.column.trim_matches('"').to_string())
                .collect(),
            aggregated_by: r.aggregated_by.iter().map(|p| index_of(m, p)).collect(),
            cascades_to: r
                .cascades_to()
                .iter()
                .map(|h| index_of(m, &h.target_module))
                .collect(),
            cache_control,
            private_cache_control,
            create_binds,
            update_binds,
            access: access_expr(r),
            rate_limits: rate_limits_expr(r),
        }
    }
}
