//! Hooks of `orders`: only the owner of an order may change or delete it, and every order
//! adds to its product's `sales` in the same transaction (refused past 1000 sold).

use apiforge_runtime::prelude::*;
use axum::http::StatusCode;

use crate::generated::models::orders::Order;
use crate::generated::models::products::Product;

/// The hooks of `orders`.
pub struct OrderHooks;

impl Hooks<Order> for OrderHooks {
    /// Updates and deletes see the caller's orders only: another's order is a 404.
    fn scope(ctx: &RequestContext, op: Operation) -> Result<Scope, Problem> {
        match op {
            Operation::Update | Operation::Delete => match ctx.subject() {
                Some(me) => Ok(Scope::all().eq("user_id", me)),
                None => Err(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "sign in to change an order",
                )),
            },
            _ => Ok(Scope::all()),
        }
    }

    /// In the insert's transaction: if this fails, the order is not created either.
    async fn after_create(
        _ctx: &RequestContext,
        tx: &mut Tx<'_>,
        order: &Order,
    ) -> Result<(), Problem> {
        let sales: i32 = sqlx::query_scalar(
            r#"UPDATE "products" SET "sales" = "sales" + $1 WHERE "id" = $2 RETURNING "sales""#,
        )
        .bind(order.quantity)
        .bind(order.product_id)
        .fetch_one(tx.conn())
        .await?;
        // The product's cached row and lists are dropped when the transaction commits.
        tx.touch_row::<Product>(&order.product_id);
        if sales > 1000 {
            return Err(Problem::conflict("this product is sold out"));
        }
        Ok(())
    }
}
