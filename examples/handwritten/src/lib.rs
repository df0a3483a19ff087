//! A hand-written service on `apiforge-runtime` alone: `#[derive(Resource)]`, field
//! selection done in SQL, a batch loader for `include=user`, problem+json errors.

use apiforge_runtime::prelude::*;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;

/// A user; `password_hash` is loaded but never serialized nor selectable.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, Resource)]
#[resource(table = "users")]
pub struct User {
    #[resource(primary_key)]
    pub id: i64,
    pub email: String,
    pub name: String,
    #[resource(hidden)]
    #[serde(skip)]
    pub password_hash: String,
}

/// An order of a user.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, Resource)]
#[resource(table = "orders")]
pub struct Order {
    #[resource(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub quantity: i32,
}

/// The body of `POST /users`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
}

/// Constraint names in words for the client.
const USER_CONSTRAINTS: &[(&str, &str)] =
    &[("users_email_key", "a user with this email already exists")];

/// Creates the tables when missing.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS users (
             id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
             password_hash text NOT NULL);
         CREATE TABLE IF NOT EXISTS orders (
             id bigserial PRIMARY KEY,
             user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
             quantity integer NOT NULL CHECK (quantity >= 1));
         CREATE INDEX IF NOT EXISTS orders_user_id_idx ON orders (user_id);",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The service's routes.
pub fn app(pool: PgPool) -> Router {
    Router::new()
        .route("/users", axum::routing::post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/orders", get(list_orders))
        .with_state(pool)
}

async fn create_user(
    State(pool): State<PgPool>,
    Json(new): Json<NewUser>,
) -> Result<(StatusCode, Json<User>), Problem> {
    if new.password.len() < 8 {
        return Err(Problem::unprocessable("password is too short")
            .with_error("password", "must be at least 8 characters"));
    }
    let sql = format!(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING {}",
        User::ALL_COLUMNS
            .iter()
            .map(|c| apiforge_runtime::resource::quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let user: User = sqlx::query_as(&sql)
        .bind(&new.email)
        .bind(&new.name)
        // A real service hashes with argon2; the example only shows the field stays hidden.
        .bind(format!("plain:{}", new.password.len()))
        .fetch_one(&pool)
        .await
        .map_err(|e| Problem::from_sqlx(e, USER_CONSTRAINTS))?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn get_user(
    State(pool): State<PgPool>,
    Path(id): Path<i64>,
    query: QueryMap,
) -> Result<Response, Problem> {
    query.allow_only(&["fields"])?;
    let fields = match query.get("fields") {
        Some(spec) => User::fields(spec)?,
        None => FieldSet::all::<User>(),
    };
    let mut users = User::load_many(&pool, &[id]).await?;
    let user = users
        .remove(&id)
        .ok_or_else(|| Problem::not_found(format!("no user {id}")))?;
    Ok(Json(user.to_json_fields(&fields)).into_response())
}

/// `GET /orders?fields=id,quantity&limit=10&include=user`
///
/// `users` is a fresh loader of this request (built from the pool in the state).
async fn list_orders(
    State(pool): State<PgPool>,
    users: Loader<i64, User>,
    query: QueryMap,
) -> Result<Response, Problem> {
    query.allow_only(&["fields", "limit", "include"])?;
    let limit = match query.get("limit") {
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
            Problem::bad_request("limit must be an integer").with_error("limit", "not an integer")
        })?),
        None => None,
    };
    let limit = clamp_limit(limit, 20, 100);
    let fields = match query.get("fields") {
        Some(spec) => Order::fields(spec)?,
        None => FieldSet::all::<Order>(),
    };
    match query.get("include") {
        None => list_selected(&pool, &fields, limit).await,
        Some("user") => list_with_users(&pool, &users, &fields, limit).await,
        Some(other) => Err(
            Problem::bad_request(format!("cannot include `{other}`; valid: user"))
                .with_error("include", "unknown relation"),
        ),
    }
}

/// SQL-level field selection: only the selected columns are read, straight into JSON.
async fn list_selected(pool: &PgPool, fields: &FieldSet, limit: i64) -> Result<Response, Problem> {
    let sql = format!("{} ORDER BY \"id\" LIMIT $1", Order::select_sql(fields));
    let rows = sqlx::query(&sql).bind(limit).fetch_all(pool).await?;
    let mut body = Vec::new();
    Order::write_rows_json(&rows, fields, &mut body).map_err(|e| {
        eprintln!("serializing order rows: {e}");
        Problem::internal()
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Each order with its user: every `load` of this request is batched into one query.
async fn list_with_users(
    pool: &PgPool,
    users: &Loader<i64, User>,
    fields: &FieldSet,
    limit: i64,
) -> Result<Response, Problem> {
    let sql = format!("{} ORDER BY \"id\" LIMIT $1", Order::select_all_sql());
    let orders: Vec<Order> = sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?;
    let loaded =
        futures_util::future::try_join_all(orders.iter().map(|o| users.load(o.user_id))).await?;
    let user_fields = FieldSet::all::<User>();
    let items: Vec<serde_json::Value> = orders
        .iter()
        .zip(loaded)
        .map(|(order, user)| {
            let mut item = serde_json::to_value(order.to_json_fields(fields))?;
            item["user"] =
                serde_json::to_value(user.as_ref().map(|u| u.to_json_fields(&user_fields)))?;
            Ok(item)
        })
        .collect::<Result<_, serde_json::Error>>()
        .map_err(|e| {
            eprintln!("serializing orders: {e}");
            Problem::internal()
        })?;
    Ok(Json(items).into_response())
}
