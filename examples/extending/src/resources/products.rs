//! Hooks of `products`: a `slug` derived from the name on create, and a computed
//! `display_price` member in every full row.

use apiforge_runtime::prelude::*;

use crate::generated::models::products::{CreateProduct, Product};

/// The hooks of `products`.
pub struct ProductHooks;

impl Hooks<Product> for ProductHooks {
    const COMPUTED: &'static [&'static str] = &["display_price"];

    /// Runs inside the insert's transaction, after the body was validated.
    async fn before_create(
        _ctx: &RequestContext,
        _tx: &mut Tx<'_>,
        input: &mut CreateProduct,
    ) -> Result<(), Problem> {
        input.slug = Some(slugify(&input.name));
        Ok(())
    }

    fn computed(row: &Product, members: &mut Members<'_>) -> Result<(), Problem> {
        members.insert("display_price", &format!("€{:.2}", row.price))
    }
}

/// `Desk Lamp (blue)` → `desk-lamp-blue`.
fn slugify(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}
