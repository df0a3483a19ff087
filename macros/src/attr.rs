//! Parsing of `#[resource(...)]` on the struct and on its fields.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path, Token};

use crate::errors::Errors;

const CONTAINER_KEYS: (&[&str], &str) = (&["table"], "`table = \"...\"`");
const FIELD_KEYS: (&[&str], &str) = (
    &["primary_key", "hidden", "column", "skip"],
    "`primary_key`, `hidden`, `column = \"...\"`, `skip`",
);

/// `#[resource(table = "...")]` on the struct.
#[derive(Default)]
pub struct ContainerAttrs {
    pub table: Option<LitStr>,
}

/// `#[resource(...)]` on a field; each flag keeps its path for error spans.
#[derive(Default)]
pub struct FieldAttrs {
    pub primary_key: Option<Path>,
    pub hidden: Option<Path>,
    pub skip: Option<Path>,
    pub column: Option<(Path, LitStr)>,
    pub sqlx: SqlxAttrs,
}

/// What `#[sqlx(...)]` on a field says about the column, so the two derives agree:
/// `rename = "..."` names the column, `skip` means it is not one.
#[derive(Default)]
pub struct SqlxAttrs {
    pub rename: Option<LitStr>,
    pub skip: Option<Path>,
}

pub fn container(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in resource_attrs(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table") {
                let value: LitStr = meta.value()?.parse()?;
                if out.table.is_some() {
                    errors.spanned(&meta.path, "duplicate `table` attribute");
                } else {
                    out.table = Some(value);
                }
                Ok(())
            } else {
                unknown(&meta, CONTAINER_KEYS, errors)
            }
        });
        if let Err(err) = parsed {
            errors.push(err);
        }
    }
    out
}

pub fn field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs {
        sqlx: sqlx_field(attrs),
        ..FieldAttrs::default()
    };
    for attr in resource_attrs(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            let flag = if meta.path.is_ident("primary_key") {
                &mut out.primary_key
            } else if meta.path.is_ident("hidden") {
                &mut out.hidden
            } else if meta.path.is_ident("skip") {
                &mut out.skip
            } else if meta.path.is_ident("column") {
                let value: LitStr = meta.value()?.parse()?;
                if out.column.is_some() {
                    errors.spanned(&meta.path, "duplicate `column` attribute");
                } else {
                    out.column = Some((meta.path.clone(), value));
                }
                return Ok(());
            } else {
                return unknown(&meta, FIELD_KEYS, errors);
            };
            if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                return Err(meta.error(format!("`{}` takes no value", path_name(&meta.path))));
            }
            if flag.is_some() {
                errors.spanned(
                    &meta.path,
                    format!("duplicate `{}` attribute", path_name(&meta.path)),
                );
            } else {
                *flag = Some(meta.path.clone());
            }
            Ok(())
        });
        if let Err(err) = parsed {
            errors.push(err);
        }
    }
    out
}

/// Reads `rename` and `skip` from `#[sqlx(...)]`, ignoring everything else (and any
/// malformed input, which sqlx's own derive reports).
fn sqlx_field(attrs: &[Attribute]) -> SqlxAttrs {
    let mut out = SqlxAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                out.rename = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("skip") {
                out.skip = Some(meta.path.clone());
            } else if meta.input.peek(Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|_| Ok(()))?;
            }
            Ok(())
        });
    }
    out
}

fn resource_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("resource"))
}

/// Records an unknown key and skips its value, so the keys after it are still checked.
fn unknown(
    meta: &ParseNestedMeta<'_>,
    (keys, expected): (&[&str], &str),
    errors: &mut Errors,
) -> syn::Result<()> {
    let name = path_name(&meta.path);
    let hint = keys
        .iter()
        .find(|key| edit_distance(key, &name) <= 2)
        .map(|key| format!(" (did you mean `{key}`?)"))
        .unwrap_or_default();
    errors.spanned(
        &meta.path,
        format!("unknown resource attribute `{name}`{hint}; expected {expected}"),
    );
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|_| Ok(()))?;
    }
    Ok(())
}

fn path_name(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Levenshtein distance, for "did you mean" hints on misspelled attributes.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}
