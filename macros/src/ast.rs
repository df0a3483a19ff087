//! The derive's input model: a struct with named fields and their parsed attributes.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, ContainerAttrs, FieldAttrs};
use crate::errors::Errors;

pub struct Container<'a> {
    pub input: &'a DeriveInput,
    pub attrs: ContainerAttrs,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
}

impl Field<'_> {
    /// The API (JSON, `fields=`) name: the field name without `r#`.
    pub fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// The SQL column: `#[resource(column = "...")]`, else `#[sqlx(rename = "...")]`, else
    /// the field name.
    pub fn column(&self) -> String {
        match (&self.attrs.column, &self.attrs.sqlx.rename) {
            (Some((_, lit)), _) | (None, Some(lit)) => lit.value(),
            (None, None) => self.name(),
        }
    }

    /// `#[resource(skip)]` or `#[sqlx(skip)]`: the field is not a column.
    pub fn skip(&self) -> Option<&syn::Path> {
        self.attrs.skip.as_ref().or(self.attrs.sqlx.skip.as_ref())
    }

    pub fn is_column(&self) -> bool {
        self.skip().is_none()
    }

    pub fn is_selectable(&self) -> bool {
        self.is_column() && self.attrs.hidden.is_none()
    }
}

impl<'a> Container<'a> {
    /// Parses every attribute, recording errors; fields of unsupported shapes are left out
    /// (the validation reports the shape).
    pub fn from_input(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let attrs = attr::container(&input.attrs, errors);
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .map(|f| Field {
                        ident: f.ident.as_ref().expect("named fields have identifiers"),
                        ty: &f.ty,
                        attrs: attr::field(&f.attrs, errors),
                    })
                    .collect(),
                Fields::Unnamed(_) | Fields::Unit => Vec::new(),
            },
            Data::Enum(_) | Data::Union(_) => Vec::new(),
        };
        Self {
            input,
            attrs,
            fields,
        }
    }

    pub fn primary_key(&self) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.attrs.primary_key.is_some())
    }
}
