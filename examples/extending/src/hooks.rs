//! Your own routes, merged into the generated router (they share its state and layers):
//! a report that reads through the resources' caches and a batch `Loader`.

use apiforge_runtime::engine::parse_key;
use apiforge_runtime::prelude::*;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use rust_decimal::Decimal;

use crate::generated::app::AppState;
use crate::generated::models::orders::Order;
use crate::generated::models::products::Product;

/// Routes added to the API.
pub fn routes() -> Router<AppState> {
    Router::new().route("/reports/users/{id}/spend", get(spend))
}

/// `GET /reports/users/{id}/spend`: what a user spent. The orders are read once, their
/// products through one batched query, and the report is cached in the orders' cache
/// under both resources' generations: a write to either makes the next call recompute it.
async fn spend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    if_none_match: IfNoneMatch,
) -> Result<Response, Problem> {
    let user: uuid::Uuid = parse_key(&id)?;
    let orders = state.cache::<Order>();
    let products = state.cache::<Product>();
    let key = orders.list_key_fmt(format_args!(
        "report:spend:{user}:{}",
        products.generation()
    ));
    let load = || async {
        let sql = format!(r#"{} WHERE "user_id" = $1"#, Order::select_all_sql());
        let rows: Vec<Order> = sqlx::query_as(&sql)
            .bind(user)
            .fetch_all(&state.pool)
            .timed("reports.spend")
            .await?;
        let loader: Loader<i64, Product> = Loader::new(state.pool.clone());
        let bought = loader.load_many(rows.iter().map(|o| o.product_id)).await?;
        let total: Decimal = rows
            .iter()
            .filter_map(|o| Some(bought.get(&o.product_id)?.price * Decimal::from(o.quantity)))
            .sum();
        let report = serde_json::json!({ "user_id": user, "orders": rows.len(), "total": total });
        CachedBody::json(&report)
            .map(Some)
            .map_err(|_| Problem::internal())
    };
    let body = orders.get_or_load(&key, load).await?.ok_or_else(Problem::internal)?;
    Ok(cached_json(&if_none_match, body, &CacheControl::no_cache()))
}

/// A stand-in for authentication: the `X-User-Id` header names the caller.
pub async fn caller_from_header(mut request: Request, next: Next) -> Response {
    let caller = request
        .headers()
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .map(Caller::new);
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}
