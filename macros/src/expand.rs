//! Writes `impl ::apiforge_runtime::Resource` for a validated input.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::DeriveInput;

use crate::ast::Container;
use crate::errors::Errors;
use crate::valid;

pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let container = Container::from_input(input, &mut errors);
    valid::check(&container, &mut errors);
    errors.finish()?;
    Ok(expand(&container))
}

fn expand(c: &Container<'_>) -> TokenStream {
    let ident = &c.input.ident;
    let table = c.attrs.table.as_ref().expect("validated: table is set");
    let pk = c.primary_key().expect("validated: one primary key");
    let pk_ident = pk.ident;
    let pk_ty = pk.ty;
    let pk_column = pk.column();

    let columns: Vec<_> = c.fields.iter().filter(|f| f.is_column()).collect();
    let selectable: Vec<_> = columns.iter().filter(|f| f.is_selectable()).collect();
    let all_columns = columns.iter().map(|f| f.column());
    let sel_columns = selectable.iter().map(|f| f.column());
    let sel_names = selectable.iter().map(|f| f.name());
    let hidden = columns
        .iter()
        .filter(|f| !f.is_selectable())
        .map(|f| f.name());

    let value_arms = selectable.iter().enumerate().map(|(i, f)| {
        let index = Literal::usize_unsuffixed(i);
        let name = f.name();
        let field = f.ident;
        quote!(#index => __map.serialize_entry(#name, &self.#field))
    });
    // The arms of `serialize_row_field` (the column read by name) and of
    // `serialize_row_field_at` (by position): the same but for what `try_get` is given.
    let row_arms_reading = |by_position: bool| {
        selectable.iter().enumerate().map(move |(i, f)| {
            let index = Literal::usize_unsuffixed(i);
            let name = f.name();
            let column = f.column();
            let ty = f.ty;
            let read = if by_position {
                quote!(__at)
            } else {
                quote!(#column)
            };
            quote! {
                #index => {
                    let __value: #ty = __private::sqlx::Row::try_get(__row, #read)
                        .map_err(<__M::Error as __private::serde::ser::Error>::custom)?;
                    __map.serialize_entry(#name, &__value)
                }
            }
        })
    };
    let row_arms = row_arms_reading(false);
    let row_at_arms = row_arms_reading(true);

    quote! {
        const _: () = {
            use ::apiforge_runtime::__private;
            use __private::serde::ser::SerializeMap as _;

            #[automatically_derived]
            impl ::apiforge_runtime::Resource for #ident {
                const TABLE: &'static str = #table;
                const PRIMARY_KEY: &'static str = #pk_column;
                const COLUMNS: &'static [&'static str] = &[#(#sel_columns),*];
                const FIELDS: &'static [&'static str] = &[#(#sel_names),*];
                const HIDDEN: &'static [&'static str] = &[#(#hidden),*];
                const ALL_COLUMNS: &'static [&'static str] = &[#(#all_columns),*];

                type Key = #pk_ty;

                fn key(&self) -> Self::Key {
                    ::core::clone::Clone::clone(&self.#pk_ident)
                }

                fn serialize_field<__M: __private::serde::ser::SerializeMap>(
                    &self,
                    __index: usize,
                    __map: &mut __M,
                ) -> ::core::result::Result<(), __M::Error> {
                    match __index {
                        #(#value_arms,)*
                        _ => ::core::result::Result::Err(
                            <__M::Error as __private::serde::ser::Error>::custom(
                                "field index out of range",
                            ),
                        ),
                    }
                }

                fn serialize_row_field<__M: __private::serde::ser::SerializeMap>(
                    __row: &__private::sqlx::postgres::PgRow,
                    __index: usize,
                    __map: &mut __M,
                ) -> ::core::result::Result<(), __M::Error> {
                    match __index {
                        #(#row_arms,)*
                        _ => ::core::result::Result::Err(
                            <__M::Error as __private::serde::ser::Error>::custom(
                                "field index out of range",
                            ),
                        ),
                    }
                }

                fn serialize_row_field_at<__M: __private::serde::ser::SerializeMap>(
                    __row: &__private::sqlx::postgres::PgRow,
                    __index: usize,
                    __at: usize,
                    __map: &mut __M,
                ) -> ::core::result::Result<(), __M::Error> {
                    match __index {
                        #(#row_at_arms,)*
                        _ => ::core::result::Result::Err(
                            <__M::Error as __private::serde::ser::Error>::custom(
                                "field index out of range",
                            ),
                        ),
                    }
                }
            }
        };
    }
}
