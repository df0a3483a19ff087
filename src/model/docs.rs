//! What the generated README says of each resource: its request body fields (the JSON type
//! of each as the OpenAPI document gives it, from [`types::json_type`], whether a create
//! and a PATCH take it, and its rules in words) and its `include=` names.

use serde::Serialize;

use super::{FieldKind, FieldModel, ResourceModel, naming, types};

/// One row of a resource's body table.
#[derive(Debug, Clone, Serialize)]
pub struct BodyFieldDoc {
    pub name: String,
    /// `integer (int32)`, `string (decimal)`, `any JSON`.
    pub json_type: String,
    /// A JSON value that passes validation.
    pub example: String,
    /// In a `POST` body: `required`, ``optional (default: `0`)``, `read-only`…
    pub create: String,
    /// In a `PATCH` body: `optional`, `read-only`…
    pub update: String,
    /// The rules in words, `; `-separated (empty: only the type's).
    pub rules: String,
}

/// One `include=` name and what it embeds.
#[derive(Debug, Clone, Serialize)]
pub struct IncludeDoc {
    pub name: String,
    pub what: String,
}

impl FieldModel {
    /// The JSON type as `/openapi.json` gives it: `integer (int64)`, `string (date-time)`.
    pub fn json_type(&self) -> String {
        match types::json_type(self.kind) {
            (Some(ty), Some(format)) => format!("{ty} ({format})"),
            (Some(ty), None) => ty.to_string(),
            (None, _) => "any JSON".to_string(),
        }
    }
}

impl ResourceModel {
    /// Every field a body may name, in spec order, then the deprecated ones (refused).
    pub fn body_fields(&self) -> Vec<BodyFieldDoc> {
        let owner = self.access.as_ref().and_then(|a| a.owner.as_deref());
        let mut out: Vec<BodyFieldDoc> = self
            .fields
            .iter()
            .map(|f| {
                let owned = owner == Some(f.name.as_str());
                let create = if !f.in_create {
                    "read-only".to_string()
                } else if owned && !f.create_optional {
                    "optional (default: the caller)".to_string()
                } else if let Some(d) = &f.default_doc {
                    format!("optional (default: {d})")
                } else if f.nullable {
                    "optional, may be `null`".to_string()
                } else {
                    "required".to_string()
                };
                let update = if !f.in_update {
                    "read-only".to_string()
                } else if f.nullable {
                    "optional, `null` clears".to_string()
                } else {
                    "optional".to_string()
                };
                BodyFieldDoc {
                    name: f.name.clone(),
                    json_type: f.json_type(),
                    example: f.sample.clone(),
                    create,
                    update,
                    rules: self.rules(f, owned).join("; "),
                }
            })
            .collect();
        out.extend(self.retired.iter().map(|f| BodyFieldDoc {
            name: f.name.clone(),
            json_type: f.json_type(),
            example: f.sample.clone(),
            create: "refused".to_string(),
            update: "refused".to_string(),
            rules: "deprecated: no longer read or written (sending it is a 400)".to_string(),
        }));
        out
    }

    fn rules(&self, f: &FieldModel, owned: bool) -> Vec<String> {
        let mut out = Vec::new();
        if f.primary_key {
            out.push(format!("the key (`{}/{{id}}`)", self.path));
        }
        if f.readonly {
            out.push(match (&f.default_doc, f.kind) {
                (Some(d), _) => format!("set by the server: {d}"),
                (None, FieldKind::Serial | FieldKind::Bigserial) => {
                    "set by the server (a sequence)".to_string()
                }
                (None, _) => "set by the server".to_string(),
            });
        }
        if let Some(b) = self.belongs_to.iter().find(|b| b.field == f.name) {
            out.push(format!(
                "the `{}` of an existing {} (else 422)",
                b.target_column,
                naming::singularize(&b.resource).replace('_', " ")
            ));
        }
        if owned {
            out.push("the caller's own (another's: 403)".to_string());
        }
        if f.unique && !f.primary_key {
            out.push("unique (taken: 409)".to_string());
        }
        if !f.enum_values.is_empty() {
            let values: Vec<String> = f.enum_values.iter().map(|v| format!("`{v}`")).collect();
            out.push(format!("one of {}", values.join(", ")));
        }
        let number = |lit: &Option<String>| lit.as_ref().and_then(|l| l.parse::<f64>().ok());
        match (number(&f.min), number(&f.max)) {
            (Some(min), Some(max)) => out.push(format!("from {min} to {max}")),
            (Some(min), None) => out.push(format!("at least {min}")),
            (None, Some(max)) => out.push(format!("at most {max}")),
            (None, None) => {}
        }
        if let Some(n) = f.max_length {
            out.push(format!("at most {n} characters"));
        }
        if let Some(p) = f.precision {
            let whole = p.saturating_sub(f.scale);
            out.push(match f.scale {
                0 => format!("at most {whole} digits, no fraction"),
                s => format!("at most {whole} digits before the point and {s} after"),
            });
        }
        if f.hidden {
            out.push("write-only: never returned".to_string());
        }
        out
    }

    /// Every `include=` name (refs first, then children, as [`Self::include_names`]) with
    /// what it embeds.
    pub fn include_docs(&self) -> Vec<IncludeDoc> {
        let refs = self.belongs_to.iter().map(|b| IncludeDoc {
            name: b.include.clone(),
            what: format!(
                "the {} `{}` refers to",
                naming::singularize(&b.resource).replace('_', " "),
                b.field
            ),
        });
        let children = self.child_includes.iter().map(|c| {
            let via = self.has_many.iter().find(|h| {
                c.name == h.resource || c.name == format!("{}_{}", h.resource, h.include)
            });
            IncludeDoc {
                name: c.name.clone(),
                what: match via {
                    Some(h) => format!(
                        "the {} whose `{}` is this {}, at most {} each",
                        h.resource.replace('_', " "),
                        h.field,
                        self.singular,
                        c.limit
                    ),
                    None => format!("the rows of `{}`, at most {} each", c.name, c.limit),
                },
            }
        });
        refs.chain(children).collect()
    }

    /// The fields `sort` takes (each also with `-`, descending).
    pub fn sort_fields(&self) -> Vec<&str> {
        self.sorts
            .iter()
            .filter(|s| !s.descending)
            .map(|s| s.field.as_str())
            .collect()
    }

    /// The names `fields=` takes (hidden fields are never returned).
    pub fn visible_fields(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| !f.hidden)
            .map(|f| f.name.as_str())
            .collect()
    }
}
