//! Checks of the input model; every problem is recorded, each on its own tokens.

use std::collections::HashMap;

use syn::{Data, Fields};

use crate::ast::Container;
use crate::errors::Errors;

pub fn check(c: &Container<'_>, errors: &mut Errors) {
    let input = c.input;
    let shape_ok = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(_) => true,
            Fields::Unnamed(fields) => {
                errors.spanned(
                    fields,
                    "#[derive(Resource)] needs a struct with named fields, not a tuple struct",
                );
                false
            }
            Fields::Unit => {
                errors.spanned(
                    &input.ident,
                    "#[derive(Resource)] needs a struct with named fields, not a unit struct",
                );
                false
            }
        },
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token,
                "#[derive(Resource)] needs a struct with named fields, not an enum",
            );
            false
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token,
                "#[derive(Resource)] needs a struct with named fields, not a union",
            );
            false
        }
    };
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.spanned(
            &input.generics,
            "#[derive(Resource)] does not support generic structs",
        );
    }
    match &c.attrs.table {
        None => errors.spanned(
            &input.ident,
            "missing #[resource(table = \"...\")]: name the table of this resource",
        ),
        Some(table) if table.value().is_empty() => {
            errors.spanned(table, "the table name must not be empty");
        }
        Some(_) => {}
    }
    if shape_ok {
        check_fields(c, errors);
    }
}

fn check_fields(c: &Container<'_>, errors: &mut Errors) {
    let mut keys = c
        .fields
        .iter()
        .filter_map(|f| f.attrs.primary_key.as_ref().map(|p| (f, p)));
    match keys.next() {
        None => errors.spanned(
            &c.input.ident,
            "no primary key: mark exactly one field with #[resource(primary_key)]",
        ),
        Some((first, _)) => {
            for (_, path) in keys {
                errors.spanned(
                    path,
                    format!(
                        "a resource has exactly one primary key, and `{}` is already one",
                        first.name()
                    ),
                );
            }
        }
    }

    let mut columns: HashMap<String, &syn::Ident> = HashMap::new();
    for field in &c.fields {
        let a = &field.attrs;
        if let (Some(_), Some(hidden)) = (&a.primary_key, &a.hidden) {
            errors.spanned(hidden, "the primary key cannot be hidden");
        }
        if let (Some((_, ours)), Some(theirs)) = (&a.column, &a.sqlx.rename)
            && ours.value() != theirs.value()
        {
            errors.spanned(
                theirs,
                format!(
                    "#[sqlx(rename = {:?})] and #[resource(column = {:?})] name different columns",
                    theirs.value(),
                    ours.value()
                ),
            );
        }
        if let Some(skip) = field.skip() {
            for (other, name) in [
                (a.primary_key.as_ref(), "primary_key"),
                (a.hidden.as_ref(), "hidden"),
                (a.column.as_ref().map(|(p, _)| p), "column"),
            ] {
                if other.is_some() {
                    errors.spanned(
                        skip,
                        format!(
                            "`skip` cannot be combined with `{name}`: a skipped field is not a column"
                        ),
                    );
                }
            }
            continue;
        }
        if let Some((_, lit)) = &a.column
            && lit.value().is_empty()
        {
            errors.spanned(lit, "the column name must not be empty");
            continue;
        }
        let column = field.column();
        if let Some(previous) = columns.insert(column.clone(), field.ident) {
            let at: &dyn quote::ToTokens = match &a.column {
                Some((_, lit)) => lit,
                None => field.ident,
            };
            errors.spanned(
                at,
                format!("column `{column}` is already mapped by field `{previous}`"),
            );
        }
    }
}
