//! Hand-written reference server for `bench/run.sh`: the routes of the shop generated
//! from `examples/shop.yaml`, written by hand with axum + sqlx + moka + redis and no apiforge
//! code, answering the same bytes (bodies, `ETag`, `Cache-Control`, `Vary`, 304s).
//!
//! Routes (each shape of the benchmark has its own prefix, so one process serves them all):
//! - `GET /products/{id}`: through an in-process moka cache (as the shop with `cache.memory`);
//! - `GET /products?category=X[&limit=N]`: newest first, through a moka page cache;
//! - `GET /db/products/{id}`, `GET /db/products?category=X`: from Postgres every time (as the
//!   shop generated without `cache:` sections);
//! - `GET /redis/products/{id}`: through Redis only (as the shop with `cache.redis` only);
//! - `POST /products`, `PATCH /products/{id}`: write, then invalidate the caches;
//! - `GET /products/export`: every product as NDJSON, streamed in ≈ 32 KiB chunks;
//! - `GET /orders?include=user,product&offset=N`: a page of 50 orders in id order, each with
//!   its user and product, in three queries (the page, then its users and its products, each
//!   with `= ANY($1)`), as the shop's batch loaders do;
//! - `GET /hello`: `{"hello":"world"}`, a bare handler (the shop's is a route of its `src/hooks.rs`,
//!   through every generated layer);
//! - `GET /health`.
//!
//! Environment: `DATABASE_URL` (required), `HOST` (127.0.0.1), `PORT` (8080), `REDIS_URL`
//! (optional; `/redis/…` answers 503 without it), `REDIS_NAMESPACE` (`bench-reference`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

const ROW_COLUMNS: &str =
    r#""id", "name", "category", "price", "sales", "is_static", "created_at""#;

/// The row and its review aggregates as JSON members (`"review_count":N,"avg_rating":X`),
/// written by Postgres so that the number formatting is Postgres's.
const GET_SQL: &str = r#"SELECT p."id", p."name", p."category", p."price", p."sales", p."is_static", p."created_at",
 (SELECT '"review_count":' || count(*) || ',"avg_rating":' || COALESCE(to_json(avg(r."rating")::double precision)::text, 'null')
  FROM "reviews" r WHERE r."product_id" = p."id") AS "agg"
 FROM "products" p WHERE p."id" = $1"#;

const LIST_SQL: &str = r#"SELECT p."id", p."name", p."category", p."price", p."sales", p."is_static", p."created_at",
 (SELECT '"review_count":' || count(*) || ',"avg_rating":' || COALESCE(to_json(avg(r."rating")::double precision)::text, 'null')
  FROM "reviews" r WHERE r."product_id" = p."id") AS "agg"
 FROM (SELECT * FROM "products" WHERE "category" = $1 ORDER BY "created_at" DESC, "id" DESC LIMIT $2) p
 ORDER BY p."created_at" DESC, p."id" DESC"#;

const PRIVATE: HeaderValue = HeaderValue::from_static("private, max-age=60");
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// What the shop generated without `cache:` sections sends (`http.max_age` 0).
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The body of `GET /hello`.
#[derive(Serialize)]
struct Hello {
    hello: &'static str,
}

/// `GET /hello`: the cost of the server itself, no cache, no database.
async fn hello() -> Json<Hello> {
    Json(Hello { hello: "world" })
}

#[derive(Serialize, sqlx::FromRow)]
struct Product {
    id: i64,
    name: String,
    category: String,
    price: Decimal,
    sales: i32,
    is_static: bool,
    created_at: DateTime<Utc>,
}

/// A serialized body with its strong ETag and `Cache-Control`.
#[derive(Clone)]
struct Entry {
    body: Bytes,
    etag: HeaderValue,
    cache_control: HeaderValue,
}

impl Entry {
    fn new(body: Vec<u8>, cache_control: HeaderValue) -> Self {
        let tag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&body));
        Self {
            body: Bytes::from(body),
            etag: HeaderValue::from_str(&tag).unwrap(),
            cache_control,
        }
    }

    fn row(body: Vec<u8>, is_static: bool) -> Self {
        Self::new(body, if is_static { IMMUTABLE } else { PRIVATE })
    }

    /// 304 when `If-None-Match` matches, else 200 with the body.
    fn respond(self, headers: &HeaderMap) -> Response {
        let matched = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| if_none_match(v, self.etag.to_str().unwrap()));
        let mut response = if matched {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let mut r = Response::new(Body::from(self.body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        };
        let h = response.headers_mut();
        h.insert(header::ETAG, self.etag);
        h.insert(header::CACHE_CONTROL, self.cache_control);
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    }

    /// Redis value: the ETag, a newline, the body.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.etag.len() + 1 + self.body.len());
        out.extend_from_slice(self.etag.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(raw: Vec<u8>) -> Option<Self> {
        let nl = raw.iter().position(|&b| b == b'\n')?;
        let etag = HeaderValue::from_bytes(&raw[..nl]).ok()?;
        let body = Bytes::from(raw).slice(nl + 1..);
        let is_static = memmem(&body, b"\"is_static\":true");
        Some(Self {
            body,
            etag,
            cache_control: if is_static { IMMUTABLE } else { PRIVATE },
        })
    }
}

fn memmem(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Weak comparison of an `If-None-Match` list (or `*`) with a strong tag.
fn if_none_match(field: &str, tag: &str) -> bool {
    field
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

#[derive(Clone)]
struct AppState {
    pool: PgPool,
    rows: moka::future::Cache<i64, Entry>,
    pages: moka::future::Cache<(String, i64), Entry>,
    redis: Option<redis::aio::ConnectionManager>,
    namespace: Arc<str>,
}

fn problem(status: StatusCode, detail: String) -> Response {
    #[derive(Serialize)]
    struct Problem<'a> {
        r#type: &'a str,
        title: &'a str,
        status: u16,
        detail: String,
    }
    let body = serde_json::to_vec(&Problem {
        r#type: "about:blank",
        title: status.canonical_reason().unwrap_or(""),
        status: status.as_u16(),
        detail,
    })
    .expect("a problem serializes");
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body,
    )
        .into_response()
}

fn internal(err: impl std::fmt::Display) -> Response {
    eprintln!("error: {err}");
    problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

fn not_found(id: i64) -> Response {
    problem(StatusCode::NOT_FOUND, format!("no product with id {id}"))
}

/// Appends the row's JSON object with its aggregates members.
fn write_row(out: &mut Vec<u8>, product: &Product, agg: &str) {
    serde_json::to_writer(&mut *out, product).expect("a row serializes");
    out.pop();
    out.push(b',');
    out.extend_from_slice(agg.as_bytes());
    out.push(b'}');
}

async fn load_row(pool: &PgPool, id: i64) -> Result<Option<Entry>, sqlx::Error> {
    let Some(row) = sqlx::query(GET_SQL).bind(id).fetch_optional(pool).await? else {
        return Ok(None);
    };
    let product = Product::from_row_ref(&row)?;
    let agg: String = row.try_get("agg")?;
    let mut out = Vec::with_capacity(256);
    write_row(&mut out, &product, &agg);
    Ok(Some(Entry::row(out, product.is_static)))
}

trait FromRowRef: Sized {
    fn from_row_ref(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error>;
}

impl FromRowRef for Product {
    fn from_row_ref(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        <Product as sqlx::FromRow<sqlx::postgres::PgRow>>::from_row(row)
    }
}

#[derive(Serialize, sqlx::FromRow)]
struct Order {
    id: i64,
    user_id: Uuid,
    product_id: i64,
    quantity: i32,
    status: String,
    created_at: DateTime<Utc>,
}

/// A user as the shop shows it (`password_hash` is hidden).
#[derive(Serialize, sqlx::FromRow)]
struct User {
    id: Uuid,
    email: String,
    name: String,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct OrdersQuery {
    include: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
}

/// `GET /orders?include=user,product`: the page, then the users and the products it names.
async fn orders_included(
    State(s): State<AppState>,
    Query(q): Query<OrdersQuery>,
    headers: HeaderMap,
) -> Response {
    if q.include.as_deref() != Some("user,product") {
        return problem(
            StatusCode::BAD_REQUEST,
            "this reference serves only include=user,product".into(),
        );
    }
    match load_orders(&s.pool, clamp(q.limit), q.offset.unwrap_or(0).max(0)).await {
        Ok(e) => Entry {
            cache_control: NO_CACHE,
            ..e
        }
        .respond(&headers),
        Err(e) => internal(e),
    }
}

async fn load_orders(pool: &PgPool, limit: i64, offset: i64) -> Result<Entry, sqlx::Error> {
    let mut orders: Vec<Order> = sqlx::query_as(
        r#"SELECT "id", "user_id", "product_id", "quantity", "status", "created_at" FROM "orders" ORDER BY "id" LIMIT $1 OFFSET $2"#,
    )
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let more = orders.len() as i64 > limit;
    orders.truncate(limit as usize);
    let mut user_ids: Vec<Uuid> = orders.iter().map(|o| o.user_id).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let mut product_ids: Vec<i64> = orders.iter().map(|o| o.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let users: Vec<User> = sqlx::query_as(
        r#"SELECT "id", "email", "name", "created_at" FROM "users" WHERE "id" = ANY($1)"#,
    )
    .bind(&user_ids)
    .fetch_all(pool)
    .await?;
    let products: Vec<Product> = sqlx::query_as(&format!(
        r#"SELECT {ROW_COLUMNS} FROM "products" WHERE "id" = ANY($1)"#
    ))
    .bind(&product_ids)
    .fetch_all(pool)
    .await?;
    let users: std::collections::HashMap<Uuid, &User> = users.iter().map(|u| (u.id, u)).collect();
    let products: std::collections::HashMap<i64, &Product> =
        products.iter().map(|p| (p.id, p)).collect();
    let mut out = Vec::with_capacity(64 + orders.len() * 512);
    out.extend_from_slice(b"{\"items\":[");
    for (i, order) in orders.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, order).expect("an order serializes");
        out.pop();
        out.extend_from_slice(b",\"user\":");
        serde_json::to_writer(&mut out, &users.get(&order.user_id)).expect("a user serializes");
        out.extend_from_slice(b",\"product\":");
        serde_json::to_writer(&mut out, &products.get(&order.product_id))
            .expect("a product serializes");
        out.push(b'}');
    }
    // The cursor: base64url(JSON [["id", <id>], <id>]).
    end_page(
        &mut out,
        orders.last().filter(|_| more).map(|o| (("id", o.id), o.id)),
    );
    Ok(Entry::new(out, NO_CACHE))
}

fn parse_id(raw: &str) -> Result<i64, Response> {
    raw.parse().map_err(|_| {
        problem(
            StatusCode::BAD_REQUEST,
            format!("invalid path parameter `id`: {raw:?} is not a valid key"),
        )
    })
}

/// `GET /products/{id}` through the in-process cache (misses coalesced by moka).
async fn get_cached(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let entry = s
        .rows
        .try_get_with(id, async {
            match load_row(&s.pool, id).await {
                Ok(Some(e)) => Ok(e),
                Ok(None) => Err(None),
                Err(e) => Err(Some(e.to_string())),
            }
        })
        .await;
    match entry {
        Ok(e) => e.respond(&headers),
        Err(err) => match &*err {
            None => not_found(id),
            Some(e) => internal(e),
        },
    }
}

/// `GET /db/products/{id}`: Postgres every time.
async fn get_db(State(s): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match load_row(&s.pool, id).await {
        Ok(Some(e)) => Entry {
            cache_control: NO_CACHE,
            ..e
        }
        .respond(&headers),
        Ok(None) => not_found(id),
        Err(e) => internal(e),
    }
}

/// `GET /redis/products/{id}`: Redis, then Postgres (which fills Redis, 5 min TTL).
async fn get_redis(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(mut redis) = s.redis.clone() else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "no REDIS_URL".into());
    };
    let key = format!("{}:products:row:{id}", s.namespace);
    let cached: Result<Option<Vec<u8>>, _> =
        redis::cmd("GET").arg(&key).query_async(&mut redis).await;
    if let Ok(Some(raw)) = cached
        && let Some(entry) = Entry::decode(raw)
    {
        return entry.respond(&headers);
    }
    match load_row(&s.pool, id).await {
        Ok(Some(e)) => {
            let _: Result<(), _> = redis::cmd("PSETEX")
                .arg(&key)
                .arg(300_000)
                .arg(e.encode())
                .query_async(&mut redis)
                .await;
            e.respond(&headers)
        }
        Ok(None) => not_found(id),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    category: String,
    limit: Option<i64>,
}

async fn load_page(pool: &PgPool, category: &str, limit: i64) -> Result<Entry, sqlx::Error> {
    let rows = sqlx::query(LIST_SQL)
        .bind(category)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let items = &rows[..rows.len().min(limit as usize)];
    let mut out = Vec::with_capacity(64 + items.len() * 256);
    out.extend_from_slice(b"{\"items\":[");
    let mut last = None;
    for (i, row) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let product = Product::from_row_ref(row)?;
        let agg: String = row.try_get("agg")?;
        write_row(&mut out, &product, &agg);
        last = Some(product);
    }
    // The cursor: base64url(JSON [["-created_at", <created_at>], <id>]).
    let cursor = last.filter(|_| rows.len() > items.len());
    end_page(
        &mut out,
        cursor.map(|p| (("-created_at", p.created_at), p.id)),
    );
    Ok(Entry::new(out, PRIVATE))
}

/// Closes a page's `items` and writes its `next_cursor`: `cursor` (the sort's last values
/// and the key) as base64url of its JSON, else `null`.
fn end_page(out: &mut Vec<u8>, cursor: Option<impl Serialize>) {
    out.extend_from_slice(b"],\"next_cursor\":");
    match cursor {
        Some(c) => {
            out.push(b'"');
            let json = serde_json::to_vec(&c).expect("a cursor serializes");
            out.extend_from_slice(URL_SAFE_NO_PAD.encode(json).as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn clamp(limit: Option<i64>) -> i64 {
    limit.unwrap_or(50).clamp(1, 200)
}

/// `GET /products?category=X`: newest first, through the page cache.
async fn list_cached(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let limit = clamp(q.limit);
    let page = s
        .pages
        .try_get_with(
            (q.category.clone(), limit),
            load_page(&s.pool, &q.category, limit),
        )
        .await;
    match page {
        Ok(e) => e.respond(&headers),
        Err(e) => internal(e),
    }
}

/// `GET /db/products?category=X`: Postgres every time.
async fn list_db(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    match load_page(&s.pool, &q.category, clamp(q.limit)).await {
        Ok(e) => Entry {
            cache_control: NO_CACHE,
            ..e
        }
        .respond(&headers),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProduct {
    name: String,
    category: String,
    price: Decimal,
    sales: Option<i32>,
    is_static: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateProduct {
    name: Option<String>,
    category: Option<String>,
    price: Option<Decimal>,
    sales: Option<i32>,
    is_static: Option<bool>,
}

fn invalid(field: &str, name: Option<&String>, price: Option<&Decimal>) -> Option<Response> {
    let _ = field;
    if name.is_some_and(|n| n.chars().count() > 200) {
        return Some(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`name` must be at most 200 characters".into(),
        ));
    }
    if price.is_some_and(|p| p.is_sign_negative() && !p.is_zero()) {
        return Some(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`price` must be at least 0".into(),
        ));
    }
    None
}

/// `POST /products`: 201 with `Location`; the page cache is dropped.
async fn create(State(s): State<AppState>, Json(input): Json<CreateProduct>) -> Response {
    if let Some(r) = invalid("", Some(&input.name), Some(&input.price)) {
        return r;
    }
    let sql = format!(
        r#"INSERT INTO "products" ("name", "category", "price", "sales", "is_static") VALUES ($1, $2, $3, COALESCE($4, 0), COALESCE($5, false)) RETURNING {ROW_COLUMNS}"#
    );
    let row: Result<Product, _> = sqlx::query_as(&sql)
        .bind(input.name)
        .bind(input.category)
        .bind(input.price)
        .bind(input.sales)
        .bind(input.is_static)
        .fetch_one(&s.pool)
        .await;
    match row {
        Ok(p) => {
            s.pages.invalidate_all();
            let location = format!("/products/{}", p.id);
            (StatusCode::CREATED, [(header::LOCATION, location)], Json(p)).into_response()
        }
        Err(e) => internal(e),
    }
}

/// `PATCH /products/{id}`: absent fields kept; the row and the page cache are dropped.
async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<UpdateProduct>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    if let Some(r) = invalid("", input.name.as_ref(), input.price.as_ref()) {
        return r;
    }
    let sql = format!(
        r#"UPDATE "products" SET "name" = COALESCE($2, "name"), "category" = COALESCE($3, "category"), "price" = COALESCE($4, "price"), "sales" = COALESCE($5, "sales"), "is_static" = COALESCE($6, "is_static") WHERE "id" = $1 RETURNING {ROW_COLUMNS}"#
    );
    let row: Result<Option<Product>, _> = sqlx::query_as(&sql)
        .bind(id)
        .bind(input.name)
        .bind(input.category)
        .bind(input.price)
        .bind(input.sales)
        .bind(input.is_static)
        .fetch_optional(&s.pool)
        .await;
    match row {
        Ok(Some(p)) => {
            s.rows.invalidate(&id).await;
            s.pages.invalidate_all();
            if let Some(mut redis) = s.redis.clone() {
                let key = format!("{}:products:row:{id}", s.namespace);
                let _: Result<(), _> = redis::cmd("DEL").arg(key).query_async(&mut redis).await;
            }
            Json(p).into_response()
        }
        Ok(None) => not_found(id),
        Err(e) => internal(e),
    }
}

/// `GET /products/export`: every row as NDJSON, in key order, streamed from one query.
async fn export(State(s): State<AppState>) -> Response {
    const CHUNK: usize = 32 * 1024;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let pool = s.pool.clone();
    tokio::spawn(async move {
        let mut db = match pool.begin().await {
            Ok(db) => db,
            Err(e) => return drop(tx.send(Err(std::io::Error::other(e))).await),
        };
        if let Err(e) = sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *db)
            .await
        {
            return drop(tx.send(Err(std::io::Error::other(e))).await);
        }
        let sql = format!(r#"SELECT {ROW_COLUMNS} FROM "products" ORDER BY "id""#);
        let mut rows = sqlx::query_as::<_, Product>(&sql).fetch(&mut *db);
        let mut buf = Vec::with_capacity(CHUNK + 1024);
        loop {
            match rows.try_next().await {
                Ok(Some(p)) => {
                    serde_json::to_writer(&mut buf, &p).expect("a row serializes");
                    buf.push(b'\n');
                    if buf.len() >= CHUNK
                        && tx
                            .send(Ok(Bytes::from(std::mem::take(&mut buf))))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => return drop(tx.send(Err(std::io::Error::other(e))).await),
            }
        }
        drop(rows);
        let _ = db.rollback().await;
        let _ = tx.send(Ok(Bytes::from(buf))).await;
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            // The shop's compression layer marks every compressible response.
            (header::VARY, "accept-encoding"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

async fn health(State(s): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&s.pool).await {
        Ok(_) => Json(serde_json::json!({"status": "ok", "database": "up"})).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port: u16 = std::env::var("PORT").map_or(Ok(8080), |p| p.parse())?;
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options.options([("statement_timeout", "5000")]))
        .await?;
    let redis = match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(u) => Some(redis::aio::ConnectionManager::new(redis::Client::open(u)?).await?),
        None => None,
    };
    let state = AppState {
        pool,
        rows: moka::future::Cache::builder()
            .max_capacity(1000)
            .time_to_live(Duration::from_secs(300))
            .build(),
        pages: moka::future::Cache::builder()
            .max_capacity(1000)
            .time_to_live(Duration::from_secs(300))
            .build(),
        redis,
        namespace: std::env::var("REDIS_NAMESPACE")
            .unwrap_or_else(|_| "bench-reference".into())
            .into(),
    };
    let router = Router::new()
        .route("/health", get(health))
        .route("/hello", get(hello))
        .route("/orders", get(orders_included))
        .route("/products", get(list_cached).post(create))
        .route("/products/export", get(export))
        .route("/products/{id}", get(get_cached).patch(update))
        .route("/db/products", get(list_db))
        .route("/db/products/{id}", get(get_db))
        .route("/redis/products/{id}", get(get_redis))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
